"""The terminal and Markdown reports, on hand-built results."""

from __future__ import annotations

import pytest

from sample_results import failing_monitor, make_run, toy, toy_peek
from virtcheck.reports import render
from virtcheck.reports.text import render_summary

PEEK_MODE_LINE = ("toy-peek: PEEK is mode-sensitive: from {S=1} and {S=0} (a guest cannot tell them apart) "
                  "it leaves A: 0x1 vs 0x0")
PEEK_PRIV_LINE = ("toy-peek: PEEK is not privileged: in the guest configuration {PC=0, S=0} it ends ok, "
                  "in supervisor mode it ends ok")


def test_header_names_what_was_checked(run):
    lines = render(run, "text").splitlines()
    i = lines.index("toy-peek: toy-peek doc")
    assert lines[i + 1:i + 6] == [
        "  source:              toy-peek source",
        "  guest configuration: S = 0",
        "  supervisor mode:     sup",
        "  system fields:       S, base",
        "  user fields:         A, PC",
    ]


def test_table_and_theorems(run):
    lines = render(run, "text").splitlines()
    header = next(line for line in lines if line.startswith("instruction"))
    assert header.split() == ["instruction", "priv", "ctrl", "mode", "loc", "res", "behav", "user", "sens", "innoc"]
    peek = next(line for line in lines if line.startswith("PEEK"))
    assert peek.split() == ["PEEK", "no", "no", "yes", "no", "no", "yes", "no", "yes", "no"]
    wait = next(line for line in lines if line.startswith("WAIT"))
    assert wait.split()[1] == "?"
    i = lines.index("Theorem 1, sensitive ⊆ privileged: fails, violated by PEEK")
    assert lines[i + 1:i + 3] == [PEEK_MODE_LINE, PEEK_PRIV_LINE]
    assert "Theorem 1, sensitive ⊆ privileged: unknown, undecided for WAIT" in lines
    assert ("toy-slow: WAIT is undecided for Theorem 1: privileged: max. resource limit exceeded") in lines


def test_summary_budget_and_exit(run):
    lines = render(run, "text").splitlines()
    assert lines[-4:] == [
        "  toy       holds",
        "  toy-peek  fails (PEEK)",
        "  toy-slow  unknown",
        "checked 3 ISAs in 1.5 s (rlimit 1000 per query, z3 4.99.0; 2 jobs): 1 hold, 1 fail, 1 unknown; exit 1",
    ]


def test_no_colour_unless_asked(run):
    assert "\x1b[" not in render(run, "text")
    coloured = render(run, "text", color=True)
    assert "\x1b[" in coloured
    # colour never changes the words
    import click

    assert click.unstyle(coloured) == render(run, "text")


def test_short_summary_lists_each_violation_once(run):
    """One line per Theorem 1 violation: why it is sensitive (the report file has the rest)."""
    text = render_summary(make_run(toy(), toy_peek(), errors=["x.py:1: syntax error: invalid syntax"]))
    assert text.splitlines() == [
        PEEK_MODE_LINE,
        "error: x.py:1: syntax error: invalid syntax",
        "  toy       holds",
        "  toy-peek  fails (PEEK)",
        "checked 2 ISAs in 1.5 s (rlimit 1000 per query, z3 4.99.0; 2 jobs): 1 hold, 1 fail, 0 unknown, "
        "1 input error; exit 2",
    ]


def test_monitor_section():
    r = toy()
    r.monitor = failing_monitor()
    lines = render(make_run(r), "text").splitlines()
    i = lines.index("trap-and-emulate monitor:")
    assert lines[i + 1:i + 5] == [
        "  equivalence: fails (1 violation)",
        "  isolation: holds",
        "  efficiency: unknown",
        "toy: monitor equivalence: PEEK: the monitor's result differs in A",
    ]
    assert lines[-1].endswith("exit 1")
    assert "  toy  fails; monitor fails" in lines  # an ISA's verdict combines its theorems and its monitor


def test_markdown(run):
    md = render(run, "md")
    lines = md.splitlines()
    assert lines[0] == "# virtcheck report"
    assert "## toy-peek: fails" in lines
    assert "- **Guest configuration:** S = 0" in lines
    assert "| `PEEK`        | PEEK     | no     | no     | yes    | no    | no    | yes     | no     | yes    | no      |" \
        in lines
    assert "- **Theorem 1**, sensitive ⊆ privileged: **fails**: violated by `PEEK`" in lines
    assert f"  - `{PEEK_MODE_LINE}`" in lines
    assert "\x1b[" not in md


def test_unknown_format(run):
    with pytest.raises(ValueError) as exc:
        render(run, "html")
    assert str(exc.value) == "unknown report format 'html' (known: text, md, json, junit)"
