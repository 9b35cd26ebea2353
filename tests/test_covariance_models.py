"mclust's fourteen covariance models: counts, M-steps and EM against R's mclust 6.0.0 (fixtures written by tests/fixtures/mclust_models.R), monotone inner iterations, and their place in GaussianMixtureEM."
import warnings
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from scipy.linalg import expm
from scipy.optimize import minimize
from emtheory.covariance import (MCLUST_MODELS, SKLEARN_ALIASES, ITERATIVE, mclust_name, statistic_kind, covariance_form,
                                 n_covariance_params, n_mclust_params, complete_loglik, mstep_covariances, mstep_from_resp)
from emtheory.datasets import load_faithful
from emtheory.em import GaussianMixtureEM
from emtheory.gaussian import n_parameters
from emtheory.map_em import GaussianMixtureMAP

FIX = Path(__file__).parent / "fixtures"
DATA = dict(faithful=load_faithful()[0], iris=pd.read_csv(FIX / "mclust_iris.csv").to_numpy())
STARTS = pd.read_csv(FIX / "mclust_models_start.csv", comment="#")
MSTEP = pd.read_csv(FIX / "mclust_models_mstep.csv", comment="#")
ME = pd.read_csv(FIX / "mclust_models_me.csv", comment="#")

def hc_start(name, G):
    "mclust's start: the one-hot classes of hclass(hc(X), G)."
    s = STARTS[(STARTS.data == name) & (STARTS.G == G)].sort_values("row")
    return np.eye(G)[s["class"].to_numpy() - 1]

def scatter(X, R):
    Nk = R.sum(0); mu = R.T @ X / Nk[:, None]
    return Nk, np.stack([((X - mu[k]) * R[:, k, None]).T @ (X - mu[k]) for k in range(R.shape[1])])

def as_full(S, D):
    return S[:, None, None] * np.eye(D) if S.ndim == 1 else np.stack([np.diag(s) for s in S]) if S.ndim == 2 else S

def statistic(model, W):
    kind = statistic_kind(model)
    return W if kind == "full" else np.einsum('kaa->ka', W) if kind == "diagonal" else np.einsum('kaa->k', W)

def mclust_sigma(name, model, G):
    g = MSTEP[(MSTEP.data == name) & (MSTEP.model == model) & (MSTEP.G == G)]
    d = DATA[name].shape[1]
    S = np.zeros((G, d, d)); S[g.k - 1, g.i - 1, g.j - 1] = g.sigma
    return S

def ours_full(name, model, G):
    X = DATA[name]
    S = mstep_from_resp(model, X, hc_start(name, G))[2]
    return np.broadcast_to(S, (G,) + S.shape) if covariance_form(model) == "tied" else as_full(S, X.shape[1])

def random_scatter(seed, K=3, D=3):
    rng = np.random.default_rng(seed)
    Nk = rng.integers(10, 60, K).astype(float)
    W = np.stack([(lambda Z: Z.T @ Z)(rng.normal(size=(int(n), D)) @ rng.normal(size=(D, D))) for n in Nk])
    return Nk, W

def test_names():
    "Aliases name mclust's models; the statistic and layout follow the model's family; an unknown name lists the choices."
    assert {mclust_name(a) for a in SKLEARN_ALIASES} == {"VVV", "EEE", "VVI", "VII"}
    assert [statistic_kind(m) for m in ("EII", "VII", "VEI", "EEE", "VEV")] == ["trace", "trace", "diagonal", "full", "full"]
    assert [covariance_form(m) for m in ("EII", "EVI", "EEE", "EVE")] == ["spherical", "diag", "tied", "full"]
    with pytest.raises(ValueError, match="covariance_type must be one of .*got 'VVX'"): mclust_name("VVX")

def test_counts_equal_mclust():
    "n_covariance_params and n_mclust_params equal mclust's nVarParams and nMclustParams (D = 2..6, K = 1..9)."
    nv = pd.read_csv(FIX / "mclust_models_nvar.csv", comment="#")
    assert [n_covariance_params(r.model, r.G, r.d) for r in nv.itertuples()] == nv.nvar.tolist()
    assert [n_mclust_params(r.model, r.G, r.d) for r in nv.itertuples()] == nv.nparams.tolist()
    for a in SKLEARN_ALIASES:   # the four old names keep their old counts
        assert all(n_mclust_params(a, K, D) == n_parameters(K, D, a) for K in range(1, 6) for D in range(1, 6))

