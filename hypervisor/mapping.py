"""What a monitor learns from an ISA definition, and nothing else.

* the **map f** from a virtual machine state to the real state that represents it
  (PG's commuting diagram): user fields are equal, system fields are the ISA's declared
  partition composition (``Isa.partition``) of the virtual system state, memory is the
  partition;
* the **monitor's own cells**: the physical cells the ISA's trap semantics read or write
  at constant addresses (pg3: the PSW words and the info word), found in the trap effects,
  so the monitor can keep them out of every guest's reach. Trap semantics that address
  memory through the state (IA-32: the gate at IDTR.base + 8 * vector) use cells the
  composition maps into the guest's own partition; the monitor keeps none for them and
  reflects such a trap by running the semantics over the guest's partition views;
* the **hardware** the real machine runs a partitioned guest with (``Isa.partition``'s
  ``hardware``: the ISA itself unless it abstracts a detail the partition makes visible)
  and the **private** memories each VM gets its own copy of;
* the **reset state**, the **timer** and its enabling predicate.

The expressions are the ISA's own, compiled by the concrete backend's emitter
(`isa.concrete.effects_source`): the map runs twice per trap at every level of a stack,
so it is straight-line Python, not a tree walk. They never run per directly executed
instruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Mapping, Optional, Sequence

from virtcheck.isa import expr as E
from virtcheck.isa.concrete import HELPERS, Layout, effects_source
from virtcheck.isa.errors import IsaError
from virtcheck.isa.evaluator import evaluate
from virtcheck.isa.model import Isa, Role
from virtcheck.isa.semantics import Builder, Effects


class PartitionMemory:
    """``size`` cells of ``backing`` starting at ``base``: a guest's physical memory.

    The guest's memory is exactly its partition: a cell at or past ``size`` reads as 0 and
    ignores writes (only an emulated access through a guest translation that does not fit
    its partition can reach one; the ISA's ``fits`` condition excludes it).
    """

    __slots__ = ("backing", "base", "size", "physical", "offset")

    def __init__(self, backing: Any, base: int, size: int):
        self.backing = backing
        self.base = base
        self.size = size
        # A partition of a partition lies inside it (Monitor.create_vm checks), so every
        # access goes straight to the physical list: one index, however deep the stack.
        if isinstance(backing, PartitionMemory):
            self.physical, self.offset = backing.physical, backing.offset + base
        else:
            self.physical, self.offset = backing, base

    def __getitem__(self, a: int) -> int:
        return self.physical[self.offset + a] if 0 <= a < self.size else 0

    def __setitem__(self, a: int, v: int) -> None:
        if 0 <= a < self.size:
            self.physical[self.offset + a] = v

    def __len__(self) -> int:
        return self.size

    def to_list(self) -> list[int]:
        return list(self.physical[self.offset:self.offset + self.size])

    def load(self, values: Sequence[int]) -> None:
        values = list(values[: self.size])
        self.physical[self.offset:self.offset + len(values)] = values


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
        private = set(isa.partition_private)
        #: (memory index, name) of the memories a partition divides (all but the private ones)
        self.partitioned = [(k, n) for k, n in enumerate(self.layout.memories) if n not in private]
        self.mem_size = min(self.layout.mem_size[k] for k, _ in self.partitioned)
        self._enabled = isa.timer_enabled_fn(Builder(isa)) if isa.timer_enabled_fn is not None else None
        self._addr_mask = E.mask(self._addr_width())
        self._represent: Any = None
        self._entering: Any = None
        self._fits_fn: Any = None
        self._enabled_fn: Any = None

    # --- reset ---------------------------------------------------------------------
    def reset_state(self, entry: int) -> list[int]:
        """The power-on state with the pc at ``entry``."""
        S = [0] * len(self.layout.names)
        for n, v in self.isa.reset_fields.items():
            S[self.layout.index[n]] = v
        S[self.layout.index[self.isa.pc_name]] = entry  # type: ignore[index]
        return S

    # --- what only a monitor needs (derived on first use: a bare machine never asks) ---
    @cached_property
    def reserved(self) -> int:
        """The low physical cells the ISA's trap semantics use at constant addresses
        (`reserved_cells`): the monitor's own."""
        return reserved_cells(self.isa)

    @cached_property
    def trap_reads_state(self) -> bool:
        """The trap semantics address memory through the state (`trap_addresses_computed`):
        a reflected trap runs them over the guest's partition views, not on a copy of the
        low cells."""
        return trap_addresses_computed(self.isa)

    @cached_property
    def hardware(self) -> Isa:
        """The ISA the real machine runs a partitioned guest with (`Isa.partition`'s
        ``hardware``, checked to have this ISA's state and instruction table)."""
        hw = self.isa.partition_hardware
        if hw is None or hw is self.isa:
            return self.isa
        hw.finalize()
        isa = self.isa
        mine = [(n, d.width, d.role) for n, d in isa.fields.items()]
        theirs = [(n, d.width, d.role) for n, d in hw.fields.items()]
        if mine != theirs or [(n, m.addr_width, m.width) for n, m in isa.memories.items()] != \
                [(n, m.addr_width, m.width) for n, m in hw.memories.items()]:
            raise IsaError(f"ISA '{isa.name}': its partition hardware '{hw.name}' declares other state "
                           "(fields, roles or memories differ)")
        if [(i.mnemonic, i.syntax, i.encoding_text, i.opcode) for i in isa.instructions] != \
                [(i.mnemonic, i.syntax, i.encoding_text, i.opcode) for i in hw.instructions]:
            raise IsaError(f"ISA '{isa.name}': its partition hardware '{hw.name}' declares other instructions "
                           "or encodings")
        return hw

    @cached_property
    def _compose(self) -> Optional[list[tuple[int, E.Expr]]]:
        return self._build_compose() if self.isa.partition_fn is not None else None

    @cached_property
    def _fits(self) -> Optional[E.Expr]:
        return self._build_fits() if self.isa.partition_fits_fn is not None else None

    @property
    def can_partition(self) -> bool:
        """The ISA declares how a monitor confines a guest (`Isa.partition`)."""
        return self.isa.partition_fn is not None

    def monitor_refusal(self) -> Optional[str]:
        """Why no trap-and-emulate monitor can run on this ISA, in one line; None if one
        can. Derived from the declarations only: a partition mechanism, and trap
        semantics whose cells the monitor can keep for itself."""
        isa = self.isa
        if not self.can_partition:
            why = (f"ISA '{isa.name}' declares no partition mechanism (isa.partition): a trap-and-emulate "
                   "monitor needs the ISA's own relocation to confine a guest")
            if isa.translate_fn is None:
                why += "; its addresses are physical (no isa.translate), so nothing relocates a guest"
            return why
        try:
            self.reserved
            self._compose
            self.hardware
        except IsaError as exc:
            return str(exc)
        return None

    @property
    def largest_partition(self) -> int:
        """The most cells a partition can have: its size is an address of the memories it
        divides (an ISA whose trap semantics keep no low cells, IA-32, would otherwise
        partition all of memory, one cell more than the size can say)."""
        return (1 << self._addr_width()) - 1

    # --- the map f -------------------------------------------------------------------

    def _addr_width(self) -> int:
        """Address bits of a partition's base and size: those of the memories it divides."""
        return min(self.isa.memories[n].addr_width for _, n in self.partitioned)

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
            raise IsaError(self.monitor_refusal() or "")
        return [(self.layout.names[i], e) for i, e in self._compose]

    def fits_expression(self) -> E.Expr:
        if self._fits is None:
            raise IsaError(self.monitor_refusal() or "")
        return self._fits

    def _function(self, name: str, params: str, eff: Effects, operands: Sequence[str], head: Sequence[str] = (),
                  result: bool = False) -> Callable:
        """Compile ``eff`` over the flat state ``S`` (no memories) into ``name(params)``."""
        body, ns = effects_source(self.layout, eff, {o: o for o in operands}, exits=False,
                                  result_var="r" if result else None)
        lines = [*head, *body] + (["return r"] if result else [])
        src = f"def {name}({params}):\n" + "\n".join("    " + ln for ln in lines or ["pass"]) + "\n"
        ns.update(HELPERS)
        exec(compile(src, f"<virtcheck:{self.isa.name}:{name}>", "exec"), ns)
        return ns[name]

    def represent(self, V: list[int], R: list[int], part: Partition) -> None:
        """Write into ``R`` the real state that runs virtual state ``V`` in ``part``
        (f on the fields: user fields copied, system fields composed)."""
        fn = self._represent
        if fn is None:
            if self._compose is None:
                raise IsaError(self.monitor_refusal() or "")
            writes = {self.layout.names[i]: e for i, e in self._compose}
            fn = self._represent = self._function("represent", "V, S, base, size", Effects(writes=writes),
                                                  ["base", "size"], head=["S[:] = V"])
        m = self._addr_mask
        fn(V, R, part.base & m, part.size & m)

    def entering(self, part: Partition) -> tuple[Callable[[list[int]], tuple], Callable[[list[int], tuple], None]]:
        """f in place, for one partition: ``enter(V) -> saved`` turns the virtual state
        ``V`` into the real state that runs it (user fields are already equal; the system
        fields become the composed ones) and returns the virtual system fields;
        ``leave(V, saved)`` puts them back, keeping what the run did to the user fields.
        A VM runs its guest this way: no state copy per trap, at any depth."""
        if self._entering is None:
            if self._compose is None:
                raise IsaError(self.monitor_refusal() or "")
            slots = "".join(f"S[{i}], " for i in self.system_slots)
            writes = {self.layout.names[i]: e for i, e in self._compose}
            body, ns = effects_source(self.layout, Effects(writes=writes), {"base": "base", "size": "size"},
                                      exits=False)
            lines = [f"saved = ({slots})", *body, "return saved"]
            src = ("def make(base, size):\n    def enter(S):\n" + "".join(f"        {ln}\n" for ln in lines)
                   + f"    return enter\n\ndef leave(S, saved):\n    ({slots}) = saved\n")
            ns.update(HELPERS)
            exec(compile(src, f"<virtcheck:{self.isa.name}:entering>", "exec"), ns)
            self._entering = (ns["make"], ns["leave"])
        make, leave = self._entering
        m = self._addr_mask
        return make(part.base & m, part.size & m), leave

    def fits(self, V: list[int], size: int) -> bool:
        fn = self._fits_fn
        if fn is None:
            fn = self._fits_fn = self._function("fits", "S, size", Effects(result=self.fits_expression()),
                                                ["size"], result=True)
        return bool(fn(V, size & self._addr_mask))

    def predicate(self, expr: E.Expr) -> Callable[[list[int]], bool]:
        """``expr`` (a condition over the state's fields, no memory) compiled into
        ``pred(S)`` over the flat state, true or false as a Python value (a monitor policy's
        gate, `policies`; the caller tests it, so no ``bool()`` per call)."""
        return self._function("predicate", "S", Effects(result=expr), [], result=True)

    # --- timer ----------------------------------------------------------------------
    @property
    def timer_period(self) -> int:
        return self.isa.timer_period if self.isa.timer_cause else 0

    def timer_enabled(self, S: list[int]) -> bool:
        if self._enabled is None:
            return False
        fn = self._enabled_fn
        if fn is None:
            fn = self._enabled_fn = self._function("timer_enabled", "S", Effects(result=self._enabled), [], result=True)
        return bool(fn(S))

    def reference(self) -> "ReferenceMap":
        """The same map, fits and timer predicate by the reference evaluator (for tests)."""
        return ReferenceMap(self)


class ReferenceMap:
    """The map f, ``fits`` and the timer predicate walked by the reference evaluator: the
    obviously-right version the compiled ones in `IsaFacts` are tested against."""

    def __init__(self, f: IsaFacts):
        self.f = f

    def represent(self, V: list[int], R: list[int], part: Partition) -> None:
        f = self.f
        for i in f.user_slots:
            R[i] = V[i]
        view = _FlatState(f.layout, V, ())
        ops = {"base": part.base, "size": part.size}
        for i, e in f._compose or []:
            R[i] = evaluate(e, view, ops)  # type: ignore[arg-type]

    def fits(self, V: list[int], size: int) -> bool:
        view = _FlatState(self.f.layout, V, ())
        return bool(evaluate(self.f.fits_expression(), view, {"size": size}))  # type: ignore[arg-type]

    def timer_enabled(self, S: list[int]) -> bool:
        e = self.f._enabled
        return e is not None and bool(evaluate(e, _FlatState(self.f.layout, S, ()), {}))  # type: ignore[arg-type]


def _trap_addresses(isa: Isa) -> list[E.Expr]:
    out: list[E.Expr] = []
    for eff in isa.trap_effects.values():  # type: ignore[attr-defined]
        out += [s.addr for s in eff.stores]
        for root in eff.roots():
            out += [n.addr for n in E.walk(root) if isinstance(n, E.Load)]
    return out


def reserved_cells(isa: Isa) -> int:
    """How many low physical cells the ISA's trap semantics use at constant addresses
    (their highest + 1): the real ones belong to the monitor, each guest has its own.
    Addresses computed from the state (IA-32's IDT gate at IDTR.base + 8 * vector) name
    no cell of the monitor's: the composition maps the registers they are computed from
    into the guest's partition, and a reflected trap reads the guest's own table there."""
    consts = [a.value for a in _trap_addresses(isa) if isinstance(a, E.Const)]
    return max(consts, default=-1) + 1


def trap_addresses_computed(isa: Isa) -> bool:
    """Some trap semantics address memory through the state, not at a constant."""
    return any(not isinstance(a, E.Const) for a in _trap_addresses(isa))


def facts(isa: Isa) -> IsaFacts:
    """The facts of ``isa``, built once (a fact of ``isa.derived``)."""
    return isa.derived.fact("mapping.facts", lambda: IsaFacts(isa))


Composer = Callable[[list[int], list[int], Partition], None]
