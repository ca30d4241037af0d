"""Helpers shared by the hypervisor tests (a uniquely named module, importable from them)."""

from __future__ import annotations

import functools

from virtcheck.hypervisor import Machine, workloads
from virtcheck.isa.machines import bundled
from virtcheck.isa.state import MachineState

#: step budgets that keep the fast suite fast (kernel halts well before its budget)
STEPS = {"kernel": 100_000, "compute": 20_000}


@functools.lru_cache(maxsize=None)
def bare_run(isa_name: str, workload: str, steps: int) -> MachineState:
    isa = bundled()[isa_name]
    m = Machine(isa)
    m.load(workloads.load(isa, workload))
    m.run(steps)
    return m.state()


def same_guest(vm_state: MachineState, bare: MachineState, size: int) -> list[str]:
    """What differs between a VM's final state and the bare run's (fields, memory below
    ``size``; the bare run must not have touched memory at or above ``size``)."""
    out = [n for n in bare.fields if vm_state.fields[n] != bare.fields[n]]
    for name, mem in bare.memories.items():
        out += [f"{name}[{a:#x}]" for a in range(size) if vm_state.memories[name][a] != mem[a]]
        out += [f"{name}[{a:#x}] (beyond the partition)" for a in mem.cells if a >= size and mem[a] != 0]
    return out
