"EM at scale: block sources equal the in-memory fit (arrays, memmaps, CSV, iterables, dask threads, a LocalCluster), bad blocks, stepwise EM."
import tracemalloc, warnings
import numpy as np
import pytest
from emtheory.blocks import ArrayBlocks, IterBlocks, DaskBlocks, csv_blocks, fit_blocks, partial_fit, row_keys, summarise
from emtheory.core import coordinate_ascent, as_generator, NotFittedError, ConvergenceWarning, Threads
from emtheory.em import GaussianMixtureEM
from emtheory.map_em import GaussianMixtureMAP
from emtheory.cavi import GaussianMixtureCAVI

CLASSES = (GaussianMixtureEM, GaussianMixtureMAP, GaussianMixtureCAVI)

@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(c, s, (1200, 3)) for c, s in ((-4., 1.), (0., .5), (3., 1.5))])
    return X[rng.permutation(len(X))]

def _start(cls, X):
    "A model and a start computed in memory (the same start for every source)."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cls(3, random_state=0, max_iter=3, tol=0).fit(X)
    return est._model, est._state(est._model)

def _sources(X, tmp_path):
    import dask.array as da
    np.save(tmp_path / "x.npy", X)
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
    return dict(array=ArrayBlocks(X, 500), memmap=ArrayBlocks(np.load(tmp_path / "x.npy", mmap_mode="r"), 1000),
                csv=csv_blocks(tmp_path / "x.csv", 700), iterable=IterBlocks(lambda: (X[i:i + 333] for i in range(0, len(X), 333))),
                dask=DaskBlocks(da.from_array(X, chunks=(900, 3))))

