"""``armv7``, ``armv7-ve``: ARMv7-A (A32, no Thumb), the subset that decides virtualizability.

Modelled from the ARM Architecture Reference Manual ARMv7-A and ARMv7-R edition (ARM DDI
0406C.d), cited below as "DDI 0406C §...". Penneman et al., "Formal virtualization
requirements for the ARM architecture", J. Systems Architecture 59(3), 2013, list the
instructions that make ARMv7 not classically virtualizable; docs/arm.md compares their list
with what virtcheck derives from this model.

State (DDI 0406C §B1.3): ``r0``-``r15`` (bank ``r``), where ``r13``/``r14`` hold the SP and LR
*of the current mode* and the other modes' copies live in ``sp_<mode>``/``lr_<mode>``; a mode
change swaps them (the representation QEMU uses; §B1.3.2 banks R13/R14 per mode). ``r15`` is
never read or written: register 15 reads as ``pc + 8`` (§A2.3) and writing it branches. The
CPSR (§B1.3.3) is the composite ``cpsr`` over N, Z, C, V, Q (user) and A, I, F, M (system);
the SPSRs of the modelled exception modes; the CP15 registers a monitor must own (§B4.1):
SCTLR, TTBR0, DACR, VBAR. Memory ``mem`` is 4 KiB of bytes, little-endian, so witness
replay stays fast.

Scaled translation (the short-descriptor format's section translation, §B3.5.1, one level):
virtual and physical addresses have 12 bits. ``VA[11:10]`` plays the part of ``VA[31:20]``
(4 sections of 1 KiB instead of 4096 of 1 MiB); the first-level table (4 entries) is at
``TTBR0[11:4] : VA[11:10] : 00``; descriptors keep their real layout (type bits[1:0] = 10 for a
section, domain [8:5], XN [4], AP[1:0] [11:10], AP[2] [15]) and the section base's low bits
``desc[21:20]`` give ``PA[11:10]``. Page tables and supersections are not modelled: they
take a translation fault. The walk reads memory when the TLB is filled: ``tlb0``-``tlb3`` hold
each section's descriptor, and TLBIALL refills them (§B3.10: until TLB maintenance the old
entry may be used), so a store into a table does not change the translation by itself.

UNPREDICTABLE behaviour (glossary of DDI 0406C: it must not be a security hole, so in User
mode it cannot change what User mode cannot change) is modelled as "anything but a
guaranteed trap": the instruction completes, and the values the manual leaves open come from
the free input ``unk`` (``Isa.unconstrained``): arbitrary for Z3, its reset value 0 in
execution. Each instruction's docstring says which cases this covers.

``armv7``: a guest kernel deprivileged to User mode under a monitor in a privileged mode.
``armv7-ve``: the Virtualization Extensions (§B1.7, ch. B8): the monitor in Hyp mode, the
guest kernel at PL1 with HCR.VM (stage-2 translation), HCR.TWI and HCR.IMO set.
"""

from __future__ import annotations

from virtcheck.isa.lang import (
    CALL, EXCEPTION, FALSE, MEMORY, PRIVILEGE, SYSTEM, TRUE, USER, Flag, Imm, Isa, Letters, Reg, RegList, RotImm,
    Sign, Swapped, Target, concat, const, ite, land, lnot, lor, lshr, sext, zext,
)

W = 32
MEM = 12  #: physical (and virtual) address bits: 4 KiB
SECTIONS = 4  #: sections (1 KiB each) in the scaled address space

#: CPSR.M encodings (DDI 0406C §B1.3.1, Table B1-1)
USR, FIQ, IRQ, SVC, MON, ABT, HYP, UND, SYS = 0x10, 0x11, 0x12, 0x13, 0x16, 0x17, 0x1A, 0x1B, 0x1F
#: exception modes with their own SP, LR and SPSR in the model (FIQ and Monitor are not modelled)
EXC_MODES = {"svc": SVC, "abt": ABT, "und": UND, "irq": IRQ}
CPSR_PARTS = {"N": (31, 31), "Z": (30, 30), "C": (29, 29), "V": (28, 28), "Q": (27, 27),
              "A": (8, 8), "I": (7, 7), "F": (6, 6), "M": (4, 0)}
#: HCR bits the model reads (DDI 0406C §B4.1.65)
HCR_VM, HCR_IMO, HCR_TWI, HCR_TTLB = 0, 4, 13, 25

#: data-processing opcodes (DDI 0406C §A5.2.1, Table A5-3): name -> (opcode, kind)
DP_OPS = {
    "AND": (0b0000, "logic"), "EOR": (0b0001, "logic"), "SUB": (0b0010, "arith"), "RSB": (0b0011, "arith"),
    "ADD": (0b0100, "arith"), "ADC": (0b0101, "arith"), "SBC": (0b0110, "arith"), "RSC": (0b0111, "arith"),
    "TST": (0b1000, "test"), "TEQ": (0b1001, "test"), "CMP": (0b1010, "test"), "CMN": (0b1011, "test"),
    "ORR": (0b1100, "logic"), "MOV": (0b1101, "move"), "BIC": (0b1110, "logic"), "MVN": (0b1111, "move"),
}


def unswap(v, first):
    """The value of a ``Swapped`` operand: its first-encoded ``first`` bits are the high part."""
    return concat(v[first - 1:0], v[v.width - 1:first])


def named(fn, name: str):
    """Give a semantics function the mnemonic ``name`` (forms built in loops, or a mnemonic
    that would shadow a constant)."""
    fn.__name__ = name
    fn.__code__ = fn.__code__.replace(co_name=name)
    return fn


def _bits(value: int, n: int) -> str:
    return format(value, f"0{n}b")


