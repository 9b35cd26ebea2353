"The Gaussian E-step engine: exact against scipy.stats in every regime, the two forms agree, the certificate is exact."
import warnings
import numpy as np
import pytest
from scipy import stats as sst
from scipy.special import logsumexp, digamma
from emtheory.core import ConvergenceWarning
from emtheory.em import GaussianMixtureEM
from emtheory.map_em import GaussianMixtureMAP
from emtheory.cavi import GaussianMixtureCAVI, expected_log_pi, expected_log_det_precision
from emtheory.gaussian import (COVARIANCE_TYPES, FORMS, EXACT_DIGITS, GaussianModel, Quadratic, digits_lost,
                               choose_form, chunk_rows, full_covariances, CHUNK_BYTES, n_features_phi)

def _fit(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, **kw)

def _two_far_clusters(sd, offset, D=2, n=60, seed=0):
    "Two tight clusters, one at the origin and one at `offset` in every coordinate (the separated/offset regime)."
    rng = np.random.default_rng(seed)
    a = rng.normal(scale=sd, size=(n, D))
    b = offset + rng.normal(scale=sd, size=(n, D)) * rng.uniform(0.5, 2, size=D)
    return np.vstack([a, b])

def _three_far_clusters(seed=0):
    "sd 1e-2, centres at 0 and +-1e4 in 5-D."
    rng = np.random.default_rng(seed)
    c = np.array([0., 1e4, -1e4])[:, None] * np.ones(5)
    return np.vstack([c[k] + rng.normal(scale=1e-2, size=(50, 5)) for k in range(3)])

REGIMES = {"sd1e-3_at_1e6": lambda: _two_far_clusters(1e-3, 1e6), "sd1e-2_5d_1e4": _three_far_clusters,
           "sd1_at_1e8": lambda: _two_far_clusters(1., 1e8), "sd1e-3_at_1e8": lambda: _two_far_clusters(1e-3, 1e8)}
SD = {"sd1e-3_at_1e6": 1e-3, "sd1e-2_5d_1e4": 1e-2, "sd1_at_1e8": 1., "sd1e-3_at_1e8": 1e-3}

def _map_prior(ct, D, sd):
    "A covariance prior at the clusters' own scale (the default, the data covariance, is singular here: two far points)."
    return dict(full=np.eye(D), tied=np.eye(D), diag=np.ones(D), spherical=1.)[ct] * sd**2

def _em_log_joint(est, X):
    "log pi_k + log N(x | mu_k, Sigma_k) per row and component, from scipy.stats at the fitted parameters."
    K, D = est.means_.shape
    covs = full_covariances(est.covariances_, K, D, est.covariance_type)
    return np.stack([np.log(est.weights_[k]) + sst.multivariate_normal(est.means_[k], covs[k]).logpdf(X)
                     for k in range(K)], 1)

def _rel(a, b): return np.abs(a - b).max() / np.abs(b).max()

@pytest.mark.parametrize("regime", list(REGIMES))
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
@pytest.mark.parametrize("cls", [GaussianMixtureEM, GaussianMixtureMAP])
def test_em_and_map_exact_against_scipy(cls, ct, regime):
    "score_samples, predict_proba and the recorded objective equal scipy.stats' values at the fitted parameters."
    X = REGIMES[regime]()
    K = 3 if regime == "sd1e-2_5d_1e4" else 2
    # MAP: a prior at the clusters' scale and a negligible pull of the means (mclust's kappa_0 = 0.01 adds
    # kappa_0 (xbar - mu_0)(xbar - mu_0)^T ~ 1e10 sd^2 to a covariance: condition numbers no float64 reference resolves)
    kw = (dict(reg_covar=0.) if cls is GaussianMixtureEM else
          dict(covariance_prior=_map_prior(ct, X.shape[1], SD[regime]), mean_precision_prior=1e-20))
    est = _fit(cls(K, covariance_type=ct, tol=0, max_iter=5, random_state=0, **kw), X)
    lj = _em_log_joint(est, X)
    lse = logsumexp(lj, 1)
    np.testing.assert_allclose(est.score_samples(X), lse, rtol=1e-10, atol=0)
    np.testing.assert_allclose(est.predict_proba(X), np.exp(lj - lse[:, None]), rtol=1e-10, atol=1e-300)
    prior = est._model.log_prior(est._state(est._model))
    np.testing.assert_allclose(est.history_["objective"][-1], lse.sum() + prior, rtol=1e-10)
    h = est.history_
    assert np.abs(h["residual"]).max() <= 1e-10 * np.abs(h["objective"]).max()

