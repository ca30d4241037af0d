"""The bundled ``m68000`` and ``m68010`` (isa/machines/m68k.py).

Oracles, none of them the model itself:

* the classification: Popek & Goldberg, CACM 17(7), 1974 (Theorems 1 and 3) applied to the
  privileged-instruction list of Motorola's M68000PM/AD §6 ("Supervisor (privileged)
  instructions": ANDI/EORI/ORI to SR, MOVE to SR, MOVE USP, MOVEC, RESET, RTE, STOP, and on
  the MC68010 MOVE from SR) -- the textbook result is that the MC68000 fails Theorem 1
  exactly because MOVE from SR is unprivileged and sensitive;
* the encodings: GNU as (``m68k-linux-gnu-as -m68010``, Debian binutils-m68k-linux-gnu);
* the condition codes: a reference written here in integer arithmetic, not in the
  boolean formulas of PRM Table 3-18 that the model uses;
* exception frames: M68000UM/AD §6.3 (MC68000 three-word, MC68010 four-word format-0 frames).
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from virtcheck.checks.classify import classify_isa
from virtcheck.checks.verdict import Verdict
from virtcheck.checks.witness import run
from virtcheck.isa.asm import assemble, decode_units, disassemble_units, encode_units, format_instruction
from virtcheck.isa.concrete import compiled
from virtcheck.isa.machines import m68k
from virtcheck.isa.state import MachineState, Memory

M68000, M68010 = (isa.finalize() for isa in m68k.MACHINES)

#: M68000PM/AD §6: the supervisor instructions of each model that this file declares
PRIVILEGED_68000 = {"MOVE_to_SR", "MOVE_to_SR_imm", "ANDI_SR", "ORI_SR", "EORI_SR", "MOVE_from_USP",
                    "MOVE_to_USP", "RTE", "STOP", "RESET"}
PRIVILEGED_68010 = PRIVILEGED_68000 | {"MOVE_from_SR"} | {
    f"MOVEC_{a}_{b}" for rc in ("SFC", "DFC", "USP", "VBR") for a, b in ((rc, "d"), ("d", rc))}


@pytest.fixture(scope="module")
def results():
    return {isa.name: classify_isa(isa) for isa in (M68000, M68010)}


# --- classification -------------------------------------------------------------------------
def test_m68000_fails_theorem_1_exactly_by_move_from_sr(results):
    r = results["m68000"]
    assert r.theorems["1"].verdict is Verdict.FAILS
    assert r.theorems["1"].violations == ["MOVE_from_SR"]
    # MOVE SR reveals the interrupt mask and trace bit between two user-mode states too (PG §8)
    assert r.theorems["3"].verdict is Verdict.FAILS
    assert r.theorems["3"].violations == ["MOVE_from_SR"]
    ins = r.instruction("MOVE_from_SR")
    assert ins.value("mode_sensitive") is True and ins.value("resource_sensitive") is True


@pytest.mark.parametrize("name, expected", [("m68000", PRIVILEGED_68000), ("m68010", PRIVILEGED_68010)])
def test_privileged_set_is_the_manuals(results, name, expected):
    r = results[name]
    got = {i.mnemonic for i in r.instructions if i.value("privileged") is True}
    assert got == expected
    undecided = [i.mnemonic for i in r.instructions if i.value("sensitive") is None]
    assert undecided == []


def test_m68010_privileges_move_from_sr_and_adds_move_from_ccr(results):
    r = results["m68010"]
    assert r.instruction("MOVE_from_SR").value("privileged") is True
    assert r.instruction("MOVE_from_CCR").value("innocuous") is True
    assert r.theorems["3"].verdict is Verdict.HOLDS


def test_m68010_theorem_1_holds_and_rte_is_privileged_despite_its_format_error(results):
    """The MC68010's RTE takes a format error (an exception of its own, UM §6.4) on an
    invalid frame even in supervisor mode. The privileged test excludes such supervisor
    exceptions as it excludes memory traps (checks/classify.py), so RTE is privileged and
    MOVE from SR was the MC68000's only obstacle (PRM §6: "privileged in the MC68010")."""
    r = results["m68010"]
    assert r.instruction("RTE").value("privileged") is True
    assert r.theorems["1"].verdict is Verdict.HOLDS and r.theorems["1"].violations == []