def build(name: str, *, ve: bool, doc: str, source: str) -> Isa:
    """One ARMv7-A machine; ``ve``: with the Virtualization Extensions (Hyp mode, HCR traps,
    stage-2 translation), the guest kernel at PL1."""
    isa = Isa(name, word=W, unit=W, endian="little", doc=doc, source=source)
    # Under the VE the PL1 state is the guest's own: the hypervisor switches it on a world
    # switch and the guest reaches it directly (stage 2 and the HCR traps confine it), as
    # x86-vmx treats the VMCS-switched state. What the monitor must control is Hyp's.
    ARCH = USER if ve else SYSTEM

    # --- state ------------------------------------------------------------------------
    isa.bank("r", 16, W, USER, doc="r0-r12; r13 (SP) and r14 (LR) of the current mode; r15 unused (reads of "
                                   "register 15 give pc + 8)")
    isa.pc("pc", W, doc="the current instruction's address (fetches use its low 12 bits)")
    for f in "NZCV":
        isa.field(f, 1, USER, doc=f"CPSR.{f} condition flag (DDI 0406C §A2.4)")
    isa.field("Q", 1, USER, doc="CPSR.Q sticky saturation flag")
    isa.field("A", 1, ARCH, doc="CPSR.A: asynchronous abort mask")
    isa.field("I", 1, ARCH, doc="CPSR.I: IRQ mask")
    isa.field("F", 1, ARCH, doc="CPSR.F: FIQ mask")
    isa.field("M", 5, ARCH, doc="CPSR.M: the mode (DDI 0406C §B1.3.1)" + ("; in Hyp mode (hyp = 1) it holds "
                                                                         "the mode Hyp was entered from" if ve else ""))
    isa.composite("cpsr", W, CPSR_PARTS)
    for g in ("usr",) + tuple(EXC_MODES):
        isa.field(f"sp_{g}", W, ARCH, doc=f"banked SP_{g} (r13 holds the current mode's)")
        isa.field(f"lr_{g}", W, ARCH, doc=f"banked LR_{g} (r14 holds the current mode's)")
    for g in EXC_MODES:
        isa.field(f"spsr_{g}", W, ARCH, doc=f"SPSR_{g} (DDI 0406C §B1.3.3)")
    isa.field("sctlr", W, ARCH, doc="SCTLR (c1, c0, 0): bit 0 M enables the MMU (DDI 0406C §B4.1.130)")
    isa.field("ttbr0", W, ARCH, doc="TTBR0 (c2, c0, 0): translation table base (§B4.1.154)")
    isa.field("dacr", W, ARCH, doc="DACR (c3, c0, 0): 16 domains' access control (§B4.1.43)")
    isa.field("vbar", W, ARCH, doc="VBAR (c12, c0, 0): exception vector base (§B4.1.156)")
    for k in range(SECTIONS):
        isa.field(f"tlb{k}", W, ARCH, doc=f"TLB entry: the first-level descriptor of section {k} as the last "
                                        "TLBIALL's walk read it (DDI 0406C §B3.9)")
    if ve:
        isa.field("hyp", 1, SYSTEM, doc="1 in Hyp mode: CPSR.M reads 11010 (DDI 0406C §B1.3.1)")
        isa.field("hcr", W, SYSTEM, doc="HCR (c1, c1, 0 at opc1 4): hypervisor configuration (§B4.1.65)")
        isa.field("hvbar", W, SYSTEM, doc="HVBAR: Hyp vector base (§B4.1.67)")
        isa.field("vttbr", W, SYSTEM, doc="VTTBR (low word): stage-2 table base (§B4.1.160)")
        isa.field("sp_hyp", W, SYSTEM, doc="banked SP_hyp")
        isa.field("elr_hyp", W, SYSTEM, doc="ELR_hyp: the return address of an exception taken to Hyp mode")
        isa.field("spsr_hyp", W, SYSTEM, doc="SPSR_hyp")
        for k in range(SECTIONS):
            isa.field(f"vtlb{k}", W, SYSTEM, doc=f"stage-2 TLB entry for IPA block {k} (low word of the "
                                               "descriptor), as the last TLBIALLNSNH's walk read it")
    isa.unconstrained("unk", W, doc="free input: the values DDI 0406C leaves UNPREDICTABLE or UNKNOWN")
    isa.memory("mem", MEM, 8, doc="physical memory: 4 KiB of bytes, little-endian")

    # --- causes (DDI 0406C §B1.8.1, Table B1-3: the vector offset is in each doc) --------
    UNDEF = isa.cause("undefined", PRIVILEGE, 0x04,
                      doc="Undefined Instruction exception (vector 0x04): an instruction UNDEFINED in User mode")
    SVC_ = isa.cause("svc", CALL, 0x08, doc="Supervisor Call exception (vector 0x08)")
    PABT = isa.cause("prefetch_abort", MEMORY, 0x0C, doc="Prefetch Abort (vector 0x0C): fetch translation fault")
    DABT = isa.cause("data_abort", MEMORY, 0x10, doc="Data Abort (vector 0x10): alignment, translation, domain "
                                                     "or permission fault")
    IRQ_ = isa.cause("irq", EXCEPTION, 0x18, doc="IRQ exception (vector 0x18): the interval timer")
    THUMB = isa.cause("thumb", EXCEPTION, 0x104,
                      doc="BX to Thumb state, which the model does not have (entered like an Undefined Instruction)")
    HYP_CAUSES = {}
    if ve:
        HYP_CAUSES = {
            isa.cause("hyp_trap", PRIVILEGE, 0x214, doc="Hyp Trap exception (HVBAR + 0x14): an HCR trap"): 0x14,
            isa.cause("hvc", CALL, 0x208, doc="Hypervisor Call exception (HVBAR + 0x08)"): 0x08,
            isa.cause("stage2_abort", MEMORY, 0x210, doc="Data Abort taken to Hyp mode: a stage-2 fault"): 0x10,
        }
    HYPTRAP = next(iter(HYP_CAUSES), None)
    HVC_ = list(HYP_CAUSES)[1] if ve else None
    S2ABT = list(HYP_CAUSES)[2] if ve else None

    # --- modes and the guest configuration --------------------------------------------------
    def mode(m):
        """The current mode's M value (Hyp mode is the ``hyp`` bit)."""
        if not ve:
            return m.M
        # M = 11010 outside Hyp mode cannot arise (no CPSR write enters Hyp); such states read
        # as a reserved mode, so the hyp bit alone decides Hyp mode
        return ite(m.hyp == 1, const(HYP, 5), ite(m.M == HYP, const(0, 5), m.M))

    if ve:
        isa.mode("hyp", lambda m: m.hyp == 1, supervisor=True)
        isa.mode("pl1", lambda m: land(m.hyp == 0, m.M != USR))
        isa.mode("usr", lambda m: land(m.hyp == 0, m.M == USR))
        isa.guest(lambda m: land(m.hyp == 0, *[m.hcr[b] == 1 for b in (HCR_VM, HCR_IMO, HCR_TWI, HCR_TTLB)]),
                  doc="Non-secure PL1 or PL0 (not Hyp), HCR.VM = 1 (stage 2 on), HCR.IMO = 1, HCR.TWI = 1, "
                      "HCR.TTLB = 1")
    else:
        isa.mode("svc", lambda m: m.M == SVC, supervisor=True)
        for mname, code in (("usr", USR), ("sys", SYS), ("abt", ABT), ("und", UND), ("irq", IRQ)):
            isa.mode(mname, lambda m, code=code: m.M == code)
        isa.guest(lambda m: m.M == USR, doc="CPSR.M = User: the guest kernel deprivileged to User mode")

    # --- helpers -----------------------------------------------------------------------------
    def user(m):
        return mode(m) == USR

    def user_or_system(m):
        return lor(mode(m) == USR, mode(m) == SYS)

    def in_group(mval, g, kind):
        """Whether mode ``mval`` uses the banked ``kind`` (sp/lr) copy of group ``g``."""
        if g in EXC_MODES:
            return mval == EXC_MODES[g]
        if g == "hyp":
            return mval == HYP
        others = list(EXC_MODES.values()) + ([HYP] if ve and kind == "sp" else [])
        return land(*[mval != c for c in others])

    def groups(kind):
        return ["usr", *EXC_MODES] + (["hyp"] if ve and kind == "sp" else [])

    def swap(m, old, new, cur13=None, cur14=None, cond=TRUE):
        """Bank swap for a mode change ``old`` -> ``new`` where ``cond`` (DDI 0406C §B1.3.2):
        r13/r14 (``cur13``/``cur14``: their values so far, default the pre-state's) go to the
        old mode's slots; returns the new r13 and r14, from the new mode's slots. Hyp mode
        banks SP only (its LR is LR_usr, §B1.3.2 Table B1-2). The caller writes r13/r14."""
        out = []
        for kind, idx, cur in (("sp", 13, cur13), ("lr", 14, cur14)):
            cur = m.r[idx] if cur is None else cur
            gs = groups(kind)
            same = lor(*[land(in_group(old, g, kind), in_group(new, g, kind)) for g in gs])
            loaded = cur
            for g in gs:
                slot = f"{kind}_{g}"
                m.set_if(land(cond, in_group(old, g, kind), lnot(in_group(new, g, kind))), slot, cur)
                loaded = ite(in_group(new, g, kind), m.read(slot), loaded)
            out.append(ite(land(cond, lnot(same)), loaded, cur))
        return out

    def cpsr(m):
        """The CPSR as MRS reads it (DDI 0406C §B9.3.9: execution-state bits read as 0 here)."""
        v = m.cpsr
        return ite(m.hyp == 1, concat(v[31:5], const(HYP, 5)), v) if ve else v

    def spsr(m):
        """The current mode's SPSR; in User and System mode there is none: UNPREDICTABLE, the
        free input (it cannot reveal another mode's SPSR)."""
        out = m.unk
        for g, code in EXC_MODES.items():
            out = ite(mode(m) == code, m.read(f"spsr_{g}"), out)
        if ve:
            out = ite(m.hyp == 1, m.spsr_hyp, out)
        return out

    def set_spsr(m, value, cond=TRUE):
        """Write the current mode's SPSR where ``cond``; in User/System mode (UNPREDICTABLE)
        nothing is written: User mode cannot change privileged state."""
        for g, code in EXC_MODES.items():
            m.set_if(land(cond, mode(m) == code), f"spsr_{g}", value)
        if ve:
            m.set_if(land(cond, m.hyp == 1), "spsr_hyp", value)

    def legal_target(m, mval):
        """A mode an instruction may switch to from here: the modelled modes; never Hyp (under
        the VE, entering or leaving Hyp by a CPSR write is UNPREDICTABLE, §B1.7.3, and the
        model keeps the mode). Other values are reserved (UNPREDICTABLE: the mode is kept)."""
        ok = lor(*[mval == c for c in (USR, SVC, ABT, UND, IRQ, SYS)])
        return land(ok, m.hyp == 0) if ve else ok

    def write_cpsr(m, value, *, flags, ax, ifm, mode_bits, cur13=None, cur14=None):
        """Write CPSR fields from ``value`` where each 1-bit condition holds (DDI 0406C
        §B1.3.3 CPSRWriteByInstr, exception returns): flags N-Q, the A mask, the I and F
        masks, and the mode, and return r13/r14 after the bank swap (the caller writes them).
        The caller gates privileged parts."""
        for f in "NZCVQ":
            m.set_if(flags, f, value[CPSR_PARTS[f][0]])
        m.set_if(ax, "A", value[8])
        m.set_if(ifm, "I", value[7])
        m.set_if(ifm, "F", value[6])
        change = land(mode_bits, legal_target(m, value[4:0]))
        m.set_if(change, "M", value[4:0])
        return swap(m, mode(m), ite(change, value[4:0], mode(m)), cur13, cur14)

    def write_cpsr_now(m, value, **conds):
        r13, r14 = write_cpsr(m, value, **conds)
        m.r[13] = r13
        m.r[14] = r14

    def reg(m, n):
        """Register ``n``: register 15 reads as pc + 8 (DDI 0406C §A2.3)."""
        return ite(n == 15, m.pc + 8, m.r[n])

    def branch_target(m, v):
        """BXWritePC / ALUWritePC in ARM state (§A2.3.1): bit 0 set selects Thumb (not modelled:
        the ``thumb`` trap); bits [1:0] = 10 are UNPREDICTABLE: the pc becomes the free input,
        word-aligned."""
        return ite(v[1] == 0, v, concat(m.unk[31:2], const(0, 2)))

    def write_reg(m, n, v, cond=TRUE):
        """R[n] := v where ``cond``; writing register 15 is a branch (the caller traps Thumb)."""
        m.r[n] = ite(land(cond, n != 15), v, m.r[n])
        m.pc = ite(land(cond, n == 15), branch_target(m, v), m.next_pc)

    def thumb_trap(m, v, cond=TRUE):
        m.trap_if(land(cond, v[0] == 1), THUMB)

    def undefined_in_user(m):
        """UNDEFINED at PL0 (DDI 0406C §B1.4.1): the Undefined Instruction exception."""
        m.trap_if(user(m), UNDEF)

    def hyp_trap_if(m, hcr_bit):
        """Under the VE: a trap to Hyp mode from PL1/PL0 when HCR bit ``hcr_bit`` is set
        (DDI 0406C §B1.14)."""
        if ve:
            m.trap_if(land(m.hyp == 0, m.hcr[hcr_bit] == 1), HYPTRAP)

    def addr(v):
        return v[MEM - 1:0]

    def exception_return(m, new_pc, value, cond=TRUE, cur13=None, cur14=None):
        """CPSR := ``value`` (an SPSR or loaded word) and branch to ``new_pc`` (DDI 0406C
        §B1.8.10). In User and System mode there is no SPSR: UNPREDICTABLE. User mode cannot
        change privileged state, so the model branches and the flags take the free input's
        bits (System mode: the same declared choice)."""
        priv = lnot(user_or_system(m))
        for f in "NZCVQ":
            m.set_if(land(cond, lnot(priv)), f, m.unk[CPSR_PARTS[f][0]])
        r13, r14 = write_cpsr(m, value, flags=land(cond, priv), ax=land(cond, priv), ifm=land(cond, priv),
                              mode_bits=land(cond, priv), cur13=cur13, cur14=cur14)
        m.r[13] = r13
        m.r[14] = r14
        m.pc = ite(cond, concat(new_pc[31:2], const(0, 2)), m.next_pc)

    # --- translation (DDI 0406C §B3.5.1, §B3.7, §B3.12; scaled: see the module docstring) ---
    def entry(m, prefix, index):
        """The TLB entry ``prefix{index}`` for a 2-bit section number."""
        out = m.read(f"{prefix}{SECTIONS - 1}")
        for k in range(SECTIONS - 2, -1, -1):
            out = ite(index == k, m.read(f"{prefix}{k}"), out)
        return out

    def stage2(m, ipa, write):
        """Under the VE with HCR.VM = 1 outside Hyp mode: stage 2 (§B3.6) through the stage-2
        TLB: one level of LPAE block descriptors, scaled as stage 1 (4 blocks; the low word of
        each 8-byte entry): bits[1:0] = 01 a block, HAP[2:1] at [7:6] (read, write), output
        address bits desc[22:21] give PA[11:10]."""
        if not ve:
            return ipa
        on = land(m.hyp == 0, m.hcr[HCR_VM] == 1)
        d = entry(m, "vtlb", ipa[11:10])
        ok = land(d[1:0] == 1, d[7] == 1 if write else d[6] == 1)
        m.trap_if(land(on, lnot(ok)), S2ABT, info=zext(ipa, W))
        return ite(on, concat(d[22:21], ipa[9:0]), ipa)

    @isa.translate
    def translate(m, vaddr, units, access):
        """Alignment (word and halfword accesses must be aligned: the model holds SCTLR.A's
        effect on, §A3.2.1), then, when SCTLR.M = 1, the section descriptor of VA[11:10] from
        the TLB (filled by TLBIALL's walk, §B3.9-§B3.10): translation fault unless a section,
        domain fault for a No-access (00) or reserved (10) domain, permission check for a
        Client domain (§B3.7.1, AP[2:0] with SCTLR.AFE = 0; User-mode and LDRT-style accesses
        use the PL0 column), XN on fetches."""
        write = access.startswith("write")
        fetch = access == "fetch"
        cause = PABT if fetch else DABT
        if units > 1 and not fetch:
            m.trap_if(vaddr[1 if units == 4 else 0:0] != 0, cause, info=zext(vaddr, W))
        unpriv = TRUE if access.endswith("_user") else user(m)
        on = land(m.sctlr[0] == 1, m.hyp == 0) if ve else m.sctlr[0] == 1
        d = entry(m, "tlb", vaddr[11:10])
        section = land(d[1:0] == 2, d[18] == 0)
        dom = lshr(m.dacr, zext(concat(d[8:5], const(0, 1)), W))[1:0]
        ap2, ap = d[15], d[11:10]
        if write:
            allowed = land(ap2 == 0, ite(unpriv, ap == 3, ap != 0))
        else:
            allowed = ite(unpriv, ap[1] == 1, ap != 0)
        allowed = land(allowed, lnot(land(ap2 == 1, ap == 0)))  # AP = 100: reserved, no access
        fault = lor(lnot(section), dom == 0, dom == 2, land(dom == 1, lnot(allowed)))
        if fetch:
            fault = lor(fault, d[4] == 1)
        m.trap_if(land(on, fault), cause, info=zext(vaddr, W))
        ipa = ite(on, concat(d[21:20], vaddr[9:0]), vaddr)
        return stage2(m, ipa, write)

    # --- exception entry (DDI 0406C §B1.8.3-§B1.8.8, §B1.9.9) -------------------------------
    ENTRY = {UNDEF: (UND, 4, 0x04), THUMB: (UND, 4, 0x04), SVC_: (SVC, 4, 0x08), PABT: (ABT, 4, 0x0C),
             DABT: (ABT, 8, 0x10), IRQ_: (IRQ, 4, 0x18)}

    @isa.on_trap
    def trap(m, cause, info):
        """Save CPSR in the target mode's SPSR, the return address (the trapping instruction's
        address + 4, + 8 for a data abort) in its LR, switch mode with I = 1 (and A = 1 for
        aborts and IRQ), and jump to VBAR + the vector offset (SCTLR.V = 0: low vectors;
        high vectors are not modelled). Under the VE, exceptions from Hyp mode and the Hyp
        causes enter Hyp mode at HVBAR + offset with ELR_hyp = the preferred return address
        (§B1.9.9: the next instruction for SVC and HVC, else the instruction itself)."""
        old = cpsr(m)
        ret = m.pc + 4 if cause in (SVC_, HVC_) else m.pc
        if cause in HYP_CAUSES:
            r13, r14 = enter_hyp(m, old, HYP_CAUSES[cause], ret, TRUE, None, None)
        else:
            target, lr_off, vector = ENTRY[cause]
            pl1 = m.hyp == 0 if ve else TRUE
            g = next(k for k, v in EXC_MODES.items() if v == target)
            m.set_if(pl1, f"spsr_{g}", old)
            r13, r14 = swap(m, mode(m), const(target, 5), cond=pl1)
            r14 = ite(pl1, m.pc + lr_off, r14)
            m.set_if(pl1, "M", const(target, 5))
            m.set_if(pl1, "I", const(1, 1))
            if cause in (PABT, DABT, IRQ_):
                m.set_if(pl1, "A", const(1, 1))
            m.set_if(pl1, "pc", m.vbar + vector)
            if ve:
                r13, r14 = enter_hyp(m, old, vector, ret, lnot(pl1), r13, r14)
        m.r[13] = r13
        m.r[14] = r14

    def enter_hyp(m, old, vector, ret, cond, cur13, cur14):
        """Entry to Hyp mode where ``cond`` (§B1.9.9): SPSR_hyp := CPSR, ELR_hyp := the
        preferred return address, SP := SP_hyp (LR stays LR_usr), A = I = F = 1, pc := HVBAR +
        offset. Returns r13 and r14."""
        m.set_if(cond, "spsr_hyp", old)
        m.set_if(cond, "elr_hyp", ret)
        r13, r14 = swap(m, mode(m), const(HYP, 5), cur13, cur14, cond=cond)
        m.set_if(cond, "hyp", const(1, 1))
        for f in "AIF":
            m.set_if(cond, f, const(1, 1))
        m.set_if(cond, "pc", m.hvbar + vector)
        return r13, r14

    R = Reg("r")

    # --- instructions ------------------------------------------------------------------------
    @isa.instruction("NOP", encoding="[1110 0011 0010 0000 1111 0000 0000 0000]")
    def NOP(m):
        """No operation (DDI 0406C §A8.8.119)."""

    @isa.instruction("WFI", encoding="[1110 0011 0010 0000 1111 0000 0000 0011]")
    def WFI(m):
        """WFI (§A8.8.425, §B1.8.13): a hint; the model completes it at once, as an
        implementation may. Under the VE, HCR.TWI traps it to Hyp mode from PL1/PL0 (§B1.14.8)."""
        hyp_trap_if(m, HCR_TWI)

    @isa.instruction("SUBS pc, r14, {imm}", encoding="[1110 0010 0101 1110 1111 {imm:12}]", imm=RotImm())
    def SUBS_pc_lr(m, imm):
        """SUBS PC, LR, #imm (DDI 0406C §B9.3.20): exception return, pc := LR - imm and CPSR :=
        SPSR. UNPREDICTABLE in User and System mode (see ``exception_return``)."""
        if ve:
            m.trap_if(m.hyp == 1, UNDEF)  # §B9.3.20: UNDEFINED in Hyp mode
        exception_return(m, m.r[14] - expand(imm), spsr(m))

    def expand(imm):
        """ARMExpandImm (§A5.2.4): imm8 rotated right by 2 * rotate."""
        x = zext(imm[7:0], W)
        r = zext(concat(imm[11:8], const(0, 1)), W)
        return (x >> r) | (x << (const(32, W) - r))

    def expand_carry(m, imm):
        """ARMExpandImm_C's carry: unchanged when rotate = 0, else bit 31 of the value."""
        return ite(imm[11:8] == 0, m.C, expand(imm)[31])

    def add_with_carry(x, y, cin):
        """AddWithCarry (§A2.2.1): result, carry out, overflow."""
        s = zext(x, W + 1) + zext(y, W + 1) + zext(cin, W + 1)
        res = s[W - 1:0]
        return res, s[W], land(x[31] == y[31], res[31] != x[31])

    def dp(m, op, s, rd, a, b, shifter_c):
        """One data-processing operation (§A8.4): result, flags; Rd = PC with S is the
        exception return of §B9.3.20 ("SUBS PC, LR and related instructions")."""
        code, kind = DP_OPS[op]
        c_out, v_out = shifter_c, m.V
        if kind in ("logic", "move", "test") and op not in ("CMP", "CMN"):
            res = {"AND": a & b, "EOR": a ^ b, "ORR": a | b, "BIC": a & ~b, "MOV": b, "MVN": ~b,
                   "TST": a & b, "TEQ": a ^ b}[op]
        else:
            x, y, cin = {"SUB": (a, ~b, TRUE), "RSB": (~a, b, TRUE), "ADD": (a, b, FALSE), "ADC": (a, b, m.C),
                         "SBC": (a, ~b, m.C), "RSC": (~a, b, m.C), "CMP": (a, ~b, TRUE),
                         "CMN": (a, b, FALSE)}[op]
            res, c_out, v_out = add_with_carry(x, y, cin)
        if kind == "test":
            m.N, m.Z, m.C, m.V = res[31], zext(res == 0, 1), c_out, v_out
            return
        ret = rd == 15 if s else FALSE
        thumb_trap(m, res, land(rd == 15, lnot(ret)))
        if s:
            if ve:
                m.trap_if(land(ret, m.hyp == 1), UNDEF)
            exception_return(m, res, spsr(m), ret)
            for f, v in (("N", res[31]), ("Z", zext(res == 0, 1)), ("C", c_out), ("V", v_out)):
                m.set_if(lnot(ret), f, v)
            m.r[rd] = ite(ret, m.r[rd], res)
        else:
            write_reg(m, rd, res)

    def dp_form(op, s, operand):
        code, kind = DP_OPS[op]
        sbit = "1" if s else "0"
        mn = op + ("S" if s and kind != "test" else "")
        fname = f"{mn}_{'i' if operand == 'imm' else 'r'}"
        rn_part = "0000" if kind == "move" else "{rn:4}"
        rd_part = "0000" if kind == "test" else "{rd:4}"
        if operand == "imm":
            enc = f"[1110 001 {_bits(code, 4)} {sbit} {rn_part} {rd_part} {{imm:12}}]"
            ops = {"imm": RotImm()}
        else:
            enc = f"[1110 000 {_bits(code, 4)} {sbit} {rn_part} {rd_part} 00000 000 {{rm:4}}]"
            ops = {"rm": R}
        args = ([] if kind == "test" else ["rd"]) + ([] if kind == "move" else ["rn"])
        decl = {k: R for k in args} | ops
        syntax = f"{mn} " + ", ".join([f"{{{a}}}" for a in args] + [f"{{{list(ops)[0]}}}"])

        names = list(decl)

        def sem(m, *vals):
            o = dict(zip(names, vals))
            if operand == "imm":
                b, sc = expand(o["imm"]), expand_carry(m, o["imm"])
            else:
                b, sc = reg(m, o["rm"]), m.C
            a = reg(m, o["rn"]) if "rn" in o else const(0, W)
            dp(m, op, s, o.get("rd"), a, b, sc)

        sem.__name__ = fname
        sem.__code__ = sem.__code__.replace(co_name=fname)
        what = {"imm": "a modified immediate (§A5.2.4)", "reg": "a register"}[operand]
        sem.__doc__ = (f"{op} with {what} (DDI 0406C §A8.8, {op} (immediate/register))"
                       + ("; sets N, Z, C, V" if s else "")
                       + ("; Rd = PC with S is an exception return (§B9.3.20), UNPREDICTABLE in User and "
                          "System mode" if s and kind != "test" else "")
                       + ("; Rd = PC branches (ALUWritePC)" if kind != "test" else "") + ".")
        isa.instruction(syntax, encoding=enc, **decl)(sem)

    for op, (code, kind) in DP_OPS.items():
        for operand in ("imm", "reg"):
            for s in ((True,) if kind == "test" else (False, True)):
                dp_form(op, s, operand)

    # --- loads and stores (DDI 0406C §A8.8.63 LDR (immediate), §A8.8.204 STR, ...) -------
    def ls_form(mn, load, units, signed=False, user_access=False, half=False):
        """A single load/store: offset addressing [Rn, #+/-imm] (P = 1, W = 0) or, for the
        unprivileged forms, post-indexed [Rn], #+/-imm (they always write back)."""
        if half:
            bits = {"LDRH": "0001 {u:1}101", "STRH": "0001 {u:1}100", "LDRHT": "0000 {u:1}111",
                    "STRHT": "0000 {u:1}110", "LDRSBT": "0000 {u:1}111", "LDRSHT": "0000 {u:1}111"}[mn]
            low = {"LDRSBT": "1101", "LDRSHT": "1111"}.get(mn, "1011")
            enc = f"[1110 {bits} {{rn:4}} {{rt:4}} {{imm:4}} {low} {{imm:4}}]"
            imm = Swapped(8, 4)
        else:
            p = "0" if user_access else "1"
            b = "1" if units == 1 else "0"
            wl = ("1" if user_access else "0") + ("1" if load else "0")
            enc = f"[1110 010 {p} {{u:1}} {b} {wl} {{rn:4}} {{rt:4}} {{imm:12}}]"
            imm = Imm(12)
        syntax = f"{mn} {{rt}}, [{{rn}}], #{{u}}{{imm}}" if user_access else f"{mn} {{rt}}, [{{rn}}, #{{u}}{{imm}}]"

        def sem(m, rt, rn, u, imm):
            off = zext(unswap(imm, 4) if half else imm, W)
            base = reg(m, rn)
            moved = ite(u == 1, base + off, base - off)
            a = addr(base if user_access else moved)
            acc = "_user" if user_access else ""
            if user_access:  # written back first, so a loaded Rt = Rn keeps the loaded value
                m.r[rn] = ite(rn != 15, moved, m.r[rn])
            if load:
                v = m.load(a, units=units, access="read" + acc)
                v = (sext(v, W) if signed else zext(v, W)) if units < 4 else v
                if units == 4 and not user_access:
                    thumb_trap(m, v, rt == 15)
                write_reg(m, rt, v)
            else:
                val = reg(m, rt)
                m.store(a, val[8 * units - 1:0], units=units, access="write" + acc)

        sem.__name__ = mn
        sem.__code__ = sem.__code__.replace(co_name=mn)
        size = {1: "byte", 2: "halfword", 4: "word"}[units]
        sem.__doc__ = (f"{mn} (DDI 0406C §A8.8, {mn} (immediate)): {'load' if load else 'store'} a "
                       f"{'signed ' if signed else ''}{size}"
                       + (", with PL0 permissions whatever the mode (§A8.8.* 'unprivileged'); Rn is "
                          "written back; Rn = PC is UNPREDICTABLE (the model keeps Rn), and so is Rn = Rt on "
                          "a load (the loaded value wins)" if user_access else "") + ".")
        ops = {"rt": R, "rn": R, "u": Sign(), "imm": imm}
        isa.instruction(syntax, encoding=enc, **ops)(sem)

    for mn, load, units in (("LDR", True, 4), ("STR", False, 4), ("LDRB", True, 1), ("STRB", False, 1)):
        ls_form(mn, load, units)
    ls_form("LDRH", True, 2, half=True)
    ls_form("STRH", False, 2, half=True)
    for mn, load, units in (("LDRT", True, 4), ("STRT", False, 4), ("LDRBT", True, 1), ("STRBT", False, 1)):
        ls_form(mn, load, units, user_access=True)
    ls_form("LDRHT", True, 2, user_access=True, half=True)
    ls_form("STRHT", False, 2, user_access=True, half=True)
    ls_form("LDRSBT", True, 1, signed=True, user_access=True, half=True)
    ls_form("LDRSHT", True, 2, signed=True, user_access=True, half=True)

    # --- load/store multiple (DDI 0406C §A8.8.58 LDM, §A8.8.199 STMDB, §B9.3.5-§B9.3.6, §B9.3.15) -
    def slots(m, base, mask_, n, descending):
        """The address of each listed register: ascending from ``base`` (IA) or ending just
        below it (DB); an unlisted register gets the lowest address (accessed anyway)."""
        count = [const(0, 5)]
        for k in range(n):
            count.append(count[-1] + zext(mask_[k], 5))
        total = zext(count[n], W)
        low = base - total * 4 if descending else base
        # the slots' addresses are computed in the 12 address bits, as the memory wraps them
        at = [addr(low) + concat(zext(c, MEM - 2), const(0, 2)) for c in count]
        return [ite(mask_[k] == 1, at[k], at[0]) for k in range(n)], low, total

    def first_listed(regs, values):
        """The value stored at the lowest address: the lowest listed register's. Unlisted
        registers store it there too, so every store is unconditional and order-free."""
        out = values[-1]
        for k in range(len(values) - 1, -1, -1):
            out = ite(regs[k] == 1, values[k], out)
        return out

    @isa.instruction("LDM {rn}{wb}, {regs}", encoding="[1110 1000 10 {wb:1} 1 {rn:4} {regs:16}]",
                     rn=R, wb=Flag("!"), regs=RegList("r"))
    def LDM(m, rn, wb, regs):
        """LDMIA (DDI 0406C §A8.8.58): load the listed registers from ascending words at Rn; pc in
        the list branches. An empty list, Rn = PC, or writeback with Rn in the list are
        UNPREDICTABLE: the model loads what the slots say (the loaded value wins over
        writeback)."""
        base = m.r[rn]
        addrs, _, total = slots(m, base, regs, 16, False)
        vals = [m.load(addr(a), units=4) for a in addrs]
        for k in range(15):  # each register written once: loaded, else written back, else kept
            m.r[k] = ite(regs[k] == 1, vals[k], ite(land(wb == 1, rn == k), base + total * 4, m.r[k]))
        thumb_trap(m, vals[15], regs[15] == 1)
        m.pc = ite(regs[15] == 1, branch_target(m, vals[15]), m.next_pc)

    @isa.instruction("STMDB {rn}{wb}, {regs}", encoding="[1110 1001 00 {wb:1} 0 {rn:4} {regs:16}]",
                     rn=R, wb=Flag("!"), regs=RegList("r"))
    def STMDB(m, rn, wb, regs):
        """STMDB / PUSH (DDI 0406C §A8.8.200): store the listed registers to descending words
        below Rn. An empty list or Rn = PC is UNPREDICTABLE (the model stores what it says);
        Rn in the list with writeback stores the original Rn (declared choice)."""
        base = m.r[rn]
        addrs, low, total = slots(m, base, regs, 16, True)
        values = [reg(m, const(k, 4)) for k in range(16)]
        first = first_listed(regs, values)
        for k in range(16):
            m.store(addr(addrs[k]), ite(regs[k] == 1, values[k], first), units=4)
        m.r[rn] = ite(wb == 1, low, m.r[rn])

    def user_reg(m, k):
        """User-mode register k as seen from the current mode (r13/r14 banked)."""
        if k == 13:
            return ite(in_group(mode(m), "usr", "sp"), m.r[13], m.sp_usr)
        if k == 14:
            return ite(in_group(mode(m), "usr", "lr"), m.r[14], m.lr_usr)
        return m.r[k]

    @isa.instruction("STM {rn}, {regs}^", encoding="[1110 1000 1100 {rn:4} {regs:16}]", rn=R,
                     regs=RegList("r"))
    def STM_user(m, rn, regs):
        """STM (User registers) (DDI 0406C §B9.3.15): store User-mode r0-r15 whatever the mode.
        UNPREDICTABLE in User and System mode: the model stores the current registers there
        (which are the User ones)."""
        if ve:
            m.trap_if(m.hyp == 1, UNDEF)
        addrs, _, _ = slots(m, m.r[rn], regs, 16, False)
        values = [reg(m, const(15, 4)) if k == 15 else user_reg(m, k) for k in range(16)]
        first = first_listed(regs, values)
        for k in range(16):
            m.store(addr(addrs[k]), ite(regs[k] == 1, values[k], first), units=4)

    @isa.instruction("LDM {rn}, {regs}^", encoding="[1110 1000 1101 {rn:4} 0 {regs:15}]", rn=R,
                     regs=RegList("r", 15))
    def LDM_user(m, rn, regs):
        """LDM (User registers) (DDI 0406C §B9.3.6): load User-mode r0-r14 whatever the mode.
        UNPREDICTABLE in User and System mode: the model loads the current registers there
        (which are the User ones)."""
        if ve:
            m.trap_if(m.hyp == 1, UNDEF)
        addrs, _, _ = slots(m, m.r[rn], regs, 15, False)
        vals = [m.load(addr(a), units=4) for a in addrs]
        for k in range(13):
            m.r[k] = ite(regs[k] == 1, vals[k], m.r[k])
        for k, slot in ((13, "sp_usr"), (14, "lr_usr")):
            here = in_group(mode(m), "usr", "sp" if k == 13 else "lr")
            m.r[k] = ite(land(regs[k] == 1, here), vals[k], m.r[k])
            m.set_if(land(regs[k] == 1, lnot(here)), slot, vals[k])

    @isa.instruction("LDM {rn}{wb}, {regs}^", encoding="[1110 1000 11 {wb:1} 1 {rn:4} 1 {regs:15}]", rn=R,
                     wb=Flag("!"), regs={"kind": "reglist", "width": 15, "bank": "r", "texts": ("15",)})
    def LDM_eret(m, rn, wb, regs):
        """LDM (exception return) (DDI 0406C §B9.3.5): load the listed registers and the pc,
        then CPSR := SPSR. UNPREDICTABLE in User and System mode (see ``exception_return``)."""
        if ve:
            m.trap_if(m.hyp == 1, UNDEF)
        base = m.r[rn]
        full = concat(const(1, 1), regs)
        addrs, _, total = slots(m, base, full, 16, False)
        vals = [m.load(addr(a), units=4) for a in addrs]
        for k in range(13):
            m.r[k] = ite(regs[k] == 1, vals[k], ite(land(wb == 1, rn == k), base + total * 4, m.r[k]))
        r13 = ite(regs[13] == 1, vals[13], ite(land(wb == 1, rn == 13), base + total * 4, m.r[13]))
        r14 = ite(regs[14] == 1, vals[14], ite(land(wb == 1, rn == 14), base + total * 4, m.r[14]))
        exception_return(m, vals[15], spsr(m), cur13=r13, cur14=r14)

    # --- branches (DDI 0406C §A8.8.18 B, §A8.8.25 BL, §A8.8.27 BX) ---------------------------
    def off24(m, imm):
        return m.pc + 8 + sext(concat(imm, const(0, 2)), W)

    @isa.instruction("B {imm}", encoding="[1110 1010 {imm:24}]", imm=Target(24, pcrel=True, scale=4, bias=8))
    def B(m, imm):
        """B (§A8.8.18): pc := pc + 8 + imm * 4 (the offset is written in words)."""
        m.pc = off24(m, imm)

    @isa.instruction("BEQ {imm}", encoding="[0000 1010 {imm:24}]", imm=Target(24, pcrel=True, scale=4, bias=8))
    def BEQ(m, imm):
        """B with condition EQ (§A8.8.18, §A8.3): branch when Z = 1."""
        m.pc = ite(m.Z == 1, off24(m, imm), m.next_pc)

    @isa.instruction("BNE {imm}", encoding="[0001 1010 {imm:24}]", imm=Target(24, pcrel=True, scale=4, bias=8))
    def BNE(m, imm):
        """B with condition NE (§A8.8.18, §A8.3): branch when Z = 0."""
        m.pc = ite(m.Z == 0, off24(m, imm), m.next_pc)

    @isa.instruction("BL {imm}", encoding="[1110 1011 {imm:24}]", imm=Target(24, pcrel=True, scale=4, bias=8))
    def BL(m, imm):
        """BL (§A8.8.25): LR := pc + 4; branch."""
        m.r[14] = m.pc + 4
        m.pc = off24(m, imm)

    @isa.instruction("BX {rm}", encoding="[1110 0001 0010 1111 1111 1111 0001 {rm:4}]", rm=R)
    def BX(m, rm):
        """BX (§A8.8.27): branch to Rm; bit 0 set selects Thumb state (the ``thumb`` trap);
        bits[1:0] = 10 are UNPREDICTABLE (the free input)."""
        v = reg(m, rm)
        thumb_trap(m, v)
        m.pc = branch_target(m, v)

    def supervisor_call(m, imm):
        """SVC (§A8.8.228): the Supervisor Call exception, in every mode."""
        m.trap(SVC_, info=zext(imm, W))

    named(supervisor_call, "SVC")  # the mode constant SVC keeps its name in this scope
    isa.instruction("SVC #{imm}", encoding="[1110 1111 {imm:24}]", imm=Imm(24))(supervisor_call)

    # --- PSR access (DDI 0406C §B9.3.9-§B9.3.13, §B9.3.2 CPS) --------------------------------
    @isa.instruction("CPSIE {aif}", encoding="[1111 0001 0000 1000 0000 000 {aif:3} 0 00000]", aif=Letters("aif"))
    def CPSIE(m, aif):
        """CPSIE (§B9.3.2): clear the named masks. In User mode it executes as a NOP."""
        priv = lnot(user(m))
        for k, f in ((2, "A"), (1, "I"), (0, "F")):
            m.set_if(land(priv, aif[k] == 1), f, const(0, 1))

    @isa.instruction("CPSID {aif}", encoding="[1111 0001 0000 1100 0000 000 {aif:3} 0 00000]", aif=Letters("aif"))
    def CPSID(m, aif):
        """CPSID (§B9.3.2): set the named masks. In User mode it executes as a NOP."""
        priv = lnot(user(m))
        for k, f in ((2, "A"), (1, "I"), (0, "F")):
            m.set_if(land(priv, aif[k] == 1), f, const(1, 1))

    @isa.instruction("CPS #{mode}", encoding="[1111 0001 0000 0010 0000 0000 000 {mode:5}]", mode=Imm(5))
    def CPS(m, mode_):
        """CPS #mode (§B9.3.2): change mode. In User mode it executes as a NOP; a reserved or
        unmodelled mode value is UNPREDICTABLE (the mode is kept, ``legal_target``)."""
        v = concat(const(0, 27), mode_)
        write_cpsr_now(m, v, flags=FALSE, ax=FALSE, ifm=FALSE, mode_bits=lnot(user(m)))

    @isa.instruction("MRS {rd}, cpsr", encoding="[1110 0001 0000 1111 {rd:4} 0000 0000 0000]", rd=R)
    def MRS_cpsr(m, rd):
        """MRS Rd, CPSR (§B9.3.9): Rd := CPSR, in every mode (the mode bits included). Rd = PC
        is UNPREDICTABLE: the model branches."""
        write_reg(m, rd, cpsr(m))

    @isa.instruction("MRS {rd}, spsr", encoding="[1110 0001 0100 1111 {rd:4} 0000 0000 0000]", rd=R)
    def MRS_spsr(m, rd):
        """MRS Rd, SPSR (§B9.3.9): Rd := the current mode's SPSR. UNPREDICTABLE in User and
        System mode (no SPSR): Rd := the free input."""
        write_reg(m, rd, spsr(m))

    def msr_cpsr(m, mask_, v):
        """CPSRWriteByInstr (§B1.3.3): the f field writes N-Q always; A (x field), I, F and M
        (c field) only at PL1. In User mode the rest is ignored without a trap."""
        priv = lnot(user(m))
        write_cpsr_now(m, v, flags=mask_[3] == 1, ax=land(priv, mask_[1] == 1), ifm=land(priv, mask_[0] == 1),
                       mode_bits=land(priv, mask_[0] == 1))

    def msr_spsr(m, mask_, v):
        """SPSRWriteByInstr (§B1.3.3): the fields named by the mask; in User and System mode
        UNPREDICTABLE (nothing is written: User mode cannot change privileged state)."""
        old = spsr(m)
        new = old
        for k, (hi, lo) in enumerate(((7, 0), (15, 8), (23, 16), (31, 24))):
            parts = []
            if hi < 31:
                parts.append(new[31:hi + 1])
            parts.append(ite(mask_[k] == 1, v[hi:lo], new[hi:lo]))
            if lo > 0:
                parts.append(new[lo - 1:0])
            new = concat(*parts)
        set_spsr(m, new)

    @isa.instruction("MSR cpsr_{mask}, {rn}", encoding="[1110 0001 0010 {mask:4} 1111 0000 0000 {rn:4}]",
                     mask=Letters("fsxc"), rn=R)
    def MSR_cpsr_r(m, mask, rn):
        """MSR CPSR_<fields>, Rn (§B9.3.12): see ``msr_cpsr``."""
        msr_cpsr(m, mask, reg(m, rn))

    @isa.instruction("MSR cpsr_{mask}, {imm}", encoding="[1110 0011 0010 {mask:4} 1111 {imm:12}]",
                     mask=Letters("fsxc"), imm=RotImm())
    def MSR_cpsr_i(m, mask, imm):
        """MSR CPSR_<fields>, #imm (§B9.3.11): see ``msr_cpsr``."""
        msr_cpsr(m, mask, expand(imm))

    @isa.instruction("MSR spsr_{mask}, {rn}", encoding="[1110 0001 0110 {mask:4} 1111 0000 0000 {rn:4}]",
                     mask=Letters("fsxc"), rn=R)
    def MSR_spsr_r(m, mask, rn):
        """MSR SPSR_<fields>, Rn (§B9.3.12): see ``msr_spsr``."""
        msr_spsr(m, mask, reg(m, rn))

    @isa.instruction("MSR spsr_{mask}, {imm}", encoding="[1110 0011 0110 {mask:4} 1111 {imm:12}]",
                     mask=Letters("fsxc"), imm=RotImm())
    def MSR_spsr_i(m, mask, imm):
        """MSR SPSR_<fields>, #imm (§B9.3.11): see ``msr_spsr``."""
        msr_spsr(m, mask, expand(imm))

    @isa.instruction("SRSDB sp{wb}, #{mode}", encoding="[1111 1001 01 {wb:1} 0 1101 0000 0101 000 {mode:5}]",
                     wb=Flag("!"), mode=Imm(5))
    def SRSDB(m, wb, mode_):
        """SRSDB SP{!}, #mode (§B9.3.16): store LR and SPSR of the current mode below the SP of
        mode ``mode``. UNPREDICTABLE in User and System mode (no SPSR) and for a reserved mode:
        the model rewrites the two words at SP with their own values there (User mode cannot
        reach another mode's SP; like a store there it may fault). UNDEFINED in Hyp mode."""
        if ve:
            m.trap_if(m.hyp == 1, UNDEF)
        go = land(lnot(user_or_system(m)), lor(*[mode_ == c for c in (USR, SVC, ABT, UND, IRQ, SYS)]))
        cur_usr = in_group(mode(m), "usr", "sp")
        to_usr = lor(mode_ == SYS, mode_ == USR)  # User and System share SP_usr
        same = lor(mode_ == mode(m), land(to_usr, cur_usr))
        sp = ite(to_usr, m.sp_usr, m.r[13])
        for g, code in EXC_MODES.items():
            sp = ite(mode_ == code, m.read(f"sp_{g}"), sp)
        sp = ite(same, m.r[13], sp)
        a = ite(go, sp - 8, m.r[13])
        old0, old1 = m.load(addr(a), units=4), m.load(addr(a + 4), units=4)
        m.store(addr(a), ite(go, m.r[14], old0), units=4)
        m.store(addr(a + 4), ite(go, spsr(m), old1), units=4)
        upd = land(go, wb == 1)
        for g, code in EXC_MODES.items():
            m.set_if(land(upd, mode_ == code, lnot(same)), f"sp_{g}", a)
        m.set_if(land(upd, to_usr, lnot(same)), "sp_usr", a)
        m.r[13] = ite(land(upd, same), a, m.r[13])

    @isa.instruction("RFEIA {rn}{wb}", encoding="[1111 1000 10 {wb:1} 1 {rn:4} 0000 1010 0000 0000]",
                     rn=R, wb=Flag("!"))
    def RFEIA(m, rn, wb):
        """RFEIA Rn{!} (§B9.3.13): pc := [Rn], CPSR := [Rn + 4]. UNPREDICTABLE in User mode
        (see ``exception_return``; the model treats System mode as the other PL1 modes, as
        the manual does)."""
        if ve:
            m.trap_if(m.hyp == 1, UNDEF)
        base = m.r[rn]
        new_pc = m.load(addr(base), units=4)
        new_cpsr = m.load(addr(base + 4), units=4)
        m.r[rn] = ite(wb == 1, base + 8, m.r[rn])
        priv = lnot(user(m))
        for f in "NZCVQ":
            m.set_if(lnot(priv), f, m.unk[CPSR_PARTS[f][0]])
        r13 = ite(land(wb == 1, rn == 13), base + 8, m.r[13])
        r14 = ite(land(wb == 1, rn == 14), base + 8, m.r[14])
        write_cpsr_now(m, new_cpsr, flags=priv, ax=priv, ifm=priv, mode_bits=priv, cur13=r13, cur14=r14)
        m.pc = concat(new_pc[31:2], const(0, 2))

    # --- CP15 (DDI 0406C §B4.1, §B3.17-§B3.18; MCR §B9.3.?/A8.8.98, MRC A8.8.108) -----------
    def cp15(mn, field, crn, crm, opc2, opc1=0, *, read, doc):
        l_bit = "1" if read else "0"
        enc = (f"[1110 1110 {_bits(opc1, 3)} {l_bit} {_bits(crn, 4)} {{rt:4}} 1111 {_bits(opc2, 3)} 1 "
               f"{_bits(crm, 4)}]")
        syntax = f"{'MRC' if read else 'MCR'} p15, {opc1}, {{rt}}, c{crn}, c{crm}, {opc2}"

        def sem(m, rt):
            undefined_in_user(m)
            if field == "tlb":
                hyp_trap_if(m, HCR_TTLB)  # §B1.14.4: TLB maintenance trapped by HCR.TTLB
            if field in ("hcr", "hvbar", "vtlb"):
                m.trap_if(m.hyp == 0, UNDEF)  # Hyp registers: UNDEFINED outside Hyp mode
            if read:
                write_reg(m, rt, m.read(field))
            elif field == "tlb":
                # the walk (§B3.5.1) for every section: table at TTBR0[11:4], through stage 2
                for k in range(SECTIONS):
                    ipa = concat(m.ttbr0[11:4], const(k, 2), const(0, 2))
                    m.set(f"tlb{k}", m.phys_load(stage2(m, ipa, False), units=4))
            elif field == "vtlb":
                for k in range(SECTIONS):
                    m.set(f"vtlb{k}", m.phys_load(concat(m.vttbr[11:5], const(k, 2), const(0, 3)), units=4))
            elif field is not None:
                m.set(field, reg(m, rt))

        sem.__name__ = mn
        sem.__code__ = sem.__code__.replace(co_name=mn)
        sem.__doc__ = doc + " UNDEFINED in User mode (§B4.1.1 PL1 access only)."
        isa.instruction(syntax, encoding=enc, rt=R)(sem)

    for reg_name, field, crn, crm, opc2, sect in (("SCTLR", "sctlr", 1, 0, 0, "§B4.1.130"),
                                                  ("TTBR0", "ttbr0", 2, 0, 0, "§B4.1.154"),
                                                  ("DACR", "dacr", 3, 0, 0, "§B4.1.43"),
                                                  ("VBAR", "vbar", 12, 0, 0, "§B4.1.156")):
        cp15(f"MCR_{reg_name}", field, crn, crm, opc2, read=False, doc=f"MCR to {reg_name} (DDI 0406C {sect}).")
        cp15(f"MRC_{reg_name}", field, crn, crm, opc2, read=True, doc=f"MRC from {reg_name} (DDI 0406C {sect}).")
    cp15("MCR_TLBIALL", "tlb", 8, 7, 0, read=False,
         doc="MCR p15 TLBIALL: invalidate the unified TLB (§B4.2.3). The model's TLB holds every section, so "
             "it is refilled at once by walking the table at TTBR0 (§B3.5.1; through stage 2 under the VE).")
    for mn, crn, crm, opc2, what in (("MCR_ICIALLU", 7, 5, 0, "invalidate the instruction caches (§B4.2.1)"),
                                     ("MCR_BPIALL", 7, 5, 6, "invalidate the branch predictors (§B4.2.1)")):
        cp15(mn, None, crn, crm, opc2, read=False,
             doc=f"MCR p15 maintenance: {what}; the model has no cache, so it changes nothing.")
    if ve:
        cp15("MCR_HCR", "hcr", 1, 1, 0, opc1=4, read=False, doc="MCR to HCR (DDI 0406C §B4.1.65).")
        cp15("MRC_HCR", "hcr", 1, 1, 0, opc1=4, read=True, doc="MRC from HCR (DDI 0406C §B4.1.65).")
        cp15("MCR_HVBAR", "hvbar", 12, 0, 0, opc1=4, read=False, doc="MCR to HVBAR (DDI 0406C §B4.1.67).")
        cp15("MCR_TLBIALLNSNH", "vtlb", 8, 7, 4, opc1=4, read=False,
             doc="MCR p15 TLBIALLNSNH: invalidate the Non-secure non-Hyp TLB entries (§B4.2.3); the model refills "
                 "its stage-2 TLB by walking the table at VTTBR.")

    if ve:
        @isa.instruction("ERET", encoding="[1110 0001 0110 0000 0000 0000 0110 1110]")
        def ERET(m):
            """ERET (§B9.3.3): in Hyp mode pc := ELR_hyp and CPSR := SPSR_hyp (leaving Hyp mode);
            at PL1 it is SUBS PC, LR, #0; UNDEFINED in User mode."""
            undefined_in_user(m)
            h = m.hyp == 1
            back = m.spsr_hyp[4:0]
            legal = lor(*[back == c for c in (USR, SVC, ABT, UND, IRQ, SYS)])
            pl1 = lnot(h)
            r13, r14 = write_cpsr(m, spsr(m), flags=pl1, ax=pl1, ifm=pl1, mode_bits=pl1)
            # from Hyp: restore the guest's CPSR and leave Hyp mode (an illegal target is
            # UNPREDICTABLE: the model stays in Hyp and only branches)
            out = land(h, legal)
            for f in "NZCVQAIF":
                m.set_if(out, f, m.spsr_hyp[CPSR_PARTS[f][0]])
            r13, r14 = swap(m, mode(m), back, r13, r14, cond=out)
            m.set_if(out, "M", back)
            m.set_if(out, "hyp", const(0, 1))
            m.r[13] = r13
            m.r[14] = r14
            m.pc = ite(h, concat(m.elr_hyp[31:2], const(0, 2)), concat(m.r[14][31:2], const(0, 2)))

        @isa.instruction("HVC #{imm}", encoding="[1110 0001 0100 {imm:12} 0111 {imm:4}]", imm=Swapped(16, 12))
        def HVC(m, imm):
            """HVC (§B9.3.4): the Hypervisor Call exception; UNDEFINED in User mode."""
            undefined_in_user(m)
            m.trap(HVC_, info=zext(unswap(imm, 12), W))

    # --- monitor support -------------------------------------------------------------------------
    isa.reset(M=SVC, A=1, I=1, F=1, **({"hyp": 1} if ve else {}))
    isa.timer(IRQ_, enabled=lambda m: m.I == 0, period=500,
              doc="an IRQ every 500 completed instructions, held pending while CPSR.I = 1")
    return isa


