"""``pg3``: Popek & Goldberg's third-generation machine, with a realistic instruction set.

Popek, G. J. and Goldberg, R. P., "Formal Requirements for Virtualizable Third Generation
Architectures", CACM 17(7), July 1974, §2: a state is S = <E, M, P, R> -- executable
storage E, mode M (supervisor s / user u), program counter P, and a relocation-bounds
register R = (l, b). A program address a is valid when a < b and then names E[l + a];
otherwise the access "memory traps". A trap stores the old PSW <M, P, R> in E[0] and
loads a new one from E[1].

Here the PSW takes two 32-bit words, so the old PSW goes to E[0..1] and the new PSW is
loaded from E[2..3]:

    word 0: cause[31:24] | IE[17] | M[16] | P[11:0]       (M: 1 = supervisor)
    word 1: l[27:16] | b[11:0]

The trap's info (the SVC number, the faulting address) goes to E[4]. The trapping
instruction's own address is saved, so a handler resumes after it with P + 1.

Instruction word (32 bits): opcode[31:26], then operands packed downward in declaration
order. Opcode 0 is NOP: the all-zero word is the simplest innocuous instruction.
"""

from __future__ import annotations

from virtcheck.isa.lang import (
    CALL, EXCEPTION, MEMORY, PRIVILEGE, SYSTEM, USER, Imm, Isa, Reg, Target, concat, const, ite,
    sext, slt, udiv, ule, ult, urem, zext,
)

WORD = 32
ADDR = 12  # E has 4096 words; P, l and b are 12-bit

isa = Isa(
    "pg3",
    word=WORD,
    doc="Popek & Goldberg's third-generation machine S = <E, M, P, R> with relocation-bounds R = (l, b).",
    source="Popek & Goldberg, CACM 17(7), 1974, §2",
)

isa.bank("r", 8, WORD, USER, doc="general registers")
isa.pc("P", ADDR)
isa.field("M", 1, SYSTEM, doc="mode: 1 = supervisor (s), 0 = user (u)")
isa.field("IE", 1, SYSTEM, doc="interrupt enable")
isa.field("l", ADDR, SYSTEM, doc="relocation base of R")
isa.field("b", ADDR, SYSTEM, doc="bound of R: addresses a < b are valid")
isa.memory("E", ADDR, WORD, doc="executable storage (physical)")

BOUNDS = isa.cause("bounds", MEMORY, 1, doc="address outside R's bound")
PRIV = isa.cause("privileged", PRIVILEGE, 2, doc="privileged instruction in user mode")
SVC_CAUSE = isa.cause("svc", CALL, 3, doc="supervisor call")
DIVZ = isa.cause("divide", EXCEPTION, 4, doc="division by zero")

isa.mode("s", lambda m: m.M == 1, supervisor=True)
isa.mode("u", lambda m: m.M == 0)
isa.guest(lambda m: m.M == 0, doc="M = u (the guest runs in user mode inside its relocation partition)")

OLD_PSW, NEW_PSW, TRAP_INFO = 0, 2, 4


@isa.translate
def translate(m, vaddr, units, access):
    """PG §2: a is valid iff a + units <= b; it names E[l + a]."""
    last = zext(vaddr, ADDR + 1) + units
    m.trap_if(~ule(last, zext(m.b, ADDR + 1)), BOUNDS, info=vaddr)
    return m.l + vaddr


@isa.on_trap
def trap(m, cause, info):
    """Store the old PSW in E[0..1] and the trap's info in E[4]; load the new PSW from E[2..3]."""
    word0 = concat(const(cause.code, 8), const(0, 6), m.IE, m.M, const(0, 4), m.P)
    word1 = concat(const(0, 4), m.l, const(0, 4), m.b)
    m.phys_store(OLD_PSW, word0)
    m.phys_store(OLD_PSW + 1, word1)
    m.phys_store(TRAP_INFO, info)
    _load_psw(m, m.phys_load(NEW_PSW), m.phys_load(NEW_PSW + 1))


def _load_psw(m, word0, word1):
    m.P = word0[11:0]
    m.M = word0[16]
    m.IE = word0[17]
    m.l = word1[27:16]
    m.b = word1[11:0]


def _privileged(m):
    """The privilege check comes first: in user mode the instruction traps."""
    m.trap_if(m.M == 0, PRIV)


R = Reg("r")


@isa.instruction("NOP")
def NOP(m):
    """No operation."""


@isa.instruction("LI {rd}, {imm}", rd=R, imm=Imm(16))
def LI(m, rd, imm):
    """rd := zero-extended 16-bit immediate."""
    m.r[rd] = zext(imm, WORD)


