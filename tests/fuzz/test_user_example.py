"""An example of what a user writes: their own property tests over an ISA, with programs
and states drawn by virtcheck.fuzz and run on the compiled backend.

Copy this file and change the ISA or the property. The runner below is deliberately
small and self-contained: fetch through the ISA's translation, decode and step with the
compiled backend, and take traps with the ISA's own trap semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import Phase, find, given, settings, strategies as st

from virtcheck.fuzz import programs, states
from virtcheck.isa.asm import decode, disassemble
from virtcheck.isa.concrete import HALT, compiled
from virtcheck.isa.machines import bundled
from virtcheck.isa.model import Isa, Role
from virtcheck.isa.state import MachineState, Outcome

MACHINES = bundled()
PG3 = MACHINES["pg3"]


@dataclass
class Run:
    final: MachineState
    outcomes: list[str]  #: one per step: "ok", "halt", "trap(cause, info=...)"


def run(isa: Isa, state: MachineState, program: list[int], max_steps: int = 64) -> Run:
    """Place ``program`` where the state's first fetch reads, then run up to ``max_steps``."""
    c = compiled(isa)
    S, mems = state.flat(isa)
    code = mems[c.layout.memories.index(isa.code_memory)]
    units, cell_bits = isa.units_per_word, isa.memories[isa.code_memory].width
    start = c.fetch(S, *mems)
    if not isinstance(start, tuple):  # the first fetch does not trap: put the program there
        for i, word in enumerate(program):
            for k in range(units):
                shift = (units - 1 - k) * cell_bits
                code[(start + i * units + k) % len(code)] = (word >> shift) & ((1 << cell_bits) - 1)
    outcomes: list[str] = []
    for _ in range(max_steps):
        at = c.fetch(S, *mems)
        if isinstance(at, tuple):  # the fetch itself trapped
            cause, info = at
            c.trap_entry[cause.name](S, *mems, info)
            outcomes.append(f"fetch {Outcome.of(at)}")
            continue
        word = 0
        for k in range(units):
            word = (word << cell_bits) | code[(at + k) % len(code)]
        result = c.step_for(word)(S, *mems)
        if _is_halt(result):
            outcomes.append("halt")
            break
        outcomes.append(str(Outcome.of(result)))
        if result is not None:
            cause, info = result
            c.trap_entry[cause.name](S, *mems, info)
    return Run(MachineState.from_flat(isa, S, mems), outcomes)


def _is_halt(result) -> bool:
    return result is HALT


def control_sensitive_but_unprivileged(isa: Isa, supervisor: MachineState, guest: MachineState,
                                       program: list[int]) -> list[str]:
    """PG Theorem 1's condition, one instruction at a time: an instruction that completes
    in supervisor mode and changes a system field must trap in the guest configuration.
    Returns the instructions of ``program`` that break it from these two states."""
    c = compiled(isa)
    system = [c.layout.index[n] for n in isa.role_fields(Role.SYSTEM)]
    sup, guest_flat = supervisor.flat(isa), guest.flat(isa)
    before = [sup[0][i] for i in system]
    bad = []
    for word in program:  # each word from the same two states: copy, since a step works in place
        S, mems = list(sup[0]), [list(m) for m in sup[1]]
        result = c.step_for(word)(S, *mems)
        if result is None and [S[i] for i in system] != before:
            G, gmems = list(guest_flat[0]), [list(m) for m in guest_flat[1]]
            if c.step_for(word)(G, *gmems) is None:
                bad.append(disassemble(isa, [word])[0])
    return bad


# --- the properties -----------------------------------------------------------------------

@settings(max_examples=60)
@given(state=states(PG3), program=programs(PG3, max_size=16))
def test_running_a_program_twice_from_the_same_state_gives_the_same_result(state, program):
    """Determinism: the machine is a function of its state (PG §2)."""
    first = run(PG3, state.copy(), program)
    second = run(PG3, state.copy(), program)
    assert first.final == second.final
    assert first.outcomes == second.outcomes


@settings(max_examples=60)
@given(supervisor=states(PG3, mode="supervisor"), guest=states(PG3, mode="guest"),
       program=programs(PG3, max_size=8))
def test_on_pg3_control_sensitive_instructions_are_privileged(supervisor, guest, program):
    """pg3 is virtualizable: no instruction changes system state in supervisor mode and
    completes in the guest configuration. (A fuzzed "no counterexample in N examples", not
    a proof: `virtcheck check` proves it with Z3.)"""
    assert control_sensitive_but_unprivileged(PG3, supervisor, guest, program) == []


@pytest.mark.slow  # a quality test ("finds X, shrinks it to exactly Y"): seconds, not milliseconds
def test_on_pg3_jrst_the_fuzzer_finds_jrst1_and_shrinks_it_to_one_instruction():
    """The same property fails on pg3-jrst, and Hypothesis shrinks the failure to a single
    JRST1 -- the shape of finding a campaign reports."""
    isa = MACHINES["pg3-jrst"]
    _, _, program = find(
        st.tuples(states(isa, mode="supervisor"), states(isa, mode="guest"), programs(isa, max_size=8)),
        lambda ex: bool(control_sensitive_but_unprivileged(isa, *ex)),
        settings=settings(database=None, max_examples=1000, phases=[Phase.generate, Phase.shrink]),
    )
    assert len(program) == 1
    assert decode(isa, program[0])[0].mnemonic == "JRST1"
