"""Declarations of an ISA: state, roles, modes, causes, operands, instructions.

An :class:`Isa` is built by a definition file (``isa/machines/pg3.py`` or a user's file)
through calls such as ``isa.bank(...)``, ``isa.field(...)`` and the ``@isa.instruction``
decorator. Nothing here executes anything: :mod:`virtcheck.isa.semantics` turns each
instruction's Python function into effects once, and the backends consume those.

Every declaration remembers the file and line that made it, so a problem found later
(at :meth:`Isa.finalize`) is reported where the user can fix it.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass, field as dc_field
from typing import TYPE_CHECKING, Any, Callable, Optional

from virtcheck.isa.errors import IsaError

if TYPE_CHECKING:
    from virtcheck.isa.derived import Derived


class Role(enum.Enum):
    """Who owns a state field (design.md §3)."""

    USER = "user"  #: seen and changed by a program in every mode
    SYSTEM = "system"  #: what a monitor must control


USER = Role.USER
SYSTEM = Role.SYSTEM


class Kind(enum.Enum):
    """Kinds of trap cause (design.md §2)."""

    MEMORY = "memory"  #: bounds / translation fault
    PRIVILEGE = "privilege"  #: the privileged-instruction trap
    CALL = "call"  #: SVC / INT: traps in every mode
    EXCEPTION = "exception"  #: arithmetic and similar


def _caller(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


@dataclass(frozen=True)
class FieldDecl:
    """One scalar state field (a register, flag or control register)."""

    name: str
    width: int
    role: Role
    doc: str = ""
    bank: Optional[str] = None  #: set for the members of a register bank
    where: str = ""


@dataclass(frozen=True)
class BankDecl:
    name: str
    count: int
    width: int
    role: Role
    doc: str = ""
    where: str = ""

    def member(self, i: int) -> str:
        return f"{self.name}{i}"

    @property
    def index_width(self) -> int:
        return max(1, (self.count - 1).bit_length())


@dataclass(frozen=True)
class Part:
    """A field that stands for bits ``hi..lo`` of a composite register."""

    field: str
    hi: int
    lo: int


@dataclass(frozen=True)
class CompositeDecl:
    """A wide register made of separately-roled fields (e.g. EFLAGS: CF user, IF system).

    Bits covered by no part read as ``fixed`` and ignore writes.
    """

    name: str
    width: int
    parts: tuple[Part, ...]
    fixed: int = 0
    where: str = ""


@dataclass(frozen=True)
class MemoryDecl:
    name: str
    addr_width: int
    width: int
    doc: str = ""
    where: str = ""

    @property
    def size(self) -> int:
        return 1 << self.addr_width


@dataclass(frozen=True)
class Cause:
    name: str
    kind: Kind
    code: int
    doc: str = ""


@dataclass(frozen=True)
class OperandDecl:
    """An instruction operand: its domain and where it sits in the encoding.

    ``kind`` is ``reg`` (an index into ``bank``), ``imm`` (an immediate of ``width`` bits,
    ``signed`` in its assembly syntax and when widened) or ``target`` (an address; with
    ``pcrel`` the encoding holds ``target - pc``). ``limit`` (exclusive) narrows the
    domain below the encoding field's ``2**field`` values; the decoder maps an out-of-domain
    field value into the domain, so every word still decodes. ``zeros``: the operand bits
    the encoding leaves out, which every value in the domain has clear.
    """

    name: str
    kind: str
    width: int
    field: int
    signed: bool = False
    pcrel: bool = False
    bank: Optional[str] = None
    limit: Optional[int] = None
    #: bits that are always zero because the encoding does not hold them (a RISC-V branch
    #: offset's bit 0); set at finalize from the encoding's bit slices
    zeros: int = 0

    @property
    def domain_size(self) -> int:
        return self.limit if self.limit is not None else 1 << self.width


def Reg(bank: str) -> dict:
    """Operand spec: a register of ``bank``."""
    return {"kind": "reg", "bank": bank}


def Imm(width: int, *, signed: bool = False, field: Optional[int] = None, limit: Optional[int] = None) -> dict:
    """Operand spec: an immediate of ``width`` bits (``field`` bits in the encoding)."""
    return {"kind": "imm", "width": width, "signed": signed, "field": field, "limit": limit}


def Target(width: int, *, pcrel: bool = False, field: Optional[int] = None) -> dict:
    """Operand spec: a code address (absolute, or relative to the instruction's own pc)."""
    return {"kind": "target", "width": width, "signed": pcrel, "pcrel": pcrel, "field": field}


@dataclass(eq=False)  # identity: its effects hold Exprs
class Instruction:
    """One instruction: mnemonic, operands, encoding, syntax and semantics side by side."""

    mnemonic: str
    syntax: str
    operands: tuple[OperandDecl, ...]
    semantics: Callable[..., Any]
    doc: str
    where: str
    opcode: int = -1
    effects: Any = None  #: set by finalize: a semantics.Effects
    layout: tuple[tuple[str, int, int], ...] = ()  #: (operand, hi, lo) in the word
    encoding_text: Optional[str] = None  #: the declared pattern (ISAs with ``unit``)
    pattern: Any = None  #: set by finalize: an encoding.Pattern
    length: int = 0  #: set by finalize: code-memory cells the instruction occupies

    @property
    def assembly_mnemonic(self) -> str:
        return self.syntax.split()[0]

    def operand(self, name: str) -> OperandDecl:
        for o in self.operands:
            if o.name == name:
                return o
        raise KeyError(name)


ModePredicate = Callable[[Any], Any]


class Isa:
    """An ISA under construction, then finalized and immutable in practice."""

    def __init__(self, name: str, *, word: int, doc: str = "", source: str = "", guest_doc: str = "",
                 unit: Optional[int] = None, endian: str = "little"):
        self.name = name
        self.doc = doc
        self.source = source  #: historical source / citation, shown in reports
        self.word = word  #: instruction word width in bits (fixed-width ISAs); data word otherwise
        #: with ``unit``, instructions declare explicit variable-length encodings
        #: (:mod:`virtcheck.isa.encoding`) made of ``unit``-bit units in ``endian`` order
        self.unit = unit
        self.endian = endian
        self.opcode_width = 6
        self.fields: dict[str, FieldDecl] = {}
        self.banks: dict[str, BankDecl] = {}
        self.composites: dict[str, CompositeDecl] = {}
        self.memories: dict[str, MemoryDecl] = {}
        self.causes: dict[str, Cause] = {}
        self.instructions: list[Instruction] = []
        self.modes: dict[str, ModePredicate] = {}
        self.supervisor: Optional[str] = None
        self.guest_fn: Optional[ModePredicate] = None
        self.guest_doc = guest_doc
        self.pc_name: Optional[str] = None
        self.code_memory: Optional[str] = None
        self.translate_fn: Optional[Callable] = None
        self.trap_fn: Optional[Callable] = None
        # monitor support (hypervisor): see reset(), partition(), timer()
        self.reset_fields: dict[str, int] = {}
        self.partition_fn: Optional[Callable] = None
        self.partition_fits_fn: Optional[Callable] = None
        self.partition_doc = ""
        self.partition_hardware: Optional["Isa"] = None
        self.partition_private: tuple[str, ...] = ()
        self.timer_cause: Optional[str] = None
        self.timer_enabled_fn: Optional[ModePredicate] = None
        self.timer_period = 0
        self.where = _caller(2)
        #: where each declaration that is not a field, bank, memory or instruction was made:
        #: ``mode <name>``, ``guest``, ``translate``, ``on_trap``, ``partition``, ``timer``, ``reset``
        self.declared_at: dict[str, str] = {}
        self._final = False
        self._derived: Optional["Derived"] = None  #: set by finalize
        self.derived_from: Optional[str] = None
        #: how a reference executor realises this ISA (see :meth:`reference`)
        self.references: dict[str, dict] = {}

    # --- state -------------------------------------------------------------------
    def _check_new(self, name: str, what: str) -> None:
        if self._final:
            raise IsaError(f"ISA '{self.name}' is finalized: cannot add {what} '{name}'", where=_caller(3))
        if not name.isidentifier():
            raise IsaError(f"{what} name '{name}' is not an identifier", where=_caller(3))
        taken = set(self.fields) | set(self.banks) | set(self.composites) | set(self.memories)
        if name in taken:
            raise IsaError(f"{what} '{name}' is declared twice", where=_caller(3))

    def field(self, name: str, width: int, role: Role, doc: str = "") -> None:
        """Declare a scalar field of ``width`` bits owned by ``role``."""
        self._check_new(name, "field")
        if not isinstance(role, Role):
            raise IsaError(f"field '{name}': role must be USER or SYSTEM, not {role!r}", where=_caller())
        if width < 1:
            raise IsaError(f"field '{name}': width must be at least 1, not {width}", where=_caller())
        self.fields[name] = FieldDecl(name, width, role, doc, None, _caller())

    def bank(self, name: str, count: int, width: int, role: Role, doc: str = "") -> None:
        """Declare a register bank ``name0 .. name{count-1}``, indexed by register operands."""
        self._check_new(name, "bank")
        where = _caller()
        self.banks[name] = BankDecl(name, count, width, role, doc, where)
        for i in range(count):
            member = f"{name}{i}"
            if member in self.fields:
                raise IsaError(f"bank '{name}' member '{member}' clashes with a field", where=where)
            self.fields[member] = FieldDecl(member, width, role, doc, name, where)

    def composite(self, name: str, width: int, parts: dict[str, tuple[int, int]], fixed: int = 0) -> None:
        """Declare a register that is a view of fields, e.g. ``EFLAGS`` over ``CF``, ``IF``...

        ``parts`` maps an already-declared field to its ``(hi, lo)`` bits.
        """
        self._check_new(name, "composite")
        where = _caller()
        ps = []
        used = 0
        for fname, (hi, lo) in parts.items():
            f = self.fields.get(fname)
            if f is None:
                raise IsaError(f"composite '{name}': part '{fname}' is not a declared field", where=where)
            if hi - lo + 1 != f.width or lo < 0 or hi >= width:
                raise IsaError(
                    f"composite '{name}': part '{fname}' bits [{hi}:{lo}] do not match its width {f.width}"
                    f" inside {width} bits",
                    where=where,
                )
            bits = ((1 << (hi - lo + 1)) - 1) << lo
            if used & bits:
                raise IsaError(f"composite '{name}': part '{fname}' overlaps another part", where=where)
            used |= bits
            ps.append(Part(fname, hi, lo))
        self.composites[name] = CompositeDecl(name, width, tuple(ps), fixed & ~used, where)

    def memory(self, name: str, addr_width: int, width: int, doc: str = "") -> None:
        self._check_new(name, "memory")
        self.memories[name] = MemoryDecl(name, addr_width, width, doc, _caller())
        if self.code_memory is None:
            self.code_memory = name

    def pc(self, name: str, width: int, doc: str = "program counter") -> None:
        """Declare the program counter (a user field): an instruction that does not write it
        advances it by one instruction word."""
        self._check_new(name, "field")
        self.fields[name] = FieldDecl(name, width, USER, doc, None, _caller())
        self.pc_name = name

    def cause(self, name: str, kind: Kind, code: int, doc: str = "") -> Cause:
        if name in self.causes:
            raise IsaError(f"trap cause '{name}' is declared twice", where=_caller())
        if any(c.code == code for c in self.causes.values()):
            raise IsaError(f"trap cause '{name}': code {code} is already used", where=_caller())
        c = Cause(name, kind, code, doc)
        self.causes[name] = c
        return c

    # --- modes and configurations --------------------------------------------------
    def mode(self, name: str, predicate: ModePredicate, *, supervisor: bool = False) -> None:
        """Declare a mode as a predicate over the state (``lambda m: m.M == 1``)."""
        if name in self.modes:
            raise IsaError(f"mode '{name}' is declared twice", where=_caller())
        self.modes[name] = predicate
        self.declared_at[f"mode {name}"] = _caller()
        if supervisor:
            if self.supervisor is not None:
                raise IsaError(f"two supervisor modes: '{self.supervisor}' and '{name}'", where=_caller())
            self.supervisor = name

    def guest(self, predicate: ModePredicate, doc: str) -> None:
        """The guest configuration: the system state a deprivileged guest runs in."""
        self.guest_fn = predicate
        self.guest_doc = doc
        self.declared_at["guest"] = _caller()

    # --- translation and traps -----------------------------------------------------
    def translate(self, fn: Callable) -> Callable:
        """Decorator: ``fn(m, vaddr, units, access) -> (paddr, fault)`` in the language."""
        self.translate_fn = fn
        self.declared_at["translate"] = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"
        return fn

    def on_trap(self, fn: Callable) -> Callable:
        """Decorator: ``fn(m, cause, info)``, the state change a trap makes."""
        self.trap_fn = fn
        self.declared_at["on_trap"] = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"
        return fn

    # --- monitor support ---------------------------------------------------------
    def reset(self, **fields: int) -> None:
        """The state at power-on, for the fields that are not zero (a machine that runs a
        program bare starts here, with the pc at the program's entry)."""
        for name in fields:
            if name not in self.fields:
                raise IsaError(f"reset names undeclared field '{name}'", where=_caller())
        self.reset_fields = dict(fields)
        self.declared_at["reset"] = _caller()

    def partition(self, compose: Callable, *, fits: Callable, doc: str = "", hardware: Optional["Isa"] = None,
                  private: tuple[str, ...] = ()) -> None:
        """How a monitor confines a guest to a partition of physical memory with the ISA's
        own translation.

        ``compose(v, base, size)`` returns, for every ``system`` field, the value the real
        machine holds while it runs a guest whose virtual state is ``v`` in the physical
        cells ``[base, base + size)``: the guest configuration with the guest's virtual
        translation composed with the partition. ``fits(v, size)`` is the 1-bit condition
        under which that composition is exact (the guest's translation stays inside its
        ``size`` cells). Both are written in the language, so the concrete executor and the
        Z3 proofs of the monitor read the same definition.

        ``hardware``: the ISA whose semantics the real machine runs a partitioned guest
        with, when this one abstracts a hardware detail that the partition makes visible
        (IA-32's flat model drops segment bases from operand addresses; a guest relocated
        through segmentation runs with bases that are not 0). It must have this ISA's
        state, instructions and encodings; by default it is this ISA. ``private``: the
        memories a monitor gives each VM a copy of instead of a partition, because the
        guest configuration never reaches them directly (IA-32's I/O ports: IN and OUT
        fault at CPL > IOPL); the monitor's proofs check that no direct run touches them.
        """
        for name in private:
            if name not in self.memories:
                raise IsaError(f"partition: private memory '{name}' is not declared "
                               f"(declared: {', '.join(self.memories) or 'none'})", where=_caller())
        if set(private) >= set(self.memories):
            raise IsaError("partition: at least one memory must be partitioned, not every one private",
                           where=_caller())
        self.partition_fn = compose
        self.partition_fits_fn = fits
        self.partition_doc = doc
        self.partition_hardware = hardware
        self.partition_private = tuple(private)
        self.declared_at["partition"] = _caller()

    def timer(self, cause: Cause | str, *, enabled: ModePredicate, period: int, doc: str = "") -> None:
        """An interval timer outside the instruction semantics: after every ``period``
        completed instructions a ``cause`` trap is pending, and it is taken between two
        instructions as soon as ``enabled`` holds. No instruction reads or writes it, so
        it changes no instruction's classification."""
        name = cause.name if isinstance(cause, Cause) else cause
        if name not in self.causes:
            raise IsaError(f"timer names undeclared cause '{name}'", where=_caller())
        if period < 1:
            raise IsaError(f"timer period must be at least 1, not {period}", where=_caller())
        self.timer_cause = name
        self.timer_enabled_fn = enabled
        self.timer_period = period
        self.declared_at["timer"] = _caller()

    # --- reference machines -------------------------------------------------------
    def reference(self, name: str, spec: dict) -> None:
        """Declare how the reference executor ``name`` (``unicorn``, ``kvm``, ``native``)
        realises this ISA: architecture constants, register ids, how a model state is set
        up on it and read back, and its known limits, as data. ``virtcheck crossval`` and
        :mod:`virtcheck.hypervisor.reference` read it; nothing there names an ISA."""
        if not isinstance(spec, dict):
            raise IsaError(f"reference '{name}': the spec must be a dict, not {type(spec).__name__}",
                           where=_caller())
        self.references[name] = dict(spec)

    # --- instructions ------------------------------------------------------------
    def instruction(self, syntax: str, doc: str = "", *, encoding: Optional[str] = None, **operands: dict) -> Callable:
        """Decorator declaring one instruction form; the function's name identifies it.

        Fixed-width ISAs lay operands out automatically. ISAs declared with ``unit`` give
        each form an ``encoding`` pattern; several forms may share an assembly mnemonic
        (``MOV_r_rm``, ``MOV_rm_r``): the syntax's first word is the mnemonic, and the
        function's name must start with it."""

        def deco(fn: Callable) -> Callable:
            where = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"  # the decorator line
            mnemonic = fn.__name__
            if self._final:
                raise IsaError("ISA is finalized", where=where, instruction=mnemonic)
            if any(i.mnemonic == mnemonic for i in self.instructions):
                raise IsaError("duplicate mnemonic", where=where, instruction=mnemonic)
            ops = tuple(self._operand(mnemonic, where, n, spec) for n, spec in operands.items())
            self.instructions.append(
                Instruction(mnemonic, syntax, ops, fn, (doc or fn.__doc__ or "").strip(), where,
                            encoding_text=encoding)
            )
            return fn

        return deco

    def replace(self, mnemonic: str) -> Callable:
        """Decorator for a derived ISA: give the declared instruction ``mnemonic`` new
        semantics (and, if the function has one, a new docstring), keeping its syntax,
        operands, encoding and place in the table. The MC68010 is the MC68000 with
        ``MOVE from SR`` made privileged: ``@m68010.replace("MOVE_from_SR")``."""

        def deco(fn: Callable) -> Callable:
            where = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"
            if self._final:
                raise IsaError("ISA is finalized", where=where, instruction=mnemonic)
            for k, old in enumerate(self.instructions):
                if old.mnemonic == mnemonic:
                    self.instructions[k] = Instruction(
                        old.mnemonic, old.syntax, old.operands, fn, (fn.__doc__ or old.doc).strip(), where,
                        encoding_text=old.encoding_text)
                    return fn
            raise IsaError(f"replaces undeclared instruction '{mnemonic}'", where=where, instruction=mnemonic)

        return deco

    def _operand(self, mnemonic: str, where: str, name: str, spec: dict) -> OperandDecl:
        kind = spec["kind"]
        if kind == "reg":
            bank = self.banks.get(spec["bank"])
            if bank is None:
                raise IsaError(
                    f"operand '{name}' names register bank '{spec['bank']}', which is not declared"
                    f" (declared: {', '.join(self.banks) or 'none'})",
                    where=where, instruction=mnemonic,
                )
            w = bank.index_width
            limit = bank.count if bank.count != 1 << w else None
            return OperandDecl(name, "reg", w, w, bank=bank.name, limit=limit)
        width = spec["width"]
        fld = spec.get("field") or width
        if width > fld:
            raise IsaError(
                f"operand '{name}' has a {width}-bit domain but only {fld} bits in the encoding",
                where=where, instruction=mnemonic,
            )
        return OperandDecl(
            name, kind, width, fld, signed=spec.get("signed", False), pcrel=spec.get("pcrel", False),
            limit=spec.get("limit"),
        )

    #: attributes that name one ISA object rather than declare the machine: ``derive`` sets
    #: them anew; every other attribute is a declaration and is copied
    _IDENTITY = ("name", "doc", "source", "where", "derived_from", "_final", "_derived")

    def derive(self, name: str, *, doc: str, source: str = "") -> "Isa":
        """A copy of this (unfinalized or finalized) ISA under a new name, to add to.

        Every declaration is copied -- every attribute not in ``_IDENTITY``, whatever it is,
        so a declaration added to :class:`Isa` later cannot be dropped here by oversight
        (``tests/core/test_derive.py`` compares them all). Containers are copied one level
        deep so the new ISA can add to them; instructions are re-declared without what
        finalize derived from them (opcode, effects, layout), which the copy derives anew.
        """
        new = Isa.__new__(Isa)
        for attr, value in vars(self).items():
            if attr in self._IDENTITY:
                continue
            if attr == "instructions":
                value = [Instruction(i.mnemonic, i.syntax, i.operands, i.semantics, i.doc, i.where,
                                     encoding_text=i.encoding_text) for i in value]
            elif attr == "references":
                value = {k: dict(v) for k, v in value.items()}
            elif isinstance(value, (dict, list, set)):
                value = type(value)(value)
            setattr(new, attr, value)
        new.name, new.doc, new.source = name, doc, source
        new.where = _caller()
        new.derived_from = self.name
        new._final, new._derived = False, None
        return new

    # --- derived views -----------------------------------------------------------
    def field_names(self) -> list[str]:
        return list(self.fields)

    def role_fields(self, role: Role) -> list[str]:
        return [f.name for f in self.fields.values() if f.role is role]

    def by_mnemonic(self, mnemonic: str) -> Instruction:
        for i in self.instructions:
            if i.mnemonic.lower() == mnemonic.lower():
                return i
        raise KeyError(mnemonic)

    @property
    def pc_field(self) -> FieldDecl:
        assert self.pc_name is not None
        return self.fields[self.pc_name]

    @property
    def cells_per_unit(self) -> int:
        """Code-memory cells in one encoding unit (M68000: 16-bit words in byte memory = 2)."""
        return (self.unit or self.word) // self.memories[self.code_memory].width  # type: ignore[index]

    @property
    def variable(self) -> bool:
        """Instructions carry their own (variable-length) encodings."""
        return self.unit is not None

    @property
    def units_per_word(self) -> int:
        """Memory cells one instruction word occupies in the code memory (fixed-width ISAs)."""
        return self.word // self.memories[self.code_memory].width  # type: ignore[index]

    def finalize(self) -> "Isa":
        """Validate everything and build every instruction's effects (once)."""
        if self._final:
            return self
        from virtcheck.isa.validate import finalize

        self._derived = finalize(self)
        self._final = True
        return self

    @property
    def derived(self) -> "Derived":
        """Everything the declarations imply, built once by :meth:`finalize` (finalizing
        now if that has not happened): :class:`virtcheck.isa.derived.Derived`."""
        if self._derived is None:
            self.finalize()
        return self._derived  # type: ignore[return-value]

    # Read-only views of the derived object, for the executors that read them on every build.
    @property
    def trap_effects(self) -> dict[str, Any]:
        """Cause name -> trap entry effects (``derived.trap_effects``)."""
        return self.derived.trap_effects

    @property
    def fetch_effects(self) -> Any:
        """The fetch through the translation, as effects (``derived.fetch_effects``)."""
        return self.derived.fetch_effects

    @property
    def decoder(self) -> Any:
        """The variable-length decoder (``derived.decoder``; None for fixed-width ISAs)."""
        return self.derived.decoder

    @property
    def final(self) -> bool:
        return self._final

    def __repr__(self) -> str:
        return f"<Isa {self.name}: {len(self.instructions)} instructions>"
