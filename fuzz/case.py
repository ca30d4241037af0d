"""A fuzz case: one program, the virtual machine state it starts from, and its partition.

A case is plain data so it can be saved, replayed and shrunk: the program as canonical
instruction words, the initial *virtual* state (every field, and memory as the guest
sees it: its partition), the partition size and the step budget. The bare machine runs
the same state directly; a monitor runs it as a guest in a partition of that size.

The program is placed where the state's first fetch reads (through the ISA's own
translation), so a drawn program is what runs first; nothing here knows an ISA.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Optional

from virtcheck.isa.asm import disassemble_word
from virtcheck.isa.concrete import compiled
from virtcheck.isa.model import Isa
from virtcheck.isa.state import MachineState, Memory, state_problem


@dataclass
class Case:
    """``program`` (instruction words) run from ``state`` in a ``partition_size``-cell
    partition, for at most ``budget`` steps (a step: one completed instruction or one trap
    entry). ``others`` holds the other guests' cases for the isolation oracle;
    ``split`` the step at which the encapsulation oracle snapshots."""

    program: list[int]
    state: MachineState
    partition_size: int
    budget: int
    others: list["Case"] = dc_field(default_factory=list)
    split: int = 0

    def assembly(self, isa: Isa) -> list[str]:
        return [disassemble_word(isa, w) for w in self.program]

    def image(self, isa: Isa) -> tuple[list[int], list[list[int]]]:
        """The flat state and one ``partition_size``-cell list per memory, program placed."""
        c = compiled(isa)
        lay = c.layout
        size = self.partition_size
        S = [self.state.fields[n] for n in lay.names]
        mems = []
        for name in lay.memories:
            m = self.state.memories[name]
            cells = [m.default] * size
            for a, v in m.cells.items():
                if 0 <= a < size:
                    cells[a] = v
            mems.append(cells)
        place(isa, S, mems, self.program)
        return S, mems

    def to_json(self, isa: Optional[Isa] = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "program": [f"{w:#x}" for w in self.program],
            "state": self.state.to_json(),
            "partition_size": self.partition_size,
            "budget": self.budget,
            "split": self.split,
            "others": [o.to_json(isa) for o in self.others],
        }
        if isa is not None:
            out["assembly"] = self.assembly(isa)
        return out

    @staticmethod
    def from_json(d: dict[str, Any]) -> "Case":
        return Case([int(w, 0) if isinstance(w, str) else int(w) for w in d["program"]],
                    MachineState.from_json(d["state"]), int(d["partition_size"]), int(d["budget"]),
                    [Case.from_json(o) for o in d.get("others", [])], int(d.get("split", 0)))

    def problem(self, isa: Isa, path: str = "case") -> Optional[tuple[str, str]]:
        """Why this case cannot run on ``isa`` as saved: (the JSON path of the field at
        fault, what is wrong), or None. The executors would otherwise wrap what does not
        fit (an opcode past the table, a value wider than its field) and run another case."""
        code = isa.memories[isa.code_memory]  # type: ignore[index]
        if not 0 < self.partition_size <= code.size:
            return f"{path}.partition_size", f"{self.partition_size} is not in 1..{code.size} (the size of {code.name})"
        if self.budget <= 0:
            return f"{path}.budget", f"{self.budget} is not positive"
        if not 0 <= self.split <= self.budget:
            return f"{path}.split", f"{self.split} is not in 0..{self.budget} (the budget)"
        if not self.program:
            return f"{path}.program", "empty (nothing to run)"
        for k, w in enumerate(self.program):
            why = word_problem(isa, w)
            if why:
                return f"{path}.program[{k}]", why
        hit = state_problem(isa, self.state, self.partition_size)
        if hit:
            return f"{path}.{hit[0]}", hit[1]
        for k, o in enumerate(self.others):
            hit = o.problem(isa, f"{path}.others[{k}]")
            if hit:
                return hit
        return None

    def copy(self) -> "Case":
        return Case(list(self.program), self.state.copy(), self.partition_size, self.budget,
                    [o.copy() for o in self.others], self.split)


def word_problem(isa: Isa, word: int) -> Optional[str]:
    """Why ``word`` is not an instruction word of ``isa`` (None if it is): too wide, an
    opcode past the instruction table, or an operand field outside its domain (the
    executors' decoder would wrap each of these into another instruction)."""
    if not 0 <= word < 1 << isa.word:
        return f"{word:#x} does not fit in the {isa.word}-bit instruction word"
    op = word >> (isa.word - isa.opcode_width)
    if op >= len(isa.instructions):
        return f"opcode {op:#x} of {word:#x} is past the instruction table ({len(isa.instructions)} instructions)"
    ins = isa.instructions[op]
    for (name, hi, lo), o in zip(ins.layout, ins.operands):
        raw = (word >> lo) & ((1 << (hi - lo + 1)) - 1)
        if raw >= o.domain_size:
            return f"operand '{name}' of {ins.mnemonic} is {raw}, outside its domain (0..{o.domain_size - 1})"
    return None


def place(isa: Isa, S: list[int], mems: list[list[int]], program: list[int]) -> None:
    """Write ``program`` where the first fetch of ``S`` reads (cell 0 if that fetch traps),
    wrapping around the partition."""
    c = compiled(isa)
    code = mems[c.layout.memories.index(isa.code_memory)]  # type: ignore[arg-type]
    size = len(code)
    start = c.fetch(S, *mems)
    if start.__class__ is tuple:
        start = 0
    units = isa.units_per_word
    cell = isa.memories[isa.code_memory].width  # type: ignore[index]
    cmask = (1 << cell) - 1
    a = start
    for w in program:
        for k in range(units):
            code[(a + k) % size] = (w >> ((units - 1 - k) * cell)) & cmask
        a += units


def normalized(state: MachineState, size: int) -> MachineState:
    """``state`` with every memory cell folded into ``[0, size)`` (the partition)."""
    mems = {}
    for name, m in state.memories.items():
        cells: dict[int, int] = {}
        for a, v in m.cells.items():
            cells[a % size] = v
        mems[name] = Memory(m.default, cells)
    return MachineState(dict(state.fields), mems)
