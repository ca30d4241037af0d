"""Each oracle on hand-made divergent and non-divergent cases."""

from __future__ import annotations

import pytest

from virtcheck.fuzz import oracles as O
from virtcheck.fuzz.properties import Settings, check
from virtcheck.hypervisor import snapshot as snap

from campaign_helpers import MACHINES, PG3, case, leaky, tight


# --- equivalence ------------------------------------------------------------------------
def test_innocuous_and_emulated_programs_agree():
    c = case(PG3, "LI r1, 5\nADD r2, r1, r1\nST r2, 12(r0)\nLI r3, 14\nSETR r0, r3\nGETR r4\nLD r5, 12(r0)", M=1)
    res = O.equivalence(PG3, c)
    assert res.failure is None and not res.out_of_domain
    assert res.emulated == {"SETR": 1, "GETR": 1} and res.direct == 5


def test_reflected_traps_agree():
    c = case(PG3, "SVC 7\nLD r1, 100(r0)\nHALT", M=0, budget=6, memory={2: 0x10000, 3: 0x10})
    assert O.equivalence(PG3, c).failure is None


@pytest.mark.parametrize("name, program, fields, differs", [
    ("pg3-jrst", "JRST1 0", {"M": 1}, "M"),
    ("pg3-mfsr", "MFSR r3", {"M": 1}, "r3"),
    ("pg3-lra", "LRA r1, 2(r0)", {"M": 0}, "r1"),
    ("pg3-popf", "LI r2, 1\nPOPF r2", {"M": 1, "IE": 0}, "IE"),
])
def test_each_variant_diverges_at_its_instruction(name, program, fields, differs):
    isa = MACHINES[name]
    res = O.equivalence(isa, case(isa, program, **fields))
    f = res.failure
    mnemonic = program.split("\n")[-1].split()[0]
    assert f is not None and f.instruction == mnemonic and f.property == O.EQUIVALENCE
    assert f.step == len(program.split("\n")) - 1
    assert differs in f.difference["fields"]


@pytest.mark.parametrize("name, program", [("pg3-jrst", "JRST1 0"), ("pg3-mfsr", "MFSR r3"), ("pg3-popf", "POPF r2")])
def test_mode_dependent_variants_agree_from_virtual_user_mode(name, program):
    isa = MACHINES[name]
    assert O.equivalence(isa, case(isa, program, M=0, r2=1)).failure is None


def test_leaving_the_partition_is_out_of_domain_not_a_failure():
    # SETR gives the virtual machine a bound past its 64 cells; the LD past the partition
    # then differs (bare memory has the cell, the VM does not): no monitor can do better
    c = case(PG3, "LI r1, 4000\nSETR r0, r1\nLI r3, 7\nST r3, 100(r0)\nLD r2, 100(r0)", M=1)
    res = O.equivalence(PG3, c)
    assert res.failure is None and res.out_of_domain
    # and the loads and stores the monitor emulated out there are not inefficiency
    assert check(O.EFFICIENCY, PG3, c, Settings(innocuous=frozenset({"LI", "LD", "ST"}))) is None


# --- efficiency ---------------------------------------------------------------------------
def test_efficiency_flags_an_emulated_innocuous_instruction():
    isa = tight()
    c = case(isa, "LI r1, 9\nST r1, 15(r0)\nLD r2, 15(r0)", M=0)
    innocuous = frozenset({"LI", "LD", "ST"})
    assert O.equivalence(isa, c).failure is None  # correct, only slow
    f = check(O.EFFICIENCY, isa, c, Settings(innocuous=innocuous))
    assert f is not None and f.property == O.EFFICIENCY and f.instruction == "ST"


def test_efficiency_passes_the_real_monitor():
    c = case(PG3, "LI r1, 9\nST r1, 15(r0)\nLD r2, 15(r0)\nSETR r0, r1", M=1)
    assert check(O.EFFICIENCY, PG3, c, Settings(innocuous=frozenset({"LI", "LD", "ST"}))) is None


# --- isolation ----------------------------------------------------------------------------
def _iso(isa, observer, neighbour, variant, **kw):
    head = case(isa, observer, **kw)
    head.others = [case(isa, neighbour, **kw), case(isa, variant, **kw)]
    head.budget = max(head.budget, 4)
    for o in head.others:
        o.budget = head.budget
    return head


def test_isolated_guests_do_not_see_each_other():
    c = _iso(PG3, "LD r1, 5(r0)\nLD r2, 6(r0)", "LI r1, 7\nST r1, 5(r0)", "LI r1, 9\nST r1, 6(r0)", M=0)
    assert O.isolation(PG3, c, slice_=1).failure is None


def test_a_guest_writing_past_its_partition_is_caught():
    isa = leaky()
    c = _iso(isa, "NOP", "LI r1, 7\nST r1, 100(r0)", "NOP", M=0, b=4095)
    f = O.isolation(isa, c, slice_=1).failure
    assert f is not None and f.instruction == "ST" and "outside_partitions" in f.difference


def test_noninterference_catches_a_write_into_a_neighbour():
    isa = leaky()
    # guest 1 (base 69) wraps around to guest 0's cell 3 (physical 8): 69 + a = 4096 + 8
    observer = "NOP\nNOP\nLD r1, 3(r0)\nNOP"
    c = _iso(isa, observer, "NOP", "LI r1, 4035\nLI r2, 77\nST r2, 0(r1)\nNOP", M=0, b=4095)
    f = O.isolation(isa, c, slice_=1).failure
    assert f is not None and f.property == O.ISOLATION


# --- encapsulation ------------------------------------------------------------------------
def test_snapshot_restore_continues_identically():
    c = case(PG3, "LI r1, 5\nSETR r0, r1\nSVC 3\nADD r2, r1, r1\nLI r1, 1", M=1, budget=8, memory={2: 0x10000, 3: 0x10})
    for split in range(1, 8):
        c.split = split
        assert O.encapsulation(PG3, c).failure is None
        assert O.encapsulation(PG3, c, same_monitor=True).failure is None


def test_a_lossy_snapshot_is_caught():
    ie = PG3.field_names().index("IE")

    def lossy(vm):
        vm.S[ie] = 0
        return snap.snapshot(vm)

    c = case(PG3, "NOP\nNOP\nNOP", M=1, IE=1, budget=3)
    c.split = 1
    f = O.encapsulation(PG3, c, snapshotter=(lossy, snap.restore)).failure
    assert f is not None and "IE" in f.difference["fields"]
