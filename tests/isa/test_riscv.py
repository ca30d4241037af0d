"""RISC-V (isa/machines/riscv.py): encodings both ways against GNU binutils, and privilege
rules run on the model, each expectation written from the manual with its citation.

"Vol. I" is the Unprivileged ISA (20191213), "Vol. II" the Privileged Architecture (v1.12).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import pytest

from virtcheck.hypervisor import Machine
from virtcheck.isa.asm import assemble, decode_units, disassemble_units, encode_units
from virtcheck.isa.machines.riscv import CSR

TOOLS = ("riscv64-unknown-elf-as", "riscv64-unknown-elf-objcopy", "riscv64-unknown-elf-objdump")
needs_binutils = pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS),
                                    reason="RISC-V binutils (riscv64-unknown-elf-as, -objcopy, -objdump) not installed")
CSR_BY_NUMBER = {n: name for name, n in CSR.items()}


# --- encodings ------------------------------------------------------------------------------------

def _sample(isa, rng: random.Random, count: int):
    """Random (instruction, operand values) in every instruction's domain."""
    out = []
    for _ in range(count):
        for ins in isa.instructions:
            vals = []
            for o in ins.operands:
                v = rng.randrange(o.domain_size) & ~o.zeros
                if ins.mnemonic == "FENCE":  # GNU spells pred/succ as letters: keep them non-empty
                    v |= 1
                vals.append(v)
            out.append((ins, tuple(vals)))
    return out


def _fence_set(v: int) -> str:
    return "".join(c for c, bit in zip("iorw", (8, 4, 2, 1)) if v & bit)


def _gnu(ins, vals) -> str:
    """The GNU as spelling of one instruction (pc-relative targets as .+offset)."""
    v = dict(zip((o.name for o in ins.operands), vals))
    signed = {o.name: (x - (1 << o.width) if o.signed and x >> (o.width - 1) else x)
              for o, x in zip(ins.operands, vals)}
    mn = ins.assembly_mnemonic.lower()
    if ins.mnemonic == "FENCE":
        return f"fence {_fence_set(v['pred'])}, {_fence_set(v['succ'])}"
    text = ins.syntax
    for o in ins.operands:
        if o.kind == "reg":
            s = f"x{v[o.name]}"
        elif o.kind == "target":
            s = f".{signed[o.name]:+d}"
        else:
            s = str(signed[o.name])
        text = text.replace("{" + o.name + "}", s)
    return mn + text[len(ins.assembly_mnemonic):]


def _assemble_gnu(tmp_path, lines: list[str]) -> list[int]:
    src = tmp_path / "t.s"
    src.write_text(".option norvc\n" + "\n".join(lines) + "\n")
    subprocess.run([TOOLS[0], "-march=rv32i_zicsr_zifencei", "-mabi=ilp32", "-o", str(tmp_path / "t.o"), str(src)],
                   check=True, capture_output=True)
    subprocess.run([TOOLS[1], "-O", "binary", "-j", ".text", str(tmp_path / "t.o"), str(tmp_path / "t.bin")],
                   check=True)
    data = (tmp_path / "t.bin").read_bytes()
    return list(data)


@needs_binutils
def test_gnu_as_assembles_what_we_encode(machines, tmp_path):
    """Every instruction form, random operands (seed 12): GNU as's bytes are ours."""
    isa = machines["riscv32"]
    sample = _sample(isa, random.Random(12), 8)
    want = [c for ins, vals in sample for c in encode_units(isa, ins, vals)]
    assert _assemble_gnu(tmp_path, [_gnu(ins, vals) for ins, vals in sample]) == want


_OBJDUMP_LINE = re.compile(r"^\s*([0-9a-f]+):\s+([0-9a-f]{8})\s+(\S+)\s*(.*)$")


def _number(tok: str) -> int:
    return CSR[tok] if tok in CSR else int(tok, 0)


