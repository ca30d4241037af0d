"""Campaigns: determinism, shrinking, corpus round trip and atomicity, replay, the CLI,
interrupted campaigns and a killed worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from virtcheck.cli import main
from virtcheck.fuzz import corpus as C
from virtcheck.fuzz import oracles as O
from virtcheck.fuzz.campaign import CampaignConfig, run_campaign
from virtcheck.fuzz.casegen import CaseGenerator
from virtcheck.fuzz.properties import check
from virtcheck.fuzz.shrink import shrink

from campaign_helpers import MACHINES, PG3, case

JRST = MACHINES["pg3-jrst"]


def _stable(report) -> dict:
    d = report.to_json()
    for k in ("seconds", "pairs_per_second", "pairs_per_second_per_worker"):
        d.pop(k)
    for f in d["failures"]:
        f.pop("found_at_seconds")
    return d


def test_same_seed_and_workers_give_the_same_campaign():
    cfg = dict(isa=JRST, isa_ref="pg3-jrst", seed=11, seconds=None, examples=300, workers=1)
    a = run_campaign(CampaignConfig(**cfg))
    b = run_campaign(CampaignConfig(**cfg))
    assert a.programs == 300 and _stable(a) == _stable(b)


def test_the_case_generator_is_deterministic():
    a, b = CaseGenerator(PG3, 5), CaseGenerator(PG3, 5)
    for _ in range(50):
        assert a.case().to_json() == b.case().to_json()


def test_shrinking_keeps_the_failure_and_reaches_one_instruction():
    c = case(JRST, "LI r1, 3\nADD r2, r1, r1\nJRST1 0x20\nLI r4, 9", M=1, r5=77, memory={9: 5})
    f = check(O.EQUIVALENCE, JRST, c)
    small, g = shrink(JRST, c, f, lambda x: check(O.EQUIVALENCE, JRST, x))
    assert g.key == f.key and len(small.program) == 1 and small.assembly(JRST) == ["JRST1 0x0"]
    assert small.state.fields["r5"] == 0 and not small.state.memories["E"].cells


def test_corpus_round_trip(tmp_path):
    c = case(JRST, "JRST1 0", M=1)
    f = check(O.EQUIVALENCE, JRST, c)
    e = C.Entry("pg3-jrst", "pg3-jrst", C.fingerprint(JRST), "trap-emulate", 1, O.EQUIVALENCE, 3, c, f, C.versions())
    p = C.save(tmp_path, e, JRST)
    back = C.read(p)
    assert back.case.to_json() == c.to_json() and back.failure.to_json() == f.to_json() and back.seed == 3
    assert [x.name for x in tmp_path.iterdir()] == [p.name]  # no temporary file left behind
    assert check(O.EQUIVALENCE, JRST, back.case).to_json() == f.to_json()


def test_corpus_writes_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    C.write_atomic(target, "old\n")

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        C.write_atomic(target, "new and half")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


@pytest.mark.parametrize("text, field", [("{", "invalid JSON"), ('{"format": "nope"}', "'format'"),
                                         ('{"format": "virtcheck-fuzz-case", "version": 9}', "'version'")])
def test_corpus_errors_name_the_file_and_field(tmp_path, text, field):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(C.CorpusError, match=field) as exc:
        C.read(p)
    assert str(p) in str(exc.value)


def test_campaign_saves_then_replays_its_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    cfg = dict(isa=JRST, isa_ref="pg3-jrst", seed=2, seconds=None, examples=400, workers=1, corpus=corpus,
               properties=(O.EQUIVALENCE,))
    first = run_campaign(CampaignConfig(**cfg))
    assert [f.instruction for f in first.failures] == ["JRST1"] and first.failures[0].replay_file
    files = list(corpus.iterdir())
    assert len(files) == 1
    again = run_campaign(CampaignConfig(**{**cfg, "examples": 1}))
    assert again.corpus_replayed == 1 and again.failures[0].from_corpus
    r = CliRunner().invoke(main, ["replay", str(files[0])])
    assert r.exit_code == 1 and "identical to the recorded failure" in r.output
    r2 = CliRunner().invoke(main, ["replay", str(files[0]), "--json"])
    assert json.loads(r2.output)["identical"] is True


def test_cli_json_contract_and_exit_codes(tmp_path):
    r = CliRunner().invoke(main, ["fuzz", "pg3", "--examples", "60", "--seed", "4", "--format", "json",
                                  "--property", "equivalence,isolation"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for key in ("isa", "vmm", "seed", "programs", "instructions_executed", "pairs_per_second", "coverage", "failures"):
        assert key in d
    assert d["seed"] == 4 and d["failures"] == [] and d["summary"].startswith("no divergence in 60 programs (seed 4)")
    assert "seed 4" in r.stderr.splitlines()[0]


@pytest.mark.parametrize("args, message", [
    (["fuzz", "nosuch"], "unknown ISA"),
    (["fuzz", "pg3", "--property", "speed"], "--property"),
    (["fuzz", "pg3", "--budget", "soon"], "--budget"),
    (["fuzz", "pg3", "--budget", "1s", "--examples", "3"], "exclude"),
    (["fuzz", "pg3", "--format", "pdf"], "--format"),
    (["replay", "/nonexistent.json"], "cannot read"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _spawn(args: list[str], tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "virtcheck.cli", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_campaign_still_reports_and_saves(tmp_path, sig):
    p = _spawn(["fuzz", "pg3-jrst", "--budget", "60s", "--seed", "1", "--workers", "2", "--corpus", "corpus",
                "--format", "json", "--no-z3", "--property", "equivalence"], tmp_path)
    deadline = time.monotonic() + 20
    while not list((tmp_path / "corpus").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    d = json.loads(out)
    # interrupted: 128 + the signal (130 for Ctrl-C), whatever was found; the failures are still reported
    assert p.returncode == 128 + sig and d["interrupted"] and d["failures"][0]["instruction"] == "JRST1"
    assert d["summary"].endswith("[interrupted]") and d["exit_code"] == 128 + sig
    how = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    assert err.splitlines()[-1] == (
        "virtcheck fuzz pg3-jrst --budget 60s --seed 1 --workers 2 --corpus corpus --format json --no-z3 "
        f"--property equivalence: interrupted ({how}); saved: {len(d['failures'])} failure(s) in corpus corpus")
    assert all(not n.name.endswith(".tmp") for n in (tmp_path / "corpus").iterdir())


def test_a_killed_worker_is_reported_and_replaced(tmp_path):
    p = _spawn(["fuzz", "pg3", "--budget", "3s", "--seed", "1", "--workers", "2", "--format", "json", "--no-z3",
                "--property", "equivalence"], tmp_path)
    deadline = time.monotonic() + 10
    kids: list[int] = []
    while len(kids) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        kids = _children(p.pid)
    time.sleep(0.5)
    os.kill(kids[0], signal.SIGKILL)
    out, err = p.communicate(timeout=40)
    d = json.loads(out)
    assert p.returncode == 0, err
    assert d["worker_deaths"] and d["worker_deaths"][0]["exitcode"] == -signal.SIGKILL
    assert d["programs"] > 0 and not d["failures"]


def test_shrinking_never_hides_the_instruction_in_memory():
    # the failing instruction also sits in the state's memory where the program is placed
    from virtcheck.isa.asm import assemble

    jrst = assemble(JRST, "JRST1 0").words()[0]
    c = case(JRST, "NOP\nJRST1 0x4", M=1, memory={0: jrst, 1: jrst, 7: 3})
    f = check(O.EQUIVALENCE, JRST, c)
    small, g = shrink(JRST, c, f, lambda x: check(O.EQUIVALENCE, JRST, x))
    assert small.assembly(JRST) == ["JRST1 0x0"] and not small.state.memories["E"].cells
