"""``x86``, ``x86-ring1``, ``x86-umip``, ``x86-vmx``: IA-32 protected mode, the subset that
decides virtualizability (Popek & Goldberg 1974; Robin & Irvine, USENIX Security 2000).

Modelled from the Intel SDM (Intel 64 and IA-32 Architectures Software Developer's Manual):
Vol. 2 instruction pages, Vol. 3A ch. 2 (system registers), ch. 3 (segments, descriptors),
ch. 5 (protection), ch. 6 (interrupts), ch. 7 (tasks), Vol. 3C ch. 25-27 (VMX non-root
operation, VM exits). docs/x86.md lists what is modelled and what is abstracted.

State (SDM Vol. 3A §2.1-§2.5): EAX..EDI (bank ``r``), EIP, EFLAGS (composite over its flag
fields), CPL, the six segment selectors with their hidden descriptor caches (base, limit,
attributes), GDTR, IDTR, LDTR and TR (selector + cache), CR0 (composite over PE..PG), CR3,
CR4 (composite over TSD, PCE and, on ``x86-umip``, UMIP), the time-stamp counter and the
SYSENTER MSRs. Memory ``mem`` is small on purpose: 12-bit physical addresses (4 KiB), byte
cells, little-endian (witness replay walks every address); the descriptor tables, the TSS and
the stacks live in it. ``io`` holds I/O ports 0-FFH.

Abstractions (each explained in docs/x86.md): linear = physical (the flat model, SDM Vol.
3A §3.2.1: segment bases and limits are loaded, checked and cached, but memory operands are
not relocated through them; paging is not modelled); no task switches, call gates or
virtual-8086 mode (a system descriptor where a code segment is required raises #GP); no
I/O permission bitmap (as if the TSS had none, so CPL > IOPL always faults on IN/OUT); trap
delivery is abstracted (``on_trap``: enter ring 0 at the IDT gate's offset with IF clear).

Encodings are the real IA-32 bytes (32-bit code segment), one form per addressing shape;
tests/isa/test_x86.py checks them both ways against GNU binutils.
"""

from __future__ import annotations

from virtcheck.isa.lang import (
    CALL, MEMORY, PRIVILEGE, SYSTEM, USER, Imm, Isa, Reg, concat, const, ite, land, lnot, lor,
    resize, sext, uge, ugt, ule, ult, zext,
)

MEM = 12  #: physical address bits of ``mem`` (small so witness replay stays fast)
IO = 8  #: I/O port address bits of ``io``
W = 32

#: segment register numbers as the ModRM reg field encodes them (SDM Vol. 2B MOV: 8C /r, 8E /r)
ES, CS, SS, DS, FS, GS = range(6)
SEGS = ("es", "cs", "ss", "ds", "fs", "gs")

#: CR0 bits (SDM Vol. 3A §2.5)
CR0_BITS = {"pe": 0, "mp": 1, "em": 2, "ts": 3, "et": 4, "ne": 5, "wp": 16, "am": 18, "nw": 29, "cd": 30, "pg": 31}
#: EFLAGS bits (SDM Vol. 1 §3.4.3); IOPL is bits 13:12
FLAG_BITS = {"CF": 0, "PF": 2, "AF": 4, "ZF": 6, "SF": 7, "TF": 8, "IF": 9, "DF": 10, "OF": 11, "AC": 18, "ID": 21}

#: MSR numbers modelled (SDM Vol. 4 ch. 2)
MSR_TSC, MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP = 0x10, 0x174, 0x175, 0x176


