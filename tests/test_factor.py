"Factor analysis by EM: the model against its definition, the certificate, the rate, Heywood cases, scikit-learn and R's factanal, bad input."
import csv, warnings
from pathlib import Path
import numpy as np
import pytest
from scipy import stats as sst
from scipy.optimize import minimize
from sklearn.datasets import load_iris, load_wine
from sklearn.decomposition import FactorAnalysis
from emtheory.core import coordinate_ascent, ConvergenceWarning, NotFittedError
from emtheory.factor import (FAParams, FactorModel, FactorAnalysisEM, HeywoodWarning, second_moment, fa_posterior,
                             fa_log_likelihood, fa_log_density, linear_gaussian_kl, em_map, em_jacobian, profile_loadings)
from emtheory.ppca import gaussian_kl

FIXTURES = Path(__file__).parent / "fixtures"

def standardised(X): return (X - X.mean(0)) / X.std(0)
def wine(): return standardised(load_wine().data)
def iris(): return standardised(load_iris().data)
def C_of(p): return p.W @ p.W.T + np.diag(p.psi)

def random_problem(seed, D=7, q=3, N=60):
    rng = np.random.default_rng(seed)
    return FAParams(rng.normal(size=(D, q)), rng.uniform(0.2, 2., size=D)), rng.normal(size=(N, D)) * 2, rng

def read_factanal(name):
    "The uniquenesses that tests/fixtures/factanal.R printed."
    rows = list(csv.reader(l for l in (FIXTURES / f"factanal_{name}.txt").open() if not l.startswith("#")))
    return [r[0] for r in rows[1:]], np.array([float(r[1]) for r in rows[1:]])

def em_bounds(S, n, p, r, lower=1e-12):
    "First-order distance of p from EM's maximum: one EM step's change / (1 - r), in C, psi and log-likelihood per sample."
    p_ = em_map(S, p, lower)
    return (np.abs(C_of(p_) - C_of(p)).max() / (1 - r), np.abs(p_.psi - p.psi).max() / (1 - r),
            (fa_log_likelihood(S, n, p_) - fa_log_likelihood(S, n, p)) / n / (1 - r))

def fit_fixed(X, q, n_iter, seed=0, **kw):
    "FactorAnalysisEM run for exactly n_iter iterations (tol=0: the ConvergenceWarning is expected)."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return FactorAnalysisEM(q, tol=0, max_iter=n_iter, random_state=seed, **kw).fit(X)

@pytest.fixture(scope="module")
def wine3():
    "Wine, three factors, 9000 iterations (EM's rate there is 0.997: this leaves rounding error only)."
    X = wine()
    est = fit_fixed(X, 3, 9000)
    S, n = second_moment(X - X.mean(0))
    p = FAParams(est.components_.T, est.noise_variance_)
    rate = np.sort(np.abs(np.linalg.eigvals(em_jacobian(S, p))))[::-1]
    return X, est, S, n, p, rate

