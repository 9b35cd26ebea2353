"pPCA and the linear VAE: the closed-form MLE, the certificate (hypothesis), scikit-learn's PCA, gradient ties, the VAE bar, bad input."
import warnings
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from scipy import stats as sst
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from emtheory.core import coordinate_ascent, ConvergenceWarning, NotFittedError
from emtheory.ppca import PPCAParams, PPCAModel, MeanFieldPPCA, ppca_mle
from emtheory.latent import (PPCA, LinearVAE, AmortizedPPCA, Adam, PARAM_NAMES, exact_elbo_terms, exact_elbo_grad,
                             mc_elbo_grad)

def wine():
    X = load_wine().data
    return (X - X.mean(0)) / X.std(0)

def tipping_bishop_ll(X, q):
    "Total log-likelihood at the pPCA maximum, from the eigenvalues of the 1/N sample covariance (Tipping & Bishop 1999)."
    N, D = X.shape
    Xc = X - X.mean(0)
    lam = np.sort(np.linalg.eigvalsh(Xc.T @ Xc / N))[::-1]
    s2 = lam[q:].mean()
    return -0.5 * N * (D * np.log(2 * np.pi) + np.log(lam[:q]).sum() + (D - q) * np.log(s2) + D)

def spiked(N=400, D=8, q=2, seed=0):
    "Data from a pPCA model with a clear gap between the q signal eigenvalues and the noise."
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, q)) * 3
    return rng.normal(size=(N, q)) @ W.T + rng.normal(size=(N, D)) + rng.normal(size=D)

def scipy_ll(est, X):
    "The fitted model's total log-likelihood recomputed with scipy from its covariance."
    return sst.multivariate_normal(est.mean_, est.get_covariance()).logpdf(X).sum()

# ---- exact EM: the closed form --------------------------------------------------------------------------------------
@pytest.mark.parametrize("X,q,n_iter", [(wine(), 3, 300), (spiked(), 2, 1000)])
def test_em_reaches_closed_form(X, q, n_iter):
    est = PPCA(q, tol=0, max_iter=n_iter, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    ref = tipping_bishop_ll(X, q)
    assert abs(est.score(X) * len(X) - ref) <= 1e-8 * abs(ref)
    assert abs(scipy_ll(est, X) - ref) <= 1e-8 * abs(ref)
    np.testing.assert_allclose(est.components_ @ est.components_.T, np.eye(q), atol=1e-10)

def test_against_sklearn_pca():
    X = wine(); N, D = X.shape
    ours = PPCA(3, tol=0, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X)
    sk = PCA(3).fit(X)
    # scikit-learn's covariance is N/(N-1) times the maximum-likelihood one; at the maximum tr(C^-1 S) = D
    assert abs(sk.score(X) - (ours.score(X) - D / 2 * (np.log(N / (N - 1)) - 1 / N))) < 1e-8
    np.testing.assert_allclose(ours.get_covariance() * N / (N - 1), sk.get_covariance(), atol=1e-6)
    np.testing.assert_allclose(np.abs(ours.components_ @ sk.components_.T), np.eye(3), atol=1e-5)

def test_weights_equal_repetition():
    X = spiked(N=60, D=5, q=2, seed=3)
    w = np.random.default_rng(0).integers(1, 4, size=len(X))
    a = PPCA(2, tol=0, max_iter=40, random_state=5)
    b = PPCA(2, tol=0, max_iter=40, random_state=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, sample_weight=w); b.fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.get_covariance(), b.get_covariance(), rtol=1e-9, atol=1e-12)

# ---- the certificate, for exact and mean-field EM -------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), D=st.integers(2, 7), q=st.integers(1, 6), N=st.integers(8, 80),
       weighted=st.booleans(), variational=st.booleans())
def test_certificate(seed, D, q, N, weighted, variational):
    q = min(q, D - 1)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) @ rng.normal(size=(D, D)); X -= X.mean(0)
    w = rng.uniform(0.1, 2, size=N) if weighted else None
    start = PPCAParams(rng.normal(size=(D, q)), float(rng.uniform(0.2, 2)))
    model = MeanFieldPPCA() if variational else PPCAModel()
    fit = coordinate_ascent(model, X, start, w, tol=0, max_iter=8, n_threads=1)
    h = fit.history
    scale = max(1., np.abs(h['objective']).max())
    assert np.abs(h['residual']).max() <= 1e-9 * scale                      # objective = bound + KL(q_t || q_t+1)
    assert (np.diff(h['objective']) >= -1e-10 * scale).all()
    assert (h['kl'] >= -1e-10 * scale).all()
    # the log-likelihood, recomputed with scipy at the final parameters (exact EM's objective; mean-field's bound)
    C = fit.state.W @ fit.state.W.T + fit.state.sigma2 * np.eye(D)
    lp = sst.multivariate_normal(np.zeros(D), C).logpdf(X)
    ll = lp.sum() if w is None else w @ lp
    if variational: assert fit.objective <= ll + 1e-9 * scale
    else: assert abs(fit.objective - ll) <= 1e-9 * scale

