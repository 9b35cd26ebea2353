"MAP-EM: lambdify ties to the sympy derivations, monotone log posterior, degenerate data, prior fading, log prior, API."
import warnings
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st, HealthCheck
from scipy import stats as sst
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture
from emtheory.core import ConvergenceWarning, NotFittedError, stats_from_resp
from emtheory.datasets import load_faithful
from emtheory.derive.map import map_weights, map_mean, map_covariance
from emtheory.em import GaussianMixtureEM
from emtheory.gaussian import COVARIANCE_TYPES, full_covariances
from emtheory.map_em import GaussianMAP, GaussianMixtureMAP, resolve_prior

# ---------------------------------------------------------------- ties to the theory chapter (sympy -> lambdify)

def _random_problem(ct, seed, N=40, D=3, K=3):
    "Random data, soft responsibilities and a random prior; the statistics computed here with numpy."
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) @ rng.normal(size=(D, D)) + rng.normal(size=D) * 5
    R = rng.dirichlet(np.ones(K), size=N)
    A = rng.normal(size=(D, D))
    scale = dict(full=A @ A.T + np.eye(D), tied=A @ A.T + np.eye(D), diag=rng.uniform(0.5, 2, D),
                 spherical=rng.uniform(0.5, 2))[ct]
    prior = resolve_prior(X, None, K, ct, weight_concentration_prior=rng.uniform(1, 3), mean_prior=rng.normal(size=D),
                          mean_precision_prior=rng.uniform(0.05, 2), degrees_of_freedom_prior=D - 1 + rng.uniform(0.5, 4),
                          covariance_prior=scale)
    Nk = R.sum(0); xbar = R.T @ X / Nk[:, None]
    S = np.stack([((X - xbar[k]) * R[:, [k]]).T @ (X - xbar[k]) for k in range(K)])
    return X, R, prior, Nk, xbar, S

def _m_step(ct, X, R, prior, center):
    model = GaussianMAP(center, ct, prior)
    th = model.m_step(stats_from_resp(model, X, R))
    return th, th.means + center

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", range(3))
def test_m_step_equals_sympy_results(ct, seed):
    X, R, p, Nk, xbar, S = _random_problem(ct, seed)
    K, D = R.shape[1], X.shape[1]
    center = X.mean(0) + np.random.default_rng(seed).normal(size=D)   # any centre: the update is shift-equivariant
    th, means = _m_step(ct, X, R, p, center)
    # weights: the Lagrange solution for this K
    wargs, wexprs = map_weights(K)
    np.testing.assert_allclose(th.weights, sp.lambdify(wargs, wexprs)(*Nk, p.alpha), rtol=1e-10)
    # means: the Normal-inverse-Gamma stationarity, per coordinate
    f_mean = sp.lambdify(*map_mean())
    np.testing.assert_allclose(means, f_mean(xbar, Nk[:, None], p.mean, p.kappa), rtol=1e-10, atol=1e-12)
    # covariances
    args, expr = map_covariance(ct, K=K)
    f = sp.lambdify(args, expr)
    if ct == "full":
        want = np.stack([f(p.scale, S[k], xbar[k][:, None], xbar[k][None, :], p.mean[:, None], p.mean[None, :],
                           Nk[k], p.kappa, p.dof, D) for k in range(K)])
    elif ct == "tied":
        want = f(p.scale, *S, *[xbar[k][:, None] for k in range(K)], *[xbar[k][None, :] for k in range(K)],
                 p.mean[:, None], p.mean[None, :], *Nk, p.kappa, p.dof, D)
    elif ct == "diag":
        want = f(p.scale[None, :], np.einsum('kaa->ka', S), xbar, p.mean[None, :], Nk[:, None], p.kappa, p.dof)
    else:
        want = f(p.scale, np.einsum('kaa->k', S), ((xbar - p.mean)**2).sum(1), Nk, p.kappa, p.dof, D)
    np.testing.assert_allclose(th.covariances, want, rtol=1e-9, atol=1e-12)

