"""The map f, compiled, agrees with the ISA's expressions walked by the reference evaluator."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from virtcheck.fuzz import states
from virtcheck.hypervisor.mapping import Partition, facts
from virtcheck.isa.machines import bundled

PG3 = bundled()["pg3"]


@settings(max_examples=200, deadline=None)
@given(state=states(PG3), base=st.integers(0, 4095), size=st.integers(0, 4095))
def test_compiled_map_is_the_reference_map(state, base, size):
    f = facts(PG3)
    ref = f.reference()
    V = [state.fields[n] for n in f.layout.names]
    part = Partition(base, size)
    want = [0] * len(V)
    ref.represent(V, want, part)
    got = [0] * len(V)
    f.represent(V, got, part)
    assert got == want
    enter, leave = f.entering(part)
    S = list(V)
    saved = enter(S)
    assert S == want
    leave(S, saved)
    assert S == V
    assert f.fits(V, size) == ref.fits(V, size)
    assert f.timer_enabled(V) == ref.timer_enabled(V)