def test_amortized_em_certificate():
    X = wine()
    fit = coordinate_ascent(AmortizedPPCA(3), X, PPCAParams(np.random.default_rng(0).normal(size=(13, 3)), 1.), tol=0,
                            max_iter=50, n_threads=1)
    h = fit.history
    assert np.abs(h['residual']).max() < 1e-9 * abs(h['objective'][-1])
    assert (np.diff(h['objective']) >= 0).all()

# ---- gradients and the optimiser --------------------------------------------------------------------------------------
def _params(rng, D, q):
    return dict(W=rng.normal(scale=.5, size=(D, q)), log_sigma2=np.array(rng.normal(scale=.3)),
                A=rng.normal(scale=.5, size=(q, D)), b=rng.normal(scale=.5, size=q), log_s=rng.normal(scale=.3, size=q))

def _fd(f, p, h=1e-6):
    out = {}
    for k, v in p.items():
        g = np.zeros_like(v, dtype=float)
        for idx in np.ndindex(v.shape):
            up = {a: np.array(u, dtype=float) for a, u in p.items()}; dn = {a: u.copy() for a, u in up.items()}
            up[k][idx] += h; dn[k][idx] -= h
            g[idx] = (f(up) - f(dn)) / (2 * h)
        out[k] = g
    return out

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_match_finite_differences(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 4)) @ rng.normal(size=(4, 4)); X -= X.mean(0)
    p = _params(rng, 4, 2)
    eps = rng.standard_normal((2, 30, 2))
    ge, gfe = exact_elbo_grad(X, p), _fd(lambda q: np.subtract(*exact_elbo_terms(X, q)), p)
    gm, gfm = mc_elbo_grad(X, p, eps)[1], _fd(lambda q: mc_elbo_grad(X, q, eps)[0], p)
    for k in PARAM_NAMES:
        np.testing.assert_allclose(ge[k], gfe[k], atol=1e-6 * max(1, np.abs(gfe[k]).max()))
        np.testing.assert_allclose(gm[k], gfm[k], atol=1e-6 * max(1, np.abs(gfm[k]).max()))

def test_mc_elbo_unbiased_for_value():
    "With eps = 0 the reparameterised objective is the ELBO without the variance terms: check the closed form's pieces."
    rng = np.random.default_rng(4)
    X = rng.normal(size=(25, 3)); X -= X.mean(0)
    p = _params(rng, 3, 2)
    rec, kl = exact_elbo_terms(X, p)
    vals = np.array([mc_elbo_grad(X, p, rng.standard_normal((1, 25, 2)))[0] for _ in range(4000)])
    assert abs(vals.mean() - (rec - kl)) < 6 * vals.std() / np.sqrt(len(vals))

