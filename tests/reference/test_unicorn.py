"""Unicorn: the x86 model at CPL 0 and CPL 3, the M68000 model; the crossval command."""

import json

import pytest
from click.testing import CliRunner

from virtcheck.cli import main
from virtcheck.hypervisor.reference import Example, get_reference
from virtcheck.hypervisor.reference.crossval import crossval
from virtcheck.isa.state import MachineState


def _run(isa, mnemonic, fields, mode, **ops):
    import random

    ref = get_reference("unicorn", isa)
    s = MachineState.zero(isa)
    s.fields.update(isa.reset_fields)
    s.fields.update(fields)
    ins = isa.by_mnemonic(mnemonic)
    state, ops = ref.fit(s, ins, ops, random.Random(0))
    try:
        return state, ref.run(Example(ins, ops, state, mode))
    finally:
        ref.close()


def test_unicorn_reaches_cpl3_by_iret(x86):
    # MOV r1, CS at CPL 3 reads RPL 3: the harness entered ring 3 for real
    _, res = _run(x86, "MOV_r_cs", {"cpl": 3}, "ring3", rd=1)
    assert res.kind == "ok" and res.fields["r1"] & 3 == 3
    _, res = _run(x86, "MOV_r_cs", {"cpl": 0}, "ring0", rd=1)
    assert res.kind == "ok" and res.fields["r1"] & 3 == 0


def test_unicorn_privileged_instruction_traps_at_cpl3(x86):
    _, res = _run(x86, "HLT", {"cpl": 3}, "ring3")
    assert res.kind == "trap" and res.vector == 13
    _, res = _run(x86, "HLT", {"cpl": 0}, "ring0")
    assert res.kind == "halt"


@pytest.mark.parametrize("seed", [0, 1])
def test_x86_crossval_unicorn_agrees(x86, seed):
    ref = get_reference("unicorn", x86)
    try:
        rep = crossval(x86, ref, seed=seed, n=400)
    finally:
        ref.close()
    assert rep.unexplained == 0, json.dumps(rep.mismatches[:3], indent=1, default=str)
    assert rep.counts["agree"] > 300
    assert {m for m in rep.per_mnemonic} >= {"PUSHF", "POPF"}


def test_m68000_crossval_unicorn_agrees(m68000):
    ref = get_reference("unicorn", m68000)
    try:
        rep = crossval(m68000, ref, seed=0, n=200)
    finally:
        ref.close()
    assert rep.unexplained == 0, json.dumps(rep.mismatches[:3], indent=1, default=str)
    assert rep.counts["agree"] > 150


def test_m68000_move_from_sr_in_user_mode(m68000):
    # the textbook PG violation runs unprivileged on the reference too, with the model's value
    state, res = _run(m68000, "MOVE_from_SR", {"S": 0, "I": 5, "Z": 1}, "user", dn=3)
    assert res.kind == "ok" and res.fields["d3"] & 0xFFFF == 0x0504


def test_crossval_command(tmp_path):
    r = CliRunner().invoke(main, ["crossval", "x86", "--reference", "unicorn", "--examples", "60", "--seed", "7"])
    assert r.output.splitlines()[0] == "seed: 7"
    assert r.exit_code == 0, r.output
    assert "known limits" in r.output and "unicorn-smsw-16" in r.output
    r = CliRunner().invoke(main, ["crossval", "x86", "--reference", "unicorn", "--examples", "20", "--seed", "7",
                                  "--json"])
    data = json.loads(r.stdout)  # stdout is the JSON document alone; the seed line goes to stderr
    assert r.stderr.splitlines()[0] == "seed: 7"
    assert data["seed"] == 7 and data["examples"] == 20 and "limits" in data


def test_crossval_bad_input():
    r = CliRunner().invoke(main, ["crossval", "no-such-isa", "--reference", "unicorn", "--seed", "1"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["crossval", "pg3", "--reference", "unicorn", "--seed", "1"])
    assert r.exit_code == 2 and "declares no 'unicorn' reference" in r.output


def test_armv7_crossval_unicorn_agrees():
    """armv7 against QEMU's ARM through Unicorn (limits declared in isa/machines/arm.py, docs/arm.md)."""
    from virtcheck.isa.machines import arm

    ref = get_reference("unicorn", arm.armv7)
    try:
        rep = crossval(arm.armv7, ref, seed=7, n=300)
    finally:
        ref.close()
    assert rep.unexplained == 0, json.dumps(rep.mismatches[:3], indent=1, default=str)
    assert rep.counts["agree"] > 200
    assert {"MRS_cpsr", "MSR_cpsr_r", "LDM", "STMDB"} <= set(rep.per_mnemonic)


def test_armv7_mrs_reads_the_mode_on_unicorn():
    from virtcheck.isa.machines import arm

    for mode, code in (("usr", arm.USR), ("svc", arm.SVC)):
        _, res = _run(arm.armv7, "MRS_cpsr", {"M": code}, mode, rd=1)
        assert res.kind == "ok" and res.fields["r1"] & 0x1F == code
