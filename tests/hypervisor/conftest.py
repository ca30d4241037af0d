"""Shared fixtures: the bundled ISAs, workloads, and the bare reference runs."""

from __future__ import annotations

import pytest

from virtcheck.isa.machines import bundled


@pytest.fixture(scope="session")
def machines():
    return bundled()


@pytest.fixture(scope="session")
def pg3(machines):
    return machines["pg3"]
