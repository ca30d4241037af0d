"""``m68000`` and ``m68010``: the Motorola MC68000 and MC68010, the classic pair for Popek & Goldberg.

Modelled from Motorola's *M68000 Family Programmer's Reference Manual* (M68000PM/AD, rev. 1,
"PRM" below): §1.1-1.3 programming models, §2 addressing, §3.3 condition codes (Table 3-18
condition code computations, Table 3-19 conditional tests), §4 integer instructions, §6
supervisor (privileged) instructions, §8 instruction format summary; and for exception
processing, which the PRM only outlines, the *M68000 8-/16-/32-Bit Microprocessors User's
Manual* (M68000UM/AD, "UM") §6 (§6.2 exception vectors, §6.3 exception stack frames, §6.4
RTE on the MC68010).

The MC68000 is the textbook machine that fails Popek & Goldberg's Theorem 1: ``MOVE SR,<ea>``
copies the whole status register -- supervisor bit and interrupt mask included -- in user
mode without trapping. The MC68010 made it privileged and added ``MOVE CCR,<ea>`` for the
condition codes (PRM §4 MOVE from CCR, §6 MOVE from SR: "privileged in the MC68010 and
later"). The checker derives both verdicts; nothing here names a classification.

State
    ``d0``-``d7`` data registers and ``a0``-``a7`` address registers (user), ``PC`` (user),
    ``SR`` = T . S . I2-I0 . X N Z V C (PRM §1.3.2): ``T`` trace, ``S`` supervisor, ``I``
    interrupt mask (system); X N Z V C the condition code register ``CCR`` (user).
    ``a7`` is the **active** stack pointer -- the user stack pointer USP while S = 0, the
    supervisor stack pointer SSP while S = 1 (PRM §1.1.1, §1.3.1) -- and ``OSP`` (system)
    holds the **inactive** one. The hardware has two physical registers USP and SSP and
    A7 names one of them by S; holding them as active/inactive is the same machine (the
    two views are in bijection, see ``_usp``/``_ssp``), and it is the one that gives each
    field the role the definitions need: the stack pointer a program addresses as A7 is
    what it sees in every mode, the other one is what a monitor must keep to itself. With
    USP as a user field and SSP as a system field selected by S, every ``MOVE A7, ...``
    would count as mode-sensitive and every write to A7 in supervisor mode as
    control-sensitive (docs/m68k.md explains why that is a property of the encoding of
    the state, not of the machine).
    The MC68010 adds ``VBR`` (vector base) and the 3-bit function-code registers ``SFC``
    and ``DFC`` (system; PRM §1.3.3).

Memory
    byte-addressed and big-endian (PRM §1.7), 64 KiB: the 24-bit address bus is truncated
    to 16 bits so that witnesses replay fast. Addresses are the low 16 bits of a 32-bit
    address register, the PC is 16 bits (a stacked PC is zero-extended to a long).
    There is no MMU, so translation is the identity: no location-sensitivity can arise and
    there is no ``partition`` (a monitor would need external relocation hardware).

Exceptions (UM §6)
    a trap copies SR, sets S = 1 and T = 0, pushes the PC (long) and then SR (word) on the
    supervisor stack -- the MC68010 first pushes a format/vector-offset word (format 0)
    -- and loads the PC from vector n at 4n (MC68010: VBR + 4n). Modelled causes:
    illegal instruction (vector 4), zero divide (5), TRAPV (7), privilege violation (8),
    MC68010 format error (14), ``TRAP #n`` (32 + n).

Abstracted (docs/m68k.md): address and bus errors (odd word/long addresses are accessed as
if aligned), tracing (T is held, no trace exception is taken), interrupts (I is held),
the MC68010's format-$8 bus-fault frames and loop mode, and every instruction or
addressing mode not listed below. Only long (``.L``) data operations are modelled, named
with the MIT-syntax size suffix GNU as also accepts (``MOVEL`` is ``MOVE.L``).
"""

from __future__ import annotations

from virtcheck.isa.lang import (
    CALL, EXCEPTION, PRIVILEGE, SYSTEM, USER, Imm, Isa, Reg, concat, const, ite, lnot, sext, udiv, ugt,
    urem, zext,
)

ADDR = 16  # address bits kept of the 24-bit bus

m68000 = Isa(
    "m68000", word=32, unit=16, endian="big",
    doc="Motorola MC68000: MOVE from SR reads the supervisor byte in user mode without trapping.",
    source="Motorola M68000PM/AD (Programmer's Reference Manual) §1-§8; M68000UM/AD §6 (exceptions)",
)

m68000.bank("d", 8, 32, USER, doc="data registers D0-D7 (PRM §1.1.1)")
m68000.bank("a", 8, 32, USER, doc="address registers A0-A7; a7 is the active stack pointer (PRM §1.1.2)")
m68000.pc("PC", ADDR, doc="program counter (PRM §1.1.3; 16 of its 24 address bits)")
m68000.field("T", 1, SYSTEM, doc="SR[15] trace enable (PRM §1.3.2)")
m68000.field("S", 1, SYSTEM, doc="SR[13] supervisor state: 1 = supervisor, 0 = user")
m68000.field("I", 3, SYSTEM, doc="SR[10:8] interrupt priority mask I2-I0")
m68000.field("X", 1, USER, doc="CCR[4] extend")
m68000.field("N", 1, USER, doc="CCR[3] negative")
m68000.field("Z", 1, USER, doc="CCR[2] zero")
m68000.field("V", 1, USER, doc="CCR[1] overflow")
m68000.field("C", 1, USER, doc="CCR[0] carry")
m68000.field("OSP", 32, SYSTEM, doc="the inactive stack pointer: SSP while S = 0, USP while S = 1 (PRM §1.3.1)")
m68000.composite("SR", 16, {"T": (15, 15), "S": (13, 13), "I": (10, 8),
                            "X": (4, 4), "N": (3, 3), "Z": (2, 2), "V": (1, 1), "C": (0, 0)})
