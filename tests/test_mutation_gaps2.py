"""Tests for what the full mutmut run over core, gaussian, blocks, estimator and online left alive (issue 25, second
pass): the Gaussian model's natural parameters, sampling, parameter counts and distances; the data layer's reprs,
messages and defaults; the loop's guard and stopping rules at their edges. Every expected value is computed here from
the definition with numpy and scipy, never read from the code under test."""
import os, re, warnings
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.special import gammaln, logsumexp
from scipy.stats import multivariate_normal
from emtheory.core import MixtureModel, coordinate_ascent, ConvergenceWarning, DataError
from emtheory.em import GaussianMixtureEM, GaussianEM, GaussianParams

def _quiet(fn, *a, **k):
    "Run a fit whose ConvergenceWarning is expected (tol=0 or max_iter=1: a fixed number of iterations)."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*a, **k)

def _exact(msg):
    "A pytest `match` pattern for exactly this whole message."
    return "^" + re.escape(msg) + "$"

def _three_clusters(seed, n=60):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(c, s, (n, 2)) for c, s in (((0., 0.), 1.), ((4., 1.), .7), ((1., 5.), 1.3))])

def _full_covs(covs, ct, K, D):
    "Covariances as a (K, D, D) stack, written out from each type's meaning (not the package's helper)."
    covs = np.asarray(covs, float)
    if ct == "full": return covs
    if ct == "tied": return np.stack([covs] * K)
    if ct == "diag": return np.stack([np.diag(c) for c in covs])
    return np.stack([c * np.eye(D) for c in covs])

# ---------------------------------------------------------------- the Gaussian model's natural parameters and statistics

@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_model_natural_params_give_the_log_joint(ct):
    """GaussianModel.natural_params(state): Theta_k . phi(x - center) = log pi_k + log N(x | mu_k, Sigma_k) for every
    covariance type, with the fitted parameters and scipy's density."""
    X = _three_clusters(2)
    est = _quiet(GaussianMixtureEM(3, covariance_type=ct, max_iter=3, tol=0, random_state=0).fit, X)
    model = est._model
    Theta = model.natural_params(est._state(model))
    covs = _full_covs(est.covariances_, ct, 3, 2)
    want = np.column_stack([np.log(w) + multivariate_normal(m, c).logpdf(X) for w, m, c in zip(est.weights_, est.means_, covs)])
    np.testing.assert_allclose(model.features(X) @ Theta.T, want, rtol=1e-9, atol=1e-9)

def test_statistics_of_given_responsibilities_have_no_log_normaliser():
    "statistics(X, R) (an initial E-step) returns NaN, not None, for the log-normaliser and the entropy, as its docments say."
    X = _three_clusters(1)
    R = np.random.default_rng(0).dirichlet(np.ones(3), len(X))
    for refs in (None, (np.array([], int), np.zeros((0, 2)))):
        st = GaussianEM(X.mean(0), "full").statistics(X, R, references=refs)
        assert isinstance(st.log_norm, float) and np.isnan(st.log_norm)
        assert isinstance(st.entropy, float) and np.isnan(st.entropy)
        np.testing.assert_allclose(st.T[:, -1], R.sum(0), rtol=1e-12)

# ---------------------------------------------------------------- distances, thresholds, parameter counts

def test_local_components_start_strictly_above_the_precision_ratio():
    """local_components: the components with mu^T P mu > PRECISION_RATIO = 1e4, strictly: a component exactly 100
    standard deviations from the centre is summed about the centre, one a little farther about its own mean."""
    from emtheory.gaussian import Quadratic, local_components
    for dist, want in ((100., []), (100.01, [0]), (99.99, [])):
        q = Quadratic(np.zeros(2), np.array([[dist, 0.], [1., 1.]]), np.ones(2), "spherical")
        assert local_components(q).tolist() == want

def test_mahalanobis_ignores_the_constants():
    "mahalanobis(X, q, center): ||U_k^T (x - m_k)||^2 whatever the terms' constants are, as scipy's Mahalanobis distance."
    from emtheory.gaussian import Quadratic, mahalanobis
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    center = np.array([.5, -1., 2.])
    mus = rng.normal(size=(2, 3))
    covs = []
    for _ in range(2):
        A = rng.normal(size=(3, 3)); covs.append(A @ A.T + np.eye(3))
    P = [np.linalg.inv(c) for c in covs]
    U = np.stack([np.linalg.cholesky(p) for p in P])   # U U^T = P
    q = Quadratic(np.array([-3., 7.5]), mus - center, U, "full")
    want = np.column_stack([cdist(X, mus[k:k + 1], "mahalanobis", VI=P[k])[:, 0] ** 2 for k in range(2)])
    np.testing.assert_allclose(mahalanobis(X, q, center), want, rtol=1e-10)

def test_n_parameters_is_an_integer():
    "n_parameters returns an int (its annotation; BIC reads it), for full and tied too: D (D + 1) / 2 in integer arithmetic."
    from emtheory.gaussian import n_parameters
    for ct, want in (("full", 3 * 6 + 3 * 3 + 2), ("tied", 6 + 3 * 3 + 2), ("diag", 9 + 9 + 2), ("spherical", 3 + 9 + 2)):
        got = n_parameters(3, 3, ct)
        assert type(got) is int and got == want

# ---------------------------------------------------------------- sample_mixture: counts, draws, its check

@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_sample_mixture_draws_as_numpy_defines_them(ct):
    """sample_mixture: counts from one multinomial draw with the weights normalised (given unnormalised), then each
    component's rows mean + z L^T with z standard normal and L the Cholesky factor of its covariance, component by
    component; labels in that order."""
    from emtheory.gaussian import sample_mixture
    K, D, n = 3, 2, 40
    weights = np.array([2., 1., 5.])
    means = np.array([[0., 0.], [5., 5.], [-4., 3.]])
    covs = dict(full=np.array([[[2., .5], [.5, 1.]], [[1., -.3], [-.3, .5]], [[3., 0.], [0., .2]]]),
                tied=np.array([[2., .5], [.5, 1.]]), diag=np.array([[2., 1.], [.5, .3], [1., 4.]]),
                spherical=np.array([2., .5, 1.5]))[ct]
    X, labels = sample_mixture(weights, means, covs, ct, n, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    counts = rng.multinomial(n, weights / weights.sum())
    full = _full_covs(covs, ct, K, D)
    want = np.vstack([means[k] + rng.standard_normal((c, D)) @ np.linalg.cholesky(full[k]).T for k, c in enumerate(counts)])
    np.testing.assert_array_equal(labels, np.repeat(np.arange(K), counts))
    np.testing.assert_allclose(X, want, rtol=1e-12, atol=1e-12)

def test_sample_mixture_takes_any_positive_integer_count():
    "n_samples = 1 (and a numpy integer) is drawn; 0 or a float is refused with the whole message."
    from emtheory.gaussian import sample_mixture
    args = (np.array([.5, .5]), np.zeros((2, 2)), np.array([1., 1.]), "spherical")
    X, labels = sample_mixture(*args, 1, np.random.default_rng(0))
    assert X.shape == (1, 2) and labels.shape == (1,)
    assert sample_mixture(*args, np.int64(2), np.random.default_rng(0))[0].shape == (2, 2)
    for bad in (0, 2.5, -3):
        with pytest.raises(ValueError, match=_exact(f"n_samples must be an integer >= 1; got {bad!r}.")):
            sample_mixture(*args, bad, np.random.default_rng(0))

# ---------------------------------------------------------------- the data layer: reprs, messages, defaults

def test_block_sources_name_themselves():
    """The reprs that error messages print: an array source names its type, shape and block size; a re-readable source
    its callable or the type of its iterable, a one-shot one says `iterator`; a dask source its shape and number of row
    blocks."""
    from emtheory.blocks import ArrayBlocks, IterBlocks
    assert repr(ArrayBlocks(np.zeros((10, 3)), 4)) == "ArrayBlocks(ndarray (10, 3), block_rows=4)"
    f = lambda: iter([np.zeros((2, 2))])
    assert repr(IterBlocks(f)) == f"IterBlocks({f!r})"
    assert repr(IterBlocks([np.zeros((2, 2))])) == "IterBlocks(list)"
    assert repr(IterBlocks(iter([np.zeros((2, 2))]))) == "IterBlocks(iterator)"
    with pytest.raises(DataError, match=_exact("IterBlocks(iterator) has no data rows: the data source is empty.")):
        list(IterBlocks(iter([np.zeros((0, 2))])))

def test_dask_blocks_count_row_blocks_and_refuse_iteration():
    "DaskBlocks' repr counts its row blocks (4 here, columns merged into one block); iterating it in the client is refused."
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import DaskBlocks
    src = DaskBlocks(da.from_array(np.arange(40.).reshape(20, 2), chunks=(5, 1)))
    assert repr(src) == "DaskBlocks((20, 2), 4 blocks)"
    with pytest.raises(TypeError, match=_exact("DaskBlocks are not iterated in the client: its executor, `DaskTree`, "
                                                "sends the work to them.")):
        iter(src)

def test_checked_array_blocks_know_their_rows_at_once():
    """ArrayBlocks of validated rows know n_rows before any pass (an unchecked one learns it on its first pass), so that
    weights of the wrong length are refused up front with the row count."""
    from emtheory.blocks import ArrayBlocks
    from emtheory.core import Threads
    X = _three_clusters(0, 10)
    assert ArrayBlocks(X, 4, checked=True).n_rows == 30
    src = ArrayBlocks(X, 4)
    assert src.n_rows is None
    list(src)
    assert src.n_rows == 30
    c = X.mean(0)
    state = GaussianParams(np.full(3, 1 / 3), np.zeros((3, 2)), np.stack([np.eye(2)] * 3), np.stack([np.eye(2)] * 3))
    with pytest.raises(ValueError, match=_exact("sample_weight has 29 entries but the data have 30 rows.")):
        Threads(ArrayBlocks(X, 4, checked=True), 1).e_step(GaussianEM(c, "full"), state, np.ones(29))

def test_stand_in_keeps_small_variances():
    """The stand-in's rows have the covariance given also when its eigenvalues are far below 1 (no floor on them), and a
    zero eigenvalue (a singular covariance) stays zero."""
    from emtheory.blocks import _stand_in
    rng = np.random.default_rng(1)
    V = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    mean = np.array([1., -2., 3.])
    for ev in ([1e-4, .01, .3], [0., .02, .5]):
        cov = V @ np.diag(ev) @ V.T
        for unit, weighted in ((1., False), (.2, True)):
            P, w = _stand_in(mean, cov, 1000, unit, weighted)
            w = np.ones(len(P)) if w is None else w
            m = w @ P / w.sum()
            S = (P - m).T @ ((P - m) * w[:, None]) / (w.sum() - 1)
            np.testing.assert_allclose(m, mean, atol=1e-12)
            np.testing.assert_allclose(S, cov, rtol=1e-9, atol=1e-12)

def test_fit_blocks_cuts_an_array_into_blocks_of_the_asked_size():
    "fit_blocks on an array reads it in blocks of `block_rows`: a NaN is reported in its block and at its row there."
    from emtheory.blocks import fit_blocks
    X = _three_clusters(0, 10)
    X[10, 1] = np.nan
    with pytest.raises(DataError, match=_exact("Block 2 contains NaN or infinity at its row 2 (row 10 of the data), column 1. "
                                               "Remove or impute those values.")):
        fit_blocks(GaussianMixtureEM(2), X, block_rows=4)

def test_fit_blocks_default_sample_is_100000_rows():
    """With missing values, data of 100001 rows are more than the default start's sample of 100000 rows: refused with
    the whole message (data of the sample's size would be fitted)."""
    from emtheory.blocks import fit_blocks
    X = np.random.default_rng(0).normal(size=(100001, 2))
    X[5, 0] = np.nan
    with pytest.raises(ValueError, match=_exact("Data with missing values and more rows (100001) than the start's sample "
                       "(100000) are not supported yet: the model's centre needs every row. Fit an in-memory array, or "
                       "pass fit_blocks(..., init_sample=N) with N at least the number of rows.")):
        fit_blocks(GaussianMixtureEM(1, missing="marginalize", max_iter=1), X)

def test_first_partial_fit_reads_the_weighted_variance():
    """Factor analysis scales its uniquenesses by each feature's variance from the first batch's summary: with sample
    weights, the weighted variance (divisor the total weight), so noise_variance_ / uniquenesses_ is exactly that."""
    from emtheory.factor import FactorAnalysisEM
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) @ np.array([[1., .5, 0.], [0., 1., .3], [0., 0., 2.]])
    w = rng.uniform(0.1, 5., len(X))
    est = FactorAnalysisEM(1, random_state=0).partial_fit(X, sample_weight=w)
    m = np.average(X, axis=0, weights=w)
    var = np.average((X - m) ** 2, axis=0, weights=w)
    assert np.abs(var - X.var(0)).max() > 1e-2 * var.max()   # the weights matter here
    np.testing.assert_allclose(est.noise_variance_ / est.uniquenesses_, var, rtol=1e-10)

