"""Encapsulation: checkpoint / restore and migration continue exactly; bad files are refused."""

from __future__ import annotations

import json

import pytest

from virtcheck.hypervisor import monitor_stack, snapshot, workloads

from hv_helpers import STEPS, bare_run, same_guest


def _started(isa, workload, depth=1, size=1500, steps=1234):
    top = monitor_stack(isa, depth, slice=300)
    vm = top.create_vm(size)
    vm.load(workloads.load(isa, workload))
    top.run(steps)
    return top, vm


@pytest.mark.parametrize("workload", ["kernel", "compute"])
def test_checkpoint_restore_continue(pg3, workload, tmp_path):
    top, vm = _started(pg3, workload)
    f = tmp_path / "vm.json"
    snapshot.save(vm, f)
    top.run(777)  # the original runs on, then is rolled back
    top2 = monitor_stack(pg3, 1)
    restored = snapshot.load(top2, f)
    restored.run(STEPS[workload] - 1234)
    assert same_guest(restored.state(), bare_run("pg3", workload, STEPS[workload]), 1500) == []


@pytest.mark.parametrize("depth_from,depth_to", [(1, 3), (3, 1), (2, 2)])
def test_migration_between_monitors(pg3, depth_from, depth_to, tmp_path):
    top, vm = _started(pg3, "kernel", depth_from)
    f = tmp_path / "vm.json"
    snapshot.save(vm, f)
    dest = monitor_stack(pg3, depth_to)
    dest.create_vm(1000).load(workloads.load(pg3, "kernel"))  # the destination already runs a guest
    moved = snapshot.load(dest, f)
    assert moved.partition.base != vm.partition.base or depth_from != depth_to
    dest.run(STEPS["kernel"])
    assert same_guest(moved.state(), bare_run("pg3", "kernel", STEPS["kernel"]), 1500) == []
    assert moved.account.executed == moved.log.executed


def test_snapshot_is_versioned_json(pg3, tmp_path):
    _, vm = _started(pg3, "kernel")
    f = tmp_path / "vm.json"
    snapshot.save(vm, f)
    doc = json.loads(f.read_text())
    assert doc["format"] == "virtcheck-vm-snapshot" and doc["version"] == 1 and doc["isa"] == "pg3"


def _corrupt(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("damage,message", [
    (lambda p: p.write_text("{not json"), "invalid JSON"),
    (lambda p: p.write_text(p.read_text()[:100]), "invalid JSON"),
    (lambda p: _corrupt(p, lambda d: d["state"]["fields"].__setitem__("r1", 99)), "checksum mismatch"),
    (lambda p: _corrupt(p, lambda d: d.__setitem__("version", 2)), "format version 2 is not supported"),
    (lambda p: _corrupt(p, lambda d: d.__setitem__("format", "x")), "not a virtcheck-vm-snapshot file"),
])
def test_bad_snapshots_are_refused(pg3, tmp_path, damage, message):
    _, vm = _started(pg3, "kernel")
    f = tmp_path / "vm.json"
    snapshot.save(vm, f)
    damage(f)
    with pytest.raises(snapshot.SnapshotError, match=message) as exc:
        snapshot.load(monitor_stack(pg3, 1), f)
    assert str(f) in str(exc.value)


def test_snapshot_of_another_isa_is_refused(machines, tmp_path):
    _, vm = _started(machines["pg3"], "kernel")
    f = tmp_path / "vm.json"
    snapshot.save(vm, f)
    with pytest.raises(snapshot.SnapshotError, match="snapshot of ISA 'pg3' cannot restore into ISA 'pg3-jrst'"):
        snapshot.load(monitor_stack(machines["pg3-jrst"], 1), f)
