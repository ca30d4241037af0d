"""The bit-vector expression language every instruction's semantics is written in.

One tree drives every backend (Z3, compiled Python, the reference evaluator), so the
meaning of each operator -- including its edge cases -- is fixed *here*, once:

* ``UDIV`` by zero is all ones and ``UREM`` by zero is the dividend (Z3's and RISC-V's
  choice); ``SDIV``/``SREM`` follow Z3's ``bvsdiv``/``bvsrem`` (truncating, same zero rule
  on magnitudes).
* Shifts take the amount as an unsigned number of the value's width; an amount >= width
  gives 0 for ``SHL``/``LSHR`` and the sign fill for ``ASHR``.
* Comparisons yield a 1-bit vector; a 1-bit vector is the only thing ``ite`` accepts as a
  condition.

Nodes are interned (building the same expression twice yields the same object) and
check their widths when built. Symbolic values refuse Python truthiness, because an
``if`` on a symbolic value would silently pick one branch for every state.
"""

from __future__ import annotations

import enum
from typing import Iterator, Optional, Union

from virtcheck.isa.errors import IsaError

IntOrExpr = Union[int, "Expr"]


class Op(enum.Enum):
    """Operators, declared as data: arity and the width rule live beside the name."""

    # binary, result has the operands' width
    ADD = "+"
    SUB = "-"
    MUL = "*"
    UDIV = "udiv"
    UREM = "urem"
    SDIV = "sdiv"
    SREM = "srem"
    AND = "&"
    OR = "|"
    XOR = "^"
    SHL = "<<"
    LSHR = ">>u"
    ASHR = ">>s"
    # binary, 1-bit result
    EQ = "=="
    NE = "!="
    ULT = "<u"
    ULE = "<=u"
    SLT = "<s"
    SLE = "<=s"
    # unary, result has the operand's width
    NOT = "~"
    NEG = "neg"

    @property
    def is_compare(self) -> bool:
        return self in _COMPARE

    @property
    def is_unary(self) -> bool:
        return self in (Op.NOT, Op.NEG)


_COMPARE = frozenset({Op.EQ, Op.NE, Op.ULT, Op.ULE, Op.SLT, Op.SLE})

_interned: dict[tuple, "Expr"] = {}


def _intern(cls, key: tuple, *init):
    # Children are keyed by identity: Expr.__eq__ builds a term, it does not compare.
    full = (cls,) + tuple(("#", id(k)) if isinstance(k, Expr) else k for k in key)
    node = _interned.get(full)
    if node is None:
        node = object.__new__(cls)
        node._setup(*init)
        _interned[full] = node
    return node


def mask(width: int) -> int:
    return (1 << width) - 1