def test_m68010_with_only_valid_frames_satisfies_theorem_1():
    """The same machine with RTE reading only format-0 frames holds: MOVE from SR was the
    MC68000's only obstacle (PRM §6: "privileged in the MC68010 and later")."""
    variant = M68010.derive("m68010-format0", doc="m68010, RTE without the format check")

    @variant.replace("RTE")
    def RTE(m):
        m68k._privileged(m)
        sp = m.a[7]
        m68k._load_sr(m, m68k._load(m, sp, 2), ssp=sp + 8)
        m.PC = m68k._load(m, sp + 2, 4)[15:0]

    r = classify_isa(variant.finalize())
    assert r.theorems["1"].verdict is Verdict.HOLDS
    assert r.theorems["3"].verdict is Verdict.HOLDS


def test_move_from_sr_witness_replays(results):
    ins = M68000.by_mnemonic("MOVE_from_SR")
    for prop in ("mode_sensitive", "resource_sensitive", "user_sensitive"):
        w = results["m68000"].instruction("MOVE_from_SR").props[prop].witness
        assert w.replayed, prop
        a, b = w.states
        oa, pa = run(M68000, ins, w.operands, a)
        ob, pb = run(M68000, ins, w.operands, b)
        assert oa.kind == ob.kind == "ok"
        assert {n: v for n, v in a.fields.items() if M68000.fields[n].role.value == "user"} == \
               {n: v for n, v in b.fields.items() if M68000.fields[n].role.value == "user"}
        dn = f"d{w.operands['dn']}"
        assert pa.fields[dn] != pb.fields[dn]
        assert pa.fields[dn] & 0xFFFF == _sr(a) and pb.fields[dn] & 0xFFFF == _sr(b)


def _sr(s: MachineState) -> int:
    f = s.fields
    return (f["T"] << 15 | f["S"] << 13 | f["I"] << 8 | f["X"] << 4 | f["N"] << 3 | f["Z"] << 2
            | f["V"] << 1 | f["C"])


# --- encodings -----------------------------------------------------------------------------
def _values(ins, rng: random.Random) -> list[list[int]]:
    """Operand vectors for ``ins``: the extremes and a few random ones."""
    out = []
    for k in range(4):
        vals = []
        for o in ins.operands:
            hi = o.domain_size - 1
            v = [0, hi, 1 if hi else 0][k] if k < 3 else rng.randint(0, hi)
            if _short_branch(ins, o) and v in (0, 0xFF):
                v = 1 if v == 0 else 0xFE  # 0 is the .W form; GNU as refuses -1 (below)
            if o.width == 32 and (v < 0x10000 or v >= 0xFFFF0000):
                v ^= 0x10000  # GNU as turns MOVE.L #small into MOVEQ, MOVEA.L #small into MOVEA.W
            if ins.mnemonic == "LEA_disp" and o.name == "disp" and v == 0:
                v = 2  # and LEA 0(An) into LEA (An)
            vals.append(v)
        out.append(vals)
    return out


def _short_branch(ins, o) -> bool:
    """Bcc.S: an 8-bit displacement of 0 means the .W form (PRM §4 Bcc)."""
    return ins.mnemonic.startswith("B") and ins.mnemonic.endswith("S") and o.name == "disp"


def _gas_line(ins, text: str) -> str:
    """Our syntax is GNU as's with --register-prefix-optional, except that a branch operand
    is the displacement (GNU as wants a target: PC + 2 + d)."""
    if ins.mnemonic[0] == "B" and ins.mnemonic[-1] in "SW":
        mn, d = text.split()
        return f"{mn} .+2+({d})"
    return text


@pytest.mark.skipif(not shutil.which("m68k-linux-gnu-as") or not shutil.which("m68k-linux-gnu-objcopy"),
                    reason="GNU binutils for m68k not installed (apt-get install binutils-m68k-linux-gnu)")
