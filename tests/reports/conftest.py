"""The ``run`` fixture: hand-built results, see sample_results.py."""

from __future__ import annotations

import pytest

from sample_results import make_run, toy, toy_peek, toy_slow
from virtcheck.checks.results import CheckRun


@pytest.fixture
def run() -> CheckRun:
    """toy (holds), toy-peek (fails) and toy-slow (unknown), no load errors."""
    return make_run(toy(), toy_peek(), toy_slow())
