"""The compiled backend, the reference evaluator and Z3 agree -- on random expressions over
every operator, and on random instructions and states of every bundled ISA."""

import pytest
import z3
from hypothesis import given, settings, strategies as st

from virtcheck.isa import concrete, evaluator, expr as E, z3backend
from virtcheck.isa.concrete import compiled
from virtcheck.isa.expr import Op
from virtcheck.isa.evaluator import evaluate
from virtcheck.isa.flow import field_reads
from virtcheck.isa.semantics import Builder
from virtcheck.isa.state import MachineState, Memory, Outcome

ALL_OPS = list(Op)


def test_every_op_has_an_entry_in_every_backend():
    for op in ALL_OPS:
        if op.is_unary:
            assert op in concrete.UNARY and op in z3backend.Z3_UNARY
        elif op.is_compare:
            assert op in concrete.COMPARE and op in z3backend.Z3_COMPARE
        else:
            assert op in concrete.BINARY and op in z3backend.Z3_BINARY
        # the reference evaluator and the folder have rules for every operator too
        if not op.is_unary:
            evaluator._binop(op, 3, 0, 8)
            E.fold_binary(op, 3, 0, 8)


# Values that hit edge cases on purpose: zero divisors, shifts at and past the width, signs.
def edge_values(width):
    m = (1 << width) - 1
    specials = [0, 1, 2, m, m - 1, 1 << (width - 1), (1 << (width - 1)) - 1, width - 1, width, width + 1]
    return st.one_of(st.sampled_from([v & m for v in specials]), st.integers(0, m))


W = 8
FIELDS = ["a", "b", "c"]


