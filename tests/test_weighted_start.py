"""The default start is weight-aware: integer sample weights give exactly the start of the repeated rows (row order
included), weights times a constant give the same start, and so EM, MAP-EM and CAVI fitted with integer weights equal the
fits on the repeated rows (scikit-learn's check_sample_weight_equivalence, the start included)."""
import warnings
import numpy as np
import pytest
from emtheory.core import initial_resp
from emtheory.em import GaussianMixtureEM
from emtheory.map_em import GaussianMixtureMAP
from emtheory.cavi import GaussianMixtureCAVI

EQUIVALENT = ("kmeans", "k-means++", "random_from_data")
SEEDS = range(8)

def _case(seed):
    "A random case: 2 to 4 Gaussian blobs in 1 to 3 dimensions, 20 to 60 rows, a few exact duplicates, weights 0 to 4."
    rng = np.random.default_rng(seed)
    D, K, n = int(rng.integers(1, 4)), int(rng.integers(2, 5)), int(rng.integers(20, 61))
    X = rng.normal(size=(n, D)) + rng.normal(0, 4, (K, D))[rng.integers(K, size=n)]
    X[rng.choice(n, 5, replace=False)] = X[rng.choice(n, 5, replace=False)]   # rows that already repeat
    w = rng.integers(0, 5, n)
    w[rng.choice(n, K + 1, replace=False)] = 1   # at least K + 1 distinct rows kept
    return X, w, K

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", EQUIVALENT)
def test_integer_weights_give_the_start_of_the_repeated_rows(seed, method):
    """Row for row: the weighted start, each row repeated by its weight, is the start of the repeated data, whether
    the weighted rows come in the data's order or shuffled (as scikit-learn's check shuffles them); weight-0 rows get 1/K."""
    X, w, K = _case(seed)
    Rrep = initial_resp(np.repeat(X, w, axis=0), K, method, np.random.default_rng(seed))
    Rw = initial_resp(X, K, method, np.random.default_rng(seed), w.astype(float))
    np.testing.assert_array_equal(np.repeat(Rw, w, axis=0), Rrep)
    np.testing.assert_array_equal(Rw[w == 0], 1 / K)
    perm = np.random.default_rng(100 + seed).permutation(len(X))
    Rp = initial_resp(X[perm], K, method, np.random.default_rng(seed), w[perm].astype(float))
    np.testing.assert_array_equal(Rp, Rw[perm])

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", EQUIVALENT)
def test_weights_times_a_constant_give_the_same_start(seed, method):
    "Fractional weights: the masses of every draw scale together, so 0.37 w and 1000 w start where w starts."
    X, _, K = _case(seed)
    w = np.random.default_rng(50 + seed).uniform(0.2, 3., len(X))
    R = initial_resp(X, K, method, np.random.default_rng(seed), w)
    for c in (0.37, 1000.):
        np.testing.assert_array_equal(initial_resp(X, K, method, np.random.default_rng(seed), c * w), R)

def test_the_start_follows_the_weights():
    """The weights are used, not only which rows are equal (a start that ignored them would still pass the tests
    above): a point carrying almost all the weight is the first k-means++ seed and one of the random_from_data points,
    and weighted Lloyd ends where only weighted means can."""
    X = np.array([[0.], [4.], [5.], [9.], [30.], [31.]])
    heavy = np.array([1., 1., 1., 1e9, 1., 1.])
    for s in range(10):
        assert initial_resp(X, 2, "k-means++", np.random.default_rng(s), heavy)[3, 0] == 1
        assert initial_resp(X, 2, "random_from_data", np.random.default_rng(s), heavy)[3].sum() == 1
    # 0, 4, 5, 9 with weights 1, 1, 1, 100 and K = 2: {0, 4} {5, 9} is a fixed point of unweighted Lloyd (centres 2
    # and 7) but not of weighted Lloyd (centre (5 + 900) / 101 = 8.96 is 3.96 from 5, the centre 2 only 3); the only
    # weighted fixed point is {0, 4, 5} {9} (centres 3 and 9). Every seed must end there.
    X4, w4 = np.array([[0.], [4.], [5.], [9.]]), np.array([1., 1., 1., 100.])
    part = lambda R: sorted(tuple(np.flatnonzero(R[:, k]).tolist()) for k in range(R.shape[1]))
    for s in range(10):
        assert part(initial_resp(X4, 2, "kmeans", np.random.default_rng(s), w4)) == [(0, 1, 2), (3,)], s

def test_random_start_cannot_be_equivalent():
    "'random' draws one row of responsibilities per data row: two copies of a row get two different rows."
    X = np.repeat([[0., 0.], [5., 5.]], 2, axis=0)
    R = initial_resp(X, 2, "random", np.random.default_rng(0))
    assert not np.allclose(R[0], R[1])
    np.testing.assert_allclose(R.sum(1), 1., rtol=1e-15)

def test_fewer_distinct_rows_than_components():
    "With fewer distinct rows than K the rows are the points: every component gets a row, one-hot."
    X = np.repeat([[0., 0.], [5., 5.]], [6, 4], axis=0)
    for s in range(5):
        R = initial_resp(X, 3, "kmeans", np.random.default_rng(s))
        assert (R.sum(0) >= 1).all() and (R.sum(1) == 1).all() and ((R == 0) | (R == 1)).all()

# ---- the fits: EM, MAP-EM and CAVI with integer weights equal the fits on the repeated rows

MAX_ITER = 40

def _fits(make, seed):
    X, w, K = _case(seed)
    perm = np.random.default_rng(200 + seed).permutation(len(X))   # the weighted rows shuffled, as scikit-learn does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = make(K).fit(np.repeat(X, w, axis=0))
        b = make(K).fit(X[perm], sample_weight=w[perm].astype(float))
    return a, b, int(w.sum())

ESTIMATORS = {
    "EM": lambda K: GaussianMixtureEM(K, tol=0, max_iter=MAX_ITER, reg_covar=1e-6, random_state=0),
    "EM-diag": lambda K: GaussianMixtureEM(K, covariance_type="diag", tol=0, max_iter=MAX_ITER, reg_covar=1e-6, random_state=0),
    "MAP": lambda K: GaussianMixtureMAP(K, tol=0, max_iter=MAX_ITER, random_state=0),
    "CAVI": lambda K: GaussianMixtureCAVI(K, tol=0, max_iter=MAX_ITER, random_state=0),
}

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_weighted_fit_equals_the_fit_on_repeated_rows(name, seed):
    """The starts are bitwise equal (tests above); afterwards the two fits differ only by the order of the sums over rows.
    A sum of n terms in floating point is off by at most n eps relative to the sum of absolute values (Higham,
    Accuracy and Stability, 4.2), so each iteration perturbs the statistics by n eps; over MAX_ITER iterations of a map
    whose derivative is bounded by the data's scale these add up to at most MAX_ITER n eps times a modest factor. We
    allow 100 MAX_ITER n eps (3e-11 to 1e-10 here; the fits agree to 4e-14), far below the O(1) changes that
    a start blind to the weights makes (the previous kmeans2 start failed 5 of these 8 seeds)."""
    a, b, n = _fits(ESTIMATORS[name], seed)
    tol = 100 * MAX_ITER * n * np.finfo(float).eps
    for attr in ("weights_", "means_", "covariances_"):
        x, y = getattr(a, attr), getattr(b, attr)
        np.testing.assert_allclose(y, x, rtol=tol, atol=tol * np.abs(x).max(), err_msg=attr)
