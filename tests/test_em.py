"Exact EM: scikit-learn trajectory equality, monotonicity, the certificate, weights, the estimator API, bad input."
import warnings
import numpy as np
import pytest
from hypothesis import given, reject, settings, strategies as st, HealthCheck
from scipy import stats as sst
from scipy.special import logsumexp
from sklearn import datasets
from sklearn.mixture import GaussianMixture
from emtheory.core import ConvergenceWarning, NotFittedError
from emtheory.em import GaussianMixtureEM
from emtheory.gaussian import COVARIANCE_TYPES, full_covariances

DATASETS = {"iris": datasets.load_iris, "wine": datasets.load_wine,
            "breast_cancer": datasets.load_breast_cancer, "diabetes": datasets.load_diabetes}

def _inits(X, K, ct, seed):
    "A shared start: parameters of a random soft assignment (computed with numpy, not with either library)."
    rng = np.random.default_rng(seed)
    R = rng.dirichlet(np.ones(K) * 5, size=len(X))
    Nk = R.sum(0); mu = R.T @ X / Nk[:, None]
    covs = np.stack([((X - mu[k]).T * R[:, k]) @ (X - mu[k]) / Nk[k] for k in range(K)])
    covs += 1e-3 * np.trace(covs, axis1=1, axis2=2)[:, None, None] / X.shape[1] * np.eye(X.shape[1])
    P = dict(full=np.linalg.inv(covs), tied=np.linalg.inv(covs.mean(0)),
             diag=1 / np.einsum('kaa->ka', covs), spherical=1 / np.einsum('kaa->k', covs) * X.shape[1])[ct]
    return dict(weights_init=Nk / Nk.sum(), means_init=mu, precisions_init=P)

@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_same_trajectory_as_sklearn(name, ct):
    X = DATASETS[name]().data.astype(float)
    K = 3
    init = _inits(X, K, ct, seed=1)
    ours = GaussianMixtureEM(K, covariance_type=ct, reg_covar=0, tol=0, max_iter=12, **init)
    theirs = GaussianMixture(K, covariance_type=ct, reg_covar=0, tol=0, max_iter=12, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.fit(X); theirs.fit(X)
    assert ours.n_iter_ == theirs.n_iter_ == 12
    for a in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        a_ours, a_theirs = getattr(ours, a), getattr(theirs, a)
        np.testing.assert_allclose(a_ours, a_theirs, rtol=1e-8, atol=1e-8 * np.abs(a_theirs).max(), err_msg=a)
    np.testing.assert_allclose(ours.score(X), theirs.score(X), rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-7)

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_reg_covar_convention_matches_sklearn(ct):
    X = datasets.load_wine().data
    init = _inits(X, 2, ct, seed=2)
    kw = dict(covariance_type=ct, reg_covar=1e-2, tol=0, max_iter=5, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = GaussianMixtureEM(2, **kw).fit(X), GaussianMixture(2, **kw).fit(X)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-8)

def _hypothesis_data(seed, D):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(60, D)) * rng.uniform(0.5, 3, size=D) + rng.integers(0, 3, size=(60, 1)) * 4

def _fit_or_reject(gm, X):
    "Fit; a component that collapses (reg_covar = 0) is a refused input, not a counterexample."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try: return gm.fit(X)
        except ValueError as e:
            if "collapsed" in str(e): reject()
            raise

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(seed=st.integers(0, 10**6), ct=st.sampled_from(COVARIANCE_TYPES), K=st.integers(1, 4),
       D=st.integers(1, 4), init=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]),
       reg=st.sampled_from([0., 1e-6]))
def test_log_likelihood_never_decreases_and_certificate_holds(seed, ct, K, D, init, reg):
    """Exact EM (reg_covar = 0) never lowers the log-likelihood; with or without reg_covar, log p = ELBO + KL holds at
    every iteration with the KL computed directly (tolerance: 1e-9 of the objective's size, far above the rounding of
    a 60-term sum and far below any real term)."""
    X = _hypothesis_data(seed, D)
    gm = _fit_or_reject(GaussianMixtureEM(K, covariance_type=ct, init_params=init, random_state=seed, tol=0, max_iter=40,
                                          reg_covar=reg), X)
    h = gm.history_
    scale = abs(h["log_likelihood"]).max()
    if reg == 0: assert (np.diff(h["log_likelihood"]) >= -1e-9 * scale).all()
    assert (h["kl"] >= -1e-9 * scale).all()
    # log p = ELBO + KL with the KL computed directly from the responsibilities before and after each E-step
    np.testing.assert_allclose(h["elbo"] + h["kl"], h["log_likelihood"], rtol=1e-12, atol=1e-9 * scale)
    assert np.abs(h["residual"]).max() <= 1e-9 * scale
    # the recorded objective is the log-likelihood at the returned parameters
    np.testing.assert_allclose(h["objective"][-1], gm.score_samples(X).sum(), rtol=1e-10)

