"The non-linear VAE: gradients against autograd (a peer), densities against scipy, IWAE against quadrature, training, bad input."
import zlib
import numpy as np
import pytest
import autograd.numpy as anp
from autograd import grad
from scipy import stats as sst
from scipy.special import expit, logsumexp
from sklearn.base import clone
from emtheory.core import NotFittedError
from emtheory.vae import (VAE, ACTIVATIONS, LIKELIHOODS, LOG2PI, init_params, encode, decode, log_likelihood,
                          elbo_grad, log_weights, iwae)

AG_ACT = {"tanh": anp.tanh, "relu": lambda a: anp.maximum(a, 0.), "softplus": lambda a: anp.logaddexp(0., a)}

def ag_objective(p, X, eps, act, beta):
    "The same Monte Carlo objective written independently in autograd.numpy (no shared code with emtheory.vae)."
    f, n = AG_ACT[act], sum(k.startswith("enc_W") for k in p)
    h = X
    for l in range(n): h = f(anp.dot(h, p[f"enc_W{l}"]) + p[f"enc_b{l}"])
    mu, lv = anp.dot(h, p["mu_W"]) + p["mu_b"], anp.dot(h, p["lv_W"]) + p["lv_b"]
    total = 0.
    for s in range(eps.shape[0]):
        g = mu + anp.exp(0.5 * lv) * eps[s]
        for l in range(n): g = f(anp.dot(g, p[f"dec_W{l}"]) + p[f"dec_b{l}"])
        out = anp.dot(g, p["out_W"]) + p["out_b"]
        if "out_logvar" in p:
            total = total + anp.sum(-0.5 * (LOG2PI + p["out_logvar"] + (X - out) ** 2 * anp.exp(-p["out_logvar"])))
        else:
            total = total + anp.sum(X * out - anp.logaddexp(0., out))
    kl = 0.5 * anp.sum(mu ** 2 + anp.exp(lv) - 1. - lv)
    return (total / eps.shape[0] - beta * kl) / X.shape[0]

def data(lik, rng, n=5, d=7):
    return (rng.random((n, d)) < 0.4).astype(float) if lik == "bernoulli" else rng.normal(size=(n, d))

# ---- gradients: the hand-derived backpropagation against autograd --------------------------------------------------
@pytest.mark.parametrize("lik", LIKELIHOODS)
@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("hidden", [(6,), (5, 4)])
def test_gradient_matches_autograd(lik, act, hidden):
    rng = np.random.default_rng(zlib.crc32(repr((lik, act, hidden)).encode()))
    X = data(lik, rng)
    p = {k: v + 0.3 * rng.normal(size=v.shape) for k, v in init_params(X, 3, hidden, lik, rng).items()}
    eps = rng.standard_normal((2, len(X), 3))
    val, g = elbo_grad(p, X, eps, act, beta=1.3)
    assert val == pytest.approx(ag_objective(p, X, eps, act, 1.3), rel=1e-12)
    ga = grad(ag_objective)(p, X, eps, act, 1.3)
    assert set(g) == set(ga) == set(p)
    for k in p:   # both are exact derivatives of one function: they agree to rounding, relative to the array's scale
        np.testing.assert_allclose(g[k], ga[k], rtol=0, atol=1e-10 * max(1., np.abs(ga[k]).max()), err_msg=k)

# ---- densities: scipy as the reference ------------------------------------------------------------------------------
def test_log_likelihood_matches_scipy():
    rng = np.random.default_rng(0)
    out = rng.normal(scale=3, size=(6, 7))
    Xb = data("bernoulli", rng, 6)
    ll, d = log_likelihood(Xb, out, {})
    np.testing.assert_allclose(ll, sst.bernoulli(expit(out)).logpmf(Xb).sum(1), rtol=1e-12)
    np.testing.assert_allclose(d, Xb - expit(out), rtol=1e-12)
    lv = rng.normal(size=7)
    Xg = rng.normal(size=(6, 7))
    ll, d = log_likelihood(Xg, out, {"out_logvar": lv})
    np.testing.assert_allclose(ll, sst.norm(out, np.exp(lv / 2)).logpdf(Xg).sum(1), rtol=1e-12)
    # far logits: no log(0), the exact limit x*eta - max(eta, 0)
    ll, _ = log_likelihood(np.array([[1., 0.]]), np.array([[-800., 800.]]), {})
    assert ll[0] == pytest.approx(-1600.)

