"""What a new user finds by probing: each test failed on the code before its fix (the defect it names is in its docstring).

Every comparison runs a fixed number of sweeps (tol=0) unless it tests the stopping rule itself, in which case it first
checks that the crossing of tol is clear of rounding.
"""
import warnings
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sps
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.mixture import GaussianMixture
from emtheory.core import initial_resp, NotFittedError
from emtheory.datasets import load_faithful
from emtheory.em import GaussianMixtureEM
from emtheory.map_em import GaussianMixtureMAP
from emtheory.cavi import GaussianMixtureCAVI, NormalGammaCAVI
from emtheory.gaussian import COVARIANCE_TYPES

X, COLS = load_faithful()
COLS = list(COLS)
ESTIMATORS = {"em": GaussianMixtureEM, "map": GaussianMixtureMAP, "cavi": GaussianMixtureCAVI}
INIT = dict(weights_init=[.4, .6], means_init=[[2., 55.], [4.3, 80.]], precisions_init=np.stack([np.eye(2)] * 2))

def quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)

def _fitted_numbers(est):
    return {a: np.asarray(getattr(est, a), float) for a in ("weights_", "means_", "covariances_")}

# ---------------------------------------------------------------- 1. MAP-EM on integer data

def test_map_default_prior_on_integer_data():
    "1. The default prior's symmetry check compared with atol=0: -6.6e-18 against -1.8e-17 was called asymmetric."
    Xi = (3 * np.random.RandomState(0).uniform(size=(20, 5))).astype(int)
    gm = quiet(GaussianMixtureMAP(2, random_state=0).fit, Xi)
    np.testing.assert_array_equal(gm.covariance_prior_, gm.covariance_prior_.T)
    assert np.isfinite(gm.score(Xi))
    # the same check on a user's prior that is symmetric to rounding (the case the integer data produced elsewhere)
    C = np.array([[1., -6.6e-18], [-1.8e-17, 1.]])
    for ct in ("full", "tied"): quiet(GaussianMixtureMAP(2, covariance_type=ct, covariance_prior=C, random_state=0).fit, X)
    with pytest.raises(ValueError, match="symmetric"): GaussianMixtureMAP(2, covariance_prior=[[1., .5], [.4, 1.]]).fit(X)

# ---------------------------------------------------------------- 2, 3. weights

@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_zero_weight_rows_change_nothing(name):
    "2. Rows of weight 0 seeded the k-means start: 5 far points of weight 0 gave weights [1, 0]."
    Xz = np.vstack([X, np.tile([100., 500.], (5, 1))])
    w = np.r_[np.ones(len(X)), np.zeros(5)]
    a = quiet(ESTIMATORS[name](2, random_state=0, tol=0, max_iter=30).fit, Xz, sample_weight=w)
    b = quiet(ESTIMATORS[name](2, random_state=0, tol=0, max_iter=30).fit, X)
    for k, v in _fitted_numbers(b).items(): np.testing.assert_allclose(_fitted_numbers(a)[k], v, rtol=1e-9, err_msg=k)
    assert min(a.weights_) > 0.3     # the two regimes, not one component at the data mean

def test_cavi_default_prior_counts_weights_as_repetitions():
    "3. CAVI's default prior used np.cov(aweights=w): covariance_prior_[0, 0] was 1.3606 weighted, 1.3562 repeated."
    w = np.random.default_rng(0).integers(1, 4, len(X))
    a = quiet(GaussianMixtureCAVI(2, tol=0, max_iter=3, random_state=0).fit, X, sample_weight=w.astype(float))
    b = quiet(GaussianMixtureCAVI(2, tol=0, max_iter=3, random_state=0).fit, np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.covariance_prior_, b.covariance_prior_, rtol=1e-12)
    np.testing.assert_allclose(a.covariance_prior_, np.cov(np.repeat(X, w, axis=0).T), rtol=1e-12)

@pytest.mark.parametrize("c", [1e-16, 1e-8, 1e8, 1e16])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_em_is_invariant_to_rescaling_the_weights(c, ct):
    "3. w = 1e-16 gave score -4.376 against -4.155: the empty-component floor 10 eps was not scaled with the weights."
    w = np.random.default_rng(1).uniform(0.5, 2, len(X))
    a = quiet(GaussianMixtureEM(2, covariance_type=ct, tol=0, max_iter=25, random_state=0).fit, X, sample_weight=w)
    b = quiet(GaussianMixtureEM(2, covariance_type=ct, tol=0, max_iter=25, random_state=0).fit, X, sample_weight=c * w)
    for k, v in _fitted_numbers(a).items(): np.testing.assert_allclose(_fitted_numbers(b)[k], v, rtol=1e-9, err_msg=k)
    np.testing.assert_allclose(b.history_["objective"], c * a.history_["objective"], rtol=1e-9)

