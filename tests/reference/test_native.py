"""The host CPU in ring 3: skipped where the harness cannot run (not Linux x86-64, no
32-bit compatibility mode, page 0 not mappable). A fault ends only the child."""

import os
import random

import pytest

from virtcheck.hypervisor.reference import Example, ReferenceUnavailable, get_reference
from virtcheck.hypervisor.reference.crossval import crossval
from virtcheck.isa.state import MachineState


@pytest.fixture(scope="module")
def native(machines):
    try:
        ref = get_reference("native", machines["x86"])
    except ReferenceUnavailable as exc:
        pytest.skip(str(exc))
    yield ref
    ref.close()


def _run(ref, isa, mnemonic, fields, **ops):
    s = MachineState.zero(isa)
    s.fields.update(isa.reset_fields)
    s.fields.update(fields)
    ins = isa.by_mnemonic(mnemonic)
    state, ops = ref.fit(s, ins, ops, random.Random(0))
    return state, ref.run(Example(ins, ops, state, "ring3"))


def test_a_fault_ends_only_the_child(native, x86):
    pid = os.getpid()
    _, res = _run(native, x86, "HLT", {"cpl": 3})
    assert res.kind == "trap" and res.vector == 13 and os.getpid() == pid


def test_pushf_shows_if_and_iopl(native, x86):
    state, res = _run(native, x86, "PUSHF", {"cpl": 3})
    esp = state.fields["r4"] - 4
    pushed = int.from_bytes(bytes(res.memories["mem"][esp:esp + 4]), "little")
    assert pushed & 0x3200 == 0x0200  # IF = 1, IOPL = 0: what a Linux process has
    assert res.fields["r4"] == esp


def test_native_crossval_agrees(native, x86):
    rep = crossval(x86, native, seed=5, n=200)
    assert rep.unexplained == 0, rep.mismatches[:3]
    assert rep.counts["agree"] > 100
