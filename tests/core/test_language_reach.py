"""The language reaches past pg3: four rings with an IOPL compared against the current
level (as on IA-32), and an address translation that reads a page table in memory."""

import pytest

from virtcheck.checks.classify import classify_isa
from virtcheck.checks.results import PROPERTIES
from virtcheck.checks.verdict import Verdict
from virtcheck.isa.lang import (
    MEMORY, PRIVILEGE, SYSTEM, USER, Isa, Reg, concat, const, ite, land, ugt, ule, ult, zext,
)


def _rings():
    """CPL 0-3 and IOPL; the guest configuration is CPL = 3 with IOPL < CPL (Intel SDM
    Vol. 1 §18.5.1: IN/OUT fault when CPL > IOPL; Vol. 2B POPF: IF changes only when
    CPL <= IOPL, silently otherwise)."""
    isa = Isa("rings", word=16)
    isa.bank("r", 4, 8, USER)
    isa.pc("ip", 8)
    isa.field("cpl", 2, SYSTEM)
    isa.field("iopl", 2, SYSTEM)
    isa.field("intf", 1, SYSTEM)
    isa.memory("mem", 8, 16)
    isa.cause("gp", PRIVILEGE, 13)
    for k in range(4):
        isa.mode(f"ring{k}", lambda m, k=k: m.cpl == k, supervisor=(k == 0))
    isa.guest(lambda m: land(m.cpl == 3, ult(m.iopl, m.cpl)), doc="CPL = 3, IOPL < CPL")

    @isa.on_trap
    def trap(m, cause, info):
        m.cpl = const(0, 2)
        m.ip = const(0, 8)

    R = Reg("r")

    @isa.instruction("NOP")
    def NOP(m):
        pass

    @isa.instruction("IN {rd}", rd=R)
    def IN(m, rd):  # IOPL-sensitive: faults when CPL > IOPL
        m.trap_if(ugt(m.cpl, m.iopl), "gp")
        m.r[rd] = const(0x5A, 8)

    @isa.instruction("POPF {rs}", rs=R)
    def POPF(m, rs):  # IF changes only when CPL <= IOPL; otherwise ignored, no fault
        m.set_if(ule(m.cpl, m.iopl), "intf", m.r[rs][0])

    @isa.instruction("LCPL {rs}", rs=R)
    def LCPL(m, rs):  # ring-0 only
        m.trap_if(m.cpl != 0, "gp")
        m.cpl = m.r[rs][1:0]

    return isa.finalize()


def test_four_rings_and_iopl():
    r = classify_isa(_rings())
    true = {i.mnemonic: {p for p in PROPERTIES if i.value(p)} for i in r.instructions}
    assert true["IN"] == {"privileged", "innocuous"}
    assert true["LCPL"] == {"privileged", "control_sensitive", "sensitive"}
    assert true["POPF"] == {"control_sensitive", "sensitive"}
    assert r.theorems["1"].violations == ["POPF"]
    assert r.theorems["3"].verdict is Verdict.HOLDS  # in the guest configuration POPF changes nothing


def _paged():
    """A one-level page table at physical PTBR: 16 pages of 16 cells; an entry's bit 7
    is 'present', bits 3..0 the frame. The translation reads memory."""
    isa = Isa("paged", word=16)
    isa.bank("r", 4, 8, USER)
    isa.pc("pc", 8)
    isa.field("sup", 1, SYSTEM)
    isa.field("ptbr", 8, SYSTEM)
    isa.memory("mem", 8, 16)
    isa.cause("page", MEMORY, 14)
    isa.cause("priv", PRIVILEGE, 2)
    isa.mode("s", lambda m: m.sup == 1, supervisor=True)
    isa.mode("u", lambda m: m.sup == 0)
    isa.guest(lambda m: m.sup == 0, doc="user mode")

    @isa.translate
    def tr(m, vaddr, units, access):
        pte = m.phys_load(m.ptbr + zext(vaddr[7:4], 8))
        m.trap_if(pte[7] == 0, "page", info=zext(vaddr, 16))
        return concat(pte[3:0], vaddr[3:0])

    @isa.on_trap
    def trap(m, cause, info):
        m.sup = const(1, 1)
        m.pc = const(0, 8)

    R = Reg("r")

    @isa.instruction("NOP")
    def NOP(m):
        pass

    @isa.instruction("LD {rd}, {rs}", rd=R, rs=R)
    def LD(m, rd, rs):
        m.r[rd] = m.load(m.r[rs])[7:0]

    @isa.instruction("GETPT {rd}", rd=R)
    def GETPT(m, rd):  # reveals where the page table is: location-sensitive
        m.r[rd] = m.ptbr

    @isa.instruction("SETPT {rs}", rs=R)
    def SETPT(m, rs):
        m.trap_if(m.sup == 0, "priv")
        m.ptbr = m.r[rs]

    return isa.finalize()


def test_translation_through_a_page_table_in_memory():
    r = classify_isa(_paged())
    true = {i.mnemonic: {p for p in PROPERTIES if i.value(p)} for i in r.instructions}
    assert true["LD"] == {"innocuous"}
    assert true["GETPT"] == {"location_sensitive", "behaviour_sensitive", "user_sensitive", "sensitive"}
    assert true["SETPT"] == {"privileged", "control_sensitive", "sensitive"}
    assert r.theorems["1"].violations == ["GETPT"] and r.theorems["3"].violations == ["GETPT"]
    for i in r.instructions:
        for w in i.witnesses():
            assert w.replayed, w.explanation
