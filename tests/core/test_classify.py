"""Classification on hand-made instructions whose answers are known, on the bundled
machines (with the historical expectations as oracles), and honest unknowns."""

import pytest

from virtcheck.checks import witness as W
from virtcheck.checks.classify import check_all, classify_isa
from virtcheck.checks.results import PROPERTIES
from virtcheck.checks.verdict import Budget, Verdict
from virtcheck.isa.lang import (
    CALL, MEMORY, PRIVILEGE, SYSTEM, USER, Imm, Isa, Reg, concat, const, ite, ule, ult, zext,
)


def _tiny():
    """A machine with one instruction per classification, answers known by construction."""
    isa = Isa("known", word=16)
    isa.bank("r", 4, 8, USER)
    isa.pc("pc", 8)
    isa.field("mode", 1, SYSTEM)  # 1 = supervisor
    isa.field("base", 8, SYSTEM)
    isa.field("limit", 8, SYSTEM)
    isa.field("ie", 1, SYSTEM)
    isa.memory("mem", 8, 16)
    isa.cause("bounds", MEMORY, 1)
    isa.cause("priv", PRIVILEGE, 2)
    isa.cause("call", CALL, 3)
    isa.mode("sup", lambda m: m.mode == 1, supervisor=True)
    isa.mode("usr", lambda m: m.mode == 0)
    isa.guest(lambda m: m.mode == 0, doc="mode = 0")

    @isa.translate
    def tr(m, vaddr, units, access):
        m.trap_if(~ult(vaddr, m.limit), "bounds")
        return m.base + vaddr

    @isa.on_trap
    def trap(m, cause, info):
        m.mode = 1
        m.pc = 0

    R = Reg("r")

    @isa.instruction("NOP")
    def NOP(m):
        pass

    @isa.instruction("ADD {rd}, {rs}", rd=R, rs=R)
    def ADD(m, rd, rs):
        m.r[rd] = m.r[rd] + m.r[rs]

    @isa.instruction("LOAD {rd}, {rs}", rd=R, rs=R)
    def LOAD(m, rd, rs):
        m.r[rd] = m.load(m.r[rs])[7:0]

    @isa.instruction("STORE {rd}, {rs}", rd=R, rs=R)
    def STORE(m, rd, rs):
        m.store(m.r[rs], zext(m.r[rd], 16))

    @isa.instruction("SVC")
    def SVC(m):
        m.trap("call")

    @isa.instruction("PNOP")
    def PNOP(m):  # privileged, and innocuous
        m.trap_if(m.mode == 0, "priv")

    @isa.instruction("SETBASE {rs}", rs=R)
    def SETBASE(m, rs):  # privileged, control-sensitive
        m.trap_if(m.mode == 0, "priv")
        m.base = m.r[rs]

    @isa.instruction("TOUSER")
    def TOUSER(m):  # control-sensitive from supervisor only: JRST-1-like
        m.mode = 0

    @isa.instruction("GETMODE {rd}", rd=R)
    def GETMODE(m, rd):  # mode-sensitive
        m.r[rd] = zext(m.mode, 8)

    @isa.instruction("GETBASE {rd}", rd=R)
    def GETBASE(m, rd):  # location-sensitive
        m.r[rd] = m.base

    @isa.instruction("GETIE {rd}", rd=R)
    def GETIE(m, rd):  # resource-sensitive
        m.r[rd] = zext(m.ie, 8)

    @isa.instruction("STI")
    def STI(m):  # control-sensitive in every mode, user-sensitive
        m.ie = const(1, 1)

    return isa.finalize()


EXPECTED = {  # mnemonic: properties that are True (all others False)
    "NOP": {"innocuous"},
    "ADD": {"innocuous"},
    "LOAD": {"innocuous"},
    "STORE": {"innocuous"},
    "SVC": {"innocuous"},
    "PNOP": {"privileged", "innocuous"},
    "SETBASE": {"privileged", "control_sensitive", "sensitive"},
    "TOUSER": {"control_sensitive", "sensitive"},
    "GETMODE": {"mode_sensitive", "behaviour_sensitive", "sensitive"},
    "GETBASE": {"location_sensitive", "behaviour_sensitive", "user_sensitive", "sensitive"},
    "GETIE": {"resource_sensitive", "behaviour_sensitive", "user_sensitive", "sensitive"},
    "STI": {"control_sensitive", "user_sensitive", "sensitive"},
}