@pytest.mark.parametrize("isa", [M68000, M68010], ids=lambda i: i.name)
def test_every_form_agrees_with_gnu_as(isa, tmp_path):
    rng = random.Random(68010)
    lines, ours, seen = [], [], set()
    for ins in isa.instructions:
        for vals in _values(ins, rng):
            text = format_instruction(isa, ins, vals)
            cells = encode_units(isa, ins, vals)
            assert assemble(isa, text).words() == cells, text
            lines.append((ins, text, cells))
            seen.add(ins.mnemonic)
    assert seen == {i.mnemonic for i in isa.instructions}
    src = tmp_path / "t.s"
    src.write_text("".join(_gas_line(ins, text) + "\n" for ins, text, _ in lines))
    subprocess.run(["m68k-linux-gnu-as", "-m68010", "--register-prefix-optional", "-o", str(tmp_path / "t.o"),
                    str(src)], check=True)
    subprocess.run(["m68k-linux-gnu-objcopy", "-O", "binary", "-j", ".text", str(tmp_path / "t.o"),
                    str(tmp_path / "t.bin")], check=True)
    gas = list((tmp_path / "t.bin").read_bytes())
    at, bad = 0, []
    for ins, text, cells in lines:
        if gas[at:at + len(cells)] != cells:
            bad.append(f"{text}: ours {bytes(cells).hex()}, GNU as {bytes(gas[at:at + len(cells)]).hex()}")
        at += len(cells)
    assert bad == []
    assert at == len(gas)


@settings(max_examples=300)
@given(data=st.data())
def test_decoder_round_trips_every_form(data):
    isa = data.draw(st.sampled_from([M68000, M68010]))
    ins = data.draw(st.sampled_from(isa.instructions))
    vals = []
    for o in ins.operands:
        lo = 1 if _short_branch(ins, o) else 0
        vals.append(data.draw(st.integers(lo, o.domain_size - 1)))
    cells = encode_units(isa, ins, vals)
    assert len(cells) == ins.length
    assert decode_units(isa, cells + [0x4E, 0x71]) == (ins, tuple(vals))
    text = format_instruction(isa, ins, vals)
    assert assemble(isa, text).words() == cells
    assert disassemble_units(isa, cells) == [text]


def test_short_branch_with_zero_displacement_is_the_word_form():
    """PRM §4 Bcc: an 8-bit displacement of 0 announces a 16-bit displacement word."""
    assert decode_units(M68000, [0x67, 0x00, 0x01, 0x2C])[0].mnemonic == "BEQW"
    assert decode_units(M68000, [0x67, 0x04])[0].mnemonic == "BEQS"


def test_short_branch_displacement_minus_one_is_a_68000_byte_branch():
    """PRM §4 Bcc: $FF selects a 32-bit displacement on the MC68020 and later only; on the
    MC68000/MC68010 it is the displacement -1 (GNU as refuses to emit it even with -m68010)."""
    assert decode_units(M68000, [0x60, 0xFF]) == (M68000.by_mnemonic("BRAS"), (0xFF,))
    assert assemble(M68000, "BRAS -1").words() == [0x60, 0xFF]


def test_move_from_ccr_is_not_an_m68000_instruction():
    assert decode_units(M68000, [0x42, 0xC0]) is None
    assert decode_units(M68010, [0x42, 0xC0])[0].mnemonic == "MOVE_from_CCR"


# --- semantics: condition codes, stacks, frames ------------------------------------------------
def _state(isa, mem: dict[int, int] | None = None, **fields) -> MachineState:
    s = MachineState.zero(isa)
    s.fields.update(fields)
    s.memories["mem"] = Memory(0, dict(mem or {}))
    return s


def _exec(isa, mnemonic, state, **ops):
    ins = isa.by_mnemonic(mnemonic)
    return run(isa, ins, {o.name: ops[o.name] for o in ins.operands}, state)


