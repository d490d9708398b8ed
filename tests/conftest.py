import os

import pytest
from hypothesis import HealthCheck, settings

from tests.support.backends import Backend

# CI machines have 2 cores: keep Hypothesis deterministic and free of deadline flakes.
settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(params=list(Backend), ids=repr)
def xp(request):
    """Each array library (and device) of ``tests.support.backends.Backend``, or a skip saying why."""
    reason = request.param.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return request.param.xp()
