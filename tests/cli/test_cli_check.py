"""``virtcheck check`` through its public interface (click's CliRunner).

The tiny example ISA of docs/isa-language.md is checked for real (it is small: a
fraction of a second); monitors are faked because this command only wires them up.
"""

from __future__ import annotations

import json
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
from click.testing import CliRunner

from virtcheck.checks.results import PROPERTIES
from virtcheck.cli import main
from virtcheck.isa.machines import bundled

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "docs" / "examples" / "tiny_isa.py")
#: the line of PEEKS's declaration (its decorator) in the tiny example
PEEKS_LINE = Path(TINY).read_text().splitlines().index('@tiny_peek.instruction("PEEKS")') + 1

INSTRUCTION_KEYS = {"mnemonic", "syntax", "witnesses", "reads", "writes", "flows", "details", *PROPERTIES}
ISA_KEYS = {"isa", "doc", "source", "guest_configuration", "supervisor_mode", "fields", "verdict", "theorems",
            "instructions"}


def invoke(*args: str):
    return CliRunner().invoke(main, ["check", *args], catch_exceptions=False)


def announce(what: str, jobs: int = 1) -> str:
    import z3

    return (f"virtcheck 0.1.0: checking {what} with rlimit 5000000 per query, z3 {z3.get_version_string()}, "
            f"{jobs} job{'s' if jobs != 1 else ''}")


@pytest.fixture
def duplicate(tmp_path: Path) -> tuple[str, int]:
    """A definition file whose second ``ADD`` repeats a mnemonic; returns (path, line of that ADD)."""
    path = tmp_path / "dup.py"
    path.write_text(textwrap.dedent('''\
        from virtcheck.isa.lang import *

        isa = Isa("dup", word=16)
        isa.pc("PC", 8)
        isa.memory("mem", 8, 16)

        @isa.instruction("ADD")
        def ADD(m):
            pass

        @isa.instruction("ADD")
        def ADD(m):
            pass
        '''))
    return str(path), 11


def test_tiny_json_contract():
    result = invoke(TINY, "--format", "json", "--jobs", "1")
    assert result.exit_code == 1, result.output
    assert result.stderr == announce(TINY) + "\n"
    d = json.loads(result.stdout)
    assert {"virtcheck_version", "z3_version", "budget", "jobs", "seconds", "errors", "isas"} <= set(d)
    assert d["budget"]["rlimit"] == 5000000 and d["jobs"] == 1 and d["errors"] == []
    tiny, peek = d["isas"]
    assert ISA_KEYS <= set(tiny) and ISA_KEYS <= set(peek)
    assert (tiny["isa"], tiny["verdict"], tiny["supervisor_mode"]) == ("tiny", "holds", "sup")
    assert tiny["fields"] == {"A": "user", "PC": "user", "S": "system", "base": "system", "limit": "system"}
    assert {n: (t["holds"], t["violations"]) for n, t in tiny["theorems"].items()} == {"1": (True, []), "3": (True, [])}
    assert {n: (t["holds"], t["violations"]) for n, t in peek["theorems"].items()} \
        == {"1": (False, ["PEEKS"]), "3": (True, [])}
    for ins in tiny["instructions"] + peek["instructions"]:
        assert INSTRUCTION_KEYS <= set(ins)
        assert set(ins["details"]) == set(PROPERTIES)
        assert all(ins[p] in (True, False, None) for p in PROPERTIES)
    peeks = peek["instructions"][-1]
    assert peeks["mnemonic"] == "PEEKS"
    assert (peeks["privileged"], peeks["mode_sensitive"], peeks["sensitive"]) == (False, True, True)
    explanations = [w["explanation"] for w in peeks["witnesses"]]
    assert any(e.startswith("tiny-peek: PEEKS is mode-sensitive: ") for e in explanations)
    assert any(e.startswith("tiny-peek: PEEKS is not privileged: ") for e in explanations)
    setw = tiny["instructions"][[i["mnemonic"] for i in tiny["instructions"]].index("SETW")]
    assert (setw["privileged"], setw["control_sensitive"]) == (True, True)


def test_tiny_text_report_explains_the_violation():
    result = invoke(TINY, "--jobs", "1")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == announce(TINY)
    i = lines.index("Theorem 1, every sensitive instruction is privileged (a trap-and-emulate monitor exists): "
                    "fails, violated by PEEKS")
    # compiler-style: the file as given (here absolute), the declaration's line
    assert lines[i + 1] == (f"{TINY}:{PEEKS_LINE}: tiny-peek: PEEKS is mode-sensitive: from {{S=1}} and {{S=0}} "
                            "(a guest cannot tell them apart) it leaves A: 0x1 vs 0x0")
    assert result.stderr == ""


