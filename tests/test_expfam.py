"""Exponential-family mixtures: sympy ties of each family, scipy.stats densities, equality with GaussianMixtureEM(diag),
R flexmix's fixture, weights as repetitions, support errors, and the certificate."""
import warnings
from pathlib import Path
import numpy as np
import pytest
import scipy.stats as sst
import sympy as sp
from scipy.special import logsumexp
from hypothesis import given, settings, strategies as st

from emtheory.core import ConvergenceWarning, e_step
from emtheory.datasets import load_faithful
from emtheory.em import GaussianMixtureEM
from emtheory.expfam import (Bernoulli, Poisson, Exponential, Categorical, DiagonalGaussian, ExpFamily, ExpFamilyEM,
                             ExpFamilyParams, ExpFamilyMixtureEM, ExpFamilyMixtureMAP, BetaPrior, GammaRatePrior,
                             DirichletPrior, get_family, load_biochemists, TINY)

FIXTURE = Path(__file__).parent / "fixtures" / "flexmix_biochemists.txt"
pytestmark = pytest.mark.filterwarnings("ignore::emtheory.core.ConvergenceWarning")   # tol=0 runs stop at max_iter

eta = sp.Symbol('eta', real=True)
SCALAR = {   # family, log-partition A(eta), range of natural parameters
    "bernoulli": (Bernoulli(), sp.log(1 + sp.exp(eta)), (-8, 8)),
    "poisson": (Poisson(), sp.exp(eta), (-4, 4)),
    "exponential": (Exponential(), -sp.log(-eta), (-5, -0.1)),
}


# ---------------------------------------------------------------- sympy ties
@pytest.mark.parametrize("name", list(SCALAR))
def test_log_partition_and_natural_map_are_sympys(name):
    fam, A, (lo, hi) = SCALAR[name]
    e = np.random.default_rng(3).uniform(lo, hi, size=(4, 5))
    np.testing.assert_allclose(fam.log_partition(e), sp.lambdify(eta, A, 'numpy')(e).sum(1), rtol=1e-12)
    mean = sp.lambdify(eta, sp.diff(A, eta), 'numpy')(e)           # grad A: natural -> mean
    np.testing.assert_allclose(fam.natural(mean), e, rtol=1e-9, atol=1e-9)


def test_gaussian_log_partition_and_natural_map_are_sympys():
    n1, n2 = sp.symbols('eta_1 eta_2', real=True)
    A = -n1**2 / (4 * n2) - sp.log(-2 * n2) / 2
    rng = np.random.default_rng(4)
    e1, e2 = rng.normal(size=(3, 4)), -rng.uniform(.1, 3, size=(3, 4))
    eta_ = np.hstack([e1, e2])
    np.testing.assert_allclose(DiagonalGaussian().log_partition(eta_), sp.lambdify((n1, n2), A)(e1, e2).sum(1), rtol=1e-12)
    g = sp.lambdify((n1, n2), [sp.diff(A, n1), sp.diff(A, n2)])(e1, e2)
    np.testing.assert_allclose(DiagonalGaussian().natural(np.hstack(g)), eta_, rtol=1e-9)


def test_categorical_log_partition_is_logsumexp_per_column():
    fam = Categorical((3, 4))
    e = np.random.default_rng(5).normal(size=(2, 7))
    np.testing.assert_allclose(fam.log_partition(e), logsumexp(e[:, :3], 1) + logsumexp(e[:, 3:], 1), rtol=1e-12)
    mu = np.exp(e[:, :3] - logsumexp(e[:, :3], 1, keepdims=True))     # softmax = grad A
    np.testing.assert_allclose(np.exp(Categorical((3,)).natural(mu)), mu, rtol=1e-12)


def test_edge_means_give_finite_natural_parameters():
    assert np.isfinite(Bernoulli().natural(np.array([[0., 1.]]))).all()
    assert np.isfinite(Poisson().natural(np.array([[0.]]))).all()
    np.testing.assert_allclose(Bernoulli().log_partition(Bernoulli().natural(np.array([[0.]]))), [TINY], rtol=1e-6)


