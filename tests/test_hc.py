"mclust's hierarchical start: the SVD transformation, the VVV merge criterion, and the partitions against mclust's hclass(hc(X, 'VVV', use = 'SVD'), G) (fixture written by tests/fixtures/mclust_models.R)."
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from emtheory.datasets import load_faithful
from emtheory.em import GaussianMixtureEM
from emtheory.hc import hc_transform, vvv_term, hc_vvv, hc_resp, hc_init

FIX = Path(__file__).parent / "fixtures"
DATA = dict(faithful=load_faithful()[0], iris=pd.read_csv(FIX / "mclust_iris.csv").to_numpy())
STARTS = pd.read_csv(FIX / "mclust_models_start.csv", comment="#")

def same_partition(a, b):
    pairs = set(zip(a, b))
    return len(pairs) == len(set(a)) == len(set(b))

@pytest.mark.parametrize("name", DATA)
def test_partitions_equal_mclust(name):
    "hc_vvv's partitions into G = 1..6 groups are mclust's, up to the numbering of the classes."
    parts = hc_vvv(DATA[name], max_groups=6)
    for G in range(1, 7):
        ref = STARTS[(STARTS.data == name) & (STARTS.G == G)].sort_values("row")["class"].to_numpy()
        assert same_partition(parts[G], ref), G
        assert same_partition(hc_resp(DATA[name], G).argmax(1), ref)

def test_transform_whitens():
    "use='SVD': Z^T Z = diag(d), the singular values of the standardised data; 'VARS' leaves the data alone; others refused."
    X = DATA["iris"]
    Z = hc_transform(X)
    d = np.linalg.svd((X - X.mean(0)) / X.std(0, ddof=1), compute_uv=False)
    np.testing.assert_allclose(Z.T @ Z, np.diag(d), atol=1e-9 * d.max())
    np.testing.assert_array_equal(hc_transform(X, "VARS"), X)
    with pytest.raises(ValueError, match="use must be one of"): hc_transform(X, "PCS")
    with pytest.raises(ValueError, match="constant"): hc_transform(np.c_[X, np.ones(len(X))])

def test_term():
    "t(n, W) = n log(|W/n| [n > D] + (tr W + alpha)/n): the determinant enters only when the group has more than D points."
    W = np.array([[2., .5], [.5, 1.]])
    assert np.isclose(vvv_term(5., W, .3), 5 * np.log(np.linalg.det(W / 5) + 3.3 / 5), rtol=1e-13)
    assert np.isclose(vvv_term(2., W, .3), 2 * np.log(3.3 / 2), rtol=1e-13)

def test_duplicates_tie_exactly():
    "Duplicated rows are merged first, whatever their order: every duplicate pair costs exactly the same."
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    X = np.vstack([X, X[[3, 7, 7]]])
    parts = hc_vvv(X, max_groups=33)
    lab = parts[30]   # three merges: the three duplicates into their originals
    assert lab[30] == lab[3] and lab[31] == lab[7] == lab[32] and len(set(lab)) == 30

def test_hc_init_reproduces_mclust_fit():
    "From hc_init, EM of VEV on iris with K = 2 reproduces mclust's log-likelihood (mclust's BIC choice there)."
    X = DATA["iris"]
    ref = pd.read_csv(FIX / "mclust_models_me.csv", comment="#").query("data == 'iris' and model == 'VEV' and G == 2").iloc[0]
    est = GaussianMixtureEM(2, covariance_type="VEV", reg_covar=0., tol=1e-12, max_iter=10000, **hc_init(X, 2, "VEV")).fit(X)
    assert abs(est.score(X) * len(X) - ref.loglik) <= 1e-6 * abs(ref.loglik)

def test_one_dimension_refused():
    with pytest.raises(ValueError, match="D >= 2"): hc_vvv(np.arange(10.)[:, None], use="VARS")

def _reference_hc(X):
    "The plain algorithm, as mclust runs it: scan the whole table of pair costs for the last least pair at every merge."
    from emtheory.hc import vvv_term
    Z = hc_transform(X)
    N, D = Z.shape
    alpha = max(((Z - Z.mean(0))**2).sum() / (N * D), np.finfo(float).eps)
    cnt, mean, W, term = np.ones(N), Z.copy(), np.zeros((N, D, D)), np.full(N, np.log(alpha))
    members = [[k] for k in range(N)]
    cost = np.full((N, N), np.inf)
    for a in range(N):
        for b in range(a + 1, N):
            cost[a, b] = 2 * np.log((((Z[b] - Z[a])**2).sum() / 2 + alpha) / 2) - 2 * np.log(alpha)
    out = {}
    for lg in range(N, 1, -1):
        best = (np.inf, -1, -1)
        for b in range(1, lg):           # pairs in mclust's order, the last least one kept
            for a in range(b):
                if cost[a, b] <= best[0]: best = (cost[a, b], a, b)
        _, i, j = best
        last = lg - 1
        ni, nj, dm = cnt[i], cnt[j], mean[i] - mean[j]
        W[i] = W[i] + W[j] + ni * nj / (ni + nj) * np.outer(dm, dm)
        mean[i] = (ni * mean[i] + nj * mean[j]) / (ni + nj); cnt[i] = ni + nj
        term[i] = vvv_term(cnt[i], W[i], alpha)
        members[i] = members[i] + members[j]
        if j != last:
            cnt[j], mean[j], W[j], term[j], members[j] = cnt[last], mean[last].copy(), W[last].copy(), term[last], members[last]
            for o in range(last):
                if o != j: cost[min(o, j), max(o, j)] = cost[min(o, last), max(o, last)]
        cost[last, :] = np.inf; cost[:, last] = np.inf
        for o in range(last):
            if o == i: continue
            n2, d2 = cnt[o] + cnt[i], mean[o] - mean[i]
            Wij = W[o] + W[i] + cnt[o] * cnt[i] / n2 * np.outer(d2, d2)
            cost[min(o, i), max(o, i)] = vvv_term(n2, Wij, alpha) - (term[o] + term[i])
        lab = np.empty(N, int)
        for s, m in enumerate(members[:last]): lab[m] = s
        out[last] = lab
    return out

@pytest.mark.parametrize("seed", range(6))
def test_column_minima_equal_the_whole_scan(seed):
    "hc_vvv's cached column minima give the same tree as the whole-table scan, ties and duplicates included."
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(int(rng.integers(8, 40)), int(rng.integers(2, 4)))), 1)   # rounded: many exact ties
    X = np.vstack([X, X[rng.integers(0, len(X), 5)]])                                     # and duplicates
    ref, ours = _reference_hc(X), hc_vvv(X, max_groups=len(X))
    assert all(same_partition(ours[G], ref[G]) for G in ref)