class Expr:
    """A bit-vector term of a fixed width. Subclasses are the node kinds."""

    __slots__ = ("width", "__weakref__")
    width: int

    def children(self) -> tuple["Expr", ...]:
        return ()

    # --- refuse truthiness -------------------------------------------------------
    def __bool__(self) -> bool:
        raise IsaError(
            f"a symbolic value ({self}) has no Python truth value: the condition depends on the "
            "machine state, so write it with ite(cond, a, b), m.trap_if(cond, cause) or "
            "m.set_if(cond, field, value) instead of 'if'/'and'/'or'"
        )

    def __hash__(self) -> int:  # interned: identity is equality
        return id(self)

    def __iter__(self):
        raise IsaError(f"a symbolic value ({self}) cannot be iterated")

    # --- operator sugar ----------------------------------------------------------
    def _bin(self, op: Op, other: IntOrExpr, swap: bool = False) -> "Expr":
        other = lift(other, self.width)
        return BinOp.make(op, other, self) if swap else BinOp.make(op, self, other)

    def __add__(self, o): return self._bin(Op.ADD, o)
    def __radd__(self, o): return self._bin(Op.ADD, o, True)
    def __sub__(self, o): return self._bin(Op.SUB, o)
    def __rsub__(self, o): return self._bin(Op.SUB, o, True)
    def __mul__(self, o): return self._bin(Op.MUL, o)
    def __rmul__(self, o): return self._bin(Op.MUL, o, True)
    def __and__(self, o): return self._bin(Op.AND, o)
    def __rand__(self, o): return self._bin(Op.AND, o, True)
    def __or__(self, o): return self._bin(Op.OR, o)
    def __ror__(self, o): return self._bin(Op.OR, o, True)
    def __xor__(self, o): return self._bin(Op.XOR, o)
    def __rxor__(self, o): return self._bin(Op.XOR, o, True)
    def __lshift__(self, o): return self._bin(Op.SHL, o)
    def __rshift__(self, o): return self._bin(Op.LSHR, o)  # unsigned, on purpose
    def __invert__(self): return UnOp.make(Op.NOT, self)
    def __neg__(self): return UnOp.make(Op.NEG, self)
    def __eq__(self, o): return self._bin(Op.EQ, o)  # type: ignore[override]
    def __ne__(self, o): return self._bin(Op.NE, o)  # type: ignore[override]

    def __lt__(self, o):
        raise IsaError("'<' on bit-vectors is ambiguous: use ult(a, b) or slt(a, b)")
    __le__ = __gt__ = __ge__ = __lt__

    def __getitem__(self, key) -> "Expr":
        """``e[7:0]`` extracts bits 7..0 (hardware order, both inclusive); ``e[3]`` one bit."""
        if isinstance(key, slice):
            if key.step is not None:
                raise IsaError("bit slices take no step")
            return Extract.make(key.start, key.stop, self)
        return Extract.make(key, key, self)

    def __repr__(self) -> str:
        return self.__str__()


class Const(Expr):
    __slots__ = ("value",)

    @staticmethod
    def make(value: int, width: int) -> "Const":
        if width < 1:
            raise IsaError(f"constant {value} needs a width of at least 1, not {width}")
        if not -(1 << (width - 1)) <= value <= mask(width) and not (width == 1 and value in (0, 1)):
            raise IsaError(f"constant {value} does not fit in {width} bits")
        return _intern(Const, (value & mask(width), width), value & mask(width), width)

    def _setup(self, value: int, width: int) -> None:
        self.value = value
        self.width = width

    def __str__(self) -> str:
        return f"{self.value:#x}:{self.width}" if self.value > 9 else f"{self.value}:{self.width}"


class Field(Expr):
    """A read of a named state field (register, flag, control register) in the pre-state."""

    __slots__ = ("name",)

    @staticmethod
    def make(name: str, width: int) -> "Field":
        return _intern(Field, (name, width), name, width)

    def _setup(self, name: str, width: int) -> None:
        self.name = name
        self.width = width

    def __str__(self) -> str:
        return self.name


class RegRead(Expr):
    """A read of a register bank at an index expression (usually an operand)."""

    __slots__ = ("bank", "index")

    @staticmethod
    def make(bank: str, width: int, index: Expr) -> "RegRead":
        return _intern(RegRead, (bank, width, index), bank, width, index)

    def _setup(self, bank: str, width: int, index: Expr) -> None:
        self.bank = bank
        self.width = width
        self.index = index

    def children(self):
        return (self.index,)

    def __str__(self) -> str:
        return f"{self.bank}[{self.index}]"


class Operand(Expr):
    """An instruction operand's value: symbolic in proofs, bound when the word is decoded."""

    __slots__ = ("name",)

    @staticmethod
    def make(name: str, width: int) -> "Operand":
        return _intern(Operand, (name, width), name, width)

    def _setup(self, name: str, width: int) -> None:
        self.name = name
        self.width = width

    def __str__(self) -> str:
        return f"${self.name}"


class Load(Expr):
    """A read of physical memory. Translation happens before, in the builder (m.load)."""

    __slots__ = ("memory", "addr")

    @staticmethod
    def make(memory: str, width: int, addr: Expr) -> "Load":
        return _intern(Load, (memory, width, addr), memory, width, addr)

    def _setup(self, memory: str, width: int, addr: Expr) -> None:
        self.memory = memory
        self.width = width
        self.addr = addr

    def children(self):
        return (self.addr,)

    def __str__(self) -> str:
        return f"{self.memory}[{self.addr}]"