armv7 = build("armv7", ve=False,
              doc="ARMv7-A (A32) with a guest kernel deprivileged to User mode under a privileged monitor.",
              source="ARM DDI 0406C (ARMv7-A/R ARM); Penneman et al., J. Systems Architecture 59(3), 2013")
armv7_ve = build("armv7-ve", ve=True,
                 doc="ARMv7-A with the Virtualization Extensions: the monitor in Hyp mode, the guest kernel at PL1.",
                 source="ARM DDI 0406C §B1.7, ch. B8 (Virtualization Extensions)")

# --- Unicorn (QEMU's ARM) as a reference: `virtcheck crossval armv7 --reference unicorn` ---------
# Unicorn's ARM CPU has the real 32-bit MMU and the Virtualization Extensions are not reachable
# through it, so only `armv7` declares it, with the MMU off. Unicorn reports an Undefined
# Instruction as an "invalid instruction" error, which crossval counts as skipped (never as
# agreement): the PL0 traps of CP15 accesses are therefore not compared.

_MEM_SIZE = 1 << MEM
_CODE_LO, _CODE_HI = 0xF00, 0xFF0  #: where the instruction under test is placed
_DATA_LO, _DATA_HI = 0x100, 0xD00  #: where registers used as addresses point
#: QEMU's exception numbers (target/arm/cpu.h EXCP_*) for the model's causes
_UC_EXCP = {"undefined": 1, "thumb": 1, "svc": 2, "prefetch_abort": 3, "data_abort": 4, "irq": 5}
_ADDRESSING = {"rn"}  #: operands that name a base register
_BYTE_ACCESS = {"LDRB", "STRB", "LDRBT", "STRBT", "LDRSBT"}


