"""The result model through ``virtcheck check``: source locations of declarations
(bundled and user ISAs, text and JSON) and VACUOUS as a verdict of its own."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from virtcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
PG3 = ROOT / "isa" / "machines" / "pg3.py"
TINY_TEXT = (ROOT / "docs" / "examples" / "tiny_isa.py").read_text()


def line_of(text: str, prefix: str) -> int:
    """1-based line of the first line of ``text`` that starts with ``prefix``."""
    return next(n for n, ln in enumerate(text.splitlines(), 1) if ln.startswith(prefix))


def invoke(*args: str):
    return CliRunner().invoke(main, ["check", "--jobs", "1", *args], catch_exceptions=False)


def test_bundled_locations_are_package_relative():
    src = PG3.read_text()
    jrst1 = line_of(src, '@jrst.instruction("JRST1')
    result = invoke("pg3-jrst")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert (f"virtcheck/isa/machines/pg3.py:{jrst1}: pg3-jrst: JRST1 is control-sensitive: from "
            "{P=0, M=1, IE=0, l=0, b=0} it sets M=0x0 without trapping") in lines
    d = json.loads(invoke("pg3-jrst", "--format", "json").stdout)["isas"][0]
    assert d["location"] == {"file": "virtcheck/isa/machines/pg3.py", "line": line_of(src, "jrst = isa.derive(")}
    ins = {i["mnemonic"]: i for i in d["instructions"]}
    assert ins["JRST1"]["location"] == {"file": "virtcheck/isa/machines/pg3.py", "line": jrst1}
    # instructions pg3-jrst inherits are located where pg3 declares them
    assert ins["NOP"]["location"] == {"file": "virtcheck/isa/machines/pg3.py", "line": line_of(src, '@isa.instruction("NOP')}
    assert ins["JRST1"]["verdict"] == "fails" and ins["NOP"]["verdict"] == "holds"
    assert d["theorems"]["1"]["location"] == d["location"]


def test_user_file_locations_keep_the_path_as_given(monkeypatch):
    monkeypatch.chdir(ROOT)
    peeks = line_of(TINY_TEXT, '@tiny_peek.instruction("PEEKS")')
    result = invoke("docs/examples/tiny_isa.py")
    assert (f"docs/examples/tiny_isa.py:{peeks}: tiny-peek: PEEKS is mode-sensitive: from {{S=1}} and {{S=0}} "
            "(a guest cannot tell them apart) it leaves A: 0x1 vs 0x0") in result.stdout.splitlines()
    d = json.loads(invoke("docs/examples/tiny_isa.py", "--format", "json").stdout)
    assert d["isas"][1]["instructions"][-1]["location"] == {"file": "docs/examples/tiny_isa.py", "line": peeks}


PROBE = '''
tiny_probe = tiny.derive("tiny-probe", doc="tiny plus PROBE")


@tiny_probe.instruction("PROBE")
def PROBE(m):
    """A := base; in user mode it always faults: no guest-configuration run completes."""
    m.trap_if(m.S == 0, FAULT)
    m.A = m.base


MACHINES = [tiny_probe]
'''


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    """tiny plus an instruction that memory-traps in every guest-configuration state:
    whether it is privileged is vacuous."""
    path = tmp_path / "probe_isa.py"
    path.write_text(TINY_TEXT.replace("MACHINES = [tiny, tiny_peek]\n", "") + textwrap.dedent(PROBE))
    return path


def test_vacuous_is_a_verdict_not_a_reason(probe: Path):
    text = probe.read_text()
    guest = line_of(text, "tiny.guest(")
    probe_line = line_of(text, '@tiny_probe.instruction("PROBE")')
    result = invoke(str(probe), "--format", "json")
    assert result.exit_code == 3  # vacuous is inconclusive, never a pass
    d = json.loads(result.stdout)
    r = d["isas"][0]
    ins = r["instructions"][-1]
    assert ins["mnemonic"] == "PROBE" and ins["privileged"] is None and ins["sensitive"] is True
    assert ins["details"]["privileged"] == {
        "value": None, "verdict": "vacuous", "how": "z3", "reason": "every guest-configuration run memory-traps",
        "location": {"file": str(probe), "line": guest}}
    assert ins["verdict"] == "vacuous" and ins["location"] == {"file": str(probe), "line": probe_line}
    assert r["theorems"]["1"]["verdict"] == "vacuous" and r["theorems"]["1"]["undecided"] == ["PROBE"]
    assert r["theorems"]["3"]["verdict"] == "holds"
    assert (r["verdict"], d["verdict"], d["exit_code"]) == ("vacuous", "vacuous", 3)

    lines = invoke(str(probe)).stdout.splitlines()
    assert lines[lines.index(next(ln for ln in lines if ln.startswith("PROBE ")))].split() == \
        ["PROBE", "vac", "no", "no", "yes", "no", "yes", "no", "yes", "no"]
    assert (f"{probe}:{probe_line}: tiny-probe: PROBE is undecided for Theorem 1: privileged: vacuous "
            f"(every guest-configuration run memory-traps, {probe}:{guest})") in lines
    assert lines[-1].endswith(": 0 hold, 0 fail, 0 unknown, 1 vacuous; exit 3")
