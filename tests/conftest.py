"""Test settings shared by every test file.

Hypothesis runs derandomised by default (profile "ci"): every run, here or in CI, draws the same examples, so a red
run is reproducible from a clean clone. `make property-seeds` re-runs the property tests (marked `property`
automatically) under the "seeds" profile with many explicit seeds, for a developer to run before a change lands.
"""
import os
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("seeds", derandomize=False, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

def pytest_configure(config):
    config.addinivalue_line("markers", "property: a Hypothesis property test (make property-seeds runs it over many seeds)")
    config.addinivalue_line("markers", "slow: a long peer comparison, skipped unless EMTHEORY_SLOW=1 (make slow sets it)")

def pytest_collection_modifyitems(config, items):
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False): item.add_marker(pytest.mark.property)
        if "slow" in item.keywords and not os.environ.get("EMTHEORY_SLOW"):
            item.add_marker(pytest.mark.skip(reason="slow: run by make slow (EMTHEORY_SLOW=1)"))
