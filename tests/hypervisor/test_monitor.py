"""Trap-and-emulate: same final guest state as bare, for every depth, VM count and slice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from virtcheck.hypervisor import Machine, Monitor, MonitorError, monitor_stack, workloads
from virtcheck.hypervisor.stack import levels
from virtcheck.isa.asm import assemble

from hv_helpers import STEPS, bare_run, same_guest


@pytest.mark.parametrize("workload", ["kernel", "compute"])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("nvms", [1, 2, 4])
def test_monitor_matches_bare(pg3, workload, depth, nvms):
    steps = STEPS[workload]
    bare = bare_run("pg3", workload, steps)
    top = monitor_stack(pg3, depth, slice=1_000)
    vms = top.create_vms(nvms)
    prog = workloads.load(pg3, workload)
    for vm in vms:
        vm.load(prog)
    top.run(steps)
    for vm in vms:
        assert same_guest(vm.state(), bare, vm.partition.size) == []
    assert len(levels(top)) == depth


def test_accounting_kernel(pg3):
    top = monitor_stack(pg3, 1)
    vm = top.create_vm()
    vm.load(workloads.load(pg3, "kernel"))
    top.run(1_000_000)
    a = vm.account
    assert vm.halted and a.halted == 1
    assert set(a.emulated) == {"LPSW"} and a.trapped["HALT"] == 1
    assert a.reflected["SVC"] == 6 and a.reflected["GETR"] == 5 and a.reflected["LD"] == 5
    assert a.reflected["<timer>"] == vm.log.counts["timer"]
    assert a.executed == vm.log.executed
    assert sum(a.trapped.values()) == sum(a.emulated.values()) + sum(a.reflected.values()) - a.reflected["<timer>"] + 1
    assert a.direct_ratio > 0.99


def test_lower_monitors_only_reflect(pg3):
    top = monitor_stack(pg3, 3)
    vm = top.create_vm()
    vm.load(workloads.load(pg3, "kernel"))
    top.run(1_000_000)
    lower = [m.vms[0].account for m in levels(top)[:-1]]
    for acct in lower:
        assert not acct.emulated and acct.trapped == acct.reflected
    assert vm.account.emulated["LPSW"] == lower[0].reflected["LPSW"]


def test_round_robin_is_fair(pg3):
    top = monitor_stack(pg3, 1, slice=500)
    vms = top.create_vms(3)
    for vm in vms:
        vm.load(workloads.load(pg3, "compute"))
    top.run(9_000)
    assert all(abs(s - 1 / 3) < 1e-9 for s in top.shares().values())
    assert top.world_switches == 3 * 18


def test_partitions_are_disjoint_and_above_the_monitor(pg3):
    top = Monitor(Machine(pg3))
    a, b = top.create_vm(100), top.create_vm(100)
    assert a.partition.base >= top.facts.reserved and a.partition.end <= b.partition.base
    with pytest.raises(MonitorError, match="overlaps"):
        top.create_vm(50, base=a.partition.base + 10)
    with pytest.raises(MonitorError, match="does not fit"):
        top.create_vm(50, base=0)


def test_guest_cannot_touch_monitor_or_neighbour(pg3):
    """A guest kernel writing every cell of its (virtual) memory, and past it, changes only
    its own partition."""
    src = """
    .org 0
        .word 0
        .word 0
        .word 0x10040
        .word 0x00000fff
        .word 0
    .org 8
    start:  LI r1, 0x10
            LI r2, 0xfff
            LI r3, 0x5a5a
    loop:   ST r3, 0(r1)
            ADDI r1, r1, 1
            BNE r1, r2, loop
            HALT
    .org 0x40
            HALT
    """
    prog = assemble(pg3, src)
    machine = Machine(pg3)
    top = Monitor(machine)
    vm, other = top.create_vm(300), top.create_vm(300)
    vm.load(prog)
    other.load(prog)
    before = list(machine.mems[0])
    vm.run(100_000)
    after = machine.mems[0]
    changed = [a for a in range(len(after)) if after[a] != before[a]]
    assert changed and all(vm.partition.base <= a < vm.partition.end for a in changed)
    # the stores past the partition trap on the real machine (cut bound); the monitor runs
    # them on the virtual machine, whose memory ends with its partition
    assert vm.halted and vm.account.emulated["ST"] == 0xFFF - 300


@settings(max_examples=8, deadline=None)
@given(slice_=st.integers(1, 3000), depth=st.integers(1, 3), stops=st.lists(st.integers(1, 5000), max_size=3))
def test_any_slicing_gives_the_bare_result(pg3, slice_, depth, stops):
    """Law: however the scheduler slices a guest's run, and wherever a run is interrupted,
    the final guest state is the bare machine's."""
    bare = bare_run("pg3", "kernel", STEPS["kernel"])
    top = monitor_stack(pg3, depth, slice=slice_)
    vm = top.create_vm(1500)
    vm.load(workloads.load(pg3, "kernel"))
    for n in stops:
        top.run(n)
    top.run(STEPS["kernel"])
    assert same_guest(vm.state(), bare, vm.partition.size) == []