# ---------------------------------------------------------------- the loop: its guard for any model, the relative rule

def _poisson_data():
    rng = np.random.default_rng(1)
    return np.vstack([rng.poisson([2., 9.], size=(300, 2)), rng.poisson([12., 1.], size=(200, 2))]).astype(float)

class DuckPoisson:
    """A Poisson mixture that is not a MixtureModel (the loop takes any object with its methods), so it has no `monotone`
    attribute; its update keeps weights and rates and counts steps, and its log prior falls by `drop` per step."""
    prepare, plan, e_step = MixtureModel.prepare, MixtureModel.plan, MixtureModel.e_step
    n_components, expected_log_joint = MixtureModel.n_components, MixtureModel.expected_log_joint
    def __init__(self, drop): self.drop = drop
    def features(self, X): return np.hstack([X, np.ones((len(X), 1)), -gammaln(X + 1).sum(1, keepdims=True)])
    def natural_params(self, s):
        w, lam, _ = s
        return np.hstack([np.log(lam), (np.log(w) - lam.sum(1))[:, None], np.ones((len(w), 1))])
    def m_step(self, st, s): return s[0], s[1], s[2] + 1
    def log_prior(self, s): return -self.drop * s[2]

def test_decrease_guard_holds_for_a_model_that_does_not_say_it_is_monotone():
    """The guard's default: a model without a `monotone` attribute is held to coordinate ascent, so a fall of the
    objective (here by 10 nats a step, from scipy's log-likelihood at the start) warns once and is recorded each time."""
    X = _poisson_data()
    w, lam = np.array([.6, .4]), np.array([[2., 9.], [12., 1.]])
    model = DuckPoisson(10.)
    assert not hasattr(model, "monotone")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = coordinate_ascent(model, X, (w, lam, 0), tol=0, max_iter=3, n_threads=1)
    loglik = logsumexp(np.log(w) + (X[:, None, :] * np.log(lam) - lam - gammaln(X[:, None, :] + 1)).sum(2), axis=1).sum()
    np.testing.assert_allclose(fit.history["objective"], loglik - 10. * np.arange(1, 4), rtol=1e-12)
    warned = [c for c in caught if "objective decreased" in str(c.message)]
    assert len(warned) == 1 and warned[0].category is RuntimeWarning
    assert str(warned[0].message).startswith("The objective decreased at iteration 1, from ")
    assert list(fit.history["decreased_at"]) == [1, 2, 3]

from test_mutation_gaps import _em_trajectory   # one EM trajectory, its start by scipy (shared with the first pass)

def test_relative_rule_scales_tol_by_the_new_objective():
    """mclust's rule stops when |L_t - L_t-1| < tol (1 + |L_t|), the objective just reached: with tol between that
    threshold's value and the one with |L_t-1| at an early step, the loop goes on there (EM's L_t rises towards 0, so
    the old value's threshold would be met first)."""
    X, c, state0, L = _em_trajectory()
    d = np.abs(np.diff(L))
    new, old = d / (1 + np.abs(L[1:])), d / (1 + np.abs(L[:-1]))   # the rule holds at t iff new[t - 1] < tol
    t = next(t for t in range(2, 20) if new[t - 1] > old[t - 1] * (1 + 1e-6) and old[:t - 1].min() > new[t - 1])
    tol = np.sqrt(new[t - 1] * old[t - 1])   # between the two: met by the old value's threshold, not by the new one's
    want = next(s for s in range(1, len(L)) if new[s - 1] < tol)
    assert want > t
    fit = coordinate_ascent(GaussianEM(c, "full"), X, state0, tol=tol, max_iter=100, n_threads=1, stopping="relative")
    assert fit.converged and fit.n_iter == want

def test_aitken_gap_of_a_ratio_that_underflows_is_zero():
    """aitken_gap: a = d2 / d1 that underflows to 0 (a step of 1e-30 after one of 1e300) is linear convergence with
    a = 0, whose distance to the limit d2 a / (1 - a) is 0, not `inf` (which means no estimate)."""
    from emtheory.core import aitken_gap
    assert 1e-30 / 1e300 == 0.
    assert aitken_gap([-1e300, 0., 1e-30]) == 0.
    assert aitken_gap([0., 1., 1.5]) == pytest.approx(0.5)   # a = 1/2: d2 / (1 - a) - d2

# ---------------------------------------------------------------- the k-means start: at most 50 Lloyd steps

def test_lloyd_stops_after_50_assignment_steps():
    """_lloyd runs at most 50 assignment steps by default (as the kmeans2 start did): on 2000 uniform points with 8
    centres, where Lloyd needs more than 51 steps to settle, it returns the 50th assignment (by hand with numpy)."""
    from emtheory.core import _lloyd
    rng = np.random.default_rng(7)
    Z = rng.uniform(size=(2000, 2))
    C0 = Z[rng.choice(2000, 8, replace=False)]
    c = np.ones(len(Z))
    C, steps = C0.copy(), []
    for _ in range(52):
        labels = cdist(Z, C, "sqeuclidean").argmin(1)
        assert np.bincount(labels, minlength=8).min() > 0   # no empty cluster: the repair never runs
        steps.append(labels)
        C = np.stack([Z[labels == k].mean(0) for k in range(8)])
    assert (steps[49] != steps[50]).any() and (steps[50] != steps[51]).any()   # not settled by step 51
    np.testing.assert_array_equal(_lloyd(Z, c, C0), steps[49])

# ---------------------------------------------------------------- memory-mapped files, covariance type names, the stacked log joint

def test_memmap_blocks_map_the_file_and_name_what_is_wrong(tmp_path):
    """memmap_blocks maps a .npy file read-only (np.memmap, not loaded: not `in_memory`), in blocks of 65536 rows by
    default; a file without a .npy header gets the whole message with its remedy."""
    from emtheory.blocks import memmap_blocks
    X = np.arange(12.).reshape(6, 2)
    np.save(tmp_path / "x.npy", X)
    src = memmap_blocks(tmp_path / "x.npy")
    assert isinstance(src.X, np.memmap) and src.X.mode == "r" and not src.in_memory
    assert src.block_rows == 65536
    assert repr(src) == "ArrayBlocks(memmap (6, 2), block_rows=65536)"
    np.testing.assert_array_equal(np.vstack(list(src)), X)
    (tmp_path / "raw.bin").write_bytes(b"not an npy file at all")
    with pytest.raises(DataError, match=_exact(f"{tmp_path / 'raw.bin'} is not a NumPy .npy file (it has no .npy header): "
                                               "write it with numpy.save, or pass a CSV file.")):
        memmap_blocks(tmp_path / "raw.bin")

def test_check_covariance_type_message():
    "An unknown covariance type is refused with the whole message, naming the four choices."
    from emtheory.gaussian import check_covariance_type
    assert check_covariance_type("tied") == "tied"
    with pytest.raises(ValueError, match=_exact("covariance_type must be one of ('full', 'tied', 'diag', 'spherical'); "
                                                "got 'VVV'.")):
        check_covariance_type("VVV")

@pytest.mark.parametrize("ct", ["full", "tied"])
def test_stacked_log_joint_with_as_many_components_as_dimensions(ct):
    """stacked_log_joint (one GEMM for all components) is log pi_k + log N(x | mu_k, Sigma_k) by scipy, also when K = D
    (where a tied U gives one whitened row per point that the K means are subtracted from)."""
    from emtheory.gaussian import Quadratic, stacked_factors, stacked_log_joint
    rng = np.random.default_rng(3)
    K = D = 2
    X = rng.normal(size=(15, D))
    center = np.array([.3, -.2])
    mus = np.array([[1., 0.], [-1., 2.]])
    A = rng.normal(size=(K, D, D))
    covs = np.einsum("kab,kcb->kac", A, A) + np.eye(D)
    if ct == "tied": covs = np.stack([covs[0]] * K)
    U = np.stack([np.linalg.cholesky(np.linalg.inv(c)) for c in covs])   # U U^T = P
    logw = np.log([.3, .7])
    const = logw + np.log(np.abs(np.linalg.det(U))) - 0.5 * D * np.log(2 * np.pi)
    q = Quadratic(const, mus - center, U if ct == "full" else U[0], ct)
    Ucat, b = stacked_factors(q)
    want = np.stack([logw[k] + multivariate_normal(mus[k], covs[k]).logpdf(X) for k in range(K)])
    np.testing.assert_allclose(stacked_log_joint(X - center, q, Ucat, b), want, rtol=1e-10)

