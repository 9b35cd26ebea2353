"""emtheory.select against mclust's own numbers (a committed fixture: no R needed) and independent recomputations."""
import csv, io, json, math
from contextlib import redirect_stdout, redirect_stderr
from pathlib import Path
import numpy as np
import pytest
from scipy import stats
from emtheory.datasets import load_faithful
from emtheory.em import GaussianMixtureEM
from emtheory.select import COLUMNS, select_mixture, select_main

FOUR = ("full", "tied", "diag", "spherical")   # scikit-learn's names: VVV, EEE, VVI, VII, the fixture's models

FIXTURE = Path(__file__).parent / "fixtures" / "mclust_faithful.csv"
X, _ = load_faithful()
N, D = X.shape
# mclust's tolerance stops it below the maximum it climbs to, so at a shared maximum ours is higher: the only slack
# needed is rounding (17 printed digits, sums over 272 terms in another order): far below 1e-9 relative.
RTOL = 1e-9

def mclust():
    lines = FIXTURE.read_text().splitlines()
    return lines, {(r["model"], int(r["G"])): r for r in csv.DictReader(l for l in lines if not l.startswith("#"))}

@pytest.fixture(scope="module")
def sel6():
    return select_mixture(X, range(1, 7), FOUR, init_params="kmeans", random_state=0)   # k-means starts only

def test_fixture_is_the_bundled_data():
    lines, ref = mclust()
    sums = [float(t) for t in lines[1].replace(";", "").split() if t[0].isdigit()]
    np.testing.assert_allclose(sums, [*X.sum(0), *(X**2).sum(0)], rtol=1e-14, atol=0)
    assert len(ref) == 24 and f"n = {N}, d = {D}" in lines[0]

def test_n_parameters_equal_mclust_df(sel6):
    _, ref = mclust()
    for r in sel6.table:
        assert r["n_parameters"] == int(ref[(r["model"], r["n_components"])]["df"]), r

def test_mclust_bic_of_one_gaussian_from_scipy():
    "K = 1 has a closed form: scipy's log-likelihood at the sample mean and covariance gives mclust's printed BIC."
    _, ref = mclust()
    ll = stats.multivariate_normal(X.mean(0), np.cov(X.T, bias=True)).logpdf(X).sum()
    assert math.isclose(2 * ll - 5 * math.log(N), float(ref[("VVV", 1)]["bic"]), rel_tol=1e-12)

def _behind(table, ref):
    return {(r["model"], r["n_components"]): r["log_likelihood"] - float(ref[(r["model"], r["n_components"])]["loglik"])
            for r in table
            if not r["log_likelihood"] >= float(ref[(r["model"], r["n_components"])]["loglik"]) * (1 + RTOL)}

def test_every_cell_at_least_as_good_as_mclust(sel6):
    "Five k-means starts per cell reach mclust everywhere but VVV, K = 6; 20 alternating k-means/random starts reach it there."
    _, ref = mclust()
    assert set(_behind(sel6.table, ref)) == {("VVV", 6)}
    v6 = select_mixture(X, 6, "full", n_init=20, init_params=("kmeans", "random"), random_state=0)
    assert _behind(v6.table, ref) == {}
    e = v6.best_   # not a degenerate maximum: no component on a handful of points, no near-zero variance
    assert (e.weights_ * N).min() > 5 and np.linalg.eigvalsh(e.covariances_).min() > 1e-3

def test_mclust_bic_sign_and_best(sel6):
    _, ref = mclust()
    for r in sel6.table:
        assert r["mclust_bic"] == -r["bic"]
        assert math.isclose(r["bic"], -2 * r["log_likelihood"] + r["n_parameters"] * math.log(N), rel_tol=1e-14)
    b = sel6.best_row_
    assert (b["model"], b["n_components"]) == ("EEE", 3)   # mclust's choice for Old Faithful
    mclust_best = max(ref.values(), key=lambda r: float(r["bic"]))
    assert (mclust_best["model"], mclust_best["G"]) == ("EEE", "3")

def test_columns(sel6):
    assert list(sel6.table[0]) == list(COLUMNS)
    assert [r["model"] for r in sel6.table] == [m for m in ("VVV", "EEE", "VVI", "VII") for _ in range(6)]
    assert [r["n_components"] for r in sel6.table] == list(range(1, 7)) * 4
    assert isinstance(sel6.best_, GaussianMixtureEM) and sel6.best_.covariance_type == "tied"
    assert "best by BIC: EEE (tied), K = 3" in repr(sel6) and sel6.table._repr_markdown_().count("\n") == 25 and "VII" in repr(sel6)

def _icl(est):
    "mclust's ICL, BIC - 2 sum_i log max_k r_ik, from scipy.stats densities at the estimator's parameters; and the entropy."
    covs = np.broadcast_to(est.covariances_, (est.n_components, D, D)) if est.covariance_type in ("full", "tied") else None
    J = np.stack([np.log(w) + stats.multivariate_normal(m, c).logpdf(X) for w, m, c in zip(est.weights_, est.means_, covs)], 1)
    lse = np.logaddexp.reduce(J, axis=1)
    R = np.exp(J - lse[:, None])
    en = -np.sum(R * np.log(np.where(R > 0, R, 1.)))
    return -2 * lse.sum() + est._n_parameters() * math.log(N) - 2 * (J.max(1) - lse).sum(), en