def build(name: str, *, doc: str, source: str, guest_ring: int = 3, umip: bool = False, vmx: bool = False,
          segmented: bool = False) -> Isa:
    """One IA-32 machine. ``guest_ring``: the ring a deprivileged guest kernel runs in
    (IOPL 0 < CPL, CR4.TSD = 1); ``umip``: the processor has CR4.UMIP and the monitor sets it;
    ``vmx``: VT-x, the guest runs in VMX non-root operation at its own CPL.

    ``segmented``: the same machine with the detail the flat model leaves out -- every
    operand address is an offset into the segment its instruction uses, relocated by the
    segment's cached base and checked against its limit (SDM Vol. 3A §3.4.3, §5.3), fetch
    through CS, descriptor-table reads at linear addresses (§3.5.1, §6.10). With every base
    0 and every limit 4 GiB (the basic flat model, §3.2.1) it is the flat model exactly. A
    monitor that confines a guest through segmentation runs it on this machine
    (``Isa.partition(hardware=...)``); classification uses the flat model."""
    isa = Isa(name, word=W, unit=8, endian="little", doc=doc, source=source)

    # In VMX the architectural registers are the running context's own: the processor swaps
    # them through the VMCS guest- and host-state areas on VM entry and exit (SDM Vol. 3C
    # §26.3.2, §27.5), as a PG supervisor swaps a process's registers. What the monitor must
    # control is the VMX state below. See docs/x86.md, "x86-vmx".
    ARCH = USER if vmx else SYSTEM

    # --- state ------------------------------------------------------------------------
    isa.bank("r", 8, W, USER, doc="EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (r0-r7)")
    isa.pc("eip", W, doc="EIP (fetches use its low 16 bits)")
    for f in ("CF", "PF", "AF", "ZF", "SF", "TF", "DF", "OF", "AC", "ID"):
        isa.field(f, 1, USER, doc=f"EFLAGS.{f} (settable at any CPL, SDM Vol. 1 §3.4.3)")
    isa.field("IF", 1, ARCH, doc="EFLAGS.IF: maskable interrupts enabled")
    isa.field("IOPL", 2, ARCH, doc="EFLAGS.IOPL: I/O privilege level")
    isa.field("cpl", 2, ARCH, doc="current privilege level (= CS.RPL = SS.RPL, SDM Vol. 3A §5.5)")
    isa.field("cs_idx", 14, USER, doc="CS selector bits 15:2 (index, TI); its RPL is the CPL")
    isa.field("ss_idx", 14, USER, doc="SS selector bits 15:2 (index, TI); its RPL is the CPL")
    for s in ("es", "ds", "fs", "gs"):
        isa.field(s, 16, USER, doc=f"{s.upper()} selector")
    isa.composite("cs", 16, {"cs_idx": (15, 2), "cpl": (1, 0)})
    isa.composite("ss", 16, {"ss_idx": (15, 2), "cpl": (1, 0)})
    for s in SEGS:
        isa.field(f"{s}_base", W, ARCH, doc=f"{s.upper()} descriptor cache: base (SDM Vol. 3A §3.4.3)")
        isa.field(f"{s}_limit", W, ARCH, doc=f"{s.upper()} descriptor cache: effective limit in bytes")
        isa.field(f"{s}_attr", 16, ARCH, doc=f"{s.upper()} descriptor cache: descriptor bits 55:40 "
                  "(type, S, DPL, P, limit 19:16, AVL, L, D/B, G)")
    isa.field("gdtr_base", W, ARCH, doc="GDTR base")
    isa.field("gdtr_limit", 16, ARCH, doc="GDTR limit")
    isa.field("idtr_base", W, ARCH, doc="IDTR base")
    isa.field("idtr_limit", 16, ARCH, doc="IDTR limit")
    for s in ("ldtr", "tr"):
        isa.field(s, 16, ARCH, doc=f"{s.upper()} selector")
        isa.field(f"{s}_base", W, ARCH, doc=f"{s.upper()} cache: base")
        isa.field(f"{s}_limit", W, ARCH, doc=f"{s.upper()} cache: effective limit")
    for b in CR0_BITS:
        isa.field(f"cr0_{b}", 1, ARCH, doc=f"CR0.{b.upper()}")
    isa.composite("cr0", W, {f"cr0_{b}": (k, k) for b, k in CR0_BITS.items()})
    isa.field("cr3", W, ARCH, doc="CR3 (page-directory base; paging is not modelled)")
    cr4_bits = {"tsd": 2, "pce": 8} | ({"umip": 11} if umip else {})
    for b in cr4_bits:
        isa.field(f"cr4_{b}", 1, ARCH, doc=f"CR4.{b.upper()}")
    isa.composite("cr4", W, {f"cr4_{b}": (k, k) for b, k in cr4_bits.items()})
    isa.field("tsc", 64, SYSTEM, doc="time-stamp counter (IA32_TIME_STAMP_COUNTER)")
    for s in ("sysenter_cs", "sysenter_esp", "sysenter_eip"):
        isa.field(s, W, ARCH, doc=f"IA32_{s.upper()} MSR")
    parts = {f: (k, k) for f, k in FLAG_BITS.items()} | {"IOPL": (13, 12)}
    isa.composite("eflags", W, parts, fixed=0x2)
    if vmx:
        controls = {
            "ctl_hlt": "HLT exiting", "ctl_invlpg": "INVLPG exiting", "ctl_rdtsc": "RDTSC exiting",
            "ctl_tsc_offset": "use TSC offsetting", "ctl_cr3_load": "CR3-load exiting",
            "ctl_cr3_store": "CR3-store exiting", "ctl_io": "unconditional I/O exiting",
            "ctl_msr_bitmaps": "use MSR bitmaps (0: every RDMSR/WRMSR exits)",
            "ctl_desc": "descriptor-table exiting", "ctl_wbinvd": "WBINVD exiting",
        }
        isa.field("nonroot", 1, SYSTEM, doc="1 in VMX non-root operation (SDM Vol. 3C §23.3)")
        for f, d in controls.items():
            isa.field(f, 1, SYSTEM, doc=f"VM-execution control: {d} (SDM Vol. 3C §24.6)")
        isa.field("cr0_mask", W, SYSTEM, doc="CR0 guest/host mask: bits set are owned by the host (§24.6.6)")
        isa.field("cr4_mask", W, SYSTEM, doc="CR4 guest/host mask")
        isa.field("tsc_offset", 64, SYSTEM, doc="TSC offset (§24.6.5)")
    isa.memory("mem", MEM, 8, doc=f"physical memory: {(1 << MEM) // 1024} KiB of bytes, little-endian")
    isa.memory("io", IO, 8, doc="I/O ports 0-FFH (IN/OUT with DX use its low byte)")

    # --- causes: the vector is the code (SDM Vol. 3A §6.3.1, Table 6-1) -----------------
    # A fault about the operand alone -- a null or out-of-table selector, a descriptor of the wrong
    # type or not present, a reserved control-register bit, an MSR that does not exist -- fires
    # alike at every CPL. Like PG's memory trap it says nothing about the mode, so these causes
    # have the MEMORY kind and PG's definition of "privileged" sets such runs aside. Every check
    # that compares a privilege level with the CPL (CPL != 0, CPL > IOPL, UMIP, TSD, DPL/RPL
    # against CPL, an INT gate's DPL; SDM Vol. 3A §5.5-§5.9) raises the PRIVILEGE cause ``gp``.
    NP = isa.cause("np", MEMORY, 11, doc="#NP segment not present")
    SSF = isa.cause("ss_fault", MEMORY, 12, doc="#SS stack-segment fault (SS descriptor not present)")
    GP = isa.cause("gp", PRIVILEGE, 13, doc="#GP of a privilege check (CPL != 0, CPL > IOPL, UMIP, TSD, DPL/RPL against CPL)")
    GPO = isa.cause("gp_operand", MEMORY, 0x100 | 13,
                    doc="#GP (vector 13) of an operand check: selector, descriptor type, limit, reserved bit, MSR")
    SOFT = isa.cause("int", CALL, 0x200, doc="INT n: software interrupt through IDT gate n (info = n)")
    EXIT = isa.cause("vmexit", PRIVILEGE, 0x201, doc="VM exit to the root (SDM Vol. 3C ch. 27)") if vmx else None

    # --- modes and the guest configuration -------------------------------------------------
    if vmx:
        isa.mode("root0", lambda m: land(m.nonroot == 0, m.cpl == 0), supervisor=True)
        isa.mode("nonroot", lambda m: m.nonroot == 1)
        pinned = [m_ for m_ in ("ctl_hlt", "ctl_invlpg", "ctl_rdtsc", "ctl_cr3_load", "ctl_cr3_store",
                                "ctl_io", "ctl_desc", "ctl_wbinvd")]
        cr0_all = sum(1 << k for k in CR0_BITS.values())
        cr4_all = sum(1 << k for k in cr4_bits.values())
        isa.guest(lambda m: land(m.nonroot == 1, *[m.read(f) == 1 for f in pinned], m.ctl_msr_bitmaps == 0,
                                 m.cr0_mask == cr0_all, m.cr4_mask == cr4_all),
                  doc="VMX non-root at the guest's own CPL; HLT, INVLPG, RDTSC, CR3-load/store, I/O, "
                      "descriptor-table and WBINVD exiting set; no MSR bitmaps (every RDMSR/WRMSR exits); "
                      "CR0 and CR4 guest/host masks own every modelled bit")
    else:
        for k in range(4):
            isa.mode(f"ring{k}", lambda m, k=k: m.cpl == k, supervisor=(k == 0))
        extra = [lambda m: m.cr4_umip == 1] if umip else []
        isa.guest(lambda m: land(m.cpl == guest_ring, ult(m.IOPL, m.cpl), m.cr4_tsd == 1, *[e(m) for e in extra]),
                  doc=f"guest kernel deprivileged to ring {guest_ring}: CPL = {guest_ring}, IOPL < CPL, CR4.TSD = 1"
                      + (", CR4.UMIP = 1" if umip else ""))

    # --- trap entry (abstracted; SDM Vol. 3A §6.12) -------------------------------------------
    @isa.on_trap
    def trap(m, cause, info):
        """Enter ring 0 at the offset of IDT gate ``vector`` (the cause's code; INT n: n),
        IF := 0. Stack switch and the pushed frame are abstracted. A VM exit returns to VMX
        root operation at host EIP 0 (the host-state area is abstracted)."""
        if cause is EXIT:
            m.nonroot = const(0, 1)
            m.cpl = const(0, 2)
            m.eip = const(0, W)
            return
        vec = info[7:0] if cause is SOFT else const(cause.code & 0xFF, 8)
        gate = m.phys_load(resize(m.idtr_base + zext(concat(vec, const(0, 3)), W), MEM), units=8)
        m.eip = concat(gate[63:48], gate[15:0])
        m.cs_idx = gate[31:18]
        m.cpl = const(0, 2)
        m.IF = const(0, 1)

    if segmented:
        @isa.translate
        def translate(m, vaddr, units, access):
            """Instruction fetch through CS: linear = CS.base + EIP, #GP(0) past CS.limit (SDM
            Vol. 3A §3.4.3). Operands name their own segment (``seg_load``) and descriptor
            tables are linear, so nothing else is translated here; nor are I/O ports."""
            if access != "fetch":
                return vaddr
            m.trap_if(ugt(zext(vaddr, W + 1) + (units - 1), zext(m.cs_limit, W + 1)), GPO)
            return addr(m.cs_base) + vaddr

    # --- helpers ----------------------------------------------------------------------------
    def nonroot_exit(m, ctl):
        """VM exit when in VMX non-root operation and control ``ctl`` is 1 (None: unconditional)."""
        if vmx:
            cond = m.nonroot == 1 if ctl is None else land(m.nonroot == 1, m.read(ctl) == 1)
            m.trap_if(cond, EXIT)

    def ring0(m):
        """#GP(0) unless CPL = 0 (SDM Vol. 3A §5.9, privileged instructions)."""
        m.trap_if(m.cpl != 0, GP)

    def iopl_check(m):
        """#GP(0) if CPL > IOPL (SDM Vol. 1 §19.5.1: IOPL-sensitive instructions)."""
        m.trap_if(ugt(m.cpl, m.IOPL), GP)

    def umip_check(m):
        """#GP(0) if CR4.UMIP = 1 and CPL > 0 (SDM Vol. 3A §2.5, CR4.UMIP)."""
        if umip:
            m.trap_if(land(m.cr4_umip == 1, m.cpl != 0), GP)

    def addr(x):
        return resize(x, MEM)

    def seg_linear(m, seg, off, units):
        """The linear address of ``units`` bytes at offset ``off`` of segment ``seg``: base +
        offset, #GP(0) (#SS(0) for SS) when the last byte is past the limit (expand-up
        segments; SDM Vol. 3A §3.4.3, §5.3). Paging is off, so linear = physical (§3.1)."""
        last = zext(off, W + 1) + (units - 1)
        m.trap_if(ugt(last, zext(m.read(f"{seg}_limit"), W + 1)), SSF if seg == "ss" else GPO)
        return addr(m.read(f"{seg}_base") + off)

    def seg_load(m, seg, off, units):
        """An operand read through ``seg`` (the flat model: at the offset itself)."""
        if not segmented:
            return m.load(addr(off), units=units)
        return m.phys_load(seg_linear(m, seg, off, units), units=units)

    def seg_store(m, seg, off, value, units):
        """An operand write through ``seg`` (the flat model: at the offset itself)."""
        if not segmented:
            m.store(addr(off), value, units=units)
        else:
            m.phys_store(seg_linear(m, seg, off, units), value, units=units)

    def linear_load(m, a, units):
        """A descriptor-table or IDT read: GDTR, LDTR and IDTR hold linear base addresses,
        not offsets into a segment (SDM Vol. 3A §3.5.1, §6.10). The flat model reads them
        like any other address (the same cells, since its segments are flat)."""
        return m.phys_load(addr(a), units=units) if segmented else m.load(addr(a), units=units)

    def linear_store(m, a, value):
        if segmented:
            m.phys_store(addr(a), value)
        else:
            m.store(addr(a), value)

    def push32(m, values):
        """Push 32-bit ``values`` in order (ESP decreases by 4 each) through SS."""
        esp = m.r[4]
        for k, v in enumerate(values, 1):
            seg_store(m, "ss", esp - 4 * k, v, 4)
        m.r[4] = esp - 4 * len(values)

    def pop32(m, k=0):
        return seg_load(m, "ss", m.r[4] + 4 * k, 4)

    def sel_of(m, k):
        return m.cs if k == CS else m.ss if k == SS else m.read(SEGS[k])

    def descriptor(m, sel):
        """(in-limit, the 8 descriptor bytes) for ``sel`` in the GDT or LDT (SDM Vol. 3A §3.5.1)."""
        ti = sel[2] == 1
        base = ite(ti, m.ldtr_base, m.gdtr_base)
        limit = ite(ti, m.ldtr_limit, zext(m.gdtr_limit, W))
        off = zext(sel & 0xFFF8, W)
        return ule(off + 7, limit), linear_load(m, base + off, 8)

    class D:
        """Fields of a descriptor (SDM Vol. 3A §3.4.5, Figure 3-8)."""

        def __init__(self, d):
            self.d = d
            self.type = d[43:40]
            self.s = d[44] == 1
            self.dpl = d[46:45]
            self.p = d[47] == 1
            self.code = land(self.s, d[43] == 1)
            self.data = land(self.s, d[43] == 0)
            self.conforming = land(self.code, d[42] == 1)
            self.readable = land(self.code, d[41] == 1)
            self.writable = land(self.data, d[41] == 1)
            raw = concat(d[51:48], d[15:0])
            self.limit = ite(d[55] == 1, concat(raw, const(0xFFF, 12)), zext(raw, W))
            self.base = concat(d[63:56], d[39:16])
            self.attr = d[55:40]

    def null(sel):
        return (sel & 0xFFFC) == 0

    def load_cache(m, seg, d, when=None):
        vals = {"base": d.base, "limit": d.limit, "attr": d.attr}
        for k, v in vals.items():
            if when is None:
                m.set(f"{seg}_{k}", v)
            else:
                m.set_if(when, f"{seg}_{k}", v)

    def clear_cache(m, seg, when):
        for k, wdt in (("base", W), ("limit", W), ("attr", 16)):
            m.set_if(when, f"{seg}_{k}", const(0, wdt))

    def data_seg_checks(m, sel, inl, d, cpl):
        """MOV DS/ES/FS/GS checks (SDM Vol. 2B MOV, protected-mode operation)."""
        rpl, err, some = sel[1:0], zext(sel & 0xFFFC, W), lnot(null(sel))
        m.trap_if(land(some, lor(lnot(inl), lnot(d.s), land(d.code, lnot(d.readable)))), GPO, info=err)
        m.trap_if(land(some, lnot(d.conforming), lor(ugt(rpl, d.dpl), ugt(cpl, d.dpl))), GP, info=err)
        m.trap_if(land(some, lnot(d.p)), NP, info=err)

    def ss_checks(m, sel, inl, d, cpl):
        """MOV/POP SS checks (SDM Vol. 2B MOV: SS)."""
        m.trap_if(null(sel), GPO)
        m.trap_if(lor(lnot(inl), lnot(d.writable)), GPO, info=zext(sel & 0xFFFC, W))
        m.trap_if(lor(sel[1:0] != cpl, d.dpl != cpl), GP, info=zext(sel & 0xFFFC, W))
        m.trap_if(lnot(d.p), SSF, info=zext(sel & 0xFFFC, W))

    def load_data_seg(m, k, sel):
        """Load DS/ES/FS/GS (k) from ``sel`` with the checks; a null selector loads a null cache."""
        inl, raw = descriptor(m, sel)
        d = D(raw)
        data_seg_checks(m, sel, inl, d, m.cpl)
        m.set(SEGS[k], sel)
        load_cache(m, SEGS[k], d)
        clear_cache(m, SEGS[k], null(sel))

    def load_ss(m, sel):
        inl, raw = descriptor(m, sel)
        d = D(raw)
        ss_checks(m, sel, inl, d, m.cpl)
        m.ss_idx = sel[15:2]
        load_cache(m, "ss", d)

    def code_target(m, sel, offset):
        """Far JMP/CALL to a code segment at the same CPL (SDM Vol. 2A JMP, CALL: far, protected
        mode, code segment; gates and TSS descriptors are not modelled and raise #GP)."""
        inl, raw = descriptor(m, sel)
        d = D(raw)
        err = zext(sel & 0xFFFC, W)
        m.trap_if(null(sel), GPO)
        m.trap_if(lor(lnot(inl), lnot(d.code)), GPO, info=err)
        m.trap_if(land(d.conforming, ugt(d.dpl, m.cpl)), GP, info=err)
        m.trap_if(land(lnot(d.conforming), lor(ugt(sel[1:0], m.cpl), d.dpl != m.cpl)), GP, info=err)
        m.trap_if(lnot(d.p), NP, info=err)
        m.trap_if(ugt(offset, d.limit), GPO)
        m.cs_idx = sel[15:2]
        load_cache(m, "cs", d)
        m.eip = offset

    def return_far(m, extra, eflags_from=None):
        """Far RET / IRET (SDM Vol. 2B RET: far, protected mode; IRET: protected mode, NT = 0).
        ``extra``: bytes popped after CS (and EFLAGS) before SS:ESP; ``eflags_from``: slot of EFLAGS."""
        new_eip = pop32(m, 0)
        sel = pop32(m, 1)[15:0]
        rpl = sel[1:0]
        inl, raw = descriptor(m, sel)
        d = D(raw)
        err = zext(sel & 0xFFFC, W)
        m.trap_if(null(sel), GPO)
        m.trap_if(lor(lnot(inl), lnot(d.code)), GPO, info=err)
        m.trap_if(ult(rpl, m.cpl), GP, info=err)
        m.trap_if(land(d.conforming, ugt(d.dpl, rpl)), GP, info=err)
        m.trap_if(land(lnot(d.conforming), d.dpl != rpl), GP, info=err)
        m.trap_if(lnot(d.p), NP, info=err)
        outer = ugt(rpl, m.cpl)
        n = 2 if eflags_from is None else 3
        # return to an outer level: SS:ESP follow (checked against the new CPL)
        new_esp = pop32(m, n)
        ssel = pop32(m, n + 1)[15:0]
        sinl, sraw = descriptor(m, ssel)
        sd = D(sraw)
        serr = zext(ssel & 0xFFFC, W)
        m.trap_if(land(outer, null(ssel)), GPO)
        m.trap_if(land(outer, lor(lnot(sinl), lnot(sd.writable))), GPO, info=serr)
        m.trap_if(land(outer, lor(ssel[1:0] != rpl, sd.dpl != rpl)), GP, info=serr)
        m.trap_if(land(outer, lnot(sd.p)), SSF, info=serr)
        m.trap_if(ugt(new_eip, d.limit), GPO)
        if eflags_from is not None:
            set_eflags(m, pop32(m, eflags_from))
        m.eip = new_eip
        m.cs_idx = sel[15:2]
        m.cpl = rpl
        load_cache(m, "cs", d)
        m.r[4] = ite(outer, new_esp, m.r[4] + 4 * n + extra)
        m.set_if(outer, "ss_idx", ssel[15:2])
        load_cache(m, "ss", sd, when=outer)
        # data segments the outer level may not use become null (SDM Vol. 2B RET, step "FOR each of
        # segment register (ES, FS, GS, and DS)")
        for s in ("es", "ds", "fs", "gs"):
            attr = m.read(f"{s}_attr")
            dpl = attr[6:5]
            usable = lor(attr[4] == 0, attr[3] == 0, attr[2] == 0)  # data or non-conforming code
            drop = land(outer, usable, ult(dpl, rpl))
            m.set_if(drop, s, const(0, 16))
            clear_cache(m, s, drop)

    def set_eflags(m, v):
        """POPF/IRET flag update (SDM Vol. 2B POPF, Operation): IOPL changes only at CPL 0, IF
        only when CPL <= IOPL; otherwise silently kept, no fault."""
        m.set("eflags", v)
        m.set("IOPL", ite(m.cpl == 0, v[13:12], m.IOPL))
        m.set("IF", ite(ule(m.cpl, m.IOPL), v[9], m.IF))

    def parity(x):
        b = x[0]
        for k in range(1, 8):
            b = b ^ x[k]
        return ~b

    def arith_flags(m, a, b, res, sub):
        """CF, OF, SF, ZF, AF, PF of a + b or a - b (SDM Vol. 1 §3.4.3.1; Vol. 2A ADD, SUB)."""
        if sub:
            m.CF = ite(ult(a, b), const(1, 1), const(0, 1))
            m.OF = (a[31] ^ b[31]) & (a[31] ^ res[31])
        else:
            m.CF = ite(ult(res, a), const(1, 1), const(0, 1))
            m.OF = ~(a[31] ^ b[31]) & (a[31] ^ res[31])
        m.AF = (a ^ b ^ res)[4]
        logic_flags(m, res, keep_cf_of=True)

    def logic_flags(m, res, keep_cf_of=False):
        if not keep_cf_of:
            m.CF = const(0, 1)
            m.OF = const(0, 1)
        m.SF = res[31]
        m.ZF = ite(res == 0, const(1, 1), const(0, 1))
        m.PF = parity(res)

    R = Reg("r")
    rel8 = Imm(8, signed=True)
    rel32 = Imm(32, signed=True)

    # =========================== the core a kernel uses ======================================
    @isa.instruction("NOP", encoding="90")
    def NOP(m):
        """No operation (SDM Vol. 2B NOP, 90)."""

    @isa.instruction("MOV {rd}, {rs}", encoding="89 [11 {rs:3} {rd:3}]", rd=R, rs=R)
    def MOV_rm_r(m, rd, rs):
        """MOV r/m32, r32, register form (SDM Vol. 2B MOV, 89 /r)."""
        m.r[rd] = m.r[rs]

    @isa.instruction("MOV {rd}, [{disp}]", encoding="8B [00 {rd:3} 101] {disp:32}", rd=R, disp=Imm(32))
    def MOV_r_m(m, rd, disp):
        """MOV r32, m32 with a 32-bit absolute displacement (SDM Vol. 2B MOV, 8B /r, mod 00 r/m 101)."""
        m.r[rd] = seg_load(m, "ds", disp, 4)

    @isa.instruction("MOV [{disp}], {rs}", encoding="89 [00 {rs:3} 101] {disp:32}", rs=R, disp=Imm(32))
    def MOV_m_r(m, rs, disp):
        """MOV m32, r32 with a 32-bit absolute displacement (SDM Vol. 2B MOV, 89 /r)."""
        seg_store(m, "ds", disp, m.r[rs], 4)

    def alu(name, opcode, fn, doc, flags="arith", sub=False, write=True):
        def sem(m, rd, rs):
            a, b = m.r[rd], m.r[rs]
            res = fn(a, b)
            if flags == "arith":
                arith_flags(m, a, b, res, sub)
            else:
                logic_flags(m, res)
            if write:
                m.r[rd] = res

        sem.__name__ = name
        sem.__doc__ = doc
        sem.__code__ = sem.__code__.replace(co_name=name)
        isa.instruction(f"{name.split('_')[0]} {{rd}}, {{rs}}", encoding=f"{opcode} [11 {{rs:3}} {{rd:3}}]",
                        rd=R, rs=R)(sem)

    alu("ADD_rm_r", "01", lambda a, b: a + b, "ADD r/m32, r32, register form (SDM Vol. 2A ADD, 01 /r).")
    alu("SUB_rm_r", "29", lambda a, b: a - b, "SUB r/m32, r32 (SDM Vol. 2B SUB, 29 /r).", sub=True)
    alu("CMP_rm_r", "39", lambda a, b: a - b, "CMP r/m32, r32: flags of r/m - r (SDM Vol. 2A CMP, 39 /r).",
        sub=True, write=False)
    alu("AND_rm_r", "21", lambda a, b: a & b, "AND r/m32, r32 (SDM Vol. 2A AND, 21 /r).", flags="logic")
    alu("OR_rm_r", "09", lambda a, b: a | b, "OR r/m32, r32 (SDM Vol. 2B OR, 09 /r).", flags="logic")
    alu("XOR_rm_r", "31", lambda a, b: a ^ b, "XOR r/m32, r32 (SDM Vol. 2B XOR, 31 /r).", flags="logic")

    @isa.instruction("ADD {rd}, {imm}", encoding="81 [11 000 {rd:3}] {imm:32}", rd=R, imm=Imm(32))
    def ADD_rm_imm(m, rd, imm):
        """ADD r/m32, imm32, register form (SDM Vol. 2A ADD, 81 /0 id)."""
        a = m.r[rd]
        arith_flags(m, a, imm, a + imm, sub=False)
        m.r[rd] = a + imm

    @isa.instruction("CMP {rd}, {imm}", encoding="81 [11 111 {rd:3}] {imm:32}", rd=R, imm=Imm(32))
    def CMP_rm_imm(m, rd, imm):
        """CMP r/m32, imm32, register form (SDM Vol. 2A CMP, 81 /7 id)."""
        a = m.r[rd]
        arith_flags(m, a, imm, a - imm, sub=True)

    @isa.instruction("INC {rd}", encoding="[01000 {rd:3}]", rd=R)
    def INC(m, rd):
        """INC r32 (SDM Vol. 2A INC, 40+rd): CF unchanged."""
        a = m.r[rd]
        res = a + 1
        m.OF = ite(a == 0x7FFFFFFF, const(1, 1), const(0, 1))
        m.AF = (a ^ res)[4]
        logic_flags(m, res, keep_cf_of=True)
        m.r[rd] = res

    @isa.instruction("DEC {rd}", encoding="[01001 {rd:3}]", rd=R)
    def DEC(m, rd):
        """DEC r32 (SDM Vol. 2A DEC, 48+rd): CF unchanged."""
        a = m.r[rd]
        res = a - 1
        m.OF = ite(a == 0x80000000, const(1, 1), const(0, 1))
        m.AF = (a ^ res)[4]
        logic_flags(m, res, keep_cf_of=True)
        m.r[rd] = res

    @isa.instruction("PUSH {rs}", encoding="[01010 {rs:3}]", rs=R)
    def PUSH_r(m, rs):
        """PUSH r32 (SDM Vol. 2B PUSH, 50+rd); PUSH ESP pushes the value before the push."""
        push32(m, [m.r[rs]])

    @isa.instruction("POP {rd}", encoding="[01011 {rd:3}]", rd=R)
    def POP_r(m, rd):
        """POP r32 (SDM Vol. 2B POP, 58+rd); POP ESP loads the popped value."""
        v = pop32(m)
        m.r[4] = m.r[4] + 4
        m.r[rd] = v

    @isa.instruction("JMP SHORT {rel}", encoding="EB {rel:8}", rel=rel8)
    def JMP_rel8(m, rel):
        """JMP rel8: EIP := next + rel (SDM Vol. 2A JMP, EB cb)."""
        m.eip = m.next_pc + sext(rel, W)

    @isa.instruction("JMP {rel}", encoding="E9 {rel:32}", rel=rel32)
    def JMP_rel32(m, rel):
        """JMP rel32 (SDM Vol. 2A JMP, E9 cd)."""
        m.eip = m.next_pc + rel

    @isa.instruction("JZ {rel}", encoding="74 {rel:8}", rel=rel8)
    def JZ(m, rel):
        """JZ rel8: jump when ZF = 1 (SDM Vol. 2A Jcc, 74 cb)."""
        m.eip = ite(m.ZF == 1, m.next_pc + sext(rel, W), m.next_pc)

    @isa.instruction("JNZ {rel}", encoding="75 {rel:8}", rel=rel8)
    def JNZ(m, rel):
        """JNZ rel8: jump when ZF = 0 (SDM Vol. 2A Jcc, 75 cb)."""
        m.eip = ite(m.ZF == 0, m.next_pc + sext(rel, W), m.next_pc)

    @isa.instruction("CALL {rel}", encoding="E8 {rel:32}", rel=rel32)
    def CALL_rel32(m, rel):
        """CALL rel32: push the return address, EIP := next + rel (SDM Vol. 2A CALL, E8 cd)."""
        push32(m, [m.next_pc])
        m.eip = m.next_pc + rel

    @isa.instruction("RET", encoding="C3")
    def RET(m):
        """Near RET: EIP := pop (SDM Vol. 2B RET, C3). CS limit checks are not modelled."""
        m.eip = pop32(m)
        m.r[4] = m.r[4] + 4

    # =========================== flags and interrupts ========================================
    @isa.instruction("PUSHF", encoding="9C")
    def PUSHF(m):
        """PUSHFD: push EFLAGS with VM and RF cleared (SDM Vol. 2B PUSHF, 9C); never faults in
        protected mode, so IF and IOPL are visible at every CPL."""
        push32(m, [m.eflags])

    @isa.instruction("POPF", encoding="9D")
    def POPF(m):
        """POPFD (SDM Vol. 2B POPF, 9D): at CPL 0 every flag; at 0 < CPL <= IOPL all but IOPL;
        at CPL > IOPL neither IOPL nor IF -- silently, without a fault."""
        set_eflags(m, pop32(m))
        m.r[4] = m.r[4] + 4

    @isa.instruction("CLI", encoding="FA")
    def CLI(m):
        """IF := 0; #GP(0) if CPL > IOPL (SDM Vol. 2A CLI, FA; PVI/VME not modelled)."""
        iopl_check(m)
        m.IF = const(0, 1)

    @isa.instruction("STI", encoding="FB")
    def STI(m):
        """IF := 1; #GP(0) if CPL > IOPL (SDM Vol. 2B STI, FB)."""
        iopl_check(m)
        m.IF = const(1, 1)

    @isa.instruction("INT {n}", encoding="CD {n:8}", n=Imm(8))
    def INT(m, n):
        """INT imm8 (SDM Vol. 2A INT n; Vol. 3A §6.12.1.1): #GP(n*8+2) if the vector is beyond the
        IDT limit or the gate's DPL < CPL, #NP if not present; otherwise interrupt through gate n
        (a CALL-kind trap: delivery is the trap entry)."""
        off = zext(n, W) << 3
        err = off + 2
        gate = linear_load(m, m.idtr_base + off, 8)
        m.trap_if(ugt(off + 7, zext(m.idtr_limit, W)), GPO, info=err)
        m.trap_if(ugt(m.cpl, gate[46:45]), GP, info=err)
        m.trap_if(gate[47] == 0, NP, info=err)
        m.trap(SOFT, info=zext(n, W))

    @isa.instruction("IRET", encoding="CF")
    def IRET(m):
        """IRETD in protected mode with NT = 0 (SDM Vol. 2A IRET): pop EIP, CS, EFLAGS; returning
        to an outer level also pops ESP, SS. The flags follow POPF's CPL/IOPL rules (old CPL)."""
        return_far(m, 0, eflags_from=2)

    # =========================== far transfers and segment registers =========================
    @isa.instruction("JMP {sel}:{offset}", encoding="EA {offset:32} {sel:16}", sel=Imm(16), offset=Imm(32))
    def JMP_far(m, sel, offset):
        """JMP ptr16:32 to a code segment (SDM Vol. 2A JMP, EA cp)."""
        code_target(m, sel, offset)

    @isa.instruction("CALL {sel}:{offset}", encoding="9A {offset:32} {sel:16}", sel=Imm(16), offset=Imm(32))
    def CALL_far(m, sel, offset):
        """CALL ptr16:32 to a code segment: push CS, EIP (SDM Vol. 2A CALL, 9A cp)."""
        push32(m, [zext(m.cs, W), m.next_pc])
        code_target(m, sel, offset)

    @isa.instruction("RETF", encoding="CB")
    def RETF(m):
        """Far RET (SDM Vol. 2B RET, CB): pop EIP, CS; to an outer level also ESP, SS; data segment
        registers the outer level may not use are nulled."""
        return_far(m, 0)

    for k, op in ((ES, "06"), (CS, "0E"), (SS, "16"), (DS, "1E")):
        def push_seg(m, k=k):
            push32(m, [zext(sel_of(m, k), W)])

        nm = f"PUSH_{SEGS[k]}"
        push_seg.__name__ = nm
        push_seg.__doc__ = (f"PUSH {SEGS[k].upper()} (SDM Vol. 2B PUSH, {op}): the selector, zero-extended"
                            + ("; its RPL is the CPL" if k in (CS, SS) else "") + ".")
        push_seg.__code__ = push_seg.__code__.replace(co_name=nm)
        isa.instruction(f"PUSH {SEGS[k].upper()}", encoding=op)(push_seg)

    for k, op in ((ES, "07"), (SS, "17"), (DS, "1F")):
        def pop_seg(m, k=k):
            sel = pop32(m)[15:0]
            if k == SS:
                load_ss(m, sel)
            else:
                load_data_seg(m, k, sel)
            m.r[4] = m.r[4] + 4

        nm = f"POP_{SEGS[k]}"
        pop_seg.__name__ = nm
        pop_seg.__doc__ = f"POP {SEGS[k].upper()} (SDM Vol. 2B POP, {op}): a segment load with MOV's checks."
        pop_seg.__code__ = pop_seg.__code__.replace(co_name=nm)
        isa.instruction(f"POP {SEGS[k].upper()}", encoding=op)(pop_seg)

    # MOV r32, Sreg and MOV Sreg, r32: one form per segment register (the ModRM reg field
    # names it), so each gets its own classification: CS and SS carry the CPL in their RPL.
    for k in (ES, CS, SS, DS, FS, GS):
        def mov_r_sreg(m, rd, k=k):
            m.r[rd] = zext(sel_of(m, k), W)

        nm = f"MOV_r_{SEGS[k]}"
        mov_r_sreg.__name__ = nm
        mov_r_sreg.__doc__ = (f"MOV r32, {SEGS[k].upper()} (SDM Vol. 2B MOV, 8C /r, reg = {k}): the selector, "
                              "zero-extended" + ("; its RPL is the CPL." if k in (CS, SS) else "."))
        mov_r_sreg.__code__ = mov_r_sreg.__code__.replace(co_name=nm)
        isa.instruction(f"MOV {{rd}}, {SEGS[k].upper()}", encoding=f"8C [11 {k:03b} {{rd:3}}]", rd=R)(mov_r_sreg)

    for k in (ES, SS, DS, FS, GS):
        def mov_sreg_r(m, rs, k=k):
            sel = m.r[rs][15:0]
            if k == SS:
                load_ss(m, sel)
            else:
                load_data_seg(m, k, sel)

        nm = f"MOV_{SEGS[k]}_r"
        mov_sreg_r.__name__ = nm
        mov_sreg_r.__doc__ = (f"MOV {SEGS[k].upper()}, r/m16 (SDM Vol. 2B MOV, 8E /r, reg = {k}): "
                              + ("SS needs a writable data segment with DPL = RPL = CPL; null is #GP(0)."
                                 if k == SS else
                                 "a data or readable code segment with (unless conforming) RPL <= DPL and "
                                 "CPL <= DPL, or a null selector (null cache)."))
        mov_sreg_r.__code__ = mov_sreg_r.__code__.replace(co_name=nm)
        isa.instruction(f"MOV {SEGS[k].upper()}, {{rs}}", encoding=f"8E [11 {k:03b} {{rs:3}}]", rs=R)(mov_sreg_r)

    # =========================== descriptor checks from user mode ============================
    def access_ok(d, sel, cpl):
        """DPL >= CPL and DPL >= RPL unless a conforming code segment (SDM Vol. 2A LAR)."""
        return lor(d.conforming, land(uge(d.dpl, cpl), uge(d.dpl, sel[1:0])))

    def sys_type_in(d, types):
        t = d.type
        return lor(*[t == x for x in types])

    @isa.instruction("LAR {rd}, {rs}", encoding="0F 02 [11 {rd:3} {rs:3}]", rd=R, rs=R)
    def LAR(m, rd, rs):
        """LAR r32, r/m16 (SDM Vol. 2A LAR, 0F 02 /r): if the descriptor is within the table,
        of a valid type and accessible at CPL and RPL, ZF := 1 and r32 := its access rights
        (second doubleword & 00F0FF00H); otherwise ZF := 0. Never faults."""
        sel = m.r[rs][15:0]
        inl, raw = descriptor(m, sel)
        d = D(raw)
        valid = land(lnot(null(sel)), inl, lor(d.s, sys_type_in(d, (1, 2, 3, 4, 5, 9, 0xB, 0xC))),
                     access_ok(d, sel, m.cpl))
        m.ZF = ite(valid, const(1, 1), const(0, 1))
        m.r[rd] = ite(valid, raw[63:32] & 0x00F0FF00, m.r[rd])

    @isa.instruction("LSL {rd}, {rs}", encoding="0F 03 [11 {rd:3} {rs:3}]", rd=R, rs=R)
    def LSL(m, rd, rs):
        """LSL r32, r/m16 (SDM Vol. 2A LSL, 0F 03 /r): ZF := 1 and r32 := the byte-granular
        limit when the descriptor is visible at CPL and RPL; ZF := 0 otherwise."""
        sel = m.r[rs][15:0]
        inl, raw = descriptor(m, sel)
        d = D(raw)
        valid = land(lnot(null(sel)), inl, lor(d.s, sys_type_in(d, (1, 2, 3, 9, 0xB))), access_ok(d, sel, m.cpl))
        m.ZF = ite(valid, const(1, 1), const(0, 1))
        m.r[rd] = ite(valid, d.limit, m.r[rd])

    @isa.instruction("VERR {rs}", encoding="0F 00 [11 100 {rs:3}]", rs=R)
    def VERR(m, rs):
        """VERR r/m16 (SDM Vol. 2B VERR, 0F 00 /4): ZF := 1 if the segment is readable at CPL."""
        sel = m.r[rs][15:0]
        inl, raw = descriptor(m, sel)
        d = D(raw)
        ok = land(lnot(null(sel)), inl, lor(d.data, d.readable), access_ok(d, sel, m.cpl))
        m.ZF = ite(ok, const(1, 1), const(0, 1))

    @isa.instruction("VERW {rs}", encoding="0F 00 [11 101 {rs:3}]", rs=R)
    def VERW(m, rs):
        """VERW r/m16 (SDM Vol. 2B VERW, 0F 00 /5): ZF := 1 if the segment is writable at CPL."""
        sel = m.r[rs][15:0]
        inl, raw = descriptor(m, sel)
        d = D(raw)
        ok = land(lnot(null(sel)), inl, d.writable, uge(d.dpl, m.cpl), uge(d.dpl, sel[1:0]))
        m.ZF = ite(ok, const(1, 1), const(0, 1))

    # =========================== descriptor-table registers ==================================
    @isa.instruction("SGDT [{disp}]", encoding="0F 01 [00 000 101] {disp:32}", disp=Imm(32))
    def SGDT_m(m, disp):
        """SGDT m: store GDTR's limit and 32-bit base (SDM Vol. 2B SGDT, 0F 01 /0). Not
        privileged; #GP(0) at CPL > 0 when CR4.UMIP = 1."""
        umip_check(m)
        nonroot_exit(m, "ctl_desc")
        seg_store(m, "ds", disp, concat(m.gdtr_base, m.gdtr_limit), 6)

    @isa.instruction("SIDT [{disp}]", encoding="0F 01 [00 001 101] {disp:32}", disp=Imm(32))
    def SIDT_m(m, disp):
        """SIDT m (SDM Vol. 2B SIDT, 0F 01 /1): like SGDT, for IDTR."""
        umip_check(m)
        nonroot_exit(m, "ctl_desc")
        seg_store(m, "ds", disp, concat(m.idtr_base, m.idtr_limit), 6)

    @isa.instruction("LGDT [{disp}]", encoding="0F 01 [00 010 101] {disp:32}", disp=Imm(32))
    def LGDT_m(m, disp):
        """LGDT m16&32 (SDM Vol. 2A LGDT, 0F 01 /2): #GP(0) if CPL != 0."""
        ring0(m)
        nonroot_exit(m, "ctl_desc")
        v = seg_load(m, "ds", disp, 6)
        m.gdtr_limit = v[15:0]
        m.gdtr_base = v[47:16]

    @isa.instruction("LIDT [{disp}]", encoding="0F 01 [00 011 101] {disp:32}", disp=Imm(32))
    def LIDT_m(m, disp):
        """LIDT m16&32 (SDM Vol. 2A LIDT, 0F 01 /3): #GP(0) if CPL != 0."""
        ring0(m)
        nonroot_exit(m, "ctl_desc")
        v = seg_load(m, "ds", disp, 6)
        m.idtr_limit = v[15:0]
        m.idtr_base = v[47:16]

    @isa.instruction("SLDT {rd}", encoding="0F 00 [11 000 {rd:3}]", rd=R)
    def SLDT_r(m, rd):
        """SLDT r32 (SDM Vol. 2B SLDT, 0F 00 /0): the LDTR selector, zero-extended (P6 and
        later). Not privileged; UMIP makes it #GP(0) at CPL > 0."""
        umip_check(m)
        nonroot_exit(m, "ctl_desc")
        m.r[rd] = zext(m.ldtr, W)

    @isa.instruction("STR {rd}", encoding="0F 00 [11 001 {rd:3}]", rd=R)
    def STR_r(m, rd):
        """STR r32 (SDM Vol. 2B STR, 0F 00 /1): the TR selector, zero-extended; UMIP as SLDT."""
        umip_check(m)
        nonroot_exit(m, "ctl_desc")
        m.r[rd] = zext(m.tr, W)

    @isa.instruction("LLDT {rs}", encoding="0F 00 [11 010 {rs:3}]", rs=R)
    def LLDT_r(m, rs):
        """LLDT r/m16 (SDM Vol. 2A LLDT, 0F 00 /2): #GP(0) if CPL != 0; the selector must name an
        LDT descriptor (type 2) in the GDT, or be null (which leaves LDTR unusable)."""
        ring0(m)
        nonroot_exit(m, "ctl_desc")
        sel = m.r[rs][15:0]
        inl, raw = descriptor(m, sel)
        d = D(raw)
        err = zext(sel & 0xFFFC, W)
        m.trap_if(land(lnot(null(sel)), lor(sel[2] == 1, lnot(inl), d.s, d.type != 2)), GPO, info=err)
        m.trap_if(land(lnot(null(sel)), lnot(d.p)), NP, info=err)
        m.ldtr = sel
        m.ldtr_base = ite(null(sel), const(0, W), d.base)
        m.ldtr_limit = ite(null(sel), const(0, W), d.limit)

    @isa.instruction("LTR {rs}", encoding="0F 00 [11 011 {rs:3}]", rs=R)
    def LTR_r(m, rs):
        """LTR r/m16 (SDM Vol. 2A LTR, 0F 00 /3): #GP(0) if CPL != 0; the selector must name an
        available 32-bit TSS (type 9) in the GDT, which is then marked busy (type 11) in memory."""
        ring0(m)
        nonroot_exit(m, "ctl_desc")
        sel = m.r[rs][15:0]
        inl, raw = descriptor(m, sel)
        d = D(raw)
        err = zext(sel & 0xFFFC, W)
        m.trap_if(null(sel), GPO)
        m.trap_if(lor(sel[2] == 1, lnot(inl), d.s, d.type != 9), GPO, info=err)
        m.trap_if(lnot(d.p), NP, info=err)
        linear_store(m, m.gdtr_base + zext(sel & 0xFFF8, W) + 5, raw[47:40] | 0x02)
        m.tr = sel
        m.tr_base = d.base
        m.tr_limit = d.limit

    # =========================== control registers ===========================================
    cr0_writable = sum(1 << k for k in CR0_BITS.values())
    cr4_writable = sum(1 << k for k in cr4_bits.values())

    @isa.instruction("SMSW {rd}", encoding="0F 01 [11 100 {rd:3}]", rd=R)
    def SMSW_r(m, rd):
        """SMSW r32 (SDM Vol. 2B SMSW, 0F 01 /4): CR0 bits 15:0 (the upper half, undefined in
        the manual, is zero here). Not privileged; UMIP makes it #GP(0) at CPL > 0. In VMX
        non-root it reads CR0 as the guest sees it (read shadow for host-owned bits)."""
        umip_check(m)
        m.r[rd] = zext(m.cr0[15:0], W)

    @isa.instruction("LMSW {rs}", encoding="0F 01 [11 110 {rs:3}]", rs=R)
    def LMSW_r(m, rs):
        """LMSW r/m16 (SDM Vol. 2A LMSW, 0F 01 /6): #GP(0) if CPL != 0; loads PE, MP, EM, TS from
        the source; PE can be set but not cleared. VMX: exits if a host-owned bit among them would
        differ from the read shadow, or PE would be set against a shadow of 0 (Vol. 3C §25.1.3)."""
        ring0(m)
        src = m.r[rs][3:0]
        if vmx:
            mask4, shadow4 = m.cr0_mask[3:0], m.cr0[3:0]
            change = ((src ^ shadow4) & mask4)[3:1] != 0
            pe_set = land(mask4[0] == 1, shadow4[0] == 0, src[0] == 1)
            m.trap_if(land(m.nonroot == 1, lor(change, pe_set)), EXIT)
        m.cr0_pe = m.cr0_pe | src[0]
        m.cr0_mp = src[1]
        m.cr0_em = src[2]
        m.cr0_ts = src[3]

    @isa.instruction("CLTS", encoding="0F 06")
    def CLTS(m):
        """CLTS (SDM Vol. 2A CLTS, 0F 06): CR0.TS := 0; #GP(0) if CPL != 0. VMX: exits if TS is
        host-owned and set in the read shadow (Vol. 3C §25.1.3)."""
        ring0(m)
        if vmx:
            m.trap_if(land(m.nonroot == 1, m.cr0_mask[3] == 1, m.cr0_ts == 1), EXIT)
        m.cr0_ts = const(0, 1)

    def mov_from_cr(name, n, read, doc, ctl=None):
        def sem(m, rd):
            ring0(m)
            if ctl:
                nonroot_exit(m, ctl)
            m.r[rd] = read(m)

        sem.__name__ = name
        sem.__doc__ = doc
        sem.__code__ = sem.__code__.replace(co_name=name)
        isa.instruction(f"MOV {{rd}}, CR{n}", encoding=f"0F 20 [11 {n:03b} {{rd:3}}]", rd=R)(sem)

    def mov_to_cr(name, n, write, doc):
        def sem(m, rs):
            ring0(m)
            write(m, m.r[rs])

        sem.__name__ = name
        sem.__doc__ = doc
        sem.__code__ = sem.__code__.replace(co_name=name)
        isa.instruction(f"MOV CR{n}, {{rs}}", encoding=f"0F 22 [11 {n:03b} {{rs:3}}]", rs=R)(sem)

    def write_cr0(m, v):
        m.trap_if(lor((v & (~cr0_writable & 0xFFFFFFFF)) != 0, land(v[31] == 1, v[0] == 0),
                      land(v[29] == 1, v[30] == 0)), GPO)
        if vmx:
            m.trap_if(land(m.nonroot == 1, ((v ^ m.cr0) & m.cr0_mask) != 0), EXIT)
        m.halt_if(v[0] == 0)  # to real-address mode: outside the model
        m.cr0 = v

    def write_cr3(m, v):
        nonroot_exit(m, "ctl_cr3_load")
        m.cr3 = v

    def write_cr4(m, v):
        m.trap_if((v & (~cr4_writable & 0xFFFFFFFF)) != 0, GPO)
        if vmx:
            m.trap_if(land(m.nonroot == 1, ((v ^ m.cr4) & m.cr4_mask) != 0), EXIT)
        m.cr4 = v

    mov_from_cr("MOV_r_cr0", 0, lambda m: m.cr0, "MOV r32, CR0 (SDM Vol. 2B MOV—Move to/from Control "
                "Registers, 0F 20 /0): #GP(0) if CPL != 0. VMX non-root: CR0 as the guest sees it, "
                "never exits (Vol. 3C §25.3).")
    mov_from_cr("MOV_r_cr3", 3, lambda m: m.cr3, "MOV r32, CR3 (0F 20 /3): #GP(0) if CPL != 0; VMX: exits "
                "with CR3-store exiting.", ctl="ctl_cr3_store")
    mov_from_cr("MOV_r_cr4", 4, lambda m: m.cr4, "MOV r32, CR4 (0F 20 /4): #GP(0) if CPL != 0.")
    mov_to_cr("MOV_cr0_r", 0, write_cr0, "MOV CR0, r32 (SDM Vol. 2B, 0F 22 /0): #GP(0) if CPL != 0, if a "
              "reserved bit is set, if PG = 1 with PE = 0 or NW = 1 with CD = 0; clearing PE leaves "
              "protected mode, which is outside the model (the step halts). VMX: exits if a host-owned "
              "bit differs from the read shadow (Vol. 3C §25.1.3).")
    mov_to_cr("MOV_cr3_r", 3, write_cr3, "MOV CR3, r32 (0F 22 /3): #GP(0) if CPL != 0; VMX: exits with "
              "CR3-load exiting (no CR3-target values).")
    mov_to_cr("MOV_cr4_r", 4, write_cr4, "MOV CR4, r32 (0F 22 /4): #GP(0) if CPL != 0 or a reserved bit "
              "is set" + (" (UMIP is bit 11)" if umip else " (this processor has no UMIP: bit 11 is reserved)")
              + "; VMX: exits if a host-owned bit differs from the read shadow.")

    # =========================== caches, TLB, halt ===========================================
    @isa.instruction("HLT", encoding="F4")
    def HLT(m):
        """HLT (SDM Vol. 2A HLT, F4): #GP(0) if CPL != 0; VMX: HLT exiting. Stops the machine."""
        ring0(m)
        nonroot_exit(m, "ctl_hlt")
        m.halt()

    @isa.instruction("INVD", encoding="0F 08")
    def INVD(m):
        """INVD (SDM Vol. 2A INVD, 0F 08): #GP(0) if CPL != 0; VMX: exits unconditionally. Caches
        are not modelled."""
        ring0(m)
        nonroot_exit(m, None)

    @isa.instruction("WBINVD", encoding="0F 09")
    def WBINVD(m):
        """WBINVD (SDM Vol. 2B WBINVD, 0F 09): #GP(0) if CPL != 0; VMX: WBINVD exiting."""
        ring0(m)
        nonroot_exit(m, "ctl_wbinvd")

    @isa.instruction("INVLPG [{disp}]", encoding="0F 01 [00 111 101] {disp:32}", disp=Imm(32))
    def INVLPG_m(m, disp):
        """INVLPG m (SDM Vol. 2A INVLPG, 0F 01 /7): #GP(0) if CPL != 0; VMX: INVLPG exiting. The
        TLB is not modelled."""
        ring0(m)
        nonroot_exit(m, "ctl_invlpg")

    # =========================== MSRs, time, identification ==================================
    def msr_known(ecx):
        return lor(ecx == MSR_TSC, ecx == MSR_SYSENTER_CS, ecx == MSR_SYSENTER_ESP, ecx == MSR_SYSENTER_EIP)

    @isa.instruction("RDMSR", encoding="0F 32")
    def RDMSR(m):
        """RDMSR (SDM Vol. 2B RDMSR, 0F 32): EDX:EAX := MSR[ECX]; #GP(0) if CPL != 0 or the MSR is
        not modelled (TSC, SYSENTER_CS/ESP/EIP). VMX without MSR bitmaps: exits."""
        ring0(m)
        ecx = m.r[1]
        m.trap_if(lnot(msr_known(ecx)), GPO)
        if vmx:
            m.trap_if(land(m.nonroot == 1, m.ctl_msr_bitmaps == 0), EXIT)
        v32 = ite(ecx == MSR_SYSENTER_CS, m.sysenter_cs,
                  ite(ecx == MSR_SYSENTER_ESP, m.sysenter_esp, m.sysenter_eip))
        v = ite(ecx == MSR_TSC, m.tsc, zext(v32, 64))
        m.r[0] = v[31:0]
        m.r[2] = v[63:32]

    @isa.instruction("WRMSR", encoding="0F 30")
    def WRMSR(m):
        """WRMSR (SDM Vol. 2B WRMSR, 0F 30): MSR[ECX] := EDX:EAX; #GP(0) if CPL != 0 or the MSR
        is not modelled. VMX without MSR bitmaps: exits."""
        ring0(m)
        ecx = m.r[1]
        m.trap_if(lnot(msr_known(ecx)), GPO)
        if vmx:
            m.trap_if(land(m.nonroot == 1, m.ctl_msr_bitmaps == 0), EXIT)
        v = concat(m.r[2], m.r[0])
        m.set_if(ecx == MSR_TSC, "tsc", v)
        m.set_if(ecx == MSR_SYSENTER_CS, "sysenter_cs", v[31:0])
        m.set_if(ecx == MSR_SYSENTER_ESP, "sysenter_esp", v[31:0])
        m.set_if(ecx == MSR_SYSENTER_EIP, "sysenter_eip", v[31:0])

    @isa.instruction("RDTSC", encoding="0F 31")
    def RDTSC(m):
        """RDTSC (SDM Vol. 2B RDTSC, 0F 31): EDX:EAX := TSC; #GP(0) if CR4.TSD = 1 and CPL != 0.
        VMX: RDTSC exiting; with TSC offsetting the guest reads TSC + offset (Vol. 3C §25.3).
        The counter does not advance between steps (time is not modelled)."""
        m.trap_if(land(m.cr4_tsd == 1, m.cpl != 0), GP)
        t = m.tsc
        if vmx:
            nonroot_exit(m, "ctl_rdtsc")
            t = ite(land(m.nonroot == 1, m.ctl_tsc_offset == 1), t + m.tsc_offset, t)
        m.r[0] = t[31:0]
        m.r[2] = t[63:32]

    @isa.instruction("CPUID", encoding="0F A2")
    def CPUID(m):
        """CPUID (SDM Vol. 2A CPUID, 0F A2): leaf 0 gives the maximum leaf (1) and "GenuineIntel";
        leaf 1 a fixed signature and feature bits; other leaves zero. VMX: exits unconditionally."""
        nonroot_exit(m, None)
        leaf = m.r[0]
        feat_ecx = (1 << 5) if vmx else 0  # VMX feature flag (CPUID.1:ECX[5])
        table = {0: (1, 0x756E6547, 0x6C65746E, 0x49656E69), 1: (0x000006F1, 0, feat_ecx, 0x0383FBFF)}
        for reg, k in ((0, 0), (3, 1), (1, 2), (2, 3)):  # EAX, EBX, ECX, EDX
            v = const(0, W)
            for lf, vals in table.items():
                v = ite(leaf == lf, const(vals[k], W), v)
            m.r[reg] = v

    # =========================== I/O =========================================================
    @isa.instruction("IN AL, DX", encoding="EC")
    def IN_al_dx(m):
        """IN AL, DX (SDM Vol. 2A IN, EC): #GP(0) if CPL > IOPL (no I/O permission bitmap
        modelled); VMX: unconditional I/O exiting."""
        iopl_check(m)
        nonroot_exit(m, "ctl_io")
        m.r[0] = concat(m.r[0][31:8], m.load(m.r[2][IO - 1:0], memory="io"))

    @isa.instruction("OUT DX, AL", encoding="EE")
    def OUT_dx_al(m):
        """OUT DX, AL (SDM Vol. 2B OUT, EE): #GP(0) if CPL > IOPL; VMX: unconditional I/O exiting."""
        iopl_check(m)
        nonroot_exit(m, "ctl_io")
        m.store(m.r[2][IO - 1:0], m.r[0][7:0], memory="io")

    @isa.instruction("IN AL, {port}", encoding="E4 {port:8}", port=Imm(8))
    def IN_al_imm(m, port):
        """IN AL, imm8 (SDM Vol. 2A IN, E4 ib): as IN AL, DX."""
        iopl_check(m)
        nonroot_exit(m, "ctl_io")
        m.r[0] = concat(m.r[0][31:8], m.load(port, memory="io"))

    @isa.instruction("OUT {port}, AL", encoding="E6 {port:8}", port=Imm(8))
    def OUT_imm_al(m, port):
        """OUT imm8, AL (SDM Vol. 2B OUT, E6 ib): as OUT DX, AL."""
        iopl_check(m)
        nonroot_exit(m, "ctl_io")
        m.store(port, m.r[0][7:0], memory="io")

    # =========================== immediates (declared last) ==============================
    # The assembler takes the first form whose syntax matches, and a bare word is a label:
    # forms whose operand is an immediate come after the literal forms "MOV r1, CS", "PUSH ES".
    @isa.instruction("MOV {rd}, {imm}", encoding="[10111 {rd:3}] {imm:32}", rd=R, imm=Imm(32))
    def MOV_r_imm(m, rd, imm):
        """MOV r32, imm32 (SDM Vol. 2B MOV, B8+rd id)."""
        m.r[rd] = imm

    @isa.instruction("PUSH {imm}", encoding="68 {imm:32}", imm=Imm(32))
    def PUSH_imm(m, imm):
        """PUSH imm32 (SDM Vol. 2B PUSH, 68 id)."""
        push32(m, [imm])

    isa.reset(cpl=0, cr0_pe=1, cr0_et=1, gdtr_limit=0xFFFF, idtr_limit=0x7FF,
              cs_limit=0xFFFFFFFF, ss_limit=0xFFFFFFFF, ds_limit=0xFFFFFFFF, es_limit=0xFFFFFFFF,
              cs_attr=0xCF9B, ss_attr=0xCF93, ds_attr=0xCF93, es_attr=0xCF93)
    if not vmx:
        _declare_partition(isa, guest_ring, umip, segmented)
    return isa