# ---------------------------------------------------------------- partial_fit: its arguments, checks and what it reports

def test_partial_fit_t0_argument_overrides_the_estimators():
    "blocks.partial_fit(est, X, t0=5) steps as an estimator whose t0 is 5, not with the estimator's own t0 (2 here)."
    from emtheory.blocks import partial_fit
    X = _three_clusters(4, 60)
    X = X[np.random.default_rng(0).permutation(len(X))]
    a, b, c = (GaussianMixtureEM(3, random_state=0, t0=t0) for t0 in (2., 5., 2.))
    for A in (X[:90], X[90:]):
        partial_fit(a, A, t0=5.); b.partial_fit(A); c.partial_fit(A)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    assert not np.allclose(a.means_, c.means_, rtol=1e-6)   # t0 matters here

def test_partial_fit_first_batch_weight_count():
    """The first batch needs at least n_components rows of positive weight: exactly K is enough; fewer is refused with
    the whole message, counting only the positive weights."""
    X = _three_clusters(0, 10)
    w = np.zeros(len(X)); w[[0, 15]] = .5
    est = GaussianMixtureEM(2, random_state=0).partial_fit(X, sample_weight=w)
    assert est.n_iter_ == 1
    w = np.zeros(len(X)); w[3] = .5
    with pytest.raises(ValueError, match=_exact("Only 1 samples of the first batch have positive weight, fewer than "
                                                "n_components = 2: the first batch starts the fit. Decrease n_components.")):
        GaussianMixtureEM(2).partial_fit(X, sample_weight=w)

def test_partial_fit_is_never_converged():
    "A partial_fit step is one step of a stream: converged_ is False and n_iter_ counts the batches."
    X = _three_clusters(0, 20)
    est = GaussianMixtureEM(3, random_state=0).partial_fit(X[:30]).partial_fit(X[30:])
    assert est.converged_ is False and est.n_iter_ == 2

def test_partial_fit_checks_a_large_first_batch_as_one_block():
    """The first batch's summary reads it as one block: a value outside the family's support at row 70000 of a batch
    of 70001 rows is named as row 70000 of block 0."""
    from emtheory.expfam import ExpFamilyMixtureEM
    X = np.random.default_rng(0).poisson(3., (70001, 1)).astype(float)
    X[70000, 0] = -1
    with pytest.raises(ValueError, match="^" + re.escape("X has the value -1 in column 0 at row 70000 of the data (block 0, "
                                                         "its row 70000), the first row outside the ")):
        ExpFamilyMixtureEM(2, family="poisson").partial_fit(X)

def test_first_partial_fit_with_missing_values_is_one_em_step():
    """With missing="marginalize", a first batch with NaN entries starts the stream (its summary does not refuse the
    NaN the model integrates out) and equals fit(max_iter=1), one EM step from the same start."""
    X = _three_clusters(1, 20)
    X[[3, 17, 40], [1, 0, 1]] = np.nan
    a = GaussianMixtureEM(2, missing="marginalize", random_state=0).partial_fit(X)
    b = _quiet(GaussianMixtureEM(2, missing="marginalize", random_state=0, max_iter=1, tol=0).fit, X)
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-12, atol=1e-14, err_msg=attr)

def test_first_partial_fit_of_gem_is_one_gem_step():
    """GEM's M-step climbs from the previous parameters: the first partial_fit reports the running parameters, one GEM
    step from the start, equal to fit(max_iter=1) (not a second step from them)."""
    from emtheory.gem import GammaMixtureGEM
    rng = np.random.default_rng(0)
    X = np.vstack([rng.gamma(2., 1., (60, 2)), rng.gamma(9., .5, (60, 2))])
    a = GammaMixtureGEM(2, random_state=0).partial_fit(X)
    b = _quiet(GammaMixtureGEM(2, random_state=0, max_iter=1, tol=0).fit, X)
    c = _quiet(GammaMixtureGEM(2, random_state=0, max_iter=2, tol=0).fit, X)
    for attr in ("weights_", "shapes_", "rates_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-12, err_msg=attr)
    assert not np.allclose(b.shapes_, c.shapes_, rtol=1e-6)   # a second step would move them

def test_averaged_partial_fit_keeps_frozen_means():
    """With averaging on from the first step (burn_in = 0), the reported parameters are the M-step of the average
    from the running parameters, so frozen means stay frozen in it too: the covariances are the scatter about them,
    sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k with scipy's responsibilities at the given start (reg_covar = 0)."""
    X = _three_clusters(2, 30)
    w0, M = np.array([.2, .3, .5]), np.array([[0., 0.], [4., 1.], [1., 5.]])
    covs0 = np.stack([np.eye(2), np.diag([2., .5]), np.array([[1., .3], [.3, 2.]])])
    est = GaussianMixtureEM(3, weights_init=w0, means_init=M, precisions_init=np.linalg.inv(covs0), frozen=("means",),
                            burn_in=0, reg_covar=0., random_state=0).partial_fit(X)
    lj = np.column_stack([np.log(w) + multivariate_normal(m, c).logpdf(X) for w, m, c in zip(w0, M, covs0)])
    R = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
    Nk = R.sum(0)
    want = np.stack([((X - M[k]).T * R[:, k]) @ (X - M[k]) / Nk[k] for k in range(3)])
    np.testing.assert_array_equal(est.means_, M)
    np.testing.assert_allclose(est.weights_, Nk / len(X), rtol=1e-10)
    np.testing.assert_allclose(est.covariances_, want, rtol=1e-9)

def test_partial_fit_after_fit_averages_from_the_estimators_burn_in():
    """partial_fit after fit (5 iterations) with burn_in = 2 < 5 averages at once: the reported statistics per unit
    weight are the mean of the fit's last E-step (scipy's responsibilities at the fitted parameters) and the new running
    ones (read off the running parameters of average=False, reg_covar = 0): pi = n, mu = s1 / n."""
    X = _three_clusters(6, 40)
    B = _three_clusters(7, 30) + np.array([.5, -.3])
    kw = dict(random_state=0, reg_covar=0., burn_in=2, max_iter=5, tol=0)
    avg, run = (_quiet(GaussianMixtureEM(3, average=a, **kw).fit, X) for a in (True, False))
    lj = np.column_stack([np.log(w) + multivariate_normal(m, c).logpdf(X)
                          for w, m, c in zip(avg.weights_, avg.means_, avg.covariances_)])
    R = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
    n_fit, s1_fit = R.mean(0), R.T @ X / len(X)
    avg.partial_fit(B); run.partial_fit(B)
    n_run, s1_run = run.weights_, run.weights_[:, None] * run.means_
    n, s1 = (n_fit + n_run) / 2, (s1_fit + s1_run) / 2
    np.testing.assert_allclose(avg.weights_, n / n.sum(), rtol=1e-9)
    np.testing.assert_allclose(avg.means_, s1 / n[:, None], rtol=1e-9)
    assert not np.allclose(avg.means_, run.means_, rtol=1e-4)   # the average differs from the running value here

# ---------------------------------------------------------------- CSV and .npz sources; dask blocks with missing values

def test_csv_blocks_read_the_asked_rows_and_holes_when_allowed(tmp_path):
    """csv_blocks: blocks of chunk_rows rows, named by the file's path; an empty field is refused by default (with the
    file, line and column) and read as NaN when the fit integrates missing values out (allow_nan)."""
    from emtheory.blocks import csv_blocks
    from emtheory.datasets import UsageError
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n3,4\n5,\n7,8\n9,10\n")
    src = csv_blocks(p, 2)
    assert src.name == str(p) and src.columns == ["a", "b"] and src.block_rows == 2
    with pytest.raises(UsageError, match=_exact(f"{p}, line 4, column 'b': a hole (missing value); remove or impute it")):
        list(src)
    src = csv_blocks(p, 2)
    src.allow_nan = True
    blocks = list(src)
    assert [len(b) for b in blocks] == [2, 2, 1]
    np.testing.assert_array_equal(np.vstack(blocks), [[1, 2], [3, 4], [5, np.nan], [7, 8], [9, 10]])
    q = tmp_path / "empty.csv"
    q.write_text("a,b\n")
    with pytest.raises(DataError, match=_exact(f"{q} has no data rows: the data source is empty.")):
        list(csv_blocks(q, 2))

def test_memmap_blocks_refuse_an_archive_of_arrays(tmp_path):
    "A .npz archive (several arrays) is not one array: refused naming the file and what it holds."
    from emtheory.blocks import memmap_blocks
    np.savez(tmp_path / "x.npz", a=np.zeros(3), b=np.ones(2))
    with pytest.raises(DataError, match=_exact(f"{tmp_path / 'x.npz'} holds NpzFile, not one array: pass a .npy file.")):
        memmap_blocks(tmp_path / "x.npz")

def test_dask_summary_keeps_missing_values_when_allowed():
    """The summary pass over a dask array validates each block on its worker: NaN is refused naming the block and row,
    unless the source allows missing values, when the column ranges skip them (numpy's nanmin, nanmax)."""
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import DaskBlocks, summarise
    X = np.arange(20.).reshape(10, 2)
    X[7, 1] = np.nan
    src = DaskBlocks(da.from_array(X, chunks=(5, 2)))
    with pytest.raises(DataError, match=_exact("Block 1 contains NaN or infinity at its row 2 (row 7 of the data), column 1. "
                                               "Remove or impute those values.")):
        summarise(src)
    src.allow_nan = True
    s = summarise(src)
    assert s["rows"] == 10
    np.testing.assert_array_equal(s["min"], np.nanmin(X, 0))
    np.testing.assert_array_equal(s["max"], np.nanmax(X, 0))

def test_dask_tree_e_step_without_memory_is_the_threads_one():
    """DaskTree.e_step without a memory of q (its default: no KL) gives the statistics, log-normaliser and entropy of
    the threads executor on the same rows, and a NaN KL."""
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import DaskBlocks, DaskTree
    from emtheory.core import Threads
    from emtheory.gaussian import precision_cholesky
    X = _three_clusters(4, 10)
    covs = np.stack([np.eye(2), 2 * np.eye(2), np.diag([1., 3.])])
    state = GaussianParams(np.array([.3, .3, .4]), np.array([[0., 0.], [4., 1.], [1., 5.]]) - X.mean(0), covs,
                           precision_cholesky(covs, "full"))
    model = GaussianEM(X.mean(0), "full")
    got = DaskTree(DaskBlocks(da.from_array(X, chunks=(7, 2)))).e_step(model, state)
    want = Threads(X, 1).e_step(model, state)
    np.testing.assert_allclose(got.T, want.T, rtol=1e-12)
    assert got.log_norm == pytest.approx(want.log_norm, rel=1e-12) and got.entropy == pytest.approx(want.entropy, rel=1e-12)
    assert np.isnan(got.kl)

def test_dask_tree_holds_the_persisted_chunks_on_a_distributed_client():
    """On a dask.distributed client (one in-process worker), the executor keeps a reference to the persisted array: the
    chunks stay on the worker across the passes, and the fit equals the in-memory one."""
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    import dask.array as da
    from emtheory.blocks import DaskBlocks
    X = _three_clusters(8, 40)
    want = _quiet(GaussianMixtureEM(3, random_state=0, max_iter=3, tol=0).fit, X)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl, \
         distributed.Client(cl):
        got = _quiet(GaussianMixtureEM(3, random_state=0, max_iter=3, tol=0).fit, DaskBlocks(da.from_array(X, chunks=(40, 2))))
    np.testing.assert_allclose(got.means_, want.means_, rtol=1e-10)
    np.testing.assert_allclose(got.history_["objective"], want.history_["objective"], rtol=1e-12)

# ---------------------------------------------------------------- a dask block's E-step on its worker

def _start3(X):
    from emtheory.gaussian import precision_cholesky
    covs = np.stack([np.eye(2), 2 * np.eye(2), np.diag([1., 3.])])
    means = np.array([[0., 0.], [4., 1.], [1., 5.]])
    return means, covs, GaussianParams(np.array([.3, .3, .4]), means - X.mean(0), covs, precision_cholesky(covs, "full"))

def test_block_stats_never_write_the_persisted_memory():
    """On a worker, a block's E-step reads its memory of q from the last pass without writing it (a persisted or received
    buffer may be read-only): with that memory frozen read-only, the second pass runs, leaves it as it was, and its KL is
    sum_i KL(q_0(z_i) || q_1(z_i)) with scipy's responsibilities at the two globals."""
    from emtheory.blocks import _block_stats
    X = _three_clusters(4, 10)
    means, covs, s0 = _start3(X)
    model = GaussianEM(X.mean(0), "full")
    _, mem = _block_stats(model, s0, X, None, None, 0, 7, True)
    s1 = model.m_step(_block_stats(model, s0, X, None, None, 0, 7, False)[0], s0)
    bufs = [v for mb in mem.values() for v in mb.values() if isinstance(v, np.ndarray)]
    assert bufs
    before = [b.copy() for b in bufs]
    for b in bufs: b.setflags(write=False)
    st, _ = _block_stats(model, s1, X, None, mem, 0, 7, True)
    for b, c in zip(bufs, before): np.testing.assert_array_equal(b, c)
    lq = []
    for w, m, cv in ((s.weights, s.means + X.mean(0), s.covariances) for s in (s0, s1)):
        lj = np.column_stack([np.log(wk) + multivariate_normal(mk, ck).logpdf(X) for wk, mk, ck in zip(w, m, cv)])
        lq.append(lj - logsumexp(lj, axis=1, keepdims=True))
    assert st.kl == pytest.approx((np.exp(lq[0]) * (lq[0] - lq[1])).sum(), rel=1e-9)

def test_dask_fit_with_missing_values_equals_the_in_memory_fit():
    """Missing values integrated out on dask blocks: the blocks' memory of q (per-chunk lists, not arrays) is carried
    from pass to pass, and the fit equals the in-memory one, its direct KL included."""
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import DaskBlocks
    X = _three_clusters(9, 40)
    X[[5, 50, 100], [0, 1, 0]] = np.nan
    kw = dict(random_state=0, max_iter=3, tol=0, missing="marginalize")
    a = _quiet(GaussianMixtureEM(3, **kw).fit, X)
    b = _quiet(GaussianMixtureEM(3, **kw).fit, DaskBlocks(da.from_array(X, chunks=(40, 2))))
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-10)
    np.testing.assert_allclose(b.history_["kl"], a.history_["kl"], rtol=1e-8, atol=1e-12)
    assert b.history_["kl_direct"].all()

