"""Several VMs at every level of a stack: each guest ends as it would bare."""

from __future__ import annotations

import pytest

from virtcheck.hypervisor import Machine, Monitor, MonitorError, monitor_tree, top_monitors, workloads
from virtcheck.hypervisor.stack import levels

from hv_helpers import STEPS, bare_run, same_guest


def _guests(pg3, root, per_top, workload):
    prog = workloads.load(pg3, workload)
    guests = [vm for top in top_monitors(root) for vm in top.create_vms(per_top)]
    for vm in guests:
        vm.load(prog)
    return guests


@pytest.mark.parametrize("depth,fanout", [(2, 2), (3, (2, 1)), (3, (1, 2))])
def test_tree_of_monitors_runs_every_guest_as_bare(pg3, depth, fanout):
    root = monitor_tree(pg3, depth, fanout, slice=700)
    guests = _guests(pg3, root, 2, "kernel")
    results = root.run(1_000_000)
    assert all(r.halted for r in results.values()) and all(vm.halted for vm in guests)
    bare = bare_run("pg3", "kernel", STEPS["kernel"])
    for vm in guests:
        assert same_guest(vm.state(), bare, vm.partition.size) == []
        assert len(levels(vm.monitor)) == depth
    assert len(guests) == 2 * (fanout if isinstance(fanout, int) else fanout[0] * fanout[1])


def test_tree_slices_a_long_computation_exactly(pg3):
    """Lower monitors preempt the monitors above them mid-slice; every guest still ends
    exactly where a bare run of as many instructions ends."""
    root = monitor_tree(pg3, 2, 2, slice=333)
    guests = _guests(pg3, root, 2, "compute")
    for _ in range(4):
        root.run(1_500)
    for vm in guests:
        assert vm.log.executed > 0
        assert same_guest(vm.state(), bare_run("pg3", "compute", vm.log.executed), vm.partition.size) == []
    assert root.world_switches > 2 and all(top.world_switches > 2 for top in top_monitors(root))


def test_run_for_resumes_the_round(pg3):
    top = Monitor(Machine(pg3), slice=100)
    a, b = top.create_vms(2)
    for vm in (a, b):
        vm.load(workloads.load(pg3, "compute"))
    top.run_for(150)
    assert (a.log.executed, b.log.executed) == (100, 50)
    top.run_for(150)
    assert (a.log.executed, b.log.executed) == (200, 100)


def test_a_vm_runs_one_monitor(pg3):
    vm = Monitor(Machine(pg3)).create_vm()
    Monitor(vm)
    with pytest.raises(MonitorError, match="already runs a monitor"):
        Monitor(vm)


def test_tree_arguments_are_checked(pg3):
    with pytest.raises(ValueError, match="fanout"):
        monitor_tree(pg3, 3, (2,))
    with pytest.raises(ValueError, match="depth"):
        monitor_tree(pg3, 0)