#: the selectors the monitor loads LDTR and TR with (see `_declare_partition`): GDT entries
#: 510 and 511, which it keeps for itself
MONITOR_LDT, MONITOR_TSS = 0x0FF0, 0x0FF8
#: the CR0 the monitor runs every guest with: PE (protected mode), MP, ET (hard-wired since
#: the i486) and NE (native FPU error reporting); the guest's own CR0 is virtual
MONITOR_CR0 = {"pe": 1, "mp": 1, "et": 1, "ne": 1}


def _declare_partition(isa: Isa, ring: int, umip: bool, segmented: bool) -> None:
    """How a 1990s monitor confines an IA-32 guest without VT-x, paging off: relocation
    through segmentation (SDM Vol. 3A ch. 3, ch. 5).

    The guest's linear space is the partition ``[base, base + size)``. The composition gives
    each register that holds a linear address the partition's view of it: the six segment
    caches get base + the guest's base, GDTR, IDTR, LDTR and TR base + the guest's base;
    every limit is cut so that the last byte it admits is the partition's last (a base
    already past the partition becomes the partition's first byte with limit 0), so no
    access through them leaves it. The guest runs deprivileged as the guest configuration
    says: CPL = the guest ring (CS and SS descriptors with that DPL, §5.5), IOPL = 0 < CPL
    so CLI, STI, IN, OUT fault (§5.9 and Vol. 1 §19.5), IF = 1 (the monitor takes its
    interrupts), CR4.TSD = 1 (and UMIP where the processor has it), CR0 the monitor's
    (``MONITOR_CR0``). LDTR and TR are loaded by the monitor itself from descriptors it
    builds with the relocated base -- an LLDT or LTR of the guest's own descriptor would
    cache its unrelocated base (§3.5.1, §7.2.4) -- so their selectors are the monitor's.

    That representation is exact while the guest's CS, SS and DS -- the segments the
    model's instructions address through -- are flat: base 0, limit 4 GiB (``fits``; the
    basic flat model, §3.2.1). The real machine relocates operand addresses (base + offset)
    and checks them against the cut limits; the bare flat model does neither, and the two
    agree exactly on flat segments (an access the cut limit refuses faults, and the monitor
    runs it on the guest's state). ES, FS and GS address nothing here. The descriptor tables need not fit: only instructions that fault in the guest
    configuration, or that are sensitive and unprivileged (segment loads, LAR, LSL, VERR,
    VERW, far transfers), read them, and the latter are what the monitor cannot virtualize
    anyway -- a segment load from the relocated table puts the descriptor's *virtual* base
    into the real cache, unrelocated. The real machine is the segmented model of the same
    processor (``build(segmented=True)``); the I/O ports are private to each VM (every IN
    and OUT faults at CPL > IOPL)."""

    def place(base, size, vbase, vlimit, width):
        """(base + vbase, vlimit cut at the partition's end); past the end: (base, 0)."""
        b, z = zext(base, W), zext(size, W)
        inside = ult(vbase, z)
        room = z - 1 - vbase
        limit = ite(ule(zext(vlimit, W), room), zext(vlimit, W), room)
        return ite(inside, b + vbase, b), resize(ite(inside, limit, const(0, W)), width)

    def compose(v, base, size):
        out = {"cpl": const(ring, 2), "IOPL": const(0, 2), "IF": const(1, 1)}
        for s in SEGS:
            out[f"{s}_base"], out[f"{s}_limit"] = place(base, size, v.read(f"{s}_base"), v.read(f"{s}_limit"), W)
            attr = v.read(f"{s}_attr")
            out[f"{s}_attr"] = (attr & 0xFF9F) | (ring << 5) if s in ("cs", "ss") else attr
        for t in ("gdtr", "idtr", "ldtr", "tr"):
            width = isa.fields[f"{t}_limit"].width
            out[f"{t}_base"], out[f"{t}_limit"] = place(base, size, v.read(f"{t}_base"), v.read(f"{t}_limit"),
                                                        width)
        out["ldtr"], out["tr"] = const(MONITOR_LDT, 16), const(MONITOR_TSS, 16)
        for b in CR0_BITS:
            out[f"cr0_{b}"] = const(MONITOR_CR0.get(b, 0), 1)
        out["cr3"] = v.cr3
        out["cr4_tsd"] = const(1, 1)
        out["cr4_pce"] = v.cr4_pce
        if umip:
            out["cr4_umip"] = const(1, 1)
        for f in ("tsc", "sysenter_cs", "sysenter_esp", "sysenter_eip"):
            out[f] = v.read(f)
        return out

    hardware = None
    if not segmented:
        hardware = build(f"{isa.name}-segmented", doc=f"{isa.name} with segment relocation applied (the real "
                         "machine a monitor runs a partitioned guest on)", source=isa.source,
                         guest_ring=ring, umip=umip, segmented=True)
    isa.partition(
        compose,
        fits=lambda v, size: land(*[land(v.read(f"{s}_base") == 0, v.read(f"{s}_limit") == 0xFFFFFFFF)
                                    for s in ("cs", "ss", "ds")]),
        doc=f"relocation through segmentation: segment caches, GDTR, IDTR, LDTR, TR at partition base + the "
            f"guest's base, limits cut at the partition's end, CPL {ring}, IOPL 0, IF 1, the monitor's CR0, "
            f"LDTR and TR selectors; exact while the guest's CS, SS and DS are flat (base 0, limit 4 GiB)",
        hardware=hardware, private=("io",))


