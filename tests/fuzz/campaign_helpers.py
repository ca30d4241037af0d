"""Hand-made cases and broken monitors for the oracle tests (imported as ``campaign_helpers``)."""

from __future__ import annotations

from typing import Optional

from virtcheck.fuzz.case import Case
from virtcheck.isa.asm import assemble
from virtcheck.isa.lang import const, ite, ule, ult, zext
from virtcheck.isa.machines import bundled
from virtcheck.isa.model import Isa
from virtcheck.isa.state import MachineState, Memory

MACHINES = bundled()
PG3 = MACHINES["pg3"]


def case(isa: Isa, program: str, *, size: int = 64, budget: Optional[int] = None, memory: Optional[dict] = None,
         **fields: int) -> Case:
    """``program`` (assembly, one instruction a line) from the reset state with ``fields``
    changed, in a ``size``-cell partition; the budget defaults to the program's length."""
    words = assemble(isa, program).words()
    base = {n: 0 for n in isa.fields}
    base.update({"b": 16})
    base.update(fields)
    mems = {n: Memory(0, dict(memory or {})) for n in isa.memories}
    return Case(words, MachineState(base, mems), size, budget if budget is not None else len(words))


def _fits(v, size):
    return ule(zext(v.l, 13) + zext(v.b, 13), zext(size, 13))


def leaky() -> Isa:
    """pg3 whose partition composition forgets to cut the bound: a guest reaches past its partition."""
    isa = PG3.derive("pg3-leaky", doc="pg3 with a monitor bug: the bound is not cut at the partition's end")
    isa.partition(lambda v, base, size: {"M": const(0, 1), "IE": v.IE, "l": base + v.l, "b": v.b}, fits=_fits)
    return isa.finalize()


def tight() -> Isa:
    """pg3 whose partition composition gives the guest one cell too few: correct, but the
    monitor has to emulate loads and stores of the last cell (innocuous instructions)."""
    isa = PG3.derive("pg3-tight", doc="pg3 with an inefficient monitor: the real bound is one short")

    def compose(v, base, size):
        room = ite(ult(v.l, size), size - v.l, const(0, 12))
        fits = _fits(v, size)
        b = ite(fits, v.b, room)
        return {"M": const(0, 1), "IE": v.IE, "l": base + v.l, "b": ite(b == 0, b, b - 1)}

    isa.partition(compose, fits=_fits)
    return isa.finalize()
