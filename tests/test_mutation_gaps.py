"""Tests for what hand-made mutants of the loop, the Gaussian model and the stepwise schedule survived (issue 25): the
certificate on a weighted fit, the decrease guard's tolerance at its limit, the collapse and empty-component thresholds
at their limits, the step sizes partial_fit takes and its lower_bound_. Every expected value is computed here from
the model's definition with scipy and numpy, never read from the code under test."""
import os, re, warnings
import numpy as np
import pytest
from scipy.special import gammaln, logsumexp
from scipy.stats import multivariate_normal
from emtheory.core import MixtureModel, Stats, coordinate_ascent, stats_from_resp, ConvergenceWarning
from emtheory.em import GaussianMixtureEM, GaussianEM, GaussianParams, _check_spread
from emtheory.gaussian import precision_cholesky

EPS = np.finfo(float).eps

def _quiet(fn, *a, **k):
    "Run a fit whose ConvergenceWarning is expected (tol=0: a fixed number of iterations)."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*a, **k)

def log_joint(X, weights, means, covs):
    "(N, K) log pi_k + log N(x_i | mu_k, Sigma_k), with scipy.stats (full covariances)."
    return np.column_stack([np.log(w) + multivariate_normal(m, c).logpdf(X) for w, m, c in zip(weights, means, covs)])

def log_resp(X, weights, means, covs):
    lj = log_joint(X, weights, means, covs)
    return lj - logsumexp(lj, axis=1, keepdims=True)

# ---------------------------------------------------------------- the certificate on a weighted fit

def _three_clusters(seed, n=60):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(c, s, (n, 2)) for c, s in (((0., 0.), 1.), ((4., 1.), .7), ((1., 5.), 1.3))])

def test_weighted_certificate_uses_the_weighted_kl():
    """History of a weighted fit from explicit starting values: kl is sum_i w_i KL(q_t(z_i) || q_t+1(z_i)), elbo is
    sum_i w_i E_q_t[log p(x_i, z | theta_t+1) - log q_t], log_likelihood is sum_i w_i log p(x_i | theta_t+1), each
    recomputed with scipy from theta_0 (the inits), theta_1 (max_iter=1) and theta_2 (max_iter=2); the residual is
    rounding. The unweighted KL differs from the weighted one by far more than the tolerance, so dropping the weights
    from the KL term fails here."""
    X = _three_clusters(0)
    w = np.random.default_rng(1).uniform(0.1, 4., len(X))
    init = dict(weights_init=[.3, .3, .4], means_init=[[1., 1.], [3., 0.], [0., 4.]],
                precisions_init=np.stack([np.eye(2) * .5] * 3))
    fits = [_quiet(GaussianMixtureEM(3, tol=0, max_iter=m, reg_covar=0, **init).fit, X, sample_weight=w) for m in (1, 2)]
    thetas = [(np.array(init["weights_init"]), np.array(init["means_init"]), np.linalg.inv(init["precisions_init"]))]
    thetas += [(f.weights_, f.means_, f.covariances_) for f in fits]
    lq = [log_resp(X, *t) for t in thetas]
    lj = [log_joint(X, *t) for t in thetas]
    kl = [w @ (np.exp(lq[t]) * (lq[t] - lq[t + 1])).sum(1) for t in range(2)]
    elbo = [w @ (np.exp(lq[t]) * (lj[t + 1] - lq[t])).sum(1) for t in range(2)]
    loglik = [w @ logsumexp(lj[t + 1], axis=1) for t in range(2)]
    h = fits[1].history_
    scale = np.abs(loglik).max()
    np.testing.assert_allclose(h["log_likelihood"], loglik, rtol=1e-10)
    np.testing.assert_allclose(h["elbo"], elbo, rtol=1e-10)
    np.testing.assert_allclose(h["kl"], kl, rtol=1e-8)
    assert np.abs(h["residual"]).max() <= 1e-10 * scale
    assert h["kl_direct"].all()
    unweighted = [(np.exp(lq[t]) * (lq[t] - lq[t + 1])).sum() for t in range(2)]
    assert (np.abs(np.subtract(unweighted, kl)) > 1e-3 * np.abs(kl)).all()   # the weights matter here
    np.testing.assert_allclose(fits[0].history_["kl"], kl[:1], rtol=1e-8)     # the first step of both fits is the same

# ---------------------------------------------------------------- the decrease guard at its tolerance

class PoissonMixture(MixtureModel):
    "EM for a mixture of independent Poissons on the core (as in the core chapter); globals (weights, rates, steps)."
    def __init__(self, drop=0., offset=0.):
        self.drop, self.offset = drop, offset
    def features(self, X): return np.hstack([X, np.ones((len(X), 1)), -gammaln(X + 1).sum(1, keepdims=True)])
    def natural_params(self, s):
        w, lam, _ = s
        return np.hstack([np.log(lam), (np.log(w) - lam.sum(1))[:, None], np.ones((len(w), 1))])
    def m_step(self, st, s):
        "Keep the weights and rates (the log-likelihood stays bit for bit), count the steps: the objective drops by `drop`."
        return s[0], s[1], s[2] + 1
    def log_prior(self, s): return self.offset - self.drop * s[2]

def _poisson_data():
    rng = np.random.default_rng(1)
    return np.vstack([rng.poisson([2., 9.], size=(300, 2)), rng.poisson([12., 1.], size=(200, 2))]).astype(float)

def _guard_warnings(model, X, start):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = coordinate_ascent(model, X, start, tol=0, max_iter=3, n_threads=1)
    return fit, [w for w in caught if "objective decreased" in str(w.message)]

@pytest.mark.parametrize("target", [None, 0.3])
def test_decrease_guard_tolerance_is_1e9_of_the_objective(target):
    """The guard warns when the objective falls by more than 1e-9 max(1, |objective|) (BayesPy's tolerance): a drop of
    1.02 times that is caught at every iteration (warned once, each recorded in `decreased_at`), a drop of 0.98 times it
    never is; both with |objective| ~ 2e3 and with
    the objective shifted to 0.3 (where the floor max(1, .) sets the tolerance)."""
    X = _poisson_data()
    start = (np.array([.6, .4]), np.array([[2., 9.], [12., 1.]]), 0)
    lam, w = start[1], start[0]
    loglik = logsumexp(np.log(w) + (X[:, None, :] * np.log(lam) - lam - gammaln(X[:, None, :] + 1)).sum(2), axis=1).sum()
    offset = 0. if target is None else target - loglik
    obj = loglik + offset
    limit = 1e-9 * max(1., abs(obj))
    assert (abs(obj) > 1e3) if target is None else (abs(obj) < 1)
    fit, warned = _guard_warnings(PoissonMixture(1.02 * limit, offset), X, start)
    drops = -np.diff(np.r_[obj, fit.history["objective"]])   # as set, to 0.5% of the limit (the shift to 0.3 cancels ~12 digits)
    np.testing.assert_allclose(drops, 1.02 * limit, rtol=0, atol=5e-3 * limit)
    assert len(warned) == 1 and list(fit.history["decreased_at"]) == [1, 2, 3]
    assert warned[0].category is RuntimeWarning
    fit, warned = _guard_warnings(PoissonMixture(0.98 * limit, offset), X, start)
    assert warned == [] and "decreased_at" not in fit.history

def test_decrease_guard_is_off_for_models_that_are_not_monotone():
    "A model that says its update only approximates a maximiser (monotone = False) gets no warning, however large the drop."
    X = _poisson_data()
    model = PoissonMixture(10., 0.)
    model.monotone = False
    assert _guard_warnings(model, X, (np.array([.6, .4]), np.array([[2., 9.], [12., 1.]]), 0))[1] == []

# ---------------------------------------------------------------- the collapse threshold at its limit

@pytest.mark.parametrize("ct", ["diag", "spherical"])
def test_collapse_threshold_is_four_digits_above_the_resolution(ct):
    """A component is refused when a standard deviation is at most 1e4 eps |mean|_max (its coordinates' resolution,
    4 digits up): 1 + 1e-6 times that passes, the limit itself and 1 - 1e-6 times it are refused naming the component;
    a component without points is not checked."""
    means = np.array([[1., 2.], [-3e3, 5.]])
    floor = 1e4 * EPS * 3e3
    def covs(f):
        sd = np.array([[1., 1.], [f * floor, 1.]]) if ct == "diag" else np.array([1., f * floor])
        return sd**2
    occupied = np.array([True, True])
    _check_spread(covs(1 + 1e-6), means, ct, occupied)
    for f in (1., 1 - 1e-6):
        with pytest.raises(ValueError, match="Component 1 has collapsed"): _check_spread(covs(f), means, ct, occupied)
    _check_spread(covs(0.5), means, ct, np.array([True, False]))

def test_collapse_is_refused_by_a_fit():
    "Through the estimator: a diag component on points whose spread is below the resolution is refused, naming it."
    X = np.vstack([np.random.default_rng(0).normal(0, 1, (40, 2)), 1e3 + np.array([[0., 0.], [1e-13, 0.]] * 10)])
    with pytest.raises(ValueError, match="Component 1 has collapsed"):
        _quiet(GaussianMixtureEM(2, covariance_type="diag", reg_covar=0, weights_init=[.5, .5],
                                 means_init=[[0., 0.], [1e3, 1e3]], precisions_init=np.ones((2, 2))).fit, X)

