"""The Z3 backend: an instruction's effects as terms over a symbolic state.

z3py's ``/``, ``>>`` and ``<`` are *signed*; every operator here is mapped explicitly
(``UDiv``, ``LShR``, ``ULT``...). 1-bit expressions used as conditions become Z3 Bools
directly, so comparisons and their conjunctions reach the solver without bit-vector
round trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import z3

from virtcheck.isa import expr as E
from virtcheck.isa.errors import IsaError
from virtcheck.isa.expr import Expr, Op
from virtcheck.isa.model import Cause, Instruction, Isa
from virtcheck.isa.semantics import Effects
from virtcheck.isa.state import MachineState, Memory

Z3_BINARY: dict[Op, Callable[[z3.BitVecRef, z3.BitVecRef], z3.BitVecRef]] = {
    Op.ADD: lambda a, b: a + b,
    Op.SUB: lambda a, b: a - b,
    Op.MUL: lambda a, b: a * b,
    Op.UDIV: z3.UDiv,
    Op.UREM: z3.URem,
    Op.SDIV: lambda a, b: a / b,  # bvsdiv
    Op.SREM: z3.SRem,
    Op.AND: lambda a, b: a & b,
    Op.OR: lambda a, b: a | b,
    Op.XOR: lambda a, b: a ^ b,
    Op.SHL: lambda a, b: a << b,
    Op.LSHR: z3.LShR,
    Op.ASHR: lambda a, b: a >> b,  # bvashr
}
Z3_COMPARE: dict[Op, Callable[[z3.BitVecRef, z3.BitVecRef], z3.BoolRef]] = {
    Op.EQ: lambda a, b: a == b,
    Op.NE: lambda a, b: a != b,
    Op.ULT: z3.ULT,
    Op.ULE: z3.ULE,
    Op.SLT: lambda a, b: a < b,
    Op.SLE: lambda a, b: a <= b,
}
Z3_UNARY: dict[Op, Callable[[z3.BitVecRef], z3.BitVecRef]] = {
    Op.NOT: lambda a: ~a,
    Op.NEG: lambda a: -a,
}


class SymState:
    """A symbolic machine state: one bit-vector per field, one array per memory."""

    def __init__(self, isa: Isa, prefix: str, *, fields: Optional[dict] = None, memories: Optional[dict] = None):
        self.isa = isa
        self.prefix = prefix
        self.fields: dict[str, z3.BitVecRef] = fields if fields is not None else {
            n: z3.BitVec(f"{prefix}{n}", f.width) for n, f in isa.fields.items()
        }
        self.memories: dict[str, z3.ArrayRef] = memories if memories is not None else {
            n: z3.Array(f"{prefix}{n}", z3.BitVecSort(m.addr_width), z3.BitVecSort(m.width))
            for n, m in isa.memories.items()
        }

    def with_updates(self, fields: dict, memories: dict) -> "SymState":
        return SymState(self.isa, self.prefix + "'", fields=fields, memories=memories)

    def concrete(self, model: z3.ModelRef) -> MachineState:
        """The state a model assigns (unconstrained bits read as 0)."""
        fields = {n: model.eval(v, model_completion=True).as_long() for n, v in self.fields.items()}
        mems = {n: _model_memory(model, a) for n, a in self.memories.items()}
        return MachineState(fields, mems)


def _model_memory(model: z3.ModelRef, arr: z3.ArrayRef) -> Memory:
    val = model.eval(arr, model_completion=True)
    cells: dict[int, int] = {}
    default = 0
    # Peel Store(...) layers and read the K(...) default.
    while True:
        if z3.is_store(val):
            a, v = val.arg(1), val.arg(2)
            cells.setdefault(a.as_long(), v.as_long())
            val = val.arg(0)
        elif z3.is_const_array(val):
            default = val.arg(0).as_long()
            break
        elif z3.is_as_array(val):
            fi = model[z3.get_as_array_func(val)]
            for k in range(fi.num_entries()):
                e = fi.entry(k)
                cells.setdefault(e.arg_value(0).as_long(), e.value().as_long())
            default = fi.else_value().as_long()
            break
        else:
            raise IsaError(f"cannot read a memory from the model: {val}")
    return Memory(default, {a: v for a, v in cells.items() if v != default})


class Translator:
    """Expression -> Z3 term over one symbolic state and operand values, memoized."""

    def __init__(self, state: SymState, operands: Mapping[str, z3.BitVecRef]):
        self.s = state
        self.ops = operands
        self.memo: dict[int, z3.ExprRef] = {}
        self.bmemo: dict[int, z3.BoolRef] = {}

    def bool(self, e: Expr) -> z3.BoolRef:
        """A 1-bit expression as a Z3 Bool."""
        k = id(e)
        r = self.bmemo.get(k)
        if r is not None:
            return r
        if isinstance(e, E.BinOp) and e.op.is_compare:
            r = Z3_COMPARE[e.op](self.bv(e.a), self.bv(e.b))
        elif isinstance(e, E.BinOp) and e.op in (Op.AND, Op.OR, Op.XOR) and e.width == 1:
            a, b = self.bool(e.a), self.bool(e.b)
            r = z3.And(a, b) if e.op is Op.AND else z3.Or(a, b) if e.op is Op.OR else z3.Xor(a, b)
        elif isinstance(e, E.UnOp) and e.op is Op.NOT and e.width == 1:
            r = z3.Not(self.bool(e.a))
        elif isinstance(e, E.Const):
            r = z3.BoolVal(bool(e.value))
        else:
            r = self.bv(e) == 1
        self.bmemo[k] = r
        return r

    def bv(self, e: Expr) -> z3.BitVecRef:
        k = id(e)
        r = self.memo.get(k)
        if r is None:
            r = self._bv(e)
            self.memo[k] = r
        return r

    def _bv(self, e: Expr) -> z3.BitVecRef:
        if isinstance(e, E.Const):
            return z3.BitVecVal(e.value, e.width)
        if isinstance(e, E.Field):
            return self.s.fields[e.name]
        if isinstance(e, E.Operand):
            return self.ops[e.name]
        if isinstance(e, E.RegRead):
            bank = self.s.isa.banks[e.bank]
            idx = self.bv(e.index)
            out = self.s.fields[bank.member(bank.count - 1)]
            for i in range(bank.count - 2, -1, -1):
                out = z3.If(idx == i, self.s.fields[bank.member(i)], out)
            return out
        if isinstance(e, E.Load):
            return z3.Select(self.s.memories[e.memory], self.bv(e.addr))
        if isinstance(e, E.BinOp):
            if e.op.is_compare:
                return z3.If(self.bool(e), z3.BitVecVal(1, 1), z3.BitVecVal(0, 1))
            return Z3_BINARY[e.op](self.bv(e.a), self.bv(e.b))
        if isinstance(e, E.UnOp):
            return Z3_UNARY[e.op](self.bv(e.a))
        if isinstance(e, E.Ite):
            return z3.If(self.bool(e.cond), self.bv(e.then), self.bv(e.else_))
        if isinstance(e, E.Extract):
            return z3.Extract(e.hi, e.lo, self.bv(e.a))
        if isinstance(e, E.Concat):
            return z3.Concat(self.bv(e.hi), self.bv(e.lo))
        if isinstance(e, E.Extend):
            n = e.width - e.a.width
            return z3.SignExt(n, self.bv(e.a)) if e.signed else z3.ZeroExt(n, self.bv(e.a))
        raise IsaError(f"Z3 backend has no rule for node {type(e).__name__}")


@dataclass
class SymExit:
    cond: z3.BoolRef  #: this exit fires (and no earlier one did)
    cause: Optional[Cause]
    info: z3.BitVecRef


@dataclass
class SymStep:
    """A step's outcome and next state as terms. ``ok`` means no exit fired."""

    pre: SymState
    exits: list[SymExit]
    ok: z3.BoolRef
    post: SymState
    tr: Translator

    def traps(self, kinds=None) -> z3.BoolRef:
        conds = [x.cond for x in self.exits if x.cause is not None and (kinds is None or x.cause.kind in kinds)]
        return z3.Or(*conds) if conds else z3.BoolVal(False)

    def halts(self) -> z3.BoolRef:
        conds = [x.cond for x in self.exits if x.cause is None]
        return z3.Or(*conds) if conds else z3.BoolVal(False)