def test_map_weights_are_frequencies():
    "3. For MAP-EM a weight counts observations: weights c w equal the data repeated, so the prior's share changes."
    w = np.random.default_rng(2).integers(1, 3, len(X))
    a = quiet(GaussianMixtureMAP(2, tol=0, max_iter=10, **INIT).fit, X, sample_weight=3. * w)
    b = quiet(GaussianMixtureMAP(2, tol=0, max_iter=10, **INIT).fit, np.repeat(X, 3 * w, axis=0))
    for k, v in _fitted_numbers(b).items(): np.testing.assert_allclose(_fitted_numbers(a)[k], v, rtol=1e-9, err_msg=k)

# ---------------------------------------------------------------- 4. CAVI with one sample

@pytest.mark.parametrize("weights", [None, [1., 0, 0, 0]])
def test_cavi_one_sample_is_a_clear_error(weights):
    "4. One sample (or one non-zero weight) said 'collapsed … not positive definite' after four RuntimeWarnings."
    Xs = X[:1] if weights is None else X[:4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="n_samples = 1"): GaussianMixtureCAVI(1).fit(Xs, sample_weight=weights)

def test_cavi_one_sample_with_a_given_prior_fits():
    "4. The Bayesian answer for one point exists when the prior is proper: the posterior mean lies between m0 and x."
    fit = GaussianMixtureCAVI(1, covariance_prior=np.eye(2), mean_prior=[0., 0.], mean_precision_prior=1.).fit(X[:1])
    np.testing.assert_allclose(fit.means_[0], X[0] / 2, rtol=1e-12)     # (β0 m0 + 1·x) / (β0 + 1) with β0 = 1

def test_huge_weights_are_a_clear_error():
    "4. sample_weight=1e300 gave a bare 'array must not contain infs or NaNs'."
    for est in ESTIMATORS.values():
        with pytest.raises(ValueError, match="sample_weight sums to"): est(2).fit(X, sample_weight=np.full(len(X), 1e300))

# ---------------------------------------------------------------- 5, 6. pandas and sparse input

def test_dataframe_feature_names():
    "5. A DataFrame lost its column names, and reordered columns silently gave other labels."
    df = pd.DataFrame(X, columns=COLS)
    for est in ESTIMATORS.values():
        gm = quiet(est(2, random_state=0).fit, df)
        np.testing.assert_array_equal(gm.feature_names_in_, COLS)
        np.testing.assert_array_equal(gm.predict(df), quiet(gm.predict, X))
        with pytest.raises(ValueError, match="feature names should match"): gm.predict(df[COLS[::-1]])
        with pytest.warns(UserWarning, match="does not have valid feature names"): gm.predict(X)
        assert not hasattr(quiet(gm.fit, X), "feature_names_in_")      # a refit on an array forgets them

def test_missing_and_sparse_input_say_what_to_do():
    "6. pd.NA in a nullable Float64 column and a sparse matrix both got 'X must be numeric; it has dtype object'."
    df = pd.DataFrame(X, columns=COLS).astype("Float64")
    df.iloc[3, 1] = pd.NA
    with pytest.raises(ValueError, match=r"missing values .*row 3, column 'waiting'"): GaussianMixtureEM(2).fit(df)
    np.testing.assert_allclose(GaussianMixtureEM(2, random_state=0).fit(df.dropna()).means_.mean(), X[np.arange(len(X)) != 3].mean(), rtol=0.5)
    with pytest.raises(ValueError, match=r"sparse.*toarray\(\)"): GaussianMixtureEM(2).fit(sps.csr_matrix(X))

# ---------------------------------------------------------------- 7, 8, 9. warm start, weights, NotFittedError

def test_warm_start_on_data_of_another_width():
    "7. warm_start=True then fit on data of another width: a raw 'operands could not be broadcast'."
    gm = quiet(GaussianMixtureEM(2, warm_start=True, random_state=0).fit, X)
    with pytest.raises(ValueError, match="warm_start=True continues the last fit, which had 2 features"):
        gm.fit(np.c_[X, X[:, :1]])

def test_text_weights_name_sample_weight():
    "8. sample_weight=list('abcde') said only: could not convert string to float: 'a'."
    with pytest.raises(ValueError, match="sample_weight must be numbers"): GaussianMixtureEM(2).fit(X[:5], sample_weight=list("abcde"))

def test_not_fitted_error_is_sklearns():
    "9. `except sklearn.exceptions.NotFittedError` did not catch emtheory's error."
    for est in ESTIMATORS.values():
        with pytest.raises(SklearnNotFittedError): est(2).predict(X)
        with pytest.raises(NotFittedError): est(2).score(X)

# ---------------------------------------------------------------- 10. NormalGammaCAVI