SOURCE = "Intel SDM Vol. 2, Vol. 3A ch. 2-7; Robin & Irvine, USENIX Security 2000"

x86 = build("x86", doc="IA-32 protected mode; guest kernel deprivileged to ring 3 (trap-and-emulate).",
            source=SOURCE)
x86_ring1 = build("x86-ring1", doc="IA-32 protected mode; guest kernel deprivileged to ring 1 "
                  "(VMware's binary translator, Xen on 32-bit x86).", source=SOURCE, guest_ring=1)
x86_umip = build("x86-umip", doc="IA-32 with CR4.UMIP set by the monitor: SGDT, SIDT, SLDT, SMSW and STR "
                 "fault at CPL > 0.", source=SOURCE + "; SDM Vol. 3A §2.5 (CR4.UMIP)", umip=True)
x86_vmx = build("x86-vmx", doc="IA-32 with VT-x: the guest runs at its own CPL in VMX non-root operation; "
                "VM exits are privilege traps to the root.", source=SOURCE + "; SDM Vol. 3C ch. 23-27", vmx=True)

MACHINES = [x86, x86_ring1, x86_umip, x86_vmx]


# --- reference machines (crossval) -----------------------------------------------------------
# How `virtcheck crossval` realises a model state on a real executor, and what each one is
# known to do differently. Nothing below changes the model; hypervisor/reference reads it.
#
# The realisation: the model's 4 KiB ``mem`` is mapped at physical 0; the instruction's bytes
# sit at CODE, outside it, in a harness area that also holds a TSS, an IDT whose gates point
# at one HLT per vector (KVM delivers faults through it), a ring-0 stack and the boot frame.
# Paging is off (CR0.PG = 0), so linear = physical as in the model. The GDT is the model's
# own, in ``mem`` at GDTR.base: the harness writes four flat descriptors into entries 1-4
# (ring-0 code 08H, data 10H; ring-3 code 1BH, data 23H), and CS, SS and DS use them, with
# the model's caches set to what those descriptors load.