m68000.composite("CCR", 8, {"X": (4, 4), "N": (3, 3), "Z": (2, 2), "V": (1, 1), "C": (0, 0)})
m68000.memory("mem", ADDR, 8, doc="byte-addressed memory, big-endian (PRM §1.7); 64 KiB of the 16 MiB bus")

# Cause codes are the exception vector numbers (UM §6.2, Table 6-2).
ILLEGAL_INSTRUCTION = m68000.cause("illegal", EXCEPTION, 4, doc="illegal instruction (vector 4)")
ZERO_DIVIDE = m68000.cause("zero_divide", EXCEPTION, 5, doc="DIVU by zero (vector 5)")
TRAPV_CAUSE = m68000.cause("trapv", EXCEPTION, 7, doc="TRAPV with V set (vector 7)")
PRIV = m68000.cause("privilege", PRIVILEGE, 8, doc="privilege violation (vector 8)")
TRAP_CAUSE = m68000.cause("trap", CALL, 32, doc="TRAP #n (vectors 32-47; the info is n)")

m68000.mode("supervisor", lambda m: m.S == 1, supervisor=True)
m68000.mode("user", lambda m: m.S == 0)
m68000.guest(lambda m: m.S == 0, doc="S = 0 (the guest runs in user mode)")
m68000.reset(S=1, I=7)  # UM §6.3.1 reset: S = 1, T = 0, I = 7 (SSP and PC come from vectors 0 and 1)


# --- helpers ------------------------------------------------------------------------------
def _swap(v):
    """Byte-reverse: memory cells hold the most significant byte first (PRM §1.7), the
    language's multi-cell loads and stores are little-endian."""
    n = v.width // 8
    return v if n == 1 else concat(*[v[8 * k + 7:8 * k] for k in range(n)])


def _ea(addr32):
    return addr32[ADDR - 1:0]


def _load(m, addr32, size):
    return _swap(m.load(_ea(addr32), units=size))


