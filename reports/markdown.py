"""The Markdown report: the same content as the text report, for a pull request or a wiki.

Tables use GitHub's pipe syntax; every witness line is kept verbatim in a code span so
state values such as ``{M=1, P=0}`` are not mangled by Markdown.
"""

from __future__ import annotations

from tabulate import tabulate

from virtcheck.checks.results import PROPERTIES, CheckRun, IsaResult
from virtcheck.checks.verdict import Verdict
from virtcheck.reports.explain import (
    monitor_properties, monitor_title, monitor_violation_lines, undecided_lines, violation_lines,
)
from virtcheck.reports.labels import COLUMNS, LEGEND, THEOREMS, budget_line, mark
from virtcheck.reports.text import field_groups


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text.replace('`', 'ˋ')}`"


def isa_markdown(r: IsaResult) -> list[str]:
    lines = [f"## {r.isa}: {r.verdict.value}", ""]
    if r.doc:
        lines += [r.doc, ""]
    lines += [
        f"- **Source:** {r.source or '-'}",
        f"- **Guest configuration:** {r.guest_configuration or '-'}",
        f"- **Supervisor mode:** {_code(r.supervisor_mode) if r.supervisor_mode else '-'}",
    ]
    for role, names in field_groups(r.fields).items():
        lines.append(f"- **{role.capitalize()} fields:** {', '.join(_code(n) for n in names)}")
    lines.append(f"- **Time:** {r.seconds:.1f} s")
    lines.append("")
    rows = [[_code(i.mnemonic), _cell(i.syntax)] + [mark(i.props[p].value if p in i.props else None)
                                                    for p in PROPERTIES] for i in r.instructions]
    lines += tabulate(rows, headers=["instruction", "syntax"] + [COLUMNS[p] for p in PROPERTIES],
                      tablefmt="github", disable_numparse=True).splitlines()
    lines += ["", "### Theorems", ""]
    for number, t in sorted(r.theorems.items()):
        statement = t.statement or THEOREMS.get(number, "")
        tail = ""
        if t.violations:
            tail = f": violated by {', '.join(_code(m) for m in t.violations)}"
        elif t.undecided:
            tail = f": undecided for {', '.join(_code(m) for m in t.undecided)}"
        lines.append(f"- **Theorem {number}**, {statement}: **{t.verdict.value}**{tail}")
        detail = violation_lines(r, t) + (undecided_lines(r, t) if t.verdict is not Verdict.FAILS else [])
        lines += [f"  - {_code(line)}" for line in detail]
    if r.monitor is not None:
        title = monitor_title(r.monitor)
        lines += ["", f"### {title[:1].upper()}{title[1:]}", ""]
        for p in monitor_properties(r.monitor):
            lines.append(f"- **{p.name}:** {p.verdict.value}")
        lines += [f"  - {_code(line)}" for line in monitor_violation_lines(r)]
    return lines


def render_markdown(run: CheckRun) -> str:
    lines = ["# virtcheck report", ""]
    lines.append(
        f"virtcheck {run.virtcheck_version}; budget: {budget_line(run.budget)}; "
        f"{run.jobs} job(s); {run.seconds:.1f} s; exit code {run.exit_code}."
    )
    lines.append("")
    if run.results:
        rows = [[_code(r.isa), r.verdict.value,
                 ", ".join(sorted({m for t in r.theorems.values() for m in t.violations})) or "-"]
                for r in run.results]
        lines += tabulate(rows, headers=["ISA", "verdict", "violations"], tablefmt="github").splitlines()
        lines.append("")
    if run.errors:
        lines += ["## Errors", ""] + [f"- {_code(e)}" for e in run.errors] + [""]
    for r in run.results:
        lines += isa_markdown(r) + [""]
    if run.results:
        lines += [f"_{LEGEND}._", ""]
    return "\n".join(lines)
