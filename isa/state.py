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
        # the most common value becomes the default, so the sparse form stays small
        counts = Counter(values)  # counted in C: memories are replayed often (checks.witness)
        default = max(counts, key=lambda v: (counts[v], -v)) if counts else 0
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
