"""The example in docs/json-report.md is the real report of the tiny example, trimmed as
the doc says (one ISA, one instruction, one witness, three ``details`` entries whose
witnesses keep two keys); only the timings may differ."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from virtcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "json-report.md"


def trim(report: dict[str, Any]) -> dict[str, Any]:
    isa = report["isas"][1]
    ins = next(i for i in isa["instructions"] if i["mnemonic"] == "PEEKS")
    details = {k: dict(v) for k, v in list(ins["details"].items())[:3]}
    for d in details.values():
        if "witness" in d:
            d["witness"] = {k: d["witness"][k] for k in ("property", "explanation")}
    ins = {**ins, "witnesses": ins["witnesses"][-1:], "details": details}
    return {**report, "isas": [{**isa, "instructions": [ins]}]}


def untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def real_report(monkeypatch) -> dict[str, Any]:
    monkeypatch.chdir(ROOT)  # the doc shows the path as given: docs/examples/tiny_isa.py
    out = CliRunner().invoke(main, ["check", "docs/examples/tiny_isa.py", "--format", "json", "--jobs", "1"])
    return json.loads(out.stdout)


def test_json_doc_example_is_the_real_report(monkeypatch):
    shown = json.loads(re.search(r"```json\n(.*?)```", DOC.read_text(), flags=re.S).group(1))
    assert untimed(shown) == untimed(trim(real_report(monkeypatch)))
