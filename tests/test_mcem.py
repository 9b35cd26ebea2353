"Monte Carlo EM: the 1/sqrt(S) law with fixed seeds, the sampled M-step against exact EM's, the evidence estimators, API."
import warnings
import numpy as np
import pytest
from scipy import stats as sst
from scipy.special import logsumexp
from emtheory.core import ConvergenceWarning, NotFittedError, Stats, coordinate_ascent, stats_from_resp
from emtheory.datasets import load_faithful
from emtheory.em import GaussianEM, GaussianMixtureEM, GaussianParams
from emtheory.gaussian import full_covariances
from emtheory.mcem import (GaussianMCEM, GaussianMixtureMCEM, sample_assignments, sample_schedule, stationary_rms,
                           loglog_slope, log_evidence_is, q_function_mc)

def _em_fixed_point(X, K, ct, seed):
    "Exact EM run far past convergence (no reg_covar), and its parameters in the model's centred coordinates."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        em = GaussianMixtureEM(K, covariance_type=ct, reg_covar=0, tol=0, max_iter=800, random_state=seed).fit(X)
    ctr = X.mean(0)
    return em, ctr, GaussianParams(em.weights_, em.means_ - ctr, em.covariances_, em.precisions_cholesky_)

def _three_blobs(seed=0, n=600):
    "Three overlapping 2-D Gaussian clusters (so that many responsibilities are soft)."
    rng = np.random.default_rng(seed)
    m = np.array([[0., 0.], [2.5, 0.5], [1., 2.5]])
    z = rng.choice(3, size=n, p=[.4, .35, .25])
    return m[z] + rng.normal(size=(n, 2)) * [1., .8]

# ---------------------------------------------------------------- the 1/sqrt(S) law

@pytest.mark.parametrize("case", ["faithful-full", "blobs-diag"])
def test_noise_shrinks_like_inverse_sqrt_S(case):
    if case == "faithful-full": X, K, ct, seeds = load_faithful()[0], 2, "full", range(100, 106)
    else: X, K, ct, seeds = _three_blobs(), 3, "diag", range(200, 206)
    _, ctr, top = _em_fixed_point(X, K, ct, 0)
    S = np.array([4, 16, 64, 256, 1024])
    rms = np.array([[stationary_rms(X, top, ctr, s, seed, scale=X.std(0), covariance_type=ct) for seed in seeds] for s in S])
    slope, se = loglog_slope(S, rms)
    assert se < 0.05                      # precise enough that a slope of 0 or -1 would fail
    assert abs(slope + 0.5) < 4 * se, (slope, se)

def test_loglog_slope_recovers_a_known_power():
    "The slope estimator on synthetic replicates with a known exponent and known noise."
    rng = np.random.default_rng(0)
    S = np.array([4, 16, 64, 256])
    rms = S[:, None] ** -0.3 * np.exp(rng.normal(0, .1, (4, 400)))
    slope, se = loglog_slope(S, rms)
    assert abs(slope + 0.3) < 4 * se and abs(se - .1 / np.sqrt(400) / np.sqrt(((np.log(S) - np.log(S).mean())**2).sum())) < 1e-3

# ---------------------------------------------------------------- the sampled M-step

def test_sampled_frequencies_unbiased_with_binomial_variance():
    rng = np.random.default_rng(3)
    R = rng.dirichlet(np.ones(4) * .5, size=30); S, reps = 9, 5000
    C = np.stack([sample_assignments(R, S, rng) for _ in range(reps)])
    assert (C.sum(2) == S).all()
    pq = R * (1 - R)
    assert (np.abs(C.mean(0) / S - R) <= 5 * np.sqrt(pq / S / reps) + 1e-15).all()

@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_hard_responsibilities_give_exact_m_step(ct):
    X = _three_blobs(1, 200)
    R = np.eye(3)[np.argmin(((X[:, None] - [[0, 0], [2.5, .5], [1, 2.5]])**2).sum(2), 1)]
    w = np.random.default_rng(0).integers(1, 4, len(X)).astype(float)
    ctr = X.mean(0)
    exact = GaussianEM(ctr, ct).m_step(stats_from_resp(GaussianEM(ctr, ct), X, R, w), None)
    mc = GaussianMCEM(ctr, ct, n_samples=2, rng=0)
    st = stats_from_resp(mc, X, R, w)
    p = mc.m_step(Stats(st.T, st.log_norm, st.entropy, st.n, sampled=mc.draw_stats(X, R, w)), exact)
    np.testing.assert_allclose(p.means, exact.means, atol=1e-12)
    np.testing.assert_allclose(p.covariances, exact.covariances, rtol=1e-10)
    np.testing.assert_allclose(p.weights, exact.weights, rtol=1e-12)

