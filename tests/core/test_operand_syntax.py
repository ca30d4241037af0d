"""Operand kinds with their own syntax (isa/operand_syntax.py): each maps encoded values to text
and back; the laws are stated over every value of the domain."""

import pytest
from hypothesis import given, strategies as st

from virtcheck.isa.model import Flag, Letters, OperandDecl, RegList, RotImm, Sign, Swapped
from virtcheck.isa.operand_syntax import SYNTAXES, rotimm_encode, rotimm_value, swapped_value


def _decl(spec):
    return OperandDecl("x", spec["kind"], spec["width"], spec["width"], bank=spec.get("bank"),
                       texts=tuple(spec.get("texts", ())))


def _round(decl, v):
    syn = SYNTAXES[decl.kind]
    return syn.parse(decl, syn.format(decl, v))


def test_every_rotated_immediate_round_trips():
    o = _decl(RotImm())
    assert all(_round(o, v) == v for v in range(1 << 12))


@given(st.integers(0, 0xFFFFFFFF))
def test_assembler_picks_the_smallest_rotation(value):
    field = rotimm_encode(value)
    if field is None:
        assert all(rotimm_value(f) != value for f in range(1 << 12) if (f & 0xFF) == (value & 0xFF))
    else:
        assert rotimm_value(field) == value
        assert all(rotimm_value(f) != value for f in range(field >> 8 << 8))


def test_rotated_immediate_text():
    o = _decl(RotImm())
    fmt = SYNTAXES["rotimm"].format
    assert fmt(o, 0x4FF) == "#0xff000000"  # imm8 0xFF rotated right by 8
    assert fmt(o, 0xF04) == "#4, 30"  # 16 written the non-canonical way
    assert SYNTAXES["rotimm"].parse(o, "#16") == 0x010
    with pytest.raises(ValueError, match="is not an 8-bit value rotated right by an even amount"):
        SYNTAXES["rotimm"].parse(o, "#0x101")


@given(st.integers(0, 0xFFFF))
def test_register_lists_round_trip(mask):
    assert _round(_decl(RegList("r")), mask) == mask


def test_register_list_text_and_implied_registers():
    o = _decl(RegList("r"))
    assert SYNTAXES["reglist"].format(o, 0b0100_0000_0111_0001) == "{r0, r4-r6, r14}"
    assert SYNTAXES["reglist"].parse(o, "{ r14, r0, r4 - r6 }") == 0b0100_0000_0111_0001
    pc = OperandDecl("x", "reglist", 15, 15, bank="r", texts=("15",))
    assert SYNTAXES["reglist"].format(pc, 0b11) == "{r0, r1, r15}"
    with pytest.raises(ValueError, match="this list always holds r15: write it"):
        SYNTAXES["reglist"].parse(pc, "{r0}")


@given(st.integers(0, 15))
def test_letters_round_trip(mask):
    o = _decl(Letters("fsxc"))
    assert _round(o, mask) == mask
    assert SYNTAXES["letters"].format(o, 0b1001) == "fc"


def test_flags_round_trip():
    for spec in (Flag("!"), Sign()):
        o = _decl(spec)
        assert [_round(o, v) for v in (0, 1)] == [0, 1]
    assert SYNTAXES["flag"].format(_decl(Sign()), 0) == "-"


@given(st.integers(0, 0xFF))
def test_swapped_immediates_round_trip(v):
    o = _decl(Swapped(8, 4))
    assert _round(o, v) == v
    assert swapped_value(o, 0x21) == 0x12  # the field named first holds the high nibble


def test_scaled_pc_relative_labels():
    """Target(scale, bias): A32's B holds (target - (pc + 8)) / 4; a label that is not a whole
    number of words away is refused with its line."""
    from virtcheck.isa.asm import assemble
    from virtcheck.isa.errors import AsmError
    from virtcheck.isa.machines import arm

    isa = arm.armv7.finalize()
    prog = assemble(isa, "back: NOP\nB back\nB fwd\nNOP\nfwd: NOP\n")
    assert prog.words()[4:8] == [0xFD, 0xFF, 0xFF, 0xEA]  # (0 - 4 - 8) / 4 = -3
    assert prog.words()[8:12] == [0x00, 0x00, 0x00, 0xEA]  # (16 - 8 - 8) / 4 = 0
    with pytest.raises(AsmError) as exc:
        assemble(isa, "B x\n.org 0x13\nx: NOP\n", source="p.s")
    assert str(exc.value) == "p.s:1: B: label 'x' is not a multiple of 4 away"
