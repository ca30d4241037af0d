"""A verdict never depends on what else runs: every ISA's JSON report is identical (apart
from timings) when it is checked alone, with others, in another order, or with other
--jobs. Each run is a fresh process, so "alone" really is alone.

Before every query had a Z3 context of its own (``checks.verdict.Session``), ``check
pg3-mfsr --vmm trap-emulate`` left ST's equivalence undecided while ``check pg3 pg3-mfsr
--vmm trap-emulate`` proved it, and witness values differed with --jobs > 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from virtcheck.isa.machines import REGISTRY

PG3_FAMILY = [n for n, mod in REGISTRY.items() if mod == "pg3"]


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def reports(*args: str) -> dict[str, Any]:
    """ISA name -> its JSON report (without timings), from one fresh ``virtcheck check``."""
    p = subprocess.run([sys.executable, "-m", "virtcheck.cli", "check", "--format", "json", *args],
                       capture_output=True, text=True)
    assert p.returncode in (0, 1, 3), p.stderr
    return {r["isa"]: _untimed(r) for r in json.loads(p.stdout)["isas"]}


def test_the_issue_case_alone_and_beside_pg3():
    alone = reports("pg3-mfsr", "--vmm", "trap-emulate")
    beside = reports("pg3", "pg3-mfsr", "--vmm", "trap-emulate")
    assert alone["pg3-mfsr"]["monitor"]["equivalence"]["undecided"] == []
    assert alone["pg3-mfsr"] == beside["pg3-mfsr"]


def test_pg3_family_in_any_order_and_any_jobs():
    forward = reports(*PG3_FAMILY, "--jobs", "1")
    backward = reports(*reversed(PG3_FAMILY), "--jobs", "2")
    assert list(forward) == PG3_FAMILY
    for name in PG3_FAMILY:
        assert forward[name] == backward[name], name


@pytest.mark.slow
def test_every_isa_alone_and_with_all_the_others():
    together = reports("--jobs", "1")
    assert list(together) == list(REGISTRY)
    for name in REGISTRY:
        assert reports(name, "--jobs", "1")[name] == together[name], name


@pytest.mark.slow
def test_every_pg3_monitor_proof_alone_and_with_the_family():
    """--vmm on each ISA of the pg3 family alone and with the whole family. (The x86
    monitor proofs take many minutes: too long to run each twice in CI.)"""
    together = reports(*PG3_FAMILY, "--vmm", "trap-emulate", "--jobs", "1")
    for name in PG3_FAMILY:
        assert reports(name, "--vmm", "trap-emulate", "--jobs", "1")[name] == together[name], name