@needs_binutils
def test_objdump_reads_our_bytes_as_we_decode_them(machines, tmp_path):
    """Our bytes, disassembled by objdump (numeric registers, no aliases), name the same
    instruction and operand values as our decoder (seed 13)."""
    isa = machines["riscv32"]
    sample = _sample(isa, random.Random(13), 4)
    cells = [c for ins, vals in sample for c in encode_units(isa, ins, vals)]
    (tmp_path / "ours.bin").write_bytes(bytes(cells))
    out = subprocess.run([TOOLS[2], "-D", "-b", "binary", "-m", "riscv:rv32", "-M", "numeric,no-aliases",
                          str(tmp_path / "ours.bin")], check=True, capture_output=True, text=True).stdout
    rows = [mo for mo in map(_OBJDUMP_LINE.match, out.splitlines()) if mo]
    assert len(rows) == len(sample)
    for mo, (ins, vals) in zip(rows, sample):
        addr = int(mo.group(1), 16)
        hit = decode_units(isa, cells[addr:addr + 4])
        assert hit == (ins, vals)
        assert mo.group(3) == ins.assembly_mnemonic.lower(), mo.group(0)
        if ins.mnemonic == "FENCE":
            assert mo.group(4) == f"{_fence_set(vals[0])},{_fence_set(vals[1])}"
            continue
        toks = [t for t in re.split(r"[,()\s]+", mo.group(4).split("<")[0].split("#")[0]) if t]
        fields = {o.name: x for o, x in zip(ins.operands, vals)}
        order = re.findall(r"\{(\w+)\}", ins.syntax)
        assert len(toks) == len(order), mo.group(0)
        for name, tok in zip(order, toks):
            o = ins.operand(name)
            x = fields[name]
            if o.kind == "reg":
                assert tok == f"x{x}", mo.group(0)
            elif o.kind == "target":  # objdump prints the target address
                assert _number(tok) == (addr + x - ((1 << o.width) if x >> (o.width - 1) else 0)) % 2**32
            elif name == "csr" and not re.fullmatch(r"0x[0-9a-f]+|\d+", tok) and tok not in CSR:
                continue  # a CSR this model does not define, named by objdump
            else:
                want = x - (1 << o.width) if o.signed and x >> (o.width - 1) else x
                assert _number(tok) == want, mo.group(0)


def test_all_zero_word_is_undefined(machines):
    """Vol. I §2.2: the all-zero 32-bit word is an illegal instruction (so is all ones)."""
    isa = machines["riscv32"]
    assert decode_units(isa, [0, 0, 0, 0]) is None and decode_units(isa, [0xFF] * 4) is None
    assert disassemble_units(isa, [0, 0, 0, 0]) == [".word 0x0"]


def test_disassembly_reassembles(machines):
    """Our disassembler's text assembles back to the same cells (seed 14)."""
    isa = machines["riscv32"]
    sample = _sample(isa, random.Random(14), 3)
    cells = [c for ins, vals in sample for c in encode_units(isa, ins, vals)]
    text = "\n".join(disassemble_units(isa, cells))
    assert assemble(isa, text).words() == cells


# --- privilege rules, run on the model --------------------------------------------------------------
# Every program starts in M-mode at ``start`` (Vol. II §3.4: reset enters M-mode), sets mtvec to
# ``handler``, and the handler records mcause/mepc/mtval in x10-x12 and halts (WFI with no
# interrupt enabled, see riscv.WFI).