# ---------------------------------------------------------------- densities
def _data(rng):
    return dict(bernoulli=rng.integers(0, 2, (80, 5)).astype(float), poisson=rng.poisson(4., (80, 3)).astype(float),
                exponential=rng.exponential(1.5, (80, 3)), categorical=rng.integers(0, 4, (80, 3)).astype(float),
                gaussian=rng.normal(2., 1.5, (80, 2)))


def _component_logpdf(name, fam, m, X):
    if name == "bernoulli": return sst.bernoulli.logpmf(X, m).sum(1)
    if name == "poisson": return sst.poisson.logpmf(X, m).sum(1)
    if name == "exponential": return sst.expon.logpdf(X, scale=m).sum(1)
    if name == "gaussian":
        D = X.shape[1]
        return sst.norm.logpdf(X, m[:D], np.sqrt(m[D:] - m[:D]**2)).sum(1)
    off = np.concatenate([[0], np.cumsum(fam.n_categories)])
    return sum(sst.multinomial.logpmf(np.eye(c)[X[:, d].astype(int)], 1, m[off[d]:off[d + 1]])
               for d, c in enumerate(fam.n_categories))


@pytest.mark.parametrize("name", ["bernoulli", "poisson", "exponential", "categorical", "gaussian"])
def test_score_samples_is_the_scipy_mixture_density(name):
    X = _data(np.random.default_rng(6))[name]
    f = ExpFamilyMixtureEM(3, family=name, tol=0, max_iter=10, random_state=0).fit(X)
    lp = np.stack([np.log(f.weights_[k]) + _component_logpdf(name, f.family_, f.means_[k], X) for k in range(3)], 1)
    np.testing.assert_allclose(f.score_samples(X), logsumexp(lp, 1), rtol=1e-10)
    np.testing.assert_allclose(f.predict_proba(X), np.exp(lp - logsumexp(lp, 1, keepdims=True)), atol=1e-10)
    # the objective after the last iteration is the log-likelihood of the fitted parameters
    np.testing.assert_allclose(f.history_['log_likelihood'][-1], logsumexp(lp, 1).sum(), rtol=1e-10)


