"""Monitors over any executor (PG 1974; design.md §5), generic over ISAs and policies.

A `Monitor` runs on a `Host` (the real `Machine`, or a `VirtualMachine` of another
monitor: monitors stack, PG Theorem 2). Each of its `VirtualMachine`s owns a partition
of the host's memory and a *virtual* state: all fields, of which the system ones (mode,
relocation, ...) exist only here. What the monitor does with a guest is its **policy**
(`virtcheck.hypervisor.policies`): before the guest runs, the policy says whether the
virtual state runs *directly* or the monitor *interprets* its next instruction; at a stop,
it gives the step the monitor takes on the virtual state.

To run a guest directly the monitor writes the real state that represents it (f: user
fields copied, system fields = the ISA's partition composition, in the guest
configuration) and lets the host run it. When the host stops, or when the policy has the
monitor interpret, the monitor runs the very instruction with the ISA's own compiled
semantics on the virtual state and partition --

* it completes: the monitor has **emulated** it (after a direct stop: a privileged
  instruction in virtual supervisor mode) or **interpreted** it, and the policy is asked
  again;
* it traps: the real machine would have trapped for this guest too (virtual user mode,
  bounds, supervisor call), so the trap is **reflected** -- returned to whoever runs the
  guest, which enters the ISA's trap semantics on the virtual state (`driver.drive`), or,
  for a monitor stacked on this one, handles it itself;
* it halts: the virtual machine halts.

The monitor's own memory is the host's low cells the ISA's trap semantics use at
constant addresses (`mapping.reserved_cells`); partitions start above it and never
overlap. Trap semantics that address memory through the state (IA-32's IDT) are reflected
over the guest's partition views. Memories the ISA declares private to a VM (IA-32's I/O
ports) are a copy per VM instead of a partition. When the ISA names the hardware its
partitioned guests run with (`Isa.partition`'s ``hardware``), direct execution and the
monitor's own steps use its semantics.

A monitor may run on a VM of another monitor (`VirtualMachine.hosted`); then running
that VM means running the monitor on it for the VM's time slice (`Monitor.run_for`), so
every level of a stack can schedule several VMs. Direct execution is the machine's run
loop whatever the depth: each level adds work per *stop* (trap, halt, budget), none per
directly executed instruction.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from virtcheck.isa.asm import Program
from virtcheck.isa.concrete import compiled
from virtcheck.isa.errors import IsaError
from virtcheck.isa.state import MachineState, Memory
from virtcheck.hypervisor.accounting import FETCH, Accounting
from virtcheck.hypervisor.driver import Clock, Host, RunResult, TrapLog, drive, host_missing
from virtcheck.hypervisor.mapping import Partition, PartitionMemory, facts
from virtcheck.hypervisor.tally import Tally, add_emulated
from virtcheck.hypervisor.fetch import UNDEFINED_RESULT, variable_fetch
from virtcheck.hypervisor import policies
from virtcheck.hypervisor.policies import Policy, StatePredicate, constant
from virtcheck.hypervisor.stop import BUDGET, HALTED, TRAP, UNDEFINED, RawStop, Stop

DEFAULT_SLICE = 10_000


class MonitorError(Exception):
    """A monitor configuration that cannot work (an ISA a monitor cannot partition, no
    room for a partition, ...). The message is one line."""


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
        self.policy: Policy = monitor.policy
        self.level: int = host.level + 1  #: monitors under this VM's guest
        private = set(self.isa.partition_private)
        sizes = self.facts.layout.mem_size
        self.mems = [PartitionMemory([0] * sizes[k], 0, sizes[k]) if name in private
                     else PartitionMemory(m, partition.base, partition.size)
                     for k, (name, m) in enumerate(zip(self.facts.layout.memories, host.mems))]
        self._code = self.facts.layout.memories.index(self.isa.code_memory)
        #: the hardware this VM presents (`IsaFacts.hardware`): its own steps, and direct runs below
        self.hardware = self.facts.hardware
        self._c = compiled(self.hardware)
        self._decode = _decode_table(self._c)
        self._fetch = self._c.fetch
        self._code_mem = self.mems[self._code]
        self._units = self.isa.units_per_word
        self._vfetch = variable_fetch(self._c) if self.isa.variable else None
        self._pc = self.facts.layout.index[self.isa.pc_name]
        self.S: list[int] = self.facts.reset_state(0)  #: the virtual state, when this monitor drives it
        self.clock = Clock()
        self.log = TrapLog()
        self._tally: Tally = {}  #: what runs directly for this VM's own guest
        self.account = Accounting()
        self.halted = False
        self.hosted: Optional["Monitor"] = None  #: the monitor running on this VM, if any
        self._host_direct = hardware_direct(host, self.hardware)
        #: the policy, asked before the guest runs (None: always directly) and at a stop
        self._gate = monitor._gate
        self._stop_step = self.policy.stop_step(self)
        #: the map f into this partition, in place (`IsaFacts.entering`)
        self._map = self.facts.entering(partition)
        r = self.facts.reserved
        #: None when the trap semantics address memory through the state (`_enter`)
        self._low = None if self.facts.trap_reads_state else [(m.physical, m.offset, m.offset + r) for m in self.mems]

    @property
    def account(self) -> Accounting:
        return self._account

    @account.setter
    def account(self, acct: Accounting) -> None:
        """A new or restored accounting counts at this VM's level."""
        acct.level = self.level
        self._account = acct

    @property
    def memory_size(self) -> int:
        return self.partition.size

    # --- the executor face ------------------------------------------------------------
    def execute(self, S: list[int], budget: int, tally: Optional[Tally] = None) -> Stop:
        """Run virtual state ``S`` until it traps, halts or completes ``budget``
        instructions, as the real machine would: directly, emulating what traps only
        because the guest is deprivileged. ``tally`` is the running guest's block tally
        (`tally`; default: this VM's own): it goes down to the machine, so the levels
        between share one count."""
        return Stop(*self.direct(S, budget, tally))

    def direct(self, S: list[int], budget: int, tally: Optional[Tally] = None) -> RawStop:
        """`execute` as a `RawStop` (what a monitor above calls per trap).

        Before every run the policy's gate says whether ``S`` runs directly on the host or
        the monitor executes its next instruction itself; at every stop the policy's step
        runs on ``S`` and its outcome is read the same way for every policy (completed:
        emulated or interpreted; trapped: reflected; else halted)."""
        T = self._tally if tally is None else tally
        acct = self._account
        if id(T) not in acct._tallies:
            acct.watch(T)
        run = self._host_direct
        enter, leave = self._map
        step = self._stop_step
        gate = self._gate
        n = 0
        while True:
            if gate is None or gate(S):
                saved = enter(S)  # S is now f(S): the real state that runs the guest
                try:
                    reason, k, cause, info, on_fetch = run(S, budget - n, T)
                finally:
                    leave(S, saved)  # the virtual system state again; the run's user fields kept
                n += k
                acct.direct += k
                if reason == BUDGET:
                    return (BUDGET, n, None, 0, False)
                acct.monitor_entries += 1
                result, name, on_fetch = step(S)
                if result is UNDEFINED_RESULT:
                    return (UNDEFINED, n, None, S[self._pc], False)
                acct.trapped[name] += 1
                completed = acct.emulated
            else:
                if n >= budget:
                    return (BUDGET, n, None, 0, False)
                result, name, on_fetch = step(S)
                if result is UNDEFINED_RESULT:
                    return (UNDEFINED, n, None, S[self._pc], False)
                completed = acct.interpreted
            if result is None:
                completed[name] += 1
                add_emulated(T, self.level, name)  # direct for the executors above this one
                n += 1
                if n >= budget:
                    return (BUDGET, n, None, 0, False)
                continue
            if result.__class__ is tuple:
                acct.reflected[name] += 1
                return (TRAP, n, result[0], int(result[1]), on_fetch)
            acct.halted += 1  # any other result is a halt (see machine.is_halt)
            return (HALTED, n, None, 0, False)

    def direct_for(self, hardware: Any) -> Any:
        """`direct`, for a monitor on this VM: the VM already presents its ISA's partition
        hardware (`IsaFacts.hardware`)."""
        if hardware is not self.hardware:
            raise MonitorError(f"VM {self.index} presents '{self.hardware.name}', not '{hardware.name}'")
        return self.direct

    def _enter(self, cause: str, S: list[int], info: int) -> None:
        """The ISA's trap semantics on the virtual state. When they touch only the
        partition's first `reserved` cells (constant addresses, `mapping.reserved_cells`),
        they run on a plain copy of those, written back after; when they address memory
        through the state (IA-32: the gate at IDTR.base + 8 * vector, in the guest's own
        IDT) they run over the partition views, which keep every access inside."""
        spans = self._low
        if spans is None:
            self._c.trap_entry[cause](S, *self.mems, info)
            return
        if len(spans) == 1:
            phys, lo, hi = spans[0]
            cells = phys[lo:hi]
            self._c.trap_entry[cause](S, cells, info)
            phys[lo:hi] = cells
            return
        low = [phys[lo:hi] for phys, lo, hi in spans]
        self._c.trap_entry[cause](S, *low, info)
        for (phys, lo, hi), cells in zip(spans, low):
            phys[lo:hi] = cells

    def virtual_step(self, S: list[int]) -> tuple[Any, str, bool]:
        """The ISA's own fetch and step on the virtual state and partition:
        ``(result, mnemonic, on_fetch)``."""
        mems = self.mems
        if self._vfetch is not None:
            return self._vfetch.step_once(S, mems)
        a = self._fetch(S, *mems)
        if a.__class__ is tuple:
            return a, FETCH, True
        w = self._code_mem[a] if self._units == 1 else _word(self.isa, self._code_mem, a)
        hit = self._decode.get(w)
        if hit is None:
            hit = _decoded(self._c, w)
        return hit[0](S, *mems), hit[1], False

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
        """Run this guest alone for at most ``steps`` completed instructions; when a
        monitor runs on this VM, run that monitor's guests for ``steps`` instructions in
        all (this VM's time slice, `Monitor.run_for`)."""
        if self.hosted is not None:
            res = self.hosted.run_for(steps)
        elif self.halted:
            return RunResult(HALTED, 0)
        else:
            res = drive(self, self.S, self.mems, self.clock, steps, self.log, self._account, self._enter)
        self.halted = res.stopped  # an undefined instruction stops the VM for good too
        return res

    def state(self) -> MachineState:
        """The guest's virtual machine state: its fields and its partition."""
        f = self.facts
        return MachineState({n: self.S[i] for i, n in enumerate(f.layout.names)},
                            {n: Memory.from_list(m.to_list()) for n, m in zip(f.layout.memories, self.mems)})