_HARNESS = 0x100000  #: harness area (outside the model's memory)
_CODE = _HARNESS  #: where the instruction is placed
_TSS = _HARNESS + 0x1000  #: a 32-bit TSS: SS0:ESP0 for faults from ring 3
_IDT = _HARNESS + 0x2000  #: 256 interrupt gates, gate n -> _HANDLERS + 4n
_HANDLERS = _HARNESS + 0x3000  #: one HLT per vector, 4 bytes apart
_STACK0 = _HARNESS + 0x5000  #: ring-0 stack top (KVM's fault frames from ring 3)
_BOOT = _HARNESS + 0x6000  #: the IRET that enters ring 3 (Unicorn)
_FRAME = _HARNESS + 0x7000  #: its frame
_HARNESS_SIZE = 0x8000
_DESC = {1: 0x00CF9B000000FFFF, 2: 0x00CF93000000FFFF, 3: 0x00CFFB000000FFFF, 4: 0x00CFF3000000FFFF}
_SEL = {0: (0x08, 0x10), 3: (0x1B, 0x23)}  #: CPL -> (CS, SS/DS) selectors
_ATTR = {0x08: 0xCF9B, 0x10: 0xCF93, 0x1B: 0xCFFB, 0x23: 0xCFF3}
_MEM_SIZE = 1 << MEM
_REGS32 = ("EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI")


