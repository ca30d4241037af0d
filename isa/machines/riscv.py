"""``riscv32``, ``riscv32-s``, ``riscv32-s-trap``: RV32I + Zicsr with M, S and U modes,
``mstatus`` TVM/TW/TSR, PMP and Sv32 -- the ISA designed with virtualization in mind.

Modelled from the RISC-V Instruction Set Manual, Volume I (Unprivileged ISA, 20191213:
"Vol. I" below) ch. 2 (RV32I), ch. 3 (Zifencei), ch. 9 (Zicsr), ch. 24 (instruction
listings), and Volume II (Privileged Architecture, 20211203 / v1.12: "Vol. II") ch. 2 (CSR
address map), ch. 3 (machine level: mstatus, trap delegation, MRET, WFI, counters, PMP in
§3.7), ch. 4 (supervisor level: sstatus, satp, SRET, SFENCE.VMA, Sv32 in §4.3); privilege
checks follow the Sail RISC-V model (``model/riscv_sys_control.sail``: ``check_CSR``,
``check_TVM_SATP``, ``check_Counteren``; ``riscv_insts_base.sail``/``riscv_insts_zicsr.sail``
for MRET, SRET, WFI, SFENCE.VMA). Each instruction's docstring cites its section;
docs/riscv.md lists what is modelled and abstracted and compares the derived verdicts with
the manual's own claims.

State
    ``x0``-``x31`` (``x0`` reads as 0 and ignores writes), ``pc`` (32 bits), the privilege
    level ``priv`` (0 U, 1 S, 3 M; Vol. II §1.2), ``mstatus`` as its fields, the M and S trap
    CSRs, ``medeleg``/``mideleg``, ``mie``/``mip`` bit by bit, ``mcounteren``/
    ``scounteren`` (CY, TM, IR), ``mcycle``/``minstret``/``mtime`` (64 bits), ``satp``
    (MODE, PPN; ASIDLEN = 0), four PMP entries (``pmpcfg0``, ``pmpaddr0``-``pmpaddr3``).

Memory
    ``mem``: 16 KiB of bytes at physical addresses 0-0x3FFF (four pages), little-endian (Vol. I §1.4).
    Small on purpose, so witnesses replay quickly: an effective address (or pc) with bits
    31:14 set raises an access fault, in Bare mode exactly what a physical address with
    no memory behind it does; with Sv32 it means the virtual space is 0-0x3FFF too, so
    VPN[1] is always 0 (the walk is still the two-level one, through root entry 0). A
    physical address the walk produces above 0x3FFF is an access fault as well.

Translation (Vol. II §4.3.2) and protection (§3.7)
    The effective privilege of a load or store is ``mstatus.MPP`` when ``MPRV = 1`` in
    M-mode, else ``priv`` (§3.1.6.3); fetches use ``priv``. Below M with ``satp.MODE =
    Sv32`` the address goes through the two-level walk in memory; the A and D bits are not
    set by hardware: a leaf with A = 0, or D = 0 on a store, is a page fault (the Svade
    behaviour, §4.3.1). Every physical access, PTE reads included (as S-mode), is checked
    against PMP: TOR, NA4 and NAPOT, the lowest-numbered match decides, locked entries
    bind M-mode, and an S or U access no entry matches fails (§3.7.1). Misaligned loads
    and stores raise address-misaligned exceptions (an implementation may, Vol. I §2.6),
    so no access crosses a page or a PMP granule.

Abstractions (docs/riscv.md): the counters do not advance (time is outside an
instruction's semantics, as the interval timer is); no interrupt is taken (``mie``/``mip``
and their S views are state only), so WFI completes at once (a NOP, Vol. II §3.3.3) when
``mie & mip`` is not 0 and halts the hart otherwise; no TLB, so SFENCE.VMA and FENCE.I do
nothing beyond their privilege checks;
FENCE is a NOP on one hart; FENCE with ``fm``/``rs1``/``rd`` other than 0 (except
FENCE.TSO) decodes as undefined instead of as FENCE; no hpm event counting (the hpm CSRs
read as 0); no F/D/V state (``FS``/``VS``/``XS``/``SD`` read 0); ``mtval``/``stval`` are 0
on an illegal instruction (§3.1.16 allows it).
"""

from __future__ import annotations

from virtcheck.isa.lang import (
    CALL, EXCEPTION, MEMORY, PRIVILEGE, SYSTEM, USER, Imm, Isa, Reg, Target, ashr, concat, const, ite, land,
    lnot, lor, sext, slt, uge, ugt, ule, ult, zext,
)

W = 32
MEM = 14  #: physical (and virtual) address bits of ``mem``: 16 KiB (four 4 KiB pages)
U_MODE, S_MODE, M_MODE = 0, 1, 3
NPMP = 4

#: mstatus fields: name -> (hi, lo) (Vol. II §3.1.6, Figure 3.7)
MSTATUS = {"SIE": (1, 1), "MIE": (3, 3), "SPIE": (5, 5), "MPIE": (7, 7), "SPP": (8, 8), "MPP": (12, 11),
           "MPRV": (17, 17), "SUM": (18, 18), "MXR": (19, 19), "TVM": (20, 20), "TW": (21, 21), "TSR": (22, 22)}
#: the subset sstatus shows (Vol. II §4.1.1, Figure 4.2)
SSTATUS = ("SIE", "SPIE", "SPP", "SUM", "MXR")
#: interrupt bits of mie/mip (Vol. II §3.1.9): S and M software, timer, external
IRQ = {"SS": 1, "MS": 3, "ST": 5, "MT": 7, "SE": 9, "ME": 11}
S_IRQ = ("SS", "ST", "SE")
#: mip bits M-mode software can write through mip (MSIP, MTIP, MEIP come from the platform)
MIP_WRITABLE = ("SS", "ST", "SE")
#: S-level CSR state: a guest kernel in S-mode owns it (see ``build``)
S_STATE = ("SIE", "SPIE", "SPP", "SUM", "MXR", "stvec", "sscratch", "sepc", "scause", "stval", "scounteren",
           *(f"ie_{i}" for i in S_IRQ), *(f"ip_{i}" for i in S_IRQ))
#: the mideleg a monitor running a guest kernel in S-mode sets: S-level interrupts go to it
GUEST_MIDELEG = sum(1 << IRQ[i] for i in S_IRQ)