def test_normal_gamma_cavi_is_an_estimator():
    "10. NormalGammaCAVI had no get_params/set_params (clone raised), accepted tol=-1, and took no sample_weight."
    ng = NormalGammaCAVI(mean_prior=1., tol=1e-12)
    c = clone(ng)
    assert c.get_params() == ng.get_params() and repr(c) == "NormalGammaCAVI(mean_prior=1.0, tol=1e-12)"
    assert c.set_params(max_iter=5).max_iter == 5
    with pytest.raises(ValueError, match="tol must be >= 0"): NormalGammaCAVI(tol=-1).fit([1., 2.])
    x = np.array([0.3, 1.2, 2.5, 0.7]); w = np.array([2, 1, 3, 1])
    a, b = NormalGammaCAVI(tol=0, max_iter=50).fit(x, sample_weight=w.astype(float)), NormalGammaCAVI(tol=0, max_iter=50).fit(np.repeat(x, w))
    np.testing.assert_allclose([a.mean_, a.precision_, a.shape_, a.rate_, a.elbo_, a.log_evidence_],
                               [b.mean_, b.precision_, b.shape_, b.rate_, b.elbo_, b.log_evidence_], rtol=1e-12)

# ---------------------------------------------------------------- 11. a collapsed spherical component

@pytest.mark.parametrize("ct", ["spherical", "diag"])
def test_collapsed_spherical_component_is_refused(ct):
    "11. Spherical EM, reg_covar=0, 5 copies of (10, 10): variance 2.3e-28, score 2.0e13, 'converged', no warning."
    Xb = np.vstack([X, np.tile([10., 10.], (5, 1))])
    with pytest.raises(ValueError, match="collapsed.*reg_covar"):
        quiet(GaussianMixtureEM(3, covariance_type=ct, reg_covar=0, random_state=0).fit, Xb)

def test_narrow_far_cluster_is_not_refused():
    "11. The collapse rule is relative to the resolution at the component's mean: sd 1e-3 at 1e6 is a real cluster."
    rng = np.random.default_rng(0)
    Xf = np.vstack([rng.normal(0, 1e-3, (200, 2)), rng.normal(1e6, 1e-3, (200, 2))])
    gm = quiet(GaussianMixtureEM(2, covariance_type="spherical", reg_covar=0, random_state=0, tol=0, max_iter=5).fit, Xf)
    np.testing.assert_allclose(np.sort(gm.covariances_), [1e-6] * 2, rtol=0.25)

# ---------------------------------------------------------------- 12. n_iter_ against scikit-learn

def test_lower_bound_belongs_to_the_returned_parameters():
    """12. scikit-learn's lower_bound_ is that of the parameters one M-step before those it returns; ours is that of the
    returned parameters. So after t sweeps ours equals scikit-learn's after t + 1, and a tol-stopped run of ours stops one
    iteration earlier at the same bound."""
    ours = [quiet(GaussianMixtureEM(2, tol=0, max_iter=t, reg_covar=0, **INIT).fit, X).lower_bound_ for t in range(1, 9)]
    sk = [quiet(GaussianMixture(2, tol=0, max_iter=t, reg_covar=0, **INIT).fit, X).lower_bound_ for t in range(2, 10)]
    np.testing.assert_allclose(ours, sk, rtol=1e-12)
    h = quiet(GaussianMixtureEM(2, tol=0, max_iter=8, reg_covar=0, **INIT).fit, X).history_["objective"] / len(X)
    np.testing.assert_allclose(h, ours, rtol=1e-12)

# ---------------------------------------------------------------- mutants the suite did not kill

def test_kmeans_start_is_invariant_to_the_units():
    "The k-means start standardises the columns: minutes or seconds give the same initial responsibilities."
    R1 = initial_resp(X, 3, "kmeans", np.random.default_rng(0))
    R2 = initial_resp(X * [60., 1.], 3, "kmeans", np.random.default_rng(0))
    np.testing.assert_array_equal(R1, R2)

def test_stopping_rule_is_per_sample():
    "The stopping rule compares the change per unit weight with tol: the data stacked twice stop at the same iteration."
    tol = 3e-5
    a = quiet(GaussianMixtureEM(2, tol=tol, max_iter=200, reg_covar=0, **INIT).fit, X)
    b = quiet(GaussianMixtureEM(2, tol=tol, max_iter=200, reg_covar=0, **INIT).fit, np.vstack([X, X]))
    change = np.abs(np.diff(np.r_[np.nan, a.history_["objective"]])) / len(X)
    assert change[a.n_iter_ - 1] < tol / 2 and change[a.n_iter_ - 2] > 2 * tol   # a crossing clear of rounding
    assert a.converged_ and b.converged_ and a.n_iter_ == b.n_iter_
