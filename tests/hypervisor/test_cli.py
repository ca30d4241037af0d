"""``virtcheck run``: output, exit codes, snapshots through the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from virtcheck.cli import main
from virtcheck.hypervisor import workloads


def _run(*args):
    return CliRunner().invoke(main, ["run", *args])


def test_run_bare_and_under_monitor_agree(pg3):
    kernel = str(workloads.path(pg3, "kernel"))
    bare = _run("pg3", kernel, "--bare", "--json")
    vmm = _run("pg3", kernel, "--vmm", "trap-emulate", "--vms", "2", "--depth", "2", "--json")
    assert bare.exit_code == 0 and vmm.exit_code == 0, vmm.output
    b, v = json.loads(bare.output), json.loads(vmm.output)
    assert all(g["state"] == b["guests"][0]["state"] for g in v["guests"])
    assert v["guests"][0]["accounting"]["emulated"] == {"LPSW": 21}


def test_run_text_output(pg3):
    r = _run("pg3", "--workload", "kernel", "--vmm", "trap-emulate", "--trap-log", "2")
    assert r.exit_code == 0
    assert "guest 0 partition" in r.output and "accounting: direct" in r.output and "svc" in r.output


def test_snapshot_round_trip(pg3, tmp_path):
    f = str(tmp_path / "s.json")
    a = _run("pg3", "--workload", "kernel", "--vmm", "trap-emulate", "--steps", "1000", "--save-snapshot", f)
    assert a.exit_code == 0
    b = _run("pg3", "--vmm", "trap-emulate", "--from-snapshot", f, "--json")
    assert b.exit_code == 0 and json.loads(b.output)["guests"][0]["result"] == "halt"


def test_input_errors_exit_2(pg3, tmp_path):
    bad = tmp_path / "bad.s"
    bad.write_text("NOP\nFROB r1\n")
    r = _run("pg3", str(bad))
    assert r.exit_code == 2 and "bad.s:2" in r.output
    assert _run("nosuch", str(bad)).exit_code == 2
    assert _run("pg3", str(bad), "--vms", "2").exit_code == 2
    junk = tmp_path / "junk.json"
    junk.write_text("[]")
    r = _run("pg3", "--vmm", "trap-emulate", "--from-snapshot", str(junk))
    assert r.exit_code == 2 and "not a virtcheck-vm-snapshot file" in r.output


def test_run_under_every_policy_gives_the_same_guest_and_its_accounting(pg3):
    bare = json.loads(_run("pg3", "--workload", "kernel", "--bare", "--json").output)["guests"][0]["state"]
    ratios = {}
    for policy in ("trap-emulate", "hybrid", "emulate"):
        r = _run("pg3", "--workload", "kernel", "--vmm", policy, "--vms", "2", "--json")
        assert r.exit_code == 0, r.output
        d = json.loads(r.output)
        assert d["policies"] == [policy] and d["mode"] == policy
        for g in d["guests"]:
            assert g["state"] == bare
            a = g["accounting"]
            assert {"direct", "emulated", "interpreted", "reflected", "monitor_entries", "world_switches"} <= set(a)
        ratios[policy] = d["guests"][0]["accounting"]["direct_ratio"]
    assert ratios["emulate"] == 0.0 < ratios["hybrid"] < ratios["trap-emulate"]


def test_run_a_stack_of_policies(pg3):
    r = _run("pg3", "--workload", "kernel", "--vmm", "trap-emulate,hybrid", "--vms", "2", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["policies"] == ["trap-emulate", "hybrid"] and d["depth"] == 2
    text = _run("pg3", "--workload", "kernel", "--vmm", "trap-emulate,hybrid")
    assert text.output.splitlines()[0] == "pg3: hybrid monitor, depth 2 (bottom first: trap-emulate, hybrid)"
    assert "interpreted" in text.output and "monitor entries" in text.output


def test_run_policy_errors_exit_2(pg3, tmp_path):
    r = _run("pg3", "--workload", "kernel", "--vmm", "trap-emulate,paravirt")
    assert r.exit_code == 2
    assert "Invalid value for '--vmm': unknown monitor policy 'paravirt' (known: trap-emulate, hybrid, emulate)" \
        in r.output
    r = _run("pg3", "--workload", "kernel", "--vmm", "trap-emulate,hybrid", "--depth", "3")
    assert r.exit_code == 2 and r.output.strip() == \
        "error: --depth 3 contradicts --vmm trap-emulate,hybrid (a stack of 2)"


def test_snapshot_under_one_policy_restores_under_another(pg3, tmp_path):
    f = str(tmp_path / "s.json")
    a = _run("pg3", "--workload", "kernel", "--vmm", "hybrid", "--steps", "1000", "--save-snapshot", f)
    assert a.exit_code == 0 and json.loads(open(f).read())["policy"] == "hybrid"
    b = _run("pg3", "--vmm", "emulate", "--from-snapshot", f, "--json")
    assert b.exit_code == 0 and json.loads(b.output)["guests"][0]["result"] == "halt"
