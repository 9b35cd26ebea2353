"""CAVI with known mixing weights (frozen=("weights",)): the weights come back bit for bit, the ELBO never decreases and
is certified, one sweep and the ELBO match an independent implementation of Bishop 10.46-10.77 with log w_k in place of
E[log pi_k], scikit-learn's Dirichlet fit reaches the same factors in the limit alpha_0 -> infinity, clear errors."""
import warnings
import numpy as np
import pytest
from scipy.special import digamma, gammaln, logsumexp
from scipy.stats import multivariate_t
from sklearn.mixture import BayesianGaussianMixture
from emtheory.cavi import GaussianMixtureCAVI
from emtheory.datasets import load_faithful

XF, _ = load_faithful()

def _synthetic(seed, N=240, D=3, K=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 4
    return np.vstack([rng.normal(size=(N // K, D)) @ rng.normal(size=(D, D)) * 0.7 + c for c in centres])

CASES = {"faithful": (XF, np.array([0.3, 0.7])), "synthetic": (_synthetic(0), np.array([0.2, 0.3, 0.5]))}

def _prior(X, seed=0):
    "An explicit prior (so the reference below reads no defaults): m_0, beta_0, nu_0, W_0^-1."
    rng = np.random.default_rng(seed)
    D = X.shape[1]
    return X.mean(0) + rng.normal(size=D) * X.std(0) * 0.1, 0.7, D + 1.3, np.cov(X.T) * 1.5

def _fit(X, w, R0, sweeps, prior, **kw):
    m0, beta0, nu0, W0_inv = prior
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tol=0: a fixed number of sweeps, then a ConvergenceWarning
        return GaussianMixtureCAVI(len(w), frozen=("weights",), weights_init=w, resp_init=R0, tol=0, max_iter=sweeps,
                                   mean_prior=m0, mean_precision_prior=beta0, degrees_of_freedom_prior=nu0,
                                   covariance_prior=W0_inv, **kw).fit(X)

# ---------------------------------------------------------------- an independent implementation (Bishop §10.2)

def ref_globals(X, R, prior):
    "q(mu_k, Lambda_k) from responsibilities, Bishop 10.51-10.53 and 10.60-10.63 (there is no q(pi): the weights are known)."
    m0, beta0, nu0, W0_inv = prior
    Nk = R.sum(0)
    xbar = (R.T @ X) / Nk[:, None]
    S = np.stack([((X - xbar[k]).T * R[:, k]) @ (X - xbar[k]) / Nk[k] for k in range(len(Nk))])
    beta, nu = beta0 + Nk, nu0 + Nk
    m = (beta0 * m0 + Nk[:, None] * xbar) / beta[:, None]
    W_inv = np.stack([W0_inv + Nk[k] * S[k] + beta0 * Nk[k] / (beta0 + Nk[k]) * np.outer(xbar[k] - m0, xbar[k] - m0)
                      for k in range(len(Nk))])
    return dict(beta=beta, m=m, nu=nu, W=np.linalg.inv(W_inv), Nk=Nk, xbar=xbar, S=S)

def ref_E_log_det(q, D):
    "E[log |Lambda_k|], Bishop 10.65."
    return np.array([digamma((nu + 1 - np.arange(1, D + 1)) / 2).sum() + D * np.log(2) + np.linalg.slogdet(W)[1]
                     for nu, W in zip(q["nu"], q["W"])])

def ref_resp(X, q, w):
    "Responsibilities, Bishop 10.46, 10.49, 10.64-10.65 with log w_k in place of E[log pi_k]."
    D = X.shape[1]
    d = X[:, None, :] - q["m"][None]
    quad = D / q["beta"] + q["nu"] * np.einsum('nka,kab,nkb->nk', d, q["W"], d)        # 10.64
    log_rho = np.log(w) + 0.5 * ref_E_log_det(q, D) - 0.5 * D * np.log(2 * np.pi) - 0.5 * quad
    return np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))

def log_B(W, nu, D):
    "Log normaliser of the Wishart, Bishop B.79."
    return (-0.5 * nu * np.linalg.slogdet(W)[1] - 0.5 * nu * D * np.log(2) - 0.25 * D * (D - 1) * np.log(np.pi)
            - gammaln((nu + 1 - np.arange(1, D + 1)) / 2).sum())

def ref_elbo(X, R, q, w, prior):
    "The ELBO L(q(Z) = R, q(mu, Lambda) = q), Bishop 10.70-10.77 with E[log p(Z | pi)] = sum r log w and no pi terms."
    m0, beta0, nu0, W0_inv = prior
    N, D = X.shape
    K = len(w)
    s = ref_globals(X, R, prior)   # N_k, xbar_k, S_k of R (10.51-10.53)
    Elog = ref_E_log_det(q, D)
    beta, m, nu, W = q["beta"], q["m"], q["nu"], q["W"]
    e_px = 0.5 * sum(s["Nk"][k] * (Elog[k] - D / beta[k] - nu[k] * np.trace(s["S"][k] @ W[k])
                                   - nu[k] * (s["xbar"][k] - m[k]) @ W[k] @ (s["xbar"][k] - m[k]) - D * np.log(2 * np.pi))
                     for k in range(K))                                                         # 10.71
    e_pz = (R * np.log(w)).sum()                                                                # 10.72, pi = w
    W0 = np.linalg.inv(W0_inv)
    e_pmu = (0.5 * sum(D * np.log(beta0 / (2 * np.pi)) + Elog[k] - D * beta0 / beta[k]
                       - beta0 * nu[k] * (m[k] - m0) @ W[k] @ (m[k] - m0) for k in range(K))
             + K * log_B(W0, nu0, D) + 0.5 * (nu0 - D - 1) * Elog.sum()
             - 0.5 * sum(nu[k] * np.trace(W0_inv @ W[k]) for k in range(K)))                    # 10.74
    e_qz = np.sum(R * np.log(np.where(R > 0, R, 1.)))                                           # 10.75
    H = [-log_B(W[k], nu[k], D) - 0.5 * (nu[k] - D - 1) * Elog[k] + 0.5 * nu[k] * D for k in range(K)]   # B.82
    e_qmu = sum(0.5 * Elog[k] + 0.5 * D * np.log(beta[k] / (2 * np.pi)) - 0.5 * D - H[k] for k in range(K))   # 10.77
    return e_px + e_pz + e_pmu - e_qz - e_qmu

def ref_run(X, R0, w, sweeps, prior):
    "The estimator's order: globals from R0, then `sweeps` times (responsibilities, globals); the ELBO at the last q(z)."
    q = ref_globals(X, R0, prior)
    for _ in range(sweeps):
        q = ref_globals(X, ref_resp(X, q, w), prior)
    R = ref_resp(X, q, w)
    return q, R, ref_elbo(X, R, q, w, prior)

@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("sweeps", [1, 5])
def test_sweeps_and_elbo_match_an_independent_implementation(case, sweeps):
    X, w = CASES[case]
    prior = _prior(X)
    R0 = np.random.default_rng(1).dirichlet(np.ones(len(w)), len(X))
    fit = _fit(X, w, R0, sweeps, prior)
    q, R, elbo = ref_run(X, R0, w, sweeps, prior)
    def close(a, b, name): np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * np.abs(b).max(), err_msg=name)
    close(fit.mean_precision_, q["beta"], "beta"); close(fit.degrees_of_freedom_, q["nu"], "nu")
    close(fit.means_, q["m"], "m"); close(fit.covariances_, np.linalg.inv(q["W"]) / q["nu"][:, None, None], "W^-1/nu")
    close(fit.predict_proba(X), R, "responsibilities")
    np.testing.assert_allclose(fit.elbo_, elbo, rtol=1e-10)

def test_the_reference_elbo_is_the_free_elbo_minus_its_pi_terms():
    "The reference is not tautological: with E[log pi_k] and -KL(q(pi) || p(pi)) put back, it is the free fit's elbo_."
    X, w = CASES["synthetic"]
    prior, K = _prior(X), len(w)
    R0 = np.random.default_rng(2).dirichlet(np.ones(K), len(X))
    m0, beta0, nu0, W0_inv = prior
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        free = GaussianMixtureCAVI(K, weight_concentration_prior=0.4, resp_init=R0, tol=0, max_iter=3, mean_prior=m0,
                                   mean_precision_prior=beta0, degrees_of_freedom_prior=nu0, covariance_prior=W0_inv).fit(X)
    q = dict(beta=free.mean_precision_, m=free.means_, nu=free.degrees_of_freedom_,
             W=np.linalg.inv(free.covariances_ * free.degrees_of_freedom_[:, None, None]))
    R, a = free.predict_proba(X), free.weight_concentration_
    E_log_pi = digamma(a) - digamma(a.sum())
    kl_pi = (gammaln(a.sum()) - gammaln(a).sum() - gammaln(K * 0.4) + K * gammaln(0.4) + ((a - 0.4) * E_log_pi).sum())
    # sum r log w_k replaced by sum r E[log pi_k]: add sum r (E[log pi_k] - log w_k) to the known-weights ELBO
    elbo = ref_elbo(X, R, q, w, prior) + (R * (E_log_pi - np.log(w))).sum() - kl_pi
    np.testing.assert_allclose(free.elbo_, elbo, rtol=1e-10)

# ---------------------------------------------------------------- bit for bit, monotone, certified

@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_known_weights_come_back_bit_identical_and_the_elbo_is_certified(case, init):
    X, w = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = GaussianMixtureCAVI(len(w), frozen=("weights",), weights_init=w, init_params=init, tol=0, max_iter=40,
                                  random_state=0).fit(X)
    assert np.array_equal(fit.weights_, w) and fit.weights_ is not w and fit.weight_concentration_ is None
    assert fit.n_iter_ == 40
    h = fit.history_
    scale = np.abs(h["objective"]).max()
    assert (np.diff(h["objective"]) >= -1e-9 * scale).all()
    assert np.abs(h["residual"]).max() <= 1e-9 * scale and (h["kl"] >= -1e-9 * scale).all()
    assert fit.elbo_ == h["objective"][-1]

def test_weights_given_as_a_list_come_back_as_those_floats():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = GaussianMixtureCAVI(2, frozen=["weights"], weights_init=[0.25, 0.75], tol=0, max_iter=3).fit(XF)
    assert fit.weights_.dtype == np.float64 and fit.weights_.tolist() == [0.25, 0.75]

def test_partial_fit_keeps_the_known_weights():
    w = np.array([0.4, 0.6])
    est = GaussianMixtureCAVI(2, frozen=("weights",), weights_init=w, random_state=0)
    for batch in np.array_split(XF, 4): est.partial_fit(batch)
    assert np.array_equal(est.weights_, w) and est.weight_concentration_ is None

# ---------------------------------------------------------------- peers: scikit-learn's limit, the predictive

def test_uniform_known_weights_are_sklearns_limit_of_a_huge_concentration():
    "Dir(alpha_0, ..., alpha_0) with alpha_0 = 1e12 pins pi at (1/K, ...): E[log pi_k] = log(1/K) + O(N / alpha_0)."
    X = _synthetic(3, D=2, K=4)
    K = 4
    R0 = np.random.default_rng(4).dirichlet(np.ones(K), len(X))
    class FromResp(BayesianGaussianMixture):
        def _initialize_parameters(self, X, random_state, xp=None): self._initialize(X, R0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixtureCAVI(K, frozen=("weights",), weights_init=np.full(K, 1 / K), resp_init=R0, tol=0,
                                   max_iter=30).fit(X)
        sk = FromResp(n_components=K, reg_covar=0, tol=0, max_iter=30, weight_concentration_prior=1e12,
                      weight_concentration_prior_type="dirichlet_distribution").fit(X)
    for name in ["mean_precision_", "means_", "degrees_of_freedom_", "covariances_"]:
        A, B = getattr(ours, name), getattr(sk, name)
        np.testing.assert_allclose(A, B, rtol=0, atol=1e-8 * np.abs(B).max(), err_msg=name)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))

def test_predictive_is_the_student_t_mixture_with_the_known_weights():
    "p(x | X) = sum_k w_k St(x | m_k, L_k, nu_k + 1 - D) (Bishop 10.81-10.82, with pi known)."
    w = np.array([0.3, 0.7])
    fit = GaussianMixtureCAVI(2, frozen=("weights",), weights_init=w, random_state=0, tol=1e-8, max_iter=500).fit(XF)
    D = 2
    dof = fit.degrees_of_freedom_ + 1 - D
    dens = sum(w[k] * multivariate_t(fit.means_[k], fit.covariances_[k] * fit.degrees_of_freedom_[k]
                                     * (1 + fit.mean_precision_[k]) / (dof[k] * fit.mean_precision_[k]), df=dof[k]).pdf(XF[:50])
               for k in range(2))
    np.testing.assert_allclose(fit.score_samples(XF[:50]), np.log(dens), rtol=1e-10)

# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kw,msg", [
    (dict(frozen=("weights",)), "pass weights_init"),
    (dict(frozen=("means",)), "CAVI can freeze only the weights"),
    (dict(frozen=("weights", "covariances"), weights_init=[.5, .5]), "Normal-Wishart posterior"),
    (dict(frozen=("mean",)), "not 'mean'"),
    (dict(frozen="weights", weights_init=[.5, .5]), "tuple of block names"),
    (dict(weights_init=[.5, .5]), "used only with frozen"),
    (dict(frozen=("weights",), weights_init=[.2, .3, .5]), "shape"),
    (dict(frozen=("weights",), weights_init=[0., 1.]), "must be positive"),
    (dict(frozen=("weights",), weights_init=[-.5, 1.5]), "must be positive"),
    (dict(frozen=("weights",), weights_init=[.5, .6]), "sum to 1"),
    (dict(frozen=("weights",), weights_init=[np.nan, .5]), "NaN"),
])
def test_bad_frozen_or_weights_init(kw, msg):
    with pytest.raises(ValueError, match=msg): GaussianMixtureCAVI(2, **kw).fit(XF)

def test_warm_start_refuses_a_change_of_frozen():
    est = GaussianMixtureCAVI(2, warm_start=True, random_state=0).fit(XF)
    est.set_params(frozen=("weights",), weights_init=[.5, .5])
    with pytest.raises(ValueError, match="frozen has changed"): est.fit(XF)
    est = GaussianMixtureCAVI(2, frozen=("weights",), weights_init=[.5, .5], warm_start=True, random_state=0,
                              tol=1e-8, max_iter=500).fit(XF)
    before = est.elbo_
    est.fit(XF)   # same frozen: it continues, and coordinate ascent cannot lose ELBO
    assert est.elbo_ >= before - 1e-9 * abs(before) and np.array_equal(est.weights_, [.5, .5])
