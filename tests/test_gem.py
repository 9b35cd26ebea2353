"Generalized EM: monotone in a property test, the Gamma mixture against scipy.stats.gamma, the three M-steps, bad input."
import warnings
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from scipy import stats as sst
from scipy.special import logsumexp, digamma
from emtheory.core import ConvergenceWarning, NotFittedError, coordinate_ascent, e_step, stats_from_resp
from emtheory.datasets import load_faithful
from emtheory.gem import (GammaParams, GammaEM, GammaECM, GammaGEM, GammaMixtureGEM, bound_gradient,
                          gamma_features, gamma_natural_params, shape_mle)

def _gamma_mixture_data(seed, N, K, D):
    "Data from a random Gamma mixture (shapes 0.5 to 20, rates 0.1 to 10)."
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(.5, 20, (K, D)), np.exp(rng.uniform(np.log(.1), np.log(10), (K, D)))
    z = rng.choice(K, size=N, p=rng.dirichlet(np.ones(K) * 2))
    return rng.gamma(a[z], 1 / b[z])

def _log_density(p, X):
    "log p(x, z=k) from scipy.stats.gamma."
    return np.stack([np.log(p.weights[k]) + sst.gamma(p.shapes[k], scale=1 / p.rates[k]).logpdf(X).sum(1)
                     for k in range(len(p.weights))], 1)

# ---------------------------------------------------------------- monotonicity (the property)

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), N=st.integers(20, 300), K=st.integers(1, 3), D=st.integers(1, 3),
       n_steps=st.integers(1, 4), init=st.sampled_from(["kmeans", "random", "k-means++"]))
def test_gem_is_monotone(seed, N, K, D, n_steps, init):
    X = _gamma_mixture_data(seed, N, K, D)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)    # the core's guard must never fire
        h = GammaMixtureGEM(K, n_steps=n_steps, init_params=init, tol=0, max_iter=15, random_state=seed).fit(X).history_
    ll = h['log_likelihood']
    tiny = 1e-10 * abs(ll[-1])   # rounding of a sum of N log densities
    assert np.isfinite(ll).all()
    assert (np.diff(ll) >= -tiny).all()
    assert (h['elbo'][1:] >= ll[:-1] - tiny).all()     # L(q_t, theta_t+1) >= log p(X | theta_t): the GEM condition
    assert (h['kl'] >= -tiny).all()
    assert np.abs(h['residual']).max() <= tiny

def test_without_line_search_the_guard_fires():
    "The property test can fail: blind fixed steps decrease the log-likelihood and the core says so."
    X = _gamma_mixture_data(0, 250, 2, 2)
    start = GammaEM().m_step(stats_from_resp(GammaEM(), X, np.random.default_rng(1).dirichlet([1, 1], len(X))), None)
    with pytest.warns(RuntimeWarning, match="objective decreased"):
        f = coordinate_ascent(GammaGEM(armijo=False, step=2.), X, start, tol=0, max_iter=8)
    assert (np.diff(f.history['log_likelihood']) < 0).any()

# ---------------------------------------------------------------- the gradient identity

def test_gradient_of_bound_equals_gradient_of_log_likelihood():
    X = _gamma_mixture_data(3, 200, 3, 2)
    p = GammaParams(np.array([.2, .3, .5]), np.array([[1., 2.], [4., 3.], [9., 1.5]]), np.array([[1., .5], [2., 1.], [3., .2]]))
    g = bound_gradient(e_step(gamma_natural_params(p), X, gamma_features), p)
    theta = [np.log(p.weights), p.shapes, p.rates]
    def ll(eta, A, B): return logsumexp(_log_density(GammaParams(np.exp(eta - logsumexp(eta)), A, B), X), axis=1).sum()
    for i in range(3):
        for j in np.ndindex(theta[i].shape):
            h = 1e-5 * max(1., abs(theta[i][j]))
            up = [t.copy() for t in theta]; dn = [t.copy() for t in theta]
            up[i][j] += h; dn[i][j] -= h
            fd = (ll(*up) - ll(*dn)) / (2 * h)
            assert abs(fd - g[i][j]) <= 1e-4 * max(1., np.abs(g[i]).max())

# ---------------------------------------------------------------- against scipy

