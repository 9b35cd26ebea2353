"""CAVI: lambdify ties to the mean-field derivations, scikit-learn's fixed point, exactness at K = 1, exact evidence of the
Normal-Gamma model, monotone ELBO (hypothesis), posterior predictive, bad input."""
import itertools, math, warnings
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st, HealthCheck
from scipy import integrate
from scipy.special import digamma, gammaln, multigammaln, logsumexp
from sklearn.mixture import BayesianGaussianMixture
from emtheory.cavi import (BayesianGaussianCAVI, GaussianMixtureCAVI, NormalGammaCAVI, NormalGammaModel,
                           NormalGammaParams, normal_gamma_posterior, update_q_mu, update_q_tau)
from emtheory.core import ConvergenceWarning, e_step, stats_from_resp
from emtheory.datasets import load_faithful
from emtheory.derive import meanfield as mf

# ---------------------------------------------------------------- independent closed forms (Murphy 2007)

def nw_log_evidence(X, m0, beta0, nu0, W0_inv):
    "log p(X) under N(x | μ, Λ⁻¹), μ | Λ ~ N(m0, (β0 Λ)⁻¹), Λ ~ W(ν0, W0) (Murphy 2007, Normal-inverse-Wishart marginal likelihood); 0 for no data."
    N, D = X.shape
    if N == 0: return 0.
    xbar = X.mean(0); S = (X - xbar).T @ (X - xbar)
    S_N = W0_inv + S + beta0 * N / (beta0 + N) * np.outer(xbar - m0, xbar - m0)
    return (-N * D / 2 * np.log(np.pi) + multigammaln((nu0 + N) / 2, D) - multigammaln(nu0 / 2, D)
            + nu0 / 2 * np.linalg.slogdet(W0_inv)[1] - (nu0 + N) / 2 * np.linalg.slogdet(S_N)[1]
            + D / 2 * np.log(beta0 / (beta0 + N)))

def mixture_log_evidence(X, K, alpha0, m0, beta0, nu0, W0_inv):
    "Exact log p(X) of the Bayesian mixture by summing over all K^N assignments (small N only)."
    N = len(X)
    terms = []
    for z in itertools.product(range(K), repeat=N):
        z = np.array(z); Nk = np.bincount(z, minlength=K)
        log_pz = gammaln(K * alpha0) - gammaln(N + K * alpha0) + (gammaln(Nk + alpha0) - gammaln(alpha0)).sum()
        terms.append(log_pz + sum(nw_log_evidence(X[z == k], m0, beta0, nu0, W0_inv) for k in range(K)))
    return logsumexp(terms)