def test_log_weights_match_scipy_densities():
    "log w = log p(x|z) + log N(z; 0, I) - log N(z; mu, diag sigma^2) with scipy's densities."
    rng = np.random.default_rng(1)
    X = data("bernoulli", rng, 4)
    p = init_params(X, 2, (5,), "bernoulli", rng)
    eps = rng.standard_normal((3, 4, 2))
    lw, ll, kl = log_weights(p, X, eps, "softplus")
    mu, lv, _ = encode(p, X, "softplus")
    for s in range(3):
        z = mu + np.exp(lv / 2) * eps[s]
        ref_ll = sst.bernoulli(expit(decode(p, z, "softplus")[0])).logpmf(X).sum(1)
        ref = ref_ll + sst.norm.logpdf(z).sum(1) - sst.norm(mu, np.exp(lv / 2)).logpdf(z).sum(1)
        np.testing.assert_allclose(lw[s], ref, rtol=1e-11)
        np.testing.assert_allclose(ll[s], ref_ll, rtol=1e-11)
    # KL(N(mu, s^2) || N(0, 1)) by scipy's quadrature of the first row's first coordinate
    m, s = mu[0, 0], np.exp(lv[0, 0] / 2)
    from scipy.integrate import quad
    kl00 = quad(lambda z: sst.norm.pdf(z, m, s) * (sst.norm.logpdf(z, m, s) - sst.norm.logpdf(z)), -30, 30)[0]
    kl_coord = 0.5 * (mu ** 2 + np.exp(lv) - 1 - lv)
    assert kl_coord[0, 0] == pytest.approx(kl00, rel=1e-8)
    np.testing.assert_allclose(kl, kl_coord.sum(1), rtol=1e-12)

# ---- the importance-weighted bound against quadrature (one latent dimension) -----------------------------------------
@pytest.mark.parametrize("lik", LIKELIHOODS)
def test_iwae_converges_to_quadrature(lik):
    rng = np.random.default_rng(2)
    X = data(lik, rng, 4, 10)
    p = {k: v + 0.4 * rng.normal(size=v.shape) for k, v in init_params(X, 1, (8,), lik, rng).items()}
    # an encoder wider than the prior: w <= max p(x|z) p(z)/q(z|x) is bounded, so the delta-method error is valid
    p["lv_W"], p["lv_b"] = 0 * p["lv_W"], np.full(1, np.log(1.5))
    zg = np.linspace(-20, 20, 40001)
    out = decode(p, zg[:, None], "tanh")[0]
    llg = np.stack([log_likelihood(np.broadcast_to(x, out.shape), out, p)[0] for x in X], 1)
    w = np.r_[0.5, np.ones(len(zg) - 2), 0.5][:, None] * (zg[1] - zg[0])
    exact = logsumexp(llg - 0.5 * zg[:, None] ** 2 - 0.5 * LOG2PI, 0, b=w)
    k = 20000
    lw, _, _ = log_weights(p, X, np.random.default_rng(3).standard_normal((k, len(X), 1)), "tanh")
    est = logsumexp(lw, 0) - np.log(k)
    wn = np.exp(lw - lw.max(0))
    se = wn.std(0) / wn.mean(0) / np.sqrt(k)       # delta-method standard error of log(mean w)
    assert (np.abs(est - exact) < 5 * se + 1e-9).all()
    # the bound with few samples lies below log p(x) on average (Jensen), by more than its error here
    L1 = np.array([log_weights(p, X, np.random.default_rng(10 + r).standard_normal((1, len(X), 1)), "tanh")[0][0]
                   for r in range(2000)])
    assert (L1.mean(0) + 5 * L1.std(0) / np.sqrt(2000) < exact).all()

def test_iwae_chunks_keep_rows_apart():
    "Chunking the rows changes only which draws each row gets, never mixes rows: a row scored alone or in a chunk agrees in law."
    rng = np.random.default_rng(4)
    X = data("bernoulli", rng, 9)
    p = init_params(X, 2, (5,), "bernoulli", rng)
    a = iwae(p, X, 7, "tanh", np.random.default_rng(0), max_floats=10**9)[0]
    eps = np.random.default_rng(0).standard_normal((7, 9, 2))
    np.testing.assert_allclose(a, logsumexp(log_weights(p, X, eps, "tanh")[0], 0) - np.log(7), rtol=1e-12)
    b = iwae(p, X, 7, "tanh", np.random.default_rng(0), max_floats=7 * 7 * 3)[0]    # 3 rows per chunk
    assert b.shape == (9,) and np.isfinite(b).all()

