"""KVM: skipped without /dev/kvm. Emulation failures are skipped, never agreement."""

import random

import pytest

from virtcheck.hypervisor.reference import Example, get_reference
from virtcheck.hypervisor.reference.crossval import crossval
from virtcheck.isa.state import MachineState

from ref_helpers import needs_kvm

pytestmark = needs_kvm


@pytest.fixture
def kvm(x86):
    ref = get_reference("kvm", x86)
    yield ref
    ref.close()


def _run(ref, isa, mnemonic, fields, mode, **ops):
    s = MachineState.zero(isa)
    s.fields.update(isa.reset_fields)
    s.fields.update(fields)
    ins = isa.by_mnemonic(mnemonic)
    state, ops = ref.fit(s, ins, ops, random.Random(0))
    return ref.run(Example(ins, ops, state, mode))


def test_kvm_reports_its_backing(kvm):
    assert "KVM (API 12)" in kvm.backing()


def test_kvm_cpl3_and_privilege(kvm, x86):
    assert _run(kvm, x86, "MOV_r_cs", {"cpl": 3}, "ring3", rd=2).fields["r2"] & 3 == 3
    res = _run(kvm, x86, "CLI", {"cpl": 3, "IOPL": 0}, "ring3")
    assert res.kind == "trap" and res.vector == 13
    assert _run(kvm, x86, "CLI", {"cpl": 0}, "ring0").kind == "ok"


def test_kvm_crossval_agrees(kvm, x86):
    rep = crossval(x86, kvm, seed=3, n=400)
    assert rep.unexplained == 0, rep.mismatches[:3]
    assert rep.counts["agree"] > 250
    # what the emulator cannot run is counted apart, with its reason
    assert all(r.startswith(("KVM", "accesses")) for r in rep.skipped)