#: CSR numbers (Vol. II §2.2, Tables 2.2-2.5)
CSR = {
    "cycle": 0xC00, "time": 0xC01, "instret": 0xC02, "cycleh": 0xC80, "timeh": 0xC81, "instreth": 0xC82,
    "sstatus": 0x100, "sie": 0x104, "stvec": 0x105, "scounteren": 0x106, "sscratch": 0x140, "sepc": 0x141,
    "scause": 0x142, "stval": 0x143, "sip": 0x144, "satp": 0x180,
    "mvendorid": 0xF11, "marchid": 0xF12, "mimpid": 0xF13, "mhartid": 0xF14, "mconfigptr": 0xF15,
    "mstatus": 0x300, "misa": 0x301, "medeleg": 0x302, "mideleg": 0x303, "mie": 0x304, "mtvec": 0x305,
    "mcounteren": 0x306, "mstatush": 0x310, "mcountinhibit": 0x320, "mscratch": 0x340, "mepc": 0x341,
    "mcause": 0x342, "mtval": 0x343, "mip": 0x344,
    **{f"pmpcfg{k}": 0x3A0 + k for k in range(4)}, **{f"pmpaddr{k}": 0x3B0 + k for k in range(16)},
    "mcycle": 0xB00, "minstret": 0xB02, "mcycleh": 0xB80, "minstreth": 0xB82,
}
#: CSR ranges that exist and read as 0 (hpm counters and events, Vol. II §3.1.10-§3.1.11)
ZERO_RANGES = ((0xC03, 0xC1F), (0xC83, 0xC9F), (0xB03, 0xB1F), (0xB83, 0xB9F), (0x323, 0x33F))
#: misa for RV32 with I, S and U (Vol. II §3.1.1): MXL = 1
MISA = (1 << 30) | (1 << 8) | (1 << 18) | (1 << 20)
#: medeleg bits that can be set: every exception code below 16 except ecall from M (11)
MEDELEG_MASK = 0xB3FF

SOURCE = ("RISC-V ISA Manual Vol. I (20191213) ch. 2, 3, 9; Vol. II (Privileged, v1.12) ch. 2-4; "
          "Sail RISC-V model privilege checks")