def test_dask_blocks_of_float32_are_read_in_float64():
    """A float32 dask array is converted to float64 on the workers before the features: a Gamma mixture (whose features
    take log x) fitted on it equals the fit on the same values in float64 in memory, to far below float32's precision."""
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import DaskBlocks
    from emtheory.gem import GammaMixtureGEM
    rng = np.random.default_rng(0)
    X32 = np.vstack([rng.gamma(2., 1., (60, 2)), rng.gamma(9., .5, (60, 2))]).astype(np.float32)
    kw = dict(random_state=0, max_iter=3, tol=0)
    a = _quiet(GammaMixtureGEM(2, **kw).fit, X32.astype(np.float64))
    b = _quiet(GammaMixtureGEM(2, **kw).fit, DaskBlocks(da.from_array(X32, chunks=(40, 2))))
    np.testing.assert_allclose(b.history_["objective"], a.history_["objective"], rtol=1e-12)
    np.testing.assert_allclose(b.shapes_, a.shapes_, rtol=1e-10)

# ---------------------------------------------------------------- as_source: the block size it passes on, what it reads

def test_as_source_passes_block_rows_to_every_kind_of_source(tmp_path):
    """as_source(X, block_rows) gives arrays, .npy memmaps and CSV files blocks of block_rows rows (65536 by default)."""
    from emtheory.blocks import as_source
    X = np.arange(10.).reshape(5, 2)
    np.save(tmp_path / "x.npy", X)
    (tmp_path / "x.csv").write_text("a,b\n" + "".join(f"{a:g},{b:g}\n" for a, b in X))
    for src in (X, str(tmp_path / "x.npy"), str(tmp_path / "x.csv")):
        assert as_source(src).block_rows == 65536
        s = as_source(src, 2)
        assert s.block_rows == 2 and [len(b) for b in s] == [2, 2, 1]

def test_as_source_reads_any_iterable_of_blocks():
    "A list of blocks (iterable, not an iterator) and a generator are block sources (IterBlocks), read in order."
    from emtheory.blocks import as_source, IterBlocks
    A, B = np.ones((2, 2)), np.zeros((3, 2))
    for X in ([A, B], (b for b in (A, B))):
        s = as_source(X)
        assert isinstance(s, IterBlocks)
        np.testing.assert_array_equal(np.vstack(list(s)), np.vstack([A, B]))

class _OnlyNext:
    "An object with __next__ but no __iter__: not an iterator by Python's protocol, and not callable."
    def __next__(self): raise StopIteration

def test_as_source_refuses_an_object_it_cannot_iterate_with_its_message():
    "An object with __next__ but no __iter__ is not an iterator: refused with as_source's own message (it once reached iter())."
    from emtheory.blocks import as_source
    with pytest.raises(ValueError, match=_exact("Cannot read blocks from a _OnlyNext: pass an array, a .npy or .csv path, "
                                                "a dask array, or a callable returning an iterator of arrays.")):
        as_source(_OnlyNext())

# ---------------------------------------------------------------- the summary pass: a last block of zero weight; small checks

def test_a_last_block_of_zero_weight_summarises_to_nothing():
    """A block of zero total weight after weighted ones adds its rows to the count, nothing to the weighted mean or to
    the covariance (divisor total weight - 1), both by hand with numpy."""
    from emtheory.blocks import IterBlocks, summarise
    X = _three_clusters(2)
    w = np.r_[np.random.default_rng(0).uniform(.5, 2., 120), np.zeros(len(X) - 120)]
    s = summarise(IterBlocks(lambda: iter([X[:60], X[60:120], X[120:]])), w)
    W = w.sum()
    m = w @ X / W
    assert s["rows"] == len(X) and s["weight"] == pytest.approx(W, rel=1e-14)
    np.testing.assert_allclose(s["mean"], m, rtol=1e-13)
    np.testing.assert_allclose(s["cov"], ((X - m).T * w) @ (X - m) / (W - 1), rtol=1e-12)

def test_dask_blocks_refuse_arrays_that_are_not_2d():
    "A dask array that is not 2-D is refused with the whole message, naming its shape."
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import DaskBlocks
    with pytest.raises(ValueError, match=_exact("The dask array must be 2-D (n_samples, n_features); it has shape (6,).")):
        DaskBlocks(da.from_array(np.arange(6.), chunks=3))

def test_a_one_shot_source_records_that_it_was_read():
    "IterBlocks over a plain iterator: `used` is False until its one pass, then True."
    from emtheory.blocks import IterBlocks
    src = IterBlocks(iter([np.ones((2, 2))]))
    assert src.used is False
    list(src)
    assert src.used is True

# ---------------------------------------------------------------- block checks: kinds of numbers, widths, passes

def test_block_check_takes_real_numbers_as_float64_and_refuses_the_rest():
    """_check_block: integer and boolean blocks are read as float64 (a C-contiguous copy); complex numbers and text are
    refused with the whole message naming the block, its first row and the dtype; a block of 0 columns too."""
    from emtheory.blocks import _check_block
    for A in (np.array([[1, 2], [3, 4]]), np.array([[True, False], [False, True]]), np.array([[1., 2.], [3., 4.]], np.float32)):
        B = _check_block(A, 0, 0)
        assert B.dtype == np.float64 and B.flags.c_contiguous
        np.testing.assert_array_equal(B, A.astype(np.float64))
    for A, dt in ((np.array([[1 + 2j, 0], [1, 1]]), "complex128"), (np.array([["1", "2"], ["3", "4"]]), "<U1")):
        with pytest.raises(DataError, match=_exact(f"Block 3 (rows from 12) has dtype {dt}: blocks must be real numbers.")):
            _check_block(A, 3, 12)
    with pytest.raises(DataError, match=_exact("Block 4 has 0 features; at least 1 is required.")):
        _check_block(np.zeros((3, 0)), 4, 20)

def test_one_column_blocks_stay_columns():
    """A source of one column: (n, 1) blocks after the first stay (n, 1) and a 1-D block after it is a column; a 1-D
    first block (its width unknown) is refused naming its shape."""
    from emtheory.blocks import IterBlocks
    x = np.arange(6.)
    assert [b.shape for b in IterBlocks(lambda: iter([x[:, None], x[:3, None], x[:2]]))] == [(6, 1), (3, 1), (2, 1)]
    with pytest.raises(DataError, match=_exact("Block 0 (rows from 0) has shape (6,): blocks must be 2-D arrays (rows, "
                                               "features).")):
        list(IterBlocks(lambda: iter([x])))

def test_empty_blocks_are_skipped_not_the_end():
    "An empty block in the middle of a source is skipped; the blocks after it are read, and the row count includes them."
    from emtheory.blocks import IterBlocks
    A, B = np.ones((2, 2)), np.zeros((3, 2))
    src = IterBlocks(lambda: iter([A, np.zeros((0, 2)), B]))
    np.testing.assert_array_equal(np.vstack(list(src)), np.vstack([A, B]))
    assert src.n_rows == 5

