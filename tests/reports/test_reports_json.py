"""The JSON contract (docs/json-report.md), checked on hand-built results."""

from __future__ import annotations

import json

from sample_results import PEEK_MODE, PEEK_PRIV, failing_monitor, make_run, toy, toy_peek
from virtcheck.checks.results import PROPERTIES
from virtcheck.reports import render, run_json


def test_top_level_keys_and_budget(run):
    d = json.loads(render(run, "json"))
    assert d["virtcheck_version"] == "9.9.9"
    assert d["z3_version"] == "4.99.0"
    assert d["budget"] == {"rlimit": 1000, "z3_version": "4.99.0"}
    assert d["jobs"] == 2
    assert d["seconds"] == 1.5
    assert d["errors"] == []
    assert d["exit_code"] == 1
    assert [i["isa"] for i in d["isas"]] == ["toy", "toy-peek", "toy-slow"]


def test_isa_object(run):
    toy_json, peek_json, slow_json = run_json(run)["isas"]
    assert {k: peek_json[k] for k in ("isa", "doc", "source", "guest_configuration", "supervisor_mode", "verdict")} \
        == {"isa": "toy-peek", "doc": "toy-peek doc", "source": "toy-peek source", "guest_configuration": "S = 0",
            "supervisor_mode": "sup", "verdict": "fails"}
    assert peek_json["fields"] == {"A": "user", "PC": "user", "S": "system", "base": "system"}
    assert peek_json["theorems"]["1"] == {"holds": False, "verdict": "fails", "violations": ["PEEK"],
                                          "undecided": [], "statement": "sensitive ⊆ privileged"}
    assert peek_json["theorems"]["3"]["holds"] is True
    assert toy_json["verdict"] == "holds"
    assert slow_json["verdict"] == "unknown"
    assert slow_json["theorems"]["1"]["holds"] is None
    assert slow_json["theorems"]["1"]["undecided"] == ["WAIT"]
    assert "monitor" not in peek_json


def test_instruction_object(run):
    peek = run_json(run)["isas"][1]["instructions"][1]
    assert peek["mnemonic"] == "PEEK"
    assert peek["syntax"] == "PEEK"
    assert {p: peek[p] for p in PROPERTIES} == {
        "privileged": False, "control_sensitive": False, "mode_sensitive": True, "location_sensitive": False,
        "resource_sensitive": False, "behaviour_sensitive": True, "user_sensitive": False, "sensitive": True,
        "innocuous": False,
    }
    assert peek["witnesses"] == [PEEK_PRIV.to_json(), PEEK_MODE.to_json()]
    assert peek["reads"] == ["PC"] and peek["writes"] == ["PC"] and peek["flows"] == []
    assert peek["details"]["mode_sensitive"] == {"value": True, "verdict": "holds", "how": "z3",
                                                 "witness": PEEK_MODE.to_json()}
    assert list(peek["details"]) == PROPERTIES


def test_unknown_is_null_with_reason(run):
    wait = run_json(run)["isas"][2]["instructions"][0]
    assert wait["privileged"] is None
    assert wait["details"]["privileged"] == {"value": None, "verdict": "unknown", "how": "z3",
                                           "reason": "max. resource limit exceeded"}


def test_monitor_section():
    r = toy_peek()
    r.monitor = failing_monitor()
    d = run_json(make_run(toy(), r))
    assert d["isas"][1]["monitor"] == {
        "monitor": "trap-emulate",
        "equivalence": {"holds": False, "verdict": "fails", "extra": 1,
                        "violations": ["PEEK: the monitor's result differs in A"]},
        "isolation": {"holds": True, "verdict": "holds", "violations": []},
        "efficiency": {"holds": None, "verdict": "unknown", "violations": []},
        "holds": False, "verdict": "fails",
    }
    # a failing monitor fails the run even though the theorems of toy hold
    assert d["exit_code"] == 1


def test_errors_make_exit_2():
    d = run_json(make_run(toy(), errors=["bad.py:3: instruction 'X': duplicate mnemonic"]))
    assert d["errors"] == ["bad.py:3: instruction 'X': duplicate mnemonic"]
    assert d["exit_code"] == 2
    assert [i["isa"] for i in d["isas"]] == ["toy"]


def test_deterministic(run):
    assert render(run, "json") == render(run, "json")