def _uc_vector(cause, info):
    return _UC_EXCP.get(cause.name, 0x100 + cause.code)


def _uc_fit(isa, state, ins, ops, rng):
    """A drawn example made realisable on Unicorn: MMU off and VBAR 0 (the model's section
    translation is scaled, Unicorn's is real), the instruction inside memory at a word-aligned
    pc, base registers, SPs and offsets inside the 4 KiB and aligned for their access (the
    model wraps addresses at 12 bits and faults unaligned accesses; Unicorn has neither)."""
    from virtcheck.isa.asm import encode_units
    from virtcheck.isa.operand_syntax import swapped_value

    f = dict(state.fields)
    f["sctlr"], f["vbar"] = 0, 0
    f["pc"] = _CODE_LO + 4 * rng.randrange((_CODE_HI - _CODE_LO) // 4)
    ops = dict(ops)
    align = 1 if ins.mnemonic in _BYTE_ACCESS else 2 if "H" in ins.mnemonic.split("_")[0][3:] else 4
    if "rn" in ops and ins.effects.accesses:
        if ops["rn"] == 15:
            ops["rn"] = rng.randrange(15)
        f[f"r{ops['rn']}"] = rng.randrange(_DATA_LO, _DATA_HI) & ~3
    if "imm" in ops and ins.effects.accesses and ins.operand("imm").kind != "target":
        o = ins.operand("imm")
        if o.kind == "imm":
            ops["imm"] = (ops["imm"] % 0x100) & ~(align - 1)
        else:  # the split halfword immediate: an even value below 0x80, encoded back
            real = (swapped_value(o, ops["imm"]) % 0x80) & ~(align - 1)
            ops["imm"] = (real >> 4) | ((real & 0xF) << 4)
    for name in ("r13", "sp_usr", "sp_svc", "sp_abt", "sp_und", "sp_irq"):
        f[name] = rng.randrange(_DATA_LO + 0x40, _DATA_HI) & ~3
    if ins.mnemonic == "MCR_SCTLR":  # keep Unicorn's real MMU off: its tables are not the model's
        f[f"r{ops['rt']}"] &= ~1
    out = state.copy()
    out.fields = f
    mem = state.memories["mem"].to_list(_MEM_SIZE)
    code = encode_units(isa, ins, [ops[o.name] for o in ins.operands])
    mem[f["pc"]:f["pc"] + 4] = code
    out.memories["mem"] = type(state.memories["mem"]).from_list(mem)
    return out, ops


def _cpsr_of(f, mode=None):
    v = (f["N"] << 31) | (f["Z"] << 30) | (f["C"] << 29) | (f["V"] << 28) | (f["Q"] << 27)
    return v | (f["A"] << 8) | (f["I"] << 7) | (f["F"] << 6) | (f["M"] if mode is None else mode)


def _uc_setup(state, code):
    """Every mode's banked SP, LR and SPSR through CPSR writes (QEMU swaps the banks on a mode
    change), then the current mode's CPSR and registers."""
    f = state.fields
    regs = []
    for g, code_m in (("usr", SYS), *EXC_MODES.items()):
        regs += [("CPSR", _cpsr_of(f, code_m)), ("SP", f[f"sp_{g}"]), ("LR", f[f"lr_{g}"])]
        if g != "usr":
            regs.append(("SPSR", f[f"spsr_{g}"]))
    regs.append(("CPSR", _cpsr_of(f)))
    regs += [(f"R{k}", f[f"r{k}"]) for k in range(13)] + [("SP", f["r13"]), ("LR", f["r14"]), ("PC", f["pc"])]
    return {"memory": {"mem": 0}, "code": (f["pc"], code), "registers": regs}


def _uc_read(get):
    out = {f"r{k}": get(f"R{k}") for k in range(13)}
    out["r13"], out["r14"], out["pc"] = get("SP"), get("LR"), get("PC")
    cpsr = get("CPSR")
    for name, (bit, _) in CPSR_PARTS.items():
        if len(name) == 1 and name in "NZCVQ":
            out[name] = (cpsr >> bit) & 1
    return out


def _returns_oddly(state, ops):
    f = state.fields
    g = next((g for g, c in EXC_MODES.items() if c == f["M"]), None)
    if g is None:
        return False
    spsr = f[f"spsr_{g}"]
    return bool(spsr >> 5 & 1) or spsr & 0x1F not in (USR, SVC, ABT, UND, IRQ, SYS)


def _writes_pc(state, ops):
    return 15 in (ops.get("rd"), ops.get("rt")) or (ops.get("regs", 0) >> 15) & 1 == 1


def _thumb_target(state, ops):
    return "rm" in ops and state.fields[f"r{ops['rm']}"] & 3 != 0 if ops.get("rm") != 15 else False


_DP_S = [f"{op}S_{k}" for op, (_, kind) in DP_OPS.items() if kind != "test" for k in "ir"]
_UC_LIMITS = [
    {"id": "pc-writes", "source": "model", "differs": ["outcome", "*"], "when": _writes_pc,
     "doc": "a write to the pc of a value with bit 0 set enters Thumb state, which the model does not have (its "
            "'thumb' trap), and bits[1:0] = 10 are UNPREDICTABLE (the model's free input)"},
    {"id": "bx-thumb", "source": "model", "mnemonics": ["BX"], "differs": ["outcome", "*"], "when": _thumb_target,
     "doc": "BX to an odd address enters Thumb state, which the model does not have; to an address with "
            "bits[1:0] = 10 it is UNPREDICTABLE (the model's free input, QEMU branches there)"},
    {"id": "return-to-thumb", "source": "model", "mnemonics": ["LDM_eret", "SUBS_pc_lr", "RFEIA"] + _DP_S,
     "differs": ["outcome", "*"], "when": _returns_oddly,
     "doc": "an exception return to a CPSR with T = 1 (Thumb state, not modelled) or a reserved mode (the "
            "model keeps the mode) differs"},
    {"id": "cp15-values", "source": "model", "mnemonics": ["MRC_SCTLR", "MRC_TTBR0", "MRC_DACR", "MRC_VBAR"],
     "differs": [f"r{k}" for k in range(15)],
     "doc": "the model's CP15 registers hold the drawn state's values; setup does not write Unicorn's, so MRC "
            "reads its CPU's reset values"},
]

armv7.reference("unicorn", {
    "constants": "unicorn.arm_const", "arch": "UC_ARCH_ARM", "mode": "UC_MODE_ARM", "registers": "UC_ARM_REG_",
    "modes": ["svc", "usr"], "fit": _uc_fit, "setup": _uc_setup, "read": _uc_read, "vector": _uc_vector,
    "limits": _UC_LIMITS,
})

MACHINES = [armv7, armv7_ve]
