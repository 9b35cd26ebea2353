"`emtheory fit`: the main job on the bundled data and on a user's CSV; clean failures on bad files."
import json, subprocess, sys
import numpy as np
import pytest
from emtheory.cli import main, load_csv, UsageError

def run(*args):
    return subprocess.run([sys.executable, "-m", "emtheory", *args], capture_output=True, text=True, timeout=300)

def test_bundled_data_all_methods_table_and_plot(tmp_path):
    r = run("fit", "--method", "all", "--plot", str(tmp_path / "demo.png"))
    assert r.returncode == 0, r.stderr
    for title in ("EM (maximum likelihood)", "MAP-EM", "CAVI"): assert title in r.stdout
    assert "certificate" in r.stdout and "log-likelihood" in r.stdout
    png = (tmp_path / "demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000

def test_json_matches_the_estimators():
    from emtheory.datasets import load_faithful
    from emtheory.em import GaussianMixtureEM
    r = run("fit", "--json", "--method", "em", "--seed", "0")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    res = out["results"][0]
    X, _ = load_faithful()
    gm = GaussianMixtureEM(2, random_state=0, tol=1e-6, max_iter=500).fit(X)
    np.testing.assert_allclose(res["log_likelihood"], gm.score(X) * len(X), rtol=1e-12)
    np.testing.assert_allclose(res["means"], gm.means_, rtol=1e-12)
    assert res["certificate_max_residual"] < 1e-8 and res["certificate_min_kl"] >= -1e-9
    assert out["n_samples"] == 272 and out["columns"] == ["eruptions", "waiting"]

def test_user_csv_three_clusters(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.5, size=(80, 3)) for c in (0, 5, 10)])
    f = tmp_path / "mine.csv"
    f.write_text("u,v,w\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in X))
    r = run("fit", str(f), "-k", "3", "--method", "em", "--covariance-type", "diag", "--json")
    assert r.returncode == 0, r.stderr
    means = np.array(sorted(json.loads(r.stdout)["results"][0]["means"]))
    np.testing.assert_allclose(means, [[0] * 3, [5] * 3, [10] * 3], atol=0.3)

def test_verbose_shows_progress():
    r = run("fit", "--method", "em", "-v", "--tol", "1e-12")
    assert r.returncode == 0 and r.stdout.count("iter ") >= 3

@pytest.mark.parametrize("content, msg", [
    (None, "no such file"),
    ("", "is empty"),
    ("a,b\nx,y\n1,2\n", "is not a number"),
    ("a,b\n1,2\n3,\n", "hole"),
    ("a,b\n1,2\n3,NA\n", "hole"),
    ("a,b\n1,2\n3,4,5\n", "fields"),
    ("a,b\n1,2\n", "fewer than"),
])
def test_bad_files_exit_2_with_one_line(tmp_path, content, msg):
    f = tmp_path / "bad.csv"
    if content is not None: f.write_text(content)
    r = run("fit", str(f), "-k", "2")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0] and "Traceback" not in r.stderr

def test_unexpected_error_exits_1(monkeypatch, capsys):
    import emtheory.cli as cli
    def boom(*a, **k): raise RuntimeError("kaboom")
    monkeypatch.setattr(cli, "_make_estimator", boom)
    assert cli.main(["fit", "--method", "em"]) == 1
    err = capsys.readouterr().err
    assert "unexpected error" in err and "kaboom" in err and "Traceback" not in err

def test_cavi_needs_full_covariance(capsys):
    assert main(["fit", "--method", "cavi", "--covariance-type", "diag"]) == 2
    assert "full covariances only" in capsys.readouterr().err

def test_console_script_installed():
    import shutil
    exe = shutil.which("emtheory") or str(__import__("pathlib").Path(sys.executable).parent / "emtheory")
    r = subprocess.run([exe, "fit", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--method" in r.stdout

# ---------------------------------------------------------------- what probing found (each failed before its fix)

def test_unwritable_plot_path_fails_before_fitting(tmp_path):
    "--plot to a directory that does not exist failed only after fitting, as an 'unexpected error' (exit 1)."
    r = run("fit", "--plot", str(tmp_path / "no" / "such" / "dir" / "out.png"))
    assert r.returncode == 2 and "no such directory" in r.stderr and r.stdout == ""
    r = run("fit", "--plot", str(tmp_path))
    assert r.returncode == 2 and ("directory" in r.stderr or ".png" in r.stderr)

def _constant_column_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=60), np.ones(60)]     # EM fits (reg_covar); MAP-EM's and CAVI's default priors refuse
    f = tmp_path / "const.csv"
    f.write_text("a,b\n" + "\n".join(f"{u:.6f},{v}" for u, v in X))
    return f