def _rand_data(seed, N=300, D=2, K=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 4
    X = np.vstack([rng.normal(size=(N // K, D)) @ rng.normal(size=(D, D)) * 0.7 + c for c in centres])
    return X, rng.dirichlet(np.ones(K), len(X))

# ---------------------------------------------------------------- ties to the theory chapter (sympy -> lambdify)

def _lam(f, modules='scipy'):
    args, exprs = f()
    return sp.lambdify(args, exprs, modules)

@pytest.mark.parametrize("seed", range(5))
def test_tie_normal_gamma_q_mu_and_q_tau(seed):
    rng = np.random.default_rng(seed)
    N, S_x, S_xx = rng.uniform(1, 50), rng.normal() * 10, rng.uniform(100, 200)
    mu0, lam0, a0, b0 = rng.normal(), rng.uniform(0.1, 3), rng.uniform(0.1, 3), rng.uniform(0.1, 3)
    E_tau, E_mu = rng.uniform(0.1, 5), rng.normal()
    E_mu2 = E_mu**2 + rng.uniform(0.01, 2)
    np.testing.assert_allclose(update_q_mu(N, S_x, mu0, lam0, E_tau), _lam(mf.normal_gamma_q_mu)(mu0, lam0, N, S_x, E_tau),
                               rtol=1e-13)
    np.testing.assert_allclose(update_q_tau(N, S_x, S_xx, mu0, lam0, a0, b0, E_mu, E_mu2),
                               _lam(mf.normal_gamma_q_tau)(a0, b0, mu0, lam0, N, S_x, S_xx, E_mu, E_mu2), rtol=1e-13)

@pytest.mark.parametrize("seed", range(5))
def test_tie_normal_gamma_exact_posterior_and_evidence(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(rng.normal(), rng.uniform(0.3, 3), size=rng.integers(1, 60))
    prior = (rng.normal(), rng.uniform(0.1, 3), rng.uniform(0.1, 3), rng.uniform(0.1, 3))
    np.testing.assert_allclose(normal_gamma_posterior(len(x), x.sum(), (x**2).sum(), *prior),
                               _lam(mf.normal_gamma_exact_posterior)(*prior, len(x), x.sum(), (x**2).sum()), rtol=1e-11)

@pytest.mark.parametrize("seed", range(5))
def test_tie_normal_gamma_fixed_point_and_elbo(seed):
    "The fitted factors are the sympy fixed point of §10.1.3, and elbo_ is the sympy ELBO at them."
    rng = np.random.default_rng(seed)
    x = rng.normal(rng.normal() * 3, rng.uniform(0.3, 3), size=rng.integers(2, 80))
    mu0, lam0, a0, b0 = rng.normal(), rng.uniform(0.1, 3), rng.uniform(0.1, 3), rng.uniform(0.1, 3)
    ng = NormalGammaCAVI(mean_prior=mu0, mean_precision_prior=lam0, shape_prior=a0, rate_prior=b0, tol=0,
                         max_iter=200).fit(x)
    stats = (len(x), x.sum(), (x**2).sum())
    m, l, a, b = _lam(mf.normal_gamma_fixed_point)(mu0, lam0, a0, b0, *stats)
    np.testing.assert_allclose([ng.mean_, ng.precision_, ng.shape_, ng.rate_], [m, l, a, b], rtol=1e-10)
    # the closed forms in words: E[μ] = μ_N, E[τ] = exact posterior mean a'_N / b'_N, shape a0 + (N+1)/2
    mu_N, lam_N, aE, bE, _ = normal_gamma_posterior(*stats, mu0, lam0, a0, b0)
    np.testing.assert_allclose([ng.mean_, ng.shape_ / ng.rate_, ng.shape_, ng.precision_],
                               [mu_N, aE / bE, a0 + (len(x) + 1) / 2, lam_N * aE / bE], rtol=1e-10)
    elbo = _lam(mf.normal_gamma_elbo)(mu0, lam0, a0, b0, *stats, ng.mean_, ng.precision_, ng.shape_, ng.rate_)
    np.testing.assert_allclose(ng.elbo_, elbo, rtol=1e-11)
    assert ng.elbo_ <= ng.log_evidence_

def test_normal_gamma_log_evidence_by_quadrature():
    "log_evidence_ is the log of the joint integrated numerically over (μ, τ)."
    x = np.array([0.3, -1.2, 2.2, 0.9, 1.4])
    mu0, lam0, a0, b0 = 0.5, 0.7, 2.0, 1.5
    ng = NormalGammaCAVI(mean_prior=mu0, mean_precision_prior=lam0, shape_prior=a0, rate_prior=b0).fit(x)
    def joint(mu, tau):
        return math.exp(len(x) / 2 * math.log(tau / (2 * math.pi)) - tau / 2 * ((x - mu)**2).sum()
                        + 0.5 * math.log(lam0 * tau / (2 * math.pi)) - lam0 * tau / 2 * (mu - mu0)**2
                        + a0 * math.log(b0) - math.lgamma(a0) + (a0 - 1) * math.log(tau) - b0 * tau)
    val = integrate.dblquad(joint, 0, np.inf, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-11)[0]
    np.testing.assert_allclose(ng.log_evidence_, np.log(val), rtol=1e-8)
    assert ng.kl_ > 0

def test_normal_gamma_elbo_plus_kl_is_log_evidence():
    "ELBO + KL(q ‖ exact posterior), the KL by quadrature, equals log p(x)."
    x = np.random.default_rng(4).normal(1., 2., size=8)
    ng = NormalGammaCAVI(mean_prior=0., mean_precision_prior=0.5, shape_prior=1.5, rate_prior=2.).fit(x)
    p = ng.posterior_
    def log_q(mu, tau):
        return (0.5 * math.log(ng.precision_ / (2 * math.pi)) - 0.5 * ng.precision_ * (mu - ng.mean_)**2
                + ng.shape_ * math.log(ng.rate_) - math.lgamma(ng.shape_) + (ng.shape_ - 1) * math.log(tau) - ng.rate_ * tau)
    def log_p(mu, tau):
        return (0.5 * math.log(p["mean_precision"] * tau / (2 * math.pi)) - 0.5 * p["mean_precision"] * tau * (mu - p["mean"])**2
                + p["shape"] * math.log(p["rate"]) - math.lgamma(p["shape"]) + (p["shape"] - 1) * math.log(tau) - p["rate"] * tau)
    kl = integrate.dblquad(lambda mu, tau: math.exp(log_q(mu, tau)) * (log_q(mu, tau) - log_p(mu, tau)),
                           0, np.inf, -np.inf, np.inf, epsabs=1e-13)[0]
    np.testing.assert_allclose(ng.elbo_ + kl, ng.log_evidence_, rtol=1e-8)

@pytest.mark.parametrize("seed", range(5))
def test_tie_gmm_factor_updates_1d(seed):
    "q(π), q(μ_k, λ_k) (D = 1) from the model's m_step equal the sympy results; so does log ρ from its Θ."
    rng = np.random.default_rng(seed)
    K, N = 3, 50
    X = rng.normal(size=(N, 1)) * 2 + 1
    R = rng.dirichlet(np.ones(K), N)
    alpha0, beta0, m0, nu0, W0_inv = rng.uniform(0.05, 2), rng.uniform(0.1, 3), rng.normal(), rng.uniform(0.1, 5), rng.uniform(0.2, 4)
    model = BayesianGaussianCAVI(X.mean(0), alpha0, beta0, np.array([m0]), nu0, np.array([[W0_inv]]))
    q = model.m_step(stats_from_resp(model, X, R))
    Nk, Sx, Sxx = R.sum(0), R.T @ X[:, 0], R.T @ X[:, 0]**2
    (alpha_k,) = _lam(lambda: mf.gmm_q_pi())(alpha0, Nk)
    np.testing.assert_allclose(q.alpha, alpha_k, rtol=1e-12)
    beta_k, m_k, nu_k, W_k = _lam(mf.gmm_q_mu_lambda_1d)(beta0, m0, nu0, 1 / W0_inv, Nk, Sx, Sxx)
    np.testing.assert_allclose(q.beta, beta_k, rtol=1e-12)
    np.testing.assert_allclose(q.means[:, 0] + model.center[0], m_k, rtol=1e-11)
    np.testing.assert_allclose(q.nu, nu_k, rtol=1e-12)
    np.testing.assert_allclose(1 / (q.covariances[:, 0, 0] * q.nu), W_k, rtol=1e-10)
    # log ρ_nk: Θ · φ(x) against the sympy expression with E[log π_k], E[log λ_k] = ψ(ν_k/2) + log 2 + log W_k
    ell = model.features(X) @ model.natural_params(q).T
    E_log_pi = digamma(q.alpha) - digamma(q.alpha.sum())
    E_log_lam = digamma(q.nu / 2) + np.log(2) + np.log(W_k)
    log_rho = _lam(mf.gmm_log_rho_1d)(X, E_log_pi, E_log_lam, q.beta, q.means[:, 0] + model.center[0], q.nu, W_k)
    np.testing.assert_allclose(ell, log_rho, rtol=1e-11, atol=1e-11)

def test_tie_catches_a_wrong_factor_update(monkeypatch):
    "The tie has teeth: a W_k update fed the scatter about the origin instead of about the mean fails it."
    rng = np.random.default_rng(0)
    K, N = 3, 50
    X = rng.normal(size=(N, 1)) * 2 + 1
    R = rng.dirichlet(np.ones(K), N)
    model = BayesianGaussianCAVI(X.mean(0), 0.5, 1.5, np.array([0.3]), 2.5, np.array([[1.7]]))
    Nk, Sx, Sxx = R.sum(0), R.T @ X[:, 0], R.T @ X[:, 0]**2
    beta_k, m_k, nu_k, W_k = _lam(mf.gmm_q_mu_lambda_1d)(1.5, 0.3, 2.5, 1 / 1.7, Nk, Sx, Sxx)
    q = model.m_step(stats_from_resp(model, X, R))
    np.testing.assert_allclose(1 / (q.covariances[:, 0, 0] * q.nu), W_k, rtol=1e-10)
    import emtheory.cavi as cavi_mod
    right = cavi_mod.moments
    def wrong(T, D, ct, *a, **k):               # scatter about the origin: a plausible slip
        Nk_, xbar, S = right(T, D, ct, *a, **k)
        return Nk_, xbar, S + np.einsum('k,ka,kb->kab', Nk_, xbar, xbar)
    monkeypatch.setattr(cavi_mod, "moments", wrong)
    q_bad = model.m_step(stats_from_resp(model, X, R))
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(1 / (q_bad.covariances[:, 0, 0] * q_bad.nu), W_k, rtol=1e-10)

# ---------------------------------------------------------------- scikit-learn's trajectory and fixed point

def _sklearn_from(R, **kw):
    class FromResp(BayesianGaussianMixture):
        def _initialize_parameters(self, X, random_state, xp=None): self._initialize(X, R)
    return FromResp(weight_concentration_prior_type="dirichlet_distribution", reg_covar=0., init_params="random", **kw)

ATTRS = ["weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_"]

def _compare(ours, sk, rtol):
    for a in ATTRS:
        A, B = getattr(ours, a), getattr(sk, a)
        np.testing.assert_allclose(A, B, rtol=0, atol=rtol * np.abs(B).max(), err_msg=a)

@pytest.mark.parametrize("seed,D,K", [(0, 2, 3), (1, 3, 4), (2, 1, 2), (3, 5, 3)])
def test_same_trajectory_as_sklearn(seed, D, K):
    X, R = _rand_data(seed, D=D, K=K)
    prior = dict(weight_concentration_prior=0.3, mean_precision_prior=0.5, degrees_of_freedom_prior=D + 1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixtureCAVI(K, resp_init=R, tol=0, max_iter=12, **prior).fit(X)
        sk = _sklearn_from(R, n_components=K, tol=0, max_iter=12, **prior).fit(X)
    _compare(ours, sk, 1e-9)

@pytest.mark.parametrize("seed,D,K", [(0, 2, 3), (1, 3, 4)])
def test_fixed_point_as_sklearn(seed, D, K):
    """Both run a fixed 2000 sweeps (tol=0: no dependence on where a tol-stop lands) from the same responsibilities
    (defaults but reg_covar=0) and reach the same factors; one more sweep then moves them by less than 1e-9 (the sweep
    contracts towards the fixed point; 2000 sweeps are far past the point where its change reaches rounding level)."""
    X, R = _rand_data(seed, D=D, K=K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixtureCAVI(K, resp_init=R, tol=0, max_iter=2000).fit(X)
        sk = _sklearn_from(R, n_components=K, tol=0, max_iter=2000).fit(X)
    assert ours.n_iter_ == sk.n_iter_ == 2000
    _compare(ours, sk, 1e-7)
    # and it is a fixed point: one more sweep (E-step, factor update) leaves the factors where they are
    model = ours._model
    q = ours._state(model)
    q2 = model.m_step(e_step(model.natural_params(q), X, model.features), q)
    np.testing.assert_allclose(q2.means, q.means, atol=1e-9)
    np.testing.assert_allclose(q2.covariances, q.covariances, atol=1e-9 * np.abs(q.covariances).max())

# ---------------------------------------------------------------- the ELBO: exact at K = 1, a bound otherwise

@pytest.mark.parametrize("D", [1, 2, 4])
@pytest.mark.parametrize("custom", [False, True])
def test_k1_elbo_is_normal_wishart_evidence(D, custom):
    rng = np.random.default_rng(D)
    X = rng.normal(size=(200, D)) @ rng.normal(size=(D, D)) + rng.normal(size=D) * 3
    if custom:
        A = rng.normal(size=(D, D))
        prior = dict(mean_prior=rng.normal(size=D), mean_precision_prior=0.3, degrees_of_freedom_prior=D + 0.7,
                     covariance_prior=A @ A.T + np.eye(D))
        args = (prior["mean_prior"], 0.3, D + 0.7, prior["covariance_prior"])
    else: prior, args = {}, (X.mean(0), 1., float(D), np.atleast_2d(np.cov(X.T)))
    fit = GaussianMixtureCAVI(1, **prior).fit(X)
    np.testing.assert_allclose(fit.elbo_, nw_log_evidence(X, *args), rtol=1e-8)

@pytest.mark.parametrize("seed", range(3))
def test_elbo_below_exact_evidence(seed):
    "With K = 2 and N = 9 points, log p(X) by summing over all 512 assignments is above elbo_."
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-2, 1, 5), rng.normal(2, 1, 4)])[:, None]
    prior = dict(weight_concentration_prior=0.7, mean_prior=[0.], mean_precision_prior=0.5, degrees_of_freedom_prior=2.,
                 covariance_prior=[[1.]])
    fit = GaussianMixtureCAVI(2, tol=1e-12, max_iter=1000, random_state=seed, **prior).fit(X)
    log_px = mixture_log_evidence(X, 2, 0.7, np.zeros(1), 0.5, 2., np.eye(1))
    assert fit.elbo_ <= log_px
    assert log_px - fit.elbo_ < 5    # a bound, and not a vacuous one

def test_elbo_attribute_is_the_elbo_at_the_returned_factors():
    """elbo_ is the ELBO of the returned factors and the returned responsibilities, computed here by Bishop 10.70-10.77
    (tests/test_cavi_frozen.py's reference, with E[log pi_k] and -KL(q(pi) || p(pi)) put back) from the fitted
    attributes and the default prior (alpha_0 = 1/K, m_0 = mean, beta_0 = 1, nu_0 = D, W_0^-1 = cov(X)); lower_bound_ is it
    per sample. The certificate: objective = ELBO after the global update + KL(q_t(z) || q_t+1(z)), KL >= 0."""
    from test_cavi_frozen import ref_elbo
    X, _ = _rand_data(0)
    fit = GaussianMixtureCAVI(3, random_state=0).fit(X)
    K, D = 3, X.shape[1]
    q = dict(beta=fit.mean_precision_, m=fit.means_, nu=fit.degrees_of_freedom_,
             W=np.linalg.inv(fit.covariances_ * fit.degrees_of_freedom_[:, None, None]))
    prior = (X.mean(0), 1., float(D), np.cov(X.T))
    R, a, a0, w = fit.predict_proba(X), fit.weight_concentration_, 1 / K, np.full(K, 1 / K)
    E_log_pi = digamma(a) - digamma(a.sum())
    kl_pi = gammaln(a.sum()) - gammaln(a).sum() - gammaln(K * a0) + K * gammaln(a0) + ((a - a0) * E_log_pi).sum()
    elbo = ref_elbo(X, R, q, w, prior) + (R * (E_log_pi - np.log(w))).sum() - kl_pi
    np.testing.assert_allclose(fit.elbo_, elbo, rtol=1e-10)
    np.testing.assert_allclose(fit.lower_bound_, elbo / len(X), rtol=1e-10)
    h = fit.history_
    assert (h["kl"] >= -1e-9).all()
    np.testing.assert_allclose(h["objective"], h["elbo_after_globals"] + h["kl"], rtol=1e-9)

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), K=st.integers(1, 5), D=st.integers(1, 4), alpha0=st.floats(1e-3, 10.),
       beta0=st.floats(1e-2, 10.), extra_dof=st.floats(1e-2, 10.), init=st.sampled_from(["kmeans", "random", "k-means++"]))
def test_elbo_never_decreases(seed, K, D, alpha0, beta0, extra_dof, init):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, D)) + rng.integers(0, 3, size=(60, 1)) * 3
    fit = GaussianMixtureCAVI(K, weight_concentration_prior=alpha0, mean_precision_prior=beta0,
                              degrees_of_freedom_prior=D - 1 + extra_dof, init_params=init, tol=0, max_iter=30,
                              random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit.fit(X)
    h = fit.history_["objective"]
    assert (np.diff(h) >= -1e-9 * np.abs(h[1:])).all()

@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), lam0=st.floats(1e-2, 10.), a0=st.floats(1e-2, 10.), b0=st.floats(1e-2, 10.))
def test_normal_gamma_elbo_never_decreases(seed, lam0, a0, b0):
    x = np.random.default_rng(seed).normal(2., 3., size=15)
    ng = NormalGammaCAVI(mean_prior=-1., mean_precision_prior=lam0, shape_prior=a0, rate_prior=b0, tol=0, max_iter=40).fit(x)
    h = ng.history_["objective"]
    assert (np.diff(h) >= -1e-10 * np.abs(h[1:])).all()
    assert ng.elbo_ <= ng.log_evidence_ + 1e-9 * abs(ng.log_evidence_)

