"""Explicit instruction encodings as patterns, for ISAs whose instructions vary in length.

pg3-style ISAs pack an opcode index and operands into one fixed word (see
:mod:`virtcheck.isa.validate`). Real ISAs do not: an IA-32 instruction is 1-15 bytes
(opcode bytes, ModRM, displacement, immediate), an M68000 instruction one 16-bit word
plus extension words. For them each instruction form declares a pattern, and the
assembler, disassembler and decoder all derive from it, so they cannot drift apart.

Pattern syntax: whitespace-separated *units* (the ISA's ``unit`` bits: 8 for bytes, 16
for m68k words), most significant bit first within a unit:

``0F``
    a fixed unit in hex (exactly ``unit/4`` digits).
``[00 010 {rm:3}]``
    one unit spelled in bits: fixed ``0``/``1`` bits and operand fields ``{name:width}``
    (spaces inside the brackets are for reading only).
``{imm:32}``
    an operand filling whole units, in the ISA's byte order (``endian``).

An instruction form has one pattern and so one length; addressing forms that change the
length (a ModRM with or without displacement) are separate forms, as the manuals' tables
list them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from virtcheck.isa.errors import IsaError
from virtcheck.isa.expr import mask

_FIELD = re.compile(r"\{(\w+):(\d+)\}")


@dataclass(frozen=True)
class Slot:
    """Where (part of) an operand lives: ``bits`` of unit ``unit`` at ``lo`` go to operand
    bits starting at ``at``."""

    operand: str
    unit: int
    lo: int
    bits: int
    at: int


@dataclass(frozen=True)
class Pattern:
    """A parsed encoding: per unit a fixed mask/value, and where each operand goes."""

    text: str
    unit_bits: int
    masks: tuple[int, ...]
    values: tuple[int, ...]
    slots: tuple[Slot, ...]
    widths: dict[str, int]

    @property
    def length(self) -> int:
        return len(self.masks)

    def matches(self, units: Sequence[int]) -> bool:
        if len(units) < self.length:
            return False
        for m, v, u in zip(self.masks, self.values, units):
            if u & m != v:
                return False
        return True

    def extract(self, units: Sequence[int]) -> dict[str, int]:
        out = {n: 0 for n in self.widths}
        for s in self.slots:
            out[s.operand] |= ((units[s.unit] >> s.lo) & mask(s.bits)) << s.at
        return out

    def encode(self, values: dict[str, int]) -> list[int]:
        units = list(self.values)
        for s in self.slots:
            units[s.unit] |= ((values[s.operand] >> s.at) & mask(s.bits)) << s.lo
        return units


def parse(text: str, unit_bits: int, endian: str = "little") -> Pattern:
    """Parse a pattern; raises IsaError naming what is wrong."""
    tokens = re.findall(r"\[[^\]]*\]|\{\w+:\d+\}|\S+", text)
    masks: list[int] = []
    values: list[int] = []
    slots: list[Slot] = []
    widths: dict[str, int] = {}
    for tok in tokens:
        if tok.startswith("["):
            body = tok[1:-1]
            items = re.findall(r"\{\w+:\d+\}|[01]", body)
            if "".join(items) != re.sub(r"\s+", "", body):
                raise IsaError(f"encoding '{text}': unit '{tok}' may hold only 0, 1 and {{name:width}} fields")
            total = sum(int(_FIELD.fullmatch(i).group(2)) if i.startswith("{") else 1 for i in items)  # type: ignore[union-attr]
            if total != unit_bits:
                raise IsaError(f"encoding '{text}': unit '{tok}' has {total} bits, not {unit_bits}")
            pos = unit_bits
            m = v = 0
            k = len(masks)
            for item in items:
                if item.startswith("{"):
                    name, w = _FIELD.fullmatch(item).groups()  # type: ignore[union-attr]
                    w = int(w)
                    pos -= w
                    at = widths.get(name, 0)
                    slots.append(Slot(name, k, pos, w, at))
                    widths[name] = at + w
                else:
                    pos -= 1
                    m |= 1 << pos
                    v |= int(item) << pos
            masks.append(m)
            values.append(v)
        elif tok.startswith("{"):
            name, w = _FIELD.fullmatch(tok).groups()  # type: ignore[union-attr]
            w = int(w)
            if w % unit_bits:
                raise IsaError(f"encoding '{text}': field {tok} must fill whole {unit_bits}-bit units")
            n = w // unit_bits
            order = range(n) if endian == "little" else range(n - 1, -1, -1)
            base = len(masks)
            for j, part in enumerate(order):  # unit base+j holds operand bits part*unit..
                slots.append(Slot(name, base + j, 0, unit_bits, widths.get(name, 0) + part * unit_bits))
                masks.append(0)
                values.append(0)
            widths[name] = widths.get(name, 0) + w
        else:
            digits = unit_bits // 4
            if not re.fullmatch(rf"[0-9A-Fa-f]{{{digits}}}", tok):
                raise IsaError(f"encoding '{text}': '{tok}' is not a {unit_bits}-bit unit in hex "
                               f"({digits} digits), a [bits] unit or a {{field:width}}")
            masks.append(mask(unit_bits))
            values.append(int(tok, 16))
    if not masks:
        raise IsaError(f"encoding '{text}' is empty")
    return Pattern(text, unit_bits, tuple(masks), tuple(values), tuple(slots), widths)


class Decoder:
    """First-match decoding over a list of patterns, indexed by the first unit."""

    def __init__(self, patterns: Sequence[Pattern], unit_bits: int):
        self.patterns = list(patterns)
        self.by_first: dict[int, list[int]] = {}
        self.wild: list[int] = []
        for k, p in enumerate(self.patterns):
            if p.masks[0] == mask(unit_bits):
                self.by_first.setdefault(p.values[0], []).append(k)
            else:
                self.wild.append(k)

    def decode(self, units: Sequence[int]) -> Optional[tuple[int, dict[str, int]]]:
        """(pattern index, operand values), or None for an undefined encoding."""
        if not units:
            return None
        cands = self.by_first.get(units[0], [])
        for k in sorted(cands + self.wild) if self.wild else cands:
            p = self.patterns[k]
            if p.matches(units):
                return k, p.extract(units)
        return None

    def overlaps(self) -> list[tuple[int, int]]:
        """Pairs of patterns where the later can never be decoded (the earlier shadows it)."""
        out = []
        for j, b in enumerate(self.patterns):
            for i, a in enumerate(self.patterns[:j]):
                if a.length <= b.length and all((bm & am) == am and (bv & am) == av
                                                for am, av, bm, bv in zip(a.masks, a.values, b.masks, b.values)):
                    out.append((i, j))
        return out
