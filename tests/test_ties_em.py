"""Lambdify ties for exact EM's M-step: the sympy results of nbs/003_gmm_mstep.ipynb (emtheory.derive.mstep), turned
into functions, against the library's M-step path (statistics T = Rᵀ Φ from emtheory.core, emtheory.gaussian.moments,
emtheory.em.GaussianEM.m_step) on random data and responsibilities. A wrong formula in the library fails here.

The sympy expressions are in raw (uncentred) statistics; the library works in coordinates centred by `model.center`,
so its means are shifted back before comparing (this also checks the shift-equivariance the library relies on)."""
import numpy as np
import pytest
import sympy as sp
from scipy.stats import norm
from emtheory.core import e_step, stats_from_resp
from emtheory.gaussian import moments, gaussian_features
from emtheory.em import GaussianEM, GaussianParams
from emtheory.derive.mstep import gmm_mstep_1d, gmm_covariance

RTOL = 1e-10

@pytest.fixture(scope='module')
def f1d():
    "The 1-D M-step (π, μ, σ²) as numpy functions of (N_k, N, S_1, S_2)."
    args, ex = gmm_mstep_1d()
    return {k: sp.lambdify(args, e, 'numpy') for k, e in ex.items()}

def _lambdify(covariance_type):
    args, expr = gmm_covariance(covariance_type)
    f = sp.lambdify(args, expr, 'numpy')
    return lambda *a: np.array(f(*a), dtype=np.float64)

def _data(seed, n, D, K, weighted=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D)) @ rng.normal(size=(D, D)) + rng.normal(scale=5, size=D)
    R = rng.dirichlet(np.full(K, 0.7), size=n)
    w = rng.uniform(0.2, 3., size=n) if weighted else None
    return X, R, w

def _raw_stats(X, R, w):
    "N, N_k (K,), S_1 (K, D), diagonal S_2 (K, D) and full S_2 (K, D, D), computed directly from the definitions."
    Rw = R if w is None else R*w[:, None]
    return (float(len(X) if w is None else w.sum()), Rw.sum(0), Rw.T @ X, Rw.T @ X**2,
            np.einsum('ik,ia,ib->kab', Rw, X, X))

def _m_step(X, R, w, covariance_type):
    model = GaussianEM(np.average(X, axis=0, weights=w), covariance_type, reg_covar=0.)
    return model, model.m_step(stats_from_resp(model, X, R, w), None)

@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('covariance_type', ['full', 'diag', 'spherical'])
@pytest.mark.parametrize('seed', range(3))
def test_1d_mstep_matches_sympy(f1d, covariance_type, seed, weighted):
    "In 1-D every per-component covariance type is the variance of the derivation: π, μ and σ² all tie."
    X, R, w = _data(seed, 200, 1, 3, weighted)
    N, Nk, S1, S2, _ = _raw_stats(X, R, w)
    model, p = _m_step(X, R, w, covariance_type)
    st = (Nk, N, S1[:, 0], S2[:, 0])
    np.testing.assert_allclose(p.weights, f1d['pi'](*st), rtol=RTOL)
    np.testing.assert_allclose(p.means[:, 0] + model.center[0], f1d['mu'](*st), rtol=RTOL)
    np.testing.assert_allclose(np.asarray(p.covariances).reshape(3), f1d['var'](*st), rtol=RTOL)

@pytest.mark.parametrize('seed', range(3))
def test_moments_match_sympy(f1d, seed):
    "emtheory.gaussian.moments on T = Rᵀ Φ gives N_k, the mean and scatter = N_k σ² of the derivation."
    X, R, _ = _data(seed, 150, 1, 4)
    N, Nk, S1, S2, _ = _raw_stats(X, R, None)
    center = X.mean(0)
    T = R.T @ gaussian_features(X, center, 'diag')              # the statistics the core computes, here by hand
    Nk_l, means, scatter = moments(T, 1, 'diag')
    st = (Nk, N, S1[:, 0], S2[:, 0])
    np.testing.assert_allclose(Nk_l, Nk, rtol=RTOL)
    np.testing.assert_allclose(means[:, 0] + center[0], f1d['mu'](*st), rtol=RTOL)
    np.testing.assert_allclose(scatter[:, 0]/Nk_l, f1d['var'](*st), rtol=RTOL)