# ---------------------------------------------------------------- posterior predictive, sample, API

def test_k1_score_samples_is_exact_predictive():
    "With K = 1, q is exact, so the predictive density is p(X ∪ {x}) / p(X)."
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2)) @ [[1, 0.4], [0, 0.7]]
    fit = GaussianMixtureCAVI(1).fit(X)
    prior = (fit.mean_prior_, 1., 2., fit.covariance_prior_)
    Xnew = rng.normal(size=(5, 2)) * 2
    expected = [nw_log_evidence(np.vstack([X, x]), *prior) - nw_log_evidence(X, *prior) for x in Xnew]
    np.testing.assert_allclose(fit.score_samples(Xnew), expected, rtol=1e-10)

def test_predictive_integrates_to_one_and_sample():
    X, _ = _rand_data(1, N=150, D=1, K=3)
    fit = GaussianMixtureCAVI(3, random_state=0).fit(X)
    t = np.linspace(-60, 60, 200_001)[:, None]
    np.testing.assert_allclose(integrate.trapezoid(np.exp(fit.score_samples(t)), t[:, 0]), 1., atol=1e-3)
    S, labels = fit.sample(20_000)
    assert S.shape == (20_000, 1) and labels.shape == (20_000,)
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 20_000, fit.weights_, atol=0.02)
    np.testing.assert_allclose(np.median(S[labels == 0]), fit.means_[0, 0], atol=0.1)