@isa.instruction("LUI {rd}, {imm}", rd=R, imm=Imm(16))
def LUI(m, rd, imm):
    """rd := imm << 16."""
    m.r[rd] = concat(imm, const(0, 16))


@isa.instruction("ADDI {rd}, {rs}, {imm}", rd=R, rs=R, imm=Imm(16, signed=True))
def ADDI(m, rd, rs, imm):
    m.r[rd] = m.r[rs] + sext(imm, WORD)


def _alu(name, fn, doc):
    def sem(m, rd, rs, rt):
        m.r[rd] = fn(m.r[rs], m.r[rt])

    sem.__name__ = name
    sem.__doc__ = doc
    sem.__code__ = sem.__code__.replace(co_name=name)
    return sem


for _name, _fn, _doc in [
    ("ADD", lambda a, b: a + b, "rd := rs + rt (mod 2^32)"),
    ("SUB", lambda a, b: a - b, "rd := rs - rt (mod 2^32)"),
    ("MUL", lambda a, b: a * b, "rd := low 32 bits of rs * rt"),
    ("AND", lambda a, b: a & b, "rd := rs & rt"),
    ("OR", lambda a, b: a | b, "rd := rs | rt"),
    ("XOR", lambda a, b: a ^ b, "rd := rs ^ rt"),
    ("SHL", lambda a, b: a << b, "rd := rs << rt (0 when rt >= 32)"),
    ("SHR", lambda a, b: a >> b, "rd := rs >> rt, logical (0 when rt >= 32)"),
    ("SLT", lambda a, b: zext(slt(a, b), WORD), "rd := 1 if rs < rt (signed) else 0"),
    ("SLTU", lambda a, b: zext(ult(a, b), WORD), "rd := 1 if rs < rt (unsigned) else 0"),
]:
    isa.instruction(f"{_name} {{rd}}, {{rs}}, {{rt}}", rd=R, rs=R, rt=R)(_alu(_name, _fn, _doc))


@isa.instruction("DIVU {rd}, {rs}, {rt}", rd=R, rs=R, rt=R)
def DIVU(m, rd, rs, rt):
    """rd := rs / rt (unsigned); division by zero traps (exception)."""
    m.trap_if(m.r[rt] == 0, DIVZ)
    m.r[rd] = udiv(m.r[rs], m.r[rt])


@isa.instruction("REMU {rd}, {rs}, {rt}", rd=R, rs=R, rt=R)
def REMU(m, rd, rs, rt):
    """rd := rs mod rt (unsigned); division by zero traps (exception)."""
    m.trap_if(m.r[rt] == 0, DIVZ)
    m.r[rd] = urem(m.r[rs], m.r[rt])


@isa.instruction("LD {rd}, {imm}({rs})", rd=R, rs=R, imm=Imm(ADDR))
def LD(m, rd, rs, imm):
    """rd := E[l + (rs + imm)] through R."""
    m.r[rd] = m.load(m.r[rs][ADDR - 1:0] + imm)


@isa.instruction("ST {rt}, {imm}({rs})", rt=R, rs=R, imm=Imm(ADDR))
def ST(m, rt, rs, imm):
    """E[l + (rs + imm)] := rt through R."""
    m.store(m.r[rs][ADDR - 1:0] + imm, m.r[rt])


@isa.instruction("BEQ {rs}, {rt}, {off}", rs=R, rt=R, off=Target(ADDR, pcrel=True))
def BEQ(m, rs, rt, off):
    """Branch to pc + off when rs = rt."""
    m.P = ite(m.r[rs] == m.r[rt], m.rel(off), m.next_pc)


@isa.instruction("BNE {rs}, {rt}, {off}", rs=R, rt=R, off=Target(ADDR, pcrel=True))
def BNE(m, rs, rt, off):
    """Branch to pc + off when rs != rt."""
    m.P = ite(m.r[rs] != m.r[rt], m.rel(off), m.next_pc)


@isa.instruction("JMP {target}", target=Target(ADDR))
def JMP(m, target):
    m.P = target


@isa.instruction("JAL {rd}, {target}", rd=R, target=Target(ADDR))
def JAL(m, rd, target):
    """rd := return address; jump."""
    m.r[rd] = zext(m.next_pc, WORD)
    m.P = target


@isa.instruction("JR {rs}", rs=R)
def JR(m, rs):
    m.P = m.r[rs][ADDR - 1:0]


@isa.instruction("SVC {code}", code=Imm(16))
def SVC(m, code):
    """Supervisor call: traps in every mode, with the code as the trap's info."""
    m.trap(SVC_CAUSE, info=zext(code, WORD))


@isa.instruction("HALT")
def HALT(m):
    """Stop the machine (privileged)."""
    _privileged(m)
    m.halt()


