"""Turning results into the sentences a reader acts on: why a theorem fails, what a
monitor got wrong.

Every line about a violation is a witness's own ``explanation`` (compiler-style,
``pg3-jrst: JRST1 is control-sensitive: from {...} it sets M=0x0 without trapping``), so
what a report says is exactly what the concrete backend replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from virtcheck.checks.results import (
    InstructionResult, IsaResult, TheoremResult, Witness, monitor_verdict, verdict_of,
)
from virtcheck.checks.verdict import Verdict
from virtcheck.isa.location import Location
from virtcheck.reports.labels import MONITOR_PROPERTIES, prop_name

#: the property whose witness shows *why* an instruction is in each theorem's left-hand set
_SENSITIVITY = {
    "1": ["control_sensitive", "mode_sensitive", "location_sensitive", "resource_sensitive"],
    "3": ["user_sensitive"],
}
#: used only when none of the specific properties above carries a witness
_FALLBACK = {"1": "behaviour_sensitive", "3": "user_sensitive"}


def located(where: Optional[Location], line: str) -> str:
    """``file:line: line``, compiler-style, when the declaration's location is known."""
    return f"{where}: {line}" if where is not None else line


def _where(result: IsaResult, mnemonic: str) -> Optional[Location]:
    """The declaration of ``mnemonic`` in ``result`` (the ISA's own when it is not an instruction)."""
    try:
        return result.instruction(mnemonic).where
    except KeyError:
        return result.where


def witness_line(isa: str, w: Witness, where: Optional[Location] = None) -> str:
    """The witness's explanation, named by the ISA (added when the text lacks it) and
    located at the declaration of its instruction."""
    text = w.explanation or f"{w.instruction} is {prop_name(w.property)}"
    line = text if text.startswith(f"{isa}: ") else f"{isa}: {text}"
    if w.replayed is False:
        line += " [witness did not replay on the compiled backend]"
    return located(where, line)


def violation_witnesses(ins: InstructionResult, theorem: str) -> list[Witness]:
    """The witnesses that make ``ins`` violate ``theorem``: why it is sensitive, then why
    it is not privileged."""
    out: list[Witness] = []
    for prop in _SENSITIVITY.get(theorem, []):
        p = ins.props.get(prop)
        if p is not None and p.value and p.witness is not None:
            out.append(p.witness)
    if not out:
        p = ins.props.get(_FALLBACK.get(theorem, ""))
        if p is not None and p.witness is not None:
            out.append(p.witness)
    priv = ins.props.get("privileged")
    if priv is not None and priv.value is False and priv.witness is not None:
        out.append(priv.witness)
    return out


def violation_lines(result: IsaResult, theorem: TheoremResult, *, first_only: bool = False) -> list[str]:
    """One compiler-style line per witness of each of the theorem's violations (with
    ``first_only``, just the first: why the instruction is sensitive)."""
    lines: list[str] = []
    for mnemonic in theorem.violations:
        try:
            ins = result.instruction(mnemonic)
        except KeyError:
            lines.append(located(result.where,
                                 f"{result.isa}: {mnemonic} violates Theorem {theorem.number} (no result recorded)"))
            continue
        ws = violation_witnesses(ins, theorem.number)
        if not ws:
            lines.append(located(ins.where,
                                 f"{result.isa}: {mnemonic} violates Theorem {theorem.number} (no witness recorded)"))
        lines += [witness_line(result.isa, w, ins.where) for w in (ws[:1] if first_only else ws)]
    return lines


def undecided_lines(result: IsaResult, theorem: TheoremResult) -> list[str]:
    """Why each undecided instruction stayed undecided (the solver's reasons)."""
    lines = []
    for mnemonic in theorem.undecided:
        reasons: list[str] = []
        try:
            ins = result.instruction(mnemonic)
            reasons = sorted({_undecided_reason(k, p) for k, p in ins.props.items()
                              if p.value is None and p.how != "derived"})
        except KeyError:
            pass
        why = "; ".join(reasons) or "not decided within the budget"
        lines.append(located(_where(result, mnemonic),
                             f"{result.isa}: {mnemonic} is undecided for Theorem {theorem.number}: {why}"))
    return lines


def _undecided_reason(prop: str, p: Any) -> str:
    """``privileged: solver: canceled`` / ``privileged: vacuous (why, at file:line)``."""
    if p.verdict is Verdict.VACUOUS:
        at = f", {p.where}" if p.where is not None else ""
        return f"{prop_name(prop)}: vacuous ({p.reason or 'its precondition holds in no state'}{at})"
    return f"{prop_name(prop)}: {p.reason or 'unknown'}"


@dataclass
class MonitorProperty:
    """One monitor property as renderers see it, whatever object ``check --vmm`` returned."""

    name: str
    verdict: Verdict
    violations: list[Any]

    @property
    def holds(self) -> Optional[bool]:
        return self.verdict.as_bool()

    def violation_texts(self) -> list[str]:
        return [violation_text(v) for v in self.violations]


def violation_text(v: Any) -> str:
    """A monitor violation as one line: its ``explanation`` if it has one, else ``str()``."""
    expl = getattr(v, "explanation", None)
    if isinstance(expl, str) and expl:
        return expl
    if isinstance(v, dict) and isinstance(v.get("explanation"), str):
        return v["explanation"]
    return str(v)


def jsonable(v: Any) -> Any:
    """A violation in JSON: its ``to_json()`` if it has one, plain data as is, else ``str()``."""
    to_json = getattr(v, "to_json", None)
    if callable(to_json):
        return to_json()
    if v is None or isinstance(v, (str, int, float, bool, list, dict)):
        return v
    return str(v)


def monitor_properties(monitor: Any) -> list[MonitorProperty]:
    """Equivalence, isolation and efficiency of a monitor result (duck-typed: each has a
    ``.verdict`` or ``.holds``, and ``.violations``); a property it lacks is unknown."""
    out = []
    for name in MONITOR_PROPERTIES:
        p = getattr(monitor, name, None)
        violations = list(getattr(p, "violations", None) or []) if p is not None else []
        out.append(MonitorProperty(name, verdict_of(p), violations))
    return out


def monitor_title(monitor: Any) -> str:
    """What a report calls the monitor of a result: its policy's title, looked up in the
    policy registry by the name the result records (``trap-emulate`` when it records none)."""
    from virtcheck.hypervisor.policies import DEFAULT, PolicyError, get

    name = getattr(monitor, "monitor", None) or DEFAULT
    try:
        return get(name).title
    except PolicyError:
        return f"{name} monitor"


def monitor_violation_lines(result: IsaResult) -> list[str]:
    """``<file>:<line>: pg3-jrst: monitor equivalence: ...`` for every monitor violation,
    located at the instruction's declaration."""
    if result.monitor is None:
        return []
    lines = []
    for p in monitor_properties(result.monitor):
        for v, text in zip(p.violations, p.violation_texts()):
            line = text if text.startswith(f"{result.isa}: ") else f"{result.isa}: monitor {p.name}: {text}"
            lines.append(located(_where(result, v) if isinstance(v, str) else result.where, line))
    return lines


def unique(lines: list[str]) -> list[str]:
    """The lines in order, each once (a witness can explain violations of both theorems)."""
    return list(dict.fromkeys(lines))
