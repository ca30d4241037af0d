"""Turning an instruction's Python function into data: its *effects*.

An instruction's semantics function runs exactly once, at finalize time, against a
:class:`Builder` (conventionally ``m``). Reading ``m.r[rs]`` or ``m.M`` yields expressions
over the *pre-state*; ``m.r[rd] = ...``, ``m.set(...)``, ``m.store(...)``, ``m.trap_if(...)``
and ``m.halt()`` are recorded. The result, :class:`Effects`, is what every backend runs:

* ``exits`` in program order: the first whose condition holds decides the outcome (a
  trap with its cause and info, or a halt); a trap or halt discards every write;
* otherwise the step completes (``ok``): all writes and stores take effect together. A
  field written twice keeps the last value; stores apply in order.

Reads always see the pre-state, so the order of ``set`` calls never changes what a
later expression means -- the property that lets one tree serve Z3 and Python alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Optional

from virtcheck.isa import expr as E
from virtcheck.isa.errors import IsaError
from virtcheck.isa.expr import Expr
from virtcheck.isa.model import Cause, Isa


@dataclass(frozen=True, eq=False)  # holds Exprs: identity, never Expr.__eq__
class Exit:
    """A way out of a step: ``cause`` is None for a halt."""

    cond: Expr
    cause: Optional[Cause]
    info: Expr


@dataclass(frozen=True, eq=False)  # holds Exprs: identity, never Expr.__eq__
class BankWrite:
    bank: str
    index: Expr
    value: Expr


@dataclass(frozen=True, eq=False)  # holds Exprs: identity, never Expr.__eq__
class Store:
    memory: str
    addr: Expr
    value: Expr


@dataclass(frozen=True, eq=False)  # holds Exprs: identity, never Expr.__eq__
class Access:
    """A memory access through translation: what a guest 'sees' of memory."""

    vaddr: Expr
    units: int
    kind: str  #: "read" | "write"
    memory: str


@dataclass(eq=False)
class Effects:
    """What one step does, as data."""

    exits: list[Exit] = dc_field(default_factory=list)
    writes: dict[str, Expr] = dc_field(default_factory=dict)
    bank_writes: list[BankWrite] = dc_field(default_factory=list)
    stores: list[Store] = dc_field(default_factory=list)
    result: Optional[Expr] = None  #: a returned value (translation: the physical address)
    accesses: list["Access"] = dc_field(default_factory=list)  #: virtual accesses, in order

    def roots(self) -> list[Expr]:
        """Every expression the effects mention (for traversals)."""
        out: list[Expr] = []
        for x in self.exits:
            out += [x.cond, x.info]
        out += list(self.writes.values())
        for w in self.bank_writes:
            out += [w.index, w.value]
        for s in self.stores:
            out += [s.addr, s.value]
        if self.result is not None:
            out.append(self.result)
        out += [a.vaddr for a in self.accesses]
        return out


class _BankView:
    """``m.r[i]`` reads, ``m.r[i] = v`` writes a register of a bank."""

    __slots__ = ("_m", "_bank")

    def __init__(self, m: "Builder", bank: str):
        object.__setattr__(self, "_m", m)
        object.__setattr__(self, "_bank", bank)

    def _index(self, i) -> Expr:
        decl = self._m.isa.banks[self._bank]
        if isinstance(i, int):
            if not 0 <= i < decl.count:
                raise IsaError(f"register {self._bank}{i} does not exist (bank has {decl.count})")
            return E.const(i, decl.index_width)
        if not isinstance(i, Expr):
            raise IsaError(f"register index must be an operand or int, not {i!r}")
        if i.width != decl.index_width:
            i = E.resize(i, decl.index_width)
        return i

    def __getitem__(self, i) -> Expr:
        decl = self._m.isa.banks[self._bank]
        idx = self._index(i)
        if isinstance(idx, E.Const):
            return E.Field.make(decl.member(idx.value), decl.width)
        return E.RegRead.make(self._bank, decl.width, idx)

    def __setitem__(self, i, value) -> None:
        decl = self._m.isa.banks[self._bank]
        v = self._m._fit(f"{self._bank}[{i}]", value, decl.width)
        self._m._effects.bank_writes.append(BankWrite(self._bank, self._index(i), v))


class Builder:
    """The ``m`` an instruction's semantics is written against."""

    def __init__(self, isa: Isa, *, allow_phys: bool = False, length: int = 0):
        object.__setattr__(self, "isa", isa)
        object.__setattr__(self, "_length", length)  # cells of the instruction being built
        object.__setattr__(self, "_effects", Effects())
        object.__setattr__(self, "_allow_phys", allow_phys)

    # --- reads ---------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        isa = object.__getattribute__(self, "isa")
        if name in isa.banks:
            return _BankView(self, name)
        f = isa.fields.get(name)
        if f is not None:
            return E.Field.make(name, f.width)
        c = isa.composites.get(name)
        if c is not None:
            return self._read_composite(name)
        raise IsaError(f"reads undeclared field '{name}' (declared: {self._declared()})")

    def _declared(self) -> str:
        isa = self.isa
        names = [n for n, f in isa.fields.items() if f.bank is None]
        names += [f"{b.name}0-{b.name}{b.count - 1}" for b in isa.banks.values()]
        names += list(isa.composites)
        return ", ".join(names)

    def read(self, name: str) -> Expr:
        return getattr(self, name)

    def _read_composite(self, name: str) -> Expr:
        c = self.isa.composites[name]
        out: Expr = E.const(c.fixed, c.width)
        for p in c.parts:
            f = self.isa.fields[p.field]
            out = out | (E.zext(E.Field.make(p.field, f.width), c.width) << p.lo)
        return out

    @property
    def pc(self) -> Expr:
        return E.Field.make(self.isa.pc_name, self.isa.pc_field.width)

    @property
    def next_pc(self) -> Expr:
        """The address after this instruction (its own length for variable-length ISAs)."""
        return self.pc + (self._length or self.isa.units_per_word)

    def rel(self, offset: Expr) -> Expr:
        """The address ``offset`` (a signed operand) away from this instruction's pc."""
        return self.pc + E.sext(offset, self.isa.pc_field.width) if offset.width < self.isa.pc_field.width \
            else self.pc + E.resize(offset, self.isa.pc_field.width)

    def in_mode(self, mode: str) -> Expr:
        if mode not in self.isa.modes:
            raise IsaError(f"unknown mode '{mode}' (declared: {', '.join(self.isa.modes)})")
        return self.isa.modes[mode](self)

    # --- writes --------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        self.set(name, value)

    def _fit(self, what: str, value: Any, width: int) -> Expr:
        v = E.lift(value, width)
        if v.width != width:
            raise IsaError(
                f"writes {v.width} bits to {what}, which has {width} bits (use zext/sext/extract)"
            )
        return v

    def set(self, name: str, value: Any) -> None:
        isa = self.isa
        if name in isa.composites:
            c = isa.composites[name]
            v = self._fit(name, value, c.width)
            for p in c.parts:
                self._effects.writes[p.field] = E.Extract.make(p.hi, p.lo, v)
            return
        f = isa.fields.get(name)
        if f is None:
            raise IsaError(f"writes undeclared field '{name}' (declared: {self._declared()})")
        self._effects.writes[name] = self._fit(name, value, f.width)

    def set_if(self, cond: Expr, name: str, value: Any) -> None:
        current = self._effects.writes.get(name)
        if current is None:
            current = self._read_composite(name) if name in self.isa.composites else self.read(name)
        width = current.width
        self.set(name, E.ite(cond, self._fit(name, value, width), current))

    # --- memory --------------------------------------------------------------------
    def _memory(self, memory: Optional[str]):
        from virtcheck.isa.model import MemoryDecl

        if isinstance(memory, MemoryDecl):  # a declaration object: it must be this ISA's own
            if self.isa.memories.get(memory.name) != memory:
                raise IsaError(f"uses memory '{memory.name}' of another ISA object (name this ISA's memories "
                               f"by their names: {', '.join(self.isa.memories)})")
            memory = memory.name
        name = memory or self.isa.code_memory
        mem = self.isa.memories.get(name) if isinstance(name, str) else None
        if mem is None:
            raise IsaError(f"uses undeclared memory '{name}' (declared: {', '.join(self.isa.memories) or 'none'})")
        return mem

    def translate(self, vaddr: Expr, units: int = 1, access: str = "read", memory: Optional[str] = None) -> Expr:
        """The physical address of ``vaddr``; the translation's faults become exits here."""
        mem = self._memory(memory)
        if self.isa.translate_fn is None:
            return E.resize(vaddr, mem.addr_width)
        paddr = self.isa.translate_fn(self, vaddr, units, access)
        if not isinstance(paddr, Expr):
            paddr = E.lift(paddr, mem.addr_width)
        if paddr.width != mem.addr_width:
            raise IsaError(f"translation returns {paddr.width} bits; memory '{mem.name}' has {mem.addr_width}-bit addresses")
        return paddr

    def load(self, vaddr: Any, *, units: int = 1, memory: Optional[str] = None, access: str = "read") -> Expr:
        """Read ``units`` cells at virtual ``vaddr`` (little-endian when more than one).
        ``access`` is what the translation is told (an ISA may define its own kinds, e.g. an
        unprivileged read); the access counts as a read of what the guest sees."""
        mem = self._memory(memory)
        vaddr = E.lift(vaddr, mem.addr_width)
        self._effects.accesses.append(Access(vaddr, units, "read", mem.name))
        paddr = self.translate(vaddr, units, access, mem.name)
        return self.phys_load(paddr, units=units, memory=mem.name)

    def store(self, vaddr: Any, value: Any, *, units: int = 1, memory: Optional[str] = None,
              access: str = "write") -> None:
        mem = self._memory(memory)
        vaddr = E.lift(vaddr, mem.addr_width)
        self._effects.accesses.append(Access(vaddr, units, "write", mem.name))
        paddr = self.translate(vaddr, units, access, mem.name)
        self.phys_store(paddr, value, units=units, memory=mem.name)

    def phys_load(self, paddr: Any, *, units: int = 1, memory: Optional[str] = None) -> Expr:
        """Read physical memory, bypassing translation (trap entry, table walks)."""
        mem = self._memory(memory)
        paddr = E.lift(paddr, mem.addr_width)
        parts = [E.Load.make(mem.name, mem.width, paddr + k if k else paddr) for k in range(units)]
        return E.concat(*reversed(parts))

    def phys_store(self, paddr: Any, value: Any, *, units: int = 1, memory: Optional[str] = None) -> None:
        mem = self._memory(memory)
        paddr = E.lift(paddr, mem.addr_width)
        v = self._fit(f"memory '{mem.name}'", value, mem.width * units)
        for k in range(units):
            part = E.Extract.make(mem.width * (k + 1) - 1, mem.width * k, v) if units > 1 else v
            self._effects.stores.append(Store(mem.name, paddr + k if k else paddr, part))

    # --- exits ---------------------------------------------------------------------
    def _cause(self, cause: Any) -> Cause:
        if isinstance(cause, Cause):
            if self.isa.causes.get(cause.name) != cause:  # another ISA's: its code and kind may differ here
                mine = self.isa.causes.get(cause.name)
                hint = (f"this ISA's '{cause.name}' is {mine.kind.value} code {mine.code}" if mine else
                        f"this ISA declares {', '.join(self.isa.causes) or 'none'}")
                raise IsaError(f"traps with cause '{cause.name}' ({cause.kind.value} code {cause.code}) of another "
                               f"ISA object ({hint})")
            return cause
        c = self.isa.causes.get(cause) if isinstance(cause, str) else None
        if c is None:
            raise IsaError(f"traps with undeclared cause '{cause}' (declared: {', '.join(self.isa.causes) or 'none'})")
        return c

    def trap_if(self, cond: Expr, cause: Any, info: Any = 0) -> None:
        if not isinstance(cond, Expr) or cond.width != 1:
            raise IsaError(f"trap_if needs a 1-bit condition, got {cond!r}")
        self._effects.exits.append(Exit(cond, self._cause(cause), self._info(info)))

    def trap(self, cause: Any, info: Any = 0) -> None:
        self.trap_if(E.TRUE, cause, info)

    def halt_if(self, cond: Expr) -> None:
        self._effects.exits.append(Exit(cond, None, E.const(0, self.isa.word)))

    def halt(self) -> None:
        self.halt_if(E.TRUE)

    def _info(self, info: Any) -> Expr:
        v = E.lift(info, self.isa.word)
        return E.resize(v, self.isa.word)


def build(isa: Isa, fn, *args: Any, length: int = 0) -> Effects:
    """Run a semantics function once against a fresh builder and return its effects."""
    m = Builder(isa, length=length)
    result = fn(m, *args)
    eff = m._effects
    if isinstance(result, Expr):
        eff.result = result
    return eff


def operand_exprs(instr) -> list[Expr]:
    return [E.Operand.make(o.name, o.width) for o in instr.operands]