class BinOp(Expr):
    __slots__ = ("op", "a", "b")

    @staticmethod
    def make(op: Op, a: Expr, b: Expr) -> "BinOp":
        if op.is_unary:
            raise IsaError(f"operator {op.name} takes one operand")
        if a.width != b.width:
            raise IsaError(
                f"width mismatch in {op.name}: {a} has {a.width} bits, {b} has {b.width} bits "
                "(use zext/sext/extract to make them agree)"
            )
        width = 1 if op.is_compare else a.width
        if isinstance(a, Const) and isinstance(b, Const):
            return Const.make(fold_binary(op, a.value, b.value, a.width), width)
        return _intern(BinOp, (op, a, b), op, a, b, width)

    def _setup(self, op: Op, a: Expr, b: Expr, width: int) -> None:
        self.op = op
        self.a = a
        self.b = b
        self.width = width

    def children(self):
        return (self.a, self.b)

    def __str__(self) -> str:
        return f"({self.a} {self.op.value} {self.b})"


class UnOp(Expr):
    __slots__ = ("op", "a")

    @staticmethod
    def make(op: Op, a: Expr) -> "UnOp":
        if not op.is_unary:
            raise IsaError(f"operator {op.name} takes two operands")
        if isinstance(a, Const):
            return Const.make((a.value ^ mask(a.width)) if op is Op.NOT else (-a.value & mask(a.width)), a.width)
        return _intern(UnOp, (op, a), op, a)

    def _setup(self, op: Op, a: Expr) -> None:
        self.op = op
        self.a = a
        self.width = a.width

    def children(self):
        return (self.a,)

    def __str__(self) -> str:
        return f"{self.op.value}{self.a}"


class Ite(Expr):
    __slots__ = ("cond", "then", "else_")

    @staticmethod
    def make(cond: Expr, then: Expr, else_: Expr) -> "Ite":
        if cond.width != 1:
            raise IsaError(f"ite condition {cond} must be 1 bit wide, not {cond.width}")
        if then.width != else_.width:
            raise IsaError(
                f"ite branches differ in width: {then} has {then.width} bits, {else_} has {else_.width}"
            )
        return _intern(Ite, (cond, then, else_), cond, then, else_)

    def _setup(self, cond: Expr, then: Expr, else_: Expr) -> None:
        self.cond = cond
        self.then = then
        self.else_ = else_
        self.width = then.width

    def children(self):
        return (self.cond, self.then, self.else_)

    def __str__(self) -> str:
        return f"ite({self.cond}, {self.then}, {self.else_})"


class Extract(Expr):
    __slots__ = ("hi", "lo", "a")

    @staticmethod
    def make(hi: int, lo: int, a: Expr) -> "Extract":
        if not (isinstance(hi, int) and isinstance(lo, int)):
            raise IsaError("bit positions of an extract must be Python integers")
        if not 0 <= lo <= hi < a.width:
            raise IsaError(f"extract [{hi}:{lo}] out of range for {a} of {a.width} bits")
        if lo == 0 and hi == a.width - 1:
            return a
        if isinstance(a, Const):
            return Const.make((a.value >> lo) & mask(hi - lo + 1), hi - lo + 1)
        return _intern(Extract, (hi, lo, a), hi, lo, a)

    def _setup(self, hi: int, lo: int, a: Expr) -> None:
        self.hi = hi
        self.lo = lo
        self.a = a
        self.width = hi - lo + 1

    def children(self):
        return (self.a,)

    def __str__(self) -> str:
        return f"{self.a}[{self.hi}:{self.lo}]"


