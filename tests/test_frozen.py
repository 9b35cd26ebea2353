"Frozen blocks: the M-step keeps them, they come back bit for bit, and coordinate ascent over the rest stays certified."
import itertools, warnings
import numpy as np
import pytest
from emtheory.core import stats_from_resp
from emtheory.datasets import load_faithful
from emtheory.em import GaussianMixtureEM
from emtheory.map_em import GaussianMixtureMAP
from emtheory.gaussian import COVARIANCE_TYPES

X, _ = load_faithful()
K = 2
PREC = dict(full=np.stack([np.linalg.inv(np.cov(X.T))] * 2), tied=np.linalg.inv(np.cov(X.T)),
            diag=np.tile(1 / X.var(0), (2, 1)), spherical=np.array([0.02, 0.05]))
def init(ct): return dict(weights_init=np.array([0.3, 0.7]), means_init=np.array([[2.2, 56.], [4.1, 79.]]),
                          precisions_init=PREC[ct])
SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(("weights", "means", "covariances"), r)]

def fit(est, ct, frozen, n, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est(K, covariance_type=ct, frozen=frozen, tol=0, max_iter=n, **init(ct), **kw).fit(X)

@pytest.mark.parametrize("est", [GaussianMixtureEM, GaussianMixtureMAP])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
@pytest.mark.parametrize("frozen", SUBSETS, ids="+".join)
def test_frozen_blocks_come_back_bit_identical(est, ct, frozen):
    a, b = fit(est, ct, frozen, 1), fit(est, ct, frozen, 15)
    i = init(ct)
    if "weights" in frozen: assert np.array_equal(b.weights_, i["weights_init"])
    if "means" in frozen: assert np.array_equal(b.means_, i["means_init"])
    if "covariances" in frozen:
        assert np.array_equal(b.precisions_, i["precisions_init"]) and np.array_equal(a.covariances_, b.covariances_)
    free = {"weights": "weights_", "means": "means_", "covariances": "covariances_"}
    if len(frozen) < 3: assert any(not np.array_equal(getattr(a, free[k]), getattr(b, free[k])) for k in free if k not in frozen)
    h = b.history_
    scale = np.abs(h["objective"]).max()
    assert (np.diff(h["objective"]) >= -1e-12 * scale).all()                       # ascent over the free blocks
    assert np.abs(h["residual"]).max() <= 1e-10 * scale and (h["kl"] >= -1e-10 * scale).all()

@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_covariances_given_frozen_means_are_taken_about_them(ct):
    "With the means frozen at mu, the M-step's covariance is sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k (+ reg_covar)."
    gm = fit(GaussianMixtureEM, ct, ("means",), 1, reg_covar=0.)
    model, mu = gm._model, init(ct)["means_init"]
    R = np.random.default_rng(0).dirichlet([1, 1], len(X))
    p = model.m_step(stats_from_resp(model, X, R), gm._state(model))
    S = np.stack([((X - mu[k]).T * R[:, k]) @ (X - mu[k]) for k in range(K)])
    Nk = R.sum(0)
    want = dict(full=S / Nk[:, None, None], tied=S.sum(0) / Nk.sum(),
                diag=np.einsum('kaa->ka', S) / Nk[:, None], spherical=np.einsum('kaa->k', S) / Nk / 2)[ct]
    np.testing.assert_allclose(p.covariances, want, rtol=1e-12)
    np.testing.assert_allclose(p.weights, Nk / Nk.sum(), rtol=1e-12)

def test_frozen_needs_its_init_and_known_names():
    with pytest.raises(ValueError, match="pass means_init"): GaussianMixtureEM(2, frozen=("means",)).fit(X)
    with pytest.raises(ValueError, match="pass precisions_init"): GaussianMixtureMAP(2, frozen=("covariances",)).fit(X)
    with pytest.raises(ValueError, match="unknown block 'mean'"): GaussianMixtureEM(2, frozen=("mean",), **init("full")).fit(X)
    with pytest.raises(ValueError, match="tuple of block names"): GaussianMixtureEM(2, frozen="means", **init("full")).fit(X)

def test_bic_counts_only_free_parameters():
    a, b = fit(GaussianMixtureEM, "full", (), 5), fit(GaussianMixtureEM, "full", ("means", "weights"), 5)
    assert a._n_parameters() - b._n_parameters() == K * 2 + K - 1

def test_zero_frozen_weight_is_refused():
    "A frozen weight of 0 (the issue: elbo = -inf, residual = inf at every iteration) is refused in one line before the fit."
    from emtheory.em import GaussianMixtureEM
    X = np.random.default_rng(0).normal(size=(50, 2))
    est = GaussianMixtureEM(2, frozen=("weights",), weights_init=[1., 0.])
    with pytest.raises(ValueError, match=r"keeps component 1 at weight 0: .*lower n_components"): est.fit(X)
    assert not hasattr(est, "converged_")