def test_duplicate_mnemonic_is_one_located_line(duplicate):
    path, line = duplicate
    result = invoke(path, "--jobs", "1")
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}:{line}: instruction 'ADD': duplicate mnemonic\n"


def test_a_bad_input_keeps_the_other_results(duplicate):
    path, line = duplicate
    result = invoke(path, TINY, "--format", "json", "--jobs", "1")
    assert result.exit_code == 2
    d = json.loads(result.stdout)
    assert d["errors"] == [f"{path}:{line}: instruction 'ADD': duplicate mnemonic"]
    assert [i["isa"] for i in d["isas"]] == ["tiny", "tiny-peek"]
    assert result.stderr.splitlines() == [announce(f"{path}, {TINY}"),
                                          f"error: {path}:{line}: instruction 'ADD': duplicate mnemonic"]


def test_unknown_isa():
    result = invoke("nosuch", "--jobs", "1")
    assert result.exit_code == 2
    assert result.stderr == (f"error: unknown ISA 'nosuch' (bundled: {', '.join(bundled())}; "
                             "or give a path to a .py file)\n")


def test_out_writes_every_format_and_prints_the_summary(tmp_path: Path):
    out = tmp_path / "reports"
    result = invoke(TINY, "--out", str(out), "--jobs", "1")
    assert result.exit_code == 1
    names = ["report.txt", "report.md", "report.json", "report.xml"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert json.loads((out / "report.json").read_text())["isas"][1]["verdict"] == "fails"
    lines = result.stdout.splitlines()
    assert lines[0] == announce(TINY)
    assert lines[1].startswith(f"{TINY}:{PEEKS_LINE}: tiny-peek: PEEKS is mode-sensitive: ")
    assert lines[-1] == "wrote " + ", ".join(str(out / n) for n in names)
    assert lines[-2].startswith("checked 2 ISAs in ") and lines[-2].endswith(": 1 hold, 1 fail, 0 unknown; exit 1")


def test_out_with_one_format(tmp_path: Path):
    result = invoke(TINY, "--out", str(tmp_path), "--format", "junit", "--jobs", "1")
    assert result.exit_code == 1
    assert [p.name for p in tmp_path.iterdir()] == ["report.xml"]


def test_several_formats_need_out():
    result = invoke(TINY, "--format", "json", "--format", "md")
    assert result.exit_code == 2
    assert result.stderr == ("error: virtcheck check: several --format values need --out DIR (stdout holds one report) "
                             "(see 'virtcheck check --help')\n")


def test_vmm_without_the_monitor_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "virtcheck.checks.monitor", None)
    result = invoke(TINY, "--vmm", "trap-emulate", "--jobs", "1")
    assert result.exit_code == 2
    assert result.stderr == ("error: --vmm trap-emulate: the monitor proofs are not available in this installation "
                             "(virtcheck.checks.monitor: import of virtcheck.checks.monitor halted; "
                             "None in sys.modules)\n")


@dataclass
class _Prop:
    holds: Optional[bool]
    violations: list[Any] = field(default_factory=list)


@dataclass
class _Monitor:
    equivalence: _Prop
    isolation: _Prop
    efficiency: _Prop

    def to_json(self) -> dict[str, Any]:
        return {"monitor": "fake"}


def test_vmm_attaches_the_monitor_and_a_failure_fails_the_run(monkeypatch):
    seen = []

    def check_monitor(isa, budget, policy):
        seen.append((isa.name, budget.rlimit))
        assert policy == "trap-emulate"
        bad = isa.name == "tiny"
        return _Monitor(_Prop(not bad, ["NOP: differs"] if bad else []), _Prop(True), _Prop(True))

    fake = types.ModuleType("virtcheck.checks.monitor")
    fake.check_monitor = check_monitor
    monkeypatch.setitem(sys.modules, "virtcheck.checks.monitor", fake)
    result = invoke(TINY, "--vmm", "trap-emulate", "--format", "json", "--rlimit", "1234567", "--jobs", "1")
    assert seen == [("tiny", 1234567), ("tiny-peek", 1234567)]
    assert result.exit_code == 1
    d = json.loads(result.stdout)
    assert d["isas"][0]["monitor"] == {
        "monitor": "fake", "holds": False, "verdict": "fails",
        "equivalence": {"holds": False, "verdict": "fails", "violations": ["NOP: differs"]},
        "isolation": {"holds": True, "verdict": "holds", "violations": []},
        "efficiency": {"holds": True, "verdict": "holds", "violations": []},
    }
    assert d["budget"]["rlimit"] == 1234567
    assert result.stderr.splitlines()[0].endswith(
        "tiny_isa.py, and the trap-and-emulate monitor with rlimit 1234567 per query, "
        f"z3 {d['z3_version']}, 1 job")
