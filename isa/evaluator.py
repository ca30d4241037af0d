"""The slow reference evaluator: walks the expression tree on a :class:`MachineState`.

It exists to be obviously right, not fast; the compiled backend and the Z3 backend are
tested against it. It shares no code with the compiler beyond the language's integer
rules in :mod:`virtcheck.isa.expr`.
"""

from __future__ import annotations

from typing import Mapping

from virtcheck.isa import expr as E
from virtcheck.isa.errors import IsaError
from virtcheck.isa.expr import Expr, Op, mask
from virtcheck.isa.model import Instruction, Isa
from virtcheck.isa.semantics import Effects
from virtcheck.isa.state import MachineState, Outcome


def _binop(op: Op, a: int, b: int, w: int) -> int:
    m = mask(w)
    if op is Op.ADD: return (a + b) & m
    if op is Op.SUB: return (a - b) & m
    if op is Op.MUL: return (a * b) & m
    if op is Op.UDIV: return E.udiv_int(a, b, w)
    if op is Op.UREM: return E.urem_int(a, b, w)
    if op is Op.SDIV: return E.sdiv_int(a, b, w)
    if op is Op.SREM: return E.srem_int(a, b, w)
    if op is Op.AND: return a & b
    if op is Op.OR: return a | b
    if op is Op.XOR: return a ^ b
    if op is Op.SHL: return E.shl_int(a, b, w)
    if op is Op.LSHR: return E.lshr_int(a, b, w)
    if op is Op.ASHR: return E.ashr_int(a, b, w)
    if op is Op.EQ: return int(a == b)
    if op is Op.NE: return int(a != b)
    if op is Op.ULT: return int(a < b)
    if op is Op.ULE: return int(a <= b)
    if op is Op.SLT: return int(E.to_signed(a, w) < E.to_signed(b, w))
    if op is Op.SLE: return int(E.to_signed(a, w) <= E.to_signed(b, w))
    raise IsaError(f"reference evaluator has no rule for operator {op.name}")


def evaluate(e: Expr, state: MachineState, operands: Mapping[str, int]) -> int:
    if isinstance(e, E.Const):
        return e.value
    if isinstance(e, E.Field):
        return state.fields[e.name]
    if isinstance(e, E.Operand):
        return operands[e.name] & mask(e.width)
    if isinstance(e, E.RegRead):
        return state.fields[f"{e.bank}{evaluate(e.index, state, operands)}"]
    if isinstance(e, E.Load):
        return state.memories[e.memory][evaluate(e.addr, state, operands)]
    if isinstance(e, E.BinOp):
        return _binop(e.op, evaluate(e.a, state, operands), evaluate(e.b, state, operands), e.a.width)
    if isinstance(e, E.UnOp):
        a = evaluate(e.a, state, operands)
        if e.op is Op.NOT:
            return a ^ mask(e.width)
        if e.op is Op.NEG:
            return -a & mask(e.width)
        raise IsaError(f"reference evaluator has no rule for operator {e.op.name}")
    if isinstance(e, E.Ite):
        c = evaluate(e.cond, state, operands)
        return evaluate(e.then if c else e.else_, state, operands)
    if isinstance(e, E.Extract):
        return (evaluate(e.a, state, operands) >> e.lo) & mask(e.width)
    if isinstance(e, E.Concat):
        return (evaluate(e.hi, state, operands) << e.lo.width) | evaluate(e.lo, state, operands)
    if isinstance(e, E.Extend):
        v = evaluate(e.a, state, operands)
        return E.to_signed(v, e.a.width) & mask(e.width) if e.signed else v
    raise IsaError(f"reference evaluator has no rule for node {type(e).__name__}")


def run_effects(isa: Isa, eff: Effects, state: MachineState, operands: Mapping[str, int],
                *, apply_exits: bool = True) -> tuple[Outcome, MachineState]:
    """Run effects on a copy of ``state``: (outcome, next state). A trap or halt leaves it unchanged."""
    if apply_exits:
        for x in eff.exits:
            if evaluate(x.cond, state, operands):
                if x.cause is None:
                    return Outcome("halt"), state.copy()
                return Outcome("trap", x.cause.name, evaluate(x.info, state, operands)), state.copy()
    new = state.copy()
    stores = [(s.memory, evaluate(s.addr, state, operands), evaluate(s.value, state, operands)) for s in eff.stores]
    banks = [(w.bank, evaluate(w.index, state, operands), evaluate(w.value, state, operands)) for w in eff.bank_writes]
    writes = {n: evaluate(v, state, operands) for n, v in eff.writes.items()}
    for mem, a, v in stores:
        new.memories[mem].cells[a] = v
    for bank, i, v in banks:
        new.fields[f"{bank}{i}"] = v
    new.fields.update(writes)
    return Outcome("ok"), new


def step(isa: Isa, ins: Instruction, operands: Mapping[str, int], state: MachineState) -> tuple[Outcome, MachineState]:
    """One instruction on the reference evaluator (no trap entry: the outcome says what happened)."""
    return run_effects(isa, ins.effects, state, operands)


def trap_entry(isa: Isa, cause: str, info: int, state: MachineState) -> MachineState:
    """The state after the ISA's trap semantics for ``cause`` ran on ``state``."""
    _, new = run_effects(isa, isa.derived.trap_effects[cause], state, {"info": info}, apply_exits=False)
    return new
