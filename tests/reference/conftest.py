"""Reference-machine tests: Unicorn runs everywhere; KVM skips without /dev/kvm."""

import pytest


@pytest.fixture(scope="session")
def x86(machines):
    return machines["x86"]


@pytest.fixture(scope="session")
def m68000(machines):
    return machines["m68000"]
