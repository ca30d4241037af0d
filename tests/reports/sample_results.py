"""Hand-built results for the renderer tests: no solver involved, so every value is known.

Three ISAs: ``toy`` (Theorem 1 holds), ``toy-peek`` (PEEK is mode-sensitive and not
privileged: Theorem 1 fails) and ``toy-slow`` (WAIT's privilege is undecided: unknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from virtcheck.checks.results import (
    PROPERTIES, CheckRun, InstructionResult, IsaResult, PropertyResult, TheoremResult, Witness,
)
from virtcheck.checks.verdict import Verdict
from virtcheck.isa.state import MachineState, Memory, Outcome

FIELDS = {"A": "user", "PC": "user", "S": "system", "base": "system"}
BUDGET = {"rlimit": 1000, "z3_version": "4.99.0"}


def state(**values: int) -> MachineState:
    fields = {"A": 0, "PC": 0, "S": 0, "base": 0}
    fields.update(values)
    return MachineState(fields, {"mem": Memory()})


def instruction(mnemonic: str, values: dict[str, Optional[bool]], witnesses: dict[str, Witness] | None = None,
                reasons: dict[str, str] | None = None) -> InstructionResult:
    witnesses = witnesses or {}
    reasons = reasons or {}
    props = {p: PropertyResult(values.get(p, False), how="z3", witness=witnesses.get(p), reason=reasons.get(p, ""))
             for p in PROPERTIES}
    return InstructionResult(mnemonic, mnemonic, f"{mnemonic} doc", props, reads=["PC"], writes=["PC"],
                             flows=[], queries=3, seconds=0.25)


INNOCUOUS = {"innocuous": True}
PRIV_CONTROL = {"privileged": True, "control_sensitive": True, "sensitive": True}

PEEK_MODE = Witness(
    "mode_sensitive", "PEEK", {}, [state(S=1), state(S=0)], [Outcome("ok"), Outcome("ok")],
    [state(S=1, A=1), state(S=0)],
    "toy-peek: PEEK is mode-sensitive: from {S=1} and {S=0} (a guest cannot tell them apart) it leaves A: 0x1 vs 0x0",
    ["A: 0x1 vs 0x0"], True,
)
PEEK_PRIV = Witness(
    "privileged", "PEEK", {}, [state(S=1), state(S=0)], [Outcome("ok"), Outcome("ok")], [state(S=1), state(S=0)],
    "toy-peek: PEEK is not privileged: in the guest configuration {PC=0, S=0} it ends ok, in supervisor mode it ends ok",
    [], True,
)


def isa_result(name: str, instructions: list[InstructionResult], theorems: dict[str, TheoremResult]) -> IsaResult:
    return IsaResult(name, f"{name} doc", f"{name} source", "S = 0", "sup", dict(FIELDS), instructions,
                     theorems, seconds=0.5)


def toy() -> IsaResult:
    return isa_result("toy", [instruction("NOP", INNOCUOUS), instruction("SET", PRIV_CONTROL)], {
        "1": TheoremResult("1", Verdict.HOLDS, [], [], "sensitive ⊆ privileged"),
        "3": TheoremResult("3", Verdict.HOLDS, [], [], "user-sensitive ⊆ privileged"),
    })


def toy_peek() -> IsaResult:
    peek = instruction("PEEK", {"mode_sensitive": True, "behaviour_sensitive": True, "sensitive": True},
                       {"mode_sensitive": PEEK_MODE, "privileged": PEEK_PRIV})
    return isa_result("toy-peek", [instruction("NOP", INNOCUOUS), peek], {
        "1": TheoremResult("1", Verdict.FAILS, ["PEEK"], [], "sensitive ⊆ privileged"),
        "3": TheoremResult("3", Verdict.HOLDS, [], [], "user-sensitive ⊆ privileged"),
    })


def toy_slow() -> IsaResult:
    wait = instruction("WAIT", {"privileged": None, "control_sensitive": True, "sensitive": True},
                       reasons={"privileged": "max. resource limit exceeded"})
    return isa_result("toy-slow", [wait], {
        "1": TheoremResult("1", Verdict.UNKNOWN, [], ["WAIT"], "sensitive ⊆ privileged"),
        "3": TheoremResult("3", Verdict.HOLDS, [], [], "user-sensitive ⊆ privileged"),
    })


@dataclass
class FakeProperty:
    holds: Optional[bool]
    violations: list[Any] = field(default_factory=list)


@dataclass
class FakeMonitor:
    """What ``check --vmm`` attaches: duck-typed like checks.monitor.MonitorResult."""

    equivalence: FakeProperty
    isolation: FakeProperty
    efficiency: FakeProperty

    def to_json(self) -> dict[str, Any]:
        return {"monitor": "trap-emulate", "equivalence": {"holds": self.equivalence.holds, "extra": 1}}


def failing_monitor() -> FakeMonitor:
    return FakeMonitor(FakeProperty(False, ["PEEK: the monitor's result differs in A"]), FakeProperty(True),
                       FakeProperty(None))


def make_run(*results: IsaResult, errors: list[str] | None = None) -> CheckRun:
    return CheckRun(list(results), dict(BUDGET), "9.9.9", jobs=2, seconds=1.5, errors=list(errors or []))