def test_a_source_must_give_the_same_rows_on_every_pass():
    "A re-readable source whose second pass gives other rows is refused with the whole message and the remedy."
    from emtheory.blocks import IterBlocks
    sizes = iter([5, 4])
    src = IterBlocks(lambda: iter([np.ones((next(sizes), 2))]))
    list(src)
    with pytest.raises(DataError, match=_exact(f"{src!r} yielded 4 rows, but 5 on the first pass: a source must give the "
                                               "same rows on every pass (pass a callable that re-opens the data).")):
        list(src)

# ---------------------------------------------------------------- predict reads its data once

def test_score_samples_keeps_no_feature_cache():
    """score_samples prepares its rows with no cache (a block read once): the peak memory of the call stays well below
    the (N, M) features of the rows (M = 66 for full covariances in 10-D), which a cached pass would hold at once."""
    import tracemalloc
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(200, 10)), rng.normal(size=(200, 10)) + 3.])
    est = _quiet(GaussianMixtureEM(2, random_state=0, max_iter=5, tol=0).fit, X)
    Y = rng.normal(size=(40000, 10))
    est.score_samples(Y[:10])   # warm up the lazily created helpers
    tracemalloc.start()
    est.score_samples(Y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * len(Y) * 66 * 8, peak

# ---------------------------------------------------------------- the start's draws: inverse CDF, greedy k-means++

def test_draw_is_the_inverse_cdf_and_never_a_point_of_mass_zero():
    """_draw(mass, u): the first index whose cumulative mass exceeds u times the total (so u = 0 skips leading points of
    mass 0); a total that overflows to infinity (squared distances of data near 1e200) draws the last point of
    positive mass, never an index out of range or a point of mass 0."""
    from emtheory.core import _draw
    m = np.array([1., 1., 1., 1.])
    for u, want in ((0., 0), (.2, 0), (.25, 1), (.9, 3), (np.nextafter(1., 0.), 3)):
        assert _draw(m, u) == want
    assert _draw(np.array([0., 0., 2., 1.]), 0.) == 2
    assert _draw(np.array([np.inf, .5, 2., 0.]), .5) == 2
    assert _draw(np.array([np.inf, .5, 0.]), .5) == 1

def test_kmeanspp_start_on_data_whose_squared_distances_overflow():
    "k-means++ seeds on data near 1e200 (squared distances overflow to inf): K distinct one-hot seed rows, no error."
    from emtheory.core import initial_resp
    X = np.array([[0.], [1e200], [2e200], [3e200]])
    R = initial_resp(X, 2, "k-means++", np.random.default_rng(0))
    assert R.sum() == 2 and (R.sum(0) == 1).all() and ((R == 0) | (R == 1)).all()

def test_kmeanspp_keeps_the_candidate_of_least_potential():
    """Greedy k-means++ (scikit-learn's): the first seed by inverse CDF on the weights, then for each seed `trials`
    candidates by inverse CDF on weight times D^2, keeping the one that leaves the least weighted potential sum_i c_i
    min_j ||z_i - z_j||^2 (ties: the first). Re-derived here with the same uniforms; the best candidate is not always
    the first one drawn."""
    from emtheory.core import _kmeanspp
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(60, 2)) * np.array([3., 1.])
    c = rng.uniform(.5, 2., 60)
    K, trials = 5, 4
    got = _kmeanspp(Z, c, K, np.random.default_rng(11), trials)
    u = np.random.default_rng(11)
    inv = lambda mass, x: int(np.searchsorted(np.cumsum(mass), x * mass.sum(), side="right"))
    seeds = [inv(c, u.uniform())]
    d2 = ((Z - Z[seeds[0]]) ** 2).sum(1)
    not_first = 0
    for _ in range(1, K):
        cand = [inv(c * d2, x) for x in u.uniform(size=trials)]
        pots = [(c * np.minimum(d2, ((Z - Z[j]) ** 2).sum(1))).sum() for j in cand]
        best = int(np.argmin(pots))
        not_first += best != 0
        seeds.append(cand[best]); d2 = np.minimum(d2, ((Z - Z[cand[best]]) ** 2).sum(1))
    assert not_first >= 1
    assert got.tolist() == seeds

def test_weighted_statistics_count_the_weight():
    "statistics(X, R, w): n is the total weight sum_i w_i (not the row count), T's counts sum_i w_i r_ik."
    X = _three_clusters(1)
    R = np.random.default_rng(0).dirichlet(np.ones(3), len(X))
    w = np.random.default_rng(1).uniform(.2, 3., len(X))
    for ct in ("full", "diag"):
        st = GaussianEM(X.mean(0), ct).statistics(X, R, w)
        assert st.n == pytest.approx(w.sum(), rel=1e-14)
        np.testing.assert_allclose(st.T[:, -1], w @ R, rtol=1e-12)

# ---------------------------------------------------------------- defaults of the feature map, starts by hand, no threadpoolctl

def test_gaussian_features_and_natural_params_default_to_full():
    """gaussian_features(X, center) and natural_params(const, means, P) take full covariances by default:
    phi(x) = [x_a x_b (a <= b, row by row), x, 1] of x - center, and Theta . phi(x) = c_k - (x - mu_k)^T P_k (x - mu_k) / 2."""
    from emtheory.gaussian import gaussian_features, natural_params
    rng = np.random.default_rng(0)
    X, center = rng.normal(size=(7, 3)), np.array([.5, -1., 2.])
    Xc = X - center
    want = np.column_stack([Xc[:, a] * Xc[:, b] for a in range(3) for b in range(a, 3)] + [Xc, np.ones(7)])
    np.testing.assert_allclose(gaussian_features(X, center), want, rtol=1e-14)
    A = rng.normal(size=(2, 3, 3))
    P = np.einsum("kab,kcb->kac", A, A) + np.eye(3)
    const, mus = np.array([.3, -1.2]), rng.normal(size=(2, 3))
    Theta = natural_params(const, mus, P)
    d = Xc[:, None, :] - mus[None]
    np.testing.assert_allclose(want @ Theta.T, const - 0.5 * np.einsum("nka,kab,nkb->nk", d, P, d), rtol=1e-10)

def _draws_without_replacement(c, K, rng):
    "K indices, each by inverse CDF on the weights of the points not drawn yet, one uniform per draw."
    c, idx = np.array(c, float), []
    for _ in range(K):
        i = int(np.searchsorted(np.cumsum(c), rng.uniform() * c.sum(), side="right")); idx.append(i); c[i] = 0.
    return idx

def test_random_from_data_draws_distinct_points_by_their_weights():
    """random_from_data seeds: K distinct data points drawn without replacement by inverse CDF on their total weights,
    the points taken in lexicographic order (np.unique); every copy of a seed point gets its component. With exactly K
    distinct points, the distinct points (not the rows) are drawn from."""
    from emtheory.core import initial_resp
    rng = np.random.default_rng(2)
    X = rng.integers(0, 4, size=(40, 2)).astype(float)
    w = rng.uniform(.1, 3., 40)
    for weights, K in ((w, 3), (None, 3)):
        U, inv = np.unique(X, axis=0, return_inverse=True)
        c = np.bincount(inv.ravel(), weights=np.ones(40) if weights is None else weights)
        seeds = _draws_without_replacement(c, K, np.random.default_rng(3))
        if weights is not None:   # these uniforms draw other points by the weights than by the counts
            assert seeds != _draws_without_replacement(np.bincount(inv.ravel()), K, np.random.default_rng(3))
        R = initial_resp(X, K, "random_from_data", np.random.default_rng(3), weights)
        want = np.zeros((40, K))
        for k, j in enumerate(seeds): want[inv.ravel() == j, k] = 1.
        np.testing.assert_array_equal(R, want)
    X2 = np.repeat([[0., 0.], [1., 1.]], [7, 3], axis=0)   # exactly K = 2 distinct points
    seeds = _draws_without_replacement([7., 3.], 2, np.random.default_rng(1))
    R = initial_resp(X2, 2, "random_from_data", np.random.default_rng(1))
    inv2 = (np.arange(10) >= 7).astype(int)
    np.testing.assert_array_equal(R, np.column_stack([(inv2 == j).astype(float) for j in seeds]))   # all copies of a seed

def test_no_blas_limit_without_threadpoolctl(monkeypatch):
    "Without threadpoolctl the chunks run under a null context: threadpoolctl's controller is never asked for."
    from contextlib import nullcontext
    import emtheory.core as core
    def absent(): raise AssertionError("threadpoolctl is not installed")
    monkeypatch.setattr(core, "threadpool_limits", None)
    monkeypatch.setattr(core, "_threadpools", absent)
    assert isinstance(core._blas_one_thread(), nullcontext)
    assert core.default_threads() == 1

def test_default_threads_and_the_blas_limit_with_threadpoolctl():
    """With threadpoolctl: one E-step thread per core (os.cpu_count()); blas_single_thread(n) holds every BLAS library
    to one thread inside it when n > 1 Python threads share the chunks, and is a null context for one thread."""
    from contextlib import nullcontext
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from emtheory.core import default_threads, blas_single_thread
    assert default_threads() == (os.cpu_count() or 1)
    assert isinstance(blas_single_thread(1), nullcontext)
    limiter = blas_single_thread(2)
    assert not isinstance(limiter, nullcontext)
    with limiter:
        assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")

# ---------------------------------------------------------------- data checks by their whole messages; seeds; the form's choice

def test_check_array_messages_for_frames_complex_text_and_width():
    """check_array's messages, whole: a DataFrame's missing value (row and column named), a non-numeric column, complex
    data, text in an object array, 0 features, and an object that cannot become an array."""
    import pandas as pd
    from emtheory.core import check_array, DataTypeError
    df = pd.DataFrame({"a": [1., 2., 3.], "b": [4., np.nan, 6.]})
    with pytest.raises(ValueError, match=_exact("X has missing values (NaN or pd.NA; first at row 1, column 'b'). Missing "
                                                "data are not modelled: drop those rows (X.dropna()) or impute them.")):
        check_array(df)
    with pytest.raises(DataTypeError, match=_exact("X must be numeric: could not convert string to float: 'u'. Convert or "
                                                   "drop non-numeric columns.")):
        check_array(pd.DataFrame({"a": [1., 2.], "b": ["u", "v"]}))
    with pytest.raises(ValueError, match=_exact("Complex data not supported: X must be real; it is complex.")):
        check_array(np.array([[1 + 1j, 2.]]))
    with pytest.raises(DataTypeError, match=_exact("X must be numeric; it has dtype object (could not convert string to "
                                                   "float: 'u'). Convert or drop non-numeric columns.")):
        check_array(np.array([[1., "u"]], dtype=object))
    with pytest.raises(ValueError, match=_exact("X is empty: 0 feature(s) (shape=(3, 0)) while a minimum of 1 is required.")):
        check_array(np.zeros((3, 0)))
    class Broken:
        def __array__(self, *a, **k): raise RuntimeError("no")
    with pytest.raises(ValueError, match=_exact("X could not be converted to an array (no).")):
        check_array(Broken())
    np.testing.assert_array_equal(check_array(np.array([[1, 2]], dtype=object)), [[1., 2.]])

