"""Z3 proofs of the monitor, and the cross-check with the classification's Theorem 1."""

from __future__ import annotations

import pytest

from virtcheck.checks.monitor import check_monitor
from virtcheck.checks.verdict import Verdict

EXPECTED = {"pg3": [], "pg3-jrst": ["JRST1"], "pg3-mfsr": ["MFSR"], "pg3-lra": ["LRA"], "pg3-popf": ["POPF"]}


@pytest.fixture(scope="module")
def results(machines):
    return {}


def _result(machines, results, name):
    if name not in results:
        results[name] = check_monitor(machines[name])
    return results[name]


@pytest.mark.parametrize("name", ["pg3", "pg3-jrst"])
def test_monitor_proofs(machines, results, name):
    r = _result(machines, results, name)
    assert r.equivalence.violations == EXPECTED[name]
    assert r.isolation.verdict is Verdict.HOLDS, r.isolation.per_instruction
    assert r.efficiency.verdict is Verdict.HOLDS
    assert {"NOP", "ADD", "LD", "ST", "BEQ", "JMP"} <= set(r.direct)
    assert not {"LPSW", "SETR", "GETR", "HALT"} & set(r.direct)  # emulated, not claimed direct


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pg3-mfsr", "pg3-lra", "pg3-popf"])
def test_monitor_proofs_other_variants(machines, results, name):
    test_monitor_proofs(machines, results, name)


@pytest.mark.parametrize("name", ["pg3-jrst"])
def test_witnesses_replay_as_short_programs(machines, results, name):
    r = _result(machines, results, name)
    for mnemonic, w in r.equivalence.witnesses.items():
        assert w.replayed and w.differs, w.explanation
        assert 1 <= len(w.program) <= 3 and w.program[0].startswith(mnemonic)
        assert w.to_json()["partition"]["base"] >= 5


def _theorem1(machines, name):
    from virtcheck.checks.classify import classify_isa

    return classify_isa(machines[name]).theorems["1"].violations


@pytest.mark.parametrize("name", ["pg3", "pg3-jrst"])
def test_equivalence_failures_are_theorem1_violations(machines, results, name):
    """Two independent routes to one answer: the monitor proof and the classification."""
    assert sorted(_result(machines, results, name).equivalence.violations) == sorted(_theorem1(machines, name))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pg3-mfsr", "pg3-lra", "pg3-popf"])
def test_equivalence_failures_are_theorem1_violations_variants(machines, results, name):
    test_equivalence_failures_are_theorem1_violations(machines, results, name)


def test_result_json_shape(machines, results):
    d = _result(machines, results, "pg3-jrst").to_json()
    for p in ("equivalence", "isolation", "efficiency"):
        assert {"verdict", "holds", "violations", "witnesses"} <= set(d[p])
    assert d["equivalence"]["holds"] is False and d["isolation"]["holds"] is True
    assert set(d["isolation"]["per_instruction"]["ST"]) == {
        "resource_control", "local_respect", "output_consistency", "step_consistency"}