def test_icl_independently(sel6):
    for ct in ("full", "tied"):
        for k in (1, 2, 3, 5):
            row = next(r for r in sel6.table if (r["covariance_type"], r["n_components"]) == (ct, k))
            icl, en = _icl(sel6.estimators_[(ct, k)])
            assert math.isclose(row["icl"], icl, rel_tol=1e-9)
            assert (en == 0) == (k == 1) and row["bic"] <= row["icl"] <= row["bic"] + 2 * en   # hard labels: at most the entropy's penalty

def test_collapsed_fit_is_a_row_with_its_reason():
    Xd = np.repeat(np.array([[0., 0.], [1., 0.], [0., 1.], [1., 1.]]), 5, axis=0)
    s = select_mixture(Xd, [1, 6], ["full", "spherical"], n_init=3, random_state=0)
    bad = [r for r in s.table if r["reason"]]
    assert [(r["model"], r["n_components"]) for r in bad] == [("VVV", 6), ("VII", 6)]
    for r in bad:
        assert any(w in r["reason"] for w in ("not positive definite", "singular", "collapsed", "did not converge")) and math.isnan(r["bic"])
        assert r["failed_starts"] == r["n_starts"] == 3 and r["n_parameters"] > 0
    assert s.best_row_["n_components"] == 1
    with pytest.raises(ValueError, match="every fit failed"): select_mixture(Xd, 6, "full", n_init=2, random_state=0)

@pytest.mark.parametrize("kw, msg", [(dict(n_components=[0, 2]), "n_components"), (dict(covariance_types="VVX"), "covariance_type"),
                                     (dict(n_jobs=0), "n_jobs"), (dict(n_init=0), "n_init"), (dict(backend="gpu"), "backend"),
                                     (dict(criterion="mdl"), "criterion"), (dict(random_state=-3), "random_state")])
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg): select_mixture(X, **({"n_components": 2} | kw))

def test_n_jobs_does_not_change_results():
    kw = dict(n_components=range(1, 5), covariance_types=("full", "diag"), n_init=3, random_state=7)
    one = select_mixture(X, n_jobs=1, **kw)
    assert select_mixture(X, n_jobs=2, backend="threads", **kw).table == one.table
    assert select_mixture(X, n_jobs=2, backend="processes", **kw).table == one.table
    # and the grid does not change a cell: seeds depend on the cell, not on what else was asked for
    assert select_mixture(X, n_jobs=1, **(kw | dict(n_components=[3]))).table[0] == one.table[2]

def test_plot(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = select_mixture(X, range(1, 4), ("full", "tied"), n_init=2, random_state=0)
    ax = s.plot()
    lines = ax.get_lines()
    assert len(lines) == 3 and list(lines[0].get_xdata()) == [1, 2, 3]
    np.testing.assert_array_equal(lines[0].get_ydata(), [-r["bic"] for r in s.table[:3]])
    assert "$" in ax.get_ylabel() and "nats" in ax.get_ylabel()
    ax.figure.savefig(tmp_path / "bic.png")
    assert (tmp_path / "bic.png").stat().st_size > 1000
    plt.close("all")

def _cli(args):
    o, e = io.StringIO(), io.StringIO()
    with redirect_stdout(o), redirect_stderr(e): code = select_main(args)
    return code, o.getvalue(), e.getvalue()

def test_cli(tmp_path):
    code, o, _ = _cli(["-k", "3", "--covariance-types", "tied,VVV", "--n-init", "2", "--plot", str(tmp_path / "b.png")])
    assert code == 0 and "best by BIC: EEE (tied), K = 3" in o and (tmp_path / "b.png").exists()
    f = tmp_path / "d.csv"
    f.write_text("a,b\n" + "\n".join(f"{x:.3f},{y:.0f}" for x, y in X))
    code, o, _ = _cli([str(f), "-k", "2", "--json", "--covariance-types", "diag"])
    res = json.loads(o)
    assert code == 0 and res["columns"] == ["a", "b"] and [r["model"] for r in res["table"]] == ["VVI", "VVI"]

@pytest.mark.parametrize("args, msg", [(["missing.csv"], "no such file"), (["--covariance-types", "XYZ"], "XYZ"),
                                       (["-k", "0"], "-k"), (["-k", "two"], "invalid int"), (["--plot", "x.txt"], ".png"),
                                       (["--n-jobs", "0"], "--n-jobs"), (["--bogus"], "unrecognized")])
def test_cli_bad_input_exits_2_with_one_line(args, msg):
    code, o, e = _cli(args)
    assert code == 2 and len(e.strip().splitlines()) == 1 and msg in e, e
