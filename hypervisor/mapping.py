"""What a monitor learns from an ISA definition, and nothing else.

* the **map f** from a virtual machine state to the real state that represents it
  (PG's commuting diagram): user fields are equal, system fields are the ISA's declared
  partition composition (``Isa.partition``) of the virtual system state, memory is the
  partition;
* the **monitor's own cells**: the physical cells the ISA's trap semantics read or write
  (pg3: the PSW words and the info word), found in the trap effects, so the monitor can
  keep them out of every guest's reach;
* the **reset state**, the **timer** and its enabling predicate.

The expressions are the ISA's own, evaluated by the reference evaluator: they run once per
trap or world switch, never per directly executed instruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from virtcheck.isa import expr as E
from virtcheck.isa.concrete import Layout
from virtcheck.isa.errors import IsaError
from virtcheck.isa.evaluator import evaluate
from virtcheck.isa.model import Isa, Role
from virtcheck.isa.semantics import Builder


class PartitionMemory:
    """``size`` cells of ``backing`` starting at ``base``: a guest's physical memory.

    The guest's memory is exactly its partition: a cell at or past ``size`` reads as 0 and
    ignores writes (only an emulated access through a guest translation that does not fit
    its partition can reach one; the ISA's ``fits`` condition excludes it).
    """

    __slots__ = ("backing", "base", "size")

    def __init__(self, backing: Any, base: int, size: int):
        self.backing = backing
        self.base = base
        self.size = size

    def __getitem__(self, a: int) -> int:
        return self.backing[self.base + a] if 0 <= a < self.size else 0

    def __setitem__(self, a: int, v: int) -> None:
        if 0 <= a < self.size:
            self.backing[self.base + a] = v

    def __len__(self) -> int:
        return self.size

    def to_list(self) -> list[int]:
        return [self.backing[self.base + a] for a in range(self.size)]

    def load(self, values: Sequence[int]) -> None:
        for a, v in enumerate(values[: self.size]):
            self.backing[self.base + a] = v


@dataclass(frozen=True)
class Partition:
    """Cells ``[base, base + size)`` of the executor below, one per memory of the ISA."""

    base: int
    size: int

    @property
    def end(self) -> int:
        return self.base + self.size


class _FlatState:
    """A flat state list seen as the reference evaluator's ``state.fields[...]``."""

    __slots__ = ("fields", "memories")

    def __init__(self, layout: Layout, S: list[int], mems: Sequence[Any]):
        self.fields = _Fields(layout.index, S)
        self.memories = dict(zip(layout.memories, mems))


class _Fields:
    __slots__ = ("index", "S")

    def __init__(self, index: Mapping[str, int], S: list[int]):
        self.index, self.S = index, S

    def __getitem__(self, name: str) -> int:
        return self.S[self.index[name]]


class IsaFacts:
    """Everything about one ISA that a monitor or executor uses, derived once."""

    def __init__(self, isa: Isa):
        isa.finalize()
        self.isa = isa
        self.layout = Layout.of(isa)
        ix = self.layout.index
        self.user_slots = [ix[n] for n in isa.role_fields(Role.USER)]
        self.system_slots = [ix[n] for n in isa.role_fields(Role.SYSTEM)]
        self.reserved = reserved_cells(isa)
        self.mem_size = min(self.layout.mem_size)
        self._compose = self._build_compose() if isa.partition_fn is not None else None
        self._fits = self._build_fits() if isa.partition_fits_fn is not None else None
        self._enabled = isa.timer_enabled_fn(Builder(isa)) if isa.timer_enabled_fn is not None else None

    # --- reset ---------------------------------------------------------------------
    def reset_state(self, entry: int) -> list[int]:
        """The power-on state with the pc at ``entry``."""
        S = [0] * len(self.layout.names)
        for n, v in self.isa.reset_fields.items():
            S[self.layout.index[n]] = v
        S[self.layout.index[self.isa.pc_name]] = entry  # type: ignore[index]
        return S

    # --- the map f -------------------------------------------------------------------
    @property
    def can_partition(self) -> bool:
        return self._compose is not None

    def _addr_width(self) -> int:
        return min(m.addr_width for m in self.isa.memories.values())

    def _build_compose(self) -> list[tuple[int, E.Expr]]:
        isa = self.isa
        w = self._addr_width()
        base, size = E.Operand.make("base", w), E.Operand.make("size", w)
        out = isa.partition_fn(Builder(isa), base, size)  # type: ignore[misc]
        system = set(isa.role_fields(Role.SYSTEM))
        if set(out) != system:
            raise IsaError(
                f"ISA '{isa.name}': the partition composition must give every system field "
                f"(missing: {', '.join(sorted(system - set(out))) or 'none'}; "
                f"extra: {', '.join(sorted(set(out) - system)) or 'none'})")
        return [(self.layout.index[n], E.resize(E.lift(v, isa.fields[n].width), isa.fields[n].width))
                for n, v in out.items()]

    def _build_fits(self) -> E.Expr:
        w = self._addr_width()
        return self.isa.partition_fits_fn(Builder(self.isa), E.Operand.make("size", w))  # type: ignore[misc]

    def compose_expressions(self) -> list[tuple[str, E.Expr]]:
        """(system field, expression over the virtual state and operands base, size)."""
        if self._compose is None:
            raise IsaError(f"ISA '{self.isa.name}' declares no partition composition (Isa.partition)")
        return [(self.layout.names[i], e) for i, e in self._compose]

    def fits_expression(self) -> E.Expr:
        if self._fits is None:
            raise IsaError(f"ISA '{self.isa.name}' declares no partition fit condition (Isa.partition)")
        return self._fits

    def represent(self, V: list[int], R: list[int], part: Partition) -> None:
        """Write into ``R`` the real state that runs virtual state ``V`` in ``part``
        (f on the fields: user fields copied, system fields composed)."""
        if self._compose is None:
            raise IsaError(f"ISA '{self.isa.name}' declares no partition composition (Isa.partition)")
        for i in self.user_slots:
            R[i] = V[i]
        view = _FlatState(self.layout, V, ())
        ops = {"base": part.base, "size": part.size}
        for i, e in self._compose:
            R[i] = evaluate(e, view, ops)  # type: ignore[arg-type]

    def fits(self, V: list[int], size: int) -> bool:
        return bool(evaluate(self.fits_expression(), _FlatState(self.layout, V, ()), {"size": size}))  # type: ignore[arg-type]

    # --- timer ----------------------------------------------------------------------
    @property
    def timer_period(self) -> int:
        return self.isa.timer_period if self.isa.timer_cause else 0

    def timer_enabled(self, S: list[int]) -> bool:
        return self._enabled is not None and bool(evaluate(self._enabled, _FlatState(self.layout, S, ()), {}))  # type: ignore[arg-type]


def reserved_cells(isa: Isa) -> int:
    """How many low physical cells the ISA's trap semantics use (their highest constant
    address + 1): the real ones belong to the monitor, each guest has its own."""
    top = -1
    for eff in isa.trap_effects.values():  # type: ignore[attr-defined]
        addrs = [s.addr for s in eff.stores]
        for root in eff.roots():
            addrs += [n.addr for n in E.walk(root) if isinstance(n, E.Load)]
        for a in addrs:
            if not isinstance(a, E.Const):
                raise IsaError(f"ISA '{isa.name}': trap semantics use a computed physical address; "
                               "a monitor cannot tell which cells to keep for itself")
            top = max(top, a.value)
    return top + 1


_facts: dict[int, IsaFacts] = {}


def facts(isa: Isa) -> IsaFacts:
    """The (cached) facts of ``isa``."""
    f = _facts.get(id(isa))
    if f is None or f.isa is not isa:
        f = _facts[id(isa)] = IsaFacts(isa)
    return f


Composer = Callable[[list[int], list[int], Partition], None]