# ---------------------------------------------------------------- the empty-component threshold at its limit

@pytest.mark.parametrize("ct", ["full", "diag", "spherical"])
def test_empty_component_threshold_is_1e12_of_the_weight(ct):
    """A component whose count is at most 1e-12 of the total weight has lost its points: it keeps its mean and
    covariance. Just above that it is an ordinary component: its mean is the mean of the data it weighs (uniform
    responsibilities: the data's mean, up to the count's floor of 10 eps)."""
    X = _three_clusters(2, n=50)
    N, D = X.shape
    model = GaussianEM(np.zeros(D), ct, 0.)
    old_covs = dict(full=np.stack([np.eye(D)] * 3), diag=np.ones((3, D)), spherical=np.ones(3))[ct]
    old = GaussianParams(np.full(3, 1 / 3), np.array([[0., 0.], [4., 1.], [-7., 9.]]), old_covs, precision_cholesky(old_covs, ct))
    hard = np.repeat(np.eye(3)[:2], [N // 2, N - N // 2], axis=0)   # every row in component 0 or 1
    for f, empty in ((1 - 1e-3, True), (1 + 1e-3, False)):
        r = f * 1e-12
        R = hard * (1 - r); R[:, 2] = r
        new = model.m_step(stats_from_resp(model, X, R), old)
        if empty:
            np.testing.assert_array_equal(new.means[2], old.means[2])
            np.testing.assert_array_equal(new.covariances[2], old.covariances[2])
        else:
            np.testing.assert_allclose(new.means[2], X.mean(0), rtol=1e-3)
            assert not np.allclose(new.covariances[2], old.covariances[2])
        np.testing.assert_allclose(new.weights[2], r, rtol=1e-3)   # the weight is its count either way
        assert np.isfinite(new.precisions_cholesky).all()

# ---------------------------------------------------------------- stepwise: the steps partial_fit takes, lower_bound_

def _batches(seed=3, n=8, size=90):
    rng = np.random.default_rng(seed)
    X = _three_clusters(seed, n=n * size // 3)
    X = X[rng.permutation(len(X))]
    return [X[i * size:(i + 1) * size] for i in range(n)], rng

@pytest.mark.parametrize("weighted", [False, True])
def test_partial_fit_steps_and_lower_bound_by_hand(weighted):
    """A stream of partial_fit calls with kappa = 0.7, t0 = 3 (no averaging): batch t steps with rho_t = 1 for t = 1,
    else (t - 1 + 3)^-0.7. From the weights and means before a call, and the batch's responsibilities at them (scipy),
    the step gives counts n_k = (1 - rho) w_k + rho mean_i(w_i r_ik) / mean(w) and means
    ((1 - rho) w_k mu_k + rho sum_i w_i r_ik x_i / sum_i w_i) / n_k; lower_bound_ is the batch's (weighted) mean log
    density at the globals before the call."""
    batches, rng = _batches()
    kappa, t0 = 0.7, 3.
    est = GaussianMixtureEM(3, random_state=0, kappa=kappa, t0=t0, average=False, covariance_type="full")
    for t, A in enumerate(batches, start=1):
        w = rng.uniform(0.2, 3., len(A)) if weighted else np.ones(len(A))
        before = (est.weights_.copy(), est.means_.copy(), est.covariances_.copy()) if t > 1 else None
        est.partial_fit(A, sample_weight=w if weighted else None)
        rho = 1. if t == 1 else (t - 1 + t0) ** -kappa
        assert est._online["schedule"].rho == pytest.approx(rho, rel=1e-14)
        assert est.n_iter_ == t
        if before is None: continue
        lj = log_joint(A, *before)
        R = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
        n_hat, s_hat = w @ R / w.sum(), (R * w[:, None]).T @ A / w.sum()
        n = (1 - rho) * before[0] + rho * n_hat
        mu = ((1 - rho) * before[0][:, None] * before[1] + rho * s_hat) / n[:, None]
        np.testing.assert_allclose(est.weights_, n / n.sum(), rtol=1e-10)
        np.testing.assert_allclose(est.means_, mu, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(est.lower_bound_, w @ logsumexp(lj, axis=1) / w.sum(), rtol=1e-12)

def test_partial_fit_lower_bound_after_fit_is_at_the_fitted_globals():
    "partial_fit after fit: lower_bound_ is the batch's mean log density at the fitted parameters (scipy), not after the step."
    batches, _ = _batches(5)
    X = np.vstack(batches)
    est = _quiet(GaussianMixtureEM(3, random_state=0, max_iter=15, tol=0).fit, X)
    want = logsumexp(log_joint(batches[0], est.weights_, est.means_, est.covariances_), axis=1).mean()
    est.partial_fit(batches[0])
    np.testing.assert_allclose(est.lower_bound_, want, rtol=1e-12)
    assert est._online["schedule"].rho == pytest.approx((15 + 2.) ** -0.6, rel=1e-14)   # resumed at t = n_iter_ = 15

def test_first_partial_fit_is_one_em_step_from_the_start():
    "The first call starts as fit starts (the same k-means on its batch) and takes one full step (rho = 1): it equals fit(max_iter=1)."
    batches, _ = _batches(7)
    a = GaussianMixtureEM(3, random_state=0).partial_fit(batches[0])
    b = _quiet(GaussianMixtureEM(3, random_state=0, max_iter=1, tol=0).fit, batches[0])
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-12, atol=1e-14, err_msg=attr)

def test_partial_fit_reads_the_estimators_schedule_at_each_call():
    "kappa and t0 set between calls take effect at the next step: after two batches, set_params(kappa=1, t0=0) gives rho_3 = 1/2."
    batches, _ = _batches(9)
    est = GaussianMixtureEM(3, random_state=0, average=False)
    est.partial_fit(batches[0]).partial_fit(batches[1])
    assert est._online["schedule"].rho == pytest.approx(3. ** -0.6, rel=1e-14)   # the defaults: (1 + 2)^-0.6
    est.set_params(kappa=1., t0=0.).partial_fit(batches[2])
    assert est._online["schedule"].rho == 0.5

# ---------------------------------------------------------------- a race the mutation run exposed

def test_one_temporary_directory_per_executor(monkeypatch, tmp_path):
    """Pieces that keep q on disk from two threads share one temporary directory. The directory's constructor is held
    until two threads are inside it (or 1 s has passed): a lazy creation without a lock then makes two."""
    import tempfile, threading
    import emtheory.core as core
    from emtheory.blocks import ArrayBlocks
    from emtheory.core import Threads
    real, barrier, made = tempfile.TemporaryDirectory, threading.Barrier(2), []
    def held(*a, **k):
        made.append(1)
        try: barrier.wait(timeout=1.)
        except threading.BrokenBarrierError: pass
        return real(*a, **k)
    monkeypatch.setattr(core.tempfile, "TemporaryDirectory", held)
    X = np.random.default_rng(0).normal(size=(40000, 2))
    np.save(tmp_path / "x.npy", X)
    est = _quiet(GaussianMixtureEM(2, random_state=0, tol=0, max_iter=1).fit, X)
    ex = Threads(ArrayBlocks(np.load(tmp_path / "x.npy", mmap_mode="r"), 40000), n_threads=2, chunk_rows=4096, keep_resp="disk")
    coordinate_ascent(est._model, None, est._state(est._model), tol=0, max_iter=2, executor=ex)
    assert len(made) == 1

def _fit_in_child(X, conn):
    GaussianMixtureEM(2, random_state=0, tol=0, max_iter=2).fit(X)
    conn.send("fitted")

def test_a_forked_child_fits_after_the_parent_did():
    """A process forked after a fit in its parent (multiprocessing's default start on Linux) can fit too: the child's fit
    of 20000 rows (pieces enough for two threads) reports back within 10 s (it takes well under 1 s); a hung child is killed."""
    import multiprocessing as mp
    from emtheory.core import default_threads
    if default_threads() < 2: pytest.skip("one E-step thread: no pool")
    X = np.random.default_rng(0).normal(size=(20000, 2))
    _quiet(GaussianMixtureEM(2, random_state=0, tol=0, max_iter=2).fit, X)   # the parent's threaded E-steps start the pool
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_fit_in_child, args=(X, send))
    child.start()
    try: done = recv.poll(10) and recv.recv() == "fitted"
    finally:
        child.kill(); child.join()
    assert done

# ---------------------------------------------------------------- the core's smaller contracts (survivors of mutmut on core.py)

from emtheory.core import (check_weights, DataTypeError, NotFittedError, LocalStats, Threads, feature_chunks, initial_resp,
                           not_fitted_error)

def test_sample_weight_errors_are_one_exact_line():
    "Each bad sample_weight gets its own message, word for word: non-numbers, a wrong shape, NaN alone, a negative alone, all zero."
    with pytest.raises(DataTypeError, match=r"^sample_weight must be numbers, one per sample \("): check_weights(["a", "b"], 2)
    with pytest.raises(ValueError, match=r"^sample_weight must have shape \(3,\); it has shape \(2,\)\.$"): check_weights([1., 2.], 3)
    for bad in ([1., np.nan, 2.], [1., -1e-300, 2.], [np.inf, 1., 1.]):
        with pytest.raises(ValueError, match=r"^sample_weight must be finite and non-negative\.$"): check_weights(bad, 3)
    with pytest.raises(ValueError, match=r"^sample_weight sums to zero: at least one sample must have positive weight\.$"):
        check_weights([0., 0., 0.], 3)

def test_weights_that_sum_below_one_fit_as_their_multiples():
    "Exact EM is invariant to scaling the weights: weights summing to 0.3 give the fit of the same weights times 1e3."
    X = _three_clusters(4, n=30)
    w = np.random.default_rng(4).uniform(0.5, 1.5, len(X))
    w *= 0.3 / w.sum()
    kw = dict(random_state=0, tol=0, max_iter=20)
    a, b = (_quiet(GaussianMixtureEM(3, **kw).fit, X, sample_weight=v) for v in (w, w * 1e3))
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-9, atol=1e-12, err_msg=attr)

def test_not_fitted_error_is_also_scikit_learns():
    "With scikit-learn loaded, using an unfitted estimator raises an error that both scikit-learn's and emtheory's class catch."
    from sklearn.exceptions import NotFittedError as SkNotFitted
    with pytest.raises(SkNotFitted, match="GaussianMixtureEM instance is not fitted yet") as e:
        GaussianMixtureEM(2).predict(np.zeros((3, 2)))
    assert isinstance(e.value, NotFittedError)
    assert isinstance(not_fitted_error("x"), SkNotFitted) and str(not_fitted_error("x")) == "x"

def test_local_stats_add_only_about_the_same_references():
    "LocalStats add when index and references agree; a different reference point, or different components, is refused."
    idx, ref = np.array([0, 2]), np.array([[1., 2.], [3., 4.]])
    a = LocalStats(idx, ref, np.ones((2, 3)))
    np.testing.assert_array_equal((a + LocalStats(idx, ref.copy(), np.full((2, 3), 2.))).T, 3.)
    msg = r"^LocalStats about different reference points do not add: shift one to the other's references first\.$"
    with pytest.raises(ValueError, match=msg): a + LocalStats(idx, ref + 1e-12, np.ones((2, 3)))
    with pytest.raises(ValueError, match=msg): a + LocalStats(np.array([0, 1]), ref, np.ones((2, 3)))

def test_feature_chunks_cache_up_to_max_bytes():
    "Features are cached when N M 8 bytes fit in max_bytes (exactly at the limit too), else X itself is returned."
    X = np.arange(30.).reshape(10, 3)
    f = lambda A: np.hstack([A, A**2])   # M = 6: 10 x 6 x 8 = 480 bytes
    got = feature_chunks(X, f, chunk_size=4, max_bytes=480)
    assert [sl for sl, _ in got] == [slice(0, 4), slice(4, 8), slice(8, 10)]
    np.testing.assert_array_equal(np.vstack([P for _, P in got]), f(X))
    assert feature_chunks(X, f, chunk_size=4, max_bytes=479) is X

def test_kmeanspp_seeds_one_point_per_separated_cluster_at_any_scale():
    """k-means++ draws each next seed with probability proportional to D^2: on three tight clusters far apart every seed
    lands in its own cluster (a repeat has probability ~1e-8), at any scale of the data (here 1e-4: sums of D^2 below 1)."""
    rng = np.random.default_rng(0)
    base = np.vstack([rng.normal(c, .01, (20, 2)) for c in ((0., 0.), (1., 0.), (0., 1.))])
    for scale in (1e-4, 1e3):
        for seed in range(20):
            R = initial_resp(base * scale, 3, "k-means++", np.random.default_rng(seed))
            rows = R.argmax(0)
            assert sorted(rows // 20) == [0, 1, 2], (scale, seed)
    R = initial_resp(np.ones((5, 2)), 2, "k-means++", np.random.default_rng(0))   # all points equal: no D^2 to draw by
    assert R.sum() == 2 and (R.sum(0) == 1).all()

def test_poisson_responsibilities_are_scipys():
    """The shared E-step on a model without its own plan (the toy Poisson mixture): log p(x) and q(z) equal scipy's,
    whether its features are cached (prepare) or read from X (prepare with 0 bytes returns X itself)."""
    from scipy.stats import poisson
    X = _poisson_data()
    model = PoissonMixture()
    state = (np.array([.6, .4]), np.array([[2., 9.], [12., 1.]]), 0)
    assert model.prepare(X, 0) is X and isinstance(model.prepare(X), list)
    lj = np.log(state[0]) + poisson.logpmf(X[:, None, :], state[1][None]).sum(2)
    lse, R = model.responsibilities(state, X)
    np.testing.assert_allclose(lse, logsumexp(lj, axis=1), rtol=1e-12)
    np.testing.assert_allclose(R, np.exp(lj - logsumexp(lj, axis=1, keepdims=True)), rtol=1e-10, atol=1e-14)
    st = model.e_step(state, X, model.prepare(X, 0))
    np.testing.assert_allclose(st.log_norm, logsumexp(lj, axis=1).sum(), rtol=1e-12)

def test_to_disk_moves_every_per_row_buffer_and_only_those():
    """A piece's per-row buffers (first axis = its rows, any number of axes) move into memory-mapped files of one
    'emtheory-resp-' directory, with their values, dtype and memory order; other entries stay as they are; two pieces
    get two files."""
    ex = Threads(np.zeros((4, 2)), n_threads=1, keep_resp="disk")
    other, scalar = np.zeros(3), np.array(1.)
    mb = {"short": other, "scalar": scalar, "note": "x", "log_resp": np.asfortranarray(np.arange(8.).reshape(4, 2)),
          "means": np.arange(4, dtype=np.float32), "c": np.arange(8.).reshape(4, 2)}
    want = {k: v.copy() for k, v in mb.items() if isinstance(v, np.ndarray)}
    ex._to_disk((0, 1), mb, 4)
    assert mb["short"] is other and mb["scalar"] is scalar and mb["note"] == "x"
    for k in ("log_resp", "means", "c"):
        assert isinstance(mb[k], np.memmap) and mb[k].dtype == want[k].dtype, k
        np.testing.assert_array_equal(mb[k], want[k])
        assert os.path.dirname(mb[k].filename) == ex._tmp.name
    assert os.path.basename(ex._tmp.name).startswith("emtheory-resp-")
    assert mb["log_resp"].flags.f_contiguous and not mb["log_resp"].flags.c_contiguous and mb["c"].flags.c_contiguous
    mb2 = {"log_resp": np.asfortranarray(-np.arange(8.).reshape(4, 2))}
    ex._to_disk((1, 1), mb2, 4)
    assert mb2["log_resp"].filename != mb["log_resp"].filename
    np.testing.assert_array_equal(mb["log_resp"], want["log_resp"])   # the second piece did not overwrite the first

# ---------------------------------------------------------------- stopping rules and the one-pass E-step, by hand

from emtheory.core import aitken_gap, stationarity_gap, e_step

def test_aitken_gap_on_a_geometric_approach():
    "l_t = L - c a^t: Aitken's estimate of L - l_t is exact, c a^t; a flat last step gives 0; no linear regime gives inf."
    L, c = -1234.5, 7.
    for a in (0.2, 0.9):
        l = [L - c * a**t for t in (3, 4, 5)]
        assert aitken_gap(l) == pytest.approx(c * a**5, rel=1e-8)
    assert aitken_gap([1., 2., 2.]) == 0.
    assert aitken_gap([2., 2., 3.]) == np.inf                 # d1 = 0 < d2
    assert aitken_gap([1., 3., 2.]) == np.inf                 # a < 0: oscillating
    assert aitken_gap([1., 2., 3.]) == np.inf                 # a = 1: not converging
    assert aitken_gap([0., 1., 1.5, 1.75]) == pytest.approx(0.25, rel=1e-12)   # the last three values

def test_stationarity_gap_is_the_rise_of_an_exact_m_step():
    """At globals theta and q = p(z | x, theta): Q(theta*) - Q(theta), with Q(theta') = sum_i sum_k r_ik (log pi'_k +
    log N(x_i | mu'_k, Sigma'_k)) by scipy and theta* the weighted means, covariances and weights of r (by hand)."""
    X = _three_clusters(6, n=40)
    N, D = X.shape
    model = GaussianEM(np.zeros(D), "full", 0.)
    w0, mu0, cov0 = np.array([.2, .3, .5]), np.array([[.5, .5], [3., 1.], [1., 3.]]), np.stack([np.eye(2) * 2.] * 3)
    state = GaussianParams(w0, mu0, cov0, precision_cholesky(cov0, "full"))
    R = np.exp(log_resp(X, w0, mu0, cov0))
    Nk = R.sum(0); mu = R.T @ X / Nk[:, None]
    cov = np.stack([((X - mu[k]).T * R[:, k]) @ (X - mu[k]) / Nk[k] for k in range(3)])
    Q = lambda w, m, c: (R * log_joint(X, w, m, c)).sum()
    want = Q(Nk / N, mu, cov) - Q(w0, mu0, cov0)
    got = stationarity_gap(model, stats_from_resp(model, X, R), state)
    assert want > 1 and got == pytest.approx(want, rel=1e-9)
    fixed = GaussianParams(Nk / N, mu, cov, precision_cholesky(cov, "full"))
    assert abs(stationarity_gap(model, stats_from_resp(model, X, R), fixed)) < 1e-9 * abs(Q(Nk / N, mu, cov))

def test_one_pass_e_step_by_hand():
    """e_step on natural parameters and features (the toy Poisson): T = sum_i w_i r_ik phi(x_i), the weighted
    log-normalisers, the entropy of q, and with the previous q kept, sum_i w_i KL(q_prev || q), for chunks of 7 rows."""
    X = _poisson_data()[:40]
    model = PoissonMixture()
    w = np.random.default_rng(2).uniform(0.5, 2., len(X))
    s1, s2 = (np.array([.6, .4]), np.array([[2., 9.], [12., 1.]]), 0), (np.array([.5, .5]), np.array([[3., 8.], [10., 2.]]), 0)
    Phi = model.features(X)
    def by_hand(s):
        lj = Phi @ model.natural_params(s).T
        lq = lj - logsumexp(lj, axis=1, keepdims=True)
        return lj, lq, np.exp(lq)
    buf = np.empty((len(X), 2), order="F")
    e_step(model.natural_params(s1), X, model.features, w, 7, buf, False)
    st = e_step(model.natural_params(s2), X, model.features, w, 7, buf, True)
    lj1, lq1, R1 = by_hand(s1); lj2, lq2, R2 = by_hand(s2)
    np.testing.assert_allclose(st.T, (R2 * w[:, None]).T @ Phi, rtol=1e-12)
    np.testing.assert_allclose(st.log_norm, w @ logsumexp(lj2, axis=1), rtol=1e-12)
    np.testing.assert_allclose(st.entropy, -w @ (R2 * lq2).sum(1), rtol=1e-10)
    np.testing.assert_allclose(st.kl, w @ (R1 * (lq1 - lq2)).sum(1), rtol=1e-9)
    assert st.n == pytest.approx(w.sum(), rel=1e-14)
    np.testing.assert_allclose(buf, lq2, rtol=1e-12, atol=1e-12)   # the new log responsibilities are left in the buffer
    assert np.isnan(e_step(model.natural_params(s2), X, model.features).kl)
    np.testing.assert_allclose(model.statistics(X, R2, w, chunk_size=7), (R2 * w[:, None]).T @ Phi, rtol=1e-12)

def test_local_stats_scale():
    "LocalStats * c scales the sums and keeps the components and reference points."
    a = LocalStats(np.array([1]), np.array([[2., 3.]]), np.array([[1., 2., 4.]])) * 0.5
    np.testing.assert_array_equal(a.T, [[.5, 1., 2.]]); np.testing.assert_array_equal(a.ref, [[2., 3.]])
    np.testing.assert_array_equal(a.index, [1])

@pytest.mark.parametrize("method", ["kmeans", "k-means++", "random", "random_from_data"])
def test_zero_weight_rows_take_no_part_in_the_start(method):
    """initial_resp with weights: rows of weight 0 get 1/K and the others get what the same draws give without those
    rows; so a fit with zero-weight rows is the fit without them (weights between 0.5 and 2: none is exactly 1)."""
    X = _three_clusters(8, n=30)
    rng = np.random.default_rng(8)
    w = rng.uniform(0.5, 2., len(X)); w[rng.choice(len(X), 15, replace=False)] = 0.
    keep = w > 0
    R = initial_resp(X, 3, method, np.random.default_rng(1), w)
    np.testing.assert_array_equal(R[~keep], 1 / 3)
    np.testing.assert_array_equal(R[keep], initial_resp(X[keep], 3, method, np.random.default_rng(1), w[keep]))
    kw = dict(random_state=0, init_params=method, tol=0, max_iter=10)
    a = _quiet(GaussianMixtureEM(3, **kw).fit, X, sample_weight=w)
    b = _quiet(GaussianMixtureEM(3, **kw).fit, X[keep], sample_weight=w[keep])
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-10, atol=1e-12, err_msg=attr)

def test_not_fitted_error_without_scikit_learn(monkeypatch):
    "scikit-learn is no dependency: when it is not loaded, an unfitted estimator raises emtheory's own NotFittedError."
    import sys
    monkeypatch.delitem(sys.modules, "sklearn.exceptions", raising=False)
    with pytest.raises(NotFittedError, match="not fitted yet") as e: GaussianMixtureEM(2).predict(np.zeros((3, 2)))
    assert type(e.value) is NotFittedError

def test_weight_sum_limit_is_1e150():
    "Weights may sum to 1e150 exactly; above that they are refused with the remedy (divide by a constant)."
    assert check_weights([5e149, 5e149], 2).sum() == 1e150
    with pytest.raises(ValueError, match=r"^sample_weight sums to 1\.1e\+150, too large for the weighted statistics in "
                       r"float64 \(at most 1e\+150\): divide the weights by a constant \(w / w\.max\(\)\)\. Exact EM's "
                       r"fit does not change under that rescaling\.$"):
        check_weights([5e149, 6e149], 2)

def test_e_step_reads_precomputed_chunks_and_default_chunking():
    """e_step on a list of (slice, features) chunks equals e_step on the rows; feature_chunks cuts 4096 rows by default;
    MixtureModel.statistics without weights is R^T phi."""
    X = np.random.default_rng(3).poisson(4., size=(5000, 2)).astype(float)
    model = PoissonMixture()
    Theta = model.natural_params((np.array([.6, .4]), np.array([[2., 9.], [12., 1.]]), 0))
    parts = feature_chunks(X, model.features)
    assert [sl for sl, _ in parts] == [slice(0, 4096), slice(4096, 5000)]
    a, b = e_step(Theta, parts), e_step(Theta, X, model.features)
    np.testing.assert_allclose(a.T, b.T, rtol=1e-13); assert a.log_norm == pytest.approx(b.log_norm, rel=1e-13)
    assert a.n == b.n == 5000
    lj = model.features(X) @ Theta.T
    R = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
    np.testing.assert_allclose(model.statistics(X, R), R.T @ model.features(X), rtol=1e-12)

class PoissonEM(PoissonMixture):
    "The toy Poisson mixture with its exact M-step and a log prior -0.1 sum(rates): globals (weights, rates, 0)."
    def m_step(self, st, s):
        D = st.T.shape[1] - 2
        Nk = st.T[:, D]
        return Nk / st.n, st.T[:, :D] / Nk[:, None], 0
    def log_prior(self, s): return -0.1 * s[1].sum()

def test_stationarity_gap_counts_the_prior_at_both_globals():
    """With a log prior: [Q(theta*) + log p(theta*)] - [Q(theta) + log p(theta)], theta* the exact M-step (weighted
    counts and means, by hand), Q by scipy's Poisson log-pmf."""
    from scipy.stats import poisson
    X = _poisson_data()
    model = PoissonEM()
    state = (np.array([.6, .4]), np.array([[2., 9.], [12., 1.]]), 0)
    lj = np.log(state[0]) + poisson.logpmf(X[:, None, :], state[1][None]).sum(2)
    R = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
    Nk = R.sum(0)
    w_s, lam_s = Nk / len(X), R.T @ X / Nk[:, None]
    Q = lambda w, lam: (R * (np.log(w) + poisson.logpmf(X[:, None, :], lam[None]).sum(2))).sum()
    want = Q(w_s, lam_s) - 0.1 * lam_s.sum() - Q(*state[:2]) + 0.1 * state[1].sum()
    got = stationarity_gap(model, stats_from_resp(model, X, R), state)
    assert got == pytest.approx(want, rel=1e-10)

def test_kmeans_start_standardises_and_repairs_empty_clusters():
    """The k-means start: one-hot rows (k-means), rows summing to 1 (random), one seed row per component (the seeding
    methods); a constant column does not stop it
    finding two clusters 10 apart in the other; with fewer distinct points than K, the empty cluster gets a point."""
    X = np.random.default_rng(0).normal(size=(60, 2)); X[:, 1] = 3.; X[:30, 0] += 10.
    for method in ("kmeans", "random"):   # a distribution over components for every row
        np.testing.assert_allclose(initial_resp(X, 2, method, np.random.default_rng(0)).sum(1), 1., rtol=1e-15)
    for method in ("k-means++", "random_from_data"):   # one seed row per component, the other rows zero
        R = initial_resp(X, 2, method, np.random.default_rng(0))
        assert (R.sum(0) == 1).all() and R.sum() == 2 and ((R == 0) | (R == 1)).all()
    R = initial_resp(X, 2, "kmeans", np.random.default_rng(0))
    labels = R.argmax(1)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:])) == 1 and labels[0] != labels[30]
    assert ((R == 0) | (R == 1)).all()
    X2 = np.repeat([[0., 0.], [5., 5.]], [6, 4], axis=0)
    for seed in range(5):
        R = initial_resp(X2, 3, "kmeans", np.random.default_rng(seed))
        assert (R.sum(0) >= 1).all() and (R.sum(1) == 1).all() and ((R == 0) | (R == 1)).all()