def _ref_flags(op: str, d: int, s: int, x: int) -> tuple[int, dict]:
    """PRM §4 ADD/SUB/CMP/AND/OR/EOR on longs, from integer arithmetic."""
    M, sign = 0xFFFFFFFF, lambda v: v - (1 << 32) if v >> 31 else v
    if op in ("ADDL", "SUBL", "CMPL"):
        exact = d + s if op == "ADDL" else d - s
        signed = sign(d) + sign(s) if op == "ADDL" else sign(d) - sign(s)
        r = exact & M
        c = int(exact > M or exact < 0)
        f = {"N": r >> 31, "Z": int(r == 0), "V": int(not -(1 << 31) <= signed < (1 << 31)), "C": c,
             "X": x if op == "CMPL" else c}
        return (d if op == "CMPL" else r), f
    r = {"ANDL": d & s, "ORL": d | s, "EORL": d ^ s}[op]
    return r, {"N": r >> 31, "Z": int(r == 0), "V": 0, "C": 0, "X": x}


@settings(max_examples=200)
@given(op=st.sampled_from(["ADDL", "SUBL", "CMPL", "ANDL", "ORL", "EORL"]),
       d=st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF),
       s=st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF),
       x=st.integers(0, 1))
def test_condition_codes_follow_the_manual(op, d, s, x):
    out, post = _exec(M68000, op, _state(M68000, d1=d, d2=s, X=x), dn=1, dm=2)
    r, flags = _ref_flags(op, d, s, x)
    assert out.kind == "ok"
    assert post.fields["d1"] == r
    assert {k: post.fields[k] for k in flags} == flags


@pytest.mark.parametrize("name, cond", [(n, c) for n, c, _ in m68k.CONDITIONS])
def test_branch_conditions_follow_table_3_19(name, cond):
    """PRM Table 3-19, written out independently."""
    tests = {"HI": lambda N, Z, V, C: not C and not Z, "LS": lambda N, Z, V, C: C or Z,
             "CC": lambda N, Z, V, C: not C, "CS": lambda N, Z, V, C: C, "NE": lambda N, Z, V, C: not Z,
             "EQ": lambda N, Z, V, C: Z, "VC": lambda N, Z, V, C: not V, "VS": lambda N, Z, V, C: V,
             "PL": lambda N, Z, V, C: not N, "MI": lambda N, Z, V, C: N, "GE": lambda N, Z, V, C: N == V,
             "LT": lambda N, Z, V, C: N != V, "GT": lambda N, Z, V, C: N == V and not Z,
             "LE": lambda N, Z, V, C: Z or N != V}
    for bits in range(16):
        N, Z, V, C = (bits >> 3) & 1, (bits >> 2) & 1, (bits >> 1) & 1, bits & 1
        _, post = _exec(M68000, f"B{name}S", _state(M68000, PC=0x100, N=N, Z=Z, V=V, C=C), disp=0x10)
        assert post.fields["PC"] == (0x112 if tests[name](N, Z, V, C) else 0x102), (name, bits)


def test_move_to_ccr_and_rtr_leave_the_system_byte_alone():
    s = _state(M68000, {0x500: 0xFF, 0x501: 0xFF, 0x502: 0, 0x503: 0, 0x504: 0x12, 0x505: 0x34},
               d3=0xFFFF, S=0, T=1, I=5, a7=0x500)
    _, post = _exec(M68000, "MOVE_to_CCR", s, dn=3)
    assert (post.fields["T"], post.fields["S"], post.fields["I"]) == (1, 0, 5)
    assert [post.fields[f] for f in "XNZVC"] == [1, 1, 1, 1, 1]
    _, post = _exec(M68000, "RTR", s)
    assert (post.fields["T"], post.fields["S"], post.fields["I"]) == (1, 0, 5)
    assert post.fields["PC"] == 0x1234 and post.fields["a7"] == 0x506


