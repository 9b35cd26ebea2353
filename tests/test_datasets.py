"The bundled data set is real package data: it loads from the installed package, not from the source tree."
import subprocess, sys
from pathlib import Path
import numpy as np
from emtheory.datasets import load_faithful

def test_faithful_is_rs_faithful():
    """The bundled rows are R's `faithful`: 272 rows whose column sums and sums of squares equal what R printed into
    tests/fixtures/mclust_faithful.csv (tests/fixtures/mclust_faithful.R), and whose first rows are R's head(faithful)."""
    X, cols = load_faithful()
    assert cols == ('eruptions', 'waiting') and X.shape == (272, 2) and X.dtype == np.float64
    line = next(l for l in (Path(__file__).parent / 'fixtures' / 'mclust_faithful.csv').open() if l.startswith('# column sums'))
    sums, squares = line[len('# column sums'):].split('; sums of squares')
    np.testing.assert_allclose(X.sum(0), [float(v) for v in sums.split()], rtol=1e-14)
    np.testing.assert_allclose((X**2).sum(0), [float(v) for v in squares.split()], rtol=1e-14)
    np.testing.assert_array_equal(X[:6], [[3.6, 79], [1.8, 54], [3.333, 74], [2.283, 62], [4.533, 85], [2.883, 55]])

def test_faithful_known_summary():
    # R: summary(faithful); colMeans(faithful) = 3.487783 70.897059; eruptions range 1.6..5.1, waiting 43..96
    X, _ = load_faithful()
    np.testing.assert_allclose(X.mean(0), [3.487783, 70.897059], rtol=1e-6)
    np.testing.assert_array_equal(X.min(0), [1.6, 43.]); np.testing.assert_array_equal(X.max(0), [5.1, 96.])

def test_csv_is_declared_package_data():
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=['=']); cfg.read(Path(__file__).resolve().parent.parent/'settings.ini')
    assert 'data/*.csv' in cfg['DEFAULT']['package_data'].split()

import bz2, gzip, lzma
import pytest
from emtheory.datasets import read_csv, load_csv, UsageError

@pytest.mark.parametrize("opener, suffix", [(open, ".csv"), (gzip.open, ".csv.gz"), (bz2.open, ".csv.bz2"), (lzma.open, ".csv.xz")])
@pytest.mark.parametrize("text", ["\ufeffa,b\r\n1,\"2.5\"\r\n3,4\r\n5,6\r\n\r\n", "a\tb\n1\t2.5\n3\t4\n5\t6\n\n\n",
                                  "a; b\n1; 2.5\n3; 4\n5; 6\n"])
def test_one_reader_chunked_or_not(tmp_path, opener, suffix, text):
    "Quoted fields, a BOM, CRLF, blank lines at the end and compressed files read the same with and without chunking."
    p = tmp_path / f"x{suffix}"
    with opener(p, "wt", encoding="utf-8", newline="") as f: f.write(text)
    want = np.array([[1, 2.5], [3, 4], [5, 6]])
    X, cols = load_csv(p)
    np.testing.assert_array_equal(X, want); assert cols == ["a", "b"]
    for rows in (1, 2, 5):
        cols, blocks = read_csv(p, rows)
        np.testing.assert_array_equal(np.concatenate(list(blocks())), want)

def test_reader_errors_name_file_line_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n5,oops\n")
    with pytest.raises(UsageError, match=r"t.csv, line 4, column 'b': 'oops' is not a number"):
        list(read_csv(tmp_path / "t.csv", 2)[1]())
    (tmp_path / "r.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(UsageError, match="line 3: 3 fields, expected 2"): load_csv(tmp_path / "r.csv")
    with pytest.raises(UsageError, match="is a directory"): load_csv(tmp_path)
    np.save(tmp_path / "n.npy", np.ones((3, 2))); (tmp_path / "n.csv").write_bytes((tmp_path / "n.npy").read_bytes())
    with pytest.raises(UsageError, match="not a text"): load_csv(tmp_path / "n.csv")
