"""The JUnit XML report, for CI systems that draw test results.

One ``testsuite`` per ISA. Test cases: one per theorem (``failure`` when it fails,
``error`` when it is undecided -- an inconclusive run exits non-zero, so CI must not show
it green), one per instruction × property (always passes when decided, since a
classification is a fact rather than a requirement; ``skipped`` with the solver's reason
when undecided), and one per monitor property with ``check --vmm``. Inputs that did not
load form a last suite of errors.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Optional

from virtcheck.checks.results import PROPERTIES, CheckRun, IsaResult
from virtcheck.checks.verdict import Verdict
from virtcheck.reports.explain import monitor_properties, undecided_lines, violation_lines, witness_line
from virtcheck.isa.location import Location
from virtcheck.reports.labels import THEOREMS, mark


class _Suite:
    """A testsuite element that keeps its own counts."""

    def __init__(self, parent: ET.Element, name: str, seconds: float = 0.0):
        self.el = ET.SubElement(parent, "testsuite", name=name)
        self.seconds = seconds
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(self, classname: str, name: str, *, failure: Optional[tuple[str, str]] = None,
             error: Optional[tuple[str, str]] = None, skipped: Optional[str] = None, out: str = "",
             where: Optional[Location] = None) -> None:
        tc = ET.SubElement(self.el, "testcase", classname=classname, name=name, time="0")
        if where is not None:  # the declaration the case is about (read by CI annotators)
            tc.set("file", where.file)
            tc.set("line", str(where.line))
        self.counts["tests"] += 1
        if failure is not None:
            ET.SubElement(tc, "failure", message=failure[0], type="failure").text = failure[1]
            self.counts["failures"] += 1
        if error is not None:
            ET.SubElement(tc, "error", message=error[0], type="unknown").text = error[1]
            self.counts["errors"] += 1
        if skipped is not None:
            ET.SubElement(tc, "skipped", message=skipped)
            self.counts["skipped"] += 1
        if out:
            ET.SubElement(tc, "system-out").text = out

    def close(self) -> dict[str, int]:
        for k, v in self.counts.items():
            self.el.set(k, str(v))
        self.el.set("time", f"{self.seconds:.3f}")
        return self.counts


def _isa_suite(root: ET.Element, run: CheckRun, r: IsaResult) -> dict[str, int]:
    suite = _Suite(root, r.isa, r.seconds)
    props = ET.Element("properties")
    for k, v in [("source", r.source), ("guest_configuration", r.guest_configuration),
                 ("supervisor_mode", r.supervisor_mode), ("verdict", r.verdict.value)] + \
            [(f"budget.{k}", str(v)) for k, v in run.budget.items()]:
        ET.SubElement(props, "property", name=k, value=v or "")
    suite.el.insert(0, props)

    for number, t in sorted(r.theorems.items()):
        name = f"Theorem {number}: {t.statement or THEOREMS.get(number, '')}"
        if t.verdict is Verdict.FAILS:
            suite.case(f"{r.isa}.theorems", name, where=t.where,
                       failure=(f"violated by {', '.join(t.violations)}", "\n".join(violation_lines(r, t))))
        elif t.verdict is Verdict.HOLDS:
            suite.case(f"{r.isa}.theorems", name, where=t.where)
        else:
            suite.case(f"{r.isa}.theorems", name, where=t.where,
                       error=(f"{t.verdict.value}: undecided for {', '.join(t.undecided) or '-'}",
                              "\n".join(undecided_lines(r, t))))

    if r.monitor is not None:
        for p in monitor_properties(r.monitor):
            texts = "\n".join(p.violation_texts())
            where = getattr(r.monitor, "where", None)
            if p.verdict is Verdict.FAILS:
                suite.case(f"{r.isa}.monitor", p.name, failure=(f"{p.name} fails", texts), where=where)
            elif p.verdict is Verdict.HOLDS:
                suite.case(f"{r.isa}.monitor", p.name, where=where)
            else:
                suite.case(f"{r.isa}.monitor", p.name, error=(f"{p.name} {p.verdict.value}", texts), where=where)

    for ins in r.instructions:
        for prop in PROPERTIES:
            p = ins.props.get(prop)
            verdict = p.verdict if p is not None else Verdict.UNKNOWN
            if verdict is Verdict.UNKNOWN:
                suite.case(f"{r.isa}.{ins.mnemonic}", prop, where=ins.where,
                           skipped=f"not decided within the budget: {(p.reason if p else '') or 'unknown'}")
                continue
            if verdict is Verdict.VACUOUS:
                suite.case(f"{r.isa}.{ins.mnemonic}", prop, where=ins.where,
                           skipped=f"vacuous: {(p.reason if p else '') or 'its precondition holds in no state'}")
                continue
            out = f"{prop} = {mark(verdict)} ({p.how})"
            if p.witness is not None:
                out += "\n" + witness_line(r.isa, p.witness, ins.where)
            elif p.reason:
                out += f"\n{p.reason}"
            suite.case(f"{r.isa}.{ins.mnemonic}", prop, out=out, where=ins.where)
    return suite.close()


def render_junit(run: CheckRun) -> str:
    root = ET.Element("testsuites", name="virtcheck")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for r in run.results:
        for k, v in _isa_suite(root, run, r).items():
            totals[k] += v
    if run.errors:
        suite = _Suite(root, "inputs")
        for e in run.errors:
            suite.case("inputs", e.split(": ", 1)[0], error=(e, e))
        for k, v in suite.close().items():
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{run.seconds:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