@pytest.mark.parametrize("name", ["bernoulli", "poisson", "exponential", "categorical"])
def test_m_step_is_moment_matching(name):
    rng = np.random.default_rng(7)
    X = _data(rng)[name]
    fam = get_family(name).prepare(X)
    model = ExpFamilyEM(fam)
    R = rng.dirichlet(np.ones(4), size=len(X))
    w = rng.uniform(0, 2, size=len(X))
    from emtheory.core import stats_from_resp
    p = model.m_step(stats_from_resp(model, X, R, w), None)
    Rw = R * w[:, None]
    np.testing.assert_allclose(p.weights, Rw.sum(0) / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(p.means, Rw.T @ fam.statistic(X) / Rw.sum(0)[:, None], rtol=1e-12)


# ---------------------------------------------------------------- diagonal Gaussian = GaussianMixtureEM(diag)
@pytest.mark.parametrize("n_iter", [1, 25])
def test_diagonal_gaussian_equals_gaussian_mixture_em_diag(n_iter):
    X, _ = load_faithful()
    w0 = np.array([.3, .3, .4]); m0 = np.array([[2., 50.], [3., 70.], [4.5, 85.]]); v0 = np.array([[.2, 30.], [.5, 60.], [.2, 30.]])
    g = GaussianMixtureEM(3, covariance_type="diag", reg_covar=0., tol=0, max_iter=n_iter, weights_init=w0,
                          means_init=m0, precisions_init=1 / v0).fit(X)
    e = ExpFamilyMixtureEM(3, family="gaussian", tol=0, max_iter=n_iter, weights_init=w0,
                           means_init=np.hstack([m0, m0**2 + v0])).fit(X)
    np.testing.assert_allclose(e.weights_, g.weights_, rtol=1e-10)
    np.testing.assert_allclose(e.means_[:, :2], g.means_, rtol=1e-10)
    np.testing.assert_allclose(e.means_[:, 2:] - e.means_[:, :2]**2, g.covariances_, rtol=1e-10)
    np.testing.assert_allclose(e.history_['log_likelihood'], g.history_['log_likelihood'], rtol=1e-12)
    np.testing.assert_allclose(e.score_samples(X), g.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(e.bic(X), g.bic(X), rtol=1e-12)


# ---------------------------------------------------------------- R flexmix
def _flexmix_runs():
    runs, cur = {}, None
    for line in FIXTURE.read_text().splitlines():
        key, *vals = line.split()
        if key == "iter": cur = runs.setdefault(int(vals[0]), {})
        elif cur is not None: cur[key] = np.array(vals, dtype=float)
    return runs


def _flexmix_start():
    X = load_biochemists()[0][:, [0, 5]]
    R0 = np.eye(3)[np.digitize(X[:, 1], [4.5, 12.5])]       # the fixture's start: ment <= 4 / 5..12 / > 12
    return X, dict(weights_init=R0.mean(0), means_init=R0.T @ X / R0.sum(0)[:, None])


def test_biochemists_is_flexmix_data():
    X, cols = load_biochemists()
    assert cols == ('art', 'fem', 'mar', 'kid5', 'phd', 'ment') and X.shape == (915, 6)
    np.testing.assert_allclose(X[:, [0, 5]].mean(0), [1.693, 8.767], atol=1e-3)    # flexmix's summary(bioChemists)


def test_first_flexmix_iteration_is_the_start():
    X, s = _flexmix_start()
    r = _flexmix_runs()[1]
    np.testing.assert_allclose(s['means_init'], np.stack([r['lambda_art'], r['lambda_ment']], 1), rtol=1e-14)
    m = ExpFamilyEM(Poisson())
    st_ = e_step(m.natural_params(ExpFamilyParams(s['weights_init'], s['means_init'], np.log(s['means_init']))), X, m.features)
    np.testing.assert_allclose(st_.log_norm, r['loglik'][0], rtol=1e-12)


@pytest.mark.parametrize("n", [10, 200])
def test_agrees_with_flexmix(n):
    # same start, same number of EM iterations: the same map in another order, so agreement is to rounding (~1e-13);
    # the required 1e-6 leaves room for BLAS/libm differences
    X, s = _flexmix_start()
    r = _flexmix_runs()[n]
    f = ExpFamilyMixtureEM(3, family="poisson", tol=0, max_iter=n - 1, **s).fit(X)
    R = f.predict_proba(X)
    np.testing.assert_allclose(f.history_['log_likelihood'][-1], r['loglik'][0], rtol=1e-10)
    np.testing.assert_allclose(f.means_, np.stack([r['lambda_art'], r['lambda_ment']], 1), atol=1e-6)
    np.testing.assert_allclose(R.mean(0), r['prior'], atol=1e-6)
    np.testing.assert_allclose(R[0], r['posterior_row1'], atol=1e-6)


# ---------------------------------------------------------------- weights, certificate, conventions
@pytest.mark.parametrize("name", ["bernoulli", "categorical", "exponential"])
def test_integer_weights_are_repetitions(name):
    rng = np.random.default_rng(8)
    X = _data(rng)[name]
    w = rng.integers(0, 4, size=len(X))
    base = ExpFamilyMixtureEM(3, family=name, tol=0, max_iter=3, random_state=1).fit(X)   # any fixed start
    kw = dict(family=base.family_, tol=0, max_iter=12, weights_init=base.weights_, means_init=base.means_)
    a = ExpFamilyMixtureEM(3, **kw).fit(X, sample_weight=w.astype(float))
    b = ExpFamilyMixtureEM(3, **kw).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-10)
    np.testing.assert_allclose(a.history_['log_likelihood'], b.history_['log_likelihood'], rtol=1e-10)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), K=st.integers(1, 4), name=st.sampled_from(["bernoulli", "poisson", "categorical"]))