@pytest.fixture(scope="module")
def known():
    return classify_isa(_tiny())


@pytest.mark.parametrize("mnemonic", list(EXPECTED))
def test_hand_made_instructions_classify_as_built(known, mnemonic):
    r = known.instruction(mnemonic)
    got = {p for p in PROPERTIES if r.value(p) is True}
    assert got == EXPECTED[mnemonic]
    assert all(r.value(p) is False for p in PROPERTIES if p not in got)


def test_hand_made_theorems(known):
    assert known.theorems["1"].verdict is Verdict.FAILS
    assert known.theorems["1"].violations == ["TOUSER", "GETMODE", "GETBASE", "GETIE", "STI"]
    assert known.theorems["3"].violations == ["GETBASE", "GETIE", "STI"]


def test_every_witness_replays(known):
    for r in known.instructions:
        for w in r.witnesses():
            assert w.replayed, w.explanation


# Oracles from the literature: PG 1974 Theorem 1 holds for the third-generation machine;
# each historical instruction breaks it (PDP-10 JRST 1: PG §8 says it leaves Theorem 3
# intact; 360/67 LRA reveals the real address in user mode, so it breaks Theorem 3 too).
BUNDLED = {
    "pg3": ([], []),
    "pg3-jrst": (["JRST1"], []),
    "pg3-mfsr": (["MFSR"], []),
    "pg3-lra": (["LRA"], ["LRA"]),
    "pg3-popf": (["POPF"], []),
}


@pytest.fixture(scope="module")
def bundled_run():
    from virtcheck.isa.machines import bundled

    b = bundled()
    return {r.isa: r for r in check_all([b[n] for n in BUNDLED], Budget()).results}


@pytest.mark.parametrize("name", list(BUNDLED))
def test_bundled_machines_fail_exactly_where_built(bundled_run, name):
    r = bundled_run[name]
    t1, t3 = BUNDLED[name]
    assert r.theorems["1"].violations == t1 and r.theorems["3"].violations == t3
    assert r.theorems["1"].verdict is (Verdict.FAILS if t1 else Verdict.HOLDS)
    assert r.theorems["3"].verdict is (Verdict.FAILS if t3 else Verdict.HOLDS)
    assert not r.theorems["1"].undecided and not r.theorems["3"].undecided


@pytest.mark.parametrize("name,mnemonic,prop", [
    ("pg3-jrst", "JRST1", "control_sensitive"),
    ("pg3-mfsr", "MFSR", "mode_sensitive"),
    ("pg3-lra", "LRA", "location_sensitive"),
    ("pg3-popf", "POPF", "control_sensitive"),
])
def test_variant_witnesses_replay_on_the_concrete_backend(bundled_run, machines, name, mnemonic, prop):
    isa = machines[name]
    w = bundled_run[name].instruction(mnemonic).props[prop].witness
    ins = isa.by_mnemonic(mnemonic)
    outs = [W.run(isa, ins, w.operands, s) for s in w.states]
    assert all(o.kind == "ok" for o, _ in outs)
    if prop == "control_sensitive":
        (_, post), = outs
        assert any(post.fields[f] != w.states[0].fields[f] for f in ("M", "IE", "l", "b"))
    else:
        (_, pa), (_, pb) = outs
        assert any(pa.fields[f] != pb.fields[f] for f in isa.fields if isa.fields[f].role.value == "user")
    assert w.explanation.startswith(f"{name}: {mnemonic} is ")
    # and the instruction is not privileged, with its own witness
    pw = bundled_run[name].instruction(mnemonic).props["privileged"].witness
    assert pw.replayed and pw.outcomes[1].kind == "ok"


def test_pg3_privileged_set_is_derived(bundled_run):
    r = bundled_run["pg3"]
    assert [i.mnemonic for i in r.instructions if i.value("privileged")] == ["HALT", "LPSW", "SETR", "GETR"]


def test_unknown_is_never_a_pass():
    """With a budget too small to decide anything, nothing may come out as proved."""
    from virtcheck.isa.machines import bundled

    r = classify_isa(bundled()["pg3-jrst"], Budget(rlimit=1))
    assert r.theorems["1"].verdict in (Verdict.UNKNOWN, Verdict.FAILS)
    assert r.theorems["1"].verdict is not Verdict.HOLDS
    undecided = [i for i in r.instructions if i.value("privileged") is None]
    assert undecided and all("solver" in i.props["privileged"].reason for i in undecided)
