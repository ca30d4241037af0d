"""The documented example is the file the tests check, byte for byte."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from virtcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_isa_language_example_is_tiny_isa_py():
    doc = (ROOT / "docs" / "isa-language.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    example = (ROOT / "docs" / "examples" / "tiny_isa.py").read_text(encoding="utf-8")
    assert example in blocks


#: documents whose ```console blocks are run: ``$ virtcheck ...`` then the output it prints
#: (a line ``...`` stands for any number of lines, e.g. timings)
CONSOLE_DOCS = ["README.md", "docs/hypervisor.md", "docs/architecture.md"]


def _console_blocks() -> list:
    out = []
    for name in CONSOLE_DOCS:
        text = (ROOT / name).read_text(encoding="utf-8")
        for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
            first, *rest = block.rstrip("\n").split("\n")
            assert first.startswith("$ virtcheck "), (name, first)
            slow = first.startswith("$ virtcheck fuzz")  # campaigns: CI's bounded slow step
            out.append(pytest.param(first[2:], rest, id=f"{name}: {first[2:]}",
                                    marks=[pytest.mark.slow] if slow else []))
    return out


def _matches(expected: list[str], got: list[str]) -> bool:
    """``got`` is ``expected`` with each ``...`` line standing for any number of lines."""
    chunks: list[list[str]] = [[]]
    for line in expected:
        if line == "...":
            chunks.append([])
        else:
            chunks[-1].append(line)
    first, *middle, last = chunks if len(chunks) > 1 else (chunks[0], chunks[0])
    if len(chunks) == 1:
        return got == first
    if got[:len(first)] != first:
        return False
    at = len(first)
    for c in middle:
        while got[at:at + len(c)] != c:
            at += 1
            if at + len(c) > len(got):
                return False
        at += len(c)
    return len(got) - len(last) >= at and (not last or got[len(got) - len(last):] == last)


@pytest.mark.parametrize("command, expected", _console_blocks())
def test_documented_console_output(command, expected, monkeypatch):
    """Every documented command runs, and prints what the document shows."""
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(main, shlex.split(command)[1:])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert r.exit_code in (0, 1), r.output
    got = r.stdout.rstrip("\n").split("\n")
    assert _matches(expected, got), "\n".join(got)
