"""The expression language: widths checked at construction, no truthiness, fixed edge cases."""

import pytest

from virtcheck.isa import expr as E
from virtcheck.isa.errors import IsaError


def test_width_mismatch_is_refused_with_a_hint():
    a, b = E.Field.make("a", 8), E.Field.make("b", 16)
    with pytest.raises(IsaError) as exc:
        _ = a + b
    assert str(exc.value) == (
        "width mismatch in ADD: a has 8 bits, b has 16 bits (use zext/sext/extract to make them agree)"
    )


def test_symbolic_values_refuse_truthiness():
    a = E.Field.make("a", 8)
    with pytest.raises(IsaError) as exc:
        if a == 1:
            pass
    assert "has no Python truth value" in str(exc.value) and "ite(cond, a, b)" in str(exc.value)


def test_ordering_operators_are_ambiguous_and_refused():
    with pytest.raises(IsaError, match="use ult"):
        _ = E.Field.make("a", 8) < 3


def test_interning_gives_the_same_object():
    a = E.Field.make("a", 8)
    assert (a + 1) is (a + 1)
    assert E.ite(a == 0, a, 3) is E.ite(a == 0, a, 3)


def test_constants_fold_with_the_language_rules():
    assert E.udiv(E.const(7, 8), E.const(0, 8)).value == 0xFF
    assert E.urem(E.const(7, 8), E.const(0, 8)).value == 7
    assert (E.const(1, 8) << E.const(9, 8)).value == 0
    assert E.ashr(E.const(0x80, 8), E.const(200, 8)).value == 0xFF
    assert E.sext(E.const(0x8, 4), 8).value == 0xF8
    assert E.concat(E.const(1, 4), E.const(2, 4)).value == 0x12


def test_constant_must_fit():
    with pytest.raises(IsaError, match="does not fit in 4 bits"):
        E.const(16, 4)


def test_extract_range_checked():
    with pytest.raises(IsaError, match=r"extract \[8:0\] out of range"):
        E.Field.make("a", 8)[8:0]


@pytest.mark.parametrize("a,b,q,r", [(7, 2, 3, 1), (-7 & 0xFF, 2, -3 & 0xFF, -1 & 0xFF), (5, 0, 0xFF, 5),
                                     (-5 & 0xFF, 0, 1, -5 & 0xFF), (0x80, 0xFF, 0x80, 0)])
def test_signed_division_matches_z3_convention(a, b, q, r):
    assert E.sdiv_int(a, b, 8) == q
    assert E.srem_int(a, b, 8) == r