def test_initial_statistics_and_seeding_by_hand():
    """stats_from_resp: T = sum_i w_i r_ik phi(x_i) and n = sum_i w_i, through a model's own `statistics` or, for a model
    with features only, the chunked sum; no log-normaliser or entropy. With N = K, random_from_data makes every row a
    seed (without replacement: a permutation). An unknown init_params is refused naming the choices."""
    from emtheory.core import INIT_PARAMS
    X = _poisson_data()[:30]
    R = np.random.default_rng(3).dirichlet(np.ones(2), len(X))
    w = np.random.default_rng(4).uniform(0.5, 2., len(X))
    class FeaturesOnly:
        features = staticmethod(PoissonMixture().features)
    for model in (PoissonMixture(), FeaturesOnly()):
        for weights in (w, None):
            st = stats_from_resp(model, X, R, weights, chunk_size=7)
            ww = np.ones(len(X)) if weights is None else weights
            np.testing.assert_allclose(st.T, (R * ww[:, None]).T @ PoissonMixture().features(X), rtol=1e-12)
            assert st.n == pytest.approx(ww.sum(), rel=1e-14) and np.isnan(st.log_norm) and np.isnan(st.entropy)
    for seed in range(10):
        R = initial_resp(np.arange(6.).reshape(3, 2), 3, "random_from_data", np.random.default_rng(seed))
        assert sorted(R.argmax(1)) == [0, 1, 2] and (R.sum(0) == 1).all() and (R.sum(1) == 1).all()
    with pytest.raises(ValueError, match=r"^init_params must be one of \('kmeans', 'k-means\+\+', 'random', "
                       r"'random_from_data'\); got 'bogus'\.$"):
        initial_resp(X, 2, "bogus", np.random.default_rng(0))
    assert INIT_PARAMS == ("kmeans", "k-means++", "random", "random_from_data")

