"""Replaying a monitor-equivalence witness: the same program and virtual state run on the
bare machine and under the concrete monitor of the proof's policy, one instruction each."""

from __future__ import annotations

from typing import Any

from virtcheck.hypervisor.machine import Machine
from virtcheck.hypervisor.monitor import Monitor
from virtcheck.hypervisor.policies import DEFAULT
from virtcheck.isa.asm import Program
from virtcheck.isa.model import Isa
from virtcheck.isa.state import MachineState, Memory


def replay(isa: Isa, w: Any, word: int, policy: Any = DEFAULT) -> None:
    """Run ``w``'s program from ``w.state`` bare and under a monitor of ``policy`` (partition
    ``w.partition``) for one completed instruction; fill ``w.bare``, ``w.monitored``,
    ``w.differs`` and ``w.replayed`` (True when the runs differ, as the proof says)."""
    base, size = w.partition
    state = w.state.copy()
    pc = state.fields[isa.pc_name]
    units = isa.units_per_word
    cell = isa.memories[isa.code_memory].width
    # the word at the pc through the guest's translation is already in the witness
    # memory (the query constrains it); keep the program for display only
    prog = Program()
    bare = Machine(isa)
    full = MachineState(dict(state.fields), {n: Memory(0, {a: m[a] for a in range(size) if m[a]})
                                              for n, m in state.memories.items()})
    bare.load(prog, full)
    bare.run(1)
    top = Monitor(Machine(isa), policy=policy)
    vm = top.create_vm(size, base=base)
    vm.load(prog, state)
    vm.run(1)
    after_bare = bare.state()
    after_vm = vm.state()
    differs = [n for n in isa.fields if after_bare.fields[n] != after_vm.fields[n]]
    for n in isa.memories:
        cells = [a for a in range(size) if after_bare.memories[n][a] != after_vm.memories[n][a]]
        differs += [f"{n}[{a:#x}]" for a in cells[:4]]
    w.bare = MachineState(after_bare.fields, {n: Memory.from_list([m[a] for a in range(size)])
                                              for n, m in after_bare.memories.items()})
    w.monitored = after_vm
    w.differs = differs
    w.replayed = bool(differs)
    del pc, units, cell, word
