"MAP-EM for mclust's EII, EEI, VEI, EVI, EEV, VEV against R's mclust 6.0.0 me(..., prior = priorControl()) (fixtures written by tests/fixtures/mclust_map_models.R): defaults, log-likelihoods, parameters, monotone log posterior; VEE, EVE, VVE, EVV refused."
import warnings
from dataclasses import replace
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from emtheory.core import stats_from_resp, ConvergenceWarning
from test_covariance_models import _free_sigma   # Sigma from free parameters, the one parametrisation both files maximise over
from emtheory.covariance import covariance_form
from emtheory.datasets import load_faithful
from emtheory.em import GaussianParams
from emtheory.gaussian import moments, precision_cholesky
from emtheory.map_em import (PRIOR_MODELS, NO_PRIOR_MODELS, GaussianMAP, GaussianMixtureMAP, resolve_prior,
                             default_covariance_prior, map_init)

FIX = Path(__file__).parent / "fixtures"
DATA = dict(faithful=load_faithful()[0], iris=pd.read_csv(FIX / "mclust_iris.csv").to_numpy())
STARTS = pd.read_csv(FIX / "mclust_models_start.csv", comment="#")
ME = pd.read_csv(FIX / "mclust_map_models_me.csv", comment="#")
PAR = pd.read_csv(FIX / "mclust_map_models_params.csv", comment="#")
MEAN_SHRUNK = [m for m in PRIOR_MODELS if m != "EEI"]   # mclust's EEI leaves its means unshrunk (tested apart)
CLOSED = ("EII", "EEI", "EVI", "EEV")

def hc_start(name, G):
    "mclust's start, the one-hot classes of hclass(hc(X), G) (committed by tests/fixtures/mclust_models.R)."
    s = STARTS[(STARTS.data == name) & (STARTS.G == G)].sort_values("row")
    return np.eye(G)[s["class"].to_numpy() - 1]

def mclust_fit(name, model, G):
    "mclust's row of the me() table and its final pro (G,), means (G, d), sigma (G, d, d)."
    r = ME.query("data == @name and model == @model and G == @G").iloc[0]
    g = PAR[(PAR.data == name) & (PAR.model == model) & (PAR.G == G)]
    d = DATA[name].shape[1]
    pro = g[g.what == "pro"].sort_values("k").value.to_numpy()
    mu = np.zeros((G, d)); m = g[g.what == "mean"]; mu[m.k - 1, m.i - 1] = m.value
    S = np.zeros((G, d, d)); s = g[g.what == "sigma"]; S[s.k - 1, s.i - 1, s.j - 1] = s.value
    return r, pro, mu, S

def as_full(S, D):
    return S[:, None, None] * np.eye(D) if S.ndim == 1 else np.stack([np.diag(s) for s in S]) if S.ndim == 2 else S

def loglik(X, pro, mu, S):
    "log p(X | theta) by scipy, for parameters given as (G,), (G, d), (G, d, d)."
    return float(logsumexp(np.stack([np.log(pro[k]) + multivariate_normal.logpdf(X, mu[k], S[k]) for k in range(len(pro))], 1), 1).sum())

def fit(name, model, G, cls=GaussianMixtureMAP, **kw):
    "The MAP fit from mclust's start: one M-step of the estimator's own model from z, then its loop (me() starts so)."
    X = DATA[name]
    est = cls(G, covariance_type=model, **kw)
    if cls is GaussianMixtureMAP: init = map_init(X, hc_start(name, G), model)
    else:   # a variant: its own first M-step
        est._validate(X)
        mod = est._make_model(X, None)
        th = mod.m_step(stats_from_resp(mod, X, hc_start(name, G)))
        prec = np.linalg.inv(th.covariances) if mod.covariance_type == "full" else 1 / th.covariances
        init = dict(weights_init=th.weights, means_init=th.means + mod.center, precisions_init=prec)
    return est.set_params(**init).fit(X)

# ---------------------------------------------------------------- the prior's hyperparameters

