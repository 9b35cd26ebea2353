"""emtheory.glmm against its peer and its own exact answer.

- Quadrature (AGHQ, 25 nodes, maximised by BFGS) equals R lme4's glmer(nAGQ = 25) on cbpp (binomial) and grouseticks
  (Poisson, 18 single-chick broods): full log-likelihood to 1e-6 relative (lme4's logLik + the saturated model's
  log-likelihood = R's independent integration, tests/fixtures/lme4_glmm.txt), parameters within the tolerance the
  quadratic approximation derives: two points within delta nats of the maximum are within 2 sqrt(2 delta) se_k.
- MCEM (Metropolis and importance E-steps, Caffo-Jank-Jones stopping) and SAEM reach the quadrature estimate within
  3 of their reported Monte Carlo standard errors (fixed seeds), and those errors are small against the statistical ones.
- Bad input: one ValueError each.
"""
from pathlib import Path
import warnings
import numpy as np
import pytest
from scipy import stats
from emtheory.glmm import (RandomInterceptGLMM, glmm_data, load_cbpp, load_grouseticks, marginal_loglik,
                           observed_information)

FIXTURE = Path(__file__).parent / "fixtures" / "lme4_glmm.txt"

def read_lme4(path=FIXTURE):
    out, cur = {}, None
    for line in path.read_text().splitlines():
        k, *v = line.split()
        if k == "model": cur = out.setdefault(v[0], {}); continue
        if cur is None or not v or k in ("coef_names", "optimizer_messages"): continue
        cur[k] = np.array(v, dtype=float) if len(v) > 1 else float(v[0])
    return out

LME4 = read_lme4()

def cbpp():
    X, y, herd, size = load_cbpp()
    return dict(X=X, y=y, groups=herd, trials=size)

def grouse():
    X, y, brood = load_grouseticks()
    return dict(X=X, y=y, groups=brood)

CASES = [("cbpp_binomial", "binomial", cbpp), ("grouseticks_poisson", "poisson", grouse)]

@pytest.fixture(scope="module")
def quad():
    return {name: RandomInterceptGLMM(fam, "quadrature").fit(**data()) for name, fam, data in CASES}

@pytest.mark.parametrize("name,family,data", CASES)
def test_full_loglik_equals_lme4(quad, name, family, data):
    L, est = LME4[name], quad[name]
    assert abs(est.log_likelihood_ - L["full_loglik_integrate"]) <= 1e-6 * abs(L["full_loglik_integrate"])
    D = data()
    sat = (stats.binom.logpmf(D["y"], D["trials"], D["y"] / D["trials"]).sum() if family == "binomial"
           else stats.poisson.logpmf(D["y"], D["y"]).sum())
    assert sat == pytest.approx(L["saturated_loglik"], rel=1e-12)
    # lme4's logLik (nAGQ > 1) is on the deviance scale: full log-likelihood minus the saturated model's
    assert L["logLik"] + sat == pytest.approx(L["full_loglik_integrate"], rel=1e-6)
    assert est.log_likelihood_ == pytest.approx(L["logLik"] + sat, rel=1e-6)

@pytest.mark.parametrize("name,family,data", CASES)
def test_parameters_equal_lme4_within_derived_tolerance(quad, name, family, data):
    L, est = LME4[name], quad[name]
    d = glmm_data(family=family, **data())
    delta = 1e-6 * abs(est.log_likelihood_)
    assert est.log_likelihood_ - marginal_loglik(d, L["coef"], L["sigma"]) <= delta
    ours = np.r_[est.intercept_, est.coef_, est.sigma_]
    se = np.sqrt(np.diag(np.linalg.inv(observed_information(d, ours[:-1], ours[-1]))))
    assert (np.abs(ours - np.append(L["coef"], L["sigma"])) <= 2 * np.sqrt(2 * delta) * se).all()
    np.testing.assert_allclose(est.std_errors_, se, rtol=1e-6)
    np.testing.assert_allclose(est.std_errors_[:-1], L["se"], rtol=1e-4)   # lme4: a finite-difference Hessian

def test_singleton_groups_are_kept():
    _, counts = np.unique(load_grouseticks()[2], return_counts=True)
    assert (counts == 1).sum() == 18   # and the grouseticks fit above equals lme4's, which keeps them too

MC = [dict(method="mcem", sampler="metropolis"), dict(method="mcem", sampler="importance"), dict(method="saem")]

@pytest.mark.parametrize("kw", MC, ids=lambda kw: kw.get("sampler", "saem") if kw["method"] == "mcem" else "saem")
def test_monte_carlo_reaches_quadrature_within_its_error(quad, kw):
    exact = quad["cbpp_binomial"]
    est = RandomInterceptGLMM("binomial", random_state=0, **kw).fit(**cbpp())
    assert est.converged_
    diff = np.r_[est.intercept_, est.coef_, est.sigma_] - np.r_[exact.intercept_, exact.coef_, exact.sigma_]
    assert (np.abs(diff) <= 3 * est.mc_errors_).all(), diff / est.mc_errors_
    assert (est.mc_errors_ > 0).all() and (est.mc_errors_ < 0.05 * exact.std_errors_).all()
    assert 0 <= exact.log_likelihood_ - est.log_likelihood_ < 0.01