def test_kmeans_start_is_a_lloyd_fixed_point():
    """The k-means start runs Lloyd's iterations to convergence on the standardised data: on 600 uniform points with
    K = 8 (where 10 iterations leave 8 of these 10 seeds unconverged) every point is nearest to its own cluster's mean."""
    X = np.random.default_rng(1).uniform(size=(600, 2)) * [1., 50.]
    Z = (X - X.mean(0)) / X.std(0)
    for seed in range(10):
        labels = initial_resp(X, 8, "kmeans", np.random.default_rng(seed)).argmax(1)
        C = np.stack([Z[labels == k].mean(0) for k in range(8)])
        assert (((Z[:, None] - C[None])**2).sum(2).argmin(1) == labels).all(), seed

# ---------------------------------------------------------------- the data layer: sources, summaries, the stand-in

def _splitmix64_keys(seed, n):
    "splitmix64's finaliser of (i + seed * golden) for rows i = 0..n-1 (Steele, Lea & Flood 2014), in Python integers."
    M = 2**64
    def mix(z):
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 % M
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB % M
        return z ^ (z >> 31)
    return np.array([mix((i + (seed % 2**63) * 0x9E3779B97F4A7C15) % M) for i in range(n)], dtype=np.uint64)

@pytest.mark.parametrize("seed", [None, 0, 7])
def test_the_start_sees_the_rows_of_smallest_keys(seed, tmp_path, monkeypatch):
    "A fit read in blocks starts from the `init_sample` rows of smallest splitmix64 keys, in row order, for its `sample_seed` (0 by default)."
    from emtheory.blocks import fit_blocks
    X = _three_clusters(3)
    seen = []
    orig = GaussianMixtureEM._init_state
    def spy(self, model, Xs, ws, rng):
        seen.append(np.array(Xs))
        return orig(self, model, Xs, ws, rng)
    monkeypatch.setattr(GaussianMixtureEM, "_init_state", spy)
    np.save(tmp_path / "x.npy", X)
    _quiet(fit_blocks, GaussianMixtureEM(3, max_iter=2, random_state=0), str(tmp_path / "x.npy"), block_rows=50,
           init_sample=40, **({} if seed is None else dict(sample_seed=seed)))
    expected = X[np.sort(np.argsort(_splitmix64_keys(seed or 0, len(X)), kind="stable")[:40])]
    np.testing.assert_array_equal(seen[0], expected)