def test_tie_catches_a_wrong_denominator():
    "The tie is sharp: the sympy result with D+1 in place of D+2 would not pass."
    X, R, p, Nk, xbar, S = _random_problem("full", 0)
    th, _ = _m_step("full", X, R, p, X.mean(0))
    args, expr = map_covariance("full")
    D_sym = args[-1]
    wrong = sp.lambdify(args, expr.subs(D_sym, D_sym - 1))
    got = wrong(p.scale, S[0], xbar[0][:, None], xbar[0][None, :], p.mean[:, None], p.mean[None, :], Nk[0], p.kappa, p.dof, 3)
    assert not np.allclose(th.covariances[0], got, rtol=1e-6)

# ---------------------------------------------------------------- the log prior against scipy.stats

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_log_prior_matches_scipy_stats(ct):
    X, R, p, *_ = _random_problem(ct, 7)
    center = X.mean(0)
    model = GaussianMAP(center, ct, p)
    th = model.m_step(stats_from_resp(model, X, R))
    K, D = R.shape[1], X.shape[1]
    m0 = p.mean - center
    ref = sst.dirichlet.logpdf(th.weights, np.full(K, p.alpha))
    if ct == "full":
        ref += sum(sst.invwishart.logpdf(th.covariances[k], p.dof, p.scale)
                   + sst.multivariate_normal.logpdf(th.means[k], m0, th.covariances[k] / p.kappa) for k in range(K))
    elif ct == "tied":
        ref += sst.invwishart.logpdf(th.covariances, p.dof, p.scale) + sum(
            sst.multivariate_normal.logpdf(th.means[k], m0, th.covariances / p.kappa) for k in range(K))
    elif ct == "diag":
        ref += (sst.invgamma.logpdf(th.covariances, p.dof / 2, scale=p.scale / 2).sum()
                + sst.norm.logpdf(th.means, m0, np.sqrt(th.covariances / p.kappa)).sum())
    else:
        ref += (sst.invgamma.logpdf(th.covariances, p.dof / 2, scale=p.scale / 2).sum()
                + sst.norm.logpdf(th.means, m0, np.sqrt(th.covariances[:, None] / p.kappa)).sum())
    np.testing.assert_allclose(model.log_prior(th), ref, rtol=1e-10)

def test_objective_is_log_likelihood_plus_log_prior_scipy():
    "history_['objective'][-1] = sum_i log p(x_i | theta) + log p(theta), all from scipy.stats at the fitted parameters."
    X, _ = load_faithful()
    gm = GaussianMixtureMAP(2, weight_concentration_prior=1.5, random_state=0).fit(X)
    K = 2
    loglik = logsumexp(np.stack([np.log(gm.weights_[k]) + sst.multivariate_normal.logpdf(X, gm.means_[k], gm.covariances_[k])
                                 for k in range(K)]), axis=0).sum()
    lp = sst.dirichlet.logpdf(gm.weights_, [1.5, 1.5]) + sum(
        sst.invwishart.logpdf(gm.covariances_[k], gm.degrees_of_freedom_prior_, gm.covariance_prior_)
        + sst.multivariate_normal.logpdf(gm.means_[k], gm.mean_prior_, gm.covariances_[k] / gm.mean_precision_prior_)
        for k in range(K))
    np.testing.assert_allclose(gm.history_["log_likelihood"][-1], loglik, rtol=1e-10)
    np.testing.assert_allclose(gm.history_["objective"][-1], loglik + lp, rtol=1e-10)
    np.testing.assert_allclose(gm.score(X) * len(X), loglik, rtol=1e-10)

# ---------------------------------------------------------------- monotonicity (property test)

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), ct=st.sampled_from(COVARIANCE_TYPES), K=st.integers(1, 4), D=st.integers(1, 3),
       N=st.integers(8, 80), alpha=st.floats(1, 3), kappa=st.floats(1e-3, 10),
       init=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]), dup=st.booleans())
