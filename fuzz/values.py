"""The value tables both generators draw from: edge cases first, derived from widths.

Hypothesis strategies (:mod:`virtcheck.fuzz.strategies`) and the seeded hot-loop
generator (:mod:`virtcheck.fuzz.generate`) must draw from the *same* distributions, so a
campaign's findings look like what a property test would find. Both read these tables;
neither hard-codes a value of any particular ISA.

Each table starts with the value shrinking should head to (0, or a field's reset value)
and then lists the values that break arithmetic on purpose: a zero divisor, all ones, the
sign bit and its neighbour, and shift amounts at and around the width.
"""

from __future__ import annotations

from virtcheck.isa.expr import mask
from virtcheck.isa.model import FieldDecl, Isa, MemoryDecl, OperandDecl

#: values drawn from a plain range this small are "small ints" (indices, short offsets)
SMALL = 32
#: the most cells a generated memory sets apart from its default (keeps states readable)
MAX_CELLS = 8


def _dedupe(values: list[int], limit: int) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        if 0 <= v < limit and v not in out:
            out.append(v)
    return tuple(out)


def edge_values(width: int, *, limit: int | None = None, first: int = 0) -> tuple[int, ...]:
    """Edge cases of a ``width``-bit value, ``first`` first, all below ``limit``.

    ``limit`` (exclusive, default ``2**width``) keeps the table inside a narrowed domain.
    """
    m = mask(width)
    sign = 1 << (width - 1)
    raw = [first, 0, 1, m, sign, sign - 1, width - 1, width, width + 1, m - 1, 2]
    return _dedupe([v & m for v in raw], limit if limit is not None else m + 1)


def operand_edges(o: OperandDecl) -> tuple[int, ...]:
    """Edge values inside an operand's domain. A register index has none worth biasing
    toward (every register is alike to the generator), so its table is just ``(0,)``."""
    if o.kind == "reg":
        return (0,)
    return edge_values(o.width, limit=o.domain_size)


def field_edges(isa: Isa, f: FieldDecl) -> tuple[int, ...]:
    """Edge values of a state field, its reset value first.

    Shrinking heads to the power-on state (``isa.reset``) rather than to all zeros, so a
    minimal failing state reads as "the reset state, except ..." -- and a system field at
    its reset value (e.g. a bound covering all memory) keeps programs from trapping on
    their first access for a reason unrelated to what is being tested.
    """
    return edge_values(f.width, first=isa.reset_fields.get(f.name, 0) & mask(f.width))


def address_edges(m: MemoryDecl) -> tuple[int, ...]:
    """Addresses worth setting: the first cells (trap vectors live there) and the last."""
    return _dedupe([0, 1, 2, 3, 4, m.size - 1, m.size - 2, m.size // 2], m.size)


def cell_edges(m: MemoryDecl) -> tuple[int, ...]:
    return edge_values(m.width)


def holds_words(isa: Isa, m: MemoryDecl) -> bool:
    """Whether a cell of ``m`` can hold a whole instruction word (then valid encoded words
    are among its interesting values: a trap vector or jump target then lands on code)."""
    return m.width == isa.word