def _eflags_of(f):
    v = 0x2 | (f["IOPL"] << 12)
    for name, bit in FLAG_BITS.items():
        v |= f[name] << bit
    return v


def _composite(f, parts):
    return sum(f[name] << bit for name, bit in parts.items() if name in f)


def _fit(isa, state, ins, ops, rng, *, pin_idt):
    """A drawn example made realisable: CPL 0 or 3 (the drawn mode), flat segments through
    the harness descriptors, paging off, CR0.ET = 1 (hard-wired since the i486), no trace
    or alignment checks (not modelled), the stack, GDT, LDT and absolute operands inside the
    4 KiB memory (the model wraps addresses at 12 bits, a real machine does not)."""
    f = dict(state.fields)
    mem = state.memories["mem"].to_list(_MEM_SIZE)
    cpl = f["cpl"]
    cs, ds = _SEL[cpl]
    f["cs_idx"], f["ss_idx"] = cs >> 2, ds >> 2
    f["ds"] = ds
    for s in ("es", "fs", "gs"):
        f[s] = ds if f[s] & 1 else 0
    for s in SEGS:
        sel = (f["cs_idx"] << 2) | cpl if s == "cs" else (f["ss_idx"] << 2) | cpl if s == "ss" else f[s]
        null = sel & 0xFFFC == 0
        f[f"{s}_base"], f[f"{s}_limit"], f[f"{s}_attr"] = (0, 0, 0) if null else (0, 0xFFFFFFFF, _ATTR[sel])
    base = rng.randrange(0, _MEM_SIZE - 0x100) & ~7 if rng.random() < 0.5 else f["gdtr_base"] % (_MEM_SIZE - 0x100)
    f["gdtr_base"] = base
    room = _MEM_SIZE - base - 1
    f["gdtr_limit"] = 0x27 + f["gdtr_limit"] % (room - 0x27 + 1)
    for k, d in _DESC.items():
        mem[base + 8 * k: base + 8 * k + 8] = list(d.to_bytes(8, "little"))
    if f["ldtr"] & 0xFFFC == 0:  # a null LDTR has an empty cache, as LLDT leaves it
        f["ldtr_base"] = f["ldtr_limit"] = 0
    else:
        f["ldtr_base"] = f["ldtr_base"] % (_MEM_SIZE - 8)
        f["ldtr_limit"] = f["ldtr_limit"] % (_MEM_SIZE - f["ldtr_base"])
    f["tr_base"], f["tr_limit"] = _TSS, 0x67
    if pin_idt:
        f["idtr_base"], f["idtr_limit"] = _IDT, 0x7FF
    f["cr0_pe"], f["cr0_pg"], f["cr0_am"], f["cr0_et"] = 1, 0, 0, 1
    if f["cr0_nw"] and not f["cr0_cd"]:
        f["cr0_nw"] = 0
    f["TF"] = 0
    f["eip"] = _CODE
    f["r4"] = 0x40 + f["r4"] % (_MEM_SIZE - 0x80)
    ops = dict(ops)
    if "disp" in ops:
        ops["disp"] = ops["disp"] % (_MEM_SIZE - 8)
    out = state.copy()
    out.fields = f
    out.memories["mem"] = type(state.memories["mem"]).from_list(mem)
    return out, ops