# ---- the pieces against their definitions -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_posterior_and_density_against_conditioning(seed):
    p, X, _ = random_problem(seed)
    C = C_of(p)
    B, G, logdet_P = fa_posterior(p)
    np.testing.assert_allclose(X @ B.T, X @ np.linalg.solve(C, p.W), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(G, np.eye(3) - p.W.T @ np.linalg.solve(C, p.W), rtol=1e-10, atol=1e-12)
    assert abs(logdet_P + np.linalg.slogdet(G)[1]) < 1e-10
    ref = sst.multivariate_normal(np.zeros(len(C)), C).logpdf(X)
    np.testing.assert_allclose(fa_log_density(X, p), ref, rtol=1e-11)
    assert abs(fa_log_likelihood(*second_moment(X), p) - ref.sum()) <= 1e-10 * abs(ref.sum())

def test_weighted_second_moment_is_repetition():
    _, X, rng = random_problem(3)
    w = rng.integers(1, 4, size=len(X))
    S_w, n_w = second_moment(X, w.astype(float))
    S_r, n_r = second_moment(np.repeat(X, w, axis=0))
    assert n_w == n_r
    np.testing.assert_allclose(S_w, S_r, rtol=1e-12)

def test_kl_from_second_moment():
    p, X, rng = random_problem(4)
    S, n = second_moment(X)
    B, G, _ = fa_posterior(p)
    B0, G0 = B + 0.1 * rng.normal(size=B.shape), G + 0.05 * np.eye(3)
    # KL(N(m0, G0) || N(m1, G)) = (tr(G^-1 G0) + (m1 - m0)^T G^-1 (m1 - m0) - q + log|G| - log|G0|) / 2, row by row
    P, q = np.linalg.inv(G), len(G)
    ref = sum(0.5 * (np.trace(P @ G0) + (m1 - m0) @ P @ (m1 - m0) - q + np.linalg.slogdet(G)[1] - np.linalg.slogdet(G0)[1])
              for m0, m1 in zip(X @ B0.T, X @ B.T))
    assert abs(linear_gaussian_kl(B0, G0, B, G, S, n) - ref) <= 1e-10 * ref
    assert abs(gaussian_kl(X @ B0.T, G0, X @ B.T, G) - ref) <= 1e-10 * ref

def test_expected_log_joint_and_m_step():
    "Q from the statistics equals its point-by-point average; scipy's optimiser finds nothing above the M-step."
    p, X, rng = random_problem(5)
    w = rng.uniform(0.1, 2, size=len(X))
    model = FactorModel()
    st = model.e_step(p, X, None, weights=w)
    B, G, _ = fa_posterior(p)
    p2 = FAParams(rng.normal(size=p.W.shape), rng.uniform(0.5, 1.5, size=len(p.psi)))
    m = X @ B.T
    r = X - m @ p2.W.T
    per_point = (-0.5 * (len(p2.psi) * np.log(2 * np.pi) + np.log(p2.psi).sum())
                 - 0.5 * ((r**2 / p2.psi).sum(1) + np.trace(p2.W.T @ (p2.W / p2.psi[:, None]) @ G))
                 - 0.5 * (3 * np.log(2 * np.pi) + (m**2).sum(1) + np.trace(G)))
    assert abs(model.expected_log_joint(st, p2) - w @ per_point) <= 1e-10 * abs(w @ per_point)
    D, q = p.W.shape
    f = lambda v: -model.expected_log_joint(st, FAParams(v[:D * q].reshape(D, q), np.exp(v[D * q:])))
    best = model.m_step(st)
    v_best = np.concatenate([best.W.ravel(), np.log(best.psi)])
    res = minimize(f, np.zeros(D * q + D), method="L-BFGS-B", options=dict(maxiter=20000, ftol=1e-15, gtol=1e-10))
    assert f(v_best) <= res.fun + 1e-9 * abs(res.fun)      # the M-step's answer is at least as good as scipy's
    np.testing.assert_allclose(C_of(best), C_of(FAParams(res.x[:D * q].reshape(D, q), np.exp(res.x[D * q:]))), atol=1e-4)

@pytest.mark.parametrize("seed,q,weighted", [(0, 1, False), (1, 2, True), (2, 3, False)])
def test_certificate_and_monotone(seed, q, weighted):
    p, X, rng = random_problem(seed, q=q)
    X = X @ rng.normal(size=(7, 7))
    w = rng.uniform(0.1, 2, size=len(X)) if weighted else None
    fit = coordinate_ascent(FactorModel(), X - X.mean(0), FAParams(rng.normal(size=(7, q)), np.ones(7)), w, tol=0,
                            max_iter=300, n_threads=1)
    h = fit.history
    scale = abs(h["log_likelihood"][-1])
    assert (np.diff(h["log_likelihood"]) >= -1e-12 * scale).all()
    assert np.abs(h["residual"]).max() <= 1e-10 * scale
    assert (h["kl"] >= -1e-10 * scale).all()

def test_m_step_keeps_psi_positive():
    "psi_new is a diagonal of S - S B^T (G + B S B^T)^-1 B S >= 0: positive for a positive definite S."
    p, X, _ = random_problem(6)
    S, n = second_moment(X)
    for _ in range(50): p = em_map(S, p)
    assert (p.psi > 1e-3 * np.diag(S)).all()

# ---- the estimator ------------------------------------------------------------------------------------------------
def test_estimator_methods_against_scipy(wine3):
    X, est, S, n, p, _ = wine3
    ref = sst.multivariate_normal(est.mean_, est.get_covariance()).logpdf(X)
    np.testing.assert_allclose(est.score_samples(X), ref, rtol=1e-11)
    assert abs(est.score(X) - ref.mean()) < 1e-11 and abs(est.lower_bound_ - ref.mean()) < 1e-9
    np.testing.assert_allclose(est.transform(X), (X - est.mean_) @ np.linalg.solve(est.get_covariance(), est.components_.T),
                               rtol=1e-9, atol=1e-12)
    assert est.components_.shape == (3, 13) and est.noise_variance_.shape == (13,) and est.n_iter_ == 9000
    np.testing.assert_allclose(est.uniquenesses_, est.noise_variance_ / X.var(0), rtol=1e-12)
    assert not est.heywood_.any() and not est.converged_

def test_weights_equal_repetition():
    X = load_wine().data[:60, :6]
    w = np.random.default_rng(0).integers(1, 4, size=len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = FactorAnalysisEM(2, tol=0, max_iter=50, random_state=5).fit(X, sample_weight=w)
        b = FactorAnalysisEM(2, tol=0, max_iter=50, random_state=5).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.get_covariance(), b.get_covariance(), rtol=1e-9)

def test_converges_and_params():
    est = FactorAnalysisEM(1, tol=1e-10, max_iter=5000, random_state=0).fit(wine())
    assert est.converged_ and est.n_iter_ < 5000
    assert est.get_params()["n_components"] == 1 and "n_components=2" in repr(est.set_params(n_components=2))

# ---- the rate: the fraction of missing information ----------------------------------------------------------------
def fd_hessian(f, t, h=1e-4):
    E, k = np.eye(len(t)) * h, len(t)
    H = np.empty((k, k))
    for a in range(k):
        for b in range(a, k):
            H[a, b] = H[b, a] = (f(t + E[a] + E[b]) - f(t + E[a] - E[b]) - f(t - E[a] + E[b]) + f(t - E[a] - E[b])) / (4 * h * h)
    return H

def test_rate_is_fraction_of_missing_information():
    "Dempster, Laird & Rubin: dM/dtheta = I - I_c^-1 I_obs at the maximum (one factor on wine), and a run contracts at it."
    X = wine()
    est = fit_fixed(X, 1, 3000)
    S, n = second_moment(X - X.mean(0))
    p = FAParams(est.components_.T, est.noise_variance_)
    D = len(p.psi)
    unpack = lambda t: FAParams(t[:D].reshape(D, 1), t[D:])
    theta = np.concatenate([p.W.ravel(), p.psi])
    st = FactorModel().e_step(p, None, None, memory={"S": S, "n": n})
    I_o = -fd_hessian(lambda t: fa_log_likelihood(S, n, unpack(t)), theta)
    I_c = -fd_hessian(lambda t: FactorModel().expected_log_joint(st, unpack(t)), theta)
    ev_J = np.sort(np.linalg.eigvals(em_jacobian(S, p)).real)[::-1]
    ev_m = np.sort(np.linalg.eigvals(np.linalg.solve(I_c, I_c - I_o)).real)[::-1]
    np.testing.assert_allclose(ev_J, ev_m, atol=1e-5)
    q = est._start(np.diag(S), np.random.default_rng(3))
    errs = []
    for t in range(250):
        q = em_map(S, q)
        errs.append(np.linalg.norm(np.concatenate([(q.W * np.sign(q.W[0, 0] * p.W[0, 0])).ravel(), q.psi]) - theta))
    measured = np.exp(np.polyfit(np.arange(150, 250), np.log(errs[150:250]), 1)[0])
    assert abs(measured - ev_J[0]) < 0.005

# ---- peers --------------------------------------------------------------------------------------------------------
def test_against_sklearn(wine3):
    "The same optimum as scikit-learn's FactorAnalysis: tolerance = the first-order distance bounds of both answers."
    X, est, S, n, p, rate = wine3
    assert np.allclose(rate[:3], 1, atol=1e-5)          # the rotations: a manifold of maxima
    r = rate[3]
    sk = FactorAnalysis(3, tol=1e-12, max_iter=100000, svd_method="lapack").fit(X)
    b_sk, b_em = em_bounds(S, n, FAParams(sk.components_.T, sk.noise_variance_), r), em_bounds(S, n, p, r)
    assert np.abs(est.get_covariance() - sk.get_covariance()).max() <= b_sk[0] + b_em[0]
    assert abs(est.score(X) - sk.score(X)) <= b_sk[2] + b_em[2]

def test_against_sklearn_two_factors_synthetic():
    "A well-conditioned synthetic problem: both converge; same covariance and score."
    rng = np.random.default_rng(0)
    W, psi = rng.normal(size=(8, 2)) * 2, rng.uniform(0.5, 2, size=8)
    X = rng.normal(size=(2000, 2)) @ W.T + rng.normal(size=(2000, 8)) * np.sqrt(psi) + 3
    est = fit_fixed(X, 2, 2000)
    S, n = second_moment(X - X.mean(0))
    p = FAParams(est.components_.T, est.noise_variance_)
    r = np.sort(np.abs(np.linalg.eigvals(em_jacobian(S, p))))[::-1][1]   # one rotation eigenvalue for q = 2
    sk = FactorAnalysis(2, tol=1e-12, max_iter=100000, svd_method="lapack").fit(X)
    b_sk, b_em = em_bounds(S, n, FAParams(sk.components_.T, sk.noise_variance_), r), em_bounds(S, n, p, r)
    assert np.abs(est.get_covariance() - sk.get_covariance()).max() <= b_sk[0] + b_em[0]
    assert abs(est.score(X) - sk.score(X)) <= b_sk[2] + b_em[2] + 1e-13 * abs(sk.score(X))

def test_against_factanal_wine(wine3):
    X, est, S, n, p, rate = wine3
    names, u_R = read_factanal("wine")
    assert names[0] == "alcohol" and len(u_R) == 13
    np.testing.assert_allclose(load_wine().data.sum(0), np.loadtxt(FIXTURES / "wine.csv", delimiter=",", skiprows=1).sum(0))
    p_R = FAParams(profile_loadings(S, u_R, 3), u_R)      # standardised: S is the correlation matrix factanal uses
    tol = em_bounds(S, n, p_R, rate[3])[1] + em_bounds(S, n, p, rate[3])[1]
    assert np.abs(est.uniquenesses_ - u_R).max() <= tol

def test_against_factanal_iris_with_its_bound():
    "factanal stops petal length at lower = 0.005; EM with the same floor reaches the same point."
    X = iris()
    S, n = second_moment(X)
    names, u_R = read_factanal("iris")
    assert names[2] == "Petal.Length" and u_R[2] == 0.005
    fit = coordinate_ascent(FactorModel(lower=0.005), X, FAParams(np.ones((4, 1)), np.ones(4)), tol=0, max_iter=2000,
                            n_threads=1)
    r = np.abs(np.linalg.eigvals(em_jacobian(S, fit.state, lower=0.005))).max()
    tol = em_bounds(S, n, FAParams(profile_loadings(S, u_R, 1), u_R), r, 0.005)[1] + em_bounds(S, n, fit.state, r, 0.005)[1]
    assert np.abs(fit.state.psi - u_R).max() <= tol

def test_profile_loadings_at_the_maximum(wine3):
    X, est, S, n, p, _ = wine3
    W = profile_loadings(S, p.psi, 3)
    np.testing.assert_allclose(W @ W.T, p.W @ p.W.T, atol=1e-8)

# ---- Heywood cases ------------------------------------------------------------------------------------------------
def test_heywood_iris_sublinear():
    "Petal length's uniqueness falls like 1/(c t): 1/psi rises by a constant each iteration."
    X = iris()
    S, _ = second_moment(X)
    p = FactorAnalysisEM(1)._start(np.diag(S), np.random.default_rng(0))
    inv = []
    for t in range(6000):
        p = em_map(S, p)
        inv.append(1 / p.psi[2])
    inc = np.diff(inv)[1000:]
    assert inc.max() / inc.min() < 1.01
    assert (p.psi[[0, 1, 3]] > 0.05).all()

def test_heywood_warning_names_the_feature():
    data = load_iris(as_frame=True).data
    with pytest.warns(HeywoodWarning, match=r"'petal length \(cm\)'"):
        est = FactorAnalysisEM(1, random_state=0).fit(data)
    assert est.heywood_.tolist() == [False, False, True, False]
    assert list(est.feature_names_in_) == list(data.columns)
    with pytest.warns(HeywoodWarning, match="column 2"):
        FactorAnalysisEM(1, max_iter=300, random_state=0).fit(data.to_numpy())

def test_no_heywood_on_wine(wine3):
    with warnings.catch_warnings():
        warnings.simplefilter("error", HeywoodWarning)
        est = FactorAnalysisEM(2, tol=1e-8, max_iter=5000, random_state=0).fit(wine())
    assert not est.heywood_.any()

# ---- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("q", [13, 14, 0, 1.5, True])
def test_bad_n_components(q):
    with pytest.raises(ValueError, match=r"n_components must be an integer with 1 <= n_components < n_features = 13"):
        FactorAnalysisEM(q).fit(wine())

@pytest.mark.parametrize("kw,msg", [(dict(tol=-1), "tol must be"), (dict(max_iter=0), "max_iter must be"),
                                    (dict(heywood_tol=-0.1), "heywood_tol must be")])
def test_bad_hyperparameters(kw, msg):
    with pytest.raises(ValueError, match=msg):
        FactorAnalysisEM(2, **kw).fit(wine())

def test_bad_data():
    X = wine()
    Xc = X.copy(); Xc[:, 4] = 1.
    with pytest.raises(ValueError, match=r"column\(s\) \[4\] of X are constant"):
        FactorAnalysisEM(2).fit(Xc)
    Xn = X.copy(); Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        FactorAnalysisEM(2).fit(Xn)
    with pytest.raises(ValueError, match="needs more samples than factors"):
        FactorAnalysisEM(3).fit(X[:3])
    with pytest.raises(NotFittedError):
        FactorAnalysisEM(2).score(X)
    est = FactorAnalysisEM(2, max_iter=20, tol=1e-3).fit(X)
    with pytest.raises(ValueError, match="X has 5 features"):
        est.transform(X[:, :5])
