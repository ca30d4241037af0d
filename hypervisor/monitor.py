"""The trap-and-emulate monitor (PG 1974 §5; design.md §5), generic over ISAs.

A `Monitor` runs on an executor (the real `Machine`, or a `VirtualMachine` of another
monitor: monitors stack, PG Theorem 2). Each of its `VirtualMachine`s owns a partition
of the executor's memory and a *virtual* state: all fields, of which the system ones
(mode, relocation, ...) exist only here. To run a guest the monitor writes the real state
that represents it (f: user fields copied, system fields = the ISA's partition
composition, in the guest configuration) and lets the executor run it directly. Only when
the executor stops does the monitor act: it runs the very instruction again, with the ISA's
own compiled semantics, on the virtual state and partition --

* it completes: the monitor has **emulated** it (a privileged instruction in virtual
  supervisor mode), and direct execution resumes;
* it traps: the real machine would have trapped for this guest too (virtual user mode,
  bounds, supervisor call), so the trap is **reflected** -- returned to whoever runs the
  guest, which enters the ISA's trap semantics on the virtual state (`driver.drive`), or,
  for a monitor stacked on this one, handles it itself;
* it halts: the virtual machine halts.

The monitor's own memory is the executor's low cells the ISA's trap semantics use
(`mapping.reserved_cells`); partitions start above it and never overlap.
"""

from __future__ import annotations

from typing import Any, Optional

from virtcheck.isa.asm import Program
from virtcheck.isa.concrete import compiled
from virtcheck.isa.errors import IsaError
from virtcheck.isa.state import MachineState, Memory
from virtcheck.hypervisor.accounting import FETCH, Accounting
from virtcheck.hypervisor.driver import Clock, Executor, RunResult, TrapLog, drive
from virtcheck.hypervisor.machine import is_halt
from virtcheck.hypervisor.mapping import Partition, PartitionMemory, facts
from virtcheck.hypervisor.stop import BUDGET, HALTED, TRAP, Stop

DEFAULT_SLICE = 10_000


class MonitorError(Exception):
    """A monitor configuration that cannot work (no room for a partition, ...)."""


class VirtualMachine:
    """One guest of a monitor: a partition, a virtual state, a clock, a trap log, counters.

    It is an executor itself (``execute``), so another monitor can run on it.
    """

    def __init__(self, monitor: "Monitor", partition: Partition, index: int):
        self.monitor = monitor
        self.isa = monitor.isa
        self.facts = monitor.facts
        self.index = index
        self.partition = partition
        host = monitor.host
        self.mems = [PartitionMemory(m, partition.base, partition.size) for m in host_memories(host)]
        self._code = self.facts.layout.memories.index(self.isa.code_memory)
        self._c = compiled(self.isa)
        self._R: list[int] = [0] * len(self.facts.layout.names)  #: the real state while it runs
        self.S: list[int] = self.facts.reset_state(0)  #: the virtual state, when this monitor drives it
        self.clock = Clock()
        self.log = TrapLog()
        self.account = Accounting()
        self.halted = False

    @property
    def memory_size(self) -> int:
        return self.partition.size

    # --- the executor face ------------------------------------------------------------
    def execute(self, S: list[int], budget: int) -> Stop:
        """Run virtual state ``S`` until it traps, halts or completes ``budget``
        instructions, as the real machine would: directly, emulating what traps only
        because the guest is deprivileged."""
        f = self.facts
        R = self._R
        host = self.monitor.host
        part = self.partition
        acct = self.account
        user = f.user_slots
        n = 0
        while True:
            f.represent(S, R, part)
            stop = host.execute(R, budget - n)
            for i in user:
                S[i] = R[i]
            n += stop.executed
            acct.direct += stop.executed
            if stop.reason == BUDGET:
                return Stop(BUDGET, n)
            result, name, on_fetch = self._virtual_step(S)
            acct.trapped[name] += 1
            if result is None:
                acct.emulated[name] += 1
                n += 1
                if n >= budget:
                    return Stop(BUDGET, n)
                continue
            if is_halt(result):
                acct.halted += 1
                return Stop(HALTED, n)
            acct.reflected[name] += 1
            cause, info = result
            return Stop(TRAP, n, cause, int(info), on_fetch)

    def _virtual_step(self, S: list[int]) -> tuple[Any, str, bool]:
        """The ISA's own fetch and step on the virtual state and partition."""
        c = self._c
        mems = self.mems
        a = c.fetch(S, *mems)
        if a.__class__ is tuple:
            return a, FETCH, True
        units = self.isa.units_per_word
        code = mems[self._code]
        cell = self.isa.memories[self.isa.code_memory].width
        w = 0
        for k in range(units):
            w = (w << cell) | code[a + k]
        ins, _ = c.decode(w)
        return c.step_for(w)(S, *mems), ins.mnemonic, False

    # --- the computer face ------------------------------------------------------------
    def load(self, program: Program, state: Optional[MachineState] = None) -> None:
        """Load ``program`` into the partition; start from the reset state at its entry
        (or from ``state``: its fields, and its memories' first ``size`` cells)."""
        f = self.facts
        if state is not None:
            self.S[:] = [state.fields[n] for n in f.layout.names]
            for name, view in zip(f.layout.memories, self.mems):
                mem = state.memories[name]
                for a in range(view.size):
                    view[a] = mem[a]
        else:
            self.S[:] = f.reset_state(program.entry)
        for a, v in program.cells.items():
            if a >= self.partition.size:
                raise MonitorError(f"program cell {a:#x} lies outside the guest's {self.partition.size} cells")
            self.mems[self._code][a] = v
        self.halted = False

    def run(self, steps: int) -> RunResult:
        """Run this guest alone for at most ``steps`` completed instructions."""
        if self.halted:
            return RunResult(HALTED, 0)
        res = drive(self, self.S, self.mems, self.clock, steps, self.log, self.account)
        self.halted = res.halted
        return res

    def state(self) -> MachineState:
        """The guest's virtual machine state: its fields and its partition."""
        f = self.facts
        return MachineState({n: self.S[i] for i, n in enumerate(f.layout.names)},
                            {n: Memory.from_list(m.to_list()) for n, m in zip(f.layout.memories, self.mems)})