def test_only_sparse_matrices_and_frames_take_their_own_paths():
    """Only an object with both `toarray` and `nnz` is refused as a sparse matrix, and only one with both `dtypes` and
    `isna` is read as a pandas frame: an array-like with just one of them is read as an array."""
    from emtheory.core import check_array
    class Dense:
        def __init__(self, A): self.A = A
        def __array__(self, *a, **k): return self.A
    class WithToarray(Dense):
        def toarray(self): return self.A
    class WithDtypes(Dense):
        dtypes = "float64"
    A = np.array([[1., 2.], [3., 4.]])
    for X in (WithToarray(A), WithDtypes(A)):
        np.testing.assert_array_equal(check_array(X), A)

def test_feature_names_only_of_frames_with_string_columns():
    "feature_names: the column names of a DataFrame whose names are all strings; None for other names or for non-frames."
    import pandas as pd
    from emtheory.core import feature_names
    assert feature_names(pd.DataFrame({"a": [1.], "b": [2.]})).tolist() == ["a", "b"]
    assert feature_names(pd.DataFrame(np.zeros((2, 2)))) is None          # integer column names
    assert feature_names(pd.DataFrame({"a": [1.], 3: [2.]})) is None      # mixed
    class Cols:
        columns = ["a", "b"]
    assert feature_names(Cols()) is None   # names but no dtypes: not a frame

def test_a_random_state_is_read_as_a_seed():
    "as_generator(RandomState): numpy's Generator seeded with the RandomState's randint(2**31), so it is reproducible."
    from emtheory.core import as_generator
    seed = np.random.RandomState(0).randint(2**31)
    want = np.random.default_rng(seed).uniform(size=4)
    np.testing.assert_array_equal(as_generator(np.random.RandomState(0)).uniform(size=4), want)

def test_choose_form_by_the_cost_model_cached_or_not():
    """choose_form takes the cheaper form of form_costs' formula (FORM_COSTS, by hand): in 10-D with 2 full components
    the whitened form unless the features are cached (uncached by default), then the features form."""
    from emtheory.gaussian import choose_form, FORM_COSTS as f
    D, K, M = 10, 2, 66
    feat = lambda cached: f["softmax"] * K + (0. if cached else f["phi"] * M) + f["features"] * K * M
    white = f["softmax"] * K + f["rows"] * K * D + f["whitened"] * K * D * D
    assert feat(False) > white > feat(True)
    assert choose_form(D, K, "full") == "whitened" and choose_form(D, K, "full", cached=True) == "features"

def test_check_array_messages_for_rows():
    "check_array's messages about rows, whole: no rows (a minimum of 1 by default), a NaN named by row and column, too few rows."
    from emtheory.core import check_array
    with pytest.raises(ValueError, match=_exact("X is empty: 0 sample(s) (shape=(0, 2)) while a minimum of 1 is required.")):
        check_array(np.zeros((0, 2)))
    X = np.ones((4, 3)); X[2, 1] = np.inf
    with pytest.raises(ValueError, match=_exact("X contains NaN or infinity (first at row 2, column 1). Remove or impute "
                                                "those values.")):
        check_array(X)
    with pytest.raises(ValueError, match=_exact("X has 3 samples, fewer than the 5 required (a mixture needs at least as "
                                                "many samples as components).")):
        check_array(np.ones((3, 2)), min_samples=5)

def test_array_blocks_defaults():
    "ArrayBlocks: 65536 rows per block by default, and the number of features known at once."
    from emtheory.blocks import ArrayBlocks
    src = ArrayBlocks(np.zeros((5, 3)))
    assert src.block_rows == 65536 and src.n_features == 3

def test_the_e_step_form_follows_the_cost_model_for_cached_and_read_data(tmp_path):
    """The form a fit's E-step takes is the cost model's for its data: 10-D, 2 full components, rows in memory (features
    cached): the features form; the same rows memory-mapped (read at each pass, not cached): the whitened form."""
    from emtheory.gaussian import choose_form
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(150, 10)), rng.normal(size=(150, 10)) + 4.])
    np.save(tmp_path / "x.npy", X)
    a = _quiet(GaussianMixtureEM(2, random_state=0, max_iter=2, tol=0).fit, X)
    b = _quiet(GaussianMixtureEM(2, random_state=0, max_iter=2, tol=0).fit, str(tmp_path / "x.npy"))
    assert (choose_form(10, 2, "full", True), choose_form(10, 2, "full", False)) == ("features", "whitened")
    assert a._model.form_ == "features" and b._model.form_ == "whitened"
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-10)

# ---------------------------------------------------------------- third pass: the feature cache, offsets, messages

@pytest.mark.parametrize("ct, M", [("full", 10), ("tied", 10), ("diag", 7), ("spherical", 5)])
def test_feature_cache_kept_when_it_fits_and_fixed_once_K_is_known(ct, M):
    """prepare(X, cache_bytes) keeps the (N, M) features phi(x - c) when N M 8 bytes fit (M = D(D+1)/2 + D + 1 for full
    and tied, 2D + 1 for diag, D + 2 for spherical; D = 3 here), and computes them per pass when one byte less is
    allowed; the chunks are built once for a K and reused (the same list)."""
    X = np.random.default_rng(3).normal(size=(50, 3))
    model = GaussianEM(X.mean(0), ct)
    model.form = "features"
    fits = model.prepare(X, 50 * M * 8)
    parts = fits.parts(2)
    assert [p.shape for _, p in parts] == [(sl.stop - sl.start, M) for sl, _ in parts]
    assert sum(sl.stop - sl.start for sl, _ in parts) == 50
    assert fits.parts(2) is parts
    assert all(p is None for _, p in model.prepare(X, 50 * M * 8 - 1).parts(2))

def test_array_blocks_take_array_likes_and_refuse_other_shapes():
    """ArrayBlocks reads a nested list as an array (its blocks checked and made float64 like any others), names the
    shape it refuses, and a list of strings gets the block check's message, not numpy's conversion error."""
    from emtheory.blocks import ArrayBlocks
    with pytest.raises(DataError, match=_exact("Block 0 (rows from 0) has dtype <U1: blocks must be real numbers.")):
        list(ArrayBlocks([["a", "b"], ["c", "d"]]))
    blocks = list(ArrayBlocks([[1, 2], [3, 4], [5, 6]], 2))
    np.testing.assert_array_equal(np.vstack(blocks), [[1., 2.], [3., 4.], [5., 6.]])
    assert [len(b) for b in blocks] == [2, 1]
    for bad, shape in (([1., 2., 3.], "(3,)"), (7., "()"), (np.zeros((2, 2, 2)), "(2, 2, 2)")):
        with pytest.raises(ValueError, match=_exact(f"X must be 2-D (n_samples, n_features); it has shape {shape}.")):
            ArrayBlocks(bad)

@pytest.mark.parametrize("ct", ["diag", "spherical"])
def test_offset_size_is_each_components_squared_standardised_distance(ct):
    "offset_size: m_k = sum_a mu_ka^2 / sigma_ka^2 for each k separately (diag and spherical; sigma from U = 1/sigma)."
    from emtheory.gaussian import Quadratic, offset_size
    mus = np.array([[3., -4.], [0.5, 2.], [-1., 0.]])
    sd = np.array([[1., 2.], [.5, .25], [4., 1.]]) if ct == "diag" else np.array([2., .5, 1.])
    q = Quadratic(np.zeros(3), mus, 1. / sd, ct)
    want = ((mus / (sd if ct == "diag" else sd[:, None]))**2).sum(1)
    np.testing.assert_allclose(offset_size(q), want, rtol=1e-14)

def test_singular_tied_covariance_is_named_as_tied():
    """precision_cholesky names a singular tied covariance as such, and a full one by its component; a NaN, which LAPACK's
    Cholesky passes through without an error, is refused by the diagonal check with the same names."""
    from emtheory.gaussian import precision_cholesky
    assert np.isnan(np.linalg.cholesky(np.array([[np.nan, 0.], [0., 1.]]))).any()   # no LinAlgError: the check below is needed
    for bad in (np.ones((2, 2)), np.array([[np.nan, 0.], [0., 1.]])):
        with pytest.raises(ValueError, match="^The tied covariance is not positive definite"):
            precision_cholesky(bad, "tied")
    with pytest.raises(ValueError, match="^The covariance of component 1 is not positive definite"):
        precision_cholesky(np.stack([np.eye(2), np.ones((2, 2))]), "full")

def test_what_fit_reads_whole_and_what_block_by_block():
    """fit reads whole anything with a length (ndarray, list, tuple, DataFrame, sparse matrix) and block by block a
    callable, an iterator, or a re-iterable object without a length (a dataset class): the re-iterable stream's fit
    equals the array's; an object with __next__ but no __iter__ gets as_source's one-line message."""
    import pandas as pd, scipy.sparse as sp
    from emtheory.blocks import _is_block_source
    X = _three_clusters(0)
    assert not any(_is_block_source(x) for x in (X, X.tolist(), tuple(map(tuple, X)), pd.DataFrame(X), sp.csr_matrix(X)))
    class Stream:
        def __iter__(self): return iter([X[:90], X[90:]])
    class Half:
        def __next__(self): return X
    assert _is_block_source(Stream()) and _is_block_source(Half()) and _is_block_source(lambda: iter([X]))
    whole, stream = (_quiet(GaussianMixtureEM(3, random_state=0, max_iter=5, tol=0).fit, x) for x in (X, Stream()))
    np.testing.assert_allclose(stream.means_, whole.means_, rtol=1e-10)
    np.testing.assert_allclose(stream.lower_bound_, whole.lower_bound_, rtol=1e-12)
    with pytest.raises(ValueError, match=_exact("Cannot read blocks from a Half: pass an array, a .npy or .csv path, a dask "
                                                "array, or a callable returning an iterator of arrays.")):
        GaussianMixtureEM(3).fit(Half())

