"""Behaviour sensitivity under a translation that may alias (page tables): two states a guest
cannot tell apart alias alike, so a plain store is not location-sensitive; an instruction that
does reveal the mapping still is."""

from __future__ import annotations

from virtcheck.checks.classify import FieldClasses, classify_instruction, translation_injective
from virtcheck.checks.verdict import Budget
from virtcheck.isa.lang import MEMORY, PRIVILEGE, SYSTEM, USER, Imm, Isa, concat, const, zext


def paged() -> Isa:
    """16 bytes in four 4-byte pages; virtual page p maps to physical page ``pageN`` (system),
    so two virtual pages may share one physical page."""
    isa = Isa("paged", word=16)
    isa.field("A", 8, USER)
    isa.pc("PC", 4)
    isa.field("S", 1, SYSTEM)
    for k in range(4):
        isa.field(f"page{k}", 2, SYSTEM)
    isa.memory("mem", 4, 8)
    isa.cause("fault", MEMORY, 1)
    priv = isa.cause("priv", PRIVILEGE, 2)
    isa.mode("sup", lambda m: m.S == 1, supervisor=True)
    isa.mode("user", lambda m: m.S == 0)
    isa.guest(lambda m: m.S == 0, doc="S = 0")

    @isa.translate
    def translate(m, vaddr, units, access):
        page = m.page0
        for k in range(1, 4):
            page = _pick(m, vaddr[3:2], page, k)
        return concat(page, vaddr[1:0])

    @isa.on_trap
    def trap(m, cause, info):
        m.S = const(1, 1)

    @isa.instruction("NOP")
    def NOP(m):
        """Nothing."""

    @isa.instruction("ST {a}", a=Imm(4))
    def ST(m, a):
        """mem[a] := A through the pages."""
        m.store(a, m.A)

    @isa.instruction("LD {a}", a=Imm(4))
    def LD(m, a):
        """A := mem[a] through the pages."""
        m.A = m.load(a)

    @isa.instruction("RDPAGE")
    def RDPAGE(m):
        """A := page0 (reveals the mapping, without trapping)."""
        m.A = zext(m.page0, 8)

    @isa.instruction("SETPAGE")
    def SETPAGE(m):
        """Privileged: page0 := A[1:0]."""
        m.trap_if(m.S == 0, priv)
        m.page0 = m.A[1:0]

    return isa.finalize()


def _pick(m, vpage, page, k):
    from virtcheck.isa.lang import ite

    return ite(vpage == k, m.read(f"page{k}"), page)


def test_store_through_aliasing_pages_is_not_location_sensitive():
    isa = paged()
    assert not translation_injective(isa, "mem", Budget())
    fc = FieldClasses.of(isa)
    for name in ("ST", "LD"):
        r = classify_instruction(isa, isa.by_mnemonic(name), Budget(), fc)
        assert r.value("sensitive") is False, name
    r = classify_instruction(isa, isa.by_mnemonic("RDPAGE"), Budget(), fc)
    assert (r.value("location_sensitive"), r.value("privileged")) == (True, False)


def test_without_the_aliasing_instances_the_store_is_not_proved(monkeypatch):
    """The instances are what decide it: without them (read- and write-translated alike) the
    solver finds pairs that alias differently, whose witnesses the replay refuses (so the
    answer is not a proof)."""
    from virtcheck.checks import classify

    isa = paged()
    monkeypatch.setattr(classify, "_same_aliasing", lambda seen, compared: [])
    monkeypatch.setattr(classify.InstructionClassifier, "_same_write_sharing", lambda *args: [])
    r = classify_instruction(isa, isa.by_mnemonic("ST"), Budget(), FieldClasses.of(isa))
    assert r.value("sensitive") is not False
