"""Comparison and explanation: skipped is never agreement; limits explain only what they name."""

from collections import Counter

from virtcheck.hypervisor.reference import Example, RefResult, Reference, compare, explain, model_result
from virtcheck.hypervisor.reference.crossval import crossval
from virtcheck.isa.state import MachineState


class _Skipping(Reference):
    name = "unicorn"

    def backing(self) -> str:
        return "a reference that can run nothing"

    def run(self, ex):
        return RefResult.skipped("cannot run anything")


def test_skipped_is_never_agreement(x86):
    rep = crossval(x86, _Skipping(x86), seed=1, n=40)
    assert rep.counts == Counter(skipped=40)
    assert rep.skipped == Counter({"cannot run anything": 40})
    assert rep.unexplained == 0 and rep.counts["agree"] == 0


def _example(x86, mnemonic, **ops):
    ins = x86.by_mnemonic(mnemonic)
    return Example(ins, ops, MachineState.zero(x86), "ring3")


def test_limit_explains_only_named_differences(x86):
    ex = _example(x86, "SMSW_r", rd=1)
    lim = [{"id": "a", "mnemonics": ["SMSW_r"], "differs": ["r1"]}]
    assert explain(ex, ["r1"], lim) == ["a"]
    assert explain(ex, ["r1", "ZF"], lim) is None
    assert explain(_example(x86, "NOP"), ["r1"], lim) is None
    moded = [{"id": "b", "mnemonics": ["SMSW_r"], "modes": ["ring0"], "differs": ["*"]}]
    assert explain(ex, ["r1"], moded) is None
    when = [{"id": "c", "differs": ["*"], "when": lambda s, ops: ops["rd"] == 2}]
    assert explain(ex, ["r1"], when) is None


def test_outcome_difference_is_a_mismatch(x86):
    ex = _example(x86, "NOP")
    spec = {"vector": lambda c, i: c.code & 0xFF, "limits": []}
    m = model_result(x86, ex, spec)
    assert m.kind == "ok"
    c = compare(x86, ex, m, RefResult("trap", vector=13), spec)
    assert c.status == "mismatch" and c.differences == ["outcome"]
    assert compare(x86, ex, m, RefResult.skipped("x"), spec).status == "skipped"
