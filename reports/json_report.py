"""The JSON report: one document, a stable contract (docs/json-report.md).

Keys are only ever added, never renamed or removed, so tools can rely on them; values
that were not decided are ``null``, never a guess. Output is deterministic for a given
run except for the ``seconds`` timings.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from virtcheck.checks.results import PROPERTIES, CheckRun, InstructionResult, IsaResult
from virtcheck.isa.location import Location
from virtcheck.reports.explain import jsonable, monitor_properties, monitor_verdict

#: bumped only if a key changes meaning; additions keep the number
SCHEMA_VERSION = 1


def _location(where: Optional[Location]) -> Optional[dict[str, Any]]:
    """``{"file": ..., "line": ...}`` of a declaration (``isa/location.py`` says which path form)."""
    return where.to_json() if where is not None else None


def instruction_json(ins: InstructionResult) -> dict[str, Any]:
    d: dict[str, Any] = {"mnemonic": ins.mnemonic, "syntax": ins.syntax, "doc": ins.doc,
                         "location": _location(ins.where), "verdict": ins.verdict.value}
    for prop in PROPERTIES:
        p = ins.props.get(prop)
        d[prop] = p.value if p is not None else None
    d["witnesses"] = [w.to_json() for w in ins.witnesses()]
    d["reads"] = list(ins.reads)
    d["writes"] = list(ins.writes)
    d["flows"] = list(ins.flows)
    d["details"] = {prop: ins.props[prop].to_json() for prop in PROPERTIES if prop in ins.props}
    d["queries"] = ins.queries
    d["seconds"] = round(ins.seconds, 3)
    return d


def monitor_json(monitor: Any) -> dict[str, Any]:
    """The monitor's own ``to_json()`` (if any), with the contract's keys made sure of."""
    base = monitor.to_json() if callable(getattr(monitor, "to_json", None)) else {}
    d: dict[str, Any] = dict(base) if isinstance(base, dict) else {"detail": base}
    for p in monitor_properties(monitor):
        entry = d.get(p.name)
        entry = dict(entry) if isinstance(entry, dict) else {}
        entry["holds"] = p.holds
        entry["verdict"] = p.verdict.value
        entry["violations"] = [jsonable(v) for v in p.violations]
        d[p.name] = entry
    verdict = monitor_verdict(monitor)
    d["holds"] = verdict.as_bool()
    d["verdict"] = verdict.value
    return d


def isa_json(r: IsaResult) -> dict[str, Any]:
    d: dict[str, Any] = {
        "isa": r.isa,
        "doc": r.doc,
        "source": r.source,
        "guest_configuration": r.guest_configuration,
        "supervisor_mode": r.supervisor_mode,
        "fields": dict(r.fields),
        "location": _location(r.where),
        "verdict": r.verdict.value,
        "theorems": {n: t.to_json() for n, t in sorted(r.theorems.items())},
        "instructions": [instruction_json(i) for i in r.instructions],
        "seconds": round(r.seconds, 3),
    }
    if r.monitor is not None:
        d["monitor"] = monitor_json(r.monitor)
    return d


def run_json(run: CheckRun) -> dict[str, Any]:
    """The whole report as plain data."""
    return {
        "schema": SCHEMA_VERSION,
        "virtcheck_version": run.virtcheck_version,
        "z3_version": run.budget.get("z3_version"),
        "budget": dict(run.budget),
        "jobs": run.jobs,
        "seconds": round(run.seconds, 3),
        "verdict": run.verdict.value,
        "exit_code": run.exit_code,
        "errors": list(run.errors),
        "isas": [isa_json(r) for r in run.results],
    }


def render_json(run: CheckRun) -> str:
    return json.dumps(run_json(run), indent=2, ensure_ascii=False) + "\n"