@pytest.mark.parametrize("isa, frame", [(M68000, 6), (M68010, 8)], ids=["m68000", "m68010"])
def test_trap_frame_and_rte_round_trip(isa, frame):
    """UM §6.3: TRAP #3 from user mode switches to the SSP, stacks SR and the next PC (and on
    the MC68010 the format/vector word 0x008C), and enters the handler at vector 35; RTE
    returns to user mode with a7 = USP again."""
    vbr = 0x400 if isa is M68010 else 0
    vector = vbr + 4 * 35
    s = _state(isa, {vector + 2: 0x80, vector + 3: 0x00}, PC=0x100, S=0, I=3, Z=1, a7=0x1000, OSP=0x2000,
               **({"VBR": vbr} if isa is M68010 else {}))
    out, _ = _exec(isa, "TRAP", s, n=3)
    assert (out.kind, out.cause, out.info) == ("trap", "trap", 3)
    S, mems = s.flat(isa)
    compiled(isa).trap_entry["trap"](S, *mems, out.info)
    t = MachineState.from_flat(isa, S, mems)
    sp = 0x2000 - frame
    assert (t.fields["S"], t.fields["T"], t.fields["a7"], t.fields["OSP"], t.fields["PC"]) == (1, 0, sp, 0x1000, 0x8000)
    stacked = [t.memories["mem"][a] for a in range(sp, 0x2000)]
    assert stacked[:6] == [0x03, 0x04, 0x00, 0x00, 0x01, 0x02]  # SR = 0x0304, PC = 0x00000102
    if isa is M68010:
        assert stacked[6:] == [0x00, 0x8C]  # format 0, vector offset 4 * 35
    out, back = _exec(isa, "RTE", t)
    assert out.kind == "ok"
    assert (back.fields["S"], back.fields["I"], back.fields["Z"]) == (0, 3, 1)
    assert (back.fields["a7"], back.fields["OSP"], back.fields["PC"]) == (0x1000, 0x2000, 0x102)


def test_privilege_violation_stacks_the_offending_instruction():
    s = _state(M68010, {4 * 8 + 3: 0x40}, PC=0x200, S=0, a7=0x1000, OSP=0x2000)
    out, _ = _exec(M68010, "MOVE_from_SR", s, dn=0)
    assert (out.kind, out.cause) == ("trap", "privilege")
    S, mems = s.flat(M68010)
    compiled(M68010).trap_entry["privilege"](S, *mems, 0)
    t = MachineState.from_flat(M68010, S, mems)
    assert t.fields["PC"] == 0x40
    assert [t.memories["mem"][a] for a in range(0x2000 - 8, 0x2000)] == [0, 0, 0, 0, 0x02, 0x00, 0x00, 0x20]


def test_a7_is_the_active_stack_pointer():
    """PRM §1.3.1: in supervisor mode A7 is the SSP; MOVE USP reaches the other one; MOVE to
    SR clearing S makes the USP active (OSP holds the one not in use)."""
    s = _state(M68000, S=1, a7=0x2000, OSP=0x1000, d0=0x0000)
    _, post = _exec(M68000, "MOVE_from_USP", s, an=1)
    assert post.fields["a1"] == 0x1000
    _, post = _exec(M68000, "MOVE_to_SR", s, dn=0)
    assert (post.fields["S"], post.fields["a7"], post.fields["OSP"]) == (0, 0x1000, 0x2000)
    _, post = _exec(M68000, "MOVEL_d_predec", s, an=7, dm=0)
    assert post.fields["a7"] == 0x1FFC and post.fields["OSP"] == 0x1000


def test_stop_halts_and_reset_changes_nothing():
    s = _state(M68000, S=1, PC=0x10)
    assert _exec(M68000, "STOP", s, imm=0x2700)[0].kind == "halt"
    out, post = _exec(M68000, "RESET", s)
    assert out.kind == "ok" and {k: v for k, v in post.fields.items() if k != "PC"} == \
        {k: v for k, v in s.fields.items() if k != "PC"}


def test_divu_by_zero_traps_and_overflow_sets_v():
    out, _ = _exec(M68000, "DIVU", _state(M68000, PC=0x20, d1=7, d2=0x10000), dn=1, dm=2)
    assert (out.kind, out.cause, out.info) == ("trap", "zero_divide", 0x22)
    _, post = _exec(M68000, "DIVU", _state(M68000, d1=100003, d2=10), dn=1, dm=2)
    assert post.fields["d1"] == (3 << 16) | 10000 and post.fields["V"] == 0
    _, post = _exec(M68000, "DIVU", _state(M68000, d1=0x12345678, d2=2), dn=1, dm=2)
    assert post.fields["d1"] == 0x12345678 and post.fields["V"] == 1