@pytest.mark.parametrize("model", [m for m in MCLUST_MODELS if m not in ITERATIVE])
def test_closed_form_msteps_equal_mclust(model):
    "Closed-form M-steps from mclust's hierarchical start equal mclust's mstep, entry by entry, on faithful and iris, G = 1..6."
    for name in DATA:
        for G in range(1, 7):
            theirs = mclust_sigma(name, model, G)
            np.testing.assert_allclose(ours_full(name, model, G), theirs, rtol=0, atol=1e-10 * np.abs(theirs).max())

@pytest.mark.parametrize("model,sigma_rtol", [("VEI", 5e-6), ("VEE", 5e-5), ("VEV", 5e-6), ("EVE", 5e-4)])
def test_iterative_msteps_match_mclust(model, sigma_rtol):
    "VEI, VEE, VEV, EVE: the same Sigma as mclust's mstep up to the flatness of the optimum, and f never lower than mclust's."
    for name in DATA:
        X = DATA[name]
        for G in range(1, 7):
            Nk, W = scatter(X, hc_start(name, G))
            ours, theirs = ours_full(name, model, G), mclust_sigma(name, model, G)
            assert np.abs(ours - theirs).max() <= sigma_rtol * np.abs(theirs).max(), (name, G)
            fo, ft = complete_loglik(Nk, W, ours), complete_loglik(Nk, W, theirs)
            assert fo >= ft - 1e-10 * abs(ft), (name, G, fo - ft)

def _asymmetry(S, W):
    "Relative asymmetry of sum_k H_k P_k (H_k = D^T W_k D, P_k = diag(D^T Sigma_k D)^-1): 0 at a stationary orientation."
    Dm = np.linalg.eigh(S[0])[1]
    HP = sum(Dm.T @ W[k] @ Dm @ np.diag(1 / np.einsum('ba,bc,ca->a', Dm, S[k], Dm)) for k in range(len(S)))
    return np.abs(HP - HP.T).max() / np.abs(HP).max()

def test_vve_mstep_beats_mclust():
    "mclust's VVE M-step is not a maximiser (its orientation is not stationary); ours is higher and stationary."
    for name in DATA:
        X = DATA[name]
        for G in range(2, 7):
            Nk, W = scatter(X, hc_start(name, G))
            ours, theirs = ours_full(name, "VVE", G), mclust_sigma(name, "VVE", G)
            assert complete_loglik(Nk, W, ours) > complete_loglik(Nk, W, theirs) + 1e-5, (name, G)
            assert _asymmetry(theirs, W) > 100 * _asymmetry(ours, W) and _asymmetry(ours, W) < 1e-4, (name, G)

@pytest.mark.parametrize("model", ITERATIVE)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iterative_msteps_never_decrease(model, seed):
    "Every inner iteration raises f (or keeps it), from no previous Sigma and from a random previous one of the model."
    Nk, W = random_scatter(seed)
    rng = np.random.default_rng(seed + 10)
    for prev in (None, mstep_covariances(model, Nk * rng.uniform(.5, 2, 3), statistic(model, W * rng.uniform(.5, 2, (3, 1, 1))), 3)):
        S, hist = mstep_covariances(model, Nk, statistic(model, W), 3, previous=prev, return_history=True)
        assert (np.diff(hist) >= -1e-12 * abs(hist[-1])).all()
        if prev is not None: assert hist[0] >= complete_loglik(Nk, statistic(model, W), prev, 3) - 1e-12 * abs(hist[0])

