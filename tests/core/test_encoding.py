"""Pattern encodings for variable-length ISAs: parse, encode, decode, and agree with GNU as."""

import shutil
import subprocess

import pytest
from hypothesis import given, strategies as st

from virtcheck.isa.encoding import Decoder, parse
from virtcheck.isa.errors import IsaError

# IA-32 forms (Intel SDM Vol. 2: SGDT 0F 01 /0; MOV r32, r/m32 8B /r; PUSHFD 9C; INT imm8 CD ib)
SGDT_DISP32 = parse("0F 01 [00 000 101] {disp:32}", 8)
MOV_RR = parse("8B [11 {reg:3} {rm:3}]", 8)
PUSHF = parse("9C", 8)
INT = parse("CD {n:8}", 8)
# M68000 PRM: MOVE from SR to Dn is 0100 0000 11 000 rrr; MOVE.L #imm, Dn is 0010 rrr 000 111 100 + 2 words
MOVE_FROM_SR = parse("[0100000011 000 {dn:3}]", 16, "big")
MOVEL_IMM = parse("[0010 {dn:3} 000 111100] {imm:32}", 16, "big")


def test_known_encodings():
    assert SGDT_DISP32.encode({"disp": 0x12345678}) == [0x0F, 0x01, 0x05, 0x78, 0x56, 0x34, 0x12]
    assert MOV_RR.encode({"reg": 0, "rm": 1}) == [0x8B, 0xC1]  # mov eax, ecx
    assert MOVE_FROM_SR.encode({"dn": 3}) == [0x40C3]
    assert MOVEL_IMM.encode({"dn": 2, "imm": 0xDEADBEEF}) == [0x243C, 0xDEAD, 0xBEEF]
    assert (SGDT_DISP32.length, MOV_RR.length, PUSHF.length, MOVEL_IMM.length) == (7, 2, 1, 3)


@given(reg=st.integers(0, 7), rm=st.integers(0, 7), disp=st.integers(0, 2**32 - 1))
def test_encode_then_extract_round_trips(reg, rm, disp):
    assert MOV_RR.extract(MOV_RR.encode({"reg": reg, "rm": rm})) == {"reg": reg, "rm": rm}
    assert SGDT_DISP32.extract(SGDT_DISP32.encode({"disp": disp})) == {"disp": disp}
    assert MOVEL_IMM.extract(MOVEL_IMM.encode({"dn": reg, "imm": disp})) == {"dn": reg, "imm": disp}


def test_decoder_picks_the_matching_form_or_reports_undefined():
    d = Decoder([SGDT_DISP32, MOV_RR, PUSHF, INT], 8)
    assert d.decode([0x8B, 0xC1]) == (1, {"reg": 0, "rm": 1})
    assert d.decode([0x9C, 0x00]) == (2, {})
    assert d.decode([0xCD, 0x80]) == (3, {"n": 0x80})
    assert d.decode([0x8B, 0x01]) is None  # mod=00 is a memory form this table does not have
    assert d.decode([0x0F]) is None  # truncated
    assert d.overlaps() == []
    assert Decoder([parse("8B {x:8}", 8), MOV_RR], 8).overlaps() == [(0, 1)]


@pytest.mark.parametrize("text,message", [
    ("0F 1", "encoding '0F 1': '1' is not a 8-bit unit in hex (2 digits), a [bits] unit or a {field:width}"),
    ("[11 {r:3}]", "encoding '[11 {r:3}]': unit '[11 {r:3}]' has 5 bits, not 8"),
    ("{imm:12}", "encoding '{imm:12}': field {imm:12} must fill whole 8-bit units"),
    ("[1x 000000]", "encoding '[1x 000000]': unit '[1x 000000]' may hold only 0, 1 and {name:width} fields"),
])
def test_malformed_patterns(text, message):
    with pytest.raises(IsaError) as exc:
        parse(text, 8)
    assert str(exc.value) == message


@pytest.mark.skipif(not shutil.which("as") or not shutil.which("objdump"), reason="GNU binutils not installed")
def test_ia32_patterns_agree_with_gnu_as(tmp_path):
    src = tmp_path / "t.s"
    src.write_text(".code32\nsgdt 0x12345678\n{load} mov %ecx, %eax\npushf\nint $0x80\n")
    obj = tmp_path / "t.o"
    subprocess.run(["as", "--32", "-o", str(obj), str(src)], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(obj), str(tmp_path / "t.bin")], check=True)
    got = list((tmp_path / "t.bin").read_bytes())
    want = (SGDT_DISP32.encode({"disp": 0x12345678}) + MOV_RR.encode({"reg": 0, "rm": 1}) + PUSHF.encode({})
            + INT.encode({"n": 0x80}))
    assert got == want