def _store(m, addr32, value):
    m.store(_ea(addr32), _swap(value), units=value.width // 8)


def _phys_load(m, addr, size):
    return _swap(m.phys_load(addr, units=size))


def _phys_store(m, addr, value):
    m.phys_store(addr, _swap(value), units=value.width // 8)


def _usp(m):
    """The user stack pointer: a7 in user mode, the inactive one in supervisor mode."""
    return ite(m.S == 1, m.OSP, m.a[7])


def _ssp(m):
    """The supervisor stack pointer: a7 in supervisor mode, the inactive one in user mode."""
    return ite(m.S == 1, m.a[7], m.OSP)


def _set_stacks(m, s, ssp, usp):
    """After a change of S: a7 is the stack pointer of the new mode, OSP the other."""
    m.set("a7", ite(s == 1, ssp, usp))
    m.OSP = ite(s == 1, usp, ssp)


def _load_sr(m, sr, ssp=None):
    """SR := sr (every implemented bit); A7 follows the new S (PRM §6 MOVE to SR, RTE)."""
    m.set("SR", sr)
    _set_stacks(m, sr[13], _ssp(m) if ssp is None else ssp, _usp(m))


def _privileged(m):
    """PRM §6: a supervisor instruction executed with S = 0 takes a privilege violation."""
    m.trap_if(m.S == 0, PRIV)


def _logic_flags(m, r):
    """PRM Table 3-18, MOVE/AND/OR/EOR/TST/CLR: N, Z from the result, V = C = 0, X unaffected."""
    m.N = r[r.width - 1]
    m.Z = r == 0
    m.V = 0
    m.C = 0


def _add_flags(m, s, d, r, extend=True):
    """PRM Table 3-18, ADD: V = Sm.Dm.!Rm + !Sm.!Dm.Rm; C = Sm.Dm + !Rm.Dm + Sm.!Rm; X = C."""
    sm, dm, rm = s[31], d[31], r[31]
    carry = (sm & dm) | (~rm & dm) | (sm & ~rm)
    m.N = rm
    m.Z = r == 0
    m.V = (sm & dm & ~rm) | (~sm & ~dm & rm)
    m.C = carry
    if extend:
        m.X = carry


def _sub_flags(m, s, d, r, extend=True):
    """PRM Table 3-18, SUB and CMP (R = D - S): V = !Sm.Dm.!Rm + Sm.!Dm.Rm;
    C = Sm.!Dm + Rm.!Dm + Sm.Rm; X = C (CMP leaves X alone)."""
    sm, dm, rm = s[31], d[31], r[31]
    borrow = (sm & ~dm) | (rm & ~dm) | (sm & rm)
    m.N = rm
    m.Z = r == 0
    m.V = (~sm & dm & ~rm) | (sm & ~dm & rm)
    m.C = borrow
    if extend:
        m.X = borrow


def _named(fn, name, doc):
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


D, A = Reg("d"), Reg("a")


# --- exception processing ------------------------------------------------------------------
def _vector(cause, info):
    """The vector number as a 12-bit value: TRAP #n uses 32 + n, the others their own."""
    if cause is TRAP_CAUSE:
        return const(32, 12) + zext(info[3:0], 12)
    return const(cause.code, 12)


def _stacked_pc(m, cause, info):
    """UM §6.3 / Table 6-5: TRAP #n (one word) stacks the next instruction; zero divide and
    TRAPV stack the next instruction too, which their instruction passes as the info;
    everything else stacks the address of the instruction that caused it."""
    if cause is TRAP_CAUSE:
        return zext(m.PC + 2, 32)
    if cause in (ZERO_DIVIDE, TRAPV_CAUSE):
        return info
    return zext(m.PC, 32)


@m68000.on_trap
def trap_68000(m, cause, info):
    """UM §6.2-6.3 (MC68000): S := 1, T := 0; push the PC (long) and SR (word) on the
    supervisor stack (SSP -= 6); PC := the long at 4 * vector."""
    sp = _ssp(m) - 6
    _phys_store(m, _ea(sp), m.SR)
    _phys_store(m, _ea(sp + 2), _stacked_pc(m, cause, info))
    m.S = 1
    m.T = 0
    _set_stacks(m, const(1, 1), sp, _usp(m))
    m.PC = _phys_load(m, zext(_vector(cause, info), ADDR) << 2, 4)[ADDR - 1:0]


# --- instructions ---------------------------------------------------------------------------
@m68000.instruction("NOP", encoding="4E71")
def NOP(m):
    """PRM §4 NOP: no operation (0x4E71), the simplest innocuous instruction."""


@m68000.instruction("MOVEQ #{imm}, {dn}", encoding="[0111 {dn:3} 0 {imm:8}]", dn=D, imm=Imm(8, signed=True))
def MOVEQ(m, dn, imm):
    """PRM §4 MOVEQ: Dn := sign-extended 8-bit immediate; N Z set, V C cleared, X unaffected."""
    v = sext(imm, 32)
    m.d[dn] = v
    _logic_flags(m, v)


# MOVE.L, PRM §4 MOVE: 00 size=10 | destination register, mode | source mode, register.
@m68000.instruction("MOVEL {dm}, {dn}", encoding="[0010 {dn:3} 000 000 {dm:3}]", dn=D, dm=D)
def MOVEL_d_d(m, dn, dm):
    """PRM §4 MOVE.L Dm,Dn; flags as Table 3-18 (N Z, V = C = 0, X unaffected)."""
    m.d[dn] = m.d[dm]
    _logic_flags(m, m.d[dm])


@m68000.instruction("MOVEL {am}, {dn}", encoding="[0010 {dn:3} 000 001 {am:3}]", dn=D, am=A)
def MOVEL_a_d(m, dn, am):
    """PRM §4 MOVE.L Am,Dn (address register direct source)."""
    m.d[dn] = m.a[am]
    _logic_flags(m, m.a[am])


@m68000.instruction("MOVEL ({am}), {dn}", encoding="[0010 {dn:3} 000 010 {am:3}]", dn=D, am=A)
def MOVEL_ind_d(m, dn, am):
    """PRM §4 MOVE.L (Am),Dn (address register indirect, PRM §2.2.3)."""
    v = _load(m, m.a[am], 4)
    m.d[dn] = v
    _logic_flags(m, v)


@m68000.instruction("MOVEL ({am})+, {dn}", encoding="[0010 {dn:3} 000 011 {am:3}]", dn=D, am=A)
def MOVEL_postinc_d(m, dn, am):
    """PRM §4 MOVE.L (Am)+,Dn (postincrement by 4, PRM §2.2.4; on a7 a pop)."""
    v = _load(m, m.a[am], 4)
    m.a[am] = m.a[am] + 4
    m.d[dn] = v
    _logic_flags(m, v)


@m68000.instruction("MOVEL -({am}), {dn}", encoding="[0010 {dn:3} 000 100 {am:3}]", dn=D, am=A)
def MOVEL_predec_d(m, dn, am):
    """PRM §4 MOVE.L -(Am),Dn (predecrement by 4, PRM §2.2.5)."""
    addr = m.a[am] - 4
    v = _load(m, addr, 4)
    m.a[am] = addr
    m.d[dn] = v
    _logic_flags(m, v)


@m68000.instruction("MOVEL #{imm}, {dn}", encoding="[0010 {dn:3} 000 111100] {imm:32}", dn=D, imm=Imm(32))
def MOVEL_imm_d(m, dn, imm):
    """PRM §4 MOVE.L #imm,Dn (immediate, PRM §2.2.12: the long follows the opcode word)."""
    m.d[dn] = imm
    _logic_flags(m, imm)


@m68000.instruction("MOVEL {dm}, ({an})", encoding="[0010 {an:3} 010 000 {dm:3}]", an=A, dm=D)
def MOVEL_d_ind(m, an, dm):
    """PRM §4 MOVE.L Dm,(An)."""
    _store(m, m.a[an], m.d[dm])
    _logic_flags(m, m.d[dm])


@m68000.instruction("MOVEL {dm}, ({an})+", encoding="[0010 {an:3} 011 000 {dm:3}]", an=A, dm=D)
def MOVEL_d_postinc(m, an, dm):
    """PRM §4 MOVE.L Dm,(An)+."""
    _store(m, m.a[an], m.d[dm])
    m.a[an] = m.a[an] + 4
    _logic_flags(m, m.d[dm])


@m68000.instruction("MOVEL {dm}, -({an})", encoding="[0010 {an:3} 100 000 {dm:3}]", an=A, dm=D)
def MOVEL_d_predec(m, an, dm):
    """PRM §4 MOVE.L Dm,-(An) (on a7 a push)."""
    addr = m.a[an] - 4
    _store(m, addr, m.d[dm])
    m.a[an] = addr
    _logic_flags(m, m.d[dm])


@m68000.instruction("MOVEAL {dm}, {an}", encoding="[0010 {an:3} 001 000 {dm:3}]", an=A, dm=D)
def MOVEAL_d(m, an, dm):
    """PRM §4 MOVEA.L Dm,An: condition codes unaffected."""
    m.a[an] = m.d[dm]


@m68000.instruction("MOVEAL {am}, {an}", encoding="[0010 {an:3} 001 001 {am:3}]", an=A, am=A)
def MOVEAL_a(m, an, am):
    """PRM §4 MOVEA.L Am,An."""
    m.a[an] = m.a[am]


@m68000.instruction("MOVEAL #{imm}, {an}", encoding="[0010 {an:3} 001 111100] {imm:32}", an=A, imm=Imm(32))
def MOVEAL_imm(m, an, imm):
    """PRM §4 MOVEA.L #imm,An."""
    m.a[an] = imm


# Register-to-register arithmetic and logic, long size (PRM §4; opmode 010 = long, <ea>,Dn).
def _binop(name, syntax, encoding, fn, flags, doc):
    def sem(m, dn, dm):
        s, d = m.d[dm], m.d[dn]
        r = fn(d, s)
        if name != "CMPL":
            m.d[dn] = r
        flags(m, s, d, r)

    m68000.instruction(syntax, encoding=encoding, dn=D, dm=D)(_named(sem, name, doc))


_binop("ADDL", "ADDL {dm}, {dn}", "[1101 {dn:3} 010 000 {dm:3}]", lambda d, s: d + s,
       _add_flags, "PRM §4 ADD.L Dm,Dn: Dn := Dn + Dm; X N Z V C per Table 3-18 (ADD).")
_binop("SUBL", "SUBL {dm}, {dn}", "[1001 {dn:3} 010 000 {dm:3}]", lambda d, s: d - s,
       _sub_flags, "PRM §4 SUB.L Dm,Dn: Dn := Dn - Dm; X N Z V C per Table 3-18 (SUB).")
_binop("CMPL", "CMPL {dm}, {dn}", "[1011 {dn:3} 010 000 {dm:3}]", lambda d, s: d - s,
       lambda m, s, d, r: _sub_flags(m, s, d, r, extend=False),
       "PRM §4 CMP.L Dm,Dn: flags of Dn - Dm (Table 3-18, CMP: X unaffected); Dn unchanged.")
_binop("ANDL", "ANDL {dm}, {dn}", "[1100 {dn:3} 010 000 {dm:3}]", lambda d, s: d & s,
       lambda m, s, d, r: _logic_flags(m, r), "PRM §4 AND.L Dm,Dn: N Z, V = C = 0, X unaffected.")
_binop("ORL", "ORL {dm}, {dn}", "[1000 {dn:3} 010 000 {dm:3}]", lambda d, s: d | s,
       lambda m, s, d, r: _logic_flags(m, r), "PRM §4 OR.L Dm,Dn: N Z, V = C = 0, X unaffected.")


@m68000.instruction("EORL {dm}, {dn}", encoding="[1011 {dm:3} 110 000 {dn:3}]", dm=D, dn=D)
def EORL(m, dm, dn):
    """PRM §4 EOR.L Dm,Dn (form Dn,<ea>: the source register is in bits 11-9); N Z, V = C = 0."""
    r = m.d[dn] ^ m.d[dm]
    m.d[dn] = r
    _logic_flags(m, r)


@m68000.instruction("ADDAL {dm}, {an}", encoding="[1101 {an:3} 111 000 {dm:3}]", an=A, dm=D)
def ADDAL(m, an, dm):
    """PRM §4 ADDA.L Dm,An: condition codes unaffected."""
    m.a[an] = m.a[an] + m.d[dm]


@m68000.instruction("SUBAL {dm}, {an}", encoding="[1001 {an:3} 111 000 {dm:3}]", an=A, dm=D)
def SUBAL(m, an, dm):
    """PRM §4 SUBA.L Dm,An: condition codes unaffected."""
    m.a[an] = m.a[an] - m.d[dm]


@m68000.instruction("TSTL {dn}", encoding="[0100101010 000 {dn:3}]", dn=D)
def TSTL(m, dn):
    """PRM §4 TST.L Dn: N Z from Dn, V = C = 0, X unaffected."""
    _logic_flags(m, m.d[dn])


@m68000.instruction("CLRL {dn}", encoding="[0100001010 000 {dn:3}]", dn=D)
def CLRL(m, dn):
    """PRM §4 CLR.L Dn: Dn := 0; N = 0, Z = 1, V = C = 0, X unaffected."""
    m.d[dn] = const(0, 32)
    _logic_flags(m, const(0, 32))


@m68000.instruction("DIVU {dm}, {dn}", encoding="[1000 {dn:3} 011 000 {dm:3}]", dn=D, dm=D)
def DIVU(m, dn, dm):
    """PRM §4 DIVU.W Dm,Dn: Dn (32 bits) / Dm[15:0]; Dn := remainder:quotient (16:16).
    A zero divisor takes the zero-divide exception (vector 5, next instruction stacked).
    On overflow (quotient > 0xFFFF) V is set and Dn is unchanged; N and Z, which the PRM
    leaves undefined then, are left unchanged here. C is always cleared, X unaffected."""
    divisor = zext(m.d[dm][15:0], 32)
    m.trap_if(divisor == 0, ZERO_DIVIDE, info=zext(m.next_pc, 32))
    q, r = udiv(m.d[dn], divisor), urem(m.d[dn], divisor)
    over = ugt(q, 0xFFFF)
    m.d[dn] = ite(over, m.d[dn], concat(r[15:0], q[15:0]))
    m.N = ite(over, m.N, q[15])
    m.Z = ite(over, m.Z, q[15:0] == 0)
    m.V = over
    m.C = 0


@m68000.instruction("LEA ({am}), {an}", encoding="[0100 {an:3} 111 010 {am:3}]", an=A, am=A)
def LEA_ind(m, an, am):
    """PRM §4 LEA (Am),An: An := Am."""
    m.a[an] = m.a[am]


@m68000.instruction("LEA {disp}({am}), {an}", encoding="[0100 {an:3} 111 101 {am:3}] {disp:16}",
                    an=A, am=A, disp=Imm(16, signed=True))
def LEA_disp(m, an, am, disp):
    """PRM §4 LEA (d16,Am),An: An := Am + sign-extended d16 (PRM §2.2.6)."""
    m.a[an] = m.a[am] + sext(disp, 32)


@m68000.instruction("JMP ({an})", encoding="[0100111011 010 {an:3}]", an=A)
def JMP(m, an):
    """PRM §4 JMP (An): PC := An."""
    m.PC = _ea(m.a[an])


@m68000.instruction("JSR ({an})", encoding="[0100111010 010 {an:3}]", an=A)
def JSR(m, an):
    """PRM §4 JSR (An): push the address of the next instruction on a7; PC := An (the
    target is computed before the push)."""
    sp = m.a[7] - 4
    _store(m, sp, zext(m.next_pc, 32))
    m.set("a7", sp)
    m.PC = _ea(m.a[an])


@m68000.instruction("RTS", encoding="4E75")
def RTS(m):
    """PRM §4 RTS: PC := (a7)+ (long)."""
    m.PC = _load(m, m.a[7], 4)[ADDR - 1:0]
    m.set("a7", m.a[7] + 4)


@m68000.instruction("RTR", encoding="4E77")
def RTR(m):
    """PRM §4 RTR: CCR := low byte of the word (a7)+, then PC := (a7)+; the system byte of
    SR is untouched (it is not even read)."""
    m.set("CCR", _load(m, m.a[7], 2)[7:0])
    m.PC = _load(m, m.a[7] + 2, 4)[ADDR - 1:0]
    m.set("a7", m.a[7] + 6)


# Bcc, BRA, BSR (PRM §4; Table 3-19 conditional tests). The target is PC + 2 + displacement.
# An 8-bit displacement of 0 selects the 16-bit form, so the .W forms come first in the table
# (the decoder takes the first match) and the .S forms are never decoded with displacement 0.
CONDITIONS = [  # (name, condition code, test)
    ("HI", 0x2, lambda m: lnot(m.C | m.Z)),
    ("LS", 0x3, lambda m: m.C | m.Z),
    ("CC", 0x4, lambda m: lnot(m.C)),
    ("CS", 0x5, lambda m: m.C),
    ("NE", 0x6, lambda m: lnot(m.Z)),
    ("EQ", 0x7, lambda m: m.Z),
    ("VC", 0x8, lambda m: lnot(m.V)),
    ("VS", 0x9, lambda m: m.V),
    ("PL", 0xA, lambda m: lnot(m.N)),
    ("MI", 0xB, lambda m: m.N),
    ("GE", 0xC, lambda m: ~(m.N ^ m.V)),
    ("LT", 0xD, lambda m: m.N ^ m.V),
    ("GT", 0xE, lambda m: ~(m.N ^ m.V) & ~m.Z),
    ("LE", 0xF, lambda m: m.Z | (m.N ^ m.V)),
]


def _target(m, disp):
    return m.PC + 2 + sext(disp, ADDR) if disp.width < ADDR else m.PC + 2 + disp


def _branch(name, code, test, size):
    encoding = f"[0110 {code:04b} {{disp:8}}]" if size == "S" else f"[0110 {code:04b} 00000000] {{disp:16}}"
    disp_spec = Imm(8 if size == "S" else 16, signed=True)
    mnemonic = f"{name}{size}"

    if name == "BSR":
        def sem(m, disp):
            sp = m.a[7] - 4
            _store(m, sp, zext(m.next_pc, 32))
            m.set("a7", sp)
            m.PC = _target(m, disp)
        doc = f"PRM §4 BSR.{size}: push the address of the next instruction on a7; PC := PC + 2 + d."
    elif test is None:
        def sem(m, disp):
            m.PC = _target(m, disp)
        doc = f"PRM §4 BRA.{size}: PC := PC + 2 + d."
    else:
        def sem(m, disp):
            m.PC = ite(test(m), _target(m, disp), m.next_pc)
        doc = f"PRM §4 B{name[1:]}.{size}: PC := PC + 2 + d if {name[1:]} (Table 3-19), else the next instruction."
    m68000.instruction(f"{mnemonic} {{disp}}", encoding=encoding, disp=disp_spec)(_named(sem, mnemonic, doc))


for _size in ("W", "S"):
    _branch("BRA", 0x0, None, _size)
    _branch("BSR", 0x1, None, _size)
    for _cc, _code, _test in CONDITIONS:
        _branch(f"B{_cc}", _code, _test, _size)


@m68000.instruction("TRAP #{n}", encoding="[010011100100 {n:4}]", n=Imm(4))
def TRAP(m, n):
    """PRM §4 TRAP #n: an exception through vector 32 + n in every mode (stacked PC: the next
    instruction)."""
    m.trap(TRAP_CAUSE, info=zext(n, 32))


@m68000.instruction("TRAPV", encoding="4E76")
def TRAPV(m):
    """PRM §4 TRAPV: if V, the TRAPV exception (vector 7, next instruction stacked)."""
    m.trap_if(m.V == 1, TRAPV_CAUSE, info=zext(m.next_pc, 32))


@m68000.instruction("ILLEGAL", encoding="4AFC")
def ILLEGAL(m):
    """PRM §4 ILLEGAL: the illegal-instruction exception (vector 4) in every mode."""
    m.trap(ILLEGAL_INSTRUCTION)


# --- the status register ----------------------------------------------------------------------
@m68000.instruction("MOVE SR, {dn}", encoding="[0100000011 000 {dn:3}]", dn=D)
def MOVE_from_SR(m, dn):
    """PRM §4/§6 MOVE SR,Dn on the MC68000: Dn[15:0] := SR in **every** mode, no trap (the
    MC68000 does not privilege it; PRM: "privileged in the MC68010 and later"). It exposes
    S, T and the interrupt mask to user-mode code."""
    m.d[dn] = concat(m.d[dn][31:16], m.SR)


@m68000.instruction("MOVE {dn}, CCR", encoding="[0100010011 000 {dn:3}]", dn=D)
def MOVE_to_CCR(m, dn):
    """PRM §4 MOVE Dn,CCR: CCR := Dn[7:0]; the upper byte of SR is unaffected."""
    m.set("CCR", m.d[dn][7:0])


@m68000.instruction("MOVE #{imm}, CCR", encoding="44FC {imm:16}", imm=Imm(16))
def MOVE_to_CCR_imm(m, imm):
    """PRM §4 MOVE #imm,CCR: CCR := low byte of the immediate word."""
    m.set("CCR", imm[7:0])


@m68000.instruction("MOVE {dn}, SR", encoding="[0100011011 000 {dn:3}]", dn=D)
def MOVE_to_SR(m, dn):
    """PRM §6 MOVE Dn,SR (privileged): SR := Dn[15:0]; clearing S switches a7 to the USP."""
    _privileged(m)
    _load_sr(m, m.d[dn][15:0])


@m68000.instruction("MOVE #{imm}, SR", encoding="46FC {imm:16}", imm=Imm(16))
def MOVE_to_SR_imm(m, imm):
    """PRM §6 MOVE #imm,SR (privileged)."""
    _privileged(m)
    _load_sr(m, imm)


def _sr_logic(name, first, fn, what):
    def sem(m, imm):
        _privileged(m)
        _load_sr(m, fn(m.SR, imm))

    m68000.instruction(f"{name} #{{imm}}, SR", encoding=f"{first} {{imm:16}}", imm=Imm(16))(
        _named(sem, f"{name}_SR", f"PRM §6 {name} #imm,SR (privileged): SR := SR {what} imm."))

    def sem_ccr(m, imm):
        m.set("CCR", fn(m.CCR, imm))

    m68000.instruction(f"{name} #{{imm}}, CCR", encoding=f"{first[:2]}3C [00000000 {{imm:8}}]", imm=Imm(8))(
        _named(sem_ccr, f"{name}_CCR",
               f"PRM §4 {name} #imm,CCR: CCR := CCR {what} imm (byte); the system byte is unaffected."))


_sr_logic("ANDI", "027C", lambda a, b: a & b, "AND")
_sr_logic("ORI", "007C", lambda a, b: a | b, "OR")
_sr_logic("EORI", "0A7C", lambda a, b: a ^ b, "XOR")


@m68000.instruction("MOVE USP, {an}", encoding="[0100111001101 {an:3}]", an=A)
def MOVE_from_USP(m, an):
    """PRM §6 MOVE USP,An (privileged): An := USP (in supervisor mode the inactive stack pointer)."""
    _privileged(m)
    m.a[an] = _usp(m)


@m68000.instruction("MOVE {an}, USP", encoding="[0100111001100 {an:3}]", an=A)
def MOVE_to_USP(m, an):
    """PRM §6 MOVE An,USP (privileged): USP := An (MOVE A7,USP copies the SSP)."""
    _privileged(m)
    m.OSP = m.a[an]


@m68000.instruction("RTE", encoding="4E73")
def RTE(m):
    """PRM §6 RTE on the MC68000 (privileged): SR := (SSP)+ word, PC := (SSP)+ long; if the
    new S is 0, a7 becomes the USP."""
    _privileged(m)
    sp = m.a[7]
    _load_sr(m, _load(m, sp, 2), ssp=sp + 6)
    m.PC = _load(m, sp + 2, 4)[ADDR - 1:0]


@m68000.instruction("STOP #{imm}", encoding="4E72 {imm:16}", imm=Imm(16))
def STOP(m, imm):
    """PRM §6 STOP #imm (privileged): SR := imm, then stop until a trace, interrupt or reset
    exception. Modelled as a halt, and a halt discards every write of the step, so the SR
    load is not visible here (interrupts, which would resume, are not modelled)."""
    _privileged(m)
    m.halt()


@m68000.instruction("RESET", encoding="4E70")
def RESET(m):
    """PRM §6 RESET (privileged): asserts the RESET line to external devices for 124 clocks;
    no processor register changes (so, devices not being modelled, no state changes)."""
    _privileged(m)


# --- the MC68010 ---------------------------------------------------------------------------------
m68010 = m68000.derive(
    "m68010",
    doc="Motorola MC68010: MOVE from SR privileged, MOVE from CCR added, VBR and format-word frames.",
    source="Motorola M68000PM/AD §4 (MOVE from CCR, RTD), §6 (MOVE from SR, MOVEC, RTE); M68000UM/AD §6.3-6.4",
)
m68010.field("VBR", 32, SYSTEM, doc="vector base register (PRM §1.3.3)")
m68010.field("SFC", 3, SYSTEM, doc="source function code (PRM §1.3.3)")
m68010.field("DFC", 3, SYSTEM, doc="destination function code (PRM §1.3.3)")
FORMAT_ERROR = m68010.cause("format_error", EXCEPTION, 14, doc="RTE with an invalid stack frame format (vector 14)")


@m68010.on_trap
def trap_68010(m, cause, info):
    """UM §6.3 (MC68010): S := 1, T := 0; push a four-word frame, format 0: the
    format/vector-offset word (0000 | 4 * vector), the PC (long) and SR on the supervisor
    stack (SSP -= 8); PC := the long at VBR + 4 * vector."""
    sp = _ssp(m) - 8
    offset = _vector(cause, info) << 2
    _phys_store(m, _ea(sp), m.SR)
    _phys_store(m, _ea(sp + 2), _stacked_pc(m, cause, info))
    _phys_store(m, _ea(sp + 6), concat(const(0, 4), offset))
    m.S = 1
    m.T = 0
    _set_stacks(m, const(1, 1), sp, _usp(m))
    m.PC = _phys_load(m, _ea(m.VBR + zext(offset, 32)), 4)[ADDR - 1:0]


@m68010.replace("MOVE_from_SR")
def MOVE_from_SR_68010(m, dn):
    """PRM §6 MOVE SR,Dn on the MC68010: privileged ("privileged in the MC68010 and later");
    in supervisor mode Dn[15:0] := SR."""
    _privileged(m)
    m.d[dn] = concat(m.d[dn][31:16], m.SR)


@m68010.replace("RTE")
def RTE_68010(m):
    """PRM §6 RTE on the MC68010 (privileged; UM §6.4): read SR, PC and the format word;
    format 0 pops the four-word frame (SSP += 8). Any other format takes the format error
    exception -- the MC68010's format $8 (bus fault) frames are not modelled, since bus and
    address errors are not."""
    _privileged(m)
    sp = m.a[7]
    m.trap_if(_load(m, sp + 6, 2)[15:12] != 0, FORMAT_ERROR)
    _load_sr(m, _load(m, sp, 2), ssp=sp + 8)
    m.PC = _load(m, sp + 2, 4)[ADDR - 1:0]


@m68010.instruction("MOVE CCR, {dn}", encoding="[0100001011 000 {dn:3}]", dn=D)
def MOVE_from_CCR(m, dn):
    """PRM §4 MOVE CCR,Dn (MC68010 and later, unprivileged): Dn[15:0] := 0x00:CCR, the
    replacement for user-mode MOVE from SR."""
    m.d[dn] = concat(m.d[dn][31:16], const(0, 8), m.CCR)


@m68010.instruction("RTD #{disp}", encoding="4E74 {disp:16}", disp=Imm(16, signed=True))
def RTD(m, disp):
    """PRM §4 RTD #d16 (MC68010 and later): PC := (a7)+; a7 := a7 + d16."""
    m.PC = _load(m, m.a[7], 4)[ADDR - 1:0]
    m.set("a7", m.a[7] + 4 + sext(disp, 32))


# MOVEC (PRM §6, MC68010 and later; privileged): 4E7A moves a control register to a general
# register, 4E7B the other way; the extension word is A/D | register | control register code.
# Only the data-register forms (A/D = 0) are modelled.
CONTROL = [  # (name, code, read, write)
    ("SFC", 0x000, lambda m: zext(m.SFC, 32), lambda m, v: m.set("SFC", v[2:0])),
    ("DFC", 0x001, lambda m: zext(m.DFC, 32), lambda m, v: m.set("DFC", v[2:0])),
    ("USP", 0x800, _usp, lambda m, v: m.set("OSP", v)),
    ("VBR", 0x801, lambda m: m.VBR, lambda m, v: m.set("VBR", v)),
]


def _movec(rc, code, read, write):
    ext = f"[0 {{dn:3}} {code:012b}]"

    def to_dn(m, dn):
        _privileged(m)
        m.d[dn] = read(m)

    def to_rc(m, dn):
        _privileged(m)
        write(m, m.d[dn])

    m68010.instruction(f"MOVEC {rc}, {{dn}}", encoding=f"4E7A {ext}", dn=D)(_named(
        to_dn, f"MOVEC_{rc}_d", f"PRM §6 MOVEC {rc},Dn (privileged): Dn := {rc} (zero-extended)."))
    m68010.instruction(f"MOVEC {{dn}}, {rc}", encoding=f"4E7B {ext}", dn=D)(_named(
        to_rc, f"MOVEC_d_{rc}", f"PRM §6 MOVEC Dn,{rc} (privileged): {rc} := Dn (SFC, DFC: its low 3 bits)."))


for _rc, _code, _read, _write in CONTROL:
    _movec(_rc, _code, _read, _write)


MACHINES = [m68000, m68010]


# --- reference machines (crossval) -----------------------------------------------------------
# How `virtcheck crossval` realises a model state on Unicorn's M68000 (QEMU's m68k, CPU model
# M68000), and what it is known to do differently. Nothing below changes the model.
#
# The model's 64 KiB ``mem`` is mapped at address 0 and the instruction's bytes are placed in
# it at PC (the model holds the program in the same memory). SR is written first, so that
# A7 names the stack pointer of the state's mode; the inactive one goes to Unicorn's USP
# (S = 1) or ISP, the MC68000's SSP (S = 0). Exceptions stop at Unicorn's interrupt hook
# with the vector number, which is the model's cause code (TRAP #n: 32 + n).

_M68K_MEM = 1 << ADDR


def _m68k_fit(isa, state, ins, ops, rng):
    """A drawn example made realisable: address registers, the inactive stack pointer and
    the PC even and inside the 64 KiB memory (the model truncates addresses to 16 bits and
    takes no address errors; a real bus does neither), T = 0 (tracing is not modelled), and
    the instruction's bytes in memory at PC."""
    from virtcheck.isa.asm import encode_units

    f = dict(state.fields)
    for k in range(8):
        f[f"a{k}"] = (8 + f[f"a{k}"] % (_M68K_MEM - 24)) & ~1
    f["OSP"] = (8 + f["OSP"] % (_M68K_MEM - 24)) & ~1
    f["T"] = 0
    code = encode_units(isa, ins, [ops[o.name] for o in ins.operands])
    f["PC"] = (0x400 + f["PC"] % (_M68K_MEM - 0x400 - len(code) - 2)) & ~1
    mem = state.memories["mem"].to_list(_M68K_MEM)
    # the code, then BRA.S to itself (ends the translation block): QEMU's m68k translator
    # decodes past the instruction, and some words there (F-line) crash Unicorn 2.1.4
    # outright; hypervisor/reference/isolate.py contains the crashes that remain
    mem[f["PC"]:f["PC"] + len(code) + 2] = code + [0x60, 0xFE]
    out = state.copy()
    out.fields = f
    out.memories["mem"] = type(state.memories["mem"]).from_list(mem)
    return out, ops


def _m68k_setup(state, code):
    f = state.fields
    sr = (f["T"] << 15) | (f["S"] << 13) | (f["I"] << 8) | (f["X"] << 4) | (f["N"] << 3) | (f["Z"] << 2) \
        | (f["V"] << 1) | f["C"]
    regs = [("SR", sr), ("A7", f["a7"]), ("CR_USP" if f["S"] else "CR_ISP", f["OSP"])]
    regs += [(f"D{k}", f[f"d{k}"]) for k in range(8)] + [(f"A{k}", f[f"a{k}"]) for k in range(7)]
    regs += [(f"CR_{c}", f[c]) for c in ("SFC", "DFC") if c in f]  # VBR: a no-op in Unicorn 2.1.4
    regs += [("PC", f["PC"])]
    return {"memory": {"mem": 0}, "code": (f["PC"], bytes(code)), "registers": regs,
            "probe": (_PROBE, [0x40, 0xC0], 1)}


#: Unicorn 2.1.4 reads SR back without folding in QEMU's lazily computed condition codes
#: (uc_reg_read gives the CCR as last written), so the guest reads them: after the
#: instruction, MOVE SR,D0 runs at _PROBE (outside the model's memory) and D0 is read.
_PROBE = 0x10000


def _m68k_read(get, probe):
    f = {f"d{k}": get(f"D{k}") for k in range(8)}
    f.update({f"a{k}": get(f"A{k}") for k in range(8)})
    f["PC"] = get("PC") & (_M68K_MEM - 1)  # the model keeps 16 bits of the 24-bit address
    sr = probe("D0")
    for name, bit in (("X", 4), ("N", 3), ("Z", 2), ("V", 1), ("C", 0)):
        f[name] = (sr >> bit) & 1
    return f


def _m68k_vector(cause, info):
    return 32 + (info & 0xF) if cause.name == "trap" else cause.code


def _bcc_ff(state, ops):
    return ops.get("disp") == 0xFF


def _sr_sets_m(state, ops):
    """The SR value written has bit 12 (the MC68020's M, master state) set."""
    f = state.fields
    value = f[f"d{ops['dn']}"] if "dn" in ops else ops.get("imm", 0)
    return bool(value & 0x1000)


def _divu_overflows(state, ops):
    f = state.fields
    divisor = f[f"d{ops['dm']}"] & 0xFFFF
    return divisor != 0 and f[f"d{ops['dn']}"] // divisor > 0xFFFF


_M68K_LIMITS = [
    {"id": "unicorn-vbr-setup", "source": "reference", "mnemonics": ["MOVEC_VBR_d"],
     "differs": [f"d{k}" for k in range(8)],
     "doc": "Unicorn 2.1.4 ignores uc_reg_write of VBR, so MOVEC VBR,Dn reads what the last MOVEC Dn,VBR "
            "left, not the state's VBR (the m68010 model runs on Unicorn's MC68020, its nearest CPU model)"},
    {"id": "divu-overflow-flags", "source": "manual", "mnemonics": ["DIVU"], "differs": ["N", "Z"],
     "when": _divu_overflows,
     "doc": "DIVU overflow: N and Z are undefined (PRM §4 DIVU); the model leaves them unchanged"},
    {"id": "unicorn-rte", "source": "reference", "mnemonics": ["RTE"], "modes": ["supervisor"],
     "differs": ["outcome", "*"],
     "doc": "Unicorn runs RTE as QEMU's internal exception 256 (EXCP_RTE), which it hands to the interrupt hook "
            "and never performs; the return itself cannot be observed"},
    {"id": "unicorn-sr-m-bit", "source": "reference", "mnemonics": ["MOVE_to_SR", "MOVE_to_SR_imm", "ORI_SR",
                                                                     "EORI_SR"],
     "modes": ["supervisor"], "differs": ["a7"], "when": _sr_sets_m,
     "doc": "QEMU's M68000 model keeps SR bit 12 (the MC68020's M bit; reads as 0 on an MC68000) and switches "
            "A7 to the master stack pointer"},
    {"id": "unicorn-jsr-a7", "source": "reference", "mnemonics": ["JSR"], "differs": ["PC"],
     "when": lambda state, ops: ops.get("an") == 7,
     "doc": "JSR (A7): QEMU jumps to A7 after the push (A7 - 4); the MC68000 computes the effective address "
            "first (PRM §4 JSR)"},
    {"id": "unicorn-trapv-rtr-illegal", "source": "reference", "mnemonics": ["TRAPV", "RTR"],
     "differs": ["outcome", "*"],
     "doc": "Unicorn's (QEMU's) M68000 and M68020 CPU models decode TRAPV and RTR as illegal instructions (vector 4); "
            "both exist on the MC68000 (PRM §4)"},
    {"id": "unicorn-bcc-ff", "source": "reference",
     "mnemonics": [f"B{c}S" for c in ("RA", "SR", "HI", "LS", "CC", "CS", "NE", "EQ", "VC", "VS", "PL", "MI",
                                      "GE", "LT", "GT", "LE")],
     "differs": ["outcome", "*"], "when": _bcc_ff,
     "doc": "an 8-bit branch displacement of $FF is -1 on the MC68000; QEMU's M68000 model reads it as the "
            "MC68020's 'a 32-bit displacement follows' (docs/m68k.md)"},
    {"id": "unicorn-move-from-sr", "source": "reference", "mnemonics": ["MOVE_from_SR"], "modes": ["user"],
     "differs": ["outcome", "*"],
     "doc": "Unicorn's m68k models run MOVE from SR unprivileged even for 68010+ CPU models (on the MC68000 "
            "itself that is right; the MC68010 model traps)"},
]

for _isa, _cpu in ((m68000, "UC_CPU_M68K_M68000"), (m68010, "UC_CPU_M68K_M68020")):  # Unicorn has no 68010
    _isa.reference("unicorn", {
        "constants": "unicorn.m68k_const", "arch": "UC_ARCH_M68K", "mode": "UC_MODE_BIG_ENDIAN",
        "registers": "UC_M68K_REG_",
        "cpu_model": _cpu, "modes": ["supervisor", "user"],
        # one Uc for every run (memory and every register rewritten, translations flushed):
        # creating and freeing many M68000-model Uc objects crashes Unicorn 2.1.4
        "reuse": True,
        "pc_register": "PC", "probe_first": [f"D{k}" for k in range(8)] + [f"A{k}" for k in range(8)] + ["PC"],
        "fit": _m68k_fit, "setup": _m68k_setup, "read": _m68k_read, "vector": _m68k_vector,
        "halted": lambda fields, code, pc: list(code[:2]) == [0x4E, 0x72],  # STOP: Unicorn steps past it
        "limits": _M68K_LIMITS,
    })