PROLOGUE = """
.org 0x100
start:  ADDI x5, x0, 0x200
        CSRRW x0, 0x305, x5     ; mtvec := handler
"""
HANDLER = """
.org 0x200
handler: CSRRS x10, 0x342, x0   ; mcause
        CSRRS x11, 0x341, x0    ; mepc
        CSRRS x12, 0x343, x0    ; mtval
        CSRRW x0, 0x304, x0     ; mie := 0: WFI waits forever
        WFI
"""
TO_USER_RAW = """
        ADDI x6, x0, 0x180
        CSRRW x0, 0x341, x6     ; mepc := user
        MRET                    ; MPP = U after reset
"""
# Below M-mode an access no PMP entry matches fails (Vol. II §3.7.1), so M-mode software grants
# memory first, as firmware does: entry 3, TOR [pmpaddr2 = 0, 0x4000), RWX (lower entries win).
TO_USER = """
        LUI x6, 0x1
        CSRRW x0, 0x3B3, x6     ; pmpaddr3 := 0x4000 >> 2
        LUI x6, 0x0F000
        CSRRS x0, 0x3A0, x6     ; pmp3cfg := TOR, X W R
""" + TO_USER_RAW
# MPP := S, then MRET: the code at 0x180 runs in S-mode (Vol. II §3.1.6.1)
TO_SUPERVISOR = """
        LUI x7, 0x1
        ADDI x7, x7, -0x800     ; 0x800: MPP = S
        CSRRS x0, 0x300, x7
""" + TO_USER


def run(machines, body: str, user: str = "", extra: str = "", config: str = "riscv32") -> dict[str, int]:
    isa = machines[config]
    src = PROLOGUE + body + "\n.org 0x180\nuser:\n" + user + HANDLER + extra
    m = Machine(isa)
    m.load(assemble(isa, src, source="test.s"))
    res = m.run(200)
    assert res.reason == "halt", res
    return m.state().fields


def test_csr_privilege_rule(machines):
    """Vol. II §2.1: csr[9:8] is the lowest privilege that may access the CSR; mstatus
    (0x300) from U-mode is an illegal instruction (mcause 2, mepc the instruction)."""
    s = run(machines, TO_USER, "CSRRS x1, 0x300, x0")
    assert (s["x10"], s["x11"], s["priv"]) == (2, 0x180, 3)


def test_csr_read_only_rule(machines):
    """Vol. II §2.1: csr[11:10] = 3 is read-only; writing mhartid (0xF14) is illegal even in
    M-mode, reading it is not (Vol. II §3.1.5: hart 0)."""
    s = run(machines, "CSRRS x1, 0xF14, x0\nADDI x2, x0, 7\nCSRRW x0, 0xF14, x2")
    assert (s["x10"], s["x11"], s["x1"]) == (2, 0x110, 0)


def test_counter_enable(machines):
    """Vol. II §3.1.11: reading cycle below M with mcounteren.CY = 0 is illegal; with CY set
    in mcounteren and scounteren U-mode reads mcycle (Vol. II §4.1.5)."""
    s = run(machines, TO_USER, "CSRRS x1, 0xC00, x0")
    assert (s["x10"], s["x11"]) == (2, 0x180)
    s = run(machines, "ADDI x8, x0, 1\nCSRRW x0, 0x306, x8\nCSRRW x0, 0x106, x8\nADDI x8, x0, 42\n"
                      "CSRRW x0, 0xB00, x8\n" + TO_USER, "CSRRS x1, 0xC00, x0\nECALL")
    assert (s["x1"], s["x10"]) == (42, 8)


@pytest.mark.parametrize("tsr,cause", [(0, 8), (1, 2)])
def test_sret_traps_in_s_mode_only_with_tsr(machines, tsr, cause):
    """Vol. II §3.1.6.5: with TSR = 1 SRET in S-mode is illegal; with TSR = 0 it returns to
    SPP (U after reset), where ECALL is an environment call from U (mcause 8)."""
    set_tsr = "LUI x9, 0x400\nCSRRS x0, 0x300, x9\n" if tsr else ""
    s = run(machines, set_tsr + "ADDI x9, x0, 0x1C0\nCSRRW x0, 0x141, x9\n" + TO_SUPERVISOR, "SRET",
            extra=".org 0x1C0\nECALL")
    assert s["x10"] == cause
    assert s["x11"] == (0x1C0 if tsr == 0 else 0x180)