def exprs(w=W, narrow=False):
    """Random trees over every operator at width ``w`` (even, at least 2); ``narrow`` keeps
    every node at most ``w`` bits wide (concatenating halves instead of whole values)."""
    leaves = st.one_of(
        st.sampled_from([E.Field.make(n, w) for n in FIELDS]),
        edge_values(w).map(lambda v: E.Const.make(v, w)),
    )

    def extend(children):
        binary = st.builds(lambda op, x, y: E.BinOp.make(op, x, y),
                           st.sampled_from([o for o in ALL_OPS if not o.is_unary and not o.is_compare]),
                           children, children)
        compare_ite = st.builds(lambda op, x, y, t, f: E.ite(E.BinOp.make(op, x, y), t, f),
                                st.sampled_from([o for o in ALL_OPS if o.is_compare]),
                                children, children, children, children)
        unary = st.builds(lambda op, x: E.UnOp.make(op, x), st.sampled_from([Op.NOT, Op.NEG]), children)
        slicing = st.builds(lambda x, lo, signed: (E.sext if signed else E.zext)(
            E.Extract.make(w - 1, lo, x), w) if lo else x, children, st.integers(0, w - 1), st.booleans())
        if narrow:
            cat = st.builds(lambda x, y: E.Concat.make(E.Extract.make(w // 2 - 1, 0, x), E.Extract.make(w - 1, w // 2, y)),
                            children, children)
        else:
            cat = st.builds(lambda x, y: E.Extract.make(w + w // 2 - 1, w // 2, E.Concat.make(x, y)), children, children)
        return st.one_of(binary, compare_ite, unary, slicing, cat)

    return st.recursive(leaves, extend, max_leaves=8)


class _Tiny:
    """Just enough of an ISA for the backends to evaluate bare expressions."""


@settings(max_examples=300)
@given(e=exprs(), vals=st.tuples(edge_values(W), edge_values(W), edge_values(W)))
def test_random_expressions_agree_on_three_backends(e, vals):
    env = dict(zip(FIELDS, vals))
    state = MachineState(dict(env), {})
    ref = evaluator.evaluate(e, state, {})
    # compiled: through the emitter used for instructions
    layout = concrete.Layout(tuple(FIELDS), {n: i for i, n in enumerate(FIELDS)}, (W,) * 3, (), (), {})
    em = concrete._Emitter(layout, [e], {})
    code = em.value(e)
    ns = dict(concrete.HELPERS)
    body = "\n".join("    " + ln for ln in em.lines + [f"return {code}"])
    exec(f"def f(S):\n{body}\n", ns)
    assert ns["f"](list(vals)) == ref
    # Z3: substitute the values and simplify to a numeral
    syms = {n: z3.BitVec(n, W) for n in FIELDS}

    class S:
        fields = syms
        memories = {}
        isa = None

    term = z3backend.Translator(S, {}).bv(e)
    got = z3.simplify(z3.substitute(term, *[(syms[n], z3.BitVecVal(v, W)) for n, v in env.items()]))
    assert got.as_long() == ref


def _states(isa):
    names = list(isa.fields)

    def build(values, mem_default, cells):
        fields = {n: v & ((1 << isa.fields[n].width) - 1) for n, v in zip(names, values)}
        mems = {m: Memory(mem_default & ((1 << d.width) - 1),
                          {a % d.size: v & ((1 << d.width) - 1) for a, v in cells})
                for m, d in isa.memories.items()}
        return MachineState(fields, mems)

    return st.builds(build, st.lists(edge_values(32), min_size=len(names), max_size=len(names)),
                     edge_values(32), st.lists(st.tuples(st.integers(0, 1 << 16), edge_values(32)), max_size=6))


def _z3_outcome(isa, ins, ops, state):
    """Run the instruction in Z3 on a concrete state: evaluate the symbolic step in a model."""
    sym = z3backend.SymState(isa, "z.")
    opv = z3backend.operand_vars(ins)
    step = z3backend.sym_step(isa, ins, sym, opv)
    s = z3.Solver()
    for n, v in state.fields.items():
        s.add(sym.fields[n] == v)
    for m, mem in state.memories.items():
        d = isa.memories[m]
        arr = z3.K(z3.BitVecSort(d.addr_width), z3.BitVecVal(mem.default, d.width))
        for a, v in mem.cells.items():
            arr = z3.Store(arr, a, v)
        s.add(sym.memories[m] == arr)
    for n, v in ops.items():
        s.add(opv[n] == v)
    assert s.check() == z3.sat
    model = s.model()
    for x in step.exits:
        if z3.is_true(model.eval(x.cond, model_completion=True)):
            if x.cause is None:
                return Outcome("halt"), None, model, step
            return Outcome("trap", x.cause.name, model.eval(x.info, model_completion=True).as_long()), None, model, step
    return Outcome("ok"), step.post, model, step


@pytest.mark.parametrize("name", ["pg3", "pg3-jrst", "pg3-mfsr", "pg3-lra", "pg3-popf"])
def test_instructions_agree_on_three_backends(machines, name):
    isa = machines[name]
    c = compiled(isa)

    @settings(max_examples=60)
    @given(word=st.integers(0, (1 << isa.word) - 1), state=_states(isa))
    def check(word, state):
        ins, vals = c.decode(word)
        ops = dict(zip((o.name for o in ins.operands), vals))
        ref_out, ref_post = evaluator.step(isa, ins, ops, state)
        S, mems = state.flat(isa)
        got = Outcome.of(c.step_for(word)(S, *mems))
        assert got == ref_out, ins.mnemonic
        assert MachineState.from_flat(isa, S, mems).fields == ref_post.fields
        for m, size in zip(isa.memories, [d.size for d in isa.memories.values()]):
            assert MachineState.from_flat(isa, S, mems).memories[m].to_list(size) == ref_post.memories[m].to_list(size)
        z_out, post, model, _ = _z3_outcome(isa, ins, ops, state)
        assert z_out == ref_out, ins.mnemonic
        if post is not None:
            for n, v in post.fields.items():
                assert model.eval(v, model_completion=True).as_long() == ref_post.fields[n], (ins.mnemonic, n)
            for m, d in isa.memories.items():
                for a in set(ref_post.memories[m].cells) | set(state.memories[m].cells):
                    assert model.eval(z3.Select(post.memories[m], a), model_completion=True).as_long() == \
                        ref_post.memories[m][a]

    check()


def test_every_instruction_exercised_with_zero_divisor(machines):
    """DIVU/REMU by zero trap (exception) on every backend, on purpose not by chance."""
    isa = machines["pg3"]
    c = compiled(isa)
    for mnemonic in ("DIVU", "REMU"):
        ins = isa.by_mnemonic(mnemonic)
        state = MachineState.zero(isa)
        state.fields["r1"] = 5
        ops = {"rd": 0, "rs": 1, "rt": 2}
        ref, _ = evaluator.step(isa, ins, ops, state)
        S, mems = state.flat(isa)
        assert Outcome.of(c.step_of(ins, [0, 1, 2])(S, *mems)) == ref == Outcome("trap", "divide", 0)
        assert _z3_outcome(isa, ins, ops, state)[0] == ref


def test_trap_entry_agrees(machines):
    isa = machines["pg3"]
    c = compiled(isa)
    state = MachineState.zero(isa)
    state.fields.update(P=0x123, M=0, IE=1, l=0x40, b=0x80)
    state.memories["E"].cells.update({2: (1 << 16) | 0x10, 3: 0xFFF})
    ref = evaluator.trap_entry(isa, "svc", 7, state)
    S, mems = state.flat(isa)
    c.trap_entry["svc"](S, *mems, 7)
    assert MachineState.from_flat(isa, S, mems).fields == ref.fields
    assert ref.fields["M"] == 1 and ref.fields["P"] == 0x10 and ref.fields["b"] == 0xFFF
    assert ref.memories["E"][0] == (3 << 24) | (1 << 17) | 0x123  # cause svc, IE, M=u, P
    assert ref.memories["E"][4] == 7


@pytest.mark.parametrize("name", ["pg3", "pg3-jrst", "pg3-mfsr", "pg3-lra", "pg3-popf"])
def test_every_instruction_in_every_mode_agrees(machines, name):
    """Deterministic sweep: each instruction, each mode, operands 0 and all-ones-in-domain."""
    isa = machines[name]
    c = compiled(isa)
    for mode, pred in isa.modes.items():
        for ins in isa.instructions:
            for pick in (0, -1):
                state = MachineState.zero(isa)
                for n in isa.fields:
                    state.fields[n] = 1 if isa.fields[n].width == 1 else 0x10
                # make the state satisfy the mode predicate by trying the mode fields' values
                expr = pred(Builder(isa))
                for n in field_reads(isa, [expr]):
                    for v in range(1 << min(isa.fields[n].width, 4)):
                        state.fields[n] = v
                        if evaluate(expr, state, {}):
                            break
                assert evaluate(expr, state, {}), (mode, ins.mnemonic)
                vals = [(o.domain_size - 1) if pick else 0 for o in ins.operands]
                ops = dict(zip((o.name for o in ins.operands), vals))
                ref_out, ref_post = evaluator.step(isa, ins, ops, state)
                S, mems = state.flat(isa)
                assert Outcome.of(c.step_of(ins, vals)(S, *mems)) == ref_out, (mode, ins.mnemonic)
                assert MachineState.from_flat(isa, S, mems).fields == ref_post.fields, (mode, ins.mnemonic)