def hardware_direct(host: Host, hardware: Any) -> Any:
    """``direct`` of ``host`` running ``hardware``'s semantics: the host's own when it runs
    that ISA, else its ``direct_for`` (a `Machine` of the flat model gives a run loop of
    the segmented one on the same memory)."""
    if host.isa is hardware:
        return host.direct
    try:
        return host.direct_for(hardware)
    except (ValueError, MonitorError):
        raise MonitorError(f"the executor under the monitor runs '{host.isa.name}' and cannot run "
                           f"'{hardware.name}', the hardware its partitioned guests need") from None


def gate_of(facts: Any, pred: StatePredicate) -> Optional[Any]:
    """A policy's `Policy.runs_directly` compiled over the flat virtual state: None when it
    is the constant True (the direct loop then asks nothing), else ``gate(S) -> bool``."""
    value = constant(pred)
    if value is True:
        return None
    if value is False:
        return _never
    from virtcheck.isa.semantics import Builder

    return facts.predicate(pred(Builder(facts.isa)))  # type: ignore[operator]


def _never(S: list[int]) -> bool:
    return False


def _word(isa: Any, code: Any, a: int) -> int:
    units = isa.units_per_word
    if units == 1:
        return code[a]
    cell = isa.memories[isa.code_memory].width
    w = 0
    for k in range(units):
        w = (w << cell) | code[a + k]
    return w


