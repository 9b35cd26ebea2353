"The bundled data set is real package data: it loads from the installed package, not from the source tree."
import csv, subprocess, sys
from pathlib import Path
import numpy as np
from emtheory.datasets import load_faithful

def test_faithful_matches_the_shared_copy():
    X, cols = load_faithful()
    src = Path(__file__).resolve().parent.parent/'emtheory'/'data'/'faithful.csv'
    rows = list(csv.reader(src.open()))
    assert cols == tuple(rows[0]) == ('eruptions', 'waiting')
    np.testing.assert_array_equal(X, np.array(rows[1:], float))
    assert X.shape == (272, 2) and X.dtype == np.float64

def test_faithful_known_summary():
    # R: summary(faithful); colMeans(faithful) = 3.487783 70.897059; eruptions range 1.6..5.1, waiting 43..96
    X, _ = load_faithful()
    np.testing.assert_allclose(X.mean(0), [3.487783, 70.897059], rtol=1e-6)
    np.testing.assert_array_equal(X.min(0), [1.6, 43.]); np.testing.assert_array_equal(X.max(0), [5.1, 96.])

def test_csv_is_declared_package_data():
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=['=']); cfg.read(Path(__file__).resolve().parent.parent/'settings.ini')
    assert 'data/*.csv' in cfg['DEFAULT']['package_data'].split()