def test_summary_pass_warns_nothing_on_weightless_blocks_missing_columns_and_any_seed():
    """The summary pass is silent where its numbers are defined: a block of zero total weight (its mean is not formed:
    it would be 0/0), a block whose column is all missing (NaN range, ignored in the merge), and the sample's row keys
    for any seed (splitmix64's uint64 products wrap by design). Every warning is an error here."""
    from emtheory.blocks import IterBlocks, summarise, row_keys
    X = _three_clusters(2)
    Xm = X.copy(); Xm[:30, 1] = np.nan
    w = np.r_[np.zeros(30), np.ones(len(X) - 30)]
    src = IterBlocks(lambda: iter([Xm[:30], Xm[30:]]))
    src.allow_nan = True   # as a fit that integrates missing values out sets it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = summarise(src, w)
        keys = row_keys(7, 0, 5)
    np.testing.assert_allclose(s["mean"], X[30:].mean(0), rtol=1e-13)
    np.testing.assert_array_equal([s["min"], s["max"]], [np.nanmin(Xm, 0), np.nanmax(Xm, 0)])   # every row's range, weightless ones too
    assert keys.dtype == np.uint64 and len(set(keys.tolist())) == 5

def test_summarise_defaults_a_sample_of_100000_rows_seed_0():
    "summarise's defaults: a uniform sample of 100,000 rows (of 100,001 here), drawn with the keys of seed 0."
    from emtheory.blocks import ArrayBlocks, summarise
    X = np.arange(100_001, dtype=float)[:, None]
    s, s0 = summarise(ArrayBlocks(X)), summarise(ArrayBlocks(X), sample_size=100_000, seed=0)
    assert len(s["sample"]) == 100_000
    np.testing.assert_array_equal(s["sample"], s0["sample"])
    assert not np.array_equal(s["sample"], summarise(ArrayBlocks(X), sample_size=100_000, seed=1)["sample"])

def test_moments_default_to_full_covariances():
    "moments(T, D) reads T as full-covariance statistics: equal to moments(T, D, 'full'), not to the diag reading."
    from emtheory.gaussian import gaussian_features, moments
    X = _three_clusters(4)
    R = np.random.default_rng(4).dirichlet(np.ones(3), len(X))
    T = R.T @ gaussian_features(X, X.mean(0), "full")
    for a, b in zip(moments(T, 2), moments(T, 2, "full")): np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(moments(T, 2)[1], (R.T @ (X - X.mean(0))) / R.sum(0)[:, None], rtol=1e-12)

def test_digits_lost_is_zero_where_the_ratio_is_undefined():
    """A zero-weight component (c = -inf) at an infinite offset (m = inf) gives inf/inf: digits_lost counts it as losing
    no digits (its weight keeps it out of the E-step), never NaN, and without a warning."""
    from emtheory.gaussian import Quadratic, digits_lost
    q = Quadratic(np.array([-1., -np.inf]), np.array([[1., -2.], [np.inf, 0.]]), np.array([[1., .5], [1., 1.]]), "diag")
    m = 1. + 1.   # (1 * 1)^2 + (2 * .5)^2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(digits_lost(q), [np.log10(1 + m / 3.), 0.], rtol=1e-13)
        np.testing.assert_allclose(digits_lost(q, "whitened"), [np.log10(1 + np.sqrt(2 * m) / 3.), 0.], rtol=1e-13)

def test_summarise_covariance_needs_total_weight_above_one_and_weights_match_rows():
    """The covariance's divisor is the total weight - 1: with total weight 1 there is none (None, not a division by 0);
    with 2 it is the weighted scatter itself. Weights longer than the data are refused, naming both lengths."""
    from emtheory.blocks import IterBlocks, summarise
    X = _three_clusters(5, n=4)
    src = IterBlocks(lambda: iter([X[:5], X[5:]]))
    assert summarise(src, np.r_[np.full(4, .25), np.zeros(len(X) - 4)])["cov"] is None   # total weight exactly 1
    w = np.full(len(X), .25) * 8 / len(X)   # 12 rows: total weight exactly 2
    assert w.sum() == 2
    Xc = X - np.average(X, axis=0, weights=w)
    np.testing.assert_allclose(summarise(src, w)["cov"], (Xc.T * w) @ Xc / (2 - 1), rtol=1e-12)
    with pytest.raises(ValueError, match=_exact(f"sample_weight has {len(X) + 1} entries but the data have {len(X)} rows.")):
        summarise(src, np.ones(len(X) + 1))

def test_e_step_sums_every_chunk():
    """core.e_step over 1,000 rows in chunks of 64, any features (here phi(x) = (x, 1)): the statistics, the summed
    log-normalisers and the entropy equal their definitions over all rows (R = softmax(Phi Theta^T), T = R^T Phi,
    sum_i log sum_k exp l_ik, -sum_ik r_ik log r_ik), unweighted and weighted."""
    from emtheory.core import e_step
    rng = np.random.default_rng(6)
    X, Theta, w = rng.normal(size=(1000, 2)), rng.normal(size=(3, 3)), rng.uniform(0, 2, 1000)
    phi = lambda A: np.c_[A, np.ones(len(A))]
    L = phi(X) @ Theta.T
    lse = logsumexp(L, axis=1)
    R = np.exp(L - lse[:, None])
    for wt in (None, w):
        st = e_step(Theta, X, phi, wt, chunk_size=64)
        v = np.ones(len(X)) if wt is None else wt
        np.testing.assert_allclose(st.T, (R * v[:, None]).T @ phi(X), rtol=1e-12)
        np.testing.assert_allclose(st.log_norm, v @ lse, rtol=1e-12)
        np.testing.assert_allclose(st.entropy, -v @ (R * np.log(R)).sum(1), rtol=1e-12)
        assert st.n == v.sum()

def test_scratch_buffers_follow_the_number_of_components():
    """A thread's scratch arrays are reused chunk after chunk, and remade when K changes: the same thread running K = 3
    and then K = 5 on 5 rows (the first buffer is 3 x 5) gets the right log-normalisers both times."""
    from emtheory.core import e_step
    rng = np.random.default_rng(8)
    X = rng.normal(size=(5, 2))
    phi = lambda A: np.c_[A, np.ones(len(A))]
    for K in (3, 5, 3):
        Theta = rng.normal(size=(K, 3))
        np.testing.assert_allclose(e_step(Theta, X, phi).log_norm, logsumexp(phi(X) @ Theta.T, axis=1).sum(), rtol=1e-13)

# ---------------------------------------------------------------- the loop's defaults and a model's own names and rule

def _loop_case():
    from emtheory.gaussian import precision_cholesky
    X = _three_clusters(7)
    c = X.mean(0)
    covs = np.stack([np.eye(2) * 2.] * 3)
    state0 = GaussianParams(np.full(3, 1 / 3), np.array([[1., 1.], [3., 0.], [0., 4.]]) - c, covs, precision_cholesky(covs, "full"))
    return X, c, state0

def test_loop_defaults_100_iterations_and_keeps_q_for_a_direct_kl():
    """coordinate_ascent's defaults: at most 100 global updates (tol = 0 never stops it early) and q kept in memory, so
    every KL is computed directly; keep_resp=None keeps none, and the KL is then the difference."""
    from emtheory.core import coordinate_ascent
    from emtheory.em import GaussianEM
    X, c, state0 = _loop_case()
    fit = coordinate_ascent(GaussianEM(c, "full"), X, state0, tol=0, n_threads=1)
    assert fit.n_iter == 100 and len(fit.history["objective"]) == 100 and fit.history["kl_direct"].all()
    none = coordinate_ascent(GaussianEM(c, "full"), X, state0, tol=0, max_iter=3, n_threads=1, keep_resp=None)
    assert not none.history["kl_direct"].any()

def test_loop_reads_the_models_term_names_and_stopping_rule():
    """A model names its E-step term and its bound (`local_term`, `bound_term`: CAVI's "local" and "elbo_after_globals")
    and may carry its own stopping rule; an unknown rule, given or the model's, is refused by name."""
    from emtheory.core import coordinate_ascent
    from emtheory.em import GaussianEM
    X, c, state0 = _loop_case()
    class Named(GaussianEM):
        local_term, bound_term = "local", "elbo_after_globals"
    fit = coordinate_ascent(Named(c, "full"), X, state0, tol=0, max_iter=2, n_threads=1)
    assert {"local", "elbo_after_globals"} <= set(fit.history) and not {"log_likelihood", "elbo"} & set(fit.history)
    class Bogus(GaussianEM):
        stopping = "bogus"
    msg = "stopping must be one of ('change', 'aitken', 'residual', 'relative'); got 'bogus'."
    with pytest.raises(ValueError, match=_exact(msg)):
        coordinate_ascent(Bogus(c, "full"), X, state0, n_threads=1)
    with pytest.raises(ValueError, match=_exact(msg)):
        coordinate_ascent(GaussianEM(c, "full"), X, state0, n_threads=1, stopping="bogus")
    assert coordinate_ascent(Bogus(c, "full"), X, state0, tol=0, max_iter=2, n_threads=1, stopping="change").n_iter == 2

def test_per_globals_keeps_one_value_per_function_and_globals():
    """per_globals computes fn(state) once per globals, whichever bound-method object names fn (a fresh one at every
    attribute access, as the models pass them), and keeps different functions apart on the same globals."""
    from emtheory.core import per_globals
    calls = []
    class M:
        def f(self, s): calls.append("f"); return ("f", s)
        def g(self, s): calls.append("g"); return ("g", s)
    m, s = M(), object()
    f1, f2 = m.f, m.f   # two live bound-method objects: different ids, one function
    assert f1 is not f2
    assert per_globals(m, s, f1) == ("f", s) and per_globals(m, s, f2) == ("f", s)
    assert per_globals(m, s, m.g) == ("g", s) and per_globals(m, s, m.f) == ("f", s)
    assert calls == ["f", "g"]
    s2 = object()
    assert per_globals(m, s2, m.f) == ("f", s2) and calls == ["f", "g", "f"]