def test_stand_in_rows_have_the_datas_mean_and_covariance():
    """The stand-in's rows, with their weights, have exactly the given mean and the covariance with divisor (total
    weight - 1), the diagonal one when N <= D (mclust's rule), and a total weight above 1 even for tiny weights."""
    from emtheory.blocks import _stand_in
    rng = np.random.default_rng(0)
    for D in (1, 2, 3):
        A = rng.normal(size=(D, D))
        cov, mean = A @ A.T + np.eye(D), rng.normal(size=D)
        for n_rows in (D, D + 1):
            target = cov if n_rows > D else np.diag(np.diag(cov))
            for weighted, unit in ((False, 1.), (True, 1.), (True, .05), (True, .3), (True, 2.5)):
                P, w = _stand_in(mean, cov, n_rows, unit, weighted)
                w = np.ones(len(P)) if w is None else w
                if weighted: assert (w == unit).all()
                T = w.sum()
                m = w @ P / T
                S = (P - m).T @ ((P - m) * w[:, None]) / (T - 1)
                assert T > 1
                np.testing.assert_allclose(m, mean, atol=1e-12)
                np.testing.assert_allclose(S, target, rtol=1e-10, atol=1e-12)
    P, w = _stand_in(mean, cov, 10, weighted=True)
    assert (w == 1.).all()   # without a unit, each stand-in row weighs 1

def test_resp_init_is_refused_by_partial_fit():
    "partial_fit refuses N x K starting responsibilities (a stream has no N), with the remedy."
    from emtheory.blocks import partial_fit
    from emtheory.cavi import GaussianMixtureCAVI
    X = _three_clusters(0)
    R = np.full((len(X), 3), 1 / 3)
    msg = "^" + re.escape("resp_init (N x K responsibilities) is not supported for data read in blocks: use init_params.") + "$"
    with pytest.raises(ValueError, match=msg):
        partial_fit(GaussianMixtureCAVI(3, resp_init=R), X)

def test_memmap_source_reads_blocks_of_the_asked_size_and_names_its_file(tmp_path):
    from emtheory.blocks import memmap_blocks
    from emtheory.core import DataError
    X = _three_clusters(0)
    np.save(tmp_path / "x.npy", X)
    src = memmap_blocks(tmp_path / "x.npy", 40)
    assert [len(b) for b in src] == [40] * 4 + [20]
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    with pytest.raises(DataError, match="^" + re.escape(f"{tmp_path / 'empty.npy'} has no data rows: the data source is empty.")):
        list(memmap_blocks(tmp_path / "empty.npy"))

def test_a_plain_iterator_is_read_once_with_the_remedy():
    from emtheory.blocks import IterBlocks
    X = _three_clusters(0)
    src = IterBlocks(iter([X[:90], X[90:]]))
    assert sum(len(b) for b in src) == len(X)
    with pytest.raises(ValueError, match="^This data source is a plain iterator, which can be read only once, and the fit "
                       "needs a pass per iteration: pass a callable that returns a fresh iterator.$"):
        list(src)

def test_as_source_refuses_what_it_cannot_read():
    from emtheory.blocks import as_source
    with pytest.raises(ValueError, match="^Cannot read blocks from a float: pass an array, a .npy or .csv path, a dask "
                       "array, or a callable returning an iterator of arrays.$"):
        as_source(3.0)

def test_dask_blocks_are_whole_rows_and_their_weights_are_sent_once():
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import DaskBlocks, DaskTree, summarise, ArrayBlocks
    X = _three_clusters(0)
    src = DaskBlocks(da.from_array(X, chunks=(50, 1)))   # chunked by column too
    assert src.X.numblocks == (4, 1) and src.X.chunks[1] == (2,)
    tree = DaskTree(src)
    w = np.linspace(.5, 2., len(X))
    first = tree._weight_blocks(w)
    assert tree._weight_blocks(w) is first             # the same weights: persisted once, not again at every iteration
    assert tree._weight_blocks(w.copy()) is not first  # new weights: chunked and persisted anew
    a, b = summarise(src, w, 40, 3), summarise(ArrayBlocks(X, 50), w, 40, 3)
    assert len(a["sample"]) == 40
    np.testing.assert_array_equal(a["sample"], b["sample"])
    np.testing.assert_array_equal(a["sample_weight"], b["sample_weight"])
    np.testing.assert_allclose(a["cov"], b["cov"], rtol=1e-12)

def test_a_workers_support_check_names_the_row_of_the_data():
    da = pytest.importorskip("dask.array")
    from emtheory.expfam import ExpFamilyMixtureEM
    X = np.random.default_rng(0).poisson(3., (120, 2)).astype(float)
    X[77, 1] = -1
    with pytest.raises(ValueError, match="^X has the value -1 in column 1 at row 77 of the data \\(block 1, its row 27\\)"):
        ExpFamilyMixtureEM(2, family="poisson").fit(da.from_array(X, chunks=(50, 2)))