def m_step_shortfall(gm, n:int, r:float)->float:
    """L(q, theta*) - L(q, theta_reg) >= 0 for the M-step that returned `gm`'s parameters: theta* has the maximising
    covariances S_k / N_k with eigenvalues l, theta_reg adds r to each, and per component the loss is
    N_k / 2 * sum_j [log((l_j + r) / l_j) - r / (l_j + r)] (the Gaussian's log-likelihood in the covariance; infinite when
    S_k is singular, where the likelihood has no maximum)."""
    ct, covs, Nk = gm.covariance_type, np.asarray(gm.covariances_), gm.weights_ * n
    lam = dict(full=lambda: np.linalg.eigvalsh(covs), tied=lambda: np.linalg.eigvalsh(covs)[None],
               diag=lambda: covs, spherical=lambda: np.repeat(covs[:, None], gm.n_features_in_, 1))[ct]()
    with np.errstate(divide="ignore", invalid="ignore"):   # a singular S_k: L is unbounded, so is the shortfall
        per = np.where(lam - r > 0, np.log(lam / (lam - r)) - r / lam, np.inf).sum(1)
    return float(n / 2 * per[0] if ct == "tied" else (Nk / 2 * per).sum())

@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), ct=st.sampled_from(COVARIANCE_TYPES), K=st.integers(1, 4), D=st.integers(1, 4),
       reg=st.sampled_from([1e-6, 1e-3, 1e-1]))
def test_reg_covar_decrease_is_bounded_by_the_m_step_shortfall(seed, ct, K, D, reg):
    """With reg_covar = r > 0 the M-step returns S_k/N_k + r I, not the maximiser, so the log-likelihood may fall, but
    never by more than that M-step's shortfall: log p(theta_t+1) - log p(theta_t) = [L(q_t, theta_t+1) - L(q_t, theta*)]
    + [L(q_t, theta*) - L(q_t, theta_t)] + KL >= -shortfall. Checked step by step (warm_start, one iteration a fit)."""
    X = _hypothesis_data(seed, D)
    gm = GaussianMixtureEM(K, covariance_type=ct, random_state=seed, tol=0, max_iter=1, reg_covar=reg, warm_start=True)
    ll, short = [], []
    for _ in range(25):
        _fit_or_reject(gm, X)
        ll.append(gm.history_["objective"][-1]); short.append(m_step_shortfall(gm, len(X), reg))
    scale = abs(ll[0])
    assert (np.diff(ll) >= -np.array(short[1:]) - 1e-9 * scale).all()

def test_log_likelihood_matches_scipy_stats():
    X = datasets.load_iris().data
    for ct in COVARIANCE_TYPES:
        gm = GaussianMixtureEM(3, covariance_type=ct, random_state=0).fit(X)
        covs = full_covariances(gm.covariances_, 3, 4, ct)
        lp = np.stack([np.log(gm.weights_[k]) + sst.multivariate_normal(gm.means_[k], covs[k]).logpdf(X) for k in range(3)], 1)
        np.testing.assert_allclose(gm.score_samples(X), logsumexp(lp, 1), rtol=1e-10)
        np.testing.assert_allclose(gm.predict_proba(X), np.exp(lp - logsumexp(lp, 1, keepdims=True)), atol=1e-10)

def test_integer_sample_weights_equal_repetition():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (40, 2)), rng.normal(5, 1, (40, 2))])
    w = rng.integers(1, 4, size=len(X))
    init = dict(weights_init=[.5, .5], means_init=[[0, 0], [5, 5]], precisions_init=np.stack([np.eye(2)] * 2))
    a = GaussianMixtureEM(2, tol=0, max_iter=10, **init)
    b = GaussianMixtureEM(2, tol=0, max_iter=10, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.fit(X, sample_weight=w); b.fit(np.repeat(X, w, axis=0))
    for at in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, at), getattr(b, at), rtol=1e-10)
    np.testing.assert_allclose(a.history_["objective"], b.history_["objective"], rtol=1e-10)