class Concat(Expr):
    """``Concat(hi, lo)``: ``hi`` lands in the upper bits."""

    __slots__ = ("hi", "lo")

    @staticmethod
    def make(hi: Expr, lo: Expr) -> Expr:
        if isinstance(hi, Const) and isinstance(lo, Const):
            return Const.make((hi.value << lo.width) | lo.value, hi.width + lo.width)
        return _intern(Concat, (hi, lo), hi, lo)

    def _setup(self, hi: Expr, lo: Expr) -> None:
        self.hi = hi
        self.lo = lo
        self.width = hi.width + lo.width

    def children(self):
        return (self.hi, self.lo)

    def __str__(self) -> str:
        return f"concat({self.hi}, {self.lo})"


class Extend(Expr):
    __slots__ = ("signed", "a")

    @staticmethod
    def make(a: Expr, width: int, signed: bool) -> Expr:
        if width < a.width:
            raise IsaError(f"cannot extend {a} of {a.width} bits to fewer bits ({width})")
        if width == a.width:
            return a
        if isinstance(a, Const):
            return Const.make((to_signed(a.value, a.width) if signed else a.value) & mask(width), width)
        return _intern(Extend, (a, width, signed), a, width, signed)

    def _setup(self, a: Expr, width: int, signed: bool) -> None:
        self.a = a
        self.width = width
        self.signed = signed

    def children(self):
        return (self.a,)

    def __str__(self) -> str:
        return f"{'sext' if self.signed else 'zext'}({self.a}, {self.width})"


NODE_KINDS: tuple[type, ...] = (Const, Field, RegRead, Operand, Load, BinOp, UnOp, Ite, Extract, Concat, Extend)


# --- public constructors ---------------------------------------------------------