@pytest.mark.parametrize("model", PRIOR_MODELS)
def test_defaults_equal_mclust_defaultprior(model):
    "kappa_0, nu_0, mu_0 and the scale are defaultPrior's (a number for EII ... EVI, cov/K^(2/D) for EEV, VEV); EII's fit uses 0."
    for name, X in DATA.items():
        for G in (2, 3):
            r = ME.query("data == @name and model == @model and G == @G").iloc[0]
            g = PAR[(PAR.data == name) & (PAR.model == model) & (PAR.G == G)]
            pr = resolve_prior(X, None, G, model)
            assert (pr.kappa, pr.dof, pr.alpha) == (r.shrinkage, r.dof, 1.)
            np.testing.assert_allclose(pr.mean, g[g.what == "pmean"].sort_values("i").value, rtol=1e-14)
            ps = g[g.what == "pscale"]
            theirs = ps.value.iloc[0] if len(ps) == 1 else ps.sort_values(["i", "j"]).value.to_numpy().reshape(X.shape[1], -1)
            np.testing.assert_allclose(default_covariance_prior(X, None, G, model), theirs, rtol=1e-12)
            if model == "EII": assert pr.scale == 0.   # meeiip never reads it (below: it would change the fit)
            else: np.testing.assert_allclose(pr.scale, theirs, rtol=1e-12)

def test_eii_fit_ignores_mclust_scale():
    "mclust's EII fit is that of psi = 0: with defaultPrior's psi added (as VII adds it) the log-likelihood moves by > 1e-6."
    for name, X in DATA.items():
        for G in (2, 3):
            r = ME.query("data == @name and model == 'EII' and G == @G").iloc[0]
            psi = default_covariance_prior(X, None, G, "EII")
            est = fit(name, "EII", G, covariance_prior=psi, tol=1e-14, max_iter=10000)
            assert abs(est.score(X) * len(X) - r.loglik) > 1e-6 * abs(r.loglik)

# ---------------------------------------------------------------- against mclust's me()

@pytest.mark.parametrize("model", MEAN_SHRUNK)
def test_loglik_equals_mclust(model):
    "Run to convergence from mclust's start: log-likelihood within 1e-6 relative of mclust's me(tol = 1e-10), no warning."
    for name, X in DATA.items():
        for G in (2, 3):
            r = mclust_fit(name, model, G)[0]
            with warnings.catch_warnings():
                warnings.simplefilter("error")   # the monotonicity guard and the convergence warning
                est = fit(name, model, G, tol=1e-14, max_iter=10000)
            ll = est.score(X) * len(X)
            assert abs(ll - r.loglik) <= 1e-6 * abs(r.loglik), (name, G, ll, r.loglik)
            assert est.history_["log_likelihood"][-1] == pytest.approx(ll, rel=1e-12)

@pytest.mark.parametrize("model", MEAN_SHRUNK)
def test_parameters_equal_mclust_at_its_iteration(model):
    """mclust's iterate: its me() made `iterations` M-steps; map_init is the first, so max_iter = iterations - 1.
    Tolerances: EII, EVI, EEV compute mclust's closed forms from the same statistics, so only rounding differs, carried
    through the iterations: 1e-10. VEI and VEV stop their inner block iterations when f rises by < 1e-12 relative; f is
    quadratic at its maximum, so the inner parameters sit within sqrt(1e-12) = 1e-6 (relative) of it: 1e-6."""
    rtol = 1e-10 if model in CLOSED else 1e-6
    for name, X in DATA.items():
        for G in (2, 3):
            r, pro, mu, S = mclust_fit(name, model, G)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)   # tol = 0 stops at max_iter: "did not converge"
                est = fit(name, model, G, tol=0, max_iter=int(r.iterations) - 1)
            assert est.n_iter_ == r.iterations - 1
            np.testing.assert_allclose(est.weights_, pro, rtol=0, atol=rtol)
            np.testing.assert_allclose(est.means_, mu, rtol=0, atol=rtol * np.abs(mu).max())
            np.testing.assert_allclose(as_full(est.covariances_, X.shape[1]), S, rtol=0, atol=rtol * np.abs(S).max())
            assert abs(est.score(X) * len(X) - r.loglik) <= 1e-6 * abs(r.loglik)

def test_iris_vev_2():
    "On iris mclust's BIC picks VEV with K = 2 (without a prior); with its prior, one shape A, two volumes and orientations here too."
    est = fit("iris", "VEV", 2, tol=1e-14, max_iter=10000)
    ev = np.linalg.eigvalsh(est.covariances_)
    shape = ev / np.exp(np.log(ev).mean(1, keepdims=True))
    np.testing.assert_allclose(shape[0], shape[1], rtol=1e-10)
    assert abs(np.log(ev).mean(1)[0] - np.log(ev).mean(1)[1]) > 0.1

# ---------------------------------------------------------------- EEI: mclust does not shrink its means