def test_n_init_keeps_the_best():
    X = datasets.load_wine().data
    single = [GaussianMixtureEM(4, covariance_type="diag", init_params="random", random_state=s).fit(X).score(X) for s in range(3)]
    best = GaussianMixtureEM(4, covariance_type="diag", init_params="random", n_init=5, random_state=0).fit(X)
    assert best.score(X) >= min(single) - 1e-9

def test_warm_start_continues():
    X = datasets.load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixtureEM(3, max_iter=2, tol=0, warm_start=True, random_state=0).fit(X)
        first = gm.history_["objective"][-1]
        gm.fit(X)
    assert gm.history_["objective"][0] >= first - 1e-9

def test_convergence_warning():
    X = datasets.load_iris().data
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixtureEM(3, max_iter=1, random_state=0).fit(X)

def test_emptied_component_is_handled_not_nan():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    # component 2 starts far from every point: it receives no responsibility and must stay finite
    init = dict(weights_init=[.45, .45, .1], means_init=[[-1, 0], [1, 0], [1e3, 1e3]], precisions_init=np.stack([np.eye(2)] * 3))
    gm = GaussianMixtureEM(3, tol=0, max_iter=5, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    assert np.isfinite(gm.means_).all() and np.isfinite(gm.covariances_).all() and np.isfinite(gm.history_["objective"]).all()
    assert gm.weights_[2] < 1e-12
    assert np.isfinite(gm.score_samples(X)).all()

def _three_tilted_clusters(seed=0, n=120):
    "Three well-separated correlated Gaussian clusters, rows shuffled (3-fold CV without shuffling takes contiguous folds)."
    rng = np.random.default_rng(seed)
    A = np.array([[1., .8], [0., .6]])
    X = np.vstack([rng.normal(size=(n, 2)) @ A + c for c in ((0., 0.), (8., 0.), (0., 8.))])
    return X[rng.permutation(len(X))]

def _cv_by_hand(make, grid, X, folds=3):
    "Mean held-out score of each candidate (ParameterGrid order), by KFold: fit on the training rows, score the test rows."
    from sklearn.model_selection import KFold, ParameterGrid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([np.mean([make(**p).fit(X[tr]).score(X[te]) for tr, te in KFold(folds).split(X)])
                         for p in ParameterGrid(grid)])

def test_sklearn_clone_pipeline_gridsearch():
    """clone copies the parameters; in a pipeline the mixture is fitted to the scaler's output (its labels equal a fit on
    the scaled data); GridSearchCV's mean scores are a by-hand 3-fold loop of fit and score (so set_params reaches the
    fit), and on three separated clusters the held-out log-likelihood picks K = 3, the K that generated them."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X = _three_tilted_clusters()
    gm = GaussianMixtureEM(2, covariance_type="diag", random_state=0)
    c = clone(gm)
    assert c.get_params() == gm.get_params() and c is not gm
    pipe = make_pipeline(StandardScaler(), GaussianMixtureEM(3, random_state=0)).fit(X)
    Z = StandardScaler().fit_transform(X)
    np.testing.assert_array_equal(pipe.predict(X), GaussianMixtureEM(3, random_state=0).fit(Z).predict(Z))
    grid = {"n_components": [1, 2, 3], "covariance_type": ["full", "diag"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gs = GridSearchCV(GaussianMixtureEM(random_state=0), grid, cv=3).fit(X)
    want = _cv_by_hand(lambda **p: GaussianMixtureEM(random_state=0, **p), grid, X)
    np.testing.assert_allclose(gs.cv_results_["mean_test_score"], want, rtol=1e-12)
    assert gs.best_params_ == {"n_components": 3, "covariance_type": "full"}   # the clusters are tilted: full beats diag
    fewer = [p["n_components"] < 3 for p in gs.cv_results_["params"]]
    assert want.max() - want[fewer].max() > 0.3   # by far: nats per held-out sample

def test_bic_aic_match_sklearn():
    X = datasets.load_iris().data
    for ct in COVARIANCE_TYPES:
        init = _inits(X, 3, ct, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = GaussianMixtureEM(3, covariance_type=ct, tol=0, max_iter=20, **init).fit(X)
            theirs = GaussianMixture(3, covariance_type=ct, tol=0, max_iter=20, **init).fit(X)
        np.testing.assert_allclose(ours.bic(X), theirs.bic(X), rtol=1e-9)
        np.testing.assert_allclose(ours.aic(X), theirs.aic(X), rtol=1e-9)

def test_sample_shapes_and_moments():
    X = datasets.load_iris().data
    gm = GaussianMixtureEM(2, random_state=0).fit(X)
    S, y = gm.sample(20000)
    assert S.shape == (20000, 4) and y.shape == (20000,)
    np.testing.assert_allclose(np.bincount(y) / 20000, gm.weights_, atol=0.02)
    for k in range(2):   # each component's draws: mean within 5 standard errors of means_, covariance within 10%
        Sk = S[y == k]
        se = np.sqrt(np.diag(gm.covariances_[k]) / len(Sk))
        assert (np.abs(Sk.mean(0) - gm.means_[k]) < 5 * se).all()
        np.testing.assert_allclose(np.cov(Sk.T), gm.covariances_[k], rtol=0, atol=0.1 * np.abs(gm.covariances_[k]).max())

@pytest.mark.parametrize("bad, msg", [
    (np.array([[1., np.nan], [2., 3.], [4., 5.]]), "NaN"),
    (np.array([[1., np.inf], [2., 3.], [4., 5.]]), "NaN or infinity"),
    (np.ones(5), "2-D"),
    (np.zeros((0, 2)), "empty"),
    (np.ones((1, 2)), "fewer than"),
    (np.array([["a", "b"], ["c", "d"]]), "numeric"),
])
def test_bad_X(bad, msg):
    with pytest.raises(ValueError, match=msg):
        GaussianMixtureEM(2).fit(bad)

@pytest.mark.parametrize("kw, msg", [
    (dict(n_components=0), "n_components"),
    (dict(covariance_type="banana"), "covariance_type"),
    (dict(reg_covar=-1), "reg_covar"),
    (dict(init_params="bogus"), "init_params"),
    (dict(weights_init=[.2, .2]), "weights_init must be non-negative and sum to 1"),
    (dict(weights_init=[.5, .5, 0]), "weights_init must have shape"),
    (dict(means_init=np.zeros((3, 4))), "means_init must have shape"),
    (dict(precisions_init=np.stack([np.eye(4), -np.eye(4)])), "not positive definite"),
    (dict(precisions_init=np.stack([np.eye(4), np.eye(4) + np.triu(np.ones((4, 4)), 1)])), "not symmetric"),
    (dict(covariance_type="diag", precisions_init=-np.ones((2, 4))), "positive"),
    (dict(max_iter=0), "max_iter"),
])
def test_bad_parameters(kw, msg):
    X = datasets.load_iris().data
    kw = {"n_components": 2, **kw}
    with pytest.raises(ValueError, match=msg):
        GaussianMixtureEM(**kw).fit(X)

def test_not_fitted_and_feature_mismatch():
    X = datasets.load_iris().data
    with pytest.raises(NotFittedError, match="not fitted"):
        GaussianMixtureEM(2).predict(X)
    gm = GaussianMixtureEM(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        gm.predict(X[:, :3])

def test_collapsed_component_error_names_it():
    Xd = np.repeat(np.array([[0., 0.], [1., 0.], [0., 1.], [1., 1.]]), 5, axis=0)
    with pytest.raises(ValueError, match=r"component \d+ is not positive definite.*MAP-EM"):
        GaussianMixtureEM(6, reg_covar=0, random_state=0).fit(Xd)

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
@pytest.mark.parametrize("sep", [1e3, 1e5])
def test_far_separated_clusters_keep_full_precision(ct, sep):
    """The one-pass scatter cancels for clusters far from the centre; the exact second pass restores it (PERF.md).
    Clusters this far apart get responsibilities exactly 0 or 1, so the answer is each cluster's sample covariance
    (pooled for tied, its diagonal for diag, the mean of that for spherical), computed here directly."""
    rng = np.random.default_rng(0)
    A, B = rng.normal(0, 1, (400, 3)), rng.normal(sep, 2, (400, 3))
    X = np.vstack([A, B])
    init = dict(weights_init=[.5, .5], means_init=[[0.1] * 3, [sep - .1] * 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixtureEM(2, covariance_type=ct, reg_covar=0, tol=0, max_iter=4, **init).fit(X)
    covs = np.stack([np.cov(A.T, bias=True), np.cov(B.T, bias=True)])
    expect = dict(full=covs, tied=covs.mean(0), diag=np.einsum("kaa->ka", covs),
                  spherical=np.einsum("kaa->k", covs) / 3)[ct]
    np.testing.assert_allclose(gm.covariances_, expect, rtol=0, atol=1e-12 * np.abs(expect).max())
    np.testing.assert_allclose(gm.means_, [A.mean(0), B.mean(0)], rtol=0, atol=1e-14 * sep)
