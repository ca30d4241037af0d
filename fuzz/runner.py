"""Running one case bare and under a monitor, fast in bulk and step by step on demand.

The hot path runs each side with the executor's own generated loop (``execute``) and
enters the ISA's trap semantics itself, counting every trap as a step, so a program
whose trap vector faults again forever still ends within its budget (the hypervisor's
``drive`` counts only completed instructions). Timer interrupts are not delivered: a
fuzz case is far shorter than any timer period worth testing, and the bare and
monitored runs would only see them at the same step anyway.

A *rig* is built once per (ISA, partition size, depth) and reused for every case: a
bare machine, and a monitor stack with one VM of that size. Loading a case is a few
slice assignments; nothing is compiled per program.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Optional

from virtcheck.hypervisor import Machine, monitor_stack
from virtcheck.hypervisor.accounting import Accounting
from virtcheck.hypervisor.mapping import facts
from virtcheck.hypervisor.policies import DEFAULT as DEFAULT_POLICY
from virtcheck.hypervisor.stop import BUDGET, HALTED, TRAP, Stop
from virtcheck.isa.concrete import CompiledIsa, compiled
from virtcheck.isa.model import Isa

#: the hardware a campaign runs on: its own per-instruction machine, or the hypervisor's
STEP, HYPERVISOR = "step", "hypervisor"

#: how a run ended
END_HALT, END_BUDGET = "halt", "budget"


def _step_loop(c: CompiledIsa) -> Callable:
    """``run(S, mems, budget) -> (result, executed, on_fetch)``: fetch through the ISA's
    translation, decode through the backend's per-word cache of compiled steps, step."""
    return c.isa.derived.fact("fuzz.step_loop", lambda: _build_step_loop(c))


def _build_step_loop(c: CompiledIsa) -> Callable:
    isa = c.isa
    lay = c.layout
    margs = ", ".join(lay.mem_param(m) for m in lay.memories)
    code = lay.mem_param(isa.code_memory)  # type: ignore[arg-type]
    units = isa.units_per_word
    cell = isa.memories[isa.code_memory].width  # type: ignore[index]
    word = f"{code}[a]" if units == 1 else " | ".join(
        f"({code}[a + {k}] << {(units - 1 - k) * cell})" for k in range(units))
    src = f"""
def run(S, mems, budget):
    {margs}, = mems
    fetch = _fetch
    get = _cache.get
    step_for = _step_for
    n = 0
    while n < budget:
        a = fetch(S, {margs})
        if a.__class__ is tuple:
            return a, n, True
        w = {word}
        f = get(w)
        if f is None:
            f = step_for(w)
        r = f(S, {margs})
        if r is not None:
            return r, n, False
        n += 1
    return None, n, False
"""
    ns: dict[str, Any] = {"_fetch": c.fetch, "_cache": c._cache, "_step_for": c.step_for}
    exec(compile(src, f"<virtcheck:fuzz-steploop:{isa.name}>", "exec"), ns)
    return ns["run"]


class StepMachine:
    """Real hardware that runs one compiled instruction step at a time.

    It offers the executor face of :class:`~virtcheck.hypervisor.Machine` (``execute``,
    ``mems``, ``memory_size``) with code compiled once per instruction word and nothing
    compiled per program -- what a campaign of random programs needs, where a
    translation cache keyed by code would compile every program anew. Its semantics are
    the ISA's compiled steps, the same the hypervisor's machine runs."""

    level = 0

    def __init__(self, isa: Isa):
        self.isa = isa.finalize()
        self.facts = facts(isa)
        self.mems: list[list[int]] = [[0] * n for n in self.facts.layout.mem_size]
        self._run = _step_loop(compiled(isa))

    @property
    def memory_size(self) -> int:
        return self.facts.mem_size

    def execute(self, S: list[int], budget: int, tally: Any = None) -> Stop:
        return Stop(*self.direct(S, budget, tally))

    def direct(self, S: list[int], budget: int, tally: Any = None) -> tuple:
        """`execute` as a `RawStop` (the `Host` contract; nothing is tallied)."""
        r, n, on_fetch = self._run(S, self.mems, budget)
        if r is None:
            return (BUDGET, n, None, 0, False)
        if r.__class__ is not tuple:
            return (HALTED, n, None, 0, False)
        return (TRAP, n, r[0], int(r[1]), on_fetch)

    def direct_for(self, hardware: Any) -> Callable:
        """Only this ISA's own semantics (the `Host` contract): a campaign refuses ISAs whose
        partitioned guests need other hardware before it builds one of these."""
        if hardware is self.isa:
            return self.direct
        raise ValueError(f"the stepping machine runs '{self.isa.name}' only, not '{hardware.name}'")