@isa.instruction("LPSW {rs}", rs=R)
def LPSW(m, rs):
    """Load the PSW from the two words at rs (through R): PG's privileged mode/relocation change."""
    _privileged(m)
    a = m.r[rs][ADDR - 1:0]
    _load_psw(m, m.load(a), m.load(a + 1))


@isa.instruction("SETR {rs}, {rt}", rs=R, rt=R)
def SETR(m, rs, rt):
    """R := (rs, rt): set relocation base and bound (privileged)."""
    _privileged(m)
    m.l = m.r[rs][ADDR - 1:0]
    m.b = m.r[rt][ADDR - 1:0]


@isa.instruction("GETR {rd}", rd=R)
def GETR(m, rd):
    """rd := l << 16 | b (privileged)."""
    _privileged(m)
    m.r[rd] = concat(const(0, 4), m.l, const(0, 4), m.b)


# --- monitor support (hypervisor) ---------------------------------------------------
# Facts a monitor needs and the instruction table does not say. None of them changes an
# instruction's semantics, so the classification of every instruction is unchanged.

isa.reset(M=1, b=(1 << ADDR) - 1)  # power-on: supervisor mode, R = (0, 4095) covers E

TIMER = isa.cause("timer", EXCEPTION, 5, doc="interval timer (taken between instructions when IE = 1)")
isa.timer(TIMER, enabled=lambda m: m.IE == 1, period=500,
          doc="a trap every 500 completed instructions, held pending while IE = 0")


def _partition(v, base, size):
    """Run the guest in user mode with R = (base + l, b): PG §2's relocation composed with the
    partition. A bound reaching past the partition is cut at its end, so no address leaves it."""
    wide = ADDR + 1
    room = ite(ult(v.l, size), size - v.l, const(0, ADDR))
    fits = ule(zext(v.l, wide) + zext(v.b, wide), zext(size, wide))
    return {"M": const(0, 1), "IE": v.IE, "l": base + v.l, "b": ite(fits, v.b, room)}


isa.partition(
    _partition,
    fits=lambda v, size: ule(zext(v.l, ADDR + 1) + zext(v.b, ADDR + 1), zext(size, ADDR + 1)),
    doc="real R = (base + l, b) in user mode; exact while l + b <= the partition's size",
)


# --- historical variants: each adds one instruction that breaks one condition ---------

jrst = isa.derive(
    "pg3-jrst",
    doc="pg3 plus an unprivileged return-to-user jump: control-sensitive from supervisor mode only.",
    source="PDP-10 JRST 1 (DECsystem-10 System Reference Manual; PG 1974 §8)",
)


@jrst.instruction("JRST1 {target}", target=Target(ADDR))
def JRST1(m, target):
    """Jump and set M := u, in every mode, without trapping (PDP-10 JRST 1)."""
    m.M = 0
    m.P = target


mfsr = isa.derive(
    "pg3-mfsr",
    doc="pg3 plus an unprivileged read of the mode: mode-sensitive.",
    source="Motorola MC68000 MOVE from SR (unprivileged on the 68000, privileged from the 68010)",
)


@mfsr.instruction("MFSR {rd}", rd=R)
def MFSR(m, rd):
    """rd := M, in every mode (after m68000 MOVE from SR, reduced to its supervisor bit so the
    variant breaks exactly one condition: a mode read; the m68000 model reads the whole SR)."""
    m.r[rd] = zext(m.M, WORD)


lra = isa.derive(
    "pg3-lra",
    doc="pg3 plus an unprivileged load-real-address: location-sensitive.",
    source="IBM System/360 Model 67 LRA (Load Real Address), IBM A27-2719",
)


@lra.instruction("LRA {rd}, {imm}({rs})", rd=R, rs=R, imm=Imm(ADDR))
def LRA(m, rd, rs, imm):
    """rd := the real address l + a of a = rs + imm, or all ones when a is outside R (no trap)."""
    a = m.r[rs][ADDR - 1:0] + imm
    m.r[rd] = ite(ult(a, m.b), zext(m.l + a, WORD), const(0xFFFFFFFF, WORD))


popf = isa.derive(
    "pg3-popf",
    doc="pg3 plus a flags load that silently ignores the interrupt-enable change in user mode.",
    source="Intel IA-32 POPF (SDM Vol. 2B, POPF: IF unchanged when CPL > IOPL, no fault)",
)


@popf.instruction("POPF {rs}", rs=R)
def POPF(m, rs):
    """IE := rs[0] in supervisor mode; in user mode the change is ignored, no trap."""
    m.set_if(m.M == 1, "IE", m.r[rs][0])


MACHINES = [isa, jrst, mfsr, lra, popf]
