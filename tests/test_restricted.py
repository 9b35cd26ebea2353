"The second warning: log p = L + KL term by term, log p falling under a restricted q while the ELBO rises; Neal & Hinton's steps keep F rising."
import numpy as np
import pytest
from scipy import stats as sst
from sklearn.datasets import load_wine
from emtheory.core import coordinate_ascent
from emtheory.ppca import PPCAParams, PPCAModel, ppca_mle, canonical_rotation
from emtheory.latent import AmortizedPPCA, optimal_encoder
from emtheory.restricted import (encoder_stats, ppca_moment_log_likelihood, decomposition, restricted_em,
                                 incremental_em)

def wine():
    X = load_wine().data
    return (X - X.mean(0)) / X.std(0)

@pytest.fixture(scope="module")
def data():
    X = wine()
    return X, X.T @ X / len(X), float(len(X))

def test_log_likelihood_from_moment_against_scipy(data):
    X, C, n = data
    p = PPCAParams(np.random.default_rng(0).normal(size=(13, 3)), 0.7)
    ref = sst.multivariate_normal(np.zeros(13), p.W @ p.W.T + p.sigma2 * np.eye(13)).logpdf(X).sum()
    assert abs(ppca_moment_log_likelihood(p, C, n) - ref) < 1e-10 * abs(ref)

def test_decomposition_and_exact_encoder(data):
    "log p = L + KL for any encoder; KL = 0 for the optimal encoder when M is diagonal."
    X, C, n = data
    rng = np.random.default_rng(1)
    p = PPCAParams(rng.normal(size=(13, 2)), 0.8)
    enc = (rng.normal(size=(2, 13)) * 0.2, rng.normal(size=2) * 0.1, rng.uniform(0.2, 1, size=2))
    lp, L, KL = decomposition(p, enc, C, n)
    assert KL > 1 and abs(lp - L - KL) < 1e-10 * abs(lp)
    po = PPCAParams(canonical_rotation(p.W)[0], 0.8)
    o = optimal_encoder(po)
    lp, L, KL = decomposition(po, (o["A"], o["b"], np.exp(2 * o["log_s"])), C, n)
    assert abs(KL) < 1e-8 and abs(lp - L) < 1e-9 * abs(lp)

def test_encoder_stats_are_the_rows_average(data):
    "s_xz and s_zz of an encoder from C equal their sums over rows."
    X, C, n = data
    rng = np.random.default_rng(2)
    A, b, s2 = rng.normal(size=(2, 13)), rng.normal(size=2), rng.uniform(0.1, 1, size=2)
    st = encoder_stats((A, b, s2), C, n)
    m = X @ A.T + b
    np.testing.assert_allclose(st.T.xz, X.T @ m, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(st.T.zz, m.T @ m + n * np.diag(s2), rtol=1e-10)

def test_restricted_encoder_makes_log_p_fall(data):
    X, C, n = data
    h = restricted_em(PPCAParams(np.random.default_rng(2).normal(size=(13, 2)), 1.), C, n, np.arange(6), 40)
    assert np.abs(h["log_p"] - h["elbo"] - h["kl"]).max() < 1e-9 * np.abs(h["log_p"]).max()
    assert (np.diff(h["elbo"]) >= -1e-9).all()
    lp_M = h["log_p"][h["step"] == "M"]
    assert (np.diff(lp_M) < -1e-3).sum() >= 10                 # it falls, over many iterations
    assert lp_M.max() - lp_M[-1] > 1.                          # by more than a nat
    E = h["step"] == "E"
    assert np.abs(h["log_p"][E][1:] - h["log_p"][~E][:-1]).max() < 1e-9 * abs(lp_M[0])   # E-steps leave log p alone
    assert h["log_p"][-1] < ppca_mle(X, 2)[1] - 10             # and it settles far below the maximum

def test_incremental_em_keeps_F_rising(data):
    X, C, n = data
    start = PPCAParams(np.random.default_rng(2).normal(size=(13, 2)), 1.)
    inc = incremental_em(X, start, 6, 4)
    scale = abs(inc["F"][-1])
    assert (np.diff(inc["F"]) >= -1e-9 * scale).all()
    assert np.abs(inc["log_p"] - inc["F"] - inc["kl"]).max() < 1e-8 * scale
    assert (inc["kl"] >= -1e-9).all() and inc["kl"].max() > 1
    batch = coordinate_ascent(PPCAModel(), X, start, tol=0, max_iter=4, n_threads=1).history["log_likelihood"]
    assert (inc["log_p"][11::12] > batch).all()

def test_one_block_is_batch_em(data):
    "With one block incremental EM is EM: the same log-likelihoods as the shared loop."
    X, C, n = data
    start = PPCAParams(np.random.default_rng(3).normal(size=(13, 2)), 1.)
    inc = incremental_em(X, start, 1, 5)
    batch = coordinate_ascent(PPCAModel(), X, start, tol=0, max_iter=5, n_threads=1).history["log_likelihood"]
    np.testing.assert_allclose(inc["log_p"][1::2], batch, rtol=1e-12)
    np.testing.assert_allclose(inc["kl"][0::2], 0, atol=1e-9)      # after each E-step q is the posterior

def test_partial_e_steps_keep_F_rising(data):
    X, C, n = data
    start = PPCAParams(np.random.default_rng(2).normal(size=(13, 2)), 1.)
    fit = coordinate_ascent(AmortizedPPCA(n_steps=1), X, start, tol=0, max_iter=200, n_threads=1)
    F = fit.history["log_likelihood"]
    assert (np.diff(F) >= -1e-9 * abs(F[-1])).all()
    lp, L, KL = decomposition(fit.state, fit.stats.T.encoder, C, n)
    assert abs(lp - L - KL) < 1e-9 * abs(lp) and abs(L - F[-1]) < 1e-8 * abs(lp)