def _cavi_log_joint(est, X):
    "E[log pi_k] + E[log N(x | mu_k, Lambda_k^-1)] per row and component (Bishop 10.64-10.66), through scipy.stats."
    K, D = est.means_.shape
    nu, beta = est.degrees_of_freedom_, est.mean_precision_
    P = est.precisions_                                  # nu_k W_k
    log_det_W = np.linalg.slogdet(P)[1] - D * np.log(nu)
    # E[log N] = log N(x | m_k, (nu W)^-1) + (E log|Lambda| - log|nu W|) / 2 - D / (2 beta)
    corr = 0.5 * (expected_log_det_precision(nu, log_det_W, D) - np.linalg.slogdet(P)[1]) - 0.5 * D / beta
    lp = expected_log_pi(est.weight_concentration_)
    return np.stack([lp[k] + corr[k] + sst.multivariate_normal(est.means_[k], np.linalg.inv(P[k])).logpdf(X)
                     for k in range(K)], 1)

@pytest.mark.parametrize("regime", list(REGIMES))
def test_cavi_exact_against_scipy(regime):
    "q(z), the local ELBO part and the posterior predictive equal their scipy.stats values; the certificate holds."
    X = REGIMES[regime]()
    K = 3 if regime == "sd1e-2_5d_1e4" else 2
    D = X.shape[1]   # priors at the clusters' scale, a negligible pull of the means (as for MAP above)
    est = _fit(GaussianMixtureCAVI(K, tol=0, max_iter=5, random_state=0, mean_precision_prior=1e-20,
                                   covariance_prior=np.eye(D) * SD[regime]**2), X)
    lj = _cavi_log_joint(est, X)
    lse = logsumexp(lj, 1)
    np.testing.assert_allclose(est.predict_proba(X), np.exp(lj - lse[:, None]), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(est.history_["local"][-1], lse.sum(), rtol=1e-10)
    h = est.history_
    assert np.abs(h["residual"]).max() <= 1e-10 * np.abs(h["objective"]).max()
    # the posterior predictive: a mixture of Student-t (Bishop 10.81)
    dof = est.degrees_of_freedom_ + 1 - D
    t = [np.log(est.weights_[k]) + sst.multivariate_t(est.means_[k], est.covariances_[k] * est.degrees_of_freedom_[k]
         * (1 + est.mean_precision_[k]) / (dof[k] * est.mean_precision_[k]), df=dof[k]).logpdf(X) for k in range(K)]
    np.testing.assert_allclose(est.score_samples(X), logsumexp(np.stack(t, 1), 1), rtol=1e-10)

def test_far_outliers_score_equals_scipy_logsumexp():
    "log-sum-exp with the max shift: points 1e3 standard deviations away keep a finite, exact log density."
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2))])
    est = _fit(GaussianMixtureEM(2, random_state=0), X)
    far = np.array([[1e3, -1e3], [-5e3, 2e3], [1e4, 1e4]])
    lj = _em_log_joint(est, far)
    assert (lj < -1e5).all()                        # every exp(l) underflows: without the shift, log(0) = -inf
    np.testing.assert_allclose(est.score_samples(far), logsumexp(lj, 1), rtol=1e-12)

def test_zero_initial_weight_keeps_a_finite_history():
    "weights_init = [1, 0]: l = -inf for one component; clamping what goes into exp keeps every recorded number finite."
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(5, 1, (50, 2))])
    est = _fit(GaussianMixtureEM(2, weights_init=[1., 0.], means_init=[[0, 0], [5, 5]], tol=0, max_iter=5), X)
    for k, v in est.history_.items(): assert np.isfinite(v).all(), k
    assert np.isfinite(est.score_samples(X)).all()