def machine(isa: Isa, hardware: str = STEP) -> Any:
    """The real machine a campaign runs on (see `STEP`, `HYPERVISOR`)."""
    if hardware == STEP:
        return StepMachine(isa)
    if hardware == HYPERVISOR:
        return Machine(isa)
    raise ValueError(f"unknown hardware {hardware!r} (expected {STEP!r} or {HYPERVISOR!r})")


@dataclass
class RunEnd:
    """How a run ended and the traps it took (step index, cause, info)."""

    end: str
    steps: int
    events: list[tuple[int, str, int]] = dc_field(default_factory=list)


def run_steps(ex: Any, S: list[int], mems: list[Any], budget: int, entry: dict) -> RunEnd:
    """Run ``S`` on executor ``ex`` for ``budget`` steps, entering trap semantics on traps."""
    steps = 0
    events: list[tuple[int, str, int]] = []
    while steps < budget:
        stop = ex.execute(S, budget - steps)
        steps += stop.executed
        reason = stop.reason
        if reason == BUDGET:
            break
        if reason == HALTED:
            return RunEnd(END_HALT, steps, events)
        name = stop.cause.name
        events.append((steps, name, stop.info))
        entry[name](S, *mems, stop.info)
        steps += 1
    return RunEnd(END_BUDGET, steps, events)


def step_once(ex: Any, S: list[int], mems: list[Any], entry: dict) -> tuple[str, Optional[tuple[str, int]]]:
    """One step: ``("ok", None)``, ``("halt", None)`` or ``("trap", (cause, info))``."""
    stop = ex.execute(S, 1)
    if stop.reason == BUDGET:
        return "ok", None
    if stop.reason == HALTED:
        return "halt", None
    entry[stop.cause.name](S, *mems, stop.info)
    return "trap", (stop.cause.name, stop.info)


class Rig:
    """A bare machine and a VM of ``size`` cells under ``depth`` monitors of ``policy``,
    reused across cases."""

    def __init__(self, isa: Isa, size: int, depth: int = 1, hardware: str = STEP, policy: str = DEFAULT_POLICY):
        self.isa = isa
        self.size = size
        self.depth = depth
        self.policy = policy
        self.c = compiled(isa)
        self.facts = facts(isa)
        self.entry = self.c.trap_entry
        self.bare = machine(isa, hardware)
        self.top = monitor_stack(isa, depth, machine=machine(isa, hardware), policy=policy)
        self.vm = self.top.create_vm(size)
        self.base = self.vm.partition.base
        lay = self.facts.layout
        self._zero_tail = [[0] * (n - size) for n in lay.mem_size]
        #: (physical list, offset of the partition in it) per memory: everything else in it
        #: is zeroed per case, as the native batch does, so no case sees another's cells
        self._spans = [(v.physical, v.offset) for v in self.vm.mems]
        self._zero = [[0] * len(phys) for phys, _ in self._spans]
        self._backing = [v.backing for v in self.vm.mems]

    # --- loading -------------------------------------------------------------------
    def load_bare(self, mems: list[list[int]]) -> list[list[int]]:
        """Copy the partition image into the bare machine (cells past it zero)."""
        size = self.size
        for dst, src, tail in zip(self.bare.mems, mems, self._zero_tail):
            dst[:size] = src
            dst[size:] = tail
        return self.bare.mems

    def load_vm(self, mems: list[list[int]]) -> list[Any]:
        """Copy the partition image into the VM's partition; every physical cell outside it
        (the monitor's reserved cells, the rest of memory) starts at 0, whatever the
        previous case left there (same in the native batch)."""
        size = self.size
        for (phys, off), src, zero in zip(self._spans, mems, self._zero):
            phys[:] = zero
            phys[off:off + size] = src
        self.vm.account = Accounting()
        return self.vm.mems

    # --- views ---------------------------------------------------------------------
    def bare_memory(self) -> list[list[int]]:
        return [m[: self.size] for m in self.bare.mems]

    def vm_memory(self) -> list[list[int]]:
        size = self.size
        return [phys[off:off + size] for phys, off in self._spans]


#: the hardware rigs are built on unless a caller names one (a campaign sets it per process)
default_hardware = STEP


def rig(isa: Isa, size: int, depth: int = 1, hardware: Optional[str] = None, policy: str = DEFAULT_POLICY) -> Rig:
    """The (cached, per process) rig for ``isa`` with a ``size``-cell partition under
    ``depth`` monitors of ``policy`` (a registered name)."""
    hw = hardware or default_hardware
    return isa.derived.fact(("fuzz.rig", size, depth, hw, policy), lambda: Rig(isa, size, depth, hw, policy))
