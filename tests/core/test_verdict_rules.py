"""The one combining rule and the one exit-code rule (checks/verdict.py), as laws."""

from __future__ import annotations

from hypothesis import given, strategies as st

from virtcheck.checks.verdict import SEVERITY, Verdict, combine, exit_code

verdicts = st.lists(st.sampled_from(list(Verdict)))


def test_severity_order_is_stated_once():
    assert SEVERITY == (Verdict.HOLDS, Verdict.VACUOUS, Verdict.UNKNOWN, Verdict.FAILS)
    assert set(SEVERITY) == set(Verdict)


@given(verdicts, verdicts)
def test_combine_is_a_commutative_monoid_with_holds_as_identity(a, b):
    assert combine(a + b) == combine([combine(a), combine(b)])  # associative: split anywhere
    assert combine(a + b) == combine(b + a)  # the order of the parts does not matter
    assert combine(a + [Verdict.HOLDS]) == combine(a) and combine([]) is Verdict.HOLDS


@given(verdicts)
def test_the_most_severe_part_wins(a):
    c = combine(a)
    assert all(v.severity <= c.severity for v in a)
    assert c in a or (c is Verdict.HOLDS and not a)
    if Verdict.FAILS in a:
        assert c is Verdict.FAILS  # one refutation refutes the conjunction
    if c is Verdict.HOLDS:
        assert set(a) <= {Verdict.HOLDS}  # holds only if every part holds: unknown is never a pass


@given(verdicts)
def test_exit_code_follows_the_combined_verdict(a):
    expected = {Verdict.HOLDS: 0, Verdict.FAILS: 1, Verdict.UNKNOWN: 3, Verdict.VACUOUS: 3}[combine(a)]
    assert exit_code(a) == expected
    assert exit_code(a, input_errors=True) == 2  # an incomplete run says so, whatever else it found