@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('seed', range(3))
def test_diag_in_3d_is_the_1d_result_per_coordinate(f1d, seed, weighted):
    X, R, w = _data(seed, 300, 3, 2, weighted)
    N, Nk, S1, S2, _ = _raw_stats(X, R, w)
    model, p = _m_step(X, R, w, 'diag')
    for j in range(3):
        st = (Nk, N, S1[:, j], S2[:, j])
        np.testing.assert_allclose(p.means[:, j] + model.center[j], f1d['mu'](*st), rtol=RTOL)
        np.testing.assert_allclose(p.covariances[:, j], f1d['var'](*st), rtol=RTOL)

@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('seed', range(3))
def test_full_covariance_every_2x2_block(seed, weighted):
    "The D=2 full-covariance derivation, applied to every pair of coordinates, fixes every entry of the D=3 covariance."
    cov2 = _lambdify('full')
    X, R, w = _data(seed, 300, 3, 3, weighted)
    N, Nk, S1, _, S2f = _raw_stats(X, R, w)
    _, p = _m_step(X, R, w, 'full')
    for k in range(3):
        for a, b in [(0, 1), (0, 2), (1, 2)]:
            expected = cov2(Nk[k], S1[k, a], S1[k, b], S2f[k, a, a], S2f[k, a, b], S2f[k, b, b])
            got = p.covariances[k][np.ix_([a, b], [a, b])]
            np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL*np.abs(expected).max())

@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('seed', range(3))
def test_spherical_in_3d(seed, weighted):
    var_sph = _lambdify('spherical')
    X, R, w = _data(seed, 300, 3, 2, weighted)
    N, Nk, S1, S2, _ = _raw_stats(X, R, w)
    _, p = _m_step(X, R, w, 'spherical')
    np.testing.assert_allclose(p.covariances, [var_sph(Nk[k], *S1[k], *S2[k]) for k in range(2)], rtol=RTOL)

@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('seed', range(3))
def test_tied_1d(seed, weighted):
    var_tied = _lambdify('tied')
    X, R, w = _data(seed, 300, 1, 3, weighted)
    N, Nk, S1, S2, _ = _raw_stats(X, R, w)
    _, p = _m_step(X, R, w, 'tied')
    np.testing.assert_allclose(np.asarray(p.covariances).reshape(()), var_tied(*Nk, *S1[:, 0], *S2[:, 0]), rtol=RTOL)

@pytest.mark.parametrize('seed', range(3))
def test_one_em_iteration_through_the_core_e_step(f1d, seed):
    """E-step by the core at given parameters, M-step by the model; expected: posteriors from scipy.stats.norm, then
    the lambdified M-step at their statistics."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-2, 1, 120), rng.normal(3, 0.5, 80)])[:, None]
    weights, means, sds = np.array([0.3, 0.7]), np.array([-1., 2.]), np.array([1.5, 1.])
    model = GaussianEM(X.mean(0), 'diag', reg_covar=0.)
    Uc = 1/sds[:, None]
    p0 = GaussianParams(weights, means[:, None] - model.center, sds[:, None]**2, Uc)
    stats = e_step(model.natural_params(p0), X, model.features)
    p1 = model.m_step(stats, p0)
    lj = np.log(weights) + norm.logpdf(X, means, sds)                   # (n, 2) log p(x_i, z_i=k)
    R = np.exp(lj - np.logaddexp.reduce(lj, axis=1, keepdims=True))
    x = X[:, 0]
    st = (R.sum(0), float(len(x)), R.T @ x, R.T @ x**2)
    np.testing.assert_allclose(stats.log_norm, np.logaddexp.reduce(lj, axis=1).sum(), rtol=RTOL)
    np.testing.assert_allclose(p1.weights, f1d['pi'](*st), rtol=RTOL)
    np.testing.assert_allclose(p1.means[:, 0] + model.center[0], f1d['mu'](*st), rtol=RTOL)
    np.testing.assert_allclose(p1.covariances[:, 0], f1d['var'](*st), rtol=RTOL)

def test_a_wrong_formula_would_fail(f1d):
    "The tie is sensitive: the unbiased variance S/(N_k − 1) differs from the derived S/N_k by far more than RTOL."
    X, R, _ = _data(0, 50, 1, 2)
    N, Nk, S1, S2, _ = _raw_stats(X, R, None)
    _, p = _m_step(X, R, None, 'diag')
    wrong = p.covariances[:, 0]*Nk/(Nk - 1)
    assert not np.allclose(wrong, f1d['var'](Nk, N, S1[:, 0], S2[:, 0]), rtol=RTOL)
