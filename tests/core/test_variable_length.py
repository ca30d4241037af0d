"""A variable-length ISA end to end: declared with byte patterns, assembled, disassembled,
compared byte for byte with GNU as, and classified. Encodings: Intel SDM Vol. 2
(NOP 90, MOV r32, imm32 B8+rd id, MOV r32, r/m32 8B /r, CLI FA, HLT F4)."""

import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from virtcheck.checks.classify import classify_isa
from virtcheck.isa.asm import assemble, decode_units, disassemble_units, encode_units, format_instruction
from virtcheck.isa.errors import IsaError
from virtcheck.isa.lang import PRIVILEGE, SYSTEM, USER, Imm, Isa, Reg, const, ugt, zext


def _tiny86():
    isa = Isa("tiny86", word=32, unit=8, endian="little")
    isa.bank("r", 8, 32, USER)
    isa.pc("eip", 16)
    isa.field("cpl", 2, SYSTEM)
    isa.field("iopl", 2, SYSTEM)
    isa.field("intf", 1, SYSTEM)
    isa.memory("mem", 16, 8)
    isa.cause("gp", PRIVILEGE, 13)
    isa.mode("ring0", lambda m: m.cpl == 0, supervisor=True)
    isa.mode("ring3", lambda m: m.cpl == 3)
    isa.guest(lambda m: (m.cpl == 3) & ugt(m.cpl, m.iopl), doc="CPL = 3 > IOPL")

    @isa.on_trap
    def trap(m, cause, info):
        m.cpl = const(0, 2)
        m.eip = const(0, 16)

    R = Reg("r")

    @isa.instruction("NOP", encoding="90")
    def NOP(m):
        pass

    @isa.instruction("MOV {rd}, {imm}", encoding="[10111 {rd:3}] {imm:32}", rd=R, imm=Imm(32))
    def MOV_r_imm(m, rd, imm):
        m.r[rd] = imm

    @isa.instruction("MOV {rd}, {rs}", encoding="8B [11 {rd:3} {rs:3}]", rd=R, rs=R)
    def MOV_r_r(m, rd, rs):
        m.r[rd] = m.r[rs]

    @isa.instruction("CLI", encoding="FA")
    def CLI(m):  # SDM Vol. 2A CLI: #GP(0) if CPL > IOPL
        m.trap_if(ugt(m.cpl, m.iopl), "gp")
        m.intf = const(0, 1)

    @isa.instruction("HLT", encoding="F4")
    def HLT(m):  # SDM Vol. 2A HLT: #GP(0) if CPL != 0
        m.trap_if(m.cpl != 0, "gp")
        m.halt()

    return isa.finalize()


REGS = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]


def test_lengths_and_next_pc_follow_the_encoding():
    isa = _tiny86()
    assert [i.length for i in isa.instructions] == [1, 5, 2, 1, 1]
    prog = assemble(isa, "start: MOV r1, 0x12345678\nMOV r0, r1\nCLI\nHLT\nNOP")
    assert prog.words() == [0xB9, 0x78, 0x56, 0x34, 0x12, 0x8B, 0xC1, 0xFA, 0xF4, 0x90]
    assert disassemble_units(isa, prog.words()) == ["MOV r1, 0x12345678", "MOV r0, r1", "CLI", "HLT", "NOP"]
    assert disassemble_units(isa, [0x0F]) == [".word 0xf"]


@settings(max_examples=100)
@given(data=st.data())
def test_round_trip(data):
    isa = _tiny86()
    ins = data.draw(st.sampled_from(isa.instructions))
    vals = [data.draw(st.integers(0, o.domain_size - 1)) for o in ins.operands]
    cells = encode_units(isa, ins, vals)
    assert decode_units(isa, cells) == (ins, tuple(vals))
    assert assemble(isa, format_instruction(isa, ins, vals)).words() == cells


@pytest.mark.skipif(not shutil.which("as") or not shutil.which("objcopy"), reason="GNU binutils not installed")
def test_bytes_agree_with_gnu_as(tmp_path):
    isa = _tiny86()
    ours = assemble(isa, "MOV r3, 0xdeadbeef\nMOV r2, r7\nCLI\nHLT\nNOP").words()
    (tmp_path / "t.s").write_text(".code32\nmov $0xdeadbeef, %ebx\n{load} mov %edi, %edx\ncli\nhlt\nnop\n")
    subprocess.run(["as", "--32", "-o", str(tmp_path / "t.o"), str(tmp_path / "t.s")], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(tmp_path / "t.o"), str(tmp_path / "t.bin")],
                   check=True)
    assert list((tmp_path / "t.bin").read_bytes()) == ours


def test_classification_sees_the_iopl_check():
    r = classify_isa(_tiny86())
    assert r.instruction("CLI").value("privileged") is True  # traps in the guest configuration (CPL 3 > IOPL)
    assert r.instruction("HLT").value("privileged") is True
    assert r.instruction("MOV_r_imm").value("innocuous") is True
    assert r.theorems["1"].holds is True


def test_unreachable_form_is_refused():
    isa = Isa("shadow", word=8, unit=8)
    isa.bank("r", 2, 8, USER)
    isa.pc("pc", 8)
    isa.field("s", 1, SYSTEM)
    isa.memory("mem", 8, 8)
    isa.cause("p", PRIVILEGE, 1)
    isa.mode("sup", lambda m: m.s == 1, supervisor=True)
    isa.guest(lambda m: m.s == 0, doc="s = 0")
    isa.on_trap(lambda m, c, i: None)

    @isa.instruction("A {x}", encoding="01 {x:8}", x=Imm(8))
    def A(m, x):
        pass

    @isa.instruction("B", encoding="01 02")
    def B(m):
        pass

    with pytest.raises(IsaError, match=r"instruction 'B': can never be decoded: 'A' \(.*\) matches every encoding of it"):
        isa.finalize()


def test_units_wider_than_memory_cells_split_in_byte_order():
    """M68000: 16-bit instruction words in byte-addressed, big-endian memory (PRM §1, §2.1)."""
    isa = Isa("tiny68k", word=32, unit=16, endian="big")
    isa.bank("d", 8, 32, USER)
    isa.pc("pc", 16)
    isa.field("s", 1, SYSTEM)
    isa.memory("mem", 16, 8)
    isa.cause("priv", PRIVILEGE, 8)
    isa.mode("sup", lambda m: m.s == 1, supervisor=True)
    isa.guest(lambda m: m.s == 0, doc="S = 0")
    isa.on_trap(lambda m, c, i: None)

    @isa.instruction("NOP", encoding="4E71")
    def NOP(m):
        pass

    @isa.instruction("MOVEL {imm}, {dn}", encoding="[0010 {dn:3} 000 111100] {imm:32}", dn=Reg("d"), imm=Imm(32))
    def MOVEL(m, dn, imm):
        m.d[dn] = imm

    isa.finalize()
    assert [i.length for i in isa.instructions] == [2, 6]
    prog = assemble(isa, "MOVEL 0xdeadbeef, d2\nNOP")
    assert prog.words() == [0x24, 0x3C, 0xDE, 0xAD, 0xBE, 0xEF, 0x4E, 0x71]
    assert disassemble_units(isa, prog.words()) == ["MOVEL 0xdeadbeef, d2", "NOP"]
    assert isa.by_mnemonic("NOP").effects.writes["pc"].b.value == 2  # pc advances by the length in bytes