def _decode_table(c: Any) -> dict[int, tuple[Any, str]]:
    """Word -> (compiled step, mnemonic) of one compiled ISA, shared by every VM: a trap at
    the top of a stack is decoded again at every level under it."""
    return c.isa.derived.fact("monitor.decode_table", dict)


def _decoded(c: Any, w: int) -> tuple[Any, str]:
    table = _decode_table(c)
    out = table.get(w)
    if out is None:
        ins, _ = c.decode(w)
        out = table[w] = (c.step_for(w), ins.mnemonic)
    return out


class Monitor:
    """A monitor with ``policy`` (a registered name or a `Policy`; default trap-and-emulate)
    on ``host``, with a round-robin scheduler whose time slice is ``slice`` completed
    guest instructions."""

    def __init__(self, host: Host, *, slice: int = DEFAULT_SLICE, policy: Union[str, Policy] = policies.DEFAULT):
        missing = host_missing(host)
        if missing:
            raise MonitorError(f"a monitor cannot run on {type(host).__name__}: it lacks "
                               f"{', '.join(missing)} (the Host contract, virtcheck.hypervisor.driver.Host)")
        try:
            self.policy: Policy = policies.get(policy)
        except policies.PolicyError as exc:
            raise MonitorError(str(exc)) from None
        self.host = host
        self.isa = host.isa
        self.facts = facts(host.isa)
        refusal = self.facts.monitor_refusal()
        if refusal is not None:
            raise MonitorError(refusal)
        if slice < 1:
            raise MonitorError(f"time slice must be at least 1 instruction, not {slice}")
        self.slice = slice
        self._gate = gate_of(self.facts, self.policy.runs_directly(self.isa))
        self.vms: list[VirtualMachine] = []
        self.world_switches = 0
        self._current: Optional[VirtualMachine] = None
        self._next_free = self.facts.reserved
        self._turn = 0  #: whose slice `run_for` is in
        self._left = slice  #: what is left of it
        if isinstance(host, VirtualMachine):
            if host.hosted is not None:
                raise MonitorError(f"VM {host.index} already runs a monitor; a VM runs one monitor")
            host.hosted = self

    @property
    def direct_possible(self) -> bool:
        """The policy ever runs a guest directly (its `runs_directly` is not the constant False)."""
        return self._gate is not _never

    @property
    def free(self) -> int:
        return self.host.memory_size - self._next_free

    def create_vm(self, size: Optional[int] = None, *, base: Optional[int] = None) -> VirtualMachine:
        """A new VM with a partition of ``size`` cells (default: all that is free) above
        every other partition and the monitor's own cells."""
        reserved = self.facts.reserved
        largest = self.facts.largest_partition
        if base is None:
            base = self._next_free
        if size is None:
            size = min(self.host.memory_size - base, largest)
        if size > largest:
            raise MonitorError(f"a partition's size is an address ({largest.bit_length()} bits): at most "
                               f"{largest} cells, not {size}")
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
        size = min(self.free // n, self.facts.largest_partition)
        return [self.create_vm(size) for _ in range(n)]

    def run(self, steps: int) -> dict[int, RunResult]:
        """Round robin: each VM runs a slice in turn until it has completed ``steps``
        instructions in this call or halted. A VM whose slice ends in a trap storm (the
        driver's trap-entry bound, with nothing completed) is not scheduled again in this call."""
        done = {vm.index: 0 for vm in self.vms}
        halted = {vm.index: vm.halted for vm in self.vms}
        stalled: dict[int, str] = {}
        while True:
            runnable = [vm for vm in self.vms
                        if not halted[vm.index] and vm.index not in stalled and done[vm.index] < steps]
            if not runnable:
                break
            for vm in runnable:
                if self._current is not vm:
                    self.world_switches += 1
                    vm.account.world_switches += 1
                    self._current = vm
                res = vm.run(min(self.slice, steps - done[vm.index]))
                done[vm.index] += res.executed
                halted[vm.index] = res.stopped
                if res.executed == 0 and not res.stopped and res.detail:
                    stalled[vm.index] = res.detail
        return {i: RunResult(HALTED if halted[i] else BUDGET, done[i], stalled.get(i, "")) for i in done}

    def run_for(self, budget: int) -> RunResult:
        """Round robin for at most ``budget`` guest instructions in all, resuming the round
        (and the slice) where the last call left it: what running this monitor's VM for a
        time slice means to the monitor under it. ``halt`` when every VM has halted."""
        done = 0
        vms = self.vms
        idle = 0  # consecutive turns that ended in a trap storm (or found the VM halted)
        while done < budget:
            if all(vm.halted for vm in vms):
                return RunResult(HALTED, done)
            if idle >= len(vms):
                return RunResult(BUDGET, done, "every guest is in a trap storm")
            vm = vms[self._turn % len(vms)]
            if not vm.halted:
                if self._current is not vm:
                    self.world_switches += 1
                    vm.account.world_switches += 1
                    self._current = vm
                res = vm.run(min(self._left, budget - done))
                done += res.executed
                self._left -= res.executed
                storm = res.executed == 0 and not res.stopped and bool(res.detail)
                idle = idle + 1 if storm else 0
                if not (res.stopped or self._left <= 0 or storm):
                    continue
            else:
                idle += 1
            self._turn = (self._turn + 1) % len(vms)
            self._left = self.slice
        return RunResult(BUDGET, done)

    def shares(self) -> dict[int, float]:
        """Fairness: each VM's share of the guest instructions executed so far."""
        total = sum(vm.account.executed for vm in self.vms)
        return {vm.index: (vm.account.executed / total if total else 0.0) for vm in self.vms}
