"""Quality: a short campaign finds what Z3 flags on each pg3 variant and shrinks it to at
most 3 instructions; on pg3 a bounded campaign finds nothing (slow: CI's bounded step).

The instructions expected are Z3's (``classify_isa``), never written down here."""

from __future__ import annotations

import time

import pytest

from virtcheck.checks.classify import classify_isa
from virtcheck.fuzz.campaign import CampaignConfig, run_campaign
from virtcheck.fuzz.reference import Reference
from virtcheck.isa.machines import bundled

MACHINES = bundled()
VARIANTS = [n for n in MACHINES if n.startswith("pg3-")]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", VARIANTS)
def test_a_short_campaign_finds_every_flagged_instruction(name):
    isa = MACHINES[name]
    ref = Reference.from_isa_result(classify_isa(isa))
    assert ref.flagged
    t0 = time.monotonic()
    report = run_campaign(CampaignConfig(isa, name, seed=2024, seconds=10.0, workers=2, reference=ref))
    assert time.monotonic() - t0 < 15
    assert report.comparison == {"agreed": sorted(ref.flagged), "fuzz_only": [], "z3_only": []}
    for f in report.failures:
        assert 1 <= len(f.program) <= 3, (f.instruction, f.program)
        assert any(line.split()[0] == f.instruction for line in f.program), (f.instruction, f.program)


def test_pg3_bounded_campaign_finds_nothing():
    isa = MACHINES["pg3"]
    ref = Reference.from_isa_result(classify_isa(isa))
    report = run_campaign(CampaignConfig(isa, "pg3", seed=2024, seconds=15.0, workers=2, reference=ref))
    assert report.failures == [] and report.programs > 1000
    assert report.summary().startswith(f"no divergence in {report.programs} programs (seed 2024)")


@pytest.mark.parametrize("name", VARIANTS)
def test_a_hybrid_campaign_finds_exactly_theorem3s_violations(name):
    """Under the hybrid monitor the campaign must find Theorem 3's violations (LRA on
    pg3-lra) and nothing where Theorem 3 holds (JRST1 is interpreted in supervisor mode)."""
    isa = MACHINES[name]
    ref = Reference.from_isa_result(classify_isa(isa), "3")
    report = run_campaign(CampaignConfig(isa, name, seed=2024, vmm="hybrid", seconds=10.0, workers=2,
                                         reference=ref))
    assert report.comparison == {"agreed": sorted(ref.flagged), "fuzz_only": [], "z3_only": []}
    assert report.programs > 1000
    if not ref.flagged:
        assert report.summary().startswith(f"no divergence in {report.programs} programs (seed 2024)")
