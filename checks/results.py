"""The result model of ``virtcheck check``: plain data that reports render.

Every result has one :class:`Verdict` (``checks/verdict.py``: holds / fails / unknown /
vacuous) and every combination of results uses its one rule (``verdict.combine``): a
property of an instruction (HOLDS: the instruction has it, proved; FAILS: proved not to
have it), an instruction's standing under each theorem, a theorem, an ISA, a run. ``how``
says what decided a property: ``z3`` (a solver proof or model), ``static`` (the
read/write sets already rule it out, which is also a proof) or ``derived`` (from other
properties). Every existential property that holds and every ``privileged`` that fails
carries a witness that replays on the concrete backend.

Every result also carries the :class:`Location` of the declaration it is about: the
instruction's decorator line, the ``Isa(...)`` call for a theorem or an ISA, the
``guest(...)`` call for a property vacuous under the guest configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Optional

from virtcheck.checks.verdict import Verdict, combine, exit_code
from virtcheck.isa.location import Location
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


#: the monitor properties ``check --vmm`` proves, in report order
MONITOR_PROPERTIES = ["equivalence", "isolation", "efficiency"]


def verdict_of(result: Any) -> Verdict:
    """A result's verdict: its ``verdict`` if it is a :class:`Verdict`, else read from a
    three-valued ``holds``; UNKNOWN when it has neither (or is None: never a pass)."""
    v = getattr(result, "verdict", None)
    if isinstance(v, Verdict):
        return v
    holds = getattr(result, "holds", None)
    return Verdict.of(holds) if holds in (True, False) else Verdict.UNKNOWN


def monitor_verdict(monitor: Any) -> Verdict:
    """The monitor's properties (:data:`MONITOR_PROPERTIES`, read by :func:`verdict_of`),
    combined by the one rule; a property the monitor result lacks counts as unknown."""
    return combine(verdict_of(getattr(monitor, name, None)) for name in MONITOR_PROPERTIES)


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
    """Whether an instruction has one property. ``verdict`` may be given as a bool (or
    None for unknown) for brevity; it is always stored as a :class:`Verdict`."""

    verdict: Verdict
    how: str = "z3"  #: "z3" | "static" | "derived"
    witness: Optional[Witness] = None
    reason: str = ""  #: why it is unknown (the solver's reason) or vacuous, or a static argument
    where: Optional[Location] = None  #: the declaration a vacuous precondition comes from

    def __post_init__(self) -> None:
        if not isinstance(self.verdict, Verdict):
            self.verdict = Verdict.of(self.verdict)

    @property
    def value(self) -> Optional[bool]:
        """True / False when decided, None when unknown or vacuous."""
        return self.verdict.as_bool()

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value, "verdict": self.verdict.value, "how": self.how}
        if self.where is not None:
            d["location"] = self.where.to_json()
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
    where: Optional[Location] = None  #: the instruction's declaration

    def value(self, prop: str) -> Optional[bool]:
        return self.props[prop].value

    def under(self, theorem_prop: str) -> Verdict:
        """The instruction's standing under the theorem "every ``theorem_prop`` instruction
        is privileged": HOLDS if it lacks the property or is privileged, FAILS if it has it
        and is not privileged; otherwise the deciding property's verdict (UNKNOWN, or
        VACUOUS when one was vacuous and nothing unknown)."""
        s, p = self.props[theorem_prop].verdict, self.props["privileged"].verdict
        if s is Verdict.FAILS or p is Verdict.HOLDS:
            return Verdict.HOLDS
        if s is Verdict.HOLDS and p is Verdict.FAILS:
            return Verdict.FAILS
        return combine(v for v in (s, p) if v in (Verdict.UNKNOWN, Verdict.VACUOUS))

    @property
    def verdict(self) -> Verdict:
        """The instruction under both theorems (sensitive and user-sensitive ⊆ privileged)."""
        return combine([self.under("sensitive"), self.under("user_sensitive")])

    def witnesses(self) -> list[Witness]:
        return [p.witness for p in self.props.values() if p.witness is not None]


@dataclass
class TheoremResult:
    """Theorem 1 (sensitive ⊆ privileged) or 3 (user-sensitive ⊆ privileged)."""

    number: str
    verdict: Verdict
    violations: list[str]  #: instructions proved to break the inclusion
    undecided: list[str] = dc_field(default_factory=list)  #: instructions unknown or vacuous under it
    statement: str = ""
    where: Optional[Location] = None  #: the ISA's declaration

    @property
    def holds(self) -> Optional[bool]:
        return self.verdict.as_bool()

    def to_json(self) -> dict[str, Any]:
        d = {
            "holds": self.holds,
            "verdict": self.verdict.value,
            "violations": list(self.violations),
            "undecided": list(self.undecided),
            "statement": self.statement,
        }
        if self.where is not None:
            d["location"] = self.where.to_json()
        return d


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
    monitor: Optional[Any] = None  #: set by ``check --vmm``: a MonitorResult (with a ``verdict``)
    where: Optional[Location] = None  #: the ISA's declaration (its ``Isa(...)`` call)

    def instruction(self, mnemonic: str) -> InstructionResult:
        for i in self.instructions:
            if i.mnemonic == mnemonic:
                return i
        raise KeyError(mnemonic)

    @property
    def theorem_verdict(self) -> Verdict:
        """The theorems alone, combined."""
        return combine(t.verdict for t in self.theorems.values())

    @property
    def verdict(self) -> Verdict:
        """The theorems and, with ``check --vmm``, the monitor's properties, combined."""
        parts = [self.theorem_verdict]
        if self.monitor is not None:
            parts.append(monitor_verdict(self.monitor))
        return combine(parts)


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
    def verdict(self) -> Verdict:
        return combine(r.verdict for r in self.results)

    @property
    def exit_code(self) -> int:
        """The one exit-code rule (``verdict.exit_code``) over every ISA's verdict, monitor included."""
        return exit_code([self.verdict], input_errors=bool(self.errors))
