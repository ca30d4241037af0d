"""The terminal report: what a person reads after ``virtcheck check``.

Per ISA: a header (what was checked and under which guest configuration), the
instruction × property table, the theorems with their verdicts, and each violation as
its witness's compiler-style line. Colour is only added when the caller says the output
is a terminal, so piped output is plain text.
"""

from __future__ import annotations

import re
from typing import Optional

import click
from tabulate import tabulate

from virtcheck.checks.results import PROPERTIES, CheckRun, IsaResult
from virtcheck.checks.verdict import Verdict
from virtcheck.reports.explain import (
    monitor_properties, monitor_title, monitor_verdict, monitor_violation_lines, undecided_lines, unique, violation_lines,
)
from virtcheck.reports.labels import COLUMNS, LEGEND, THEOREMS, budget_line, mark, plural

_VERDICT_COLOUR = {"holds": "green", "fails": "red", "unknown": "yellow", "vacuous": "yellow"}


class _Paint:
    """click.style when colouring, the identity otherwise."""

    def __init__(self, color: bool):
        self.color = color

    def __call__(self, text: str, **style) -> str:
        return click.style(text, **style) if self.color else text

    def verdict(self, word: str) -> str:
        return self(word, fg=_VERDICT_COLOUR.get(word), bold=word == "fails")


def field_groups(fields: dict[str, str]) -> dict[str, list[str]]:
    """role -> field names, with register-bank runs folded (``r0``..``r7`` -> ``r0-r7``)."""
    out: dict[str, list[str]] = {}
    for role in sorted(set(fields.values()), key=lambda r: (r != "system", r)):
        names = [n for n, r in fields.items() if r == role]
        out[role] = _fold(names)
    return out


def _fold(names: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(names):
        m = re.fullmatch(r"(.*?)(\d+)", names[i])
        j = i
        if m:
            prefix, start = m.group(1), int(m.group(2))
            while j + 1 < len(names) and names[j + 1] == f"{prefix}{start + j + 1 - i}":
                j += 1
        out.append(names[i] if j == i else f"{names[i]}-{names[j]}")
        i = j + 1
    return out


def instruction_table(r: IsaResult, paint: Optional[_Paint] = None) -> str:
    paint = paint or _Paint(False)
    bad = {m for t in r.theorems.values() for m in t.violations}
    rows = []
    for ins in r.instructions:
        name = paint(ins.mnemonic, fg="red", bold=True) if ins.mnemonic in bad else ins.mnemonic
        cells = []
        for prop in PROPERTIES:
            v = ins.props[prop].verdict if prop in ins.props else Verdict.UNKNOWN
            cells.append(paint(mark(v), fg="yellow") if v.as_bool() is None else mark(v))
        rows.append([name] + cells)
    return tabulate(rows, headers=["instruction"] + [COLUMNS[p] for p in PROPERTIES], tablefmt="simple",
                    disable_numparse=True)


def isa_section(r: IsaResult, paint: Optional[_Paint] = None) -> list[str]:
    paint = paint or _Paint(False)
    lines = [paint(r.isa, bold=True) + (f": {r.doc}" if r.doc else "")]
    header = [
        ("source", r.source or "-"),
        ("guest configuration", r.guest_configuration or "-"),
        ("supervisor mode", r.supervisor_mode or "-"),
    ]
    for role, names in field_groups(r.fields).items():
        header.append((f"{role} fields", ", ".join(names)))
    width = max(len(k) for k, _ in header) + 1
    lines += [f"  {k + ':':<{width}} {v}" for k, v in header]
    lines.append("")
    lines += instruction_table(r, paint).splitlines()
    lines.append("")
    for number, t in sorted(r.theorems.items()):
        statement = t.statement or THEOREMS.get(number, "")
        word = t.verdict.value
        tail = ""
        if t.violations:
            tail = f", violated by {', '.join(t.violations)}"
        elif t.undecided:
            tail = f", undecided for {', '.join(t.undecided)}"
        lines.append(f"Theorem {number}, {statement}: {paint.verdict(word)}{tail}")
        lines += violation_lines(r, t)
        if t.verdict is not Verdict.FAILS:
            lines += undecided_lines(r, t)
    if r.monitor is not None:
        lines.append("")
        lines.append(f"{monitor_title(r.monitor)}:")
        for p in monitor_properties(r.monitor):
            word = p.verdict.value
            n = f" ({plural(len(p.violations), 'violation')})" if p.violations else ""
            lines.append(f"  {p.name}: {paint.verdict(word)}{n}")
        lines += monitor_violation_lines(r)
    lines.append("")
    lines.append(f"verdict for {r.isa}: {paint.verdict(r.verdict.value)} ({r.seconds:.1f} s)")
    return lines


def summary_lines(run: CheckRun, paint: Optional[_Paint] = None) -> list[str]:
    """The closing lines: one per ISA, the budget, and the totals."""
    paint = paint or _Paint(False)
    lines = []
    if run.results:
        width = max(len(r.isa) for r in run.results)
        for r in run.results:
            why = sorted({m for t in r.theorems.values() for m in t.violations})
            detail = f" ({', '.join(why)})" if why else ""
            if r.monitor is not None:
                detail += f"; monitor {paint.verdict(monitor_verdict(r.monitor).value)}"
            lines.append(f"  {r.isa:<{width}}  {paint.verdict(r.verdict.value)}{detail}")
    counts = {v: sum(1 for r in run.results if r.verdict is v) for v in Verdict}
    totals = f"{counts[Verdict.HOLDS]} hold, {counts[Verdict.FAILS]} fail, {counts[Verdict.UNKNOWN]} unknown"
    if counts[Verdict.VACUOUS]:
        totals += f", {counts[Verdict.VACUOUS]} vacuous"
    if run.errors:
        totals += f", {plural(len(run.errors), 'input error')}"
    lines.append(
        f"checked {plural(len(run.results), 'ISA')} in {run.seconds:.1f} s "
        f"({budget_line(run.budget)}; {plural(run.jobs, 'job')}): {totals}; exit {run.exit_code}"
    )
    return lines


def render_text(run: CheckRun, *, color: bool = False) -> str:
    """The full terminal report (every ISA, then the summary)."""
    paint = _Paint(color)
    lines: list[str] = []
    for r in run.results:
        lines += isa_section(r, paint)
        lines.append("")
    if run.results:
        lines.append(LEGEND)
        lines.append("")
    lines += [f"error: {e}" for e in run.errors]
    lines += summary_lines(run, paint)
    return "\n".join(lines) + "\n"


def render_summary(run: CheckRun, *, color: bool = False) -> str:
    """The short form, for when the full report went to a file: one compiler-style line
    per Theorem 1 violation (why it is sensitive; Theorem 3's violations are a subset and
    the report file has every witness), undecided instructions, load errors, the summary."""
    paint = _Paint(color)
    lines: list[str] = []
    for r in run.results:
        for number, t in sorted(r.theorems.items()):
            if number == "1":
                lines += violation_lines(r, t, first_only=True)
            if t.verdict is not Verdict.FAILS:
                lines += undecided_lines(r, t)
        lines += monitor_violation_lines(r)
    lines = unique(lines)
    lines += [f"error: {e}" for e in run.errors]
    lines += summary_lines(run, paint)
    return "\n".join(lines) + "\n"
