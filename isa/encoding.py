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

A ``{name:width}`` field takes the operand's next ``width`` bits, lowest first in text
order. Where a manual permutes an operand's bits across the word (RISC-V's B-, J- and
S-type immediates), a unit names them as **bit slices** in the style of the Sail models,
items optionally joined by ``@``::

    [imm[12] @ imm[10..5] @ {rs2:5} @ {rs1:5} @ 000 @ imm[4..1] @ imm[11] @ 1100011]

``name[hi..lo]`` (also ``name[hi:lo]``, ``{name[hi..lo]}``) places operand bits hi..lo
there, ``name[i]`` one bit; binary literals may be written ``0b1100011``. An operand is
given either as ``{name:width}`` pieces or as slices, never both; its slices must not
overlap, its width is its highest placed bit + 1, and bits no slice places (``imm[0]``
of a branch offset) are always zero: the encoder refuses a value with one of them set
and the finalized operand records them (``OperandDecl.zeros``), so the assembler, the
solver's operand domain and the generators all derive from this one declaration.

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
_SLICE = re.compile(r"(\{)?(\w+)\[(\d+)(?:(?:\.\.|:)(\d+))?\](\})?")
#: one item of a ``[bits]`` unit: a sequential field, a slice, binary digits or ``@``
_ITEM = re.compile(r"\{\w+:\d+\}|\{?\w+\[\d+(?:(?:\.\.|:)\d+)?\]\}?|0b[01]+|[01]|@")


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
    #: operand -> mask of the operand bits the encoding holds (all of ``widths`` unless
    #: the operand is given as bit slices that leave some out)
    covered: dict[str, int] = None  # type: ignore[assignment]

    def zeros(self, name: str) -> int:
        """Bits of operand ``name`` below its width that no slice places: always zero."""
        return mask(self.widths[name]) & ~(self.covered or {}).get(name, mask(self.widths[name]))

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
        for name in self.widths:
            bad = values[name] & self.zeros(name)
            if bad:
                raise IsaError(f"encoding '{self.text}': operand '{name}' value {values[name]:#x} has bits "
                               f"{bad:#x} set, which the encoding cannot hold (they are always 0)")
        units = list(self.values)
        for s in self.slots:
            units[s.unit] |= ((values[s.operand] >> s.at) & mask(s.bits)) << s.lo
        return units


def parse(text: str, unit_bits: int, endian: str = "little") -> Pattern:
    """Parse a pattern; raises IsaError naming what is wrong."""
    tokens = re.findall(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]|\{\w+:\d+\}|\S+", text)
    masks: list[int] = []
    values: list[int] = []
    slots: list[Slot] = []
    widths: dict[str, int] = {}
    sliced: dict[str, int] = {}  # operand given as slices -> the bits placed so far
    for tok in tokens:
        if tok.startswith("["):
            m, v = _bits_unit(text, tok, unit_bits, len(masks), slots, widths, sliced)
            masks.append(m)
            values.append(v)
        elif tok.startswith("{"):
            name, w = _FIELD.fullmatch(tok).groups()  # type: ignore[union-attr]
            w = int(w)
            if name in sliced:
                raise IsaError(f"encoding '{text}': operand '{name}' is given both as bit slices and as "
                               f"{{{name}:width}} pieces")
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
    covered = {n: sliced.get(n, mask(w)) for n, w in widths.items()}
    return Pattern(text, unit_bits, tuple(masks), tuple(values), tuple(slots), widths, covered)


def _bits_unit(text: str, tok: str, unit_bits: int, k: int, slots: list[Slot], widths: dict[str, int],
               sliced: dict[str, int]) -> tuple[int, int]:
    """One ``[bits]`` unit, most significant bit first: its fixed (mask, value); operand
    pieces are appended to ``slots``, widths and slice coverage updated in place."""
    body = tok[1:-1]
    items = _ITEM.findall(body)
    if "".join(items) != re.sub(r"\s+", "", body):
        raise IsaError(f"encoding '{text}': unit '{tok}' may hold only 0, 1, {{name:width}} fields, "
                       f"name[hi..lo] slices and @")
    parsed: list[tuple[str, int, int]] = []  # (operand or "" for fixed bits, width, operand bit / value)
    sequential = {n for n in widths if n not in sliced}
    for item in items:
        if item == "@":
            continue
        fm = _FIELD.fullmatch(item)
        sm = _SLICE.fullmatch(item)
        if fm:
            name, w = fm.group(1), int(fm.group(2))
            if name in sliced:
                raise IsaError(f"encoding '{text}': operand '{name}' is given both as bit slices and as "
                               f"{{{name}:width}} pieces")
            sequential.add(name)
            parsed.append((name, w, -1))
        elif sm:
            brace, name, hi, lo, close = sm.groups()
            if bool(brace) != bool(close):
                raise IsaError(f"encoding '{text}': unbalanced braces in '{item}'")
            hi_i = int(hi)
            lo_i = hi_i if lo is None else int(lo)
            if lo_i > hi_i:
                raise IsaError(f"encoding '{text}': slice '{item}' must name its high bit first")
            if name in sequential:
                raise IsaError(f"encoding '{text}': operand '{name}' is given both as bit slices and as "
                               f"{{{name}:width}} pieces")
            bits = mask(hi_i - lo_i + 1) << lo_i
            if sliced.get(name, 0) & bits:
                raise IsaError(f"encoding '{text}': bits {hi_i}..{lo_i} of operand '{name}' are placed twice")
            sliced[name] = sliced.get(name, 0) | bits
            parsed.append((name, hi_i - lo_i + 1, lo_i))
        else:
            digits = item[2:] if item.startswith("0b") else item
            parsed.extend(("", 1, int(d)) for d in digits)
    total = sum(w for _, w, _ in parsed)
    if total != unit_bits:
        raise IsaError(f"encoding '{text}': unit '{tok}' has {total} bits, not {unit_bits}")
    pos = unit_bits
    m = v = 0
    for name, w, at in parsed:
        pos -= w
        if not name:
            m |= 1 << pos
            v |= at << pos
        elif at < 0:  # a sequential piece: the operand's next bits
            at = widths.get(name, 0)
            slots.append(Slot(name, k, pos, w, at))
            widths[name] = at + w
        else:
            slots.append(Slot(name, k, pos, w, at))
            widths[name] = max(widths.get(name, 0), at + w)
    return m, v


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