def _harness_regions():
    """TSS, IDT and handlers, as (address, bytes)."""
    tss = bytearray(0x68)
    tss[4:8] = _STACK0.to_bytes(4, "little")
    tss[8:10] = (0x10).to_bytes(2, "little")
    tss[0x66:0x68] = (0x68).to_bytes(2, "little")  # I/O map base past the limit: no bitmap, as modelled
    idt = bytearray()
    for n in range(256):
        off = _HANDLERS + 4 * n
        idt += bytes([off & 0xFF, (off >> 8) & 0xFF, 0x08, 0x00, 0x00, 0x8E, (off >> 16) & 0xFF, off >> 24])
    return [(_TSS, bytes(tss)), (_IDT, bytes(idt)), (_HANDLERS, bytes([0xF4, 0x90, 0x90, 0x90]) * 256)]


def _msrs(f):
    return [(MSR_SYSENTER_CS, f["sysenter_cs"]), (MSR_SYSENTER_ESP, f["sysenter_esp"]),
            (MSR_SYSENTER_EIP, f["sysenter_eip"])]


def _unicorn_setup(state, code):
    """Registers as Unicorn's x86 names (UC_X86_REG_<name>), then an IRET into ring 3 when
    the state's CPL is 3: writing CS does not change Unicorn's CPL."""
    f = state.fields
    cpl = f["cpl"]
    cs, ss = (f["cs_idx"] << 2) | cpl, (f["ss_idx"] << 2) | cpl
    cr0 = _composite(f, {f"cr0_{b}": k for b, k in CR0_BITS.items()})
    cr4 = _composite(f, {"cr4_tsd": 2, "cr4_pce": 8, "cr4_umip": 11})
    regs = [("GDTR", (0, f["gdtr_base"], f["gdtr_limit"], 0)), ("IDTR", (0, f["idtr_base"], f["idtr_limit"], 0)),
            ("LDTR", (f["ldtr"], f["ldtr_base"], f["ldtr_limit"], 0x82)),
            ("TR", (f["tr"], f["tr_base"], f["tr_limit"], 0x8B)),
            ("CR0", cr0), ("CR3", f["cr3"]), ("CR4", cr4),
            ("SS", 0x10), ("DS", 0x10), ("ES", 0x10), ("FS", 0x10), ("GS", 0x10), ("CS", 0x08)]
    eflags = _eflags_of(f)
    user = [(r, f[f"r{k}"]) for k, r in enumerate(_REGS32) if r != "ESP"]
    frame = b""
    if cpl == 0:
        regs += [("SS", ss), ("DS", f["ds"]), ("ES", f["es"]), ("FS", f["fs"]), ("GS", f["gs"]),
                 ("ESP", f["r4"]), ("EFLAGS", eflags)] + user
        boot = None
    else:
        frame = b"".join(v.to_bytes(4, "little") for v in (_CODE, cs, eflags, f["r4"], ss))
        regs += [("DS", f["ds"]), ("ES", f["es"]), ("FS", f["fs"]), ("GS", f["gs"]), ("ESP", _FRAME)] + user
        boot = (_BOOT, 1)
    return {
        "memory": {"mem": 0}, "ports": "io",
        "regions": [(_HARNESS, _HARNESS_SIZE)] + _harness_regions() + [(_BOOT, b"\xcf"), (_FRAME, frame)],
        "code": (_CODE, bytes(code)),
        "registers": regs, "msrs": _msrs(f), "boot": boot,
    }


def _read_user(get):
    """The model's user fields from register values (``get(name)``)."""
    f = {f"r{k}": get(r) for k, r in enumerate(_REGS32)}
    f["eip"] = get("EIP")
    fl = get("EFLAGS")
    for name, bit in FLAG_BITS.items():
        if name not in ("IF",):
            f[name] = (fl >> bit) & 1
    f["cs_idx"], f["ss_idx"] = get("CS") >> 2, get("SS") >> 2
    for s in ("es", "ds", "fs", "gs"):
        f[s] = get(s.upper())
    return f


def _kvm_segment(sel, attr, base, limit):
    """A KVM segment register from a selector and its model cache (attr = descriptor 55:40)."""
    return {"selector": sel, "base": base, "limit": limit, "type": attr & 0xF, "s": (attr >> 4) & 1,
            "dpl": (attr >> 5) & 3, "present": (attr >> 7) & 1, "avl": (attr >> 12) & 1, "l": 0,
            "db": (attr >> 14) & 1, "g": (attr >> 15) & 1, "unusable": int(sel & 0xFFFC == 0)}


def _kvm_setup(state, code):
    """KVM's register interface loads the segment caches directly (KVM_SET_SREGS), so the
    model's CPL is the CS/SS DPL and no boot code runs. Faults arrive at the harness IDT."""
    f = state.fields
    cpl = f["cpl"]
    sregs = {}
    for s in SEGS:
        sel = (f["cs_idx"] << 2) | cpl if s == "cs" else (f["ss_idx"] << 2) | cpl if s == "ss" else f[s]
        sregs[s] = _kvm_segment(sel, f[f"{s}_attr"], f[f"{s}_base"], f[f"{s}_limit"])
    sregs["tr"] = {"selector": f["tr"], "base": f["tr_base"], "limit": f["tr_limit"], "type": 11, "s": 0, "dpl": 0,
                   "present": 1, "avl": 0, "l": 0, "db": 0, "g": 0, "unusable": 0}
    sregs["ldt"] = {"selector": f["ldtr"], "base": f["ldtr_base"], "limit": f["ldtr_limit"], "type": 2, "s": 0,
                    "dpl": 0, "present": 1, "avl": 0, "l": 0, "db": 0, "g": 0, "unusable": int(f["ldtr"] & 0xFFFC == 0)}
    sregs["gdt"] = (f["gdtr_base"], f["gdtr_limit"])
    sregs["idt"] = (f["idtr_base"], f["idtr_limit"])
    sregs["cr0"] = _composite(f, {f"cr0_{b}": k for b, k in CR0_BITS.items()})
    sregs["cr3"] = f["cr3"]
    sregs["cr4"] = _composite(f, {"cr4_tsd": 2, "cr4_pce": 8, "cr4_umip": 11})
    sregs["efer"] = 0
    regs = {n: f[f"r{k}"] for k, n in enumerate(("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"))}
    regs["rip"] = _CODE
    regs["rflags"] = _eflags_of(f)
    return {
        "memory": {"mem": 0}, "ports": "io",
        "regions": [(_HARNESS, _HARNESS_SIZE)] + _harness_regions(),
        "code": (_CODE, bytes(code)),
        "regs": regs, "sregs": sregs, "msrs": _msrs(f),
        "handlers": (_HANDLERS, 4, 256),  # a fault to vector n stops at _HANDLERS + 4n
    }


def _read_kvm(regs, sregs):
    names = {"EAX": "rax", "ECX": "rcx", "EDX": "rdx", "EBX": "rbx", "ESP": "rsp", "EBP": "rbp", "ESI": "rsi",
             "EDI": "rdi", "EIP": "rip", "EFLAGS": "rflags"}
    return _read_user(lambda n: (regs[names[n]] & 0xFFFFFFFF) if n in names else sregs[n.lower()]["selector"])


def _descriptor_of(state, sel):
    """The 8 descriptor bytes ``sel`` names in the state's GDT or LDT, as an int (None when
    outside the table)."""
    f = state.fields
    base, limit = (f["ldtr_base"], f["ldtr_limit"]) if sel & 4 else (f["gdtr_base"], f["gdtr_limit"])
    off = sel & 0xFFF8
    if off + 7 > limit or sel & 0xFFFC == 0:
        return None
    mem = state.memories["mem"]
    return sum(mem[(base + off + k) % _MEM_SIZE] << (8 * k) for k in range(8))


def _system_target(state, ops):
    d = _descriptor_of(state, ops["sel"])
    return d is not None and not (d >> 44) & 1


def _iret_to_vm86(state, ops):
    """The EFLAGS image IRET would pop has VM (bit 17) set."""
    mem, esp = state.memories["mem"], state.fields["r4"]
    return bool(mem[(esp + 10) % _MEM_SIZE] & 0x02)


def _vector(cause, info):
    """The exception vector a cause arrives as (its code's low byte; INT n: n)."""
    return info & 0xFF if cause.name == "int" else cause.code & 0xFF


# Known differences, as data. Each names the instructions, the modes and what differs
# ("outcome", a field, or a memory); a mismatch is explained only when every difference is
# covered by a limit that applies. ``source`` says whose behaviour departs from the manual
# or from the other: the reference's, or the model's documented abstraction (docs/x86.md).
_COMMON_LIMITS = [
    {"id": "cpuid-identity", "source": "model", "mnemonics": ["CPUID"], "differs": ["r0", "r1", "r2", "r3"],
     "doc": "CPUID: the model answers a fixed, fictional identification table (leaves 0 and 1); "
            "a real processor answers its own"},
    {"id": "tsc-runs", "source": "model", "mnemonics": ["RDTSC", "RDMSR"], "differs": ["r0", "r2"],
     "doc": "the time-stamp counter advances on a real processor; the model's does not (time is not modelled)"},
    {"id": "cr0-real-mode", "source": "model", "mnemonics": ["MOV_cr0_r"], "differs": ["outcome", "*"],
     "doc": "MOV to CR0 clearing PE enters real-address mode, which the model leaves out (its step halts)"},
    {"id": "msr-set", "source": "model", "mnemonics": ["RDMSR", "WRMSR"], "differs": ["outcome", "r0", "r2"],
     "doc": "the model knows four MSRs (TSC, SYSENTER_CS/ESP/EIP) and faults on every other number; "
            "a real processor has many more"},
    {"id": "af-undefined-logic", "source": "manual", "mnemonics": ["AND_rm_r", "OR_rm_r", "XOR_rm_r"],
     "differs": ["AF"], "doc": "AF after AND, OR, XOR is undefined (SDM Vol. 2A AND, Vol. 2B OR, XOR: "
                              "'the state of the AF flag is undefined'); the model keeps it, processors clear it"},
    {"id": "lar-limit-bits", "source": "manual", "mnemonics": ["LAR"], "bits": 0x000F0000,
     "differs": ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"],
     "doc": "LAR r32: bits 19:16 (the limit's upper bits) are undefined in the SDM ('masked by 00FxFF00H'); "
            "the model clears them, processors return them"},
    {"id": "cr4-bits", "source": "model", "mnemonics": ["MOV_cr4_r"], "differs": ["outcome"],
     "doc": "the model's CR4 has only TSD and PCE (and UMIP on x86-umip) and faults on every other bit; "
            "a real processor implements more (VME, PVI, DE, PSE, PAE, PGE, OSFXSR, ...)"},
    {"id": "no-gates", "source": "model", "mnemonics": ["JMP_far", "CALL_far"], "differs": ["outcome"],
     "when": _system_target,
     "doc": "far JMP/CALL to a system descriptor (call gate, task gate, TSS): the model raises #GP (gates and "
            "task switches are not modelled), a processor follows the gate or task (or faults differently, "
            "e.g. #NP for a gate that is not present)"},
    {"id": "no-v86", "source": "model", "mnemonics": ["IRET"], "modes": ["ring0"], "differs": ["outcome", "*"],
     "when": _iret_to_vm86,
     "doc": "IRET at CPL 0 popping EFLAGS.VM = 1 returns to virtual-8086 mode, which the model leaves out"},
    {"id": "accessed-bit", "source": "model", "differs": ["mem"],
     "mnemonics": ["MOV_es_r", "MOV_ss_r", "MOV_ds_r", "MOV_fs_r", "MOV_gs_r", "POP_es", "POP_ss", "POP_ds",
                   "JMP_far", "CALL_far", "RETF", "IRET", "LTR_r", "LLDT_r"],
     "doc": "loading a segment register sets the descriptor's accessed bit in memory (SDM Vol. 3A §3.4.5.1); "
            "the model does not write it"},
]