def test_partial_fit_reports_the_polyak_ruppert_average_after_burn_in():
    """With average=True and burn_in = 2, the running statistics are those of average=False (the next E-step reads them),
    and the reported parameters are the M-step of the mean of the running statistics of steps 3..t. The running
    statistics per unit weight are read off average=False's parameters (reg_covar = 0): n_k = pi_k,
    s1_k = pi_k mu_k, s2_k = pi_k (Sigma_k + mu_k mu_k^T); the M-step is pi = n, mu = s1 / n, Sigma = s2 / n - mu mu^T."""
    batches, _ = _batches(11)
    kw = dict(random_state=0, kappa=0.7, t0=1., burn_in=2, reg_covar=0., covariance_type="full")
    run, avg = GaussianMixtureEM(3, average=False, **kw), GaussianMixtureEM(3, average=True, **kw)
    stats = []
    for t, A in enumerate(batches[:6], start=1):
        run.partial_fit(A), avg.partial_fit(A)
        pi, mu, S = run.weights_, run.means_, run.covariances_
        stats.append((pi, pi[:, None] * mu, pi[:, None, None] * (S + np.einsum("ki,kj->kij", mu, mu))))
        if t <= 2:
            np.testing.assert_allclose(avg.means_, run.means_, rtol=1e-12)   # before the burn-in ends: the running ones
            continue
        n, s1, s2 = (np.mean([s[j] for s in stats[2:]], axis=0) for j in range(3))
        m = s1 / n[:, None]
        np.testing.assert_allclose(avg.weights_, n / n.sum(), rtol=1e-10)
        np.testing.assert_allclose(avg.means_, m, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(avg.covariances_, s2 / n[:, None, None] - np.einsum("ki,kj->kij", m, m), rtol=1e-8, atol=1e-10)
    assert not np.allclose(avg.means_, run.means_, rtol=1e-6)   # the average differs from the last running value here

def test_partial_fit_takes_fractional_weights_and_keeps_no_trace():
    "A first batch whose weights are all below 1 starts the fit; after fit, partial_fit's history_ is empty, not fit's."
    batches, _ = _batches(13)
    est = GaussianMixtureEM(3, random_state=0).partial_fit(batches[0], sample_weight=np.full(len(batches[0]), .5))
    np.testing.assert_allclose(est.means_, GaussianMixtureEM(3, random_state=0).partial_fit(batches[0]).means_, rtol=1e-10)
    est = _quiet(GaussianMixtureEM(3, random_state=0, max_iter=3, tol=0).fit, np.vstack(batches))
    assert len(est.history_["elbo"]) == 3
    est.partial_fit(batches[0])
    assert est.history_ == {}

def test_n_parameters_is_scikit_learns_for_every_covariance_type():
    "The free-parameter count behind BIC and AIC equals scikit-learn's GaussianMixture._n_parameters()."
    from sklearn.mixture import GaussianMixture
    from emtheory.gaussian import n_parameters
    X = _three_clusters(0)
    for ct in ("full", "tied", "diag", "spherical"):
        for K in (1, 3):
            gm = GaussianMixture(K, covariance_type=ct, max_iter=1).fit(np.hstack([X, X[::-1, :1]]))
            assert n_parameters(K, 3, ct) == gm._n_parameters(), (ct, K)

def test_block_checks_name_the_block_and_what_is_wrong():
    "1-D blocks of a one-column source are columns; a block of another shape, or an infinity where NaN is allowed, is named."
    from emtheory.blocks import IterBlocks, _check_block
    from emtheory.core import DataError
    x = np.arange(10.)
    assert [b.shape for b in IterBlocks(lambda: iter([x[:, None], x]))] == [(10, 1), (10, 1)]
    with pytest.raises(DataError, match="^" + re.escape("Block 2 (rows from 40) has shape (2, 2, 2): blocks must be 2-D "
                                                       "arrays (rows, features).") + "$"):
        _check_block(np.zeros((2, 2, 2)), 2, 40)
    A = np.array([[1., np.nan], [np.inf, 2.]])
    with pytest.raises(DataError, match="^" + re.escape("Block 1 contains infinity at its row 1 (row 11 of the data), "
                                                       "column 0. Remove or impute those values.") + "$"):
        _check_block(A, 1, 10, allow_nan=True)
    with pytest.raises(DataError, match="^" + re.escape("Block 1 contains NaN or infinity at its row 0 (row 10 of the data), column 1.")):
        _check_block(A, 1, 10)

def test_summary_of_blocks_of_one_row_is_numpys():
    "Chan's merge with a block of weight exactly 1 (one row) or 0 (zero weights): numpy's mean and covariance of all rows."
    from emtheory.blocks import IterBlocks, summarise
    X = _three_clusters(2)
    s = summarise(IterBlocks(lambda: iter([X[:1], X[1:50], X[50:51], X[51:]])))
    np.testing.assert_allclose(s["mean"], X.mean(0), rtol=1e-13)
    np.testing.assert_array_equal(s["min"], X.min(0)); np.testing.assert_array_equal(s["max"], X.max(0))
    np.testing.assert_allclose(s["cov"], np.cov(X.T), rtol=1e-12)
    w = np.where(np.arange(len(X)) < 50, 0., np.linspace(.5, 2, len(X)))
    s = summarise(IterBlocks(lambda: iter([X[:50], X[50:]])), w)
    np.testing.assert_allclose(s["mean"], w @ X / w.sum(), rtol=1e-13)
    np.testing.assert_allclose(s["cov"], np.cov(X.T, aweights=w) * (1 - (w ** 2).sum() / w.sum() ** 2) * w.sum() / (w.sum() - 1),
                               rtol=1e-12)

@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_statistics_of_given_weighted_responsibilities_by_hand(ct):
    """The M-step of stats_from_resp (several chunks, one component far from the centre) gives the weighted counts,
    means and covariances computed here with numpy; sums about other references (in the centred coordinates) give the
    same M-step (they re-centre exactly)."""
    rng = np.random.default_rng(4)
    X = np.vstack([_three_clusters(4), rng.normal(60., 1., (30, 2))])   # a fourth component far from the centre
    R = rng.dirichlet(np.ones(4), len(X))
    R[-30:] = [.01, .01, .01, .97]
    w = rng.uniform(.2, 3., len(X))
    model = GaussianEM(X.mean(0), ct)
    p = model.m_step(stats_from_resp(model, X, R, w, chunk_size=64), None)
    Rw = R * w[:, None]
    nk = Rw.sum(0)
    mu = Rw.T @ X / nk[:, None]
    C = np.stack([(X - mu[k]).T @ ((X - mu[k]) * Rw[:, k:k + 1]) / nk[k] for k in range(4)])
    np.testing.assert_allclose(p.weights, nk / nk.sum(), rtol=1e-12)
    np.testing.assert_allclose(p.means + model.center, mu, rtol=1e-10, atol=1e-10)   # the model's means are centred
    want = dict(full=C, tied=(C * nk[:, None, None]).sum(0) / nk.sum(), diag=np.diagonal(C, axis1=1, axis2=2),
                spherical=np.trace(C, axis1=1, axis2=2) / 2)[ct]
    np.testing.assert_allclose(p.covariances, want, rtol=1e-9)
    J = np.array([1, 3])
    q = model.m_step(model.statistics(X, R, w, 64, references=(J, mu[J] - model.center + 5.)), None)   # centred coordinates
    for a in ("weights", "means", "covariances"):
        np.testing.assert_allclose(getattr(q, a), getattr(p, a), rtol=1e-9, atol=1e-10, err_msg=a)

def test_start_helpers_by_hand():
    """The start's pieces on small cases worked out by hand: the weighted distinct rows; greedy k-means++ drawing one
    uniform per candidate with scikit-learn's 2 + floor(log K) candidates per seed after the first; an empty cluster
    refilled from a cluster of two points, never from a singleton; no point left to draw, named; fields summed only
    when both blocks have them."""
    from emtheory.core import _distinct, _kmeanspp, _refill, _draw, _add
    X = np.array([[1., 0.], [0., 1.], [1., 0.], [0., 1.], [2., 2.]])
    U, c, inv = _distinct(X, np.array([.5, 1., 2., 3., 4.]))
    np.testing.assert_array_equal(U, [[0., 1.], [1., 0.], [2., 2.]])
    np.testing.assert_array_equal(c, [4., 2.5, 4.])
    np.testing.assert_array_equal(U[inv], X)
    Z = np.random.default_rng(0).normal(size=(40, 2))
    for K in (2, 3, 8):
        rng, ref = np.random.default_rng(5), np.random.default_rng(5)
        _kmeanspp(Z, np.ones(40), K, rng)
        ref.uniform(size=1 + (K - 1) * (2 + int(np.log(K))))
        assert rng.uniform() == ref.uniform(), K   # the same number of uniforms consumed
    labels = np.array([0, 0, 1])           # cluster 0: two points; cluster 1: one point, the farthest; cluster 2: empty
    np.testing.assert_array_equal(_refill(labels, np.array([1., 2., 9.]), 3), [0, 2, 1])
    with pytest.raises(ValueError, match="^No point left to draw a start from: fewer distinct data points of positive "
                                         "weight than components; lower n_components.$"):
        _draw(np.zeros(3), .5)
    assert _add(None, None) is None
    with pytest.raises(TypeError):
        _add(np.ones(2), None)

def test_stacked_stats_accumulate_in_place_by_hand():
    "Two blocks summed into one array in place equal numpy's sums over both: sum r x x^T (upper), sum r x, sum r; one component about a point."
    from emtheory.gaussian import stacked_stats, vech_stats
    rng = np.random.default_rng(8)
    X, R = rng.normal(size=(50, 3)), rng.uniform(size=(2, 50))
    ref = np.array([1., -2., .5])
    out = stacked_stats(X[:20], R[:, :20], refs={1: ref})
    assert stacked_stats(X[20:], R[:, 20:], out, refs={1: ref}) is out
    iu = np.triu_indices(3)
    for k, a in ((0, 0.), (1, ref)):
        d = X - a
        want = np.concatenate([((d.T * R[k]) @ d)[iu], R[k] @ d, [R[k].sum()]])
        np.testing.assert_allclose(vech_stats(out, 3)[k], want, rtol=1e-12)

def test_defaults_of_small_helpers_are_what_their_docments_say():
    """precisions_from_cholesky reads full factors by default (P = U U^T); form_costs counts building the features
    unless told they are cached; an object with `chunks` that is not a dask array (h5py and zarr datasets have
    `chunks`) is not sent to dask."""
    import types
    from emtheory.gaussian import precisions_from_cholesky, form_costs, n_features_phi, FORM_COSTS
    from emtheory.blocks import _is_dask
    U = np.triu(np.random.default_rng(0).normal(size=(2, 3, 3)))
    np.testing.assert_allclose(precisions_from_cholesky(U), U @ U.transpose(0, 2, 1))
    built, cached = form_costs(8, 4, "full")["features"], form_costs(8, 4, "full", cached=True)["features"]
    assert built - cached == pytest.approx(FORM_COSTS["phi"] * n_features_phi(8, "full"), rel=1e-12)
    assert not _is_dask(types.SimpleNamespace(chunks=(10, 2), shape=(20, 2)))
    assert _is_dask(pytest.importorskip("dask.array").zeros((4, 2), chunks=2))

def test_digits_lost_by_its_formula():
    "digits_lost as its docstring defines it, m = || |U_k|^T |mu_k| ||^2 computed here: log10(1 + m/(D + |c|)), whitened sqrt(D m)."
    from emtheory.gaussian import Quadratic, digits_lost
    U = np.stack([np.eye(2) * .5, np.array([[1., 0.], [.3, 2.]])])   # x^T U: columns are U's
    mu, c = np.array([[1., -2.], [30., -40.]]), np.array([-3., -1000.])
    q = Quadratic(c, mu, U, "full")
    m = np.array([((np.abs(mu[k]) @ np.abs(U[k])) ** 2).sum() for k in range(2)])
    np.testing.assert_allclose(digits_lost(q), np.log10(1 + m / (2 + np.abs(c))), rtol=1e-12)
    np.testing.assert_allclose(digits_lost(q, "whitened"), np.log10(1 + np.sqrt(2 * m) / (2 + np.abs(c))), rtol=1e-12)

def test_not_positive_definite_names_the_component():
    "precision_cholesky names the first component that is not positive definite (NaN included), or the tied covariance."
    from emtheory.gaussian import precision_cholesky
    tail = " is not positive definite: the component has collapsed onto too few distinct points"
    full = np.stack([np.eye(2), np.eye(2), np.full((2, 2), np.nan)])
    with pytest.raises(ValueError, match="^The covariance of component 2" + tail):
        precision_cholesky(full, "full")
    with pytest.raises(ValueError, match="^The tied covariance" + tail):
        precision_cholesky(np.array([[1., 2.], [2., 1.]]), "tied")
    for ct, cov in (("diag", np.array([[2., 1.], [.5, .5], [1., -1.]])), ("spherical", np.array([2., .5, 0.]))):
        with pytest.raises(ValueError, match="^The covariance of component 2" + tail):
            precision_cholesky(cov, ct)

def test_per_globals_keys_callables_without_a_name():
    "A callable without __name__ (a functools.partial) is cached by its identity: computed once per globals."
    import functools
    from emtheory.core import per_globals
    calls = []
    fn = functools.partial(lambda s, k: calls.append(s) or s * k, k=2)
    model, state = GaussianEM(np.zeros(2)), 3.
    assert per_globals(model, state, fn) == 6 and per_globals(model, state, fn) == 6
    assert calls == [3.]

# ---------------------------------------------------------------- the loop's stopping rules, by hand from one trajectory

def _em_trajectory():
    "Exact EM on three clusters from fixed globals: the start's log-likelihood (scipy) and 80 iterations' objectives."
    X = _three_clusters(5)
    c = X.mean(0)
    covs = np.stack([np.eye(2) * 2.] * 3)
    means = np.array([[1., 1.], [3., 0.], [0., 4.]])
    state0 = GaussianParams(np.full(3, 1 / 3), means - c, covs, precision_cholesky(covs, "full"))
    obj0 = logsumexp(log_joint(X, np.full(3, 1 / 3), means, covs), axis=1).sum()
    fit = _quiet(coordinate_ascent, GaussianEM(c, "full"), X, state0, tol=0, max_iter=80, n_threads=1)
    return X, c, state0, np.r_[obj0, fit.history["objective"]]

@pytest.mark.parametrize("rule, tol", [("change", 1e-4), ("relative", 1e-8), ("aitken", 1e-6)])
def test_each_stopping_rule_stops_where_it_first_holds(rule, tol):
    """The loop stops at the first iteration t at which the rule holds on the objectives L_0..L_t (L_0 from scipy):
    change |L_t - L_t-1| / N < tol; relative (mclust) |L_t - L_t-1| < tol (1 + |L_t|); aitken the distance to Aitken's
    limit (`aitken_gap`, checked by hand above) over N below tol, from t = 2."""
    from emtheory.core import aitken_gap
    X, c, state0, L = _em_trajectory()
    N = len(X)
    holds = dict(change=lambda t: abs(L[t] - L[t - 1]) / N < tol,
                 relative=lambda t: abs(L[t] - L[t - 1]) < tol * (1 + abs(L[t])),
                 aitken=lambda t: t >= 2 and abs(aitken_gap(L[:t + 1])) / N < tol)[rule]
    want = next(t for t in range(1, len(L)) if holds(t))
    assert 3 <= want < 60   # the rule is not met at once, and well before the trajectory ends
    fit = coordinate_ascent(GaussianEM(c, "full"), X, state0, tol=tol, max_iter=100, n_threads=1, stopping=rule)
    assert fit.converged and fit.n_iter == want

def test_stopping_reads_the_change_per_unit_weight():
    """Weights scaled by 1000 scale the objective and N alike: the change per unit weight, and so the stop, is the same;
    the default tol is 1e-3, as documented."""
    X, c, state0, _ = _em_trajectory()
    runs = [coordinate_ascent(GaussianEM(c, "full"), X, state0, w, tol=1e-5, n_threads=1) for w in (None, np.full(len(X), 1e3))]
    assert runs[0].n_iter == runs[1].n_iter and runs[0].converged
    default = coordinate_ascent(GaussianEM(c, "full"), X, state0, n_threads=1)
    assert default.n_iter == coordinate_ascent(GaussianEM(c, "full"), X, state0, tol=1e-3, n_threads=1).n_iter < runs[0].n_iter

def test_verbose_prints_a_line_per_iteration(capsys):
    X, c, state0, L = _em_trajectory()
    fit = _quiet(coordinate_ascent, GaussianEM(c, "full"), X, state0, tol=0, max_iter=3, verbose=1, n_threads=1)
    lines = capsys.readouterr().out.splitlines()
    assert [l.split()[:2] for l in lines] == [["iter", "1"], ["iter", "2"], ["iter", "3"]]
    assert float(lines[2].split()[3]) == pytest.approx(L[3], rel=1e-9)

def test_residual_rule_records_the_stationarity_gap():
    "The residual rule records the stationarity gap at every iteration; it stops at the first one below tol N."
    X, c, state0, _ = _em_trajectory()
    fit = coordinate_ascent(GaussianEM(c, "full"), X, state0, tol=1e-6, max_iter=100, n_threads=1, stopping="residual")
    gap = fit.history["stationarity_gap"]
    assert gap.dtype == float and len(gap) == fit.n_iter and fit.converged
    assert gap[-1] / len(X) < 1e-6 <= gap[-2] / len(X)

def test_history_names_the_prior_terms():
    "A MAP model records its log prior by name; CAVI records each factor's term by name, and they sum to the objective's prior part."
    from emtheory.map_em import GaussianMixtureMAP
    from emtheory.cavi import GaussianMixtureCAVI
    X = _three_clusters(1)
    h = _quiet(GaussianMixtureMAP(3, random_state=0, max_iter=3, tol=0).fit, X).history_
    assert np.isfinite(h["log_prior"]).all()
    h = _quiet(GaussianMixtureCAVI(3, random_state=0, max_iter=3, tol=0).fit, X).history_
    assert "log_prior" not in h
    np.testing.assert_allclose(h["neg_kl_weights"] + h["neg_kl_means_precisions"], h["objective"] - h["local"], rtol=1e-12)
    assert (h["neg_kl_weights"] < 0).all() and (h["neg_kl_means_precisions"] < 0).all()   # minus a KL between distinct distributions

def test_threads_name_short_weights():
    "An in-memory array's executor checks the weights' length against its rows, naming both."
    from emtheory.core import Threads
    X = _three_clusters(0)
    model = GaussianEM(X.mean(0), "full")
    state = GaussianParams(np.full(3, 1 / 3), X[:3] - X.mean(0), np.stack([np.eye(2)] * 3), np.stack([np.eye(2)] * 3))
    with pytest.raises(ValueError, match="^sample_weight has 100 entries but the data have 180 rows."):
        Threads(X, 1, 64).e_step(model, state, np.ones(100))

# ---------------------------------------------------------------- check_array and the data's keys, by their messages

def test_check_array_messages_name_the_problem_and_the_remedy():
    import pandas as pd
    import scipy.sparse as sp
    from emtheory.core import check_array
    with pytest.raises(ValueError, match="^" + re.escape("X is a scipy sparse matrix (csr_matrix): sparse input is not supported")):
        check_array(sp.csr_matrix(np.eye(3)))
    df = pd.DataFrame({"a": [1., 2., 3.], "b": [1., None, 3.]})
    with pytest.raises(ValueError, match="^" + re.escape("X has missing values (NaN or pd.NA; first at row 1, column 'b').")):
        check_array(df)
    with pytest.raises(ValueError, match="^" + re.escape("X has missing values (NaN or pd.NA; first at row 2, column 0).")):
        check_array(pd.Series([1., 2., None]))
    np.testing.assert_array_equal(check_array(pd.DataFrame({"a": [1, 2], "b": [True, False]})), [[1., 1.], [2., 0.]])
    assert check_array(np.array([[True, False]])).dtype == np.float64   # booleans are numbers
    with pytest.raises(ValueError, match="^X has 2 samples, fewer than the 3 required"):
        check_array(np.ones((2, 5)), min_samples=3)
    assert check_array(np.ones((5, 2)), min_samples=3).shape == (5, 2)
    with pytest.raises(ValueError, match="^X contains NaN or infinity"):
        check_array([[1., np.inf]])

def test_row_keys_are_splitmix64_for_large_seeds_and_any_offset():
    "The keys for a seed above 2^63 and an offset: splitmix64 by hand (the seed is taken modulo 2^63)."
    from emtheory.blocks import row_keys
    seed = 2**63 + 12345
    np.testing.assert_array_equal(row_keys(seed, 0, 30), _splitmix64_keys(seed, 30))
    np.testing.assert_array_equal(row_keys(seed, 10, 20), _splitmix64_keys(seed, 30)[10:])

def test_a_block_of_zero_weight_summarises_to_nothing():
    "A block whose weights are all 0 adds its rows to the count but nothing to the mean or scatter."
    from emtheory.blocks import IterBlocks, summarise
    X = _three_clusters(2)
    w = np.r_[np.zeros(60), np.ones(len(X) - 60)]
    s = summarise(IterBlocks(lambda: iter([X[:60], X[60:]])), w)
    assert s["rows"] == len(X) and s["weight"] == len(X) - 60
    np.testing.assert_allclose(s["mean"], X[60:].mean(0), rtol=1e-13)
    np.testing.assert_allclose(s["cov"], np.cov(X[60:].T), rtol=1e-12)

def test_array_blocks_refuse_other_shapes_and_dask_keeps_no_q_when_told():
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import ArrayBlocks, fit_blocks
    with pytest.raises(ValueError, match="^" + re.escape("X must be 2-D (n_samples, n_features); it has shape (5,).") + "$"):
        ArrayBlocks(np.ones(5))
    X = _three_clusters(0)
    kept, none = (_quiet(fit_blocks, GaussianMixtureEM(3, random_state=0, max_iter=3, tol=0), da.from_array(X, chunks=(60, 2)),
                         keep_resp=k) for k in ("memory", None))
    assert kept.history_["kl_direct"].all() and not none.history_["kl_direct"].any()   # no memory of q: the KL is the difference

def test_summary_checks_rows_and_weights_on_every_path():
    "The model's row check runs on blocks read in the client too (naming the row of the data); a dask array's weights of the wrong length are named."
    da = pytest.importorskip("dask.array")
    from emtheory.expfam import ExpFamilyMixtureEM
    from emtheory.blocks import DaskBlocks, summarise
    X = np.random.default_rng(0).poisson(3., (120, 2)).astype(float)
    X[77, 1] = -1
    with pytest.raises(ValueError, match="^X has the value -1 in column 1 at row 77 of the data \\(block 1, its row 27\\)"):
        ExpFamilyMixtureEM(2, family="poisson").fit(lambda: iter([X[:50], X[50:]]))
    with pytest.raises(ValueError, match="^sample_weight has 100 entries but the data have 120 rows.$"):
        summarise(DaskBlocks(da.from_array(X, chunks=(50, 2))), np.ones(100))

def test_monte_carlo_draws_are_keyed_by_the_rows_of_the_data():
    """MCEM's draws are keyed by each row's global index: an array read whole, the same rows read in blocks, and a dask
    array whose blocks are drawn on their workers give the same fit."""
    da = pytest.importorskip("dask.array")
    from emtheory.mcem import GaussianMixtureMCEM
    from emtheory.blocks import IterBlocks
    X = _three_clusters(6)
    kw = dict(random_state=0, max_iter=4, tol=0)
    a = _quiet(GaussianMixtureMCEM(3, **kw).fit, X)
    b = _quiet(GaussianMixtureMCEM(3, **kw).fit, IterBlocks(lambda: iter([X[:70], X[70:]])))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    b = _quiet(GaussianMixtureMCEM(3, **kw).fit, da.from_array(X, chunks=(70, 2)))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.history_["objective"], b.history_["objective"], rtol=1e-10)