def lift(value: IntOrExpr, width: int) -> Expr:
    """A Python int becomes a constant of ``width``; an Expr passes through."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return Const.make(value, width)
    raise IsaError(f"expected an int or an expression, got {type(value).__name__} {value!r}")


def const(value: int, width: int) -> Const:
    return Const.make(value, width)


def ite(cond: Expr, then: IntOrExpr, else_: IntOrExpr) -> Expr:
    if isinstance(then, Expr):
        else_ = lift(else_, then.width)
    elif isinstance(else_, Expr):
        then = lift(then, else_.width)
    else:
        raise IsaError("ite needs at least one branch that is an expression (to know the width)")
    return Ite.make(cond, then, else_)


def _pair(a: IntOrExpr, b: IntOrExpr) -> tuple[Expr, Expr]:
    if isinstance(a, Expr):
        return a, lift(b, a.width)
    if isinstance(b, Expr):
        return lift(a, b.width), b
    raise IsaError("an operator needs at least one expression operand (to know the width)")


def ult(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.ULT, *_pair(a, b))
def ule(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.ULE, *_pair(a, b))
def ugt(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.ULT, *reversed(_pair(a, b)))
def uge(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.ULE, *reversed(_pair(a, b)))
def slt(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.SLT, *_pair(a, b))
def sle(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.SLE, *_pair(a, b))
def sgt(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.SLT, *reversed(_pair(a, b)))
def sge(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.SLE, *reversed(_pair(a, b)))
def udiv(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.UDIV, *_pair(a, b))
def urem(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.UREM, *_pair(a, b))
def sdiv(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.SDIV, *_pair(a, b))
def srem(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.SREM, *_pair(a, b))
def ashr(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.ASHR, *_pair(a, b))
def lshr(a: IntOrExpr, b: IntOrExpr) -> Expr: return BinOp.make(Op.LSHR, *_pair(a, b))


def zext(a: Expr, width: int) -> Expr: return Extend.make(a, width, False)
def sext(a: Expr, width: int) -> Expr: return Extend.make(a, width, True)


def concat(*parts: Expr) -> Expr:
    """``concat(a, b, c)``: a in the top bits, c in the bottom bits."""
    if not parts:
        raise IsaError("concat needs at least one part")
    out = parts[0]
    for p in parts[1:]:
        out = Concat.make(out, p)
    return out


def resize(a: Expr, width: int) -> Expr:
    """Zero-extend or truncate to ``width`` (truncation keeps the low bits)."""
    if width == a.width:
        return a
    if width < a.width:
        return Extract.make(width - 1, 0, a)
    return zext(a, width)


def land(*conds: Expr) -> Expr:
    out = conds[0]
    for c in conds[1:]:
        out = out & c
    return out


def lor(*conds: Expr) -> Expr:
    out = conds[0]
    for c in conds[1:]:
        out = out | c
    return out


def lnot(cond: Expr) -> Expr:
    if cond.width != 1:
        raise IsaError(f"lnot takes a 1-bit condition, {cond} has {cond.width} bits")
    return ~cond


TRUE = Const.make(1, 1)
FALSE = Const.make(0, 1)


def walk(root: Expr, seen: Optional[set[int]] = None) -> Iterator[Expr]:
    """Every distinct node under ``root`` once, children before parents; with ``seen``
    (ids of nodes already visited, updated), nodes another walk visited are skipped, so
    several roots sharing subtrees are walked in time linear in their DAG."""
    if seen is None:
        seen = set()
    stack: list[tuple[Expr, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in seen:
            continue
        if expanded:
            seen.add(id(node))
            yield node
            continue
        stack.append((node, True))
        for c in node.children():
            if id(c) not in seen:
                stack.append((c, False))


# --- the language's fixed meaning on Python integers --------------------------------
# The concrete backends call these for the operators whose edge cases need a rule.

def to_signed(v: int, width: int) -> int:
    return v - (1 << width) if v >> (width - 1) else v


def udiv_int(a: int, b: int, width: int) -> int:
    return a // b if b else mask(width)


def urem_int(a: int, b: int, width: int) -> int:
    return a % b if b else a


def sdiv_int(a: int, b: int, width: int) -> int:
    sa, sb = to_signed(a, width), to_signed(b, width)
    if sb == 0:
        # Z3 bvsdiv: by zero gives -1 for a non-negative dividend, 1 for a negative one.
        return mask(width) if sa >= 0 else 1
    q = abs(sa) // abs(sb)
    if (sa < 0) != (sb < 0):
        q = -q
    return q & mask(width)


def srem_int(a: int, b: int, width: int) -> int:
    sa, sb = to_signed(a, width), to_signed(b, width)
    if sb == 0:
        return a
    r = abs(sa) % abs(sb)
    if sa < 0:
        r = -r
    return r & mask(width)


def shl_int(a: int, s: int, width: int) -> int:
    return (a << s) & mask(width) if s < width else 0


def fold_binary(op: Op, a: int, b: int, width: int) -> int:
    """The language's meaning of a binary operator on two constants."""
    m = mask(width)
    table = {
        Op.ADD: lambda: (a + b) & m, Op.SUB: lambda: (a - b) & m, Op.MUL: lambda: (a * b) & m,
        Op.UDIV: lambda: udiv_int(a, b, width), Op.UREM: lambda: urem_int(a, b, width),
        Op.SDIV: lambda: sdiv_int(a, b, width), Op.SREM: lambda: srem_int(a, b, width),
        Op.AND: lambda: a & b, Op.OR: lambda: a | b, Op.XOR: lambda: a ^ b,
        Op.SHL: lambda: shl_int(a, b, width), Op.LSHR: lambda: lshr_int(a, b, width),
        Op.ASHR: lambda: ashr_int(a, b, width),
        Op.EQ: lambda: int(a == b), Op.NE: lambda: int(a != b), Op.ULT: lambda: int(a < b),
        Op.ULE: lambda: int(a <= b), Op.SLT: lambda: int(to_signed(a, width) < to_signed(b, width)),
        Op.SLE: lambda: int(to_signed(a, width) <= to_signed(b, width)),
    }
    return table[op]()


def lshr_int(a: int, s: int, width: int) -> int:
    return a >> s if s < width else 0


def ashr_int(a: int, s: int, width: int) -> int:
    sa = to_signed(a, width)
    return (sa >> min(s, width)) & mask(width)