def test_one_component_equals_scipy_gamma_fit():
    x = np.random.default_rng(5).gamma(2.5, 3., size=(500, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = GammaMixtureGEM(1, m_step="em", tol=0, max_iter=3).fit(x)
    a, _, scale = sst.gamma.fit(x[:, 0], floc=0)
    np.testing.assert_allclose(m.shapes_[0, 0], a, rtol=1e-5)
    np.testing.assert_allclose(1 / m.rates_[0, 0], scale, rtol=1e-5)

def test_score_samples_and_predict_proba_match_scipy():
    X, _ = load_faithful()
    m = GammaMixtureGEM(2, m_step="ecm", random_state=0, max_iter=30, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m.fit(X)
    L = _log_density(GammaParams(m.weights_, m.shapes_, m.rates_), X)
    np.testing.assert_allclose(m.score_samples(X), logsumexp(L, axis=1), rtol=1e-10)
    np.testing.assert_allclose(m.predict_proba(X), np.exp(L - logsumexp(L, axis=1, keepdims=True)), atol=1e-10)
    np.testing.assert_array_equal(m.predict(X), L.argmax(1))
    np.testing.assert_allclose(m.means_, m.shapes_ / m.rates_)
    assert np.isclose(m.score(X), m.score_samples(X).mean())

def test_shape_equation_solved_across_scales():
    s = np.geomspace(1e-8, 50, 80)
    a = shape_mle(s)

    assert (np.abs(np.log(a) - digamma(a) - s) <= 1e-14 * (1 + np.abs(np.log(a)))).all()

# ---------------------------------------------------------------- the three M-steps

@pytest.mark.parametrize("M", [GammaECM, GammaGEM])
def test_exact_maximum_is_a_fixed_point(M):
    "Started at EM's maximum, ECM and GEM do not move (it is a stationary point of the log-likelihood)."
    X, _ = load_faithful()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        em = GammaMixtureGEM(2, m_step="em", tol=0, max_iter=60, random_state=0).fit(X)
    top = GammaParams(em.weights_, em.shapes_, em.rates_)
    f = coordinate_ascent(M(), X, top, tol=0, max_iter=10)
    np.testing.assert_allclose(f.state.shapes, top.shapes, rtol=1e-6)
    np.testing.assert_allclose(f.state.rates, top.rates, rtol=1e-6)

def test_each_m_step_increases_the_bound_and_em_most():
    X = _gamma_mixture_data(11, 300, 2, 2)
    R = np.random.default_rng(2).dirichlet([1, 1], size=len(X))
    st0 = stats_from_resp(GammaEM(), X, R)
    old = GammaParams(np.array([.5, .5]), np.ones((2, 2)), np.ones((2, 2)))
    def bound(p): return float((R * _log_density(p, X)).sum())
    gains = {M.__name__: bound(M().m_step(st0, old)) - bound(old) for M in (GammaEM, GammaECM, GammaGEM)}
    assert min(gains.values()) > 0
    assert gains["GammaEM"] >= max(gains.values())

def test_methods_order_on_faithful():
    "From one start, after 100 iterations: EM at the maximum, GEM with 10 steps closer than with 1."
    X, _ = load_faithful()
    ll = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, kw in dict(em=dict(m_step="em"), gem=dict(n_steps=1), gem10=dict(n_steps=10)).items():
            ll[name] = GammaMixtureGEM(2, tol=0, max_iter=100, random_state=0, **kw).fit(X).history_['log_likelihood'][-1]
    assert ll["em"] - ll["gem10"] > 0 and ll["gem10"] - ll["gem"] > 1e-3

# ---------------------------------------------------------------- API and bad input

def test_integer_weights_are_repetitions():
    "One component (so that the start does not depend on the row count): weights w equal w-fold repetitions."
    X = _gamma_mixture_data(4, 60, 2, 2)
    w = np.random.default_rng(0).integers(1, 4, size=len(X))
    kw = dict(m_step="em", tol=0, max_iter=4, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        b = GammaMixtureGEM(1, **kw).fit(X, sample_weight=w)
        c = GammaMixtureGEM(1, **kw).fit(np.repeat(X, w, axis=0))
    a, _, scale = sst.gamma.fit(np.repeat(X[:, 1], w), floc=0)
    np.testing.assert_allclose(b.shapes_, c.shapes_, rtol=1e-10)
    np.testing.assert_allclose(b.rates_, c.rates_, rtol=1e-10)
    np.testing.assert_allclose(b.shapes_[0, 1], a, rtol=1e-5)

def test_reproducible_and_sample():
    X, _ = load_faithful()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GammaMixtureGEM(2, random_state=7, max_iter=20).fit(X)
        b = GammaMixtureGEM(2, random_state=7, max_iter=20).fit(X)
    np.testing.assert_array_equal(a.shapes_, b.shapes_)
    Xs, z = a.sample(5000)
    assert Xs.shape == (5000, 2) and (Xs > 0).all() and set(np.unique(z)) <= {0, 1}
    np.testing.assert_allclose(Xs.mean(0), a.weights_ @ a.means_, rtol=0.02)   # ~10 standard errors
    assert a.bic(X) > -2 * a.score(X) * len(X)
    assert a.get_params()["m_step"] == "gem"

def test_bad_input():
    X, _ = load_faithful()
    bad = X.copy(); bad[12, 0] = 0.
    with pytest.raises(ValueError, match="column 0 has 0.0 at row 12"): GammaMixtureGEM(2).fit(bad)
    bad[5, 1] = -1.
    with pytest.raises(ValueError, match="column 1 has -1.0 at row 5"): GammaMixtureGEM(2).fit(bad)
    with pytest.raises(ValueError, match="NaN"): GammaMixtureGEM(2).fit(np.where(X > 4, np.nan, X))
    with pytest.raises(ValueError, match="m_step must be one of"): GammaMixtureGEM(2, m_step="sgd").fit(X)
    with pytest.raises(ValueError, match="n_steps"): GammaMixtureGEM(2, n_steps=0).fit(X)
    with pytest.raises(ValueError, match="constant"): GammaMixtureGEM(2).fit(np.c_[X, np.full(len(X), 2.)])
    with pytest.raises(NotFittedError): GammaMixtureGEM(2).score_samples(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = GammaMixtureGEM(2, max_iter=3).fit(X)
    with pytest.raises(ValueError, match="row 5"): m.predict(bad)
    with pytest.raises(ValueError, match="features"): m.predict(X[:, :1])