def test_predict_matches_sklearn_on_faithful():
    """On Old Faithful, both libraries run 300 sweeps (tol=0) from the same random responsibilities with the same prior:
    the same responsibilities (1e-7), labels and weight concentrations; weights_ is the mean of q(pi)."""
    X, _ = load_faithful()
    R0 = np.random.default_rng(0).dirichlet(np.ones(2), len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = GaussianMixtureCAVI(2, resp_init=R0, tol=0, max_iter=300).fit(X)
        sk = _sklearn_from(R0, n_components=2, tol=0, max_iter=300).fit(X)
    np.testing.assert_allclose(fit.predict_proba(X), sk.predict_proba(X), atol=1e-7)
    np.testing.assert_array_equal(fit.predict(X), sk.predict(X))
    np.testing.assert_allclose(fit.weight_concentration_, sk.weight_concentration_, rtol=1e-7)
    assert min(np.bincount(fit.predict(X))) > 50   # two real clusters, not one component taking everything
    np.testing.assert_allclose(fit.weights_, fit.weight_concentration_ / fit.weight_concentration_.sum())

def test_sample_weights_are_repetitions():
    X, _ = _rand_data(2, N=90, D=2, K=3)
    w = np.random.default_rng(0).integers(1, 4, len(X)).astype(float)
    Xr = np.repeat(X, w.astype(int), axis=0)
    R = np.random.default_rng(1).dirichlet(np.ones(3), len(X))
    Rr = np.repeat(R, w.astype(int), axis=0)
    a = GaussianMixtureCAVI(3, resp_init=R, tol=0, max_iter=10, covariance_prior=np.eye(2))
    b = GaussianMixtureCAVI(3, resp_init=Rr, tol=0, max_iter=10, covariance_prior=np.eye(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a.fit(X, sample_weight=w); b.fit(Xr)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-9)
    np.testing.assert_allclose(a.elbo_, b.elbo_, rtol=1e-9)

# ---------------------------------------------------------------- bad input

X_OK = np.random.default_rng(0).normal(size=(30, 2))

@pytest.mark.parametrize("kw,msg", [
    (dict(weight_concentration_prior=0.), "weight_concentration_prior"),
    (dict(weight_concentration_prior=-1.), "weight_concentration_prior"),
    (dict(mean_precision_prior=0.), "mean_precision_prior"),
    (dict(mean_precision_prior=-2.), "mean_precision_prior"),
    (dict(degrees_of_freedom_prior=1.), "degrees_of_freedom_prior"),
    (dict(degrees_of_freedom_prior=0.5), "degrees_of_freedom_prior"),
    (dict(covariance_prior=[[1., 2.], [2., 1.]]), "positive definite"),
    (dict(covariance_prior=[[1., 0.5], [0., 1.]]), "symmetric"),
    (dict(covariance_prior=np.eye(3)), "shape"),
    (dict(mean_prior=[0., 0., 0.]), "mean_prior"),
    (dict(resp_init=np.full((30, 3), 1 / 3)), "shape"),
    (dict(resp_init=np.full((29, 2), 0.5)), "shape"),
    (dict(resp_init=np.tile([1.5, -0.5], (30, 1))), "negative"),
    (dict(resp_init=np.full((30, 2), 0.4)), "sum to 1"),
    (dict(n_components=0), "n_components"),
    (dict(reg_covar=-1.), "reg_covar"),
])
def test_bad_hyperparameters(kw, msg):
    kw = dict(n_components=2) | kw
    with pytest.raises(ValueError, match=msg):
        GaussianMixtureCAVI(**kw).fit(X_OK)

def test_bad_data():
    with pytest.raises(ValueError, match="NaN"): GaussianMixtureCAVI(2).fit(np.array([[1., np.nan]] * 5))
    with pytest.raises(ValueError, match="2-D"): GaussianMixtureCAVI(2).fit(np.arange(5.))
    with pytest.raises(ValueError, match="fewer"): GaussianMixtureCAVI(4).fit(X_OK[:3])
    with pytest.raises(ValueError, match="constant"): GaussianMixtureCAVI(2).fit(np.ones((10, 2)))
    with pytest.raises(ValueError, match="not fitted"): GaussianMixtureCAVI(2).score_samples(X_OK)

@pytest.mark.parametrize("kw,msg", [(dict(mean_precision_prior=0.), "mean_precision_prior"),
                                    (dict(shape_prior=-1.), "shape_prior"), (dict(rate_prior=0.), "rate_prior"),
                                    (dict(mean_prior=np.nan), "mean_prior")])
def test_normal_gamma_bad_input(kw, msg):
    with pytest.raises(ValueError, match=msg): NormalGammaCAVI(**kw).fit([1., 2.])

def test_normal_gamma_bad_data():
    with pytest.raises(ValueError, match="NaN"): NormalGammaCAVI().fit([1., np.nan])
    with pytest.raises(ValueError, match="1-D"): NormalGammaCAVI().fit(np.ones((3, 2)))

def test_objective_recorded_as_named_terms():
    "The loop records each term of the objective by the model's names: CAVI's local part and each factor's -KL (a KL is"
    "never negative; known weights have no q(pi)), EM's log-likelihood and a zero log prior. That they add up to the"
    "objective is an identity of the loop (it sums them), checked here only so that no term goes missing."
    import warnings
    from emtheory.em import GaussianMixtureEM
    from emtheory.datasets import load_faithful
    X, _ = load_faithful()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = GaussianMixtureCAVI(2, random_state=0, max_iter=20).fit(X)
        k = GaussianMixtureCAVI(2, random_state=0, max_iter=20, frozen=("weights",), weights_init=[.4, .6]).fit(X)
        e = GaussianMixtureEM(2, random_state=0, max_iter=20).fit(X)
    h = c.history_
    assert {"local", "neg_kl_weights", "neg_kl_means_precisions"} <= set(h) and "log_likelihood" not in h
    np.testing.assert_allclose(h["local"] + h["neg_kl_weights"] + h["neg_kl_means_precisions"], h["objective"], rtol=1e-13)
    assert (h["neg_kl_weights"] < 0).all() and (h["neg_kl_means_precisions"] < 0).all()
    assert (k.history_["neg_kl_weights"] == 0).all()
    assert (e.history_["log_prior"] == 0).all()
    np.testing.assert_allclose(e.history_["log_likelihood"], e.history_["objective"], rtol=0)

def test_failed_refit_leaves_the_prior_as_used():
    "A refit refused for a bad covariance_prior keeps every fitted attribute, the priors as used included (it replaced them)."
    from emtheory.datasets import load_faithful
    X, _ = load_faithful()
    est = GaussianMixtureCAVI(2, random_state=0).fit(X)
    before = {k: np.copy(getattr(est, k)) for k in ("weight_concentration_prior_", "mean_precision_prior_",
                                                     "degrees_of_freedom_prior_", "mean_prior_", "covariance_prior_", "means_")}
    est.set_params(weight_concentration_prior=0.5, mean_precision_prior=3., covariance_prior=np.eye(3))
    with pytest.raises(ValueError, match="covariance_prior must have shape"): est.fit(X)
    for k, v in before.items(): np.testing.assert_array_equal(getattr(est, k), v, err_msg=k)
    assert "elbo_after_globals" in est.history_ and "elbo" not in est.history_   # the model names its terms

def test_hc_start_is_mclusts_classes():
    "init_params='hc': the factors start from mclust's hierarchical classes, as resp_init = those one-hot classes does."
    import warnings
    from emtheory.hc import hc_resp
    from emtheory.datasets import load_faithful
    X, _ = load_faithful()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tol=0, 3 sweeps: on purpose
        a = GaussianMixtureCAVI(3, init_params="hc", tol=0, max_iter=3).fit(X)
        b = GaussianMixtureCAVI(3, resp_init=hc_resp(X, 3), tol=0, max_iter=3).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.elbo_ == b.elbo_
