"""Encapsulation: a VM's complete state as a documented, versioned JSON file.

Format ``virtcheck-vm-snapshot``, version 1 (``docs/hypervisor.md`` documents it)::

    {
      "format": "virtcheck-vm-snapshot", "version": 1,
      "isa": "pg3", "isa_fingerprint": "<sha256 of the ISA's state and instruction table>",
      "policy": "trap-emulate",
      "partition_size": 1022,
      "state": {"fields": {...}, "memories": {"E": {"default": 0, "cells": {"addr": value}}}},
      "clock": {"since": 12, "pending": false}, "halted": false,
      "accounting": {...}, "trap_log": {...},
      "checksum": "<sha256 of the canonical JSON of everything above>"
    }

The state is the *virtual* machine (every field, the partition's cells), so it restores
into any monitor of the same ISA with a free partition of the same size: the same
instance (checkpoint / restore) or another one (migration), whatever its policy: ``policy``
records the monitor policy the guest ran under (absent in files written before policies
existed: trap-and-emulate, then the only one), and a restored VM runs under its new
monitor's. Corrupt, truncated, edited or
mismatched files are refused with a `SnapshotError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Union

from virtcheck.isa import files
from virtcheck.isa.model import Isa
from virtcheck.isa.state import MachineState, state_problem
from virtcheck.hypervisor import policies
from virtcheck.hypervisor.accounting import Accounting
from virtcheck.hypervisor.driver import Clock, TrapLog
from virtcheck.hypervisor.monitor import Monitor, VirtualMachine

FORMAT = "virtcheck-vm-snapshot"
VERSION = 1


class SnapshotError(Exception):
    """A snapshot file that cannot be restored; the message says which and why."""


def isa_fingerprint(isa: Isa) -> str:
    """What must match for a snapshot to mean the same thing: fields, memories, causes,
    and the instruction table (opcode, mnemonic, syntax)."""
    desc = {
        "fields": [(n, f.width, f.role.value) for n, f in isa.fields.items()],
        "memories": [(n, m.addr_width, m.width) for n, m in isa.memories.items()],
        "causes": [(c.name, c.kind.value, c.code) for c in isa.causes.values()],
        "instructions": [(i.opcode, i.mnemonic, i.syntax) for i in isa.instructions],
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def snapshot(vm: VirtualMachine) -> dict[str, Any]:
    """The snapshot document of ``vm`` (as the monitor left it between two slices)."""
    body = {
        "format": FORMAT,
        "version": VERSION,
        "isa": vm.isa.name,
        "isa_fingerprint": isa_fingerprint(vm.isa),
        "policy": vm.policy.name,
        "partition_size": vm.partition.size,
        "state": vm.state().to_json(),
        "clock": vm.clock.to_json(),
        "halted": vm.halted,
        "accounting": vm.account.to_json(),
        "trap_log": vm.log.to_json(),
    }
    body["checksum"] = _checksum(body)
    return body


def save(vm: VirtualMachine, path: Union[str, Path]) -> None:
    """Write ``vm``'s snapshot atomically (a full disk leaves the old file, never half a new
    one; :class:`~virtcheck.isa.files.OutputError` says why)."""
    files.write_atomic(path, json.dumps(snapshot(vm), indent=1, sort_keys=True) + "\n")


def read(path: Union[str, Path], isa: Isa) -> dict[str, Any]:
    """Read and check a snapshot file for ``isa``; raise `SnapshotError` if it is unusable."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except OSError as exc:
        raise SnapshotError(f"{p}: cannot read snapshot: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{p}: not a snapshot (invalid JSON: {exc})") from None
    return check(doc, isa, str(p))


def check(doc: Any, isa: Isa, where: str = "<snapshot>") -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnapshotError(f"{where}: not a {FORMAT} file")
    if doc.get("version") != VERSION:
        raise SnapshotError(f"{where}: snapshot format version {doc.get('version')!r} is not supported "
                            f"(this virtcheck reads version {VERSION})")
    body = {k: v for k, v in doc.items() if k != "checksum"}
    if doc.get("checksum") != _checksum(body):
        raise SnapshotError(f"{where}: checksum mismatch: the snapshot is corrupt or was edited")
    if doc.get("isa") != isa.name or doc.get("isa_fingerprint") != isa_fingerprint(isa):
        raise SnapshotError(f"{where}: snapshot of ISA '{doc.get('isa')}' cannot restore into ISA '{isa.name}'"
                            + ("" if doc.get("isa") != isa.name else " (its definition changed)"))
    try:
        state = MachineState.from_json(doc["state"])
        Clock.from_json(doc["clock"]), Accounting.from_json(doc["accounting"])
        TrapLog.from_json(doc["trap_log"])
        if not isinstance(doc.get("policy", policies.DEFAULT), str):
            raise ValueError("policy is not a name")
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise SnapshotError(f"{where}: malformed snapshot ({type(exc).__name__}: {exc})") from None
    size = doc.get("partition_size")
    largest = max(m.size for m in isa.memories.values())
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= largest:
        raise SnapshotError(f"{where}: field 'partition_size': {size!r} is not in 1..{largest}")
    if not isinstance(doc.get("halted"), bool):
        raise SnapshotError(f"{where}: field 'halted': {doc.get('halted')!r} is not true or false")
    hit = state_problem(isa, state, size)
    if hit:
        raise SnapshotError(f"{where}: field '{hit[0]}': {hit[1]}")
    return doc


def restore(monitor: Monitor, doc: dict[str, Any], where: str = "<snapshot>") -> VirtualMachine:
    """A new VM of ``monitor`` holding the snapshot's guest, ready to continue."""
    check(doc, monitor.isa, where)
    size = int(doc["partition_size"])
    if monitor.free < size:
        raise SnapshotError(f"{where}: the guest needs a partition of {size} cells; the monitor has {monitor.free} free")
    vm = monitor.create_vm(size)
    state = MachineState.from_json(doc["state"])
    vm.S[:] = [state.fields[n] for n in vm.facts.layout.names]
    for name, view in zip(vm.facts.layout.memories, vm.mems):
        mem = state.memories[name]
        for a in range(view.size):
            view[a] = mem[a]
    vm.clock = Clock.from_json(doc["clock"])
    vm.halted = bool(doc["halted"])
    vm.account = Accounting.from_json(doc["accounting"])
    vm.log = TrapLog.from_json(doc["trap_log"])
    return vm


def recorded_policy(doc: dict[str, Any]) -> str:
    """The policy a snapshot's guest ran under (see the format)."""
    return str(doc.get("policy", policies.DEFAULT))


def load(monitor: Monitor, path: Union[str, Path]) -> VirtualMachine:
    """Restore the snapshot file ``path`` into ``monitor``."""
    return restore(monitor, read(path, monitor.isa), str(path))
