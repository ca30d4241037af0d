"""The oracles and the campaign run the monitor policy they are given."""

from __future__ import annotations

import pytest

from virtcheck.fuzz import oracles as O
from virtcheck.fuzz.campaign import CampaignConfig, policy_refusal
from virtcheck.fuzz.properties import Settings, check

from campaign_helpers import MACHINES, PG3, case


@pytest.mark.parametrize("policy, diverges", [("trap-emulate", True), ("hybrid", False), ("emulate", False)])
def test_jrst1_in_supervisor_mode_diverges_only_under_trap_and_emulate(policy, diverges):
    isa = MACHINES["pg3-jrst"]
    c = case(isa, "LI r1, 3\nJRST1 0", M=1)
    f = O.equivalence(isa, c, policy=policy).failure
    assert (f is not None and f.instruction == "JRST1") is diverges
    assert (check(O.EQUIVALENCE, isa, c, Settings(policy=policy)) is not None) is diverges


def test_lra_in_user_mode_diverges_under_hybrid_not_under_emulation():
    isa = MACHINES["pg3-lra"]
    c = case(isa, "LRA r1, 2(r0)", M=0)
    assert O.equivalence(isa, c, policy="hybrid").failure.instruction == "LRA"
    assert O.equivalence(isa, c, policy="emulate").failure is None


def test_direct_ratio_counts_interpretation():
    c = case(PG3, "LI r1, 5\nADD r2, r1, r1\nLI r3, 14\nSETR r0, r3", M=1)
    assert O.equivalence(PG3, c, policy="emulate").direct_ratio == 0.0
    assert O.equivalence(PG3, c, policy="hybrid").interpreted == 4  # supervisor mode: all interpreted
    assert O.equivalence(PG3, c, policy="trap-emulate").direct_ratio == 0.75


@pytest.mark.parametrize("policy", ["isolation", "encapsulation"])
def test_side_properties_hold_under_every_policy(policy):
    from virtcheck.fuzz.casegen import CaseGenerator

    gen = CaseGenerator(PG3, 5, length=12)
    for _ in range(6):
        c = gen.isolation_case() if policy == "isolation" else gen.encapsulation_case()
        for vmm in ("hybrid", "emulate"):
            assert check(policy, PG3, c, Settings(policy=vmm)) is None


def test_the_native_engine_names_the_missing_capability():
    assert policy_refusal("trap-emulate") is None
    assert policy_refusal("hybrid") == ("the native monitor has no interpretation of guest instructions on the "
                                        "virtual state, which this policy needs")
    from virtcheck.fuzz.campaign import native_refusal

    if native_refusal(PG3) is not None:
        pytest.skip(f"no native engine here: {native_refusal(PG3)}")
    cfg = CampaignConfig(PG3, "pg3", 1, vmm="emulate", engine="native")
    with pytest.raises(ValueError) as exc:
        cfg.engine_choice()
    assert str(exc.value) == ("the native engine cannot run this campaign: the native monitor has no interpretation "
                              "of guest instructions on the virtual state, which this policy needs")
    cfg = CampaignConfig(PG3, "pg3", 1, vmm="hybrid")
    assert cfg.engine_choice()[0] == "python"


def test_an_emulator_run_that_completes_nothing_has_direct_ratio_0():
    c = case(PG3, "HALT", M=1)
    assert O.equivalence(PG3, c, policy="emulate").direct_ratio == 0.0
    assert O.equivalence(PG3, c, policy="trap-emulate").direct_ratio == 1.0  # the convention kept