class _UnshrunkEEIModel(GaussianMAP):
    "mclust's meeeip: the MAP covariance, but the means left at the data means (not a posterior mode)."
    def m_step(self, stats, old=None):
        th = super().m_step(stats, old)
        return replace(th, means=moments(stats.T, self.D, self.covariance_type, stats.local)[1])

class _MclustEEI(GaussianMixtureMAP):
    def _make_model(self, X, w):
        m = super()._make_model(X, w)
        m.__class__, m.monotone = _UnshrunkEEIModel, False   # no objective rises under it: nothing to guard
        return m

def test_eei_with_mclust_unshrunk_means_equals_mclust():
    "With the one departure put back (means = the data means), emtheory's EEI is mclust's: loglik 1e-6, and its iterate to 1e-10."
    for name, X in DATA.items():
        for G in (2, 3):
            r, pro, mu, S = mclust_fit(name, "EEI", G)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est = fit(name, "EEI", G, cls=_MclustEEI, tol=0, max_iter=int(r.iterations) - 1)
            np.testing.assert_allclose(est.weights_, pro, rtol=0, atol=1e-10)
            np.testing.assert_allclose(est.means_, mu, rtol=0, atol=1e-10 * np.abs(mu).max())
            np.testing.assert_allclose(as_full(est.covariances_, X.shape[1]), S, rtol=0, atol=1e-10 * np.abs(S).max())
            assert abs(est.score(X) * len(X) - r.loglik) <= 1e-6 * abs(r.loglik)

def test_eei_posterior_mode_beats_mclust():
    """emtheory's EEI (shrunk means: the posterior mode) has a higher log posterior than mclust's fit evaluated in the same
    objective; the log-likelihoods differ by < 2e-5 relative (1.1e-5 on iris, K = 3)."""
    for name, X in DATA.items():
        for G in (2, 3):
            r, pro, mu, S = mclust_fit(name, "EEI", G)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                est = fit(name, "EEI", G, tol=1e-14, max_iter=10000)
            model = est._model
            covs = np.einsum('kaa->ka', S)
            theirs = GaussianParams(pro, mu - model.center, covs, precision_cholesky(covs, "diag"))
            assert loglik(X, pro, mu, S) == pytest.approx(r.loglik, rel=1e-9)   # mclust's loglik is at these parameters
            their_obj = r.loglik + model.log_prior(theirs)
            ours = est.history_["objective"][-1]
            assert ours > their_obj, (name, G, ours, their_obj)
            assert abs(est.score(X) * len(X) - r.loglik) < 2e-5 * abs(r.loglik)

# ---------------------------------------------------------------- the M-step is the posterior mode


@pytest.mark.parametrize("model", PRIOR_MODELS)
def test_mstep_maximises_q_plus_log_prior(model):
    "BFGS over the means and the model's free covariance parameters finds nothing above the M-step's Q + log p, and reaches it."
    X = DATA["faithful"]
    X = (X - X.mean(0)) / X.std(0)   # any data will do; unit scale suits BFGS
    K, D = 3, 2
    rng = np.random.default_rng(1)
    R = rng.dirichlet(np.ones(K), size=len(X))
    est = GaussianMixtureMAP(K, covariance_type=model, covariance_prior=None)
    est._validate(X)
    mod = est._make_model(X, None)
    th = mod.m_step(stats_from_resp(mod, X, R))
    lay = covariance_form(model)
    Nk, M1, M2 = R.sum(0), R.T @ X, np.einsum('ik,ia,ib->kab', R, X, X)
    def objective(mu, S):   # Q's Gaussian part, sum_ik r_ik log N(x_i | mu_k, Sigma_k) (the weights are fixed), + log p(theta)
        Smu = M2 - np.einsum('ka,kb->kab', M1, mu) - np.einsum('ka,kb->kab', mu, M1) + Nk[:, None, None] * np.einsum('ka,kb->kab', mu, mu)
        q = -0.5 * (Nk * (D * np.log(2 * np.pi) + np.linalg.slogdet(S)[1]) + np.einsum('kaa->k', np.linalg.solve(S, Smu))).sum()
        covs = S[:, 0, 0] if lay == "spherical" else np.einsum('kaa->ka', S) if lay == "diag" else S
        return q + mod.log_prior(GaussianParams(th.weights, mu - mod.center, covs, None))
    ours = objective(th.means + mod.center, as_full(th.covariances, D))
    cnt = lambda x, per: {"E": 1, "V": K, "I": 0}[x] * per
    n = cnt(model[0], 1) + cnt(model[1], D) + cnt(model[2], D * (D - 1) // 2)
    neg = lambda t: -objective(t[:K * D].reshape(K, D), _free_sigma(model, t[K * D:], K, D))
    found = max(-minimize(neg, np.r_[rng.normal(scale=.5, size=K * D), rng.normal(scale=.5, size=n)], method="BFGS").fun
                for _ in range(3))
    assert ours - 1e-6 * abs(ours) <= found <= ours + 1e-8 * abs(ours)

# ---------------------------------------------------------------- monotone log posterior

@pytest.mark.parametrize("model", PRIOR_MODELS)
def test_log_posterior_never_decreases(model):
    "From mclust's start and from three k-means starts, on faithful and iris: no decrease (the guard, as an error), certificate to 1e-8."
    for name, X in DATA.items():
        runs = [lambda: fit(name, model, 3, tol=1e-12, max_iter=3000)]
        runs += [lambda s=s: GaussianMixtureMAP(3, covariance_type=model, tol=1e-12, max_iter=3000, random_state=s).fit(X)
                 for s in range(3)]
        for run in runs:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)   # "The objective decreased ..."
                est = run()
            h = est.history_
            assert (np.diff(h["objective"]) >= -1e-9 * abs(h["objective"][-1])).all()
            assert np.abs(h["residual"]).max() < 1e-8 * abs(h["objective"][-1])
            np.testing.assert_allclose(h["objective"] - h["log_likelihood"], h["log_prior"], rtol=1e-12)

