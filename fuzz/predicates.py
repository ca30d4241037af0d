"""Satisfying a mode or guest-configuration predicate, found once per (ISA, predicate).

A state drawn "in mode u" must satisfy ``isa.modes["u"]`` whatever the ISA. Nothing here
knows which field holds the mode: the predicate is built once with
:class:`~virtcheck.isa.semantics.Builder`, the fields it reads come from
:func:`~virtcheck.isa.flow.field_reads`, and Z3 enumerates the assignments of just those
fields that make it true. When there are few (pg3's ``M == 0`` has one) the set is
*exact* and a generator picks from it; when there are too many to list, the set is a
sample, and a generator draws the fields freely, keeps them if the compiled predicate
holds, and falls back to a listed assignment otherwise. Either way every state satisfies
the predicate, and no solver runs while states are drawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

import z3
from hypothesis.errors import InvalidArgument

from virtcheck.isa.concrete import compiled
from virtcheck.isa.flow import field_reads, has_load
from virtcheck.isa.model import Isa
from virtcheck.isa.semantics import Builder, Effects
from virtcheck.isa.z3backend import SymState, Translator

#: list at most this many assignments; beyond it the list is a sample, not the whole set
MAX_SOLUTIONS = 256
#: Z3 resource limit per check: deterministic, unlike a wall-clock timeout
RLIMIT = 5_000_000

#: ``mode=`` words that are not mode names
GUEST = "guest"
SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class PredicateSpace:
    """The assignments of the fields a predicate reads that make it true."""

    label: str  #: "mode 'u'", "the guest configuration", ...
    fields: tuple[str, ...]  #: the fields the predicate reads, in declaration order
    solutions: tuple[tuple[int, ...], ...]  #: sorted; index 0 is the smallest
    exact: bool  #: True when ``solutions`` is every satisfying assignment
    _check: Callable[..., int]
    _names: tuple[str, ...]  #: every field, in the flat state's order
    _n_memories: int

    def holds(self, values: dict[str, int]) -> bool:
        """Whether the predicate holds for these field values (compiled, no solver)."""
        return self.holds_flat([values[n] for n in self._names])

    def holds_flat(self, S: list[int]) -> bool:
        """Same, on the compiled backend's flat field list (the predicate reads no memory)."""
        return bool(self._check(S, *([None] * self._n_memories)))




def resolve(isa: Isa, mode: Optional[str]) -> Optional[tuple[str, Callable]]:
    """``mode=`` as (label, predicate function), or None for no constraint.

    ``"guest"`` is the guest configuration (``isa.guest``), ``"supervisor"`` the mode
    declared with ``supervisor=True``; any other string must name a declared mode.
    """
    if mode is None:
        return None
    if not isinstance(mode, str):
        raise InvalidArgument(f"mode must be None, 'guest', 'supervisor' or a mode name of ISA '{isa.name}', "
                              f"not {mode!r}")
    if mode == GUEST:
        if isa.guest_fn is None:
            raise InvalidArgument(f"ISA '{isa.name}' declares no guest configuration, so mode='guest' has no meaning")
        return "the guest configuration", isa.guest_fn
    if mode == SUPERVISOR:
        if isa.supervisor is None:
            raise InvalidArgument(f"ISA '{isa.name}' declares no supervisor mode")
        return f"mode '{isa.supervisor}'", isa.modes[isa.supervisor]
    if mode not in isa.modes:
        raise InvalidArgument(
            f"ISA '{isa.name}' has no mode '{mode}' (declared: {', '.join(isa.modes) or 'none'}; "
            f"or use 'guest' or 'supervisor')"
        )
    return f"mode '{mode}'", isa.modes[mode]


def space(isa: Isa, mode: Optional[str]) -> Optional[PredicateSpace]:
    """The (cached) satisfying space of ``mode=``'s predicate; None for no constraint."""
    isa.finalize()
    resolved = resolve(isa, mode)
    if resolved is None:
        return None
    label, fn = resolved
    return isa.derived.fact(("fuzz.space", label), lambda: _build(isa, label, fn))


def _build(isa: Isa, label: str, fn: Callable) -> PredicateSpace:
    from virtcheck.isa.concrete import Layout

    expr = fn(Builder(isa))
    if has_load([expr]):
        raise InvalidArgument(
            f"ISA '{isa.name}': {label} reads memory; states(mode=...) can only satisfy predicates over fields"
        )
    read = field_reads(isa, [expr])
    fields = tuple(n for n in isa.fields if n in read)
    # A fresh Z3 context (as checks.verdict.Session): the sample drawn from must not depend
    # on whatever else this process asked Z3 before.
    ctx = z3.Context()
    base = SymState(isa, "fuzz.")
    sym_fields = {n: v.translate(ctx) for n, v in base.fields.items()}
    solver = z3.Solver(ctx=ctx)
    solver.set("rlimit", RLIMIT)
    solver.add(Translator(base, {}).bool(expr).translate(ctx))
    found: list[tuple[int, ...]] = []
    exact = False
    while len(found) < MAX_SOLUTIONS:
        verdict = solver.check()
        if verdict == z3.unsat:
            exact = True
            break
        if verdict != z3.sat:
            break  # unknown: what was found is a sample, never read as "no more"
        model = solver.model()
        vals = tuple(model.eval(sym_fields[n], model_completion=True).as_long() for n in fields)
        found.append(vals)
        if not fields:
            exact = True
            break
        solver.add(z3.Or(*[sym_fields[n] != v for n, v in zip(fields, vals)]))
    if not found:
        why = "is unsatisfiable" if exact else "could not be satisfied within the solver's budget"
        raise InvalidArgument(f"ISA '{isa.name}': {label} {why}, so no state can be drawn in it")
    c = compiled(isa)
    name = "pred_" + re.sub(r"\W", "_", label)
    check = c.compile_effects(name, Effects(result=expr), [], exits=False, result=True)
    layout = Layout.of(isa)
    return PredicateSpace(label, fields, tuple(sorted(found)), exact, check, layout.names, len(layout.memories))


def fit_space(isa: Isa, size: int) -> PredicateSpace:
    """Assignments of the fields the ISA's partition ``fits`` condition reads that make it
    hold for a ``size``-cell partition (a sample of at most MAX_SOLUTIONS), for drawing
    virtual states a monitor can represent exactly."""
    from virtcheck.isa import expr as E

    isa.finalize()
    if isa.partition_fits_fn is None:
        raise InvalidArgument(f"ISA '{isa.name}' declares no partition fit condition (Isa.partition)")
    w = min(m.addr_width for m in isa.memories.values())
    return isa.derived.fact(("fuzz.fit_space", size), lambda: _build(
        isa, f"the partition fit for {size} cells",
        lambda m: isa.partition_fits_fn(m, E.Const.make(size, w))))  # type: ignore[misc]
