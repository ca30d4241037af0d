"""Shared fixtures: the bundled machines, finalized once per session."""

import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def machines():
    from virtcheck.isa.machines import bundled

    return bundled()