def host_memories(host: Executor) -> list[Any]:
    """The physical memories of an executor, as its guests' partitions index them."""
    return list(host.mems)  # type: ignore[attr-defined]


class Monitor:
    """A trap-and-emulate monitor on ``host``, with a round-robin scheduler whose time
    slice is ``slice`` completed guest instructions."""

    def __init__(self, host: Executor, *, slice: int = DEFAULT_SLICE):
        self.host = host
        self.isa = host.isa
        self.facts = facts(host.isa)
        if not self.facts.can_partition:
            raise MonitorError(f"ISA '{self.isa.name}' declares no partition composition (Isa.partition): "
                               "a monitor cannot confine a guest")
        if slice < 1:
            raise MonitorError(f"time slice must be at least 1 instruction, not {slice}")
        self.slice = slice
        self.vms: list[VirtualMachine] = []
        self.world_switches = 0
        self._current: Optional[VirtualMachine] = None
        self._next_free = self.facts.reserved

    @property
    def free(self) -> int:
        return self.host.memory_size - self._next_free

    def create_vm(self, size: Optional[int] = None, *, base: Optional[int] = None) -> VirtualMachine:
        """A new VM with a partition of ``size`` cells (default: all that is free) above
        every other partition and the monitor's own cells."""
        reserved = self.facts.reserved
        if base is None:
            base = self._next_free
        if size is None:
            size = self.host.memory_size - base
        if size <= reserved:
            raise MonitorError(f"a partition needs more than the {reserved} cells the trap semantics use; "
                               f"{size} requested ({self.free} free of {self.host.memory_size})")
        part = Partition(base, size)
        if base < reserved or part.end > self.host.memory_size:
            raise MonitorError(f"partition [{base:#x}, {part.end:#x}) does not fit in "
                               f"[{reserved:#x}, {self.host.memory_size:#x})")
        for vm in self.vms:
            if base < vm.partition.end and vm.partition.base < part.end:
                raise MonitorError(f"partition [{base:#x}, {part.end:#x}) overlaps VM {vm.index}'s")
        self._next_free = max(self._next_free, part.end)
        vm = VirtualMachine(self, part, len(self.vms))
        self.vms.append(vm)
        return vm

    def create_vms(self, n: int) -> list[VirtualMachine]:
        """``n`` VMs splitting the free memory equally."""
        size = self.free // n
        return [self.create_vm(size) for _ in range(n)]

    def run(self, steps: int) -> dict[int, RunResult]:
        """Round robin: each VM runs a slice in turn until it has completed ``steps``
        instructions in this call or halted."""
        done = {vm.index: 0 for vm in self.vms}
        halted = {vm.index: vm.halted for vm in self.vms}
        while True:
            runnable = [vm for vm in self.vms if not halted[vm.index] and done[vm.index] < steps]
            if not runnable:
                break
            for vm in runnable:
                if self._current is not vm:
                    self.world_switches += 1
                    vm.account.world_switches += 1
                    self._current = vm
                res = vm.run(min(self.slice, steps - done[vm.index]))
                done[vm.index] += res.executed
                halted[vm.index] = res.halted
        return {i: RunResult(HALTED if halted[i] else BUDGET, done[i]) for i in done}

    def shares(self) -> dict[int, float]:
        """Fairness: each VM's share of the guest instructions executed so far."""
        total = sum(vm.account.executed for vm in self.vms)
        return {vm.index: (vm.account.executed / total if total else 0.0) for vm in self.vms}