@pytest.mark.parametrize("cls", CLASSES)
def test_sources_equal_in_memory(cls, data, tmp_path):
    "The one loop on every source's executor (threads over blocks, dask's tree) follows the in-memory loop from the same start (fixed sweeps, tol=0)."
    model, s0 = _start(cls, data)
    ref = coordinate_ascent(model, data, s0, tol=0, max_iter=12)
    for name, src in _sources(data, tmp_path).items():
        got = coordinate_ascent(model, src, s0, tol=0, max_iter=12)
        np.testing.assert_allclose(got.state.means, ref.state.means, rtol=0, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(got.state.covariances, ref.state.covariances, rtol=0, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(got.history["objective"] / len(data), ref.history["objective"] / len(data), rtol=0, atol=1e-10)
        np.testing.assert_allclose(got.history["kl"], ref.history["kl"], rtol=1e-7, atol=1e-12, err_msg=name)

@pytest.mark.parametrize("cls", CLASSES)
def test_estimator_fit_on_sources(cls, data, tmp_path):
    "fit(source) = fit(X), the same start from the same random_state, when the start's sample holds every row; weights too."
    w = np.random.default_rng(3).uniform(0.2, 2., len(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cls(3, random_state=0, tol=0, max_iter=10).fit(data)
        refw = cls(3, random_state=0, tol=0, max_iter=10).fit(data, sample_weight=w)
        for name, src in _sources(data, tmp_path).items():
            got = cls(3, random_state=0, tol=0, max_iter=10).fit(src)
            np.testing.assert_allclose(got.means_, ref.means_, rtol=0, atol=1e-10, err_msg=name)
            np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=0, atol=1e-10, err_msg=name)
            gw = cls(3, random_state=0, tol=0, max_iter=10).fit(src, sample_weight=w)
            np.testing.assert_allclose(gw.means_, refw.means_, rtol=0, atol=1e-10, err_msg=name)
        got = cls(3, random_state=0, tol=0, max_iter=10).fit(str(tmp_path / "x.npy"))   # a path memory-maps
        np.testing.assert_allclose(got.means_, ref.means_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.predict_proba(data), ref.predict_proba(data), atol=1e-9)

def test_summary_matches_numpy(data):
    w = np.random.default_rng(0).uniform(0, 3, len(data))
    s = summarise(IterBlocks(lambda: (data[i:i + 250] for i in range(0, len(data), 250))), w, sample_size=40, seed=5)
    m = np.average(data, axis=0, weights=w)
    np.testing.assert_allclose(s["mean"], m, rtol=1e-13)
    np.testing.assert_allclose(s["cov"], ((data - m).T * w) @ (data - m) / (w.sum() - 1), rtol=1e-12)
    keep = np.sort(np.argsort(row_keys(5, 0, len(data)), kind="stable")[:40])
    np.testing.assert_array_equal(np.sort(s["sample"], axis=0), np.sort(data[keep], axis=0))

def test_disk_responsibilities(data):
    "keep_resp='disk' stores the log responsibilities in memory-mapped files with the same certificate."
    model, s0 = _start(GaussianMixtureEM, data)
    a = coordinate_ascent(model, ArrayBlocks(data, 800), s0, tol=0, max_iter=5, keep_resp="memory")
    disk = Threads(ArrayBlocks(data, 800), keep_resp="disk")
    b = coordinate_ascent(model, None, s0, tol=0, max_iter=5, executor=disk)
    np.testing.assert_allclose(b.history["kl"], a.history["kl"], rtol=0, atol=0)
    import os
    assert len(os.listdir(disk._tmp.name)) == -(-len(data) // 800)   # one memory-mapped file per block (a piece each)

# --- bad input: a clear ValueError, nothing of a fitted estimator changed -------------------------------------------

def _fitted(data):
    return GaussianMixtureEM(3, random_state=0).fit(data)

def _assert_unchanged(est, means):
    np.testing.assert_array_equal(est.means_, means)

def test_block_of_another_width(data):
    est = _fitted(data); before = est.means_.copy()
    src = IterBlocks(lambda: iter([data[:1000], data[1000:2000, :2]]))
    with pytest.raises(ValueError, match=r"Block 1 \(rows 1000 to 1999\) has 2 columns, but the first block had 3"):
        est.fit(src)
    _assert_unchanged(est, before)

def test_non_finite_in_a_later_block(data):
    bad = data.copy(); bad[2345, 1] = np.nan
    est = _fitted(data); before = est.means_.copy()
    with pytest.raises(ValueError, match=r"Block 4 contains NaN or infinity at its row 345 \(row 2345 of the data\), column 1"):
        est.fit(ArrayBlocks(bad, 500))
    _assert_unchanged(est, before)
    import dask.array as da
    with pytest.raises(ValueError, match=r"Block 2 contains NaN or infinity at its row 545 \(row 2345 of the data\)"):
        est.fit(da.from_array(bad, chunks=(900, 3)))
    _assert_unchanged(est, before)
    fresh = GaussianMixtureEM(3)
    with pytest.raises(ValueError, match="Block 4"): fresh.fit(ArrayBlocks(bad, 500))
    with pytest.raises(NotFittedError): fresh.predict(data)

def test_unknown_chunks_and_empty(data):
    import dask.array as da
    Xd = da.from_array(data, chunks=(900, 3))
    with pytest.raises(ValueError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        GaussianMixtureEM(3).fit(Xd[Xd[:, 0] > 0])
    est = _fitted(data); before = est.means_.copy()
    with pytest.raises(ValueError, match="has no data rows: the data source is empty"): est.fit(iter([]))
    with pytest.raises(ValueError, match="has no data rows"): est.fit(lambda: iter([np.empty((0, 3))]))
    _assert_unchanged(est, before)

def test_refusals(data):
    with pytest.raises(ValueError, match="read only once"):
        GaussianMixtureEM(3, max_iter=2).fit(iter([data[:2000], data[2000:]]))
    with pytest.raises(ValueError, match="resp_init"):   # the sample (100 rows) is not every row: no N x K start
        fit_blocks(GaussianMixtureCAVI(3, resp_init=np.full((len(data), 3), 1 / 3)), ArrayBlocks(data), init_sample=100)
    with pytest.raises(ValueError, match="sample_weight has 10 entries"):
        GaussianMixtureEM(3).fit(ArrayBlocks(data), sample_weight=np.ones(10))
    with pytest.raises(ValueError, match="keep_resp"): Threads(ArrayBlocks(data), keep_resp="ram")

# --- stepwise (online) EM ---------------------------------------------------------------------------------------------

def test_stepwise_on_one_batch_reaches_the_em_fixed_point(data):
    "Fed the same batch again and again, stepwise EM converges to batch EM's fixed point on it (no noise: h(s*) = 0)."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        near = GaussianMixtureEM(3, random_state=0, max_iter=20, reg_covar=0).fit(data)   # both from one start in one basin
        start = dict(weights_init=near.weights_, means_init=near.means_, precisions_init=near.precisions_)
        batch = GaussianMixtureEM(3, tol=0, max_iter=400, reg_covar=0, **start).fit(data)
    est = GaussianMixtureEM(3, reg_covar=0, average=False, **start)   # the running statistics' fixed point
    for _ in range(250): est.partial_fit(data)
    np.testing.assert_allclose(est.means_, batch.means_, atol=1e-8)
    np.testing.assert_allclose(est.covariances_, batch.covariances_, atol=1e-8)

def test_partial_fit_reports_the_average_after_burn_in(data):
    "With average=True the next E-step reads the running globals, and the reported ones are the M-step of the mean of"
    "the running statistics after burn_in steps (here recomputed by hand from an unaveraged twin's statistics)."
    a = GaussianMixtureEM(3, random_state=0, burn_in=2)
    b = GaussianMixtureEM(3, random_state=0, average=False)
    seen = []
    for i in range(6):
        batch = data[i * 500:(i + 1) * 500]
        a.partial_fit(batch); b.partial_fit(batch)
        seen.append(b._online["schedule"].s)
    np.testing.assert_array_equal(a._online["state"].means, b._online["state"].means)   # the same running recursion
    mean_s = seen[2]
    for s in seen[3:]: mean_s = mean_s + s
    expected = a._model.m_step(mean_s * (1 / 4) * a._online["schedule"].n_seen, a._online["state"])
    np.testing.assert_allclose(a._state(a._model).means, expected.means, rtol=0, atol=1e-12)
    assert not np.allclose(a.means_, b.means_, rtol=0, atol=1e-6)   # the average is not the last iterate
    assert a.n_iter_ == 6 and b.lower_bound_ == a.lower_bound_

def test_stepwise_stream_reaches_batch_loglik():
    "One pass over 1e5 points in batches of 1e3 is within 0.01 nats per sample of batch EM (the chapter shows 1e6)."
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 3, (4, 4)); z = rng.integers(4, size=100000)
    X = centres[z] + rng.normal(size=(100000, 4)) * rng.uniform(0.5, 1.5, (4, 4))[z]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = GaussianMixtureEM(4, random_state=0, tol=0, max_iter=100).fit(X)
    est = GaussianMixtureEM(4, random_state=0)
    for i in range(0, len(X), 1000): est.partial_fit(X[i:i + 1000])
    assert batch.score(X) - est.score(X) < 0.01
    assert est.n_iter_ == 100

def test_stepwise_first_call_and_checks(data):
    est = GaussianMixtureMAP(3, random_state=0).partial_fit(data[:600])
    assert est.n_iter_ == 1 and est.means_.shape == (3, 3)
    with pytest.raises(ValueError, match="features"): est.partial_fit(data[:10, :2])
    with pytest.raises(ValueError, match="kappa"): partial_fit(est, data[:10], kappa=0.5)
    est.fit(data)                                   # a new fit forgets the stream; partial_fit then continues the fit
    n = est.n_iter_
    est.partial_fit(data[:600]); assert est.n_iter_ == n + 1

# --- dask.distributed: a LocalCluster with two worker processes ------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close(); cluster.close()

@pytest.mark.parametrize("cls", CLASSES)
def test_local_cluster_equals_in_memory(cls, client):
    "On two worker processes, from the same start: the in-memory fit to 1e-10; the client never holds half of X."
    import dask.array as da
    N, D = 600000, 6
    Xd = da.random.default_rng(0).normal(size=(N, D), chunks=(100000, D))
    Xd = (Xd + 3. * (da.arange(N, chunks=100000) % 3)[:, None]).persist()
    init = dict(n_components=3, random_state=0, tol=0, max_iter=4)
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = fit_blocks(cls(**init), Xd, init_sample=3000)
    peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert peak < 0.5 * Xd.nbytes, (peak, Xd.nbytes)
    X = Xd.compute()
    model = got._model
    # the same start in memory: the estimator's _init_state on the same sample, with the generator fit_blocks used
    s = summarise(DaskBlocks(Xd), None, 3000, 0)
    s0 = cls(**init)._init_state(model, s["sample"], None, as_generator(0))
    ref = coordinate_ascent(model, X, s0, tol=0, max_iter=4)
    np.testing.assert_allclose(got.means_ - model.center, ref.state.means, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.covariances_, ref.state.covariances, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.lower_bound_, ref.objective / N, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.history_["kl"], ref.history["kl"], rtol=1e-6, atol=1e-13)

def test_cli_dask_and_npy(client, tmp_path):
    "`emtheory fit x.npy --dask ADDRESS`: the workers read the file (a graph not persisted by the caller); same fit as in memory."
    import json, subprocess, sys
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (3000, 2)), rng.normal(5, 1, (3000, 2))])[rng.permutation(6000)]
    np.save(tmp_path / "x.npy", X)
    def run(*a): return subprocess.run([sys.executable, "-m", "emtheory", "fit", *a, "-k", "2", "--method", "em", "--json"],
                                       capture_output=True, text=True)
    r = run(str(tmp_path / "x.npy"), "--dask", client.scheduler.address, "--chunk-rows", "1500")
    assert r.returncode == 0, r.stderr
    ref = GaussianMixtureEM(2, random_state=0, tol=1e-6, max_iter=500).fit(X[np.argsort(row_keys(0, 0, len(X)), kind="stable")])
    got = json.loads(r.stdout)["results"][0]
    np.testing.assert_allclose(got["means"], ref.means_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["log_likelihood"], ref.score(X) * len(X), rtol=1e-12)
    r = run(str(tmp_path / "x.npy"), "--chunk-rows", "1000")
    np.testing.assert_allclose(json.loads(r.stdout)["results"][0]["means"], ref.means_, rtol=0, atol=1e-9)

@pytest.mark.parametrize("form", ["features", "whitened"])
def test_far_components_exact_from_any_blocking(form):
    "Far components: their sums about their own last means give the two-pass scatter whatever the blocking and the"
    "E-step's form (the whitened form takes them in its syrk and moves T's rows to the centre, shift_stats); the"
    "one-pass scatter about the centre (local=None) loses the digits mean^2/var costs."
    from dataclasses import replace
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(3e4, 1., (2000, 2)), rng.normal(-3e4, 1., (2000, 2))])[rng.permutation(4000)]
    model, s0 = _start(GaussianMixtureEM, X)
    model.form = form
    st = model.e_step(s0, X, model.prepare(X), None, {})
    K = len(s0.weights)
    assert st.local is not None and list(st.local.index) == list(range(K))   # every component is ~3e4 sd from the centre
    blocks = [model.e_step(s0, X[i:i + 900], model.prepare(X[i:i + 900], 0), None, {}) for i in range(0, 4000, 900)]
    total = blocks[0]
    for b in blocks[1:]: total = total + b
    R = model.responsibilities(s0, X)[1]
    two_pass = np.stack([np.cov(X.T, aweights=R[:, k], bias=True) for k in range(K)])   # numpy's two-pass weighted covariance
    for s in (st, total):
        p = model.m_step(s, s0)
        np.testing.assert_allclose(p.covariances - model.reg_covar * np.eye(2), two_pass, rtol=1e-11)
    if form == "whitened":   # T's rows, moved back to the centre, are the one-pass sums about it
        Rw = model.responsibilities(s0, X)[1]
        np.testing.assert_allclose(st.T[:, -1], Rw.sum(0), rtol=1e-12)
        np.testing.assert_allclose(st.T[:, -3:-1], Rw.T @ (X - model.center), rtol=1e-9)
    one_pass = model.m_step(replace(st, local=None), s0)
    rel = np.abs(one_pass.covariances - two_pass).max() / np.abs(two_pass).max()
    # S2 - S1 xbar^T cancels ~log10(mean^2 / var) = 8.95 of float64's 15.95 digits: the error is far above eps, below 1e-5
    assert 1e-13 < rel < 1e3 * np.finfo(float).eps * (3e4)**2, rel

