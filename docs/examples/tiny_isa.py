"""``tiny``: a small accumulator machine, the worked example of docs/isa-language.md.

State: an 8-bit accumulator ``A`` and program counter ``PC`` (user), a mode bit ``S``
(1 = supervisor) and a relocation window ``base``/``limit`` (system). Memory ``mem`` has
256 cells of 16 bits; an instruction is one 16-bit word: a 6-bit opcode, then operands.

A program address ``a`` is valid when ``a < limit`` and names ``mem[base + a]``. A trap
saves ``S`` and ``PC`` in ``mem[0]``, then enters supervisor mode at the handler address
held in ``mem[1]``.

``tiny`` is virtualizable (every sensitive instruction is privileged). ``tiny-peek`` adds
one unprivileged instruction that reads the mode, and is not.

    virtcheck isa show docs/examples/tiny_isa.py
    virtcheck check docs/examples/tiny_isa.py
"""

from virtcheck.isa.lang import CALL, MEMORY, PRIVILEGE, SYSTEM, USER, Imm, Isa, Target, concat, const, ite, ule, zext

tiny = Isa("tiny", word=16, doc="An accumulator machine with a relocation window.",
           source="docs/isa-language.md (worked example)")

# --- state: every field has a width and a role ------------------------------------
tiny.field("A", 8, USER, doc="accumulator")
tiny.pc("PC", 8)
tiny.field("S", 1, SYSTEM, doc="mode: 1 = supervisor, 0 = user")
tiny.field("base", 8, SYSTEM, doc="relocation base")
tiny.field("limit", 8, SYSTEM, doc="addresses a < limit are valid")
tiny.memory("mem", 8, 16, doc="physical memory")

# --- trap causes: a name, a kind and a code ------------------------------------------
FAULT = tiny.cause("fault", MEMORY, 1, doc="address outside the window")
PRIV = tiny.cause("privileged", PRIVILEGE, 2, doc="privileged instruction in user mode")
SYS = tiny.cause("syscall", CALL, 3, doc="system call")

# --- modes and the guest configuration ----------------------------------------------
tiny.mode("sup", lambda m: m.S == 1, supervisor=True)
tiny.mode("user", lambda m: m.S == 0)
tiny.guest(lambda m: m.S == 0, doc="S = 0 (guests run in user mode inside their window)")


@tiny.translate
def translate(m, vaddr, units, access):
    """a is valid iff a + units <= limit; it names mem[base + a]."""
    last = zext(vaddr, 9) + units
    m.trap_if(~ule(last, zext(m.limit, 9)), FAULT, info=zext(vaddr, 16))
    return m.base + vaddr


@tiny.on_trap
def trap(m, cause, info):
    """mem[0] := S, PC (the trapping instruction's address); enter supervisor mode at mem[1]."""
    m.phys_store(0, concat(const(0, 7), m.S, m.PC))
    m.S = 1
    m.PC = m.phys_load(1)[7:0]


def _privileged(m):
    m.trap_if(m.S == 0, PRIV)


# --- instructions: syntax, operands, semantics side by side -------------------------
@tiny.instruction("NOP")
def NOP(m):
    """Do nothing (opcode 0: the all-zero word)."""


@tiny.instruction("LDI {imm}", imm=Imm(8))
def LDI(m, imm):
    """A := imm."""
    m.A = imm


@tiny.instruction("ADDI {imm}", imm=Imm(8, signed=True))
def ADDI(m, imm):
    """A := A + imm (mod 256)."""
    m.A = m.A + imm


@tiny.instruction("LD {addr}", addr=Imm(8))
def LD(m, addr):
    """A := low byte of mem[base + addr], through the window."""
    m.A = m.load(addr)[7:0]


@tiny.instruction("ST {addr}", addr=Imm(8))
def ST(m, addr):
    """mem[base + addr] := A, through the window."""
    m.store(addr, zext(m.A, 16))


@tiny.instruction("BZ {off}", off=Target(8, pcrel=True))
def BZ(m, off):
    """Branch to pc + off when A = 0."""
    m.PC = ite(m.A == 0, m.rel(off), m.next_pc)


@tiny.instruction("SYSCALL {code}", code=Imm(8))
def SYSCALL(m, code):
    """Trap to the supervisor in every mode (so it is neither privileged nor sensitive)."""
    m.trap(SYS, info=zext(code, 16))


@tiny.instruction("SETW {limit}", limit=Imm(8))
def SETW(m, limit):
    """Privileged: base := A, limit := limit."""
    _privileged(m)
    m.base = m.A
    m.limit = limit


@tiny.instruction("RFT")
def RFT(m):
    """Privileged return from trap: reload S and PC from mem[0] (physical)."""
    _privileged(m)
    saved = m.phys_load(0)
    m.S = saved[8]
    m.PC = saved[7:0]


# --- a variant: derive a copy and add one instruction ---------------------------------
tiny_peek = tiny.derive("tiny-peek", doc="tiny plus an unprivileged read of the mode bit.",
                        source="docs/isa-language.md (worked example; cf. MC68000 MOVE from SR)")


@tiny_peek.instruction("PEEKS")
def PEEKS(m):
    """A := S, in every mode and without trapping: mode-sensitive but not privileged."""
    m.A = zext(m.S, 8)


MACHINES = [tiny, tiny_peek]