def test_log_posterior_never_decreases(seed, ct, K, D, N, alpha, kappa, init, dup):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * rng.uniform(0.1, 10, D) + rng.integers(0, 3, size=(N, 1)) * 3
    if dup:                                                          # heavy ties: m distinct points, all of them used
        m = max(D + 1, N // 4)
        X = X[np.r_[np.arange(m), rng.integers(0, m, size=N - m)]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixtureMAP(K, covariance_type=ct, weight_concentration_prior=alpha, mean_precision_prior=kappa,
                                init_params=init, tol=1e-12, max_iter=40, random_state=seed).fit(X)
    obj = gm.history_["objective"]
    assert np.isfinite(obj).all()
    assert (np.diff(obj) >= -1e-9 * (1 + np.abs(obj[1:]))).all(), np.diff(obj).min()
    assert (gm.history_["kl"] >= -1e-8 * (1 + np.abs(obj))).all()
    # the core's certificate holds with the prior: objective = bound (with log prior) + KL(q_t || q_t+1)
    assert (np.abs(gm.history_["residual"]) <= 1e-8 * (1 + np.abs(obj))).all()

# ---------------------------------------------------------------- degenerate data

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_degenerate_data_em_fails_map_does_not(ct):
    Xd = np.repeat(np.array([[0., 0.], [1., 0.], [0., 1.], [1., 1.]]), 25, axis=0)
    if ct == "full":   # exact EM without regularisation stops, naming the singular component
        with pytest.raises(ValueError, match=r"component \d+ is not positive definite"):
            GaussianMixtureEM(6, reg_covar=0, random_state=0).fit(Xd)
    gm = GaussianMixtureMAP(6, covariance_type=ct, random_state=0).fit(Xd)
    covs = full_covariances(gm.covariances_, 6, 2, ct)
    assert np.isfinite(covs).all() and (np.linalg.eigvalsh(covs) > 0).all()
    assert np.isfinite(gm.history_["objective"]).all() and np.isfinite(gm.score(Xd))
    assert (np.diff(gm.history_["objective"]) >= -1e-9).all()

# ---------------------------------------------------------------- the prior fades: MAP -> EM (scikit-learn)

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_map_approaches_em_as_prior_fades(ct):
    rng = np.random.default_rng(3)
    centres = np.array([[0., 0.], [6., 0.], [0., 6.]])
    X = np.vstack([rng.normal(c, [1., 0.7], size=(4000, 2)) for c in centres])
    P = dict(full=np.stack([np.eye(2)] * 3), tied=np.eye(2), diag=np.ones((3, 2)), spherical=np.ones(3))[ct]
    init = dict(weights_init=np.full(3, 1 / 3), means_init=centres + 0.3, precisions_init=P)
    tiny = dict(full=1e-9 * np.eye(2), tied=1e-9 * np.eye(2), diag=np.full(2, 1e-9), spherical=1e-9)[ct]
    m = GaussianMixtureMAP(3, covariance_type=ct, mean_precision_prior=1e-9, covariance_prior=tiny,
                           degrees_of_freedom_prior=1 + 1e-9, tol=0, max_iter=300, **init).fit(X)
    s = GaussianMixture(3, covariance_type=ct, reg_covar=0, tol=0, max_iter=300, **init).fit(X)
    # the denominators differ by O(D + K) pseudo-counts out of N_k = 4000: relative differences ~ 1e-3
    assert np.abs(m.covariances_ - s.covariances_).max() <= 2e-3 * np.abs(s.covariances_).max()
    np.testing.assert_allclose(m.means_, s.means_, atol=1e-4)     # responsibilities move with the covariances
    np.testing.assert_allclose(m.weights_, s.weights_, atol=1e-4)

# ---------------------------------------------------------------- mclust's defaults

def test_defaults_are_mclust_priorcontrol_on_faithful():
    X, _ = load_faithful()
    for ct in COVARIANCE_TYPES:
        gm = GaussianMixtureMAP(2, covariance_type=ct, random_state=0).fit(X)
        # R: colMeans(faithful) = (3.487783, 70.897059)
        np.testing.assert_allclose(gm.mean_prior_, [3.487783, 70.897059], atol=1e-6)
        assert (gm.mean_precision_prior_, gm.degrees_of_freedom_prior_, gm.weight_concentration_prior_) == (0.01, 4., 1.)
        C = np.cov(X.T)        # R's var(faithful), divisor n - 1
        want = dict(full=C / 2, tied=C / 2, diag=np.full(2, np.trace(C) / 4), spherical=np.trace(C) / 4)[ct]
        np.testing.assert_allclose(gm.covariance_prior_, want, rtol=1e-12)
    # published: cov(faithful$eruptions, faithful$waiting) = 13.978 (r-tutor.com, "Covariance", Elementary Statistics
    # with R); mclust's defaultPrior scale for G = 2, p = 2 is var(data) * (1/2)^(2/2)
    gm = GaussianMixtureMAP(2, random_state=0).fit(X)
    assert abs(gm.covariance_prior_[0, 1] - 13.978 / 2) < 5e-4

def test_integer_sample_weights_equal_repetition():
    X, _ = load_faithful()
    rng = np.random.default_rng(0)
    w = rng.integers(1, 4, size=len(X)).astype(float)
    init = dict(weights_init=[0.4, 0.6], means_init=[[2., 55.], [4.3, 80.]], precisions_init=np.stack([np.eye(2)] * 2))
    a = GaussianMixtureMAP(2, tol=0, max_iter=40, **init).fit(X, sample_weight=w)
    b = GaussianMixtureMAP(2, tol=0, max_iter=40, **init).fit(np.repeat(X, w.astype(int), axis=0))
    for attr in ("weights_", "means_", "covariances_", "covariance_prior_", "mean_prior_"):
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-9)
    np.testing.assert_allclose(a.history_["objective"], b.history_["objective"], rtol=1e-10)

# ---------------------------------------------------------------- the estimator API

def test_sklearn_clone_and_gridsearch():
    """clone copies the parameters; GridSearchCV's mean scores are a by-hand 3-fold loop of fit and score (so set_params
    reaches the fit), and on three separated tilted clusters the held-out score picks K = 3 with full covariances."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid
    gm = GaussianMixtureMAP(3, covariance_type="diag", mean_precision_prior=0.1, random_state=0)
    c = clone(gm)
    assert c.get_params() == gm.get_params() and c is not gm
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(120, 2)) @ np.array([[1., .8], [0., .6]]) + m for m in ((0., 0.), (8., 0.), (0., 8.))])
    X = X[rng.permutation(len(X))]
    grid = {"n_components": [1, 2, 3], "covariance_type": ["full", "spherical"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gs = GridSearchCV(GaussianMixtureMAP(random_state=0), grid, cv=3).fit(X)
        want = np.array([np.mean([GaussianMixtureMAP(random_state=0, **p).fit(X[tr]).score(X[te]) for tr, te in KFold(3).split(X)])
                         for p in ParameterGrid(grid)])
    np.testing.assert_allclose(gs.cv_results_["mean_test_score"], want, rtol=1e-12)
    assert gs.best_params_ == {"n_components": 3, "covariance_type": "full"}
    fewer = [p["n_components"] < 3 for p in gs.cv_results_["params"]]
    assert want.max() - want[fewer].max() > 0.3   # by far: nats per held-out sample

def test_predict_score_bic_sample():
    X, _ = load_faithful()
    gm = GaussianMixtureMAP(2, random_state=0).fit(X)
    R = gm.predict_proba(X)
    assert R.shape == (272, 2) and np.allclose(R.sum(1), 1) and (gm.predict(X) == R.argmax(1)).all()
    loglik = gm.score(X) * len(X)
    p = 2 * 3 + 2 * 2 + 1
    np.testing.assert_allclose(gm.bic(X), -2 * loglik + p * np.log(272))
    np.testing.assert_allclose(gm.aic(X), -2 * loglik + 2 * p)
    Xs, ys = gm.sample(500)
    assert Xs.shape == (500, 2) and ys.shape == (500,)
    with pytest.raises(NotFittedError, match="not fitted"):
        GaussianMixtureMAP(2).predict(X)

BAD = [
    (dict(weight_concentration_prior=0.5), "weight_concentration_prior must be >= 1"),
    (dict(weight_concentration_prior=np.nan), "finite number"),
    (dict(mean_precision_prior=0.), r"mean_precision_prior \(kappa_0\) must be > 0"),
    (dict(mean_precision_prior=-1.), r"mean_precision_prior \(kappa_0\) must be > 0"),
    (dict(degrees_of_freedom_prior=1.), r"must be > n_features - 1 = 1"),
    (dict(degrees_of_freedom_prior="3"), "finite number"),
    (dict(mean_prior=[1., 2., 3.]), r"mean_prior must have shape \(2,\)"),
    (dict(mean_prior=[1., np.inf]), "mean_prior contains NaN"),
    (dict(covariance_prior=np.eye(3)), r"must have shape \(2, 2\)"),
    (dict(covariance_prior=[[1., 2.], [2., 1.]]), "symmetric positive definite"),
    (dict(covariance_prior=[[1., .5], [0., 1.]]), "must be symmetric"),
    (dict(covariance_type="diag", covariance_prior=np.eye(2)), r"must have shape \(2,\)"),
    (dict(covariance_type="diag", covariance_prior=[1., -1.]), "must be positive"),
    (dict(covariance_type="spherical", covariance_prior=[1., 1.]), r"must have shape \(\)"),
    (dict(covariance_type="spherical", covariance_prior=0.), "must be positive"),
    (dict(covariance_type="bogus"), "covariance_type must be one of"),
    (dict(n_components=0), "n_components must be an integer >= 1"),
    (dict(tol=-1.), "tol must be >= 0"),
    (dict(init_params="nope"), "init_params must be one of"),
]

@pytest.mark.parametrize("kw, msg", BAD)
def test_bad_parameters(kw, msg):
    X, _ = load_faithful()
    kw = dict(kw); K = kw.pop("n_components", 2)
    with pytest.raises(ValueError, match=msg):
        GaussianMixtureMAP(K, **kw).fit(X)

@pytest.mark.parametrize("X, msg", [
    (np.array([1., 2., 3.]), "must be 2-D"),
    (np.array([[1., np.nan], [2., 3.], [3, 4]]), "NaN or infinity"),
    (np.zeros((1, 2)), "fewer than"),
    (np.c_[np.arange(10.), np.ones(10)], "collinear"),
])
def test_bad_X(X, msg):
    with pytest.raises(ValueError, match=msg):
        GaussianMixtureMAP(2).fit(X)

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_one_dimension_all_types_equal_the_normal_inverse_gamma_result(ct):
    "In 1-D the four covariance types are one model (K = 1): each M-step equals the sympy NIG solution."
    from emtheory.derive.map import map_variance_1d
    rng = np.random.default_rng(5)
    X = rng.normal(3., 2., size=(30, 1)); R = np.ones((30, 1))
    scale = dict(full=np.array([[1.7]]), tied=np.array([[1.7]]), diag=np.array([1.7]), spherical=1.7)[ct]
    p = resolve_prior(X, None, 1, ct, mean_prior=[0.5], mean_precision_prior=0.3, degrees_of_freedom_prior=2.5,
                      covariance_prior=scale)
    th, means = _m_step(ct, X, R, p, X.mean(0))
    n, xb = 30., X.mean(); S = ((X - xb)**2).sum()
    f = sp.lambdify(*map_variance_1d())
    np.testing.assert_allclose(np.ravel(th.covariances)[0], f(S, xb, n, 0.5, 0.3, 2.5, 1.7), rtol=1e-12)
    np.testing.assert_allclose(means[0, 0], sp.lambdify(*map_mean())(xb, n, 0.5, 0.3), rtol=1e-12)
