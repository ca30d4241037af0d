"""Pattern encodings for variable-length ISAs: parse, encode, decode, and agree with GNU as."""

import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

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
    ("[1x 000000]", "encoding '[1x 000000]': unit '[1x 000000]' may hold only 0, 1, {name:width} fields, "
                    "name[hi..lo] slices and @"),
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


# --- bit slices (sail-riscv style): RISC-V's permuted immediates ----------------------------------
# RISC-V ISA manual Vol. I §2.3 (Figure 2.3, formats) and §2.5 (B and J immediates):
# B-type imm[12|10:5] rs2 rs1 funct3 imm[4:1|11] opcode; J-type imm[20|10:1|11|19:12] rd opcode;
# S-type imm[11:5] rs2 rs1 funct3 imm[4:0] opcode.
BEQ = parse("[imm[12] @ imm[10..5] @ {rs2:5} @ {rs1:5} @ 000 @ imm[4..1] @ imm[11] @ 0b1100011]", 32)
JAL = parse("[imm[20] @ imm[10..1] @ imm[11] @ imm[19..12] @ {rd:5} @ 1101111]", 32)
SW = parse("[{imm[11:5]} {rs2:5} {rs1:5} 010 {imm[4:0]} 0100011]", 32)


def _b_imm(word: int) -> int:
    """The B-type immediate as Vol. I §2.5 spells it, bit by bit (independent of the parser)."""
    bit = lambda k: (word >> k) & 1  # noqa: E731
    return (bit(31) << 12) | (bit(7) << 11) | (((word >> 25) & 0x3F) << 5) | (((word >> 8) & 0xF) << 1)


def _j_imm(word: int) -> int:
    return ((word >> 31) << 20) | (((word >> 12) & 0xFF) << 12) | (((word >> 20) & 1) << 11) \
        | (((word >> 21) & 0x3FF) << 1)


def test_slices_known_words():
    # beq x1, x2, .+8 is 0x00208463; jal x1, .+2048 is 0x001000ef; sw x2, -4(x1) is 0xfe20ae23 (GNU as)
    assert BEQ.encode({"imm": 8, "rs1": 1, "rs2": 2}) == [0x00208463]
    assert JAL.encode({"imm": 2048, "rd": 1}) == [0x001000EF]
    assert SW.encode({"imm": 0xFFC, "rs1": 1, "rs2": 2}) == [0xFE20AE23]
    assert BEQ.widths["imm"] == 13 and JAL.widths["imm"] == 21 and SW.widths["imm"] == 12
    assert (BEQ.zeros("imm"), JAL.zeros("imm"), SW.zeros("imm"), BEQ.zeros("rs1")) == (1, 1, 0, 0)


@given(word=st.integers(0, 2**32 - 1))
def test_slices_decode_as_the_manual_spells_them(word):
    """extract agrees with the manual's bit-by-bit definition on every word that matches."""
    b = (word & ~0x707F) | 0x63  # force funct3 = 000, opcode = BRANCH
    assert BEQ.matches([b]) and BEQ.extract([b])["imm"] == _b_imm(b)
    j = (word & ~0x7F) | 0x6F
    assert JAL.matches([j]) and JAL.extract([j])["imm"] == _j_imm(j)


@given(imm=st.integers(0, 2**12 - 1).map(lambda v: v << 1), rs1=st.integers(0, 31), rs2=st.integers(0, 31))
def test_slices_round_trip(imm, rs1, rs2):
    """encode then extract is the identity on the domain; extract then encode on matching words."""
    vals = {"imm": imm, "rs1": rs1, "rs2": rs2}
    words = BEQ.encode(vals)
    assert BEQ.extract(words) == vals
    assert BEQ.encode(BEQ.extract(words)) == words


def test_slices_refuse_values_with_bits_the_encoding_cannot_hold():
    with pytest.raises(IsaError) as exc:
        BEQ.encode({"imm": 3, "rs1": 0, "rs2": 0})
    assert str(exc.value) == (f"encoding '{BEQ.text}': operand 'imm' value 0x3 has bits 0x1 set, which the "
                              "encoding cannot hold (they are always 0)")


@pytest.mark.parametrize("text,message", [
    ("[imm[3..5] 00000]", "encoding '[imm[3..5] 00000]': slice 'imm[3..5]' must name its high bit first"),
    ("[imm[4..1] imm[1] 000]", "encoding '[imm[4..1] imm[1] 000]': bits 1..1 of operand 'imm' are placed twice"),
    ("[{imm:4} imm[7..4]]", "encoding '[{imm:4} imm[7..4]]': operand 'imm' is given both as bit slices and as "
                            "{imm:width} pieces"),
    ("[imm[7..4] {imm:4}]", "encoding '[imm[7..4] {imm:4}]': operand 'imm' is given both as bit slices and as "
                            "{imm:width} pieces"),
    ("[{imm[7..0]]", "encoding '[{imm[7..0]]': unbalanced braces in '{imm[7..0]'"),
    ("[imm[6..0]]", "encoding '[imm[6..0]]': unit '[imm[6..0]]' has 7 bits, not 8"),
])
def test_malformed_slices(text, message):
    with pytest.raises(IsaError) as exc:
        parse(text, 8)
    assert str(exc.value) == message


RV_TOOLS = ("riscv64-unknown-elf-as", "riscv64-unknown-elf-objcopy")


@pytest.mark.skipif(not all(shutil.which(t) for t in RV_TOOLS),
                    reason="RISC-V binutils (riscv64-unknown-elf-as, -objcopy) not installed")
@given(imm=st.integers(-2048, 2047).map(lambda v: v * 2), jimm=st.integers(-(2**19), 2**19 - 1).map(lambda v: v * 2),
       simm=st.integers(-2048, 2047), r1=st.integers(0, 31), r2=st.integers(0, 31))
@settings(max_examples=10, deadline=None)
def test_slices_agree_with_gnu_as(tmp_path_factory, imm, jimm, simm, r1, r2):
    tmp = tmp_path_factory.mktemp("rv")
    (tmp / "t.s").write_text(f".option norvc\nbeq x{r1}, x{r2}, .{imm:+d}\njal x{r1}, .{jimm:+d}\n"
                             f"sw x{r2}, {simm}(x{r1})\n")
    subprocess.run([RV_TOOLS[0], "-march=rv32i_zicsr", "-mabi=ilp32", "-o", str(tmp / "t.o"), str(tmp / "t.s")],
                   check=True)
    subprocess.run([RV_TOOLS[1], "-O", "binary", "-j", ".text", str(tmp / "t.o"), str(tmp / "t.bin")], check=True)
    data = (tmp / "t.bin").read_bytes()
    got = [int.from_bytes(data[k:k + 4], "little") for k in range(0, len(data), 4)]
    want = (BEQ.encode({"imm": imm % 2**13, "rs1": r1, "rs2": r2}) + JAL.encode({"imm": jimm % 2**21, "rd": r1})
            + SW.encode({"imm": simm % 2**12, "rs1": r1, "rs2": r2}))
    assert got == want