def test_adam():
    opt = Adam(0.1)
    g = np.array([2., -1e-3, 0.5])
    np.testing.assert_allclose(opt.step(dict(a=np.zeros(3)), dict(a=g))['a'], 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    H, c = np.diag([5., 1., .2]), np.array([-1., 2., .5])
    opt, p = Adam(0.05), dict(a=np.zeros(3))
    for i in range(3000): p = opt.step(p, dict(a=-H @ (p['a'] - c)), lr=0.05 / (1 + i / 300))
    np.testing.assert_allclose(p['a'], c, atol=1e-3)

# ---- the VAE bar ------------------------------------------------------------------------------------------------------
def test_vae_bar_on_wine():
    X = wine()
    ref = tipping_bishop_ll(X, 3) / len(X)
    vae = LinearVAE(3, random_state=0).fit(X)
    elbo = vae.elbo(X)
    assert elbo <= ref and ref - elbo < 0.01
    assert (vae.history_['elbo'] <= ref).all()
    assert vae.elbo(X) <= vae.score(X) <= ref + 1e-12
    np.testing.assert_allclose(vae.score(X) * len(X),
                               sst.multivariate_normal(vae.mean_, vae.loadings_.T @ vae.loadings_ + vae.noise_variance_ * np.eye(13)).logpdf(X).sum(),
                               rtol=1e-10)
    assert vae.transform(X).shape == (len(X), 3)

def test_vae_em_method():
    X = wine()
    ref = tipping_bishop_ll(X, 3) / len(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vem = LinearVAE(3, method="em", tol=0, max_iter=400, random_state=0).fit(X)
    assert vem.elbo(X) <= ref and ref - vem.elbo(X) < 1e-5

# ---- bad input --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("Est", [PPCA, LinearVAE])
def test_bad_input(Est):
    X = wine()
    for q in (0, 13, 20, 1.5, True):
        with pytest.raises(ValueError, match="n_components must be an integer"): Est(q).fit(X)
    with pytest.raises(ValueError, match="needs more samples than components"): Est(3).fit(X[:3])
    Xc = X.copy(); Xc[:, [2, 7]] = 1.
    if Est is LinearVAE:
        with pytest.raises(ValueError, match=r"column\(s\) \[2, 7\] of X are constant"): Est(3).fit(Xc)
    else:   # rank 11 > q = 3: sigma^2, the mean of the discarded eigenvalues, is positive (see the digits test)
        with pytest.raises(ValueError, match=r"rank 11 \(2 constant column\(s\): \[2, 7\]\)"): Est(11).fit(Xc)
    Xn = X.copy(); Xn[10, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"): Est(3).fit(Xn)
    with pytest.raises(NotFittedError): Est(3).transform(X)
    with pytest.raises(NotFittedError): Est(3).score(X)

def test_bad_hyperparameters():
    X = wine()
    with pytest.raises(ValueError, match="max_iter"): PPCA(2, max_iter=0).fit(X)
    with pytest.raises(ValueError, match="tol"): PPCA(2, tol=-1).fit(X)
    with pytest.raises(ValueError, match="method"): LinearVAE(2, method="adam").fit(X)
    with pytest.raises(ValueError, match="learning_rate"): LinearVAE(2, learning_rate=0).fit(X)
    with pytest.raises(ValueError, match="n_samples"): LinearVAE(2, n_samples=0).fit(X)

def test_rank_deficient_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2)) @ rng.normal(size=(2, 5))   # rank 2: sigma^2 -> 0 with q = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="rank 2, at most n_components = 2.*unbounded"): PPCA(2, max_iter=2000).fit(X)

def test_constant_columns_below_the_rank_fit_as_scikit_learn():
    "Digits (64 columns, 3 constant, rank 61) at q = 1: sigma^2 is the mean of the 63 discarded eigenvalues, as"
    "scikit-learn's PCA gives it (divisor N - 1 there, N here)."
    from sklearn.datasets import load_digits
    X = load_digits().data
    est = PPCA(1, random_state=0, tol=1e-12, max_iter=5000).fit(X)
    sk = PCA(1).fit(X)
    N = len(X)
    np.testing.assert_allclose(est.noise_variance_, sk.noise_variance_ * (N - 1) / N, rtol=1e-7)
    np.testing.assert_allclose(np.abs(est.components_ @ sk.components_.T), 1., rtol=0, atol=1e-6)

def test_ppca_fits_every_source_alike(tmp_path):
    "pPCA's statistics are sums too: a memmap, a CSV file, a dask array and a callable of blocks give the in-memory fit."
    import warnings
    from emtheory.ppca import PPCA
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 5)) @ rng.normal(size=(5, 5)) + 10
    np.save(tmp_path / "x.npy", X); np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    ref = PPCA(2, random_state=0, max_iter=50, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X)
        srcs = [str(tmp_path / "x.npy"), str(tmp_path / "x.csv"), lambda: (X[i:i + 1000] for i in range(0, 3000, 1000))]
        try:
            import dask.array as da
            srcs.append(da.from_array(X, chunks=(700, 5)))
        except ImportError: pass
        for src in srcs:
            got = PPCA(2, random_state=0, max_iter=50, tol=0).fit(src)
            np.testing.assert_allclose(got.get_covariance(), ref.get_covariance(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(got.history_["objective"], ref.history_["objective"], rtol=1e-12)

def test_ppca_partial_fit_is_stepwise_em():
    "PPCA streams by partial_fit: the first batch starts the fit, later batches step the statistics, and one batch fed"
    "again and again converges to the batch fit on it (the fixed point of the running statistics); after fit it continues."
    X = wine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = PPCA(2, tol=0, max_iter=3000, random_state=0).fit(X)
    est = PPCA(2, random_state=0, average=False)   # the running statistics' fixed point
    for _ in range(400): est.partial_fit(X)
    ref = tipping_bishop_ll(X, 2)
    assert abs(est.score(X) * len(X) - ref) <= 1e-6 * abs(ref)   # the closed-form maximum (Tipping & Bishop)
    assert est.n_iter_ == 400 and est.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match="features"): est.partial_fit(X[:, :3])
    cont = PPCA(2, random_state=0).fit(X)
    n0 = cont.n_iter_
    before = cont.score(X)
    cont.partial_fit(X)   # at the fit's fixed point the whole data's statistics are the fit's own: the step changes ~nothing
    assert cont.n_iter_ == n0 + 1   # continues from the fit's statistics, not from a new start
    assert abs(cont.score(X) - before) < 1e-6


def test_sgd_reports_convergence_only_near_the_maximum():
    "LinearVAE(method='sgd'): converged_ means the exact ELBO is within tol per sample of its closed-form maximum"
    "(Tipping & Bishop's pPCA log-likelihood); one epoch is far from it and says so (issue: it reported True)."
    X = wine()
    with pytest.warns(ConvergenceWarning, match="below the ELBO's maximum"):
        one = LinearVAE(2, random_state=0, n_epochs=1).fit(X)
    Xc = X - X.mean(0)
    _, ll = ppca_mle(Xc, 2)
    assert not one.converged_ and one.elbo_gap_ > 0.1
    np.testing.assert_allclose(one.elbo_gap_, ll / len(X) - one.history_["elbo"][-1], rtol=1e-12)
    loose = LinearVAE(2, random_state=0, tol=0.01).fit(X)   # 2000 epochs reach within 0.01 nats per sample
    assert loose.converged_ and 0 <= loose.elbo_gap_ < 0.01