def test_xret_below_its_level_is_illegal(machines):
    """Vol. II §3.3.2: MRET below M-mode and SRET in U-mode are illegal instructions."""
    assert run(machines, TO_SUPERVISOR, "MRET")["x10"] == 2
    assert run(machines, TO_USER, "SRET")["x10"] == 2


@pytest.mark.parametrize("bit,ins", [(20, "SFENCE.VMA x0, x0"), (20, "CSRRS x1, 0x180, x0"), (21, "WFI")])
def test_tvm_and_tw_trap_s_mode(machines, bit, ins):
    """Vol. II §3.1.6.5: TVM = 1 makes satp accesses and SFENCE.VMA in S-mode illegal; TW = 1
    makes WFI in S-mode illegal. With the bit clear they complete (then ECALL from S: 9)."""
    set_bit = f"LUI x9, {(1 << bit) >> 12:#x}\nCSRRS x0, 0x300, x9\n"
    assert run(machines, set_bit + TO_SUPERVISOR, ins)["x10"] == 2
    enable = "ADDI x9, x0, 2\nCSRRS x0, 0x304, x9\nCSRRS x0, 0x344, x9\n" if ins == "WFI" else ""
    assert run(machines, enable + TO_SUPERVISOR, f"{ins}\nECALL")["x10"] == 9


def test_delegation(machines):
    """Vol. II §3.1.8: an ECALL from U-mode whose medeleg bit (8) is set traps to S-mode
    (scause 8, sepc, priv S, pc = stvec); an ECALL from S-mode (bit 9 clear) goes to M."""
    body = ("ADDI x9, x0, 0x100\nCSRRW x0, 0x302, x9\n"  # medeleg: bit 8
            "ADDI x9, x0, 0x1C0\nCSRRW x0, 0x105, x9\n" + TO_USER)  # stvec
    extra = ".org 0x1C0\nCSRRS x13, 0x142, x0\nCSRRS x14, 0x141, x0\nECALL"
    s = run(machines, body, "ECALL", extra=extra)
    assert (s["x13"], s["x14"], s["x10"], s["x11"]) == (8, 0x180, 9, 0x1C8)


PMP_NAPOT_8K = "ADDI x9, x0, 0x3FF\nCSRRW x0, 0x3B0, x9\nADDI x9, x0, 0x1F\nCSRRW x0, 0x3A0, x9\n"


def test_pmp_napot_fault(machines):
    """Vol. II §3.7.1: NAPOT entry 0 grants U-mode RWX on 0x0-0x1FFF; a U-mode load at 0x2000
    matches no entry and faults (load access fault, mcause 5, mtval the address)."""
    s = run(machines, PMP_NAPOT_8K + TO_USER_RAW, "LUI x1, 0x2\nLW x2, 0(x1)")
    assert (s["x10"], s["x11"], s["x12"]) == (5, 0x184, 0x2000)
    s = run(machines, PMP_NAPOT_8K + TO_USER_RAW, "LW x2, 0x40(x0)\nECALL")
    assert s["x10"] == 8


def test_pmp_tor_and_lock(machines):
    """Vol. II §3.7.1: a TOR entry with R and X only refuses U-mode stores (store access fault,
    7); M-mode ignores an unlocked entry but obeys a locked one (L = 1)."""
    tor_r = "LUI x9, 0x1\nCSRRW x0, 0x3B0, x9\nADDI x9, x0, 0x0D\nCSRRW x0, 0x3A0, x9\n"  # [0, 0x4000) R X
    s = run(machines, tor_r + TO_USER_RAW, "SW x0, 0x40(x0)")
    assert (s["x10"], s["x12"]) == (7, 0x40)
    s = run(machines, tor_r + "SW x0, 0x40(x0)\nECALL")
    assert s["x10"] == 11
    locked = "LUI x9, 0x1\nCSRRW x0, 0x3B0, x9\nADDI x9, x0, 0x8D\nCSRRW x0, 0x3A0, x9\n"  # L, TOR, X, R
    s = run(machines, locked + "SW x0, 0x40(x0)")
    assert s["x10"] == 7