def test_log_likelihood_is_monotone_and_certified(seed, K, name):
    rng = np.random.default_rng(seed)
    X = _data(rng)[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)      # the core's guard: a decrease beyond rounding
        f = ExpFamilyMixtureEM(K, family=name, tol=0, max_iter=20, init_params="random", random_state=seed).fit(X)
    h = f.history_
    scale = abs(h['log_likelihood'][-1])
    assert (np.diff(h['log_likelihood']) >= -1e-10 * scale).all()
    assert (h['kl'] >= -1e-10 * scale).all()
    np.testing.assert_allclose(h['objective'], h['elbo'] + h['kl'], rtol=1e-9)


def test_conventions():
    rng = np.random.default_rng(9)
    X = np.vstack([rng.poisson([1., 9.], (200, 2)), rng.poisson([8., 2.], (100, 2))]).astype(float)
    f = ExpFamilyMixtureEM(2, family="poisson", n_init=3, tol=1e-9, max_iter=300, random_state=0).fit(X)
    assert f.converged_ and f.predict(X).shape == (300,) and f.predict_proba(X).shape == (300, 2)
    np.testing.assert_allclose(f.score(X), f.score_samples(X).mean())
    k = 2 * 2 + 1
    np.testing.assert_allclose(f.bic(X), -2 * f.score_samples(X).sum() + k * np.log(300))
    np.testing.assert_allclose(f.aic(X), -2 * f.score_samples(X).sum() + 2 * k)
    Xs, lab = f.sample(5000)
    assert Xs.shape == (5000, 2) and set(np.unique(lab)) == {0, 1}
    assert (Xs == np.round(Xs)).all() and (Xs >= 0).all()
    # sampled rates recover the fitted ones within 5 standard errors
    for j in range(2):
        m = Xs[lab == j].mean(0)
        assert (np.abs(m - f.means_[j]) < 5 * np.sqrt(f.means_[j] / (lab == j).sum())).all()
    # warm start continues from the fit: one more iteration does not lower the log-likelihood
    ll = f.score(X)
    f.set_params(warm_start=True, max_iter=1, tol=0).fit(X)
    assert f.score(X) >= ll - 1e-12
    assert "family='poisson'" in repr(f)


def test_categorical_sampling_and_n_free():
    X = np.random.default_rng(10).integers(0, 3, (300, 2)).astype(float)
    f = ExpFamilyMixtureEM(2, family="categorical", random_state=0).fit(X)
    assert f._n_parameters() == 1 + 2 * (2 + 2)
    Xs, _ = f.sample(50)
    assert set(np.unique(Xs)) <= {0., 1., 2.}


# ---------------------------------------------------------------- MAP
def test_map_log_prior_matches_scipy():
    mu = np.random.default_rng(11).uniform(.05, .95, size=(2, 3))
    np.testing.assert_allclose(BetaPrior(2., 3.5).log_prior(Bernoulli(), mu), sst.beta.logpdf(mu, 2., 3.5).sum(), rtol=1e-12)
    np.testing.assert_allclose(GammaRatePrior(1.5, .7).log_prior(Poisson(), 4 * mu), sst.gamma.logpdf(4 * mu, 1.5, scale=1 / .7).sum(), rtol=1e-12)
    np.testing.assert_allclose(GammaRatePrior(1.5, .7).log_prior(Exponential(), mu), sst.gamma.logpdf(1 / mu, 1.5, scale=1 / .7).sum(), rtol=1e-12)
    p = np.array([[.1, .9, .3, .3, .4]])
    np.testing.assert_allclose(DirichletPrior(2.5).log_prior(Categorical((2, 3)), p),
                               sst.dirichlet.logpdf(p[0, :2], [2.5] * 2) + sst.dirichlet.logpdf(p[0, 2:], [2.5] * 3), rtol=1e-12)