def operand_vars(ins: Instruction, prefix: str = "") -> dict[str, z3.BitVecRef]:
    return {o.name: z3.BitVec(f"{prefix}{ins.mnemonic}.{o.name}", o.width) for o in ins.operands}


def operand_domain(ins: Instruction, ops: Mapping[str, z3.BitVecRef]) -> list[z3.BoolRef]:
    """Constraints keeping operands within their declared domains."""
    out = [z3.ULT(ops[o.name], o.limit) for o in ins.operands if o.limit is not None]
    return out + [ops[o.name] & o.zeros == 0 for o in ins.operands if o.zeros]


def sym_effects(eff: Effects, state: SymState, operands: Mapping[str, z3.BitVecRef]) -> SymStep:
    isa = state.isa
    tr = Translator(state, operands)
    exits: list[SymExit] = []
    none_before: list[z3.BoolRef] = []
    for x in eff.exits:
        c = tr.bool(x.cond)
        fires = z3.And(*none_before, c) if none_before else c
        exits.append(SymExit(fires, x.cause, tr.bv(x.info)))
        none_before.append(z3.Not(c))
    ok = z3.And(*none_before) if none_before else z3.BoolVal(True)
    fields = dict(state.fields)
    mems = dict(state.memories)
    for s in eff.stores:
        mems[s.memory] = z3.Store(mems[s.memory], tr.bv(s.addr), tr.bv(s.value))
    for w in eff.bank_writes:
        bank = isa.banks[w.bank]
        idx, v = tr.bv(w.index), tr.bv(w.value)
        for i in range(bank.count):
            n = bank.member(i)
            fields[n] = z3.If(idx == i, v, fields[n])
    for n, v in eff.writes.items():
        fields[n] = tr.bv(v)
    return SymStep(state, exits, ok, state.with_updates(fields, mems), tr)


def sym_step(isa: Isa, ins: Instruction, state: SymState, operands: Mapping[str, z3.BitVecRef]) -> SymStep:
    return sym_effects(ins.effects, state, operands)


def sym_trap_entry(isa: Isa, cause: str, info: z3.BitVecRef, state: SymState) -> SymState:
    step = sym_effects(isa.derived.trap_effects[cause], state, {"info": info})
    return step.post


def sym_predicate(isa: Isa, fn: Callable, state: SymState) -> z3.BoolRef:
    """A mode or guest-configuration predicate, evaluated on a symbolic state."""
    from virtcheck.isa.semantics import Builder

    return Translator(state, {}).bool(fn(Builder(isa)))