def test_method_all_reports_each_failure_and_runs_the_others(tmp_path):
    "--method all aborted at the first method that failed."
    r = run("fit", str(_constant_column_csv(tmp_path)), "--method", "all")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "EM (maximum likelihood)" in r.stdout and "log-likelihood" in r.stdout
    assert r.stdout.count("error:") == 2 and "constant" in r.stdout

def test_method_all_json_stays_valid_with_errors(tmp_path):
    r = run("fit", str(_constant_column_csv(tmp_path)), "--method", "all", "--json")
    out = json.loads(r.stdout)
    by = {x["method"]: x for x in out["results"]}
    assert "means" in by["em"] and "error" in by["map"] and "error" in by["cavi"] and r.returncode == 2

@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_delimiters_are_sniffed(tmp_path, sep):
    "Semicolon- and tab-separated files were read as one ragged column."
    from emtheory.datasets import load_faithful
    X, cols = load_faithful()
    f = tmp_path / "f.csv"
    f.write_text(sep.join(cols) + "\n" + "\n".join(sep.join(f"{v:g}" for v in row) for row in X))
    Y, names = load_csv(str(f))
    assert names == list(cols)
    np.testing.assert_array_equal(Y, X)

def test_dash_reads_standard_input():
    "'-' was taken for a file name."
    csv = "u;v\n" + "\n".join(f"{i % 7};{(i * 3) % 11}" for i in range(40))
    r = subprocess.run([sys.executable, "-m", "emtheory", "fit", "-", "--method", "em", "--json"], input=csv,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["source"] == "standard input" and out["n_samples"] == 40 and out["columns"] == ["u", "v"]

def test_version():
    from emtheory import __version__
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"emtheory {__version__}"

def test_select_subcommand(capsys):
    "`emtheory select` is the model-selection command (emtheory.select.select_main)."
    assert main(["select", "-k", "2", "--covariance-types", "full", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "best" in json.dumps(out) and main(["select", "no-such-file.csv"]) == 2

@pytest.mark.parametrize("argv,msg", [
    (["fit", "-k", "abc"], "argument -k/--components: invalid int value: 'abc' (see emtheory fit --help)"),
    (["select", "-k", "abc"], "invalid int value: 'abc' (see emtheory select --help)"),
    (["fit", "--bogus"], "unrecognized arguments: --bogus"),
    (["fit", "--method", "all", "--chunk-rows", "10", "HDR"], "HDR has no data rows: the data source is empty."),
    (["fit", "--chunk-rows", "10", "HDR"], "HDR has no data rows"),
    (["fit", "TXT"], "TXT is not a NumPy .npy file (it has no .npy header)"),
])
def test_every_error_is_one_line_on_stderr(argv, msg, tmp_path, capsys):
    "Usage and data errors: one line on stderr, naming the file and the problem, exit status 2, nothing on stdout."
    from emtheory.cli import main
    hdr, txt = tmp_path / "h.csv", tmp_path / "t.npy"
    hdr.write_text("a,b\n"); txt.write_text("not an array\n")
    argv = [str(hdr) if a == "HDR" else str(txt) if a == "TXT" else a for a in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, (out, err)
    assert msg.replace("HDR", str(hdr)).replace("TXT", str(txt)) in err

def test_fit_takes_mclusts_models(capsys):
    "emtheory fit --covariance-type takes mclust's fourteen names; the JSON's covariances are the full matrices."
    from emtheory.datasets import load_faithful
    from emtheory.em import GaussianMixtureEM
    assert main(["fit", "--json", "--method", "em", "--covariance-type", "VEV"]) == 0
    res = json.loads(capsys.readouterr().out)["results"][0]
    X, _ = load_faithful()
    gm = GaussianMixtureEM(2, covariance_type="VEV", random_state=0, tol=1e-6, max_iter=500).fit(X)
    np.testing.assert_allclose(res["covariances"], gm.covariances_, rtol=1e-12)
    assert res["covariance_type"] == "VEV" and np.asarray(res["covariances"]).shape == (2, 2, 2)
    assert main(["fit", "--json", "--method", "em", "--covariance-type", "EII"]) == 0
    cov = np.asarray(json.loads(capsys.readouterr().out)["results"][0]["covariances"])
    assert cov.shape == (2, 2, 2) and np.allclose(cov[0], cov[0, 0, 0] * np.eye(2)) and np.allclose(cov[0], cov[1])
    assert main(["fit", "--method", "map", "--covariance-type", "VEE"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no conjugate prior for covariance_type 'VEE'" in err