SV32 = """
.org 0x1000
        .word 0x801             ; root entry 0: next level at page 2 (V)
.org 0x2000
        .word 0xDF              ; VA page 0 -> PA page 0: D A U X W R V
        .word 0x41F             ; VA page 1 -> PA page 1: U X W R V, A = 0
        .word 0x8DF             ; VA page 2 -> PA page 2
        .word 0                 ; VA page 3: invalid
"""
SATP_ON = "LUI x8, 0x80000\nADDI x8, x8, 1\nCSRRW x0, 0x180, x8\n"  # Sv32, root at page 1
PMP_ALL = "LUI x9, 0x1\nCSRRW x0, 0x3B0, x9\nADDI x9, x0, 0x0F\nCSRRW x0, 0x3A0, x9\n"  # TOR [0, 0x4000) RWX


@pytest.mark.parametrize("addr,cause", [(0x3000, 13), (0x1000, 13), (0x2004, 8)])
def test_sv32_walk(machines, addr, cause):
    """Vol. II §4.3.2: U-mode loads through Sv32: an invalid leaf (V = 0) and a leaf with
    A = 0 (no hardware A/D update) raise load page faults (13, mtval the address); a valid
    leaf reads the mapped cell (then ECALL from U: 8)."""
    s = run(machines, PMP_ALL + SATP_ON + TO_USER, f"LUI x1, {addr >> 12:#x}\nLW x2, {addr & 0xFFF}(x1)\nECALL",
            extra=SV32)
    assert s["x10"] == cause
    if cause == 13:
        assert s["x12"] == addr
    else:
        assert s["x2"] == 0x41F


def test_s_mode_and_user_pages(machines):
    """Vol. II §4.3.2 step 5 / §4.1.1: S-mode never fetches from a U page (instruction page
    fault, 12); it loads from one only with SUM = 1 (else a load page fault, 13)."""
    assert run(machines, PMP_ALL + SATP_ON + TO_SUPERVISOR, "ECALL", extra=SV32)["x10"] == 12
    s_code = SV32.replace(".word 0xDF ", ".word 0xCF ")  # VA page 0 without U: S-mode code
    load = "LUI x1, 0x2\nLW x2, 0(x1)\nECALL"  # VA page 2 is a U page
    s = run(machines, PMP_ALL + SATP_ON + TO_SUPERVISOR, load, extra=s_code)
    assert (s["x10"], s["x12"]) == (13, 0x2000)
    sum_on = "LUI x9, 0x40\nCSRRS x0, 0x300, x9\n"
    s = run(machines, PMP_ALL + SATP_ON + sum_on + TO_SUPERVISOR, load, extra=s_code)
    assert (s["x10"], s["x2"]) == (9, 0xCF)


def test_misaligned_and_out_of_memory(machines):
    """Vol. I §2.6: a misaligned LW may trap (load address misaligned, 4); an address past
    the 16 KiB of memory is a load access fault (5)."""
    assert run(machines, "LW x1, 2(x0)")["x10"] == 4
    s = run(machines, "LUI x1, 0x4\nLW x2, 0(x1)")
    assert (s["x10"], s["x12"]) == (5, 0x4000)


def test_isa_show_prints_the_declared_bit_slices():
    """`virtcheck isa show` shows an explicit encoding as declared, and the operand domain
    the slices leave (bit 0 of a branch offset is not encoded)."""
    from click.testing import CliRunner

    from virtcheck.cli import main

    out = CliRunner().invoke(main, ["isa", "show", "riscv32"]).output
    assert "         operand imm: pc-relative target pc-4096..pc+4094 with bits 0x1 clear\n" \
           "         encoding [imm[12] @ imm[10..5] @ {rs2:5} @ {rs1:5} @ 000 @ imm[4..1] @ imm[11] @ 1100011]\n" in out
