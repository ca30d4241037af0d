"""Accounting per VM and per instruction: direct, trapped, emulated, reflected."""

from __future__ import annotations

from collections import Counter

import pytest

from virtcheck.hypervisor import Machine, monitor_stack, monitor_tree, snapshot, top_monitors, workloads
from virtcheck.hypervisor.stack import levels


def _bare_by_instruction(pg3, workload, steps):
    m = Machine(pg3)
    m.load(workloads.load(pg3, workload))
    m.run(steps)
    return Counter(m.executed_by_instruction())


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_direct_per_instruction(pg3, depth):
    """Every instruction the bare machine completes, the guest completes directly or by
    emulation; every level under it counts the same instructions as direct."""
    top = monitor_stack(pg3, depth)
    vm = top.create_vm()
    vm.load(workloads.load(pg3, "kernel"))
    top.run(1_000_000)
    a = vm.account
    by = a.direct_by_instruction
    assert sum(by.values()) == a.direct
    assert by + a.emulated == _bare_by_instruction(pg3, "kernel", 1_000_000)
    for lower in levels(top)[:-1]:
        acct = lower.vms[0].account
        assert acct.direct_by_instruction == by and acct.direct == a.direct
    assert a.to_json()["direct_by_instruction"] == dict(sorted(by.items()))


def test_direct_per_instruction_per_vm_in_a_tree(pg3):
    root = monitor_tree(pg3, 2, 2, slice=400)
    guests = [vm for top in top_monitors(root) for vm in top.create_vms(2)]
    for vm in guests:
        vm.load(workloads.load(pg3, "compute"))
    root.run(3_000)
    for vm in guests:
        assert sum(vm.account.direct_by_instruction.values()) == vm.account.direct > 0
    for lower in root.vms:
        mine = [g for g in guests if g.monitor.host is lower]
        assert lower.account.direct_by_instruction == sum((g.account.direct_by_instruction for g in mine), Counter())


def test_emulated_is_not_direct(pg3):
    """What a monitor emulates (its guest in virtual supervisor mode) is counted as
    emulated, not direct, per instruction as in total."""
    top = monitor_stack(pg3, 2)
    lower = top.host
    lower.load(workloads.load(pg3, "kernel"))  # run the kernel on the lower VM as its own guest ...
    S = list(lower.S)
    stop = lower.execute(S, 10)  # ... supervisor mode: LPSW is emulated by the lower monitor
    assert stop.executed == 10 and lower.account.emulated["LPSW"] == 1
    assert "LPSW" not in lower.account.direct_by_instruction
    assert sum(lower.account.direct_by_instruction.values()) == lower.account.direct == 9


def test_per_instruction_counts_survive_a_snapshot(pg3, tmp_path):
    top = monitor_stack(pg3, 1, slice=300)
    vm = top.create_vm(1500)
    vm.load(workloads.load(pg3, "kernel"))
    top.run(1234)
    f = tmp_path / "vm.json"
    snapshot.save(vm, f)
    moved = snapshot.load(monitor_stack(pg3, 2), f)
    assert moved.account.direct_by_instruction == vm.account.direct_by_instruction
    moved.run(100_000)
    a = moved.account
    assert sum(a.direct_by_instruction.values()) == a.direct
    assert a.direct_by_instruction + a.emulated == _bare_by_instruction(pg3, "kernel", 1_000_000)