def _free_sigma(model, theta, K, D):
    "Sigma_k = lambda_k D_k diag(A_k) D_k^T from free parameters: log-volumes, centred log-shapes, skew generators."
    cnt = lambda x: {"E": 1, "V": K, "I": 0}[x]
    nv, ns, no, q = cnt(model[0]), cnt(model[1]), cnt(model[2]), D * (D - 1) // 2
    lam = np.exp(theta[:nv]); A = theta[nv:nv + ns * D].reshape(ns, D); th = theta[nv + ns * D:]
    A = np.exp(A - A.mean(1, keepdims=True)) if ns else np.ones((1, D))
    iu, Ds = np.triu_indices(D, 1), []
    for j in range(max(no, 1)):
        Sk = np.zeros((D, D))
        if no: Sk[iu] = th[j * q:(j + 1) * q]
        Ds.append(expm(Sk - Sk.T))
    pick = lambda a, k: a[k] if len(a) > 1 else a[0]
    return np.stack([pick(lam, k) * pick(Ds, k) @ np.diag(pick(A, k)) @ pick(Ds, k).T for k in range(K)])

@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_msteps_are_maxima(model):
    "BFGS over the model's free parametrisation, from random starts, finds nothing above the M-step, and reaches it."
    K, D = 3, 2
    Nk, W = random_scatter(5, K, D)
    ours = complete_loglik(Nk, W, as_full(mstep_covariances(model, Nk, statistic(model, W), D), D))
    cnt = lambda x, per: {"E": 1, "V": K, "I": 0}[x] * per
    n = cnt(model[0], 1) + cnt(model[1], D) + cnt(model[2], D * (D - 1) // 2)
    rng = np.random.default_rng(0)
    neg = lambda th: -complete_loglik(Nk, W, _free_sigma(model, th, K, D))
    found = max(-minimize(neg, rng.normal(scale=.5, size=n), method="BFGS").fun for _ in range(4))
    assert ours - 1e-5 * abs(ours) <= found <= ours + 1e-8 * abs(ours)

def _fit_from_start(name, model, G, **kw):
    X = DATA[name]
    w, mu, covs = mstep_from_resp(model, X, hc_start(name, G))
    prec = np.linalg.inv(covs) if covariance_form(model) in ("full", "tied") else 1 / covs
    return GaussianMixtureEM(G, covariance_type=model, reg_covar=0., tol=1e-12, max_iter=100000, weights_init=w,
                             means_init=mu, precisions_init=prec, **kw).fit(X)

@pytest.mark.parametrize("model", [m for m in MCLUST_MODELS if m != "VVE"])
def test_em_equals_mclust_me(model):
    "EM from mclust's start equals mclust's me(tol = 1e-10): log-likelihood and BIC to 1e-6 relative, df equal, no warning (G = 2, 3)."
    for name in DATA:
        X = DATA[name]
        for G in (2, 3):
            ref = ME.query("data == @name and model == @model and G == @G").iloc[0]
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                est = _fit_from_start(name, model, G)
            ll = est.score(X) * len(X)
            assert abs(ll - ref.loglik) <= 1e-6 * abs(ref.loglik), (name, G, ll, ref.loglik)
            assert abs(-est.bic(X) - ref.bic) <= 1e-6 * abs(ref.bic)
            assert est._n_parameters() == ref.df
            assert (np.diff(est.history_["objective"]) >= -1e-9 * abs(ll)).all()

def test_em_vve_differs_from_mclust_where_its_mstep_stops_short():
    "VVE: from mclust's start (G = 2, 3) emtheory's EM ends higher than mclust's, whose M-step is not a maximiser."
    for name in DATA:
        for G in (2, 3):
            X = DATA[name]
            ref = ME.query("data == @name and model == 'VVE' and G == @G").iloc[0]
            assert _fit_from_start(name, "VVE", G).score(X) * len(X) > ref.loglik + 0.05

def test_cells_mclust_refuses_fail_here_too():
    "Where mclust's me returns NA (iris: VEE at G = 5, EVV at G = 5, 6), a component collapses onto a point and emtheory refuses the fit in one line."
    for r in ME[ME.loglik.isna()].itertuples():
        with pytest.raises(ValueError, match="has collapsed"):
            _fit_from_start(r.data, r.model, r.G)

def test_iris_vev_2():
    "mclust's BIC choice on iris, VEV with K = 2: emtheory reproduces its log-likelihood and BIC from mclust's start."
    X = DATA["iris"]
    ref = ME.query("data == 'iris' and model == 'VEV' and G == 2").iloc[0]
    assert ref.bic == ME[ME.data == "iris"].bic.max()   # mclust's choice over the 14 x 6 table
    est = _fit_from_start("iris", "VEV", 2)
    assert abs(est.score(X) * len(X) - ref.loglik) <= 1e-6 * abs(ref.loglik)
    assert abs(-est.bic(X) - ref.bic) <= 1e-6 * abs(ref.bic)
    ev = np.linalg.eigvalsh(est.covariances_)
    shape = ev / np.exp(np.log(ev).mean(1, keepdims=True))
    np.testing.assert_allclose(shape[0], shape[1], rtol=1e-10)   # one shape A, two volumes and orientations

@pytest.mark.parametrize("alias", SKLEARN_ALIASES)
def test_aliases_fit_exactly_as_before(alias):
    "covariance_type='VVV' (etc.) and 'full' run the same code: identical fits, bit for bit."
    X = DATA["faithful"]
    a = GaussianMixtureEM(3, covariance_type=alias, random_state=0).fit(X)
    b = GaussianMixtureEM(3, covariance_type=SKLEARN_ALIASES[alias], random_state=0).fit(X)
    assert a.lower_bound_ == b.lower_bound_ and np.array_equal(a.covariances_, b.covariances_)
    assert a.bic(X) == b.bic(X)

@pytest.mark.parametrize("model", ["EII", "EVI", "VEI", "EVE", "VEV", "EEV"])
def test_new_models_on_the_loop(model):
    "From k-means, default options: the layout of the model's form, a monotone certified run, samples and predictions."
    X = DATA["iris"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # the monotonicity guard
        est = GaussianMixtureEM(3, covariance_type=model, reg_covar=0., tol=1e-8, max_iter=2000, random_state=1).fit(X)
    shape = dict(spherical=(3,), diag=(3, 4), full=(3, 4, 4))[covariance_form(model)]
    assert est.covariances_.shape == shape and est.precisions_.shape == shape
    assert np.abs(est.history_["residual"]).max() < 1e-8 * abs(est.history_["objective"][-1])
    assert est.sample(10)[0].shape == (10, 4) and est.predict(X).shape == (150,)

@pytest.mark.parametrize("model", ["EII", "VEI", "EVE", "VEV"])
def test_missing_values_take_the_new_models(model):
    "Entries missing at random: the M-step reads expected statistics only, so every model fits, monotone and certified."
    X = DATA["faithful"].copy()
    rng = np.random.default_rng(0)
    X[rng.choice(len(X), 30, replace=False), rng.integers(0, 2, 30)] = np.nan
    est = GaussianMixtureEM(2, covariance_type=model, missing="marginalize", reg_covar=0., tol=1e-8, max_iter=2000,
                            random_state=0).fit(X)
    h = est.history_["objective"]
    assert (np.diff(h) >= -1e-9 * abs(h[-1])).all() and np.abs(est.history_["residual"]).max() < 1e-8 * abs(h[-1])

def test_map_refuses_the_new_models():
    "MAP-EM refuses the four models mclust has no prior for, in one line naming the remedy (tests/test_map_models.py fits the other six)."
    X = DATA["faithful"]
    with pytest.raises(ValueError, match="mclust defines no conjugate prior for covariance_type 'VEE'"):
        GaussianMixtureMAP(2, covariance_type="VEE").fit(X)
    with pytest.raises(ValueError, match="got 'VVV'. Use covariance_type='full'"):
        GaussianMixtureMAP(2, covariance_type="VVV").fit(X)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GaussianMixtureMAP(2, covariance_type="bogus").fit(X)

def test_bad_statistic_shape():
    "An M-step given the wrong statistic says which one it reads."
    with pytest.raises(ValueError, match="VEV reads the scatter's full statistics"):
        mstep_covariances("VEV", np.ones(2), np.ones((2, 3)))
    with pytest.raises(ValueError, match="pass D"):
        mstep_covariances("VII", np.ones(2), np.ones(2))