def test_poisson_mcem_on_simulated_groups():
    rng = np.random.default_rng(3)
    m, n = 40, 6
    g = np.repeat(np.arange(m), n)
    x = rng.normal(size=(m * n, 1))
    y = rng.poisson(np.exp(0.3 + 0.5 * x[:, 0] + rng.normal(0, 0.7, m)[g]))
    exact = RandomInterceptGLMM("poisson").fit(x, y, g)
    est = RandomInterceptGLMM("poisson", "mcem", sampler="importance", random_state=1).fit(x, y, g)
    diff = np.r_[est.intercept_, est.coef_, est.sigma_] - np.r_[exact.intercept_, exact.coef_, exact.sigma_]
    assert (np.abs(diff) <= 3 * est.mc_errors_).all(), diff / est.mc_errors_

def test_params_protocol():
    e = RandomInterceptGLMM("binomial", "saem", n_chains=5)
    assert e.get_params()["n_chains"] == 5 and e.set_params(n_iter=20) is e and e.n_iter == 20
    assert repr(e) == "RandomInterceptGLMM(family='binomial', method='saem', n_chains=5, n_iter=20)"

def test_bad_input():
    G, B = grouse(), cbpp()
    P, Bn = RandomInterceptGLMM("poisson"), RandomInterceptGLMM("binomial")
    bad = [
        (lambda: P.fit(G["X"], G["y"] - 0.5, G["groups"]), "non-negative integer counts"),
        (lambda: P.fit(G["X"], -G["y"], G["groups"]), "non-negative integer counts"),
        (lambda: P.fit(G["X"], G["y"][:-1], G["groups"]), "one entry per row of X"),
        (lambda: P.fit(G["X"], G["y"], G["groups"][:-1]), "one label per row of X"),
        (lambda: P.fit(G["X"][:-1], G["y"], G["groups"]), "one entry per row of X"),
        (lambda: P.fit(G["X"], G["y"], G["groups"], trials=np.ones(403)), "only for family='binomial'"),
        (lambda: P.fit(G["X"], G["y"], np.zeros(403)), "at least 2 groups"),
        (lambda: Bn.fit(B["X"], B["y"], B["groups"]), "needs trials"),
        (lambda: Bn.fit(B["X"], B["trials"] + 1, B["groups"], B["trials"]), "y > trials"),
        (lambda: Bn.fit(B["X"], B["y"], B["groups"], B["trials"][:-1]), "one entry per row of X"),
        (lambda: Bn.fit(B["X"], (B["y"] > 0) * 1., np.arange(56), np.ones(56)), "sigma is not identified"),
        (lambda: RandomInterceptGLMM("gamma").fit(G["X"], G["y"], G["groups"]), "family must be"),
        (lambda: RandomInterceptGLMM(method="laplace").fit(G["X"], G["y"], G["groups"]), "method must be"),
        (lambda: RandomInterceptGLMM(sampler="gibbs").fit(G["X"], G["y"], G["groups"]), "sampler must be"),
        (lambda: RandomInterceptGLMM(n_nodes=0).fit(G["X"], G["y"], G["groups"]), "n_nodes must be an integer"),
        (lambda: P.fit(np.c_[G["X"], G["X"][:, :1]], G["y"], G["groups"]), "rank deficient"),
        (lambda: P.fit(np.where(np.arange(403)[:, None] == 7, np.nan, G["X"]), G["y"], G["groups"]), "NaN"),
    ]
    for f, msg in bad:
        with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")): f()

def test_singletons_with_counts_accepted_and_bernoulli_with_groups_accepted():
    B = cbpp()
    # every group a single binomial count with several trials: overdispersion identifies sigma
    est = RandomInterceptGLMM("binomial").fit(B["X"], B["y"], np.arange(56), B["trials"])
    assert np.isfinite(est.log_likelihood_) and est.sigma_ > 0

def test_no_intercept_column_needed_and_empty_design():
    G = grouse()
    est = RandomInterceptGLMM("poisson").fit(np.empty((403, 0)), G["y"], G["groups"])
    assert est.coef_.shape == (0,) and est.n_features_in_ == 0 and np.isfinite(est.log_likelihood_)

def test_score_is_the_full_loglik_and_needs_fit(quad):
    from emtheory.core import NotFittedError
    est = quad["cbpp_binomial"]
    assert est.score(**cbpp()) == pytest.approx(LME4["cbpp_binomial"]["full_loglik_integrate"], rel=1e-9)
    with pytest.raises(NotFittedError, match="not fitted"): RandomInterceptGLMM("binomial").score(**cbpp())
