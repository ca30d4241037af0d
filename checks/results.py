"""The result model of ``virtcheck check``: plain data that reports render.

A property of an instruction is ``True``, ``False`` or ``None`` (not decided: the solver
answered unknown, or the precondition was vacuous -- ``reason`` says which). ``how`` says
what decided it: ``z3`` (a solver proof or model) or ``static`` (the read/write sets
already rule it out, which is also a proof). Every ``True`` of an existential property
and every ``False`` of ``privileged`` carries a witness that replays on the concrete
backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Optional

from virtcheck.checks.verdict import Verdict
from virtcheck.isa.state import MachineState, Outcome

#: the per-instruction properties, in report order (keys of InstructionResult.props)
PROPERTIES = [
    "privileged",
    "control_sensitive",
    "mode_sensitive",
    "location_sensitive",
    "resource_sensitive",
    "behaviour_sensitive",
    "user_sensitive",
    "sensitive",
    "innocuous",
]


@dataclass
class Witness:
    """Concrete evidence: the states an instruction ran on, its operands, what happened."""

    property: str
    instruction: str
    operands: dict[str, int]
    states: list[MachineState]  #: one state, or the pair (first, second)
    outcomes: list[Outcome]
    posts: list[MachineState]
    explanation: str
    differs: list[str] = dc_field(default_factory=list)  #: what differs in the results
    replayed: Optional[bool] = None  #: did the compiled backend reproduce it

    def to_json(self) -> dict[str, Any]:
        return {
            "property": self.property,
            "instruction": self.instruction,
            "operands": dict(self.operands),
            "states": [s.to_json() for s in self.states],
            "outcomes": [o.to_json() for o in self.outcomes],
            "explanation": self.explanation,
            "differs": list(self.differs),
            "replayed": self.replayed,
        }


@dataclass
class PropertyResult:
    value: Optional[bool]
    how: str = "z3"  #: "z3" | "static" | "derived"
    witness: Optional[Witness] = None
    reason: str = ""  #: why value is None (solver reason, vacuity), or a static argument

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value, "how": self.how}
        if self.reason:
            d["reason"] = self.reason
        if self.witness is not None:
            d["witness"] = self.witness.to_json()
        return d


@dataclass
class InstructionResult:
    mnemonic: str
    syntax: str
    doc: str
    props: dict[str, PropertyResult]
    reads: list[str] = dc_field(default_factory=list)
    writes: list[str] = dc_field(default_factory=list)
    flows: list[str] = dc_field(default_factory=list)  #: "src -> dst" explanations
    queries: int = 0
    seconds: float = 0.0

    def value(self, prop: str) -> Optional[bool]:
        return self.props[prop].value

    def witnesses(self) -> list[Witness]:
        return [p.witness for p in self.props.values() if p.witness is not None]


@dataclass
class TheoremResult:
    """Theorem 1 (sensitive ⊆ privileged) or 3 (user-sensitive ⊆ privileged)."""

    number: str
    verdict: Verdict
    violations: list[str]  #: instructions proved to break the inclusion
    undecided: list[str] = dc_field(default_factory=list)  #: instructions with an unknown verdict
    statement: str = ""

    @property
    def holds(self) -> Optional[bool]:
        return self.verdict.as_bool()

    def to_json(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "verdict": self.verdict.value,
            "violations": list(self.violations),
            "undecided": list(self.undecided),
            "statement": self.statement,
        }


@dataclass
class IsaResult:
    isa: str
    doc: str
    source: str
    guest_configuration: str
    supervisor_mode: str
    fields: dict[str, str]  #: field -> role
    instructions: list[InstructionResult]
    theorems: dict[str, TheoremResult]
    seconds: float = 0.0
    monitor: Optional[Any] = None  #: set by ``check --vmm``: a MonitorResult

    def instruction(self, mnemonic: str) -> InstructionResult:
        for i in self.instructions:
            if i.mnemonic == mnemonic:
                return i
        raise KeyError(mnemonic)

    @property
    def verdict(self) -> Verdict:
        """FAILS if a theorem fails, else UNKNOWN if one is unknown, else HOLDS."""
        vs = [t.verdict for t in self.theorems.values()]
        if Verdict.FAILS in vs:
            return Verdict.FAILS
        if Verdict.UNKNOWN in vs or Verdict.VACUOUS in vs:
            return Verdict.UNKNOWN
        return Verdict.HOLDS


@dataclass
class CheckRun:
    """Everything one ``virtcheck check`` produced, for every renderer."""

    results: list[IsaResult]
    budget: dict[str, Any]
    virtcheck_version: str
    jobs: int = 1
    seconds: float = 0.0
    errors: list[str] = dc_field(default_factory=list)  #: inputs that could not be loaded

    @property
    def exit_code(self) -> int:
        """2 an input error (the run is incomplete), 1 a theorem fails, 3 inconclusive, 0 all hold."""
        verdicts = [r.verdict for r in self.results]
        if self.errors:
            return 2
        if Verdict.FAILS in verdicts:
            return 1
        if Verdict.UNKNOWN in verdicts:
            return 3
        return 0
