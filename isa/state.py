"""Concrete machine states as values: what witnesses, reports and tests exchange.

The hot path (the compiled backend, the executor) works on a flat list and memory
lists; :class:`MachineState` is the readable, comparable, JSON-able form. Memories are
sparse -- a default cell value plus the cells that differ -- because a Z3 model gives
arrays that way and a witness should print only what matters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field as dc_field
from typing import Any, Optional

from virtcheck.isa.concrete import Layout
from virtcheck.isa.model import Cause, Isa


@dataclass
class Memory:
    default: int = 0
    cells: dict[int, int] = dc_field(default_factory=dict)

    def __getitem__(self, a: int) -> int:
        return self.cells.get(a, self.default)

    def to_list(self, size: int) -> list[int]:
        out = [self.default] * size
        for a, v in self.cells.items():
            out[a] = v
        return out

    @staticmethod
    def from_list(values: list[int]) -> "Memory":
        # the most common value (the smallest of those, on a tie) becomes the default, so
        # the sparse form stays small; Counter counts in C (witnesses call this per memory)
        counts = Counter(values)
        top = max(counts.values(), default=0)
        default = min((v for v, c in counts.items() if c == top), default=0)
        return Memory(default, {a: v for a, v in enumerate(values) if v != default})

    def to_json(self) -> dict[str, Any]:
        return {"default": self.default, "cells": {str(a): v for a, v in sorted(self.cells.items())}}

    @staticmethod
    def from_json(d: dict[str, Any]) -> "Memory":
        return Memory(int(d.get("default", 0)), {int(a): int(v) for a, v in d.get("cells", {}).items()})


@dataclass
class MachineState:
    """Every field's value and every memory's contents."""

    fields: dict[str, int]
    memories: dict[str, Memory]

    @staticmethod
    def zero(isa: Isa) -> "MachineState":
        return MachineState({n: 0 for n in isa.fields}, {m: Memory() for m in isa.memories})

    def copy(self) -> "MachineState":
        return MachineState(dict(self.fields),
                            {k: Memory(m.default, dict(m.cells)) for k, m in self.memories.items()})

    def flat(self, isa: Isa) -> tuple[list[int], list[list[int]]]:
        """The compiled backend's form: (S, [memory lists])."""
        lay = Layout.of(isa)
        S = [self.fields[n] for n in lay.names]
        mems = [self.memories[m].to_list(size) for m, size in zip(lay.memories, lay.mem_size)]
        return S, mems

    @staticmethod
    def from_flat(isa: Isa, S: list[int], mems: list[list[int]]) -> "MachineState":
        lay = Layout.of(isa)
        return MachineState(
            {n: int(v) for n, v in zip(lay.names, S)},
            {m: Memory.from_list(list(vals)) for m, vals in zip(lay.memories, mems)},
        )

    def to_json(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "memories": {k: m.to_json() for k, m in self.memories.items()}}

    @staticmethod
    def from_json(d: dict[str, Any]) -> "MachineState":
        return MachineState({k: int(v) for k, v in d["fields"].items()},
                            {k: Memory.from_json(m) for k, m in d["memories"].items()})

    def short(self, isa: Isa, names: Optional[list[str]] = None) -> str:
        """``{M=1, P=0x10, l=0, ...}``: the non-bank fields, and bank members that are non-zero."""
        parts = []
        for n, f in isa.fields.items():
            if names is not None and n not in names:
                continue
            v = self.fields[n]
            if f.bank is not None and v == 0 and names is None:
                continue
            parts.append(f"{n}={v:#x}" if v > 9 else f"{n}={v}")
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class Outcome:
    """How a step ended: ``ok``, ``halt`` or ``trap`` with its cause and info."""

    kind: str
    cause: Optional[str] = None
    info: int = 0

    def __str__(self) -> str:
        return f"trap({self.cause}, info={self.info:#x})" if self.kind == "trap" else self.kind

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "cause": self.cause, "info": self.info}

    @staticmethod
    def of(result: Any) -> "Outcome":
        """From a compiled step's return value."""
        from virtcheck.isa.concrete import HALT

        if result is None:
            return Outcome("ok")
        if result is HALT:
            return Outcome("halt")
        cause, info = result
        return Outcome("trap", cause.name if isinstance(cause, Cause) else str(cause), int(info))


OK = Outcome("ok")


def state_problem(isa: Isa, state: MachineState, cells: Optional[int] = None) -> Optional[tuple[str, str]]:
    """Why ``state`` is not a state of ``isa``: (the JSON path of the field at fault,
    what is wrong), or None. Every field present and within its width, every memory
    present with cell values within its width and addresses below ``cells`` (the
    partition a saved guest state covers; each memory's own size when None, and for the
    memories the partition keeps private). A file that
    fails this would otherwise be truncated silently to the widths the executor keeps."""
    for n in state.fields:
        if n not in isa.fields:
            return f"state.fields.{n}", f"ISA '{isa.name}' has no field '{n}'"
    for n, f in isa.fields.items():
        if n not in state.fields:
            return f"state.fields.{n}", "missing"
        v = state.fields[n]
        if not 0 <= v < 1 << f.width:
            return f"state.fields.{n}", f"value {v:#x} does not fit in {f.width} bit{'s' if f.width != 1 else ''}"
    for name in state.memories:
        if name not in isa.memories:
            return f"state.memories.{name}", f"ISA '{isa.name}' has no memory '{name}'"
    for name, decl in isa.memories.items():
        if name not in state.memories:
            return f"state.memories.{name}", "missing"
        m = state.memories[name]
        whole = cells is None or name in isa.partition_private  # a private memory is the VM's own copy
        top = decl.size if whole else min(cells, decl.size)  # type: ignore[type-var]
        where = f"{name} ({decl.size} cells)" if whole else f"the {cells}-cell partition"
        if not 0 <= m.default < 1 << decl.width:
            return f"state.memories.{name}.default", f"value {m.default:#x} does not fit in {decl.width} bits"
        for a, v in sorted(m.cells.items()):
            if not 0 <= a < top:
                return f"state.memories.{name}.cells.{a}", f"address {a:#x} lies outside {where}"
            if not 0 <= v < 1 << decl.width:
                return f"state.memories.{name}.cells.{a}", f"value {v:#x} does not fit in {decl.width} bits"
    return None
