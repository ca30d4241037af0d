"""Witnesses of the x86 Theorem 1 violations that reveal or keep system state -- SGDT, SIDT,
SLDT, STR, SMSW, PUSHF, POPF, from ``classify_isa(x86)`` -- replayed on the reference
machines where the instruction runs at CPL 3: the model and the reference give the same
observable result (outcome, user fields, memory), up to the limits the ISA declares."""

import random

import pytest

from virtcheck.hypervisor.reference import Example, ReferenceUnavailable, compare, get_reference, model_result

from ref_helpers import kvm_usable

MNEMONICS = ["SGDT_m", "SIDT_m", "SLDT_r", "STR_r", "SMSW_r", "PUSHF", "POPF"]


@pytest.fixture(scope="module")
def witnesses(x86):
    from virtcheck.checks.classify import classify_isa

    result = classify_isa(x86)
    out = {}
    for ir in result.instructions:
        if ir.mnemonic in MNEMONICS:
            out[ir.mnemonic] = [w for w in ir.witnesses() if w.replayed]
    return out


def _references(x86):
    names = ["unicorn", "native"] + (["kvm"] if kvm_usable() else [])
    refs = []
    for name in names:
        try:
            refs.append(get_reference(name, x86))
        except ReferenceUnavailable:
            if name != "native":
                raise
    return refs


def test_every_named_instruction_has_a_witness(witnesses):
    assert set(witnesses) == set(MNEMONICS)
    assert all(witnesses[m] for m in MNEMONICS)


def test_witnesses_replay_at_cpl3_on_references(x86, witnesses):
    replayed = {}
    for ref in _references(x86):
        try:
            for mnemonic, ws in witnesses.items():
                ins = x86.by_mnemonic(mnemonic)
                for w in ws:
                    for k, state in enumerate(w.states):
                        if state.fields["cpl"] != 3:
                            continue  # the replay is about what ring 3 sees
                        fitted, ops = ref.fit(state, ins, dict(w.operands), random.Random(k))
                        ex = Example(ins, ops, fitted, "ring3")
                        m = model_result(x86, ex, ref.spec)
                        c = compare(x86, ex, m, ref.run(ex), ref.spec)
                        assert c.status in ("agree", "explained", "skipped"), (ref.name, mnemonic, c.details)
                        if c.status == "skipped":
                            continue
                        # the witness's point: the instruction completes at CPL 3, on the model
                        # and on the reference alike
                        assert m.kind == "ok" and c.ref.kind == "ok", (ref.name, mnemonic)
                        replayed.setdefault(ref.name, set()).add(mnemonic)
        finally:
            ref.close()
    assert replayed["unicorn"] == set(MNEMONICS)
    if "kvm" in replayed:
        assert {"PUSHF", "POPF", "SMSW_r"} <= replayed["kvm"]
    if "native" in replayed:  # UMIP: the kernel emulates the other five; they are skipped, not compared
        assert {"PUSHF", "POPF"} <= replayed["native"]