@pytest.mark.parametrize("kind", ["array", "memmap", "csv", "dask", "callable"])
def test_far_narrow_cluster_same_fit_from_every_source(kind, tmp_path):
    "N(0, 1) and a cluster of sd 1e-3 at 1e4 (2,000 rows each), an explicit start, 10 sweeps: every source gives the"
    "in-memory fit; the narrow covariance to 1e-10 of its variance (a one-pass M-step was 3% to 9% off)."
    rng = np.random.default_rng(0)
    c = 1e4
    X = np.vstack([rng.normal(0, 1, (2000, 2)), c + rng.normal(0, 1e-3, (2000, 2))])
    kw = dict(means_init=[[0, 0], [c, c]], weights_init=[.5, .5], precisions_init=[np.eye(2), np.eye(2) * 1e6],
              tol=0, max_iter=10, reg_covar=0.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixtureEM(2, **kw).fit(X)
        if kind == "memmap": np.save(tmp_path / "x.npy", X); src = str(tmp_path / "x.npy")
        elif kind == "csv": np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g"); src = str(tmp_path / "x.csv")
        elif kind == "dask":
            da = pytest.importorskip("dask.array"); src = da.from_array(X, chunks=(1000, 2))
        elif kind == "callable": src = lambda: (X[i:i + 700] for i in range(0, 4000, 700))
        else: src = ArrayBlocks(X, 1000)
        est = GaussianMixtureEM(2, **kw).fit(src)
    var = np.diag(np.cov(X[2000:].T, bias=True))
    np.testing.assert_allclose(ref.covariances_[1], np.cov(X[2000:].T, bias=True), rtol=1e-9, atol=1e-9 * var.min())
    np.testing.assert_allclose(est.covariances_[1], ref.covariances_[1], rtol=0, atol=1e-10 * var.min())
    np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-15, atol=0)