_UNICORN_LIMITS = _COMMON_LIMITS + [
    {"id": "unicorn-int-hook", "source": "reference", "mnemonics": ["INT"], "differs": ["outcome"],
     "doc": "Unicorn hands INT n to its interrupt hook before the IDT gate's limit, DPL and present checks"},
    {"id": "unicorn-ltr-null", "source": "reference", "mnemonics": ["LTR_r"], "differs": ["outcome"],
     "when": lambda s, ops: s.fields[f"r{ops['rs']}"] & 0xFFFC == 0,
     "doc": "Unicorn (QEMU) completes LTR with a null selector, loading an unusable TR; the SDM raises #GP(0)"},
    {"id": "unicorn-io-privilege", "source": "reference", "mnemonics": ["IN_al_imm", "IN_al_dx", "OUT_imm_al",
                                                                     "OUT_dx_al"],
     "modes": ["ring3"], "differs": ["outcome"],
     "doc": "Unicorn lets IN and OUT complete at CPL 3 with IOPL 0 and no I/O bitmap, where hardware raises "
            "#GP (seen for IN AL, imm8; Unicorn 2.1.4 skips the check for all four forms)"},
    {"id": "unicorn-iret-vm86", "source": "reference", "mnemonics": ["IRET"], "modes": ["ring3"],
     "differs": ["outcome", "*"], "when": _iret_to_vm86,
     "doc": "Unicorn (QEMU's helper_iret_protected) returns to virtual-8086 mode when the popped EFLAGS has VM = 1 "
            "at any CPL; the SDM does so only at CPL 0 (elsewhere VM is ignored)"},
    {"id": "unicorn-smsw-16", "source": "reference", "mnemonics": ["SMSW_r"], "differs": ["*"], "bits": 0xFFFF0000,
     "doc": "Unicorn's SMSW r32 writes only bits 15:0 of the register (the manual leaves 31:16 undefined)"},
    {"id": "unicorn-umip", "source": "reference", "mnemonics": ["SGDT_m", "SIDT_m", "SLDT_r", "STR_r", "SMSW_r"],
     "modes": ["ring3"], "differs": ["outcome", "*"], "doc": "Unicorn does not enforce CR4.UMIP"},
]

_KVM_LIMITS = _COMMON_LIMITS + [
    {"id": "harness-idt", "source": "harness", "mnemonics": ["INT"], "differs": ["outcome"],
     "doc": "on KVM, IDTR names the harness IDT (faults must reach its handlers), outside the model's 4 KiB; the "
            "model reads INT n's gate at IDTR.base modulo 4 KiB, in its own memory, so the gates differ"},
    {"id": "kvm-lldt-ti", "source": "reference", "mnemonics": ["LLDT_r"], "differs": ["outcome"],
     "when": lambda s, ops: bool(s.fields[f"r{ops['rs']}"] & 4),
     "doc": "LLDT with a selector whose TI bit is set: the SDM raises #GP (it must name the GDT); KVM's emulator "
            "looks the descriptor up and can raise #NP instead"},
    {"id": "smsw-upper", "source": "manual", "mnemonics": ["SMSW_r"], "bits": 0xFFFF0000,
     "differs": ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"],
     "doc": "SMSW r32: bits 31:16 are undefined in the SDM; the model writes 0, KVM's emulator CR0[31:16]"},
    {"id": "kvm-singlestep-tf", "source": "reference", "mnemonics": ["POPF", "IRET"], "differs": ["TF"],
     "doc": "under KVM_GUESTDBG_SINGLESTEP, KVM owns RFLAGS.TF and reports it as 0, so a TF the guest sets "
            "cannot be read back"},
    {"id": "kvm-push-cs-16", "source": "reference", "mnemonics": ["PUSH_cs", "PUSH_ss", "PUSH_es", "PUSH_ds"],
     "differs": ["mem"],
     "doc": "KVM's emulator pushes a segment selector as 16 bits, the model as 32 (the manual leaves the upper "
            "half of the slot implementation-dependent)"},
]

for _isa in (x86, x86_ring1, x86_umip):
    _isa.reference("unicorn", {
        "constants": "unicorn.x86_const", "arch": "UC_ARCH_X86", "mode": "UC_MODE_32", "registers": "UC_X86_REG_",
        "port_instructions": ("UC_X86_INS_IN", "UC_X86_INS_OUT"),
        "modes": ["ring0", "ring3"],
        "fit": lambda isa, s, ins, ops, rng: _fit(isa, s, ins, ops, rng, pin_idt=False),
        "setup": _unicorn_setup, "read": _read_user, "vector": _vector,
        "halted": lambda fields, code, pc: list(code[:1]) == [0xF4],  # HLT stops Unicorn past it
        "limits": _UNICORN_LIMITS,
    })
    _isa.reference("kvm", {
        "modes": ["ring0", "ring3"],
        "fit": lambda isa, s, ins, ops, rng: _fit(isa, s, ins, ops, rng, pin_idt=True),
        "setup": _kvm_setup, "read": _read_kvm, "vector": _vector,
        "halted": lambda fields, code, pc: list(code[:1]) == [0xF4],
        # what KVM's instruction emulator (software-backed /dev/kvm) answers with #UD instead of
        # running: counted as skipped, never as agreement
        "emulator_missing": {"vector": 6, "mnemonics": ["LAR", "LSL", "VERR", "VERW", "IRET", "INT"]},
        "limits": _KVM_LIMITS,
    })


# The host CPU in ring 3 (hypervisor/reference/native.py): only the guest configuration's
# ring 3 with what a Linux x86-64 process has -- IOPL 0, IF 1, CS 23H (32-bit user code),
# SS = DS = ES = 2BH, FS = GS = 0, no LDT -- and the host's GDT, whose ring-3-visible entries
# the reference reads with LAR/LSL (``gdt``: index -> (access rights, limit)); the model's
# GDT in memory is built to match them (every other entry: a DPL-0 data segment, which
# LAR, LSL, VERR and VERW at CPL 3 cannot see, whatever the host holds there).
_NATIVE_SEL = {"cs": 0x23, "ss": 0x2B, "ds": 0x2B, "es": 0x2B, "fs": 0, "gs": 0}
_NATIVE_GDT_ENTRIES = 16  # Linux x86-64: GDT_ENTRIES
_NATIVE_ATTR = {0x23: 0xCFFB, 0x2B: 0xCFF3}


def _native_descriptor(ar, limit):
    g = (ar >> 23) & 1
    raw = limit >> 12 if g else limit
    high = (ar & 0x00F0FF00) | (((raw >> 16) & 0xF) << 16)
    return ((high << 32) | (raw & 0xFFFF)) & 0xFFFFFFFFFFFFFFFF


def _native_fit(isa, state, ins, ops, rng, host_gdt):
    f = dict(state.fields)
    mem = state.memories["mem"].to_list(_MEM_SIZE)
    f["cpl"], f["IOPL"], f["IF"], f["TF"], f["AC"] = 3, 0, 1, 0, 0
    f["cs_idx"], f["ss_idx"] = 0x23 >> 2, 0x2B >> 2
    for s, sel in _NATIVE_SEL.items():
        if s not in ("cs", "ss"):
            f[s] = sel
        f[f"{s}_base"], f[f"{s}_limit"], f[f"{s}_attr"] = (0, 0, 0) if sel == 0 else (0, 0xFFFFFFFF, _NATIVE_ATTR[sel])
    base = rng.randrange(0, _MEM_SIZE - 8 * _NATIVE_GDT_ENTRIES) & ~7
    f["gdtr_base"], f["gdtr_limit"] = base, 8 * _NATIVE_GDT_ENTRIES - 1
    for k in range(_NATIVE_GDT_ENTRIES):
        d = _native_descriptor(*host_gdt[k]) if k in host_gdt else (0 if k == 0 else 0x00CF93000000FFFF)
        mem[base + 8 * k: base + 8 * k + 8] = list(d.to_bytes(8, "little"))
    f["ldtr"], f["ldtr_base"], f["ldtr_limit"] = 0, 0, 0
    f["cr4_tsd"] = 0  # Linux leaves RDTSC to user processes
    f["r4"] = 0x40 + f["r4"] % (_MEM_SIZE - 0x80)
    if ins.mnemonic == "POPF":  # a popped TF = 1 would trace-trap the harness's next instruction
        mem[f["r4"] + 1] &= ~1
    ops = dict(ops)
    if "disp" in ops:
        ops["disp"] = ops["disp"] % (_MEM_SIZE - 8)
    out = state.copy()
    out.fields = f
    out.memories["mem"] = type(state.memories["mem"]).from_list(mem)
    return out, ops


def _native_setup(state):
    f = state.fields
    return {"registers": [f[f"r{k}"] for k in range(8)], "eflags": _eflags_of(f),
            "memory": state.memories["mem"].to_list(_MEM_SIZE), "memory_name": "mem"}


def _native_read(out):
    regs = dict(zip(_REGS32, out["GPR"]))
    regs["EFLAGS"] = out["EFLAGS"]
    regs.update({s.upper(): v for s, v in out["SREG"].items()})
    f = {f"r{k}": regs[r] for k, r in enumerate(_REGS32)}
    for name, bit in FLAG_BITS.items():
        f[name] = (regs["EFLAGS"] >> bit) & 1
    f["cs_idx"], f["ss_idx"] = regs["CS"] >> 2, regs["SS"] >> 2
    for s in ("es", "ds", "fs", "gs"):
        f[s] = regs[s.upper()]
    return f


_LEAVES = "transfers control: the native harness runs straight-line code only (the target would run unchecked)"
_NATIVE_NOT_RUN = {m: _LEAVES for m in ("JMP_rel8", "JMP_rel32", "JZ", "JNZ", "CALL_rel32", "RET", "JMP_far",
                                         "CALL_far", "RETF", "IRET")}
_NATIVE_NOT_RUN["INT"] = "not run natively: INT 80H is a system call in a Linux process"
_UMIP = "the host has UMIP on: its kernel emulates this for user processes with fixed values (not compared)"

x86.reference("native", {
    "modes": ["ring3"], "fit": _native_fit, "setup": _native_setup, "read": _native_read, "vector": _vector,
    "not_run": _NATIVE_NOT_RUN,
    "umip_emulated": {m: _UMIP for m in ("SGDT_m", "SIDT_m", "SLDT_r", "STR_r", "SMSW_r")},
    "limits": [lim for lim in _COMMON_LIMITS if lim["id"] in ("cpuid-identity", "tsc-runs", "af-undefined-logic",
                                                                 "accessed-bit", "lar-limit-bits")] + [
        {"id": "native-push-sreg-16", "source": "reference", "mnemonics": ["PUSH_cs", "PUSH_ss", "PUSH_es", "PUSH_ds"],
         "differs": ["mem"],
         "doc": "PUSH of a segment register with 32-bit operand size: the SDM (Vol. 2B, PUSH) allows a zero-extended "
                "store or a 16-bit move that leaves the slot's upper half unmodified, and says recent Core and Atom "
                "processors do the latter; the model stores the zero-extended 32 bits"},
    ],
})
