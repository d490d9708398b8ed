import os

from hypothesis import HealthCheck, settings

# CI machines have 2 cores: keep Hypothesis deterministic and free of deadline flakes.
settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")
