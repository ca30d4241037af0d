"""Helpers shared by the fuzz tests: checks written against the reference evaluator, so
they never trust the compiled predicates the generators themselves use. (Imported as
``fuzz_helpers``, like tests/reports/sample_results.py: pytest puts this folder on the path.)"""

from __future__ import annotations

from virtcheck.isa import evaluator
from virtcheck.isa.model import Isa, Kind
from virtcheck.isa.semantics import Builder
from virtcheck.isa.state import MachineState

NAMES = ["pg3", "pg3-jrst", "pg3-mfsr", "pg3-lra", "pg3-popf"]


def predicate_of(isa: Isa, mode: str):
    """The predicate a ``mode=`` argument names, looked up independently of fuzz/."""
    if mode == "guest":
        return isa.guest_fn
    if mode == "supervisor":
        return isa.modes[isa.supervisor]
    return isa.modes[mode]


def satisfies(isa: Isa, mode: str, state: MachineState) -> bool:
    return evaluator.evaluate(predicate_of(isa, mode)(Builder(isa)), state, {}) == 1


def is_privileged(ins) -> bool:
    """Syntactically privileged: some exit traps with a PRIVILEGE-kind cause."""
    return any(x.cause is not None and x.cause.kind is Kind.PRIVILEGE for x in ins.effects.exits)


def assert_within_widths(isa: Isa, state: MachineState) -> None:
    assert list(state.fields) == list(isa.fields)
    for name, v in state.fields.items():
        assert 0 <= v < 1 << isa.fields[name].width, (name, v)
    assert set(state.memories) == set(isa.memories)
    for name, mem in state.memories.items():
        decl = isa.memories[name]
        assert 0 <= mem.default < 1 << decl.width
        for a, v in mem.cells.items():
            assert 0 <= a < decl.size and 0 <= v < 1 << decl.width, (name, a, v)