def build(name: str, *, doc: str, guest_priv: int, trap_bits: int = 0) -> Isa:
    """One RV32I + Zicsr hart with M, S and U modes.

    ``guest_priv``: the mode a deprivileged guest kernel runs in under an M-mode monitor
    (``U_MODE``: classic virtualization; ``S_MODE``: the guest kernel keeps S-mode, and the
    monitor sets ``mstatus.TVM = TW = TSR = trap_bits``). Every configuration runs the
    guest with ``mcounteren = 0`` (counter reads trap to the monitor).

    Roles: with a guest kernel in U-mode every CSR is the monitor's (it emulates S-mode).
    With the guest kernel in S-mode the S-level CSR state (``S_STATE``: the S fields of
    sstatus, stvec, sscratch, sepc, scause, stval, scounteren, the S bits of sie/sip) is the
    guest's own, which a monitor swaps on a world switch as it swaps ``x1``-``x31`` -- the
    premise of Vol. II §3.1.6.5 ("permitting guest operating systems to execute in S-mode
    ... obviates the need to trap accesses to most S-mode CSRs"); ``satp`` stays the
    monitor's (shadow page tables), as does every M-level field."""
    isa = Isa(name, word=W, unit=32, endian="little", doc=doc, source=SOURCE)
    s_role = USER if guest_priv == S_MODE else SYSTEM

    def role(field: str):
        return s_role if field in S_STATE else SYSTEM

    # --- state ------------------------------------------------------------------------------
    isa.bank("x", 32, W, USER, doc="x0-x31 (Vol. I §2.1); x0 reads 0 and ignores writes")
    isa.pc("pc", W, doc="pc (fetches use its low 14 bits; bits 31:14 set fault)")
    isa.field("priv", 2, SYSTEM, doc="current privilege level: 0 U, 1 S, 3 M (Vol. II §1.2)")
    for f, (hi, lo) in MSTATUS.items():
        isa.field(f, hi - lo + 1, role(f), doc=f"mstatus.{f} (Vol. II §3.1.6)")
    isa.composite("mstatus", W, dict(MSTATUS))
    isa.composite("sstatus", W, {f: MSTATUS[f] for f in SSTATUS})
    for f, d in (("mtvec", "M trap vector: BASE, MODE (0 direct, 1 vectored; §3.1.7)"),
                 ("mepc", "M exception pc (§3.1.14)"), ("mcause", "M trap cause (§3.1.15)"),
                 ("mtval", "M trap value (§3.1.16)"), ("mscratch", "M scratch (§3.1.13)"),
                 ("medeleg", "exception delegation to S (§3.1.8)"), ("mideleg", "interrupt delegation to S"),
                 ("stvec", "S trap vector (§4.1.2)"), ("sepc", "S exception pc (§4.1.7)"),
                 ("scause", "S trap cause (§4.1.8)"), ("stval", "S trap value (§4.1.9)"),
                 ("sscratch", "S scratch (§4.1.6)")):
        isa.field(f, W, role(f), doc=d)
    for i, bit in IRQ.items():
        isa.field(f"ie_{i}", 1, role(f"ie_{i}"), doc=f"mie.{i}IE (bit {bit}, §3.1.9)")
        isa.field(f"ip_{i}", 1, role(f"ip_{i}"), doc=f"mip.{i}IP (bit {bit}, §3.1.9)")
    isa.composite("mie", 12, {f"ie_{i}": (b, b) for i, b in IRQ.items()})
    isa.composite("mip", 12, {f"ip_{i}": (b, b) for i, b in IRQ.items()})
    isa.field("mcounteren", 3, SYSTEM, doc="mcounteren CY, TM, IR (§3.1.11; the hpm bits are 0)")
    isa.field("scounteren", 3, role("scounteren"), doc="scounteren CY, TM, IR (§4.1.5)")
    for f, d in (("mcycle", "cycle counter (§3.1.10)"), ("minstret", "instructions-retired counter"),
                 ("mtime", "real-time counter, the platform's mtime (§3.2.1), read through time/timeh")):
        isa.field(f, 64, SYSTEM, doc=d)
    isa.field("satp_mode", 1, SYSTEM, doc="satp.MODE: 0 Bare, 1 Sv32 (§4.1.11)")
    isa.field("satp_ppn", 22, SYSTEM, doc="satp.PPN: root page table (ASIDLEN = 0)")
    for k in range(NPMP):
        isa.field(f"pmp{k}cfg", 8, SYSTEM, doc=f"pmp{k}cfg: L . 00 . A(2) . X W R (§3.7.1)")
        isa.field(f"pmpaddr{k}", W, SYSTEM, doc=f"pmpaddr{k}: physical address bits 33:2")
    isa.memory("mem", MEM, 8, doc="physical memory: 16 KiB of bytes, little-endian")

    # --- causes: the exception code is the cause's code & 0xFF (Vol. II Table 3.6) ---------------
    # An illegal instruction is one mcause (2) for two reasons, which PG's definitions tell
    # apart: a check of the privilege level (csr[9:8], xRET, TVM/TW/TSR, counter enables) and an
    # operand that is wrong in every mode (no such CSR, a write to a read-only one).
    c = {}
    for cname, kind, code, d in (
        ("inst_misaligned", MEMORY, 0, "instruction address misaligned (tval: the target)"),
        ("inst_access", MEMORY, 1, "instruction access fault (PMP, no memory)"),
        ("illegal_priv", PRIVILEGE, 2, "illegal instruction: a privilege check failed"),
        ("breakpoint", CALL, 3, "EBREAK"),
        ("load_misaligned", MEMORY, 4, "load address misaligned"),
        ("load_access", MEMORY, 5, "load access fault"),
        ("store_misaligned", MEMORY, 6, "store address misaligned"),
        ("store_access", MEMORY, 7, "store access fault"),
        ("ecall_u", CALL, 8, "environment call from U-mode"),
        ("ecall_s", CALL, 9, "environment call from S-mode"),
        ("ecall_m", CALL, 11, "environment call from M-mode"),
        ("inst_page", MEMORY, 12, "instruction page fault"),
        ("load_page", MEMORY, 13, "load page fault"),
        ("store_page", MEMORY, 15, "store page fault"),
        ("illegal", EXCEPTION, 0x100 | 2, "illegal instruction (mcause 2): no such CSR, or a write to a read-only one"),
    ):
        c[cname] = isa.cause(cname, kind, code, doc=d)
    ILLEGAL_PRIV, ILLEGAL = c["illegal_priv"], c["illegal"]
    FAULTS = {"fetch": (c["inst_misaligned"], c["inst_access"], c["inst_page"]),
              "read": (c["load_misaligned"], c["load_access"], c["load_page"]),
              "write": (c["store_misaligned"], c["store_access"], c["store_page"])}

    # --- modes and the guest configuration ------------------------------------------------------
    isa.mode("machine", lambda m: m.priv == M_MODE, supervisor=True)
    isa.mode("supervisor", lambda m: m.priv == S_MODE)
    isa.mode("user", lambda m: m.priv == U_MODE)
    if guest_priv == U_MODE:
        isa.guest(lambda m: land(m.priv == U_MODE, m.mcounteren == 0),
                  doc="guest kernel in U-mode under an M-mode monitor: priv = U, mcounteren = 0")
    else:
        isa.guest(lambda m: land(m.priv == S_MODE, m.TVM == trap_bits, m.TW == trap_bits, m.TSR == trap_bits,
                                 m.mcounteren == 0, m.mideleg == GUEST_MIDELEG),
                  doc=f"guest kernel in S-mode under an M-mode monitor: priv = S, TVM = TW = TSR = {trap_bits}, "
                      f"mcounteren = 0, mideleg = {GUEST_MIDELEG:#x} (S interrupts to the guest)")
    isa.reset(priv=M_MODE)

    # --- translation and protection ------------------------------------------------------------
    def eff_priv(m, access):
        """Vol. II §3.1.6.3: loads and stores in M-mode with MPRV = 1 use MPP's privilege."""
        if access == "fetch":
            return m.priv
        return ite(land(m.MPRV == 1, m.priv == M_MODE), m.MPP, m.priv)

    def pmp_ok(m, w, priv, access):
        """§3.7.1: the word at physical address bits 33:2 = ``w`` may be accessed with
        ``priv`` (no access crosses a word, see ``translate``). The lowest-numbered entry
        that matches decides; a lock binds M-mode; an S/U access nothing matches fails."""
        perm_bit = {"read": 0, "write": 1, "fetch": 2}[access]
        result = priv == M_MODE
        for k in reversed(range(NPMP)):
            cfg, addr = m.read(f"pmp{k}cfg"), m.read(f"pmpaddr{k}")
            a = cfg[4:3]
            prev = m.read(f"pmpaddr{k - 1}") if k else const(0, W)
            napot_mask = ~(addr ^ (addr + 1))  # the bits that must match: all but the trailing ones + 1
            match = lor(land(a == 1, ule(prev, w), ult(w, addr)),
                        land(a == 2, w == addr),
                        land(a == 3, (w & napot_mask) == (addr & napot_mask)))
            # R = 0, W = 1 is reserved (a legal write never makes it): W counts only with R,
            # so nothing is writable that a guest could not read back
            perm = land(cfg[1] == 1, cfg[0] == 1) if access == "write" else cfg[perm_bit] == 1
            allowed = lor(land(priv == M_MODE, cfg[7] == 0), perm)
            result = ite(match, allowed, result)
        return result

    def phys_ok(w):
        """The word (PA bits 33:2) is in memory."""
        return w[31:MEM - 2] == 0

    def walk(m, word, access, priv, on, info):
        """Vol. II §4.3.2, Sv32, taken when ``on``, for the virtual word address ``word``
        (VA bits 13:2): two levels, 4-byte PTEs. Returns the physical word address (PA bits
        33:2); faults are exits: an access fault when PMP or the bus refuses a PTE read, a
        page fault for an invalid or reserved PTE (V = 0, or W = 1 with R = 0), a non-leaf at
        level 0, a permission the PTE does not give, a misaligned superpage, or A = 0 (D = 0
        on a store)."""
        _, access_fault, page_fault = FAULTS[access]
        vpn1 = const(0, 10)  # VA bits 31:22 (the virtual space is 16 KiB, see the module docstring)
        vpn0 = zext(word[MEM - 3:10], 10)  # VA bits 21:12
        # step 2, level 1: the root table at satp.PPN * 4096; the PTE read is checked as S-mode
        a1 = concat(m.satp_ppn, vpn1)  # word address of the PTE: PPN * 4096 + VPN[1] * 4
        m.trap_if(land(on, lnot(land(phys_ok(a1), pmp_ok(m, a1, const(S_MODE, 2), "read")))), access_fault,
                  info=info)
        pte1 = m.phys_load(concat(a1[MEM - 3:0], const(0, 2)), units=4)
        m.trap_if(land(on, lor(pte1[0] == 0, land(pte1[1] == 0, pte1[2] == 1))), page_fault, info=info)  # step 3
        leaf1 = lor(pte1[1] == 1, pte1[3] == 1)  # step 4
        # level 0: the table pte1.PPN points at
        a0 = concat(pte1[31:10], vpn0)
        at0 = land(on, lnot(leaf1))
        m.trap_if(land(at0, lnot(land(phys_ok(a0), pmp_ok(m, a0, const(S_MODE, 2), "read")))), access_fault,
                  info=info)
        pte0 = m.phys_load(concat(a0[MEM - 3:0], const(0, 2)), units=4)
        leaf0 = lor(pte0[1] == 1, pte0[3] == 1)
        m.trap_if(land(at0, lor(pte0[0] == 0, land(pte0[1] == 0, pte0[2] == 1), lnot(leaf0))), page_fault,
                  info=info)
        pte = ite(leaf1, pte1, pte0)
        r, w, xbit, u = pte[1] == 1, pte[2] == 1, pte[3] == 1, pte[4] == 1
        # step 5: the permission, the U bit against the privilege (SUM, MXR: §4.1.1)
        perm = {"read": lor(r, land(m.MXR == 1, xbit)), "write": w, "fetch": xbit}[access]
        if access == "fetch":
            user_ok = ite(priv == U_MODE, u, lnot(u))
        else:
            user_ok = ite(priv == U_MODE, u, lor(lnot(u), m.SUM == 1))
        misaligned_super = land(leaf1, pte1[19:10] != 0)  # step 6
        no_ad = lor(pte[6] == 0, pte[7] == 0) if access == "write" else pte[6] == 0  # step 7 (Svade)
        m.trap_if(land(on, lor(lnot(perm), lnot(user_ok), misaligned_super, no_ad)), page_fault, info=info)
        # step 8: PA = PPN . offset; a megapage takes PPN[0] from VPN[0]
        return ite(leaf1, concat(pte1[31:20], vpn0, word[9:0]), concat(pte0[31:10], word[9:0]))

    @isa.translate
    def translate(m, vaddr, units, access):
        """Alignment, and the fetch range (loads and stores check theirs in the instruction,
        see ``ea``); Bare or Sv32 below M (§4.1.11); then PMP and the bus on the result."""
        misaligned, access_fault, _ = FAULTS[access]
        if units > 1:  # the instruction has checked it already (``ea``); kept so a translation stays in one page
            m.trap_if(vaddr[{2: 0, 4: 1}[units]:0] != 0, misaligned, info=zext(vaddr, W))
        if access == "fetch":
            m.trap_if(m.pc[1:0] != 0, misaligned, info=m.pc)
            m.trap_if(m.pc[31:MEM] != 0, access_fault, info=m.pc)
        priv = eff_priv(m, access)
        translated = land(m.satp_mode == 1, priv != M_MODE)
        # everything below depends on the address only through its word (bits 13:2), so an
        # aligned access and each of its bytes share one walk and one PMP check
        word = vaddr[MEM - 1:2]
        pw = ite(translated, walk(m, word, access, priv, translated, zext(vaddr, W)), zext(word, 32))
        m.trap_if(lnot(land(phys_ok(pw), pmp_ok(m, pw, priv, access))), access_fault, info=zext(vaddr, W))
        return concat(pw[MEM - 3:0], vaddr[1:0])

    # --- trap entry (Vol. II §3.1.6.1, §3.1.8, §4.1.1) -------------------------------------------
    @isa.on_trap
    def trap(m, cause, info):
        """An exception below M whose medeleg bit is set goes to S: scause, sepc, stval,
        SPP := priv, SPIE := SIE, SIE := 0, priv := S, pc := stvec.BASE. Otherwise to M:
        mcause, mepc, mtval, MPP := priv, MPIE := MIE, MIE := 0, priv := M, pc := mtvec.BASE
        (exceptions always use BASE, also when the vector is in vectored mode)."""
        code = cause.code & 0xFF
        to_s = land(m.priv != M_MODE, m.medeleg[code] == 1)
        for f, v in (("scause", const(code, W)), ("sepc", m.pc), ("stval", info), ("SPP", m.priv[0]),
                     ("SPIE", m.SIE), ("SIE", const(0, 1))):
            m.set_if(to_s, f, v)
        for f, v in (("mcause", const(code, W)), ("mepc", m.pc), ("mtval", info), ("MPP", m.priv),
                     ("MPIE", m.MIE), ("MIE", const(0, 1))):
            m.set_if(lnot(to_s), f, v)
        m.priv = ite(to_s, const(S_MODE, 2), const(M_MODE, 2))
        m.pc = ite(to_s, m.stvec, m.mtvec) & ~3

    # --- CSRs (Vol. II ch. 2; Sail check_CSR) ---------------------------------------------------
    def csr_table(m):
        """CSR number -> (read value, write function or None when read-only). A write
        function ``wr(v, when)`` writes the new value ``v`` under the 1-bit ``when``, with the
        CSR's WARL rules."""
        t = {}

        def plain(f, keep=0xFFFFFFFF):
            t[CSR[f]] = (m.read(f), lambda v, when, f=f, k=keep: m.set_if(when, f, v & k))

        def status_write(view):
            def wr(v, when):
                for f in view:
                    hi, lo = MSTATUS[f]
                    if f == "MPP":  # WARL: 2 is not a mode; a write of it keeps the old value
                        m.set_if(land(when, v[12:11] != 2), "MPP", v[12:11])
                    else:
                        m.set_if(when, f, v[hi:lo])
            return wr

        t[CSR["mstatus"]] = (m.mstatus, status_write(tuple(MSTATUS)))
        t[CSR["sstatus"]] = (m.sstatus, status_write(SSTATUS))
        for f in ("mscratch", "sscratch", "mtval", "stval", "mcause", "scause"):
            plain(f)
        plain("mepc", 0xFFFFFFFC)  # IALIGN = 32: bits 1:0 are 0 (§3.1.14)
        plain("sepc", 0xFFFFFFFC)
        for f in ("mtvec", "stvec"):  # MODE >= 2 is reserved: such a write keeps the old value
            t[CSR[f]] = (m.read(f), lambda v, when, f=f: m.set_if(land(when, ule(v[1:0], 1)), f, v))
        plain("medeleg", MEDELEG_MASK)
        plain("mideleg", GUEST_MIDELEG)  # only S-level interrupts can be delegated (§3.1.8)
        mideleg = m.mideleg

        def irq_csr(prefix, name, writable, sview):
            """mie/mip, and sie/sip: the bits mideleg delegates, the others read-only 0 (§4.1.3)."""
            bits = S_IRQ if sview else tuple(IRQ)
            val = const(0, W)
            for i in bits:
                b = m.read(f"{prefix}_{i}")
                shown = b & mideleg[IRQ[i]] if sview else b
                val = val | (zext(shown, W) << IRQ[i])

            def wr(v, when):
                for i in writable:
                    ok = land(when, mideleg[IRQ[i]] == 1) if sview else when
                    m.set_if(ok, f"{prefix}_{i}", v[IRQ[i]])
            t[CSR[name]] = (val, wr)

        irq_csr("ie", "mie", tuple(IRQ), False)
        irq_csr("ie", "sie", S_IRQ, True)
        irq_csr("ip", "mip", MIP_WRITABLE, False)
        irq_csr("ip", "sip", ("SS",), True)  # S-mode may write only SSIP (§4.1.3)
        for f in ("mcounteren", "scounteren"):
            t[CSR[f]] = (zext(m.read(f), W), lambda v, when, f=f: m.set_if(when, f, v[2:0]))

        def satp_write(v, when):
            m.set_if(when, "satp_mode", v[31])
            m.set_if(when, "satp_ppn", v[21:0])
        t[CSR["satp"]] = (concat(m.satp_mode, const(0, 9), m.satp_ppn), satp_write)
        for f, lo_name, hi_name in (("mcycle", "mcycle", "mcycleh"), ("minstret", "minstret", "minstreth")):
            t[CSR[lo_name]] = (m.read(f)[31:0], lambda v, when, f=f: m.set_if(when, f, concat(m.read(f)[63:32], v)))
            t[CSR[hi_name]] = (m.read(f)[63:32], lambda v, when, f=f: m.set_if(when, f, concat(v, m.read(f)[31:0])))
        for f, lo_name, hi_name in (("mcycle", "cycle", "cycleh"), ("mtime", "time", "timeh"),
                                    ("minstret", "instret", "instreth")):
            t[CSR[lo_name]] = (m.read(f)[31:0], None)
            t[CSR[hi_name]] = (m.read(f)[63:32], None)
        ignore = lambda v, when: None  # noqa: E731 -- WARL fields with one legal value
        for f, v in (("mvendorid", 0), ("marchid", 0), ("mimpid", 0), ("mhartid", 0), ("mconfigptr", 0),
                     ("mstatush", 0), ("mcountinhibit", 0), ("misa", MISA)):
            t[CSR[f]] = (const(v, W), None if CSR[f] >> 10 == 3 else ignore)

        def cfg_write(v, when):
            for k in range(NPMP):
                old = m.read(f"pmp{k}cfg")
                new = v[8 * k + 7:8 * k] & 0x9F  # bits 6:5 are reserved (0)
                # a locked entry ignores writes; R = 0, W = 1 is reserved: such a write keeps the old value
                m.set_if(land(when, old[7] == 0, lnot(land(new[0] == 0, new[1] == 1))), f"pmp{k}cfg", new)
        t[CSR["pmpcfg0"]] = (concat(*[m.read(f"pmp{k}cfg") for k in reversed(range(NPMP))]), cfg_write)
        for k in range(1, 4):
            t[CSR[f"pmpcfg{k}"]] = (const(0, W), ignore)
        for k in range(16):
            if k >= NPMP:
                t[CSR[f"pmpaddr{k}"]] = (const(0, W), ignore)
                continue
            locked = m.read(f"pmp{k}cfg")[7] == 1
            if k + 1 < NPMP:  # a locked TOR entry above also locks this address (§3.7.1)
                nxt = m.read(f"pmp{k + 1}cfg")
                locked = lor(locked, land(nxt[7] == 1, nxt[4:3] == 1))
            t[CSR[f"pmpaddr{k}"]] = (m.read(f"pmpaddr{k}"),
                                     lambda v, when, k=k, locked=locked: m.set_if(land(when, lnot(locked)),
                                                                                 f"pmpaddr{k}", v))
        return t

    #: counter CSRs: number -> counter-enable bit (Vol. II §3.1.11, §4.1.5)
    COUNTERS = {CSR["cycle"]: 0, CSR["time"]: 1, CSR["instret"]: 2,
                CSR["cycleh"]: 0, CSR["timeh"]: 1, CSR["instreth"]: 2}

    def csr_op(m, csr, rd, src, op, writes):
        """Zicsr (Vol. I ch. 9) with the access rules of Vol. II §2.1 and Sail's check_CSR:
        no such CSR, or a write to a read-only one (csr[11:10] = 3), is an illegal instruction
        in every mode; csr[9:8] above the privilege level, satp in S-mode with TVM = 1
        (§3.1.6.5), or a counter its mcounteren/scounteren bit does not enable (§3.1.11)
        is an illegal instruction by privilege. ``op`` combines the old value and ``src``;
        ``writes`` is the 1-bit condition under which the CSR is written at all."""
        t = csr_table(m)
        known = lor(*[csr == n for n in t], *[land(uge(csr, lo), ule(csr, hi)) for lo, hi in ZERO_RANGES])
        m.trap_if(lnot(known), ILLEGAL)
        m.trap_if(land(writes, csr[11:10] == 3), ILLEGAL)
        m.trap_if(ugt(csr[9:8], m.priv), ILLEGAL_PRIV)
        m.trap_if(land(csr == CSR["satp"], m.priv == S_MODE, m.TVM == 1), ILLEGAL_PRIV)
        hpm = lor(land(uge(csr, 0xC03), ule(csr, 0xC1F)), land(uge(csr, 0xC83), ule(csr, 0xC9F)))
        counter = lor(hpm, *[csr == n for n in COUNTERS])
        bit_m, bit_s = const(0, 1), const(0, 1)  # the hpm enables are 0
        for n, b in COUNTERS.items():
            bit_m = ite(csr == n, m.mcounteren[b], bit_m)
            bit_s = ite(csr == n, m.scounteren[b], bit_s)
        m.trap_if(land(counter, m.priv != M_MODE, bit_m == 0), ILLEGAL_PRIV)
        m.trap_if(land(counter, m.priv == U_MODE, bit_s == 0), ILLEGAL_PRIV)
        old = const(0, W)
        for n, (val, _) in t.items():
            old = ite(csr == n, val, old)
        new = op(old, src)
        for n, (_, wr) in t.items():
            if wr is not None:
                wr(new, land(writes, csr == n))
        set_x(m, rd, old)

    # --- helpers -------------------------------------------------------------------------------
    def xr(m, r):
        """x[r], with x0 = 0 (Vol. I §2.1)."""
        return ite(r == 0, const(0, W), m.x[r])

    def set_x(m, rd, v):
        m.x[rd] = ite(rd == 0, m.x[rd], v)

    def ea(m, base, imm, units, access):
        """The effective address rs1 + imm; misaligned (Vol. I §2.6: an implementation may
        trap) and out-of-memory addresses (bits 31:14 set, see the module docstring) fault
        here, before the translation."""
        misaligned, access_fault, _ = FAULTS[access]
        a = base + sext(imm, W)
        if units > 1:
            m.trap_if(a[{2: 0, 4: 1}[units]:0] != 0, misaligned, info=a)
        m.trap_if(a[31:MEM] != 0, access_fault, info=a)
        return a[MEM - 1:0]

    def jump(m, target):
        """Vol. I §2.5: a jump or taken branch to an address not 4-byte aligned raises
        instruction-address-misaligned (no C extension)."""
        m.trap_if(target[1:0] != 0, c["inst_misaligned"], info=target)
        m.pc = target

    R = Reg("x")

    # =========================== RV32I: integer computation (Vol. I §2.4) ======================
    def op_imm(name, funct3, fn, doc):
        def sem(m, rd, rs1, imm):
            set_x(m, rd, fn(xr(m, rs1), sext(imm, W)))
        sem.__name__ = sem.__qualname__ = name
        sem.__doc__ = doc
        isa.instruction(f"{name} {{rd}}, {{rs1}}, {{imm}}",
                        encoding=f"[{{imm:12}} {{rs1:5}} {funct3} {{rd:5}} 0010011]",
                        rd=R, rs1=R, imm=Imm(12, signed=True))(sem)

    op_imm("ADDI", "000", lambda a, b: a + b, "Vol. I §2.4.1 ADDI: rd := rs1 + sext(imm); ADDI x0, x0, 0 is NOP.")
    op_imm("SLTI", "010", lambda a, b: zext(slt(a, b), W), "Vol. I §2.4.1 SLTI: rd := (rs1 <s sext(imm)).")
    op_imm("SLTIU", "011", lambda a, b: zext(ult(a, b), W), "Vol. I §2.4.1 SLTIU: rd := (rs1 <u sext(imm)).")
    op_imm("XORI", "100", lambda a, b: a ^ b, "Vol. I §2.4.1 XORI.")
    op_imm("ORI", "110", lambda a, b: a | b, "Vol. I §2.4.1 ORI.")
    op_imm("ANDI", "111", lambda a, b: a & b, "Vol. I §2.4.1 ANDI.")

    def shift_imm(name, funct7, funct3, fn, doc):
        def sem(m, rd, rs1, shamt):
            set_x(m, rd, fn(xr(m, rs1), zext(shamt, W)))
        sem.__name__ = sem.__qualname__ = name
        sem.__doc__ = doc
        isa.instruction(f"{name} {{rd}}, {{rs1}}, {{shamt}}",
                        encoding=f"[{funct7} {{shamt:5}} {{rs1:5}} {funct3} {{rd:5}} 0010011]",
                        rd=R, rs1=R, shamt=Imm(5))(sem)

    shift_imm("SLLI", "0000000", "001", lambda a, s: a << s, "Vol. I §2.4.1 SLLI: logical left shift by shamt.")
    shift_imm("SRLI", "0000000", "101", lambda a, s: a >> s, "Vol. I §2.4.1 SRLI: logical right shift.")
    shift_imm("SRAI", "0100000", "101", lambda a, s: ashr(a, s), "Vol. I §2.4.1 SRAI: arithmetic right shift.")

    @isa.instruction("LUI {rd}, {imm}", encoding="[{imm:20} {rd:5} 0110111]", rd=R, imm=Imm(20))
    def LUI(m, rd, imm):
        """Vol. I §2.4.1 LUI: rd := imm << 12."""
        set_x(m, rd, concat(imm, const(0, 12)))

    @isa.instruction("AUIPC {rd}, {imm}", encoding="[{imm:20} {rd:5} 0010111]", rd=R, imm=Imm(20))
    def AUIPC(m, rd, imm):
        """Vol. I §2.4.1 AUIPC: rd := pc + (imm << 12)."""
        set_x(m, rd, m.pc + concat(imm, const(0, 12)))

    def op_reg(name, funct7, funct3, fn, doc):
        def sem(m, rd, rs1, rs2):
            set_x(m, rd, fn(xr(m, rs1), xr(m, rs2)))
        sem.__name__ = sem.__qualname__ = name
        sem.__doc__ = doc
        isa.instruction(f"{name} {{rd}}, {{rs1}}, {{rs2}}",
                        encoding=f"[{funct7} {{rs2:5}} {{rs1:5}} {funct3} {{rd:5}} 0110011]",
                        rd=R, rs1=R, rs2=R)(sem)

    for name, f7, f3, fn in (
        ("ADD", "0000000", "000", lambda a, b: a + b), ("SUB", "0100000", "000", lambda a, b: a - b),
        ("SLL", "0000000", "001", lambda a, b: a << zext(b[4:0], W)),
        ("SLT", "0000000", "010", lambda a, b: zext(slt(a, b), W)),
        ("SLTU", "0000000", "011", lambda a, b: zext(ult(a, b), W)),
        ("XOR", "0000000", "100", lambda a, b: a ^ b),
        ("SRL", "0000000", "101", lambda a, b: a >> zext(b[4:0], W)),
        ("SRA", "0100000", "101", lambda a, b: ashr(a, zext(b[4:0], W))),
        ("OR", "0000000", "110", lambda a, b: a | b), ("AND", "0000000", "111", lambda a, b: a & b),
    ):
        op_reg(name, f7, f3, fn, f"Vol. I §2.4.2 {name} (shift amounts are rs2[4:0]).")

    # =========================== control transfer (Vol. I §2.5) =================================
    @isa.instruction("JAL {rd}, {imm}", encoding="[imm[20] @ imm[10..1] @ imm[11] @ imm[19..12] @ {rd:5} @ 1101111]",
                     rd=R, imm=Target(21, pcrel=True))
    def JAL(m, rd, imm):
        """Vol. I §2.5.1 JAL: rd := pc + 4; pc := pc + sext(imm) (J-type immediate)."""
        jump(m, m.rel(imm))
        set_x(m, rd, m.next_pc)

    @isa.instruction("JALR {rd}, {imm}({rs1})", encoding="[{imm:12} {rs1:5} 000 {rd:5} 1100111]",
                     rd=R, rs1=R, imm=Imm(12, signed=True))
    def JALR(m, rd, rs1, imm):
        """Vol. I §2.5.1 JALR: pc := (rs1 + sext(imm)) & ~1; rd := pc + 4."""
        jump(m, (xr(m, rs1) + sext(imm, W)) & ~1)
        set_x(m, rd, m.next_pc)

    def branch(name, funct3, cond, doc):
        def sem(m, rs1, rs2, imm):
            taken = cond(xr(m, rs1), xr(m, rs2))
            target = m.rel(imm)
            m.trap_if(land(taken, target[1:0] != 0), c["inst_misaligned"], info=target)
            m.pc = ite(taken, target, m.next_pc)
        sem.__name__ = sem.__qualname__ = name
        sem.__doc__ = doc
        isa.instruction(f"{name} {{rs1}}, {{rs2}}, {{imm}}",
                        encoding=f"[imm[12] @ imm[10..5] @ {{rs2:5}} @ {{rs1:5}} @ {funct3} @ imm[4..1] @ imm[11] "
                                 f"@ 1100011]", rs1=R, rs2=R, imm=Target(13, pcrel=True))(sem)

    for name, f3, cond in (("BEQ", "000", lambda a, b: a == b), ("BNE", "001", lambda a, b: a != b),
                           ("BLT", "100", slt), ("BGE", "101", lambda a, b: lnot(slt(a, b))),
                           ("BLTU", "110", ult), ("BGEU", "111", uge)):
        branch(name, f3, cond, f"Vol. I §2.5.2 {name}: pc := pc + sext(imm) when taken (B-type immediate).")

    # =========================== loads and stores (Vol. I §2.6) =================================
    # A multi-byte access is written as one access per byte, little-endian (Vol. I §1.4).
    # It is aligned (``ea``), so its bytes share one word, one walk and one PMP check, and
    # fault together: the same semantics as one access of ``units`` bytes. Written per byte
    # (``byte``), every byte's translation is one term, and the very term a guest's view of
    # that byte uses, which is what lets the solver decide these instructions quickly
    # (docs/riscv.md).
    def byte(a, k, units):
        """Byte ``k`` of the aligned access at ``a``: ``a + k``, spelled with ``a``'s own word
        bits so every byte's translation is the same term (``translate`` uses bits 13:2)."""
        if k == 0:
            return a
        low = {2: 1, 4: 2}[units]
        return concat(a[MEM - 1:low], const(k, low))

    def load(name, funct3, units, signed):
        def sem(m, rd, rs1, imm):
            a = ea(m, xr(m, rs1), imm, units, "read")
            parts = [m.load(byte(a, k, units)) for k in range(units)]  # byte 0 first: its fault is the one taken
            v = concat(*reversed(parts))
            set_x(m, rd, sext(v, W) if signed else zext(v, W))
        sem.__name__ = sem.__qualname__ = name
        sem.__doc__ = (f"Vol. I §2.6 {name}: rd := {'sign' if signed else 'zero'}-extended {8 * units}-bit load "
                       "at rs1 + sext(imm), through the translation and PMP.")
        isa.instruction(f"{name} {{rd}}, {{imm}}({{rs1}})",
                        encoding=f"[{{imm:12}} {{rs1:5}} {funct3} {{rd:5}} 0000011]",
                        rd=R, rs1=R, imm=Imm(12, signed=True))(sem)

    for args in (("LB", "000", 1, True), ("LH", "001", 2, True), ("LW", "010", 4, True),
                 ("LBU", "100", 1, False), ("LHU", "101", 2, False)):
        load(*args)

    def store(name, funct3, units):
        def sem(m, rs1, rs2, imm):
            a = ea(m, xr(m, rs1), imm, units, "write")
            for k in range(units):
                m.store(byte(a, k, units), xr(m, rs2)[8 * k + 7:8 * k])
        sem.__name__ = sem.__qualname__ = name
        sem.__doc__ = f"Vol. I §2.6 {name}: store the low {8 * units} bits of rs2 at rs1 + sext(imm)."
        isa.instruction(f"{name} {{rs2}}, {{imm}}({{rs1}})",
                        encoding=f"[imm[11..5] @ {{rs2:5}} @ {{rs1:5}} @ {funct3} @ imm[4..0] @ 0100011]",
                        rs1=R, rs2=R, imm=Imm(12, signed=True))(sem)

    for args in (("SB", "000", 1), ("SH", "001", 2), ("SW", "010", 4)):
        store(*args)

    # =========================== memory ordering (Vol. I §2.7, ch. 3) ===========================
    @isa.instruction("FENCE {pred}, {succ}", encoding="[0000 {pred:4} {succ:4} 00000 000 00000 0001111]",
                     pred=Imm(4), succ=Imm(4))
    def FENCE(m, pred, succ):
        """Vol. I §2.7 FENCE: orders memory and I/O; one hart with no caches: nothing to do."""

    @isa.instruction("FENCE.TSO", encoding="[1000 0011 0011 00000 000 00000 0001111]")
    def FENCE_TSO(m):
        """Vol. I §2.7 FENCE.TSO (fm = 1000, RW,RW): nothing to do on one hart."""

    @isa.instruction("FENCE.I", encoding="[000000000000 00000 001 00000 0001111]")
    def FENCE_I(m):
        """Vol. I ch. 3 (Zifencei) FENCE.I: no instruction cache is modelled."""

    # =========================== environment calls (Vol. I §2.8; Vol. II §3.3.1) ================
    @isa.instruction("ECALL", encoding="[000000000000 00000 000 00000 1110011]")
    def ECALL(m):
        """Vol. I §2.8 ECALL: environment-call-from-U/S/M exception (Vol. II §3.3.1), by priv."""
        m.trap_if(m.priv == U_MODE, c["ecall_u"])
        m.trap_if(m.priv == S_MODE, c["ecall_s"])
        m.trap(c["ecall_m"])

    @isa.instruction("EBREAK", encoding="[000000000001 00000 000 00000 1110011]")
    def EBREAK(m):
        """Vol. I §2.8 EBREAK: breakpoint exception in every mode (tval: the pc, §3.1.16)."""
        m.trap(c["breakpoint"], info=m.pc)

    # =========================== Zicsr (Vol. I ch. 9) ===========================================
    def csr_instr(name, funct3, imm, op, doc):
        if imm:
            def sem(m, rd, csr, uimm):
                src = zext(uimm, W)
                csr_op(m, csr, rd, src, op, lnot(uimm == 0) if name != "CSRRWI" else const(1, 1) == 1)
            ops = dict(rd=R, csr=Imm(12), uimm=Imm(5))
            syntax = f"{name} {{rd}}, {{csr}}, {{uimm}}"
            enc = f"[{{csr:12}} {{uimm:5}} {funct3} {{rd:5}} 1110011]"
        else:
            def sem(m, rd, csr, rs1):
                csr_op(m, csr, rd, xr(m, rs1), op, lnot(rs1 == 0) if name != "CSRRW" else const(1, 1) == 1)
            ops = dict(rd=R, csr=Imm(12), rs1=R)
            syntax = f"{name} {{rd}}, {{csr}}, {{rs1}}"
            enc = f"[{{csr:12}} {{rs1:5}} {funct3} {{rd:5}} 1110011]"
        sem.__name__ = sem.__qualname__ = name
        sem.__doc__ = doc
        isa.instruction(syntax, encoding=enc, **ops)(sem)

    csr_instr("CSRRW", "001", False, lambda old, s: s,
              "Vol. I §9.1 CSRRW: rd := csr; csr := rs1 (always written). Access rules: Vol. II §2.1.")
    csr_instr("CSRRS", "010", False, lambda old, s: old | s,
              "Vol. I §9.1 CSRRS: rd := csr; csr |= rs1, written only when rs1 is not x0.")
    csr_instr("CSRRC", "011", False, lambda old, s: old & ~s,
              "Vol. I §9.1 CSRRC: rd := csr; csr &= ~rs1, written only when rs1 is not x0.")
    csr_instr("CSRRWI", "101", True, lambda old, s: s, "Vol. I §9.1 CSRRWI: rd := csr; csr := uimm.")
    csr_instr("CSRRSI", "110", True, lambda old, s: old | s,
              "Vol. I §9.1 CSRRSI: rd := csr; csr |= uimm, written only when uimm is not 0.")
    csr_instr("CSRRCI", "111", True, lambda old, s: old & ~s,
              "Vol. I §9.1 CSRRCI: rd := csr; csr &= ~uimm, written only when uimm is not 0.")

    # =========================== privileged instructions (Vol. II §3.3, §4.2) ===================
    @isa.instruction("MRET", encoding="[0011000 00010 00000 000 00000 1110011]")
    def MRET(m):
        """Vol. II §3.3.2 MRET (Sail: illegal below M): priv := MPP, MIE := MPIE, MPIE := 1,
        MPP := U, MPRV := 0 when the new mode is not M (§3.1.6.3); pc := mepc."""
        m.trap_if(m.priv != M_MODE, ILLEGAL_PRIV)
        m.priv = m.MPP
        m.MIE = m.MPIE
        m.MPIE = const(1, 1)
        m.MPP = const(U_MODE, 2)
        m.set_if(m.MPP != M_MODE, "MPRV", const(0, 1))
        m.pc = m.mepc

    @isa.instruction("SRET", encoding="[0001000 00010 00000 000 00000 1110011]")
    def SRET(m):
        """Vol. II §3.3.2 SRET: illegal in U-mode, and in S-mode when mstatus.TSR = 1
        (§3.1.6.5); priv := SPP, SIE := SPIE, SPIE := 1, SPP := U, MPRV := 0; pc := sepc."""
        m.trap_if(m.priv == U_MODE, ILLEGAL_PRIV)
        m.trap_if(land(m.priv == S_MODE, m.TSR == 1), ILLEGAL_PRIV)
        m.priv = zext(m.SPP, 2)
        m.SIE = m.SPIE
        m.SPIE = const(1, 1)
        m.SPP = const(0, 1)
        m.MPRV = const(0, 1)
        m.pc = m.sepc

    @isa.instruction("WFI", encoding="[0001000 00101 00000 000 00000 1110011]")
    def WFI(m):
        """Vol. II §3.3.3 WFI (Sail: illegal in U-mode; in S-mode when mstatus.TW = 1,
        §3.1.6.5). It resumes when a locally enabled interrupt is pending (mie & mip != 0),
        here at once, as a NOP (no interrupt is taken in this model); with none pending the
        hart waits forever -- nothing modelled sets a pending bit -- which is a halt."""
        m.trap_if(m.priv == U_MODE, ILLEGAL_PRIV)
        m.trap_if(land(m.priv == S_MODE, m.TW == 1), ILLEGAL_PRIV)
        m.halt_if((m.mie & m.mip) == 0)

    @isa.instruction("SFENCE.VMA {rs1}, {rs2}", encoding="[0001001 {rs2:5} {rs1:5} 000 00000 1110011]",
                     rs1=R, rs2=R)
    def SFENCE_VMA(m, rs1, rs2):
        """Vol. II §4.2.1 SFENCE.VMA: illegal in U-mode, and in S-mode when mstatus.TVM = 1
        (§3.1.6.5); no TLB is modelled, so it has no other effect."""
        m.trap_if(m.priv == U_MODE, ILLEGAL_PRIV)
        m.trap_if(land(m.priv == S_MODE, m.TVM == 1), ILLEGAL_PRIV)

    return isa


riscv32 = build("riscv32", doc="RV32I + Zicsr, M/S/U, PMP, Sv32; classic: guest kernel in U-mode under an "
                "M-mode monitor.", guest_priv=U_MODE)
riscv32_s = build("riscv32-s", doc="RV32I + Zicsr, M/S/U, PMP, Sv32; guest kernel in S-mode under an M-mode "
                  "monitor with mstatus.TVM = TW = TSR = 0.", guest_priv=S_MODE, trap_bits=0)
riscv32_s_trap = build("riscv32-s-trap", doc="RV32I + Zicsr, M/S/U, PMP, Sv32; guest kernel in S-mode under an "
                       "M-mode monitor with mstatus.TVM = TW = TSR = 1.", guest_priv=S_MODE, trap_bits=1)

MACHINES = [riscv32, riscv32_s, riscv32_s_trap]