def test_chunk_rows_fit_the_working_set():
    """Rows per E-step chunk: as many as fit in 4 MiB (CHUNK_BYTES) of doubles, at most 4,096 and at least 16. A row
    costs its M features + K log joints + K responsibilities in the features form; its D coordinates, 2 K D whitened
    coordinates and 2 K in the whitened form (M = D(D+1)/2 + D + 1 full, 2 D + 1 diag)."""
    from emtheory.gaussian import chunk_rows
    cases = [("features", 30, 4, "full"), ("features", 100, 2, "diag"), ("whitened", 20, 10, "full"),
             ("features", 2, 3, "full"), ("features", 300, 5, "full")]
    for form, D, K, ct in cases:
        M = (D * (D + 1) // 2 if ct == "full" else D) + D + 1
        doubles = M + 2 * K if form == "features" else D + 2 * K * D + 2 * K
        assert chunk_rows(form, D, K, ct) == min(4096, max(16, 4 * 2**20 // (8 * doubles))), (form, D, K, ct)
    assert [chunk_rows(*c) for c in cases] == [1040, 2557, 1191, 4096, 16]   # the cap and the floor both reached

def test_executor_for_defaults_to_4096_row_pieces_keeping_q_in_memory():
    "executor_for(X) with its defaults: threads over pieces of 4,096 rows, q kept in memory (the KL is then direct)."
    from emtheory.core import executor_for, Threads
    ex = executor_for(np.zeros((10, 2)))
    assert isinstance(ex, Threads) and (ex.chunk_rows, ex.keep_resp) == (4096, "memory")
    ex = executor_for(np.zeros((10, 2)), n_threads=1, chunk_size=7, keep_resp="disk")   # the options reach the threads
    assert (ex.n_threads, ex.chunk_rows, ex.keep_resp) == (1, 7, "disk")
    da = pytest.importorskip("dask.array")
    from emtheory.blocks import as_source
    tree = executor_for(as_source(da.zeros((10, 2), chunks=5)), chunk_size=7, keep_resp=None)   # and a dask tree
    assert (tree.chunk_rows, tree.keep_resp) == (7, None)

def test_threads_cut_blocks_into_pieces_unless_the_model_takes_whole_blocks():
    """Threads runs the model's E-step on pieces of chunk_rows rows (each reading its own rows' weights), or on whole
    blocks for a model whose chunk_rows is None (an amortized encoder shared by all rows): both give scipy's weighted
    log-likelihood. With cache_bytes = 0 no piece keeps its features; by default they are kept."""
    from emtheory.core import Threads
    X, c, state0 = _loop_case()   # 180 rows
    seen = []
    class Rec(GaussianEM):
        form = "features"
        def e_step(self, state, X, *a, **k): seen.append(len(X)); return super().e_step(state, X, *a, **k)
    class Whole(Rec): chunk_rows = None
    w = np.random.default_rng(0).uniform(.5, 2., len(X))
    means = state0.means + c
    ll = w @ logsumexp([np.log(1 / 3) + multivariate_normal(m, S).logpdf(X) for m, S in zip(means, state0.covariances)], axis=0)
    ex = Threads(X, 1, 50)
    pieces = ex.e_step(Rec(c, "full"), state0, w)
    assert seen == [50, 50, 50, 30]
    assert all(p is not None for d in ex._cache.values() for _, p in d._parts)
    kept = dict(ex._cache)
    ex.e_step(Rec(c, "full"), state0, w)   # the next pass reads the same prepared data, not a new copy
    assert ex._cache.keys() == kept.keys() and all(ex._cache[k] is kept[k] for k in kept)
    seen.clear()
    whole = Threads(X, 1, 50).e_step(Whole(c, "full"), state0, w)
    assert seen == [180]
    np.testing.assert_allclose([pieces.log_norm, whole.log_norm], ll, rtol=1e-12)
    bare = Threads(X, 1, 50, cache_bytes=0)
    bare.e_step(Rec(c, "full"), state0, w)
    assert all(p is None for d in bare._cache.values() for _, p in d._parts)

class ScriptedDuck(DuckPoisson):
    """DuckPoisson on 4 rows of zeros with one component (weight 1, rates 1/4 and 1/4): each row's log-likelihood is
    exactly -1/2, so the objective is -2 + log_prior(step), with the log prior scripted exactly in binary."""
    def __init__(self, prior): self.prior = prior
    def log_prior(self, s): return self.prior(s[2])

def _scripted(prior, **kw):
    X, start = np.zeros((4, 2)), (np.array([1.]), np.array([[.25, .25]]), 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = coordinate_ascent(ScriptedDuck(prior), X, start, n_threads=1, **kw)
    return fit, caught

def test_stopping_rules_at_their_exact_thresholds():
    """Each rule is strict (below tol stops, equal does not), on objectives exact in binary:
    - relative, L_t = -2 + 5t, tol = 5/4: |L_1 - L_0| = 5 = tol (1 + |L_1|) does not stop; at t = 2, 5 < 11.25 does;
    - aitken, L_t = -2 - 2^-t: from t = 2 (three values) the distance to the limit is 2^-t, over N = 4 rows 2^-(t+2);
      tol = 1/10 stops at t = 2, tol = 1/16 (equal at t = 2) at t = 3;
    - max_iter = 0 evaluates the start only: no iteration, its objective."""
    fit, _ = _scripted(lambda t: 5. * t, tol=1.25, stopping="relative", max_iter=10)
    assert fit.history["objective"][0] == 3. and (fit.converged, fit.n_iter) == (True, 2)
    assert "stationarity_gap" not in fit.history   # the relative rule, not the residual one
    for tol, n in ((.1, 2), (1 / 16, 3)):
        fit, _ = _scripted(lambda t: -.5**t, tol=tol, stopping="aitken", max_iter=10)
        assert (fit.converged, fit.n_iter) == (True, n), tol
    fit, _ = _scripted(lambda t: 5. * t, tol=1., max_iter=0)
    assert (fit.n_iter, fit.objective, fit.converged) == (0, -2., False) and fit.history == {}

def test_tol_zero_runs_max_iter_for_every_rule_even_at_a_fixed_point():
    """With tol = 0 no rule stops a fit, even one whose objective stops moving exactly (a flat log prior: every change,
    Aitken distance and stationarity gap is 0, and 0 < 0 is false)."""
    for rule in ("change", "relative", "aitken"):
        fit, _ = _scripted(lambda t: 0., tol=0, stopping=rule, max_iter=5)
        assert (fit.converged, fit.n_iter) == (False, 5), rule
    X = _three_clusters(3)
    from emtheory.gaussian import precision_cholesky
    cov = np.cov(X.T, bias=True)
    start = GaussianParams(np.ones(1), np.zeros((1, 2)), cov[None], precision_cholesky(cov[None], "full"))
    fit = coordinate_ascent(GaussianEM(X.mean(0), "full"), X, start, tol=0, stopping="residual", max_iter=4, n_threads=1)
    assert (fit.converged, fit.n_iter) == (False, 4) and (fit.history["stationarity_gap"] == 0).sum() >= 1

def test_decrease_guard_is_strict_at_its_tolerance():
    """The guard flags a fall of more than 1e-9 max(1, |L|): L_0 = -2 falling by exactly 2e-9 (computed as the guard
    computes it) is not a decrease; by 4e-9 it is, warned once."""
    tiny = 1e-9 * max(1., 2.)
    fit, caught = _scripted(lambda t: -tiny * t, tol=0, max_iter=1)
    assert fit.history["objective"][0] == -2. - tiny and "decreased_at" not in fit.history
    assert not [c for c in caught if "objective decreased" in str(c.message)]
    fit, caught = _scripted(lambda t: -2 * tiny * t, tol=0, max_iter=1)
    assert list(fit.history["decreased_at"]) == [1]

def test_loop_kl_without_q_kept_is_the_difference_and_no_residual():
    """keep_resp=None: no memory of q, so the KL is the objective minus the bound (>= 0 for EM) and the certificate's
    residual is not computed (NaN), never a residual that is 0 by construction."""
    from emtheory.em import GaussianEM
    X, c, state0 = _loop_case()
    fit = coordinate_ascent(GaussianEM(c, "full"), X, state0, tol=0, max_iter=3, n_threads=1, keep_resp=None)
    h = fit.history
    np.testing.assert_array_equal(h["kl"], h["objective"] - h["elbo"])
    assert (h["kl"] >= 0).all() and np.isnan(h["residual"]).all()

def test_decrease_warning_points_at_the_callers_line():
    """The decrease warning's location is the line that called coordinate_ascent (stacklevel 3), not the package's code.
    Skipped under mutmut, whose trampolines add frames between the caller and the loop."""
    if os.environ.get("MUTANT_UNDER_TEST") is not None: pytest.skip("mutmut's trampolines change the stack depth")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coordinate_ascent(ScriptedDuck(lambda t: -t), np.zeros((4, 2)), (np.ones(1), np.full((1, 2), .25), 0), tol=0,
                          max_iter=2, n_threads=1)   # the line the warning must name
    warned = [c for c in caught if "objective decreased" in str(c.message)]
    assert len(warned) == 1 and os.path.basename(warned[0].filename) == os.path.basename(__file__)

def test_threads_count_the_rows_of_a_stream_against_the_weights():
    """A stream of blocks whose length is not known in advance: weights longer than the rows read are refused after the
    pass, naming both lengths (shorter ones when a piece runs out of weights)."""
    from emtheory.core import Threads
    from emtheory.blocks import IterBlocks
    X, c, state0 = _loop_case()
    src = IterBlocks(lambda: iter([X[:90], X[90:]]))
    assert src.n_rows is None
    with pytest.raises(ValueError, match=_exact(f"sample_weight has {len(X) + 1} entries but the data have {len(X)} rows.")):
        Threads(src, 1, 50).e_step(GaussianEM(c, "full"), state0, np.ones(len(X) + 1))
    with pytest.raises(ValueError, match=_exact(f"sample_weight has {len(X) - 1} entries but the data have more rows.")):
        Threads(IterBlocks(lambda: iter([X[:90], X[90:]])), 1, 50).e_step(GaussianEM(c, "full"), state0, np.ones(len(X) - 1))

def test_threads_feature_cache_budget_is_shared_by_the_rows(tmp_path):
    """cache_bytes is the budget of all rows together: a piece may keep its features when its share (cache_bytes / N
    per row) covers them, M = 6 doubles a row for full covariances in 2-D. 180 rows x 48 bytes = 8,640 bytes keep
    them all; one byte less keeps none, for an array and for an in-memory block source of known length. A memory-mapped
    array's rows are not in memory: nothing is cached."""
    from emtheory.core import Threads
    from emtheory.blocks import ArrayBlocks
    X, c, state0 = _loop_case()
    class Feat(GaussianEM): form = "features"
    def kept(source, budget):
        ex = Threads(source, 1, 50, cache_bytes=budget)
        ex.e_step(Feat(c, "full"), state0)
        return [p is not None for d in ex._cache.values() for _, p in d._parts]
    for make in (lambda: X, lambda: ArrayBlocks(X, 90, checked=True)):
        assert kept(make(), 180 * 6 * 8) == [True] * 4 and kept(make(), 180 * 6 * 8 - 1) == [False] * 4
    assert kept(X[:1], 6 * 8) == [True]   # one row: the whole budget is its share
    np.save(tmp_path / "x.npy", X)
    assert Threads(np.load(tmp_path / "x.npy", mmap_mode="r"), 1, 50)._cache is None
