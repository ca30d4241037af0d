"""Behaviour-sensitivity on a translation that may share cells between virtual addresses.

Two states whose translations share cells differently are told apart by a guest (store at
one address, load at the other), so a plain store must not look location-sensitive just
because one state aliases and the other does not; a store whose address depends on a system
field still is."""

import textwrap

from virtcheck.checks.classify import classify_isa
from virtcheck.isa.loader import load

WINDOWS = '''\
from virtcheck.isa.lang import *
isa = Isa("windows", word=16)
isa.pc("pc", 8)
isa.bank("r", 4, 8, USER)
isa.field("S", 1, SYSTEM)
isa.field("w0", 1, SYSTEM, doc="frame of virtual 0x00-0x7F")
isa.field("w1", 1, SYSTEM, doc="frame of virtual 0x80-0xFF (may equal w0: aliasing)")
isa.field("k", 8, SYSTEM, doc="a system value")
isa.memory("mem", 8, 16)
isa.cause("priv", PRIVILEGE, 1)
isa.mode("sup", lambda m: m.S == 1, supervisor=True)
isa.mode("usr", lambda m: m.S == 0)
isa.guest(lambda m: m.S == 0, doc="user mode")

@isa.translate
def translate(m, vaddr, units, access):
    frame = ite(vaddr[7] == 0, m.w0, m.w1)
    return concat(frame, vaddr[6:0])

@isa.on_trap
def trap(m, cause, info):
    m.S = 1
    m.pc = 0

@isa.instruction("NOP")
def NOP(m):
    pass

@isa.instruction("ST {rs}, {rt}", rs=Reg("r"), rt=Reg("r"))
def ST(m, rs, rt):
    """mem[rt] := rs through the translation."""
    m.store(m.r[rt], zext(m.r[rs], 16))

@isa.instruction("STK {rs}", rs=Reg("r"))
def STK(m, rs):
    """mem[k] := rs: the address is a system value."""
    m.store(m.k, zext(m.r[rs], 16))
'''


def test_a_plain_store_is_innocuous_on_an_aliasing_translation(tmp_path):
    path = tmp_path / "windows.py"
    path.write_text(textwrap.dedent(WINDOWS))
    (isa,) = load(str(path))
    res = {r.mnemonic: r for r in classify_isa(isa).instructions}
    assert res["ST"].value("sensitive") is False
    assert res["STK"].value("resource_sensitive") is True
    assert res["STK"].value("behaviour_sensitive") is True
    assert all(w.replayed for w in res["STK"].witnesses())