def test_one_path_when_data_exceed_the_start_sample(tmp_path):
    "More rows than the start's sample (1e5): an in-memory array, a memory map, a CSV file and a dask array take the same"
    "path (model from the summary, k-means on the same keyed rows), so the same random_state gives the same fit."
    import dask.array as da
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(c, 1., (60000, 2)) for c in (-3., 3.)])[rng.permutation(120000)]
    np.save(tmp_path / "x.npy", X); np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    kw = dict(random_state=0, tol=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixtureEM(2, **kw).fit(X)
        for src in (str(tmp_path / "x.npy"), str(tmp_path / "x.csv"), da.from_array(X, chunks=(25000, 2))):
            got = GaussianMixtureEM(2, **kw).fit(src)
            np.testing.assert_allclose(got.means_, ref.means_, rtol=0, atol=1e-9)
            np.testing.assert_allclose(got.covariances_, ref.covariances_, rtol=0, atol=1e-9)
            np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=0, atol=1e-10)

def test_partial_fit_after_fit_continues_from_the_fit(data):
    "partial_fit after fit takes one stepwise step from the fitted statistics, with the estimator's kappa and t0:"
    "means = ((1 - rho) S1 + rho s1) / ((1 - rho) N + rho n) per unit weight, rho = (n_iter + t0)^-kappa, each sum"
    "recomputed here from predict_proba at the fitted globals."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = GaussianMixtureEM(3, random_state=0, max_iter=20, kappa=1., t0=1.).fit(data)
    R, Rb, batch = est.predict_proba(data), est.predict_proba(data[:500]), data[:500]
    rho = 1. / (est.n_iter_ + 1.)
    S1, N1 = R.T @ data / len(data), R.sum(0) / len(data)
    s1, n1 = Rb.T @ batch / len(batch), Rb.sum(0) / len(batch)
    want = ((1 - rho) * S1 + rho * s1) / ((1 - rho) * N1 + rho * n1)[:, None]
    est.partial_fit(batch)
    np.testing.assert_allclose(est.means_, want, rtol=1e-9)
    assert est.n_iter_ == int(round(1 / rho))

def test_partial_fit_records_feature_names_and_checks_weights(data):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(data, columns=["a", "b", "c"])
    est = GaussianMixtureEM(3, random_state=0).partial_fit(df[:500])
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    est.partial_fit(df[500:1000])
    with pytest.raises(ValueError, match="feature names should match"): est.partial_fit(df[["b", "a", "c"]][:100])
    with pytest.raises(ValueError, match="positive weight"):
        GaussianMixtureEM(3).partial_fit(data[:10], sample_weight=np.r_[1., 1., np.zeros(8)])
