"""The native (C) backend computes what the reference evaluator computes, node for node,
on random expressions over every operator at 8 and 64 bits (edge values drawn on purpose:
zero divisors, shifts at and past the width, the most negative value over -1)."""

import ctypes

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from virtcheck.isa import concrete, evaluator, expr as E, native
from virtcheck.isa.expr import Op
from virtcheck.isa.machines import bundled
from virtcheck.isa.state import MachineState

from .test_backends import FIELDS, edge_values, exprs

pytestmark = pytest.mark.skipif(native.compiler() is None, reason="no C compiler on this machine")

ALL_OPS = list(Op)


def _library(es):
    layout = concrete.Layout(tuple(FIELDS), {n: i for i, n in enumerate(FIELDS)}, (64,) * 3, (), (), {})
    parts = [native.PRELUDE]
    for k, e in enumerate(es):
        em = native._CEmitter(layout, [e], {}, {})
        v = em.value(e)
        body = "".join(f"    {ln}\n" for ln in em.lines)
        parts.append(f"u64 ev_{k}(const u64 *S) {{\n{body}    return {v};\n}}\n")
    lib = native.build("\n".join(parts), "vc-test-exprs")
    fns = []
    for k in range(len(es)):
        f = getattr(lib, f"ev_{k}")
        f.restype = ctypes.c_uint64
        fns.append(f)
    return fns


@pytest.mark.parametrize("width", [8, 64])
def test_random_expressions_agree_with_the_reference_evaluator(width):
    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
    @given(es=st.lists(exprs(width, narrow=True), min_size=40, max_size=40),
           vals=st.lists(st.tuples(edge_values(width), edge_values(width), edge_values(width)), min_size=8, max_size=8))
    def check(es, vals):
        fns = _library(es)
        for triple in vals:
            arr = (ctypes.c_uint64 * 3)(*triple)
            state = MachineState(dict(zip(FIELDS, triple)), {})
            for e, f in zip(es, fns):
                assert f(arr) == evaluator.evaluate(e, state, {}), e

    check()


def test_every_operator_has_a_native_rule():
    for op in ALL_OPS:
        a, b = E.Field.make("a", 8), E.Field.make("b", 8)
        e = E.UnOp.make(op, a) if op.is_unary else E.BinOp.make(op, a, b)
        layout = concrete.Layout(("a", "b"), {"a": 0, "b": 1}, (8, 8), (), (), {})
        assert native._CEmitter(layout, [e], {}, {}).value(e)


def test_a_value_wider_than_64_bits_is_refused_not_truncated():
    a = E.Field.make("a", 64)
    e = E.Extract.make(95, 32, E.Concat.make(a, a))
    layout = concrete.Layout(("a",), {"a": 0}, (64,), (), (), {})
    with pytest.raises(native.NativeUnavailable, match="a 128-bit value is wider than 64 bits"):
        native._CEmitter(layout, [e], {}, {}).value(e)


def test_unsupported_isas_are_named_in_one_line():
    why = native.unsupported(bundled()["x86"])
    assert why == "ISA 'x86' has variable-length instructions (the native backend decodes fixed-width words)"
    assert native.unsupported(bundled()["pg3"]) is None
    with pytest.raises(native.NativeUnavailable, match="variable-length"):
        native.CSource(bundled()["m68000"])


@pytest.mark.parametrize("width", [1, 8, 32, 64])
def test_every_operator_on_every_pair_of_edge_values(width):
    """Deterministic sweep: each operator and extension on all pairs of edge values."""
    m = (1 << width) - 1
    specials = sorted({v & m for v in [0, 1, 2, 3, m, m - 1, 1 << (width - 1), (1 << (width - 1)) - 1,
                                       width - 1, width, width + 1]})
    a, b = E.Field.make("a", width), E.Field.make("b", width)
    es = [E.UnOp.make(op, a) if op.is_unary else E.BinOp.make(op, a, b) for op in ALL_OPS]
    if width > 1:
        es += [E.sext(E.Extract.make(width // 2 - 1 if width > 2 else 0, 0, a), width), E.Extract.make(width - 1, 1, a)]
    fns = _library(es)
    for x in specials:
        for y in specials:
            arr = (ctypes.c_uint64 * 3)(x, y, 0)
            state = MachineState({"a": x, "b": y, "c": 0}, {})
            for e, f in zip(es, fns):
                assert f(arr) == evaluator.evaluate(e, state, {}), (e, x, y)
