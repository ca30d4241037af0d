"""The real machine: an ISA's concrete backend with physical memory, run bare.

`Machine` is both an *executor* (``execute``: run a given state directly until it traps,
halts or spends its budget -- what a monitor needs from the machine under it) and a
*computer* (``run``: the loaded program is the operating system on bare metal, so traps
and timer interrupts enter it through the ISA's own trap semantics). A monitor's
`VirtualMachine` offers the same two faces, which is what lets monitors stack.
"""

from __future__ import annotations

from typing import Optional

from virtcheck.isa.asm import Program
from virtcheck.isa.concrete import HALT, compiled
from virtcheck.isa.model import Isa
from virtcheck.isa.state import MachineState
from virtcheck.hypervisor.driver import Clock, RunResult, TrapLog, drive
from virtcheck.hypervisor.mapping import facts
from virtcheck.hypervisor.tally import Tally, fold
from virtcheck.hypervisor.blocks import block_compiler
from virtcheck.hypervisor.fetch import DecodeTable, make_variable_runloop, variable_fetch
from virtcheck.hypervisor.runloop import BlockTable, RunLoop, make_runloop
from virtcheck.hypervisor.stop import BUDGET, HALTED, TRAP, Stop

def stop_of(result: tuple) -> Stop:
    """A compiled step's or a run's ``(result, executed, on_fetch)`` as a `Stop`."""
    r, n, on_fetch = result
    if r is None:
        return Stop(BUDGET, n)
    if r.__class__ is not tuple:  # HALT (see is_halt)
        return Stop(HALTED, n)
    cause, info = r
    return Stop(TRAP, n, cause, int(info), on_fetch)


def is_halt(r: object) -> bool:
    """A compiled step's halt result. The step of an instruction *named* HALT returns its own
    closure (the name shadows the backend's ``HALT`` inside the generated factory), so any
    non-tuple, non-None result is read as a halt."""
    return r is not None and r.__class__ is not tuple


class Machine:
    """Real hardware: a state list ``S`` and one list per memory, all physical.

    Any ISA runs bare: fixed-width ones through blocks (`runloop`), variable-length ones
    instruction by instruction through their own fetch and decoder (`fetch`). Nothing a
    monitor needs (its cells, the partition map) is derived here: `mapping.IsaFacts`
    computes that when a `Monitor` asks."""

    def __init__(self, isa: Isa):
        self.isa = isa.finalize()
        self.facts = facts(isa)
        lay = self.facts.layout
        self.mems: list[list[int]] = [[0] * n for n in lay.mem_size]
        self.S: list[int] = self.facts.reset_state(0)
        self.clock = Clock()
        self.log = TrapLog()
        self.halted = False  #: the last run halted (or stopped on an undefined instruction)
        self._last = RunResult(HALTED, 0)
        self.level = 0  #: monitors under this executor
        self.tally: Tally = {}  #: what ran directly without a caller's tally (bare runs)
        #: `execute` without the `Stop` object (what a monitor above calls per trap):
        #: ``direct(S, budget, tally=None) -> RawStop``; the generated run loop itself
        self.direct: RunLoop
        self.direct, self._table = self._runloop(self.isa)
        #: run loops of the same memory under another model of this hardware (`direct_for`)
        self._hardware: dict[int, tuple[Isa, RunLoop, BlockTable | DecodeTable]] = {}

    def _runloop(self, isa: Isa) -> tuple[RunLoop, BlockTable | DecodeTable]:
        c = compiled(isa)
        if isa.variable:
            table: BlockTable | DecodeTable = DecodeTable(variable_fetch(c))
            return make_variable_runloop(variable_fetch(c), self.mems, self.tally, table), table
        table = BlockTable(block_compiler(c))
        return make_runloop(c, self.mems, self.tally, table), table

    def direct_for(self, hardware: Isa) -> RunLoop:
        """`direct` with the semantics of ``hardware``, on this machine's memory: the run
        loop a monitor uses when the ISA names the hardware a partitioned guest runs with
        (`Isa.partition`'s ``hardware``: IA-32's segmented model, where the flat one this
        machine runs bare leaves segment bases out)."""
        if hardware is self.isa:
            return self.direct
        if facts(self.isa).hardware is not hardware:
            raise ValueError(f"ISA '{hardware.name}' is not the partition hardware of '{self.isa.name}'")
        hit = self._hardware.get(id(hardware))
        if hit is None or hit[0] is not hardware:
            hit = self._hardware[id(hardware)] = (hardware, *self._runloop(hardware.finalize()))
        return hit[1]

    # --- the executor face ------------------------------------------------------------
    @property
    def memory_size(self) -> int:
        return self.facts.mem_size

    def execute(self, S: list[int], budget: int, tally: Optional[Tally] = None) -> Stop:
        """Run ``S`` directly on this machine's memory until a trap, a halt or ``budget``
        completed instructions. Nothing is applied on a trap: the caller decides. What ran
        is counted into ``tally`` (default: the machine's own, `executed_by_instruction`)."""
        return Stop(*self.direct(S, budget, tally))

    def executed_by_instruction(self) -> dict[str, int]:
        """Instructions this machine ran directly without a caller's tally, per mnemonic."""
        return dict(fold([self.tally], 0))

    # --- the computer face ------------------------------------------------------------
    def load(self, program: Program, state: Optional[MachineState] = None) -> None:
        """Put ``program`` in memory and start at its entry from the reset state (or from
        ``state``, whose memories are loaded first)."""
        if state is not None:
            S, mems = state.flat(self.isa)
            self.S[:] = S
            for dst, src in zip(self.mems, mems):
                dst[:] = src
        else:
            self.S[:] = self.facts.reset_state(program.entry)
        code = self.facts.layout.memories.index(self.isa.code_memory)
        for a, v in program.cells.items():
            self.mems[code][a] = v
        self.halted = False
        self._last = RunResult(HALTED, 0)
        self._table.clear()  # new code: blocks are checked anyway, but rebuild counts restart
        for _, _, table in self._hardware.values():
            table.clear()

    def run(self, steps: int) -> RunResult:
        """Run the loaded program bare for at most ``steps`` completed instructions."""
        if self.halted:
            return RunResult(self._last.reason, 0, self._last.detail)
        res = drive(self, self.S, self.mems, self.clock, steps, self.log)
        self.halted = res.stopped
        self._last = res
        return res

    def state(self) -> MachineState:
        return MachineState.from_flat(self.isa, list(self.S), [list(m) for m in self.mems])
