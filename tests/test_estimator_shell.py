"""The estimator shell (emtheory.estimator) held to scikit-learn's conventions, which are the peer here: its parameter
protocol and repr, its feature-name rule and messages, its tags, fit_predict, and the data-larger-than-the-sample path."""
import re, warnings
import numpy as np
import pandas as pd
import pytest
from emtheory.blocks import fit_blocks
from emtheory.datasets import load_faithful
from emtheory.em import GaussianMixtureEM
from emtheory.cavi import GaussianMixtureCAVI

X, _ = load_faithful()

def test_repr_shows_the_parameters_that_differ_from_their_defaults():
    "As scikit-learn prints an estimator: only the non-default parameters, in the constructor's order."
    assert repr(GaussianMixtureEM()) == "GaussianMixtureEM()"
    assert repr(GaussianMixtureEM(3, tol=1e-4, covariance_type="VEV")) == \
        "GaussianMixtureEM(n_components=3, covariance_type='VEV', tol=0.0001)"
    assert repr(GaussianMixtureEM(tol=0.001, n_init=1)) == "GaussianMixtureEM()"   # equal to the defaults: not shown
    w = np.array([.5, .5])
    assert repr(GaussianMixtureEM(2, weights_init=w)) == f"GaussianMixtureEM(n_components=2, weights_init={w!r})"

def test_get_and_set_params():
    est = GaussianMixtureEM(2)
    p = est.get_params()
    assert list(p) == sorted(p) and p["n_components"] == 2 and p["tol"] == 1e-3 and "stopping" in p
    assert est.set_params(n_components=4, tol=1e-5) is est and (est.n_components, est.tol) == (4, 1e-5)
    with pytest.raises(ValueError, match="^" + re.escape("Invalid parameter 'bogus' for GaussianMixtureEM; valid: [")):
        est.set_params(bogus=1)
    assert est.n_components == 4   # the failed call left the parameters as they were
    from sklearn.base import clone
    c = clone(GaussianMixtureEM(3, covariance_type="EEE", random_state=7))
    assert c.get_params() == GaussianMixtureEM(3, covariance_type="EEE", random_state=7).get_params()

def test_tags_are_a_density_estimator_without_targets():
    t = GaussianMixtureEM().__sklearn_tags__()
    assert t.estimator_type == "density_estimator" and t.target_tags.required is False

def test_fit_predict_is_fit_then_predict_with_the_weights():
    w = np.where(np.arange(len(X)) % 3 == 0, 2., 1.)
    fp = GaussianMixtureEM(2, random_state=0)
    a = fp.fit_predict(X, sample_weight=w)
    b = GaussianMixtureEM(2, random_state=0).fit(X, sample_weight=w).predict(X)
    c = GaussianMixtureEM(2, random_state=0).fit(X).predict(X)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(X),) and set(a) == {0, 1}
    est = GaussianMixtureEM(2, random_state=0).fit(X, sample_weight=w)
    assert not np.allclose(est.means_, GaussianMixtureEM(2, random_state=0).fit(X).means_)   # the weights reach a fit
    np.testing.assert_array_equal(fp.means_, est.means_)                                       # and fit_predict's
    assert (a == c).mean() > .9