# ---- training ---------------------------------------------------------------------------------------------------------
def digits():
    from sklearn.datasets import load_digits
    return (load_digits().data > 7).astype(float)

def test_training_raises_the_elbo_on_digits():
    X = digits()
    est = VAE(4, hidden_layer_sizes=(32,), max_epochs=8, n_importance=20, random_state=0)
    est.partial_fit(X[:1200])
    before = est.elbo(X[1200:])
    est.fit(X[:1200])
    h = est.history_["elbo"]
    assert len(h) == 8 and est.n_iter_ == 8 and h[-1] > h[0] + 2
    assert est.elbo(X[1200:]) > before + 2
    assert est.score(X[1200:]) >= est.elbo(X[1200:]) - 0.05     # L_k >= ELBO in expectation

def test_fit_is_deterministic_and_restarts():
    X = digits()[:300]
    a = VAE(3, hidden_layer_sizes=(16,), max_epochs=3, random_state=5).fit(X)
    b = VAE(3, hidden_layer_sizes=(16,), max_epochs=3, random_state=5).fit(X)
    for k in a.params_: np.testing.assert_array_equal(a.params_[k], b.params_[k])
    a.fit(X)                                        # fit restarts from new weights: the same seed, the same result
    for k in a.params_: np.testing.assert_array_equal(a.params_[k], b.params_[k])
    assert a.n_iter_ == 3

def test_gaussian_decoder_trains():
    rng = np.random.default_rng(6)
    t = rng.uniform(-2, 2, 400)
    X = np.c_[np.sin(t), np.cos(t), t / 2] + 0.05 * rng.normal(size=(400, 3))   # a noisy curve in R^3
    est = VAE(1, hidden_layer_sizes=(16,), likelihood="gaussian", max_epochs=30, learning_rate=1e-2, n_importance=50,
              random_state=0).fit(X)
    h = est.history_["elbo"]
    assert h[-1] > h[0] + 1
    s = est.sample(5)
    assert s.shape == (5, 3) and np.isfinite(s).all()

def test_api_shapes_and_params():
    X = digits()[:200]
    est = VAE(3, hidden_layer_sizes=(8, 6), activation="relu", max_epochs=2, n_importance=5, random_state=0).fit(X)
    assert est.transform(X).shape == (200, 3)
    assert est.decode(np.zeros((4, 3))).shape == (4, 64)
    assert ((est.decode(np.zeros((4, 3))) > 0) & (est.decode(np.zeros((4, 3))) < 1)).all()
    s = est.sample(11)
    assert s.shape == (11, 64) and set(np.unique(s)) <= {0., 1.}
    assert est.score_samples(X).shape == (200,)
    rec, kl = est.elbo_terms(X)
    assert rec.shape == kl.shape == (200,) and (kl >= 0).all()
    assert est.elbo(X) == pytest.approx((rec - kl).mean())
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "params_")
    assert "hidden_layer_sizes=(8, 6)" in repr(est)

# ---- bad input --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,msg", [(dict(likelihood="poisson"), "likelihood must be one of"),
                                    (dict(activation="sigmoid"), "activation must be one of"),
                                    (dict(hidden_layer_sizes=()), "hidden_layer_sizes"),
                                    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
                                    (dict(n_components=1.5), "n_components must be an integer"),
                                    (dict(batch_size=0), "batch_size must be an integer"),
                                    (dict(beta=-1.), "beta must be"),
                                    (dict(learning_rate=0.), "learning_rate must be")])
def test_bad_parameters(kw, msg):
    with pytest.raises(ValueError, match=msg): VAE(**kw).fit(digits()[:50])

def test_bad_images():
    X = digits()[:50]
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*row 0, column 2"):
        VAE().fit(np.where(np.arange(64) == 2, 16., X[:5]))
    with pytest.raises(ValueError, match="outside"): VAE().fit(-X)
    est = VAE(2, hidden_layer_sizes=(4,), max_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="outside"): est.score(X * 3)
    with pytest.raises(ValueError, match="expecting 64"): est.transform(X[:, :10])
    with pytest.raises(ValueError, match="NaN"): est.score(np.where(X == 1, np.nan, X))
    with pytest.raises(ValueError, match="columns"): est.decode(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="constant column"): VAE(likelihood="gaussian").fit(np.c_[np.ones(10), np.arange(10.)])
    with pytest.raises(NotFittedError): VAE().sample(3)
