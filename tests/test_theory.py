"""The theory chapters' exported helpers: emtheory.bounds (log evidence, ELBO, KL in the log domain) against direct
formulas and scipy, with hypothesis properties for the KL decomposition; emtheory.derive.* (sympy results) evaluated
numerically against closed forms and scipy.stats."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import logsumexp, rel_entr, expit
from scipy.stats import entropy
from emtheory.bounds import log_evidence, elbo, kl_divergence
from emtheory.derive.jensen import jensen_gap, elbo_bound
from emtheory.derive.mstep import gmm_mstep_1d, gmm_covariance, exponential_family, mixing_weights

def _normalise(a, axis=-1): return a - logsumexp(a, axis=axis, keepdims=True)

# ---- emtheory.bounds: against direct formulas and scipy ------------------------------------------------------------
def test_log_evidence_is_log_of_summed_joint():
    rng = np.random.default_rng(0)
    lj = rng.normal(size=(7, 4))
    np.testing.assert_allclose(log_evidence(lj), np.log(np.exp(lj).sum(1)), rtol=1e-14)
    np.testing.assert_allclose(log_evidence(lj.T, axis=0), np.log(np.exp(lj).sum(1)), rtol=1e-14)
    np.testing.assert_allclose(log_evidence(lj - 800.), np.log(np.exp(lj).sum(1)) - 800., rtol=1e-14)  # no underflow

def test_elbo_is_expected_log_joint_plus_entropy():
    rng = np.random.default_rng(1)
    lj, q = rng.normal(size=(6, 5)), rng.dirichlet(np.ones(5), size=6)
    expected = (q*lj).sum(1) + entropy(q, axis=1)                  # E_q[log p(x,z)] + H[q]
    np.testing.assert_allclose(elbo(lj, np.log(q)), expected, rtol=1e-13)
    np.testing.assert_allclose(elbo(lj.T, np.log(q).T, axis=0), expected, rtol=1e-13)

def test_kl_matches_scipy():
    rng = np.random.default_rng(2)
    q, p = rng.dirichlet(np.ones(6), size=8), rng.dirichlet(np.ones(6), size=8)
    np.testing.assert_allclose(kl_divergence(np.log(q), np.log(p)), entropy(q, p, axis=1), rtol=1e-13)
    np.testing.assert_allclose(kl_divergence(np.log(q), np.log(p)), rel_entr(q, p).sum(1), rtol=1e-13)

def test_zero_probabilities():
    q = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    p = np.array([[0.25, 0.25, 0.5], [0.2, 0.3, 0.5]])
    with np.errstate(divide='ignore'):
        lq, lp = np.log(q), np.log(p)
        np.testing.assert_allclose(kl_divergence(lq, lp), rel_entr(q, p).sum(1), rtol=1e-14)   # 0 log 0 = 0
        assert kl_divergence(lp, lq)[0] == np.inf                                              # q > 0 = p
        assert elbo(np.log([[0.3, 0.0, 0.1]]), np.log([[0.75, 0.0, 0.25]]))[0] == pytest.approx(np.log(0.4), rel=1e-14)
        assert elbo(np.log([[0.3, 0.0, 0.1]]), np.log([[0.5, 0.25, 0.25]]))[0] == -np.inf
        assert not np.isnan(elbo(np.log([[0.3, 0.0]]), np.log([[1.0, 0.0]]))).any()

@pytest.mark.parametrize('fn', [elbo, kl_divergence])
def test_shape_mismatch_is_a_clear_error(fn):
    with pytest.raises(ValueError, match=r'shape \(3, 2\).*shape \(2, 3\).*same shape'):
        fn(np.zeros((3, 2)), np.zeros((2, 3)))

log_tables = st.tuples(st.integers(1, 6), st.integers(1, 6)).flatmap(
    lambda s: st.tuples(*[arrays(np.float64, s, elements=st.floats(-30, 30)) for _ in range(2)]))

@settings(max_examples=200, deadline=None)
@given(log_tables, st.floats(-500, 500))
def test_decomposition_property(tables, shift):
    "log p(x) = L(q) + KL(q || p(z|x)) and KL >= 0, for random log joints and random normalised q."
    lj, lq = tables[0] + shift, _normalise(tables[1])
    post = lj - log_evidence(lj)[:, None]
    kl = kl_divergence(lq, post)
    assert np.all(kl >= -1e-12)
    np.testing.assert_allclose(elbo(lj, lq) + kl, log_evidence(lj), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(elbo(lj, post), log_evidence(lj), rtol=1e-12, atol=1e-9)     # tight at the posterior
    np.testing.assert_allclose(kl, rel_entr(np.exp(lq), np.exp(post)).sum(1), rtol=1e-9, atol=1e-10)   # scipy's KL

@settings(max_examples=100, deadline=None)
@given(log_tables, st.integers(0, 5))
def test_decomposition_with_zeros_in_q(tables, j):
    "A state with q = 0 contributes nothing: the identity holds on the remaining states."
    lj, lq = tables
    K = lq.shape[1]
    lq = lq.copy(); lq[:, j % K] = -np.inf
    if K == 1: return
    lq = _normalise(lq)
    kl = kl_divergence(lq, lj - log_evidence(lj)[:, None])
    assert np.all(np.isfinite(kl)) and np.all(kl >= -1e-12)
    np.testing.assert_allclose(elbo(lj, lq) + kl, log_evidence(lj), rtol=1e-12, atol=1e-9)

# ---- emtheory.derive.jensen ----------------------------------------------------------------------------------------
def test_jensen_gap_is_nonnegative_numerically():
    J = jensen_gap(3)
    f = sp.lambdify([*J['q'], *J['a']], J['gap'], 'numpy')
    rng = np.random.default_rng(3)
    q, a = rng.dirichlet(np.ones(3), size=500), np.exp(rng.normal(scale=2, size=(500, 3)))
    g = f(*q.T, *a.T)
    assert np.all(g >= -1e-12)
    np.testing.assert_allclose(f(*q.T, *np.ones((3, 500))*2.5), 0, atol=1e-14)   # equality at equal points

def test_elbo_bound_matches_bounds_module():
    E = elbo_bound(4)
    f_elbo = sp.lambdify([*E['q'], *E['p']], E['elbo'], 'numpy')
    f_ev = sp.lambdify(E['p'], E['log_evidence'], 'numpy')
    rng = np.random.default_rng(4)
    p, q = np.exp(rng.normal(size=(20, 4))), rng.dirichlet(np.ones(4), size=20)
    np.testing.assert_allclose(f_elbo(*q.T, *p.T), elbo(np.log(p), np.log(q)), rtol=1e-12)
    np.testing.assert_allclose(f_ev(*p.T), log_evidence(np.log(p)), rtol=1e-12)

# ---- emtheory.derive.mstep -----------------------------------------------------------------------------------------
def test_mstep_1d_is_weighted_mean_and_variance():
    args, ex = gmm_mstep_1d()
    assert [str(a) for a in args] == ['N_k', 'N', 'S_1', 'S_2']
    f = {k: sp.lambdify(args, e, 'numpy') for k, e in ex.items()}
    rng = np.random.default_rng(5)
    x, r = rng.normal(3, 2, size=100), rng.random(100)
    stats = (r.sum(), 100., r @ x, r @ x**2)
    m = np.average(x, weights=r)
    np.testing.assert_allclose(f['mu'](*stats), m, rtol=1e-12)
    np.testing.assert_allclose(f['var'](*stats), np.average((x - m)**2, weights=r), rtol=1e-10)
    np.testing.assert_allclose(f['pi'](*stats), r.sum()/100., rtol=1e-15)

def test_mixing_weights_solution():
    Ns, lam, sol = mixing_weights(4)
    n = np.array([3., 1., 5., 0.5])
    vals = [float(v.subs(dict(zip(Ns, n)))) for k, v in sol.items() if k != lam]
    np.testing.assert_allclose(vals, n/n.sum(), rtol=1e-15)

def test_covariances_against_numpy():
    rng = np.random.default_rng(6)
    X, r = rng.normal(size=(80, 3)), rng.random(80)
    Nk, S1, S2 = r.sum(), r @ X, np.einsum('i,ia,ib->ab', r, X, X)
    cov = np.cov(X.T, aweights=r, bias=True)
    a, e = gmm_covariance('full')
    full = np.array(sp.lambdify(a, e, 'numpy')(Nk, S1[0], S1[1], S2[0, 0], S2[0, 1], S2[1, 1]), float)
    np.testing.assert_allclose(full, cov[:2, :2], rtol=1e-10)
    a, e = gmm_covariance('spherical')
    np.testing.assert_allclose(sp.lambdify(a, e, 'numpy')(Nk, *S1, *np.diag(S2)), np.trace(cov)/3, rtol=1e-10)
    R = rng.dirichlet(np.ones(3), size=80); x = X[:, 0]
    a, e = gmm_covariance('tied')
    pooled = sum(R[:, k] @ (x - np.average(x, weights=R[:, k]))**2 for k in range(3))/80
    np.testing.assert_allclose(sp.lambdify(a, e, 'numpy')(*R.sum(0), *(R.T @ x), *(R.T @ x**2)), pooled, rtol=1e-10)

def test_exponential_family_gradients_are_means():
    B, P, G = (exponential_family(n) for n in ('bernoulli', 'poisson', 'gaussian'))
    eta = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(sp.lambdify(B['eta'], B['grad'][0])(eta), expit(eta), rtol=1e-14)
    np.testing.assert_allclose(sp.lambdify(P['eta'], P['grad'][0], 'numpy')(eta), np.exp(eta), rtol=1e-14)
    mu, var = 1.7, 0.6                                 # η = (μ/σ², −1/(2σ²)); ∇ log Z = (μ, μ² + σ²)
    g = [float(sp.lambdify(G['eta'], gi)(mu/var, -1/(2*var))) for gi in G['grad']]
    np.testing.assert_allclose(g, [mu, mu**2 + var], rtol=1e-14)
    with pytest.raises(ValueError, match='bernoulli'): exponential_family('gamma')
