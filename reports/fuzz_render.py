"""Renderers of a fuzz campaign's report (:class:`virtcheck.fuzz.report.FuzzReport`):
text, Markdown, JSON (the stable contract of docs/fuzz-report.md) and JUnit XML.

Every renderer states the seed, and a campaign that found nothing says so honestly:
"no divergence in N programs (seed S)".
"""

from __future__ import annotations

import json
from typing import Any, Callable
from xml.sax.saxutils import escape, quoteattr

FILE_NAMES: dict[str, str] = {"text": "fuzz-report.txt", "md": "fuzz-report.md", "json": "fuzz-report.json",
                              "junit": "fuzz-report.xml"}
FORMATS = list(FILE_NAMES)


def _diff_lines(diff: dict[str, Any]) -> list[str]:
    out = []
    for group, items in diff.items():
        if isinstance(items, dict):
            for name, v in items.items():
                if isinstance(v, dict):
                    out.append(f"{name}: " + ", ".join(f"{k}={_fmt(x)}" for k, x in v.items()))
                else:
                    out.append(f"{group}.{name}: {_fmt(v)}")
        else:
            out.append(f"{group}: {_fmt(items)}")
    return out


def _fmt(v: Any) -> str:
    return f"{v:#x}" if isinstance(v, int) and not isinstance(v, bool) and v > 9 else str(v)


def render_text(r: Any) -> str:
    d = r.to_json()
    lines = [f"virtcheck fuzz: {d['isa']} under {d['vmm']}, seed {d['seed']}, {d['workers']} worker(s), "
             f"properties {', '.join(d['properties'])}",
             f"engine: {d['engine']}" + (f" ({d['engine_note']})" if d["engine_note"] else ""),
             f"{d['programs']} programs, {d['instructions_executed']} steps executed, {d['seconds']:.1f} s, "
             f"{d['pairs_per_second']:.0f} pairs/s ({d['pairs_per_second_per_worker']:.0f} per worker)",
             f"isolation cases {d['isolation_cases']}, encapsulation cases {d['encapsulation_cases']}, "
             f"left the partition domain {d['out_of_domain']}, corpus replayed {d['corpus_replayed']}"]
    eff = d["efficiency"]
    if eff["mean_direct_ratio"] is not None:
        lines.append(f"efficiency: mean direct-execution ratio {eff['mean_direct_ratio']:.3f} over {eff['programs']} programs")
    cov = d["coverage"]
    if cov:
        hit = sum(c["hit"] for c in cov)
        pos = sum(c["possible"] for c in cov)
        lines.append(f"coverage: {hit}/{pos} (instruction, mode, outcome) combinations")
        for c in cov:
            lines.append(f"  {c['instruction']:<8} {c['hit']:>2}/{c['possible']:<2}"
                         + (f"  unhit: {', '.join(c['unhit'])}" if c["unhit"] else ""))
    for f in d["failures"]:
        lines.append("")
        lines.append(f"FAIL {f['property']} at {f['instruction']} (step {f['step']}): {f['detail'] or f['assembly']}")
        lines.append("  minimal program:")
        lines += [f"    {a}" for a in f["program"]]
        lines.append("  state difference:")
        lines += [f"    {x}" for x in _diff_lines(f["state_difference"])]
        if f["replay_file"]:
            lines.append(f"  replay: virtcheck replay {f['replay_file']}")
    cmp = d["comparison"]
    if cmp is not None:
        lines.append("")
        lines.append(f"compared with Z3: agreed {cmp['agreed'] or '-'}; found only by fuzzing {cmp['fuzz_only'] or '-'}; "
                     f"found only by Z3 (fuzzer blind spot) {cmp['z3_only'] or '-'}")
    for w in d["worker_deaths"]:
        lines.append(f"worker {w['worker']} died (exit code {w['exitcode']}) after {w['after_programs']} programs; replaced")
    for e in d.get("corpus_notes", []):
        lines.append(f"note: {e}")
    for e in d["errors"]:
        lines.append(f"error: {e}")
    for e in d["worker_errors"]:
        lines.append(f"worker error: {e}")
    lines.append("")
    lines.append(d["summary"])
    return "\n".join(lines) + "\n"


def render_markdown(r: Any) -> str:
    d = r.to_json()
    out = [f"# virtcheck fuzz: {d['isa']} under {d['vmm']}", "",
           f"**{d['summary']}**", "",
           "| seed | workers | programs | steps | seconds | pairs/s | pairs/s/worker |",
           "|---|---|---|---|---|---|---|",
           f"| {d['seed']} | {d['workers']} | {d['programs']} | {d['instructions_executed']} | {d['seconds']:.1f} | "
           f"{d['pairs_per_second']:.0f} | {d['pairs_per_second_per_worker']:.0f} |", ""]
    if d["failures"]:
        out += ["## Failures", ""]
        for f in d["failures"]:
            out += [f"### {f['property']} at `{f['instruction']}`", "", f["detail"] or f["assembly"], "", "```"]
            out += f["program"] + ["```", ""]
            out += [f"- {x}" for x in _diff_lines(f["state_difference"])]
            if f["replay_file"]:
                out.append(f"- replay: `virtcheck replay {f['replay_file']}`")
            out.append("")
    if d["comparison"] is not None:
        c = d["comparison"]
        out += ["## Compared with Z3", "", "| agreed | fuzz only | Z3 only |", "|---|---|---|",
                f"| {', '.join(c['agreed']) or '-'} | {', '.join(c['fuzz_only']) or '-'} | {', '.join(c['z3_only']) or '-'} |", ""]
    if d["coverage"]:
        out += ["## Coverage", "", "| instruction | hit | possible | unhit |", "|---|---|---|---|"]
        out += [f"| {c['instruction']} | {c['hit']} | {c['possible']} | {', '.join(c['unhit'])} |" for c in d["coverage"]]
        out.append("")
    return "\n".join(out)


def render_json(r: Any) -> str:
    return json.dumps(r.to_json(), indent=1, sort_keys=True) + "\n"


def render_junit(r: Any) -> str:
    d = r.to_json()
    cases = []
    for prop in d["properties"]:
        fails = [f for f in d["failures"] if f["property"] == prop]
        name = quoteattr(f"{d['isa']}.{prop}")
        if not fails:
            cases.append(f'  <testcase classname="virtcheck.fuzz" name={name}/>')
            continue
        body = "\n".join("    <failure message=" + quoteattr(prop + " fails at " + f["instruction"]) + ">"
                         + escape("\n".join(f["program"] + _diff_lines(f["state_difference"]))) + "</failure>"
                         for f in fails)
        cases.append(f'  <testcase classname="virtcheck.fuzz" name={name}>\n{body}\n  </testcase>')
    nfail = sum(1 for p in d["properties"] if any(f["property"] == p for f in d["failures"]))
    props = f'  <properties><property name="seed" value="{d["seed"]}"/></properties>'
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name={quoteattr("virtcheck fuzz " + d["isa"])} '
            f'tests="{len(d["properties"])}" failures="{nfail}" time="{d["seconds"]}">\n{props}\n'
            + "\n".join(cases) + "\n</testsuite>\n")


_RENDERERS: dict[str, Callable[[Any], str]] = {"text": render_text, "md": render_markdown, "json": render_json,
                                               "junit": render_junit}


def render_fuzz(report: Any, fmt: str) -> str:
    """The campaign report in ``fmt`` (one of FORMATS)."""
    try:
        return _RENDERERS[fmt](report)
    except KeyError:
        raise ValueError(f"unknown report format '{fmt}' (known: {', '.join(FORMATS)})") from None