def test_feature_names_rule_and_messages():
    "scikit-learn's _check_feature_names: the same warnings and the same error text, with its details."
    df = pd.DataFrame(X, columns=["eruptions", "waiting"])
    est = GaussianMixtureEM(2, random_state=0).fit(df)
    assert list(est.feature_names_in_) == ["eruptions", "waiting"]
    est.predict(df)   # the same columns: no warning
    with pytest.warns(UserWarning, match="^X does not have valid feature names, but GaussianMixtureEM was fitted with feature names"):
        est.predict(X)
    with pytest.raises(ValueError, match="^" + re.escape("The feature names should match those that were passed during fit. "
                                                   "Feature names unseen at fit time: ['w']. Feature names seen at fit time, "
                                                   "yet now missing: ['waiting'].")):
        est.predict(df.rename(columns={"waiting": "w"}))
    with pytest.raises(ValueError, match=re.escape("The columns are the same but in another order: reorder them")):
        est.predict(df[["waiting", "eruptions"]])
    with pytest.raises(ValueError, match=re.escape("Feature names seen at fit time, yet now missing: ['waiting'].")):
        est.score_samples(df[["eruptions"]].assign(extra=1.).rename(columns={"extra": "eruptions2"}))
    plain = GaussianMixtureEM(2, random_state=0).fit(X)
    with pytest.warns(UserWarning, match="^X has feature names, but GaussianMixtureEM was fitted without feature names"):
        plain.predict(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain.predict(X)   # neither has names: silent

def test_data_larger_than_the_sample():
    "Above init_sample rows the model is built from a stand-in with the data's mean and covariance, and resp_init and"
    "NaN are refused with the reason; the fit equals the in-memory fit from the same explicit start."
    start = GaussianMixtureEM(2, random_state=0, max_iter=5).fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tol=0: a fixed number of iterations, on purpose
        full = GaussianMixtureEM(2, tol=0, max_iter=20, **init).fit(X)
        w = np.full(len(X), 2.)
        small = fit_blocks(GaussianMixtureEM(2, tol=0, max_iter=20, **init), X, sample_weight=w, init_sample=50)
    np.testing.assert_allclose(small.means_, full.means_, rtol=1e-10)   # uniform weights 2: the same maximiser
    np.testing.assert_allclose(small.covariances_, full.covariances_, rtol=1e-10)
    R = np.eye(2)[(X[:, 0] > 3).astype(int)]
    with pytest.raises(ValueError, match="^resp_init \\(N x K responsibilities\\) needs every row in the start's sample"):
        fit_blocks(GaussianMixtureCAVI(2, resp_init=R), X, init_sample=50)
    Xn = X.copy(); Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="^" + re.escape("Data with missing values and more rows (272) than the start's sample (50)")):
        fit_blocks(GaussianMixtureEM(2, missing="marginalize"), Xn, init_sample=50)
    with pytest.raises(ValueError, match="^The data have total weight <= 1: too few samples for a mixture.$"):
        fit_blocks(GaussianMixtureEM(1), X[:3], sample_weight=np.full(3, .2), init_sample=2)

def test_wrong_width_after_fit_is_scikit_learns_message():
    est = GaussianMixtureEM(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="^" + re.escape("X has 3 features, but GaussianMixtureEM is expecting 2 features as input.") + "$"):
        est.predict(np.hstack([X, X[:, :1]]))

@pytest.mark.parametrize("kw, msg", [
    (dict(n_components=True), "n_components must be an integer >= 1; got True."),
    (dict(n_components=0), "n_components must be an integer >= 1; got 0."),
    (dict(n_components=2.), "n_components must be an integer >= 1; got 2.0."),
    (dict(max_iter=0), "max_iter must be an integer >= 1; got 0."),
    (dict(n_init=0), "n_init must be an integer >= 1; got 0."),
    (dict(n_init=1.5), "n_init must be an integer >= 1; got 1.5."),
    (dict(tol=-1e-3), "tol must be >= 0; got -0.001."),
    (dict(tol="0.1"), "tol must be >= 0; got '0.1'."),
    (dict(init_params="bogus"), "init_params must be one of ('kmeans', 'k-means++', 'random', 'random_from_data', 'hc'); "
                                "got 'bogus'."),   # the estimator's own list: mclust's start too
])
def test_shell_parameters_are_checked_with_one_line(kw, msg):
    est = GaussianMixtureEM(**{"n_components": 2, **kw})
    with pytest.raises(ValueError, match="^" + re.escape(msg)):
        est.fit(X)
    assert not hasattr(est, "converged_")   # a failed call leaves the estimator unfitted

def test_an_estimator_without_restarts_or_start_methods_fits():
    "pPCA has no n_init and no init_params: the shell's checks pass it, and its max_iter is still checked."
    from emtheory.ppca import PPCA
    assert not hasattr(PPCA(1), "n_init") and not hasattr(PPCA(1), "init_params")
    PPCA(1).fit(X)
    with pytest.raises(ValueError, match="^max_iter must be an integer >= 1; got 0.$"):
        PPCA(1, max_iter=0).fit(X)

def test_as_many_samples_as_components_fit_and_fewer_are_refused():
    two = np.array([[0., 0.], [1., 1.]])
    GaussianMixtureEM(2, reg_covar=1e-3, random_state=0).fit(two)
    with pytest.raises(ValueError, match="^" + re.escape("X has n_samples = 2, fewer than n_components = 3: a mixture needs "
                                                       "at least as many samples as components. Decrease n_components.") + "$"):
        GaussianMixtureEM(3).fit(two)
