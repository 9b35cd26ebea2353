"scikit-learn's own estimator checks (`check_estimator`) pass for every estimator and covariance type."
import warnings
import pytest
from sklearn.utils.estimator_checks import check_estimator
from emtheory.em import GaussianMixtureEM
from emtheory.map_em import GaussianMixtureMAP
from emtheory.cavi import GaussianMixtureCAVI
from emtheory.gaussian import COVARIANCE_TYPES

ESTIMATORS = ([GaussianMixtureEM(covariance_type=ct) for ct in COVARIANCE_TYPES]
              + [GaussianMixtureMAP(covariance_type=ct) for ct in COVARIANCE_TYPES] + [GaussianMixtureCAVI()])

@pytest.mark.parametrize("est", ESTIMATORS, ids=repr)
def test_check_estimator(est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:300] for r in results if r["status"] == "failed"}
    assert len(results) >= 45 and not failed, failed

# With the default n_components=1 the start cannot matter; with K > 1 the check needs the weight-aware start
# (initial_resp: integer weights equal repeated rows, in any row order, the start included).
from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data
SEVERAL = ([GaussianMixtureEM(3, covariance_type=ct) for ct in COVARIANCE_TYPES]
           + [GaussianMixtureMAP(3, covariance_type=ct) for ct in COVARIANCE_TYPES] + [GaussianMixtureCAVI(3)]
           + [E(2, init_params=m) for E in (GaussianMixtureEM, GaussianMixtureMAP, GaussianMixtureCAVI)
              for m in ("k-means++", "random_from_data")])

@pytest.mark.parametrize("est", SEVERAL, ids=repr)
def test_sample_weight_equivalence_with_several_components(est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_sample_weight_equivalence_on_dense_data(type(est).__name__, est)