def test_sampled_step_can_decrease_and_guard_stays_silent():
    "From EM's maximum every sampled move lowers the log-likelihood: the model must not claim monotonicity."
    X = _three_blobs()   # overlapping clusters: many soft responsibilities, so every sampled step moves
    em, ctr, top = _em_fixed_point(X, 3, "full", 0)
    best = em.score(X) * len(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        f = coordinate_ascent(GaussianMCEM(ctr, n_samples=2, rng=1), X, top, tol=0, max_iter=10)
    assert (f.history['log_likelihood'] < best).all()
    assert (np.diff(f.history['log_likelihood']) < 0).any()

def test_growing_schedule_gets_closer_than_fixed():
    X, _ = load_faithful()
    em, ctr, top = _em_fixed_point(X, 2, "full", 0)
    def tail_rms(growth, seed):
        m = GaussianMCEM(ctr, n_samples=5, growth=growth, rng=seed, keep_trace=True)
        coordinate_ascent(m, X, top, tol=0, max_iter=50)
        return np.sqrt(np.mean([(((p.means - top.means) / X.std(0))**2).sum() for p in m.trace[-10:]]))
    # S ends at ceil(5 * 1.15^49) = 4669: noise sqrt(4669/5) ~ 30 times smaller; demand 5 times, in each of 4 seeds
    for seed in range(4): assert tail_rms(1.15, seed) < tail_rms(1., seed) / 5

# ---------------------------------------------------------------- the evidence

def _faithful_log_joint():
    X, _ = load_faithful()
    em, _, _ = _em_fixed_point(X, 2, "full", 0)
    lj = np.stack([np.log(em.weights_[k]) + sst.multivariate_normal(em.means_[k], em.covariances_[k]).logpdf(X) for k in range(2)], 1)
    return em, lj

def test_posterior_proposal_is_exact():
    em, lj = _faithful_log_joint()
    truth = logsumexp(lj, axis=1).sum()
    post = lj - logsumexp(lj, axis=1, keepdims=True)
    for S in (1, 7, 300):
        np.testing.assert_allclose(log_evidence_is(lj, post, S, np.random.default_rng(S)), truth, rtol=1e-12)

def test_prior_sampling_unbiased_in_p_for_one_point_and_hopeless_for_all():
    em, lj = _faithful_log_joint()
    rng = np.random.default_rng(4)
    prior = np.broadcast_to(np.log(em.weights_), lj.shape)
    i = 100                                   # one point: E[p_hat] = p(x_i), variance finite
    ratio = np.exp([log_evidence_is(lj[i:i + 1], prior[i:i + 1], 5, rng) - logsumexp(lj[i]) for _ in range(4000)])
    assert abs(ratio.mean() - 1) < 5 * ratio.std() / np.sqrt(len(ratio))
    truth = logsumexp(lj, axis=1).sum()       # all 272 points: thousands of nats low even with 2000 draws
    assert log_evidence_is(lj, prior, 2000, rng) < truth - 100

def test_q_function_mc_unbiased_variance_one_over_S():
    em, lj = _faithful_log_joint()
    R = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
    R = 0.5 * R + 0.5 / 2          # a softer q than the posterior, so that the variance is not tiny
    Q = float((R * lj).sum())
    rng = np.random.default_rng(8)
    for S, reps in ((4, 400), (64, 400)):
        e = np.array([q_function_mc(lj, R, S, rng) for _ in range(reps)])
        assert abs(e.mean() - Q) < 5 * e.std() / np.sqrt(reps)
        var_exact = (R * lj**2).sum() - ((R * lj).sum(1)**2).sum()   # sum_i Var_q[l_i,z_i], then / S
        assert abs(e.var() * S / var_exact - 1) < 5 * np.sqrt(2 / reps)

# ---------------------------------------------------------------- the estimator

def test_estimator_schedule_reproducible_and_clone():
    from sklearn.base import clone
    X, _ = load_faithful()
    kw = dict(random_state=3, tol=0, max_iter=12, n_samples=7, sample_growth=1.3, max_samples=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixtureMCEM(2, **kw).fit(X)
        b = clone(a).fit(X)
        c = GaussianMixtureMCEM(2, **{**kw, "random_state": 4}).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert not np.array_equal(a.means_, c.means_)
    np.testing.assert_array_equal(a.n_samples_, [sample_schedule(t, 7, 1.3, 30) for t in range(1, 13)])
    assert a.n_samples_[-1] == 30 and len(a.history_['log_likelihood']) == 12
    em = GaussianMixtureEM(2, random_state=0).fit(X)
    assert abs(a.score(X) - em.score(X)) < 1e-3      # near the maximum: within S-level noise of EM's per-point score

def test_bad_input():
    X, _ = load_faithful()
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"): GaussianMixtureMCEM(2, n_samples=0).fit(X)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"): GaussianMixtureMCEM(2, n_samples=2.5).fit(X)
    with pytest.raises(ValueError, match="sample_growth"): GaussianMixtureMCEM(2, sample_growth=0.9).fit(X)
    with pytest.raises(ValueError, match="max_samples"): GaussianMixtureMCEM(2, n_samples=20, max_samples=3).fit(X)
    with pytest.raises(ValueError, match="covariance_type"): GaussianMixtureMCEM(2, covariance_type="x").fit(X)
    with pytest.raises(ValueError, match="NaN"): GaussianMixtureMCEM(2).fit(np.where(X > 4, np.nan, X))
    with pytest.raises(NotFittedError): GaussianMixtureMCEM(2).score(X)
    with pytest.raises(ValueError, match="n_samples"): GaussianMCEM(np.zeros(2), n_samples=-1)

def test_mcem_streams_from_sequential_sources(tmp_path):
    "The draws are keyed by (iteration, row): a memmap, a CSV file, a callable of blocks and a dask array give the"
    "in-memory fit whatever their blocking; partial_fit is stepwise MCEM."
    X, _ = load_faithful()
    np.save(tmp_path / "x.npy", X); np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    kw = dict(random_state=0, max_iter=5, tol=0)
    da = pytest.importorskip("dask.array")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixtureMCEM(2, **kw).fit(X)
        for src in (str(tmp_path / "x.npy"), str(tmp_path / "x.csv"), lambda: (X[i:i + 100] for i in range(0, len(X), 100)),
                    da.from_array(X, chunks=(100, 2))):
            np.testing.assert_allclose(GaussianMixtureMCEM(2, **kw).fit(src).means_, ref.means_, rtol=1e-12)
    est = GaussianMixtureMCEM(2, random_state=0)
    for i in range(0, len(X), 68): est.partial_fit(X[i:i + 68])
    assert est.n_iter_ == 4 and abs(est.score(X) - ref.score(X)) < 0.05   # four stepwise batches land near the fit

@pytest.mark.parametrize("S", [7, 500])
def test_keyed_draws_do_not_depend_on_the_blocking(S):
    "keyed_assignments: the same counts for a row whether drawn in one block or in many (both samplers: S inverse-CDF"
    "draws per row for small S, conditional binomial quantiles for large S), with the multinomial's mean and variance."
    from emtheory.mcem import keyed_assignments
    rng = np.random.default_rng(0)
    R = rng.dirichlet(np.ones(3), size=4000)
    whole = keyed_assignments(R, S, 123)
    parts = np.vstack([keyed_assignments(R[a:a + 333], S, 123, a) for a in range(0, 4000, 333)])
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(whole.sum(1), S)
    assert not np.array_equal(keyed_assignments(R, S, 124), whole)   # another key, other draws
    # E[c_ik] = S r_ik, Var = S r_ik (1 - r_ik): the standardised sum over 4000 rows is N(0, 1); 5 sd is a 6e-7 two-sided tail
    z = (whole - S * R).sum(0) / np.sqrt((S * R * (1 - R)).sum(0))
    assert np.all(np.abs(z) < 5), z
    v = ((whole - S * R)**2).sum(0) / (S * R * (1 - R)).sum(0)   # the mean squared deviation over the variance: 1
    assert np.all(np.abs(v - 1) < 0.15), v

