"""Faults in campaigns: the campaign process killed, a write cut short, Ctrl-C inside a
worker, and memory a previous case left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rel_helpers import command, vc
from virtcheck.fuzz import campaign as CP
from virtcheck.fuzz import oracles as O
from virtcheck.fuzz.casegen import CaseGenerator
from virtcheck.fuzz.runner import rig
from virtcheck.isa.machines import bundled
from virtcheck.isa.native import compiler


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent's reaping is left


def test_workers_end_when_the_campaign_is_killed(tmp_path):
    p = subprocess.Popen(command("fuzz", "pg3", "--budget", "120s", "--seed", "1", "--workers", "2", "--no-z3",
                                 "--property", "equivalence"), cwd=tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    kids: list[int] = []
    while len(kids) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        kids = _children(p.pid)
    assert len(kids) == 2
    p.kill()
    p.wait()
    deadline = time.monotonic() + 10
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [k for k in kids if _alive(k)]  # none runs on for the rest of the budget


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("saved")
    r = vc("fuzz", "pg3-jrst", "--examples", "300", "--seed", "2", "--corpus", "c", "--no-z3", "--property",
           "equivalence", "--format", "json", cwd=d)
    assert r.rc == 1, r.err
    (f,) = (d / "c").glob("*.json")
    return f


def test_a_write_cut_short_is_recovered_or_reported(tmp_path, saved):
    c = tmp_path / "c"
    c.mkdir()
    name = saved.name
    shutil.copy(saved, c / f".{name}.k3x9q1.tmp")  # whole: killed between fsync and rename
    (c / ".other.json.p0w2z8.tmp").write_text(saved.read_text()[:50])  # killed mid-write
    r = vc("fuzz", "pg3-jrst", "--examples", "1", "--seed", "1", "--corpus", "c", "--no-z3", "--property",
           "equivalence", "--format", "json", cwd=tmp_path)
    d = json.loads(r.out)
    assert d["corpus_notes"] == [f"c/{name}: recovered from an interrupted write (.{name}.k3x9q1.tmp)"]
    assert d["errors"] == ["c/.other.json.p0w2z8.tmp: an interrupted write left an incomplete corpus file (meant "
                           "for other.json); its failure was not saved: delete it after looking"]
    assert d["corpus_replayed"] == 1 and d["failures"][0]["from_corpus"]  # the recovered failure replays
    assert sorted(p.name for p in c.iterdir()) == [".other.json.p0w2z8.tmp", name]
    r = vc("fuzz", "pg3-jrst", "--examples", "1", "--seed", "1", "--corpus", "c", "--no-z3", "--property",
           "equivalence", "--format", "text", cwd=tmp_path)
    assert "error: c/.other.json.p0w2z8.tmp: an interrupted write left an incomplete corpus file" in r.out


def test_ctrl_c_in_a_workers_solver_query_is_an_interruption(monkeypatch):
    """Z3 answers Ctrl-C with unknown inside a worker (which ignores SIGINT otherwise):
    the worker reports an interruption, never a worker error or a predicate that "could
    not be satisfied within the solver's budget"."""
    def interrupted(*a, **k):
        raise KeyboardInterrupt  # what raise_if_interrupted turns Z3's answer into

    monkeypatch.setattr(CP, "run_worker", interrupted)
    cfg = CP.CampaignConfig(bundled()["pg3"], "pg3", 1, seconds=None, examples=50, workers=2,
                            properties=(O.EQUIVALENCE,), engine=CP.PYTHON)
    report = CP.run_campaign(cfg)
    assert report.interrupted and report.worker_errors == [] and report.exit_code == 130
    assert report.summary().endswith("[interrupted]")


def test_the_python_rig_starts_every_case_from_zeroed_memory_outside_the_partition():
    isa = bundled()["pg3"]
    case = CaseGenerator(isa, 5).case()
    r = rig(isa, case.partition_size)
    fresh = O.equivalence(isa, case)
    spans = [(m.physical, m.offset) for m in r.vm.mems]  # each memory's real list, the partition's place
    for phys, _ in spans:  # what an earlier case may leave: reserved cells, the rest of memory
        phys[:] = [0xDEAD] * len(phys)
    _, mems0 = case.image(isa)
    r.load_vm(mems0)
    for phys, off in spans:
        assert set(phys[:off]) <= {0} and set(phys[off + case.partition_size:]) <= {0}
    again = O.equivalence(isa, case)
    assert (again.failure, again.steps, again.direct) == (fresh.failure, fresh.steps, fresh.direct)


@pytest.mark.skipif(compiler() is None, reason="no C compiler on this machine")
def test_the_native_batch_starts_every_case_from_zeroed_memory_outside_the_partition():
    from virtcheck.fuzz import native as FN

    isa = bundled()["pg3"]
    batch = FN.NativeBatch(isa, CaseGenerator(isa, 7))
    clean = batch.run(256, 99)
    for arr in batch.phys:
        for k in range(len(arr)):
            arr[k] = 0xDEAD
    dirty = batch.run(256, 99)
    assert (dirty.flagged, dirty.steps, dirty.direct, dirty.emulated) == \
        (clean.flagged, clean.steps, clean.direct, clean.emulated)
    for arr in batch.phys:
        arr[:] = [0xDEAD] * len(arr)
    one = batch.run(1, 5)
    size = batch.case(one.choices[0]).partition_size
    base = rig(isa, size).base
    for arr in batch.phys:
        assert set(arr[base + size:]) <= {0}  # past the last case's partition: zeroed, not stale
