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


# --- the other policies: the same proofs with the policy's step on the right-hand side ----

def _policy_result(machines, results, name, policy):
    key = (name, policy)
    if key not in results:
        results[key] = check_monitor(machines[name], policy=policy)
    return results[key]


def _theorem3(machines, name):
    from virtcheck.checks.classify import classify_isa

    return classify_isa(machines[name]).theorems["3"].violations


#: PG 1974 §8: JRST 1 (PDP-10) is control-sensitive from supervisor mode only, so a hybrid
#: monitor virtualizes pg3-jrst; LRA reveals the real address in user mode (Theorem 3 fails)
EXPECTED_HYBRID = {"pg3": [], "pg3-jrst": [], "pg3-mfsr": [], "pg3-popf": [], "pg3-lra": ["LRA"]}


@pytest.mark.parametrize("name", ["pg3-jrst", "pg3-lra"])
def test_hybrid_equivalence_failures_are_theorem3_violations(machines, results, name):
    """The two routes to Theorem 3: the hybrid monitor's proof and the classification."""
    r = _policy_result(machines, results, name, "hybrid")
    assert r.monitor == "hybrid"
    assert r.equivalence.violations == EXPECTED_HYBRID[name]
    assert sorted(r.equivalence.violations) == sorted(_theorem3(machines, name))
    assert r.equivalence.undecided == []  # each instruction in its own solver context (checks.verdict.Session)
    assert r.isolation.verdict is Verdict.HOLDS, r.isolation.per_instruction
    assert r.efficiency.verdict is Verdict.HOLDS
    # both branches of the diagram are proved for every instruction
    assert all(set(c) == {"commutes", "interpreted"} for c in r.equivalence.per_instruction.values())
    assert all(c["interpreted"] == "holds" for c in r.equivalence.per_instruction.values())
    assert all(c["commutes"] == "holds" for m, c in r.equivalence.per_instruction.items()
               if m not in r.equivalence.violations + r.equivalence.undecided)
    assert any("efficiency is claimed on virtual user mode" in a for a in r.assumptions)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pg3", "pg3-mfsr", "pg3-popf"])
def test_hybrid_equivalence_failures_are_theorem3_violations_variants(machines, results, name):
    test_hybrid_equivalence_failures_are_theorem3_violations(machines, results, name)


def test_hybrid_witness_replays_under_the_hybrid_monitor(machines, results):
    w = _policy_result(machines, results, "pg3-lra", "hybrid").equivalence.witnesses["LRA"]
    assert w.replayed and w.differs, w.explanation
    assert w.program[0].startswith("LRA")
    assert "is not virtualized by the hybrid monitor" in w.explanation
    assert w.state.fields["M"] == 0  # a virtual user-mode state: the only one the hybrid monitor runs directly


def test_trap_emulate_fails_where_hybrid_holds(machines, results):
    """JRST1 breaks Theorem 1, not Theorem 3: the same ISA, two policies, two answers."""
    te = _result(machines, results, "pg3-jrst")
    hy = _policy_result(machines, results, "pg3-jrst", "hybrid")
    assert te.equivalence.violations == ["JRST1"] and hy.equivalence.violations == []


def test_emulator_is_equivalent_and_isolating_but_not_efficient(machines, results):
    r = _policy_result(machines, results, "pg3-lra", "emulate")
    assert r.monitor == "emulate"
    assert r.equivalence.verdict is Verdict.HOLDS  # LRA too: nothing runs directly
    assert all(set(c) == {"interpreted"} for c in r.equivalence.per_instruction.values())
    assert r.isolation.verdict is Verdict.HOLDS
    assert r.efficiency.verdict is Verdict.FAILS and r.direct == []
    innocuous = [i.mnemonic for i in machines["pg3-lra"].instructions
                 if not any(x.cause is not None and x.cause.kind.value == "privilege" for x in i.effects.exits)]
    # SVC traps in every mode: it never completes, so no claim about it can fail
    assert sorted(r.efficiency.violations) == sorted(set(innocuous) - {"SVC"})


def test_interpreted_branch_is_not_vacuous(machines):
    """With a ``fits`` that admits translations past the partition, the emulator's view
    (cells past the partition read 0, writes dropped) differs from the bare machine: the
    interpreted-branch query finds it at the loads and stores."""
    from virtcheck.checks.monitor import check_equivalence
    from virtcheck.isa.expr import ule

    loose = machines["pg3"].derive("pg3-loose-fit", doc="pg3 claiming every relocation fits its partition")
    loose.partition_fits_fn = lambda v, size: ule(size, size)
    r = check_equivalence(loose.finalize(), policy="emulate")
    assert {"LD", "ST"} <= set(r.violations)
    assert "ADD" not in r.violations
