"""Monitor policies: one registry; trap-and-emulate, hybrid and emulate run every pg3
workload bare-identically, alone, several at once, stacked on each other, in trees and
across snapshots; the accounting says what each policy did."""

from __future__ import annotations

import json

import pytest

from virtcheck.hypervisor import Machine, Monitor, MonitorError, monitor_stack, monitor_tree, policies, snapshot, top_monitors
from virtcheck.hypervisor import workloads
from virtcheck.hypervisor.policies import Capability, Policy, PolicyError

from hv_helpers import STEPS, bare_run, same_guest

POLICIES = ["trap-emulate", "hybrid", "emulate"]


def test_the_registry_names_every_policy_once():
    assert policies.names() == POLICIES
    assert [policies.get(n).name for n in POLICIES] == POLICIES
    with pytest.raises(PolicyError) as exc:
        policies.get("paravirt")
    assert str(exc.value) == "unknown monitor policy 'paravirt' (known: trap-emulate, hybrid, emulate)"
    with pytest.raises(PolicyError) as exc:
        policies.register(policies.get("hybrid"))
    assert str(exc.value) == "monitor policy 'hybrid' is already registered"


def test_a_policy_must_answer_both_questions():
    class Half(Policy):
        name, title, summary, technique, efficiency_scope = "half", "half", "", "", ""
        needs = frozenset({Capability.DIRECT})

        def runs_directly(self, isa):
            return True

    with pytest.raises(TypeError):
        Half()  # efficient_on is abstract: a policy that forgets it cannot be built


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("workload", ["kernel", "compute"])
def test_every_policy_runs_the_workloads_as_bare(pg3, policy, workload):
    top = monitor_stack(pg3, 1, slice=997, policy=policy)
    vms = top.create_vms(2)
    for vm in vms:
        vm.load(workloads.load(pg3, workload))
    top.run(STEPS[workload])
    bare = bare_run("pg3", workload, STEPS[workload])
    for vm in vms:
        assert same_guest(vm.state(), bare, vm.partition.size) == []
        a = vm.account
        assert a.executed == a.direct + sum(a.emulated.values()) + sum(a.interpreted.values()) == vm.log.executed


def test_accounting_tells_the_policies_apart(pg3):
    acct = {}
    for policy in POLICIES:
        top = monitor_stack(pg3, 1, policy=policy)
        vm = top.create_vm()
        vm.load(workloads.load(pg3, "kernel"))
        top.run(STEPS["kernel"])
        acct[policy] = vm.account
    te, hy, em = acct["trap-emulate"], acct["hybrid"], acct["emulate"]
    assert not te.interpreted and te.emulated and te.monitor_entries == sum(te.trapped.values()) + te.reflected["<timer>"]
    assert hy.interpreted and hy.direct and not hy.emulated  # the kernel's privileged code is interpreted, not trapped
    assert em.direct == 0 and em.direct_ratio == 0.0 and em.monitor_entries == em.reflected["<timer>"]
    assert sum(em.interpreted.values()) == em.executed
    assert te.direct_ratio > hy.direct_ratio > em.direct_ratio
    assert {"interpreted", "monitor_entries", "world_switches"} <= set(em.to_json())


@pytest.mark.parametrize("stack", [["trap-emulate", "hybrid"], ["hybrid", "trap-emulate"], ["emulate", "hybrid"],
                                   ["hybrid", "emulate", "trap-emulate"]])
def test_policies_stack(pg3, stack):
    """A hybrid monitor on a trap-and-emulate one (and the other orders): PG Theorem 2 with mixed policies."""
    top = monitor_stack(pg3, len(stack), slice=500, policy=stack)
    assert [m.policy.name for m in _levels(top)] == stack
    vms = top.create_vms(2)
    for vm in vms:
        vm.load(workloads.load(pg3, "kernel"))
    top.run(STEPS["kernel"])
    bare = bare_run("pg3", "kernel", STEPS["kernel"])
    assert all(same_guest(vm.state(), bare, vm.partition.size) == [] for vm in vms)


def _levels(top):
    from virtcheck.hypervisor.stack import levels

    return levels(top)


def test_a_tree_of_mixed_policies(pg3):
    root = monitor_tree(pg3, 2, 2, slice=300, policy=["hybrid", "emulate"])
    guests = [vm for mon in top_monitors(root) for vm in mon.create_vms(1)]
    assert {m.policy.name for m in top_monitors(root)} == {"emulate"}
    for vm in guests:
        vm.load(workloads.load(pg3, "kernel"))
    root.run(STEPS["kernel"] * 2)
    bare = bare_run("pg3", "kernel", STEPS["kernel"])
    assert all(same_guest(vm.state(), bare, vm.partition.size) == [] for vm in guests)


@pytest.mark.parametrize("source,dest", [("hybrid", "trap-emulate"), ("emulate", "hybrid"), ("trap-emulate", "emulate")])
def test_snapshots_record_the_policy_and_migrate_across_policies(pg3, source, dest, tmp_path):
    top = monitor_stack(pg3, 1, slice=300, policy=source)
    vm = top.create_vm(1500)
    vm.load(workloads.load(pg3, "compute"))
    top.run(1234)
    f = tmp_path / "vm.json"
    snapshot.save(vm, f)
    doc = json.loads(f.read_text())
    assert doc["policy"] == source and snapshot.recorded_policy(doc) == source
    restored = snapshot.load(monitor_stack(pg3, 1, policy=dest), f)
    assert restored.policy.name == dest
    restored.run(STEPS["compute"] - 1234)
    assert same_guest(restored.state(), bare_run("pg3", "compute", STEPS["compute"]), 1500) == []


def test_a_snapshot_without_a_policy_was_taken_under_trap_and_emulate(pg3):
    top = monitor_stack(pg3, 1)
    vm = top.create_vm(1500)
    vm.load(workloads.load(pg3, "kernel"))
    doc = snapshot.snapshot(vm)
    del doc["policy"]
    doc["checksum"] = snapshot._checksum({k: v for k, v in doc.items() if k != "checksum"})
    assert snapshot.recorded_policy(snapshot.check(doc, pg3)) == "trap-emulate"


def test_a_monitor_checks_its_host_contract(pg3):
    class Bare:
        isa = pg3
        facts = None

    with pytest.raises(MonitorError) as exc:
        Monitor(Bare())  # type: ignore[arg-type]
    assert str(exc.value) == ("a monitor cannot run on Bare: it lacks level, mems, memory_size, direct, direct_for "
                              "(the Host contract, virtcheck.hypervisor.driver.Host)")
    with pytest.raises(MonitorError) as exc:
        Monitor(Machine(pg3), policy="nosuch")
    assert str(exc.value) == "unknown monitor policy 'nosuch' (known: trap-emulate, hybrid, emulate)"