@pytest.mark.parametrize("name,prior", [("bernoulli", BetaPrior(3., 2.)), ("poisson", GammaRatePrior(2., .5)),
                                        ("exponential", GammaRatePrior(3., 2.)), ("categorical", DirichletPrior(1.5))])
def test_map_objective_is_log_posterior_and_monotone(name, prior):
    X = _data(np.random.default_rng(12))[name]
    f = ExpFamilyMixtureMAP(2, family=name, prior=prior, weight_concentration_prior=1.5, tol=0, max_iter=25,
                            random_state=0).fit(X)
    lp = np.stack([np.log(f.weights_[k]) + _component_logpdf(name, f.family_, f.means_[k], X) for k in range(2)], 1)
    if name == "bernoulli": lprior = sst.beta.logpdf(f.means_, prior.a, prior.b).sum()
    elif name == "poisson": lprior = sst.gamma.logpdf(f.means_, prior.a, scale=1 / prior.b).sum()
    elif name == "exponential": lprior = sst.gamma.logpdf(1 / f.means_, prior.a, scale=1 / prior.b).sum()
    else:
        off = np.concatenate([[0], np.cumsum(f.family_.n_categories)])
        lprior = sum(sst.dirichlet.logpdf(m[off[d]:off[d + 1]], [prior.alpha] * c)
                     for m in f.means_ for d, c in enumerate(f.family_.n_categories))
    lprior += sst.dirichlet.logpdf(f.weights_, [1.5, 1.5])
    h = f.history_
    np.testing.assert_allclose(h['objective'][-1], logsumexp(lp, 1).sum() + lprior, rtol=1e-10)
    assert (np.diff(h['objective']) >= -1e-10 * abs(h['objective'][-1])).all()
    np.testing.assert_allclose(h['objective'], h['elbo'] + h['kl'], rtol=1e-9)


def test_map_m_step_is_the_posterior_mode():
    X = _data(np.random.default_rng(13))["poisson"]
    f = ExpFamilyMixtureMAP(2, family="poisson", prior=GammaRatePrior(3., 2.), weight_concentration_prior=2., tol=0,
                            max_iter=1, weights_init=[.5, .5], means_init=[[2., 3., 4.], [5., 4., 6.]]).fit(X)
    # one iteration from the start: responsibilities at the start, then the closed-form mode
    lp = np.stack([np.log(.5) + sst.poisson.logpmf(X, m).sum(1) for m in ([2., 3., 4.], [5., 4., 6.])], 1)
    R = np.exp(lp - logsumexp(lp, 1, keepdims=True)); Nk = R.sum(0)
    np.testing.assert_allclose(f.means_, (R.T @ X + 2.) / (Nk[:, None] + 2.), rtol=1e-10)
    np.testing.assert_allclose(f.weights_, (Nk + 1) / (len(X) + 2), rtol=1e-10)


def test_map_rejects_bad_priors():
    X = _data(np.random.default_rng(14))["bernoulli"]
    with pytest.raises(ValueError, match="Beta a must be a finite number >= 1"): BetaPrior(.5, 2.)
    with pytest.raises(ValueError, match="Gamma rate b must be a finite number > 0"): GammaRatePrior(2., 0.)
    with pytest.raises(ValueError, match="conjugate prior is BetaPrior"): ExpFamilyMixtureMAP(2, prior=GammaRatePrior()).fit(X)
    with pytest.raises(ValueError, match="GaussianMixtureMAP"): ExpFamilyMixtureMAP(2, family="gaussian").fit(X)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("name,X,msg", [
    ("poisson", [[1, 2], [0, 3], [4, -2]], "value -2 in column 1 at row 2"),
    ("poisson", [[1, 2], [0.5, 3]], "value 0.5 in column 0 at row 1"),
    ("bernoulli", [[0, 1], [1, 2]], "value 2 in column 1 at row 1"),
    ("bernoulli", [[0, 1], [-1, 1]], "column 0 at row 1"),
    ("categorical", [[0, 1], [1, 0], [-1, 2]], "value -1 in column 0 at row 2"),
    ("categorical", [[0, 1.5], [1, 0]], "column 1 at row 0"),
    ("exponential", [[0.1, 2.], [1., -0.5]], "value -0.5 in column 1 at row 1"),
])
def test_values_outside_the_support_name_column_and_row(name, X, msg):
    with pytest.raises(ValueError, match=msg):
        ExpFamilyMixtureEM(1, family=name).fit(np.array(X, dtype=float))


