"""Every path virtcheck writes is checked before long work starts, and every file is
written whole or not at all: a file where a folder should be, a missing folder, a
read-only folder or a full disk is one line and exit 2, and a report already there is
never left truncated or empty."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rel_helpers import TINY_SRC, vc


@pytest.fixture
def mount(tmp_path):
    """``mount(name, options)``: a tmpfs at tmp_path/name (root only; skipped elsewhere)."""
    mounted: list[Path] = []

    def make(name: str, options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        d = tmp_path / name
        d.mkdir()
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(d)], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _fill(d: Path, leave: int = 0) -> None:
    """Fill the file system of ``d``, then free ``leave`` bytes."""
    filler = d / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    if leave:
        size = filler.stat().st_size
        os.truncate(filler, max(0, size - leave))


def test_out_that_is_a_file(tmp_path):
    (tmp_path / "out").write_text("not a folder\n")
    r = vc("check", "pg3", "--out", "out", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", "error: --out out: out is a file, not a directory\n")


def test_fuzz_out_and_corpus_are_checked_before_the_campaign(tmp_path):
    (tmp_path / "f").write_text("x\n")
    r = vc("fuzz", "pg3", "--examples", "5", "--out", "f", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", "error: --out f: f is a file, not a directory\n")  # no seed line: nothing ran
    r = vc("fuzz", "pg3", "--examples", "5", "--corpus", "f", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", "error: --corpus f: f is a file, not a directory\n")


def test_save_snapshot_into_a_missing_folder_is_refused_before_the_run(tmp_path):
    (tmp_path / "p.s").write_text("NOP\nHALT\n")
    r = vc("run", "pg3", "p.s", "--vmm", "trap-emulate", "--save-snapshot", "nowhere/s.json", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", "error: --save-snapshot nowhere/s.json: no such directory nowhere\n")
    r = vc("run", "pg3", "p.s", "--vmm", "trap-emulate", "--save-snapshot", ".", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", "error: --save-snapshot .: . is a directory\n")


def test_read_only_folder(tmp_path, mount):
    ro = mount("ro", "ro,size=64k")
    rel = ro.relative_to(tmp_path)
    r = vc("check", "pg3", "--out", f"{rel}/out", cwd=tmp_path)
    assert (r.rc, r.out) == (2, "")
    assert r.err == f"error: --out {rel}/out: cannot create directory {rel}/out: Read-only file system\n"
    r = vc("fuzz", "pg3", "--examples", "5", "--corpus", str(rel), cwd=tmp_path)
    assert (r.rc, r.err) == (2, f"error: --corpus {rel}: cannot write in {rel}: Read-only file system\n")


def test_full_disk_before_the_work(tmp_path, mount):
    d = mount("full", "size=64k")
    (d / "out").mkdir()
    _fill(d)
    r = vc("check", "pg3", "--out", "full/out", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", "error: --out full/out: cannot write in full/out: No space left on device\n")


def test_full_disk_while_writing_keeps_the_old_report_whole(tmp_path, mount):
    (tmp_path / "tiny.py").write_text(TINY_SRC)
    d = mount("full", "size=64k")
    (d / "out").mkdir()
    old = '{"old": "report"}\n'
    (d / "out" / "report.json").write_text(old)
    _fill(d, leave=4096)  # room for the probe, not for the report
    r = vc("check", "tiny.py", "--out", "full/out", "--format", "json", cwd=tmp_path)
    assert r.rc == 2
    assert r.err == "error: --out full/out: full/out/report.json: cannot write: No space left on device\n"
    assert (d / "out" / "report.json").read_text() == old
    assert sorted(p.name for p in (d / "out").iterdir()) == ["report.json"]  # no temporary file left


def test_reports_are_replaced_whole(tmp_path):
    (tmp_path / "tiny.py").write_text(TINY_SRC)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text("old\n")
    r = vc("check", "tiny.py", "--out", "out", "--format", "json", cwd=tmp_path)
    assert r.rc == 1 and r.out.endswith("wrote out/report.json\n")
    assert (tmp_path / "out" / "report.json").read_text().startswith("{")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json"]


def test_write_atomic_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    """The same without root: the disk fills while the new file is being written."""
    import errno

    from virtcheck.isa import files

    target = tmp_path / "report.json"
    target.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(files.OutputError) as exc:
        files.write_atomic(target, "new\n" * 1000)
    assert str(exc.value) == f"{target}: cannot write: No space left on device"
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