def test_partial_fit_reads_the_first_batch_summary():
    "A family fitted by partial_fit takes its support from the first batch's summary, as fit does."
    from emtheory.expfam import ExpFamilyMixtureEM
    X = np.random.default_rng(0).poisson([2., 9.], (200, 2)).astype(float)
    a = ExpFamilyMixtureEM(2, family="poisson", random_state=0).partial_fit(X)
    b = _quiet(ExpFamilyMixtureEM(2, family="poisson", random_state=0, max_iter=1, tol=0).fit, X)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    X[17, 0] = -1
    with pytest.raises(ValueError, match="^X has the value -1 in column 0 at row 17 of the data"):
        ExpFamilyMixtureEM(2, family="poisson").partial_fit(X)   # the first batch's rows are checked as fit checks them

def test_form_costs_by_their_formula_and_more_block_messages():
    """form_costs as its docstring writes it, from FORM_COSTS; a dask array of unknown chunk sizes and a row with every
    value missing get their whole messages."""
    da = pytest.importorskip("dask.array")
    from emtheory.gaussian import form_costs, n_features_phi, FORM_COSTS as f
    from emtheory.blocks import DaskBlocks, _check_block
    from emtheory.core import DataError
    for D, K, ct in ((3, 4, "full"), (8, 2, "tied"), (5, 3, "diag")):
        M, c = n_features_phi(D, ct), form_costs(D, K, ct)
        assert c["features"] == pytest.approx(f["softmax"] * K + f["phi"] * M + f["features"] * K * M, rel=1e-12)
        if ct != "diag":
            assert c["whitened"] == pytest.approx(f["softmax"] * K + f["rows"] * K * D + f["whitened"] * K * D * D, rel=1e-12)
    x = da.from_array(np.arange(20.).reshape(10, 2), chunks=(5, 2))
    with pytest.raises(ValueError, match="^" + re.escape("The dask array has unknown chunk sizes (NaN in X.chunks), as after "
                       "boolean indexing or from a dataframe: call X.compute_chunk_sizes() (or "
                       "df.to_dask_array(lengths=True)) first.") + "$"):
        DaskBlocks(x[x[:, 0] > 3])
    A = np.array([[1., 2.], [3., np.nan], [np.nan, np.nan]])
    with pytest.raises(DataError, match="^" + re.escape("Block 1 has a row with every value missing, its row 2 (row 12 of "
                                                       "the data): such a row carries no information; drop it.") + "$"):
        _check_block(A, 1, 10, allow_nan=True)

def test_feature_cache_fits_its_byte_budget_exactly():
    "N rows of M float64 features (M = 6 for full covariances in 2-D) are cached exactly when 8 N M bytes fit the budget."
    from emtheory.gaussian import cache_features, precision_cholesky
    assert cache_features(1000, 2, "full", 1000 * 6 * 8) and not cache_features(1000, 2, "full", 1000 * 6 * 8 - 1)
    covs = np.stack([np.eye(2) * 4., np.diag([1., 9.])])
    np.testing.assert_allclose(precision_cholesky(covs), [np.eye(2) / 2, np.diag([1., 1 / 3])])   # full by default