@pytest.mark.parametrize("model", PRIOR_MODELS)
def test_missing_values_and_degenerate_data(model):
    """Entries missing at random (the prior's scale from the pairwise covariance): monotone and certified. Four distinct
    points, each 25 times, six components: finite positive covariances where EM without a prior stops."""
    X = DATA["faithful"].copy()
    rng = np.random.default_rng(0)
    X[rng.choice(len(X), 30, replace=False), rng.integers(0, 2, 30)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        est = GaussianMixtureMAP(2, covariance_type=model, missing="marginalize", tol=1e-10, max_iter=3000,
                                 random_state=0).fit(X)
    h = est.history_["objective"]
    assert (np.diff(h) >= -1e-9 * abs(h[-1])).all() and np.abs(est.history_["residual"]).max() < 1e-8 * abs(h[-1])
    Xd = np.repeat(np.array([[0., 0.], [1., 0.], [0., 1.], [1., 1.]]), 25, axis=0)
    gd = GaussianMixtureMAP(6, covariance_type=model, random_state=0).fit(Xd)
    ev = np.linalg.eigvalsh(as_full(gd.covariances_, 2))
    assert np.isfinite(gd.history_["objective"]).all() and (ev > 0).all()

# ---------------------------------------------------------------- input

@pytest.mark.parametrize("model", NO_PRIOR_MODELS)
def test_models_without_a_prior_are_refused(model):
    "VEE, EVE, VVE, EVV: one line, saying mclust has no prior for them and naming EM with reg_covar and the models with one."
    with pytest.raises(ValueError) as e:
        GaussianMixtureMAP(2, covariance_type=model).fit(DATA["faithful"])
    msg = str(e.value)
    assert "\n" not in msg and f"mclust defines no conjugate prior for covariance_type '{model}'" in msg
    assert f"GaussianMixtureEM(covariance_type='{model}', reg_covar=...)" in msg and "EEV, VEV" in msg

def test_covariance_prior_shapes():
    "A number for EII, EEI, VEI, EVI (EII may be 0), a (D, D) matrix for EEV and VEV; anything else is one clear line."
    X = DATA["faithful"]
    for m, good in (("EVI", 2.), ("EII", 0.), ("VEV", np.eye(2)), ("EEV", np.eye(2))):
        assert GaussianMixtureMAP(2, covariance_type=m, covariance_prior=good, random_state=0).fit(X).covariance_prior_.shape == np.shape(good)
    for m, bad, msg in (("VEI", np.ones(2), r"must have shape \(\)"), ("EEV", 1., r"must have shape \(2, 2\)"),
                        ("EII", -1., "must be >= 0"), ("EEI", 0., "must be positive")):
        with pytest.raises(ValueError, match=msg):
            GaussianMixtureMAP(2, covariance_type=m, covariance_prior=bad).fit(X)