def test_support_is_checked_at_prediction_and_codes_must_be_known():
    f = ExpFamilyMixtureEM(1, family="categorical").fit(np.array([[0., 1.], [2., 0.]]))
    with pytest.raises(ValueError, match="value 3 in column 0 at row 1"): f.predict(np.array([[0., 0.], [3., 1.]]))
    with pytest.raises(ValueError, match="value 2 in column 1 at row 0"): f.score_samples(np.array([[0., 2.]]))
    g = ExpFamilyMixtureEM(1, family="categorical", ).set_params(family=Categorical((2, 2)))
    with pytest.raises(ValueError, match="column 0 at row 1"): g.fit(np.array([[0., 1.], [2., 0.]]))
    p = ExpFamilyMixtureEM(1, family="poisson").fit(np.array([[1.], [3.]]))
    with pytest.raises(ValueError, match="non-negative integers"): p.predict_proba(np.array([[1.], [2.5]]))


def test_other_bad_input():
    X = np.array([[1., 2.], [3., 4.]])
    with pytest.raises(ValueError, match="family must be one of"): ExpFamilyMixtureEM(1, family="gamma").fit(X)
    with pytest.raises(ValueError, match="family must be one of"): ExpFamilyMixtureEM(1, family=object()).fit(X)
    with pytest.raises(ValueError, match="NaN"): ExpFamilyMixtureEM(1, family="poisson").fit(np.array([[1., np.nan]]))
    with pytest.raises(ValueError, match=r"means_init must have shape \(1, 2\)"):
        ExpFamilyMixtureEM(1, family="poisson", means_init=[[1.]]).fit(X)
    with pytest.raises(ValueError, match="weights_init must be 2 non-negative numbers summing to 1"):
        ExpFamilyMixtureEM(2, family="poisson", weights_init=[.5, .6]).fit(X)
    with pytest.raises(ValueError, match="rate and likelihood are infinite"):
        ExpFamilyMixtureEM(2, family="exponential", weights_init=[.5, .5], means_init=[[0.], [1.]]).fit(np.array([[0.], [0.], [2.]]))
    with pytest.raises(ValueError, match="collapsed onto a single value"):
        ExpFamilyMixtureEM(1, family="gaussian").fit(np.array([[1., 2.], [1., 3.]]))
    with pytest.raises(ValueError, match="not fitted"): ExpFamilyMixtureEM(1).predict(X)


def test_a_user_family_fits():
    class Geometric(ExpFamily):
        name, support = "geometric", "non-negative integers"
        def statistic(self, X): return X
        def log_partition(self, eta): return -np.log1p(-np.exp(eta)).sum(1)
        def natural(self, mu): return np.log(np.maximum(mu, TINY) / (1 + mu))
        def log_base(self, X): return np.zeros(len(X))
        def outside(self, X): return (X < 0) | (X != np.floor(X))
    rng = np.random.default_rng(15)
    X = np.vstack([rng.geometric(.6, (300, 1)), rng.geometric(.1, (200, 1))]).astype(float) - 1
    f = ExpFamilyMixtureEM(2, family=Geometric(), tol=0, max_iter=30, random_state=0).fit(X)
    q = f.means_ / (1 + f.means_)
    lp = np.log(f.weights_) + np.stack([sst.geom.logpmf(X + 1, 1 - qk).sum(1) for qk in q], 1)
    np.testing.assert_allclose(f.score_samples(X), logsumexp(lp, 1), rtol=1e-10)
    with pytest.raises(ValueError, match="geometric family's support"): f.predict(np.array([[-1.]]))