def test_certificate_exact_when_a_component_collapses():
    "Regression (hypothesis seed 1 of the certificate test): full, K=4, D=2, k-means++ start, a component collapses."
    seed, ct, K, D, init = 63, "full", 4, 2, "k-means++"
    rng = np.random.default_rng(seed)
    N = 60
    X = rng.normal(size=(N, D)) * rng.uniform(0.5, 3, size=D) + rng.integers(0, 3, size=(N, 1)) * 4
    gm = _fit(GaussianMixtureEM(K, covariance_type=ct, init_params=init, random_state=seed, tol=1e-12, max_iter=40,
                                reg_covar=1e-6), X)
    h = gm.history_
    scale = abs(h["log_likelihood"]).max()
    np.testing.assert_allclose(h["elbo"] + h["kl"], h["log_likelihood"], rtol=1e-12, atol=1e-9 * scale)
    assert np.abs(h["residual"]).max() <= 1e-9 * scale

def test_digits_lost_flags_the_far_components():
    "The measure: |mu|^T |P| |mu| / (D + |const|): 1e6 sd away is ~12 digits, a centred component ~0."
    q = Quadratic(np.array([-1., -1.]), np.array([[0., 0.], [1e6, 1e6]]), np.stack([np.eye(2), np.eye(2)]) * 1e3, "full")
    d = digits_lost(q)
    test = d[1] > EXACT_DIGITS and d[0] == 0
    assert test, d

def _fit_form(monkeypatch, form, est, X):
    monkeypatch.setattr(GaussianModel, "form", form)
    return _fit(est, X)

@pytest.mark.parametrize("ct", ["full", "tied"])
@pytest.mark.parametrize("cls", [GaussianMixtureEM, GaussianMixtureMAP, GaussianMixtureCAVI])
def test_the_two_forms_agree(monkeypatch, cls, ct):
    "Features form and whitened form: the same trajectory (10 sweeps, tol=0) to 1e-10, the same predictions."
    if cls is GaussianMixtureCAVI and ct == "tied": pytest.skip("CAVI has full covariances only")
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(m, s, (200, 4)) for m, s in ((0, 1), (4, .5), (-3, 2))]) @ rng.normal(size=(4, 4))
    make = lambda: cls(3, tol=0, max_iter=10, random_state=0, **({} if cls is GaussianMixtureCAVI else dict(covariance_type=ct)))
    a, b = _fit_form(monkeypatch, "features", make(), X), _fit_form(monkeypatch, "whitened", make(), X)
    assert a._model.form_ == "features" and b._model.form_ == "whitened"
    scale = np.abs(a.history_["objective"]).max()
    for k in a.history_: np.testing.assert_allclose(a.history_[k], b.history_[k], rtol=1e-10, atol=1e-10 * scale, err_msg=k)
    for at in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, at), getattr(b, at), rtol=1e-10, atol=1e-12, err_msg=at)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-10)

@pytest.mark.parametrize("form", FORMS)
def test_both_forms_exact_in_the_offset_regime(monkeypatch, form):
    "Forced to either form, a fit of far, tight clusters still equals scipy.stats (the far components are whitened)."
    X = _two_far_clusters(1e-3, 1e6)
    est = _fit_form(monkeypatch, form, GaussianMixtureEM(2, reg_covar=0, tol=0, max_iter=5, random_state=0), X)
    lj = _em_log_joint(est, X)
    np.testing.assert_allclose(est.score_samples(X), logsumexp(lj, 1), rtol=1e-10)

def test_the_form_is_reported_and_follows_the_cost_model():
    "Each fit records the form it used; diag/spherical always use features; the choice is the cost model's."
    X = np.random.default_rng(0).normal(size=(200, 3))
    for ct in COVARIANCE_TYPES:
        est = _fit(GaussianMixtureEM(2, covariance_type=ct, max_iter=2), X)
        assert est._model.form_ == choose_form(3, 2, ct)
        if ct in ("diag", "spherical"): assert est._model.form_ == "features"
    assert choose_form(300, 8, "full") == "whitened"
    assert choose_form(2, 8, "full") == "features"

@pytest.mark.parametrize("D", [2, 16, 64, 300])
def test_chunks_are_bounded_in_bytes(D):
    "A chunk's working set stays within CHUNK_BYTES (or 16 rows) whatever D is."
    for form in FORMS:
        B = chunk_rows(form, D, 8, "full", max_rows=10**9)
        per_row = 8 * ((n_features_phi(D, "full") + 16) if form == "features" else (D + 16 * D + 16))
        assert B == 16 or B * per_row <= CHUNK_BYTES
