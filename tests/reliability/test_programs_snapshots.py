"""Program files and snapshots: every way one can be unusable is one located line, exit 2,
before anything runs; a snapshot is validated against the ISA field by field."""

from __future__ import annotations

import hashlib
import json

import pytest

from rel_helpers import vc


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe NOP\n", "error: prog.s:1: not UTF-8 text (byte 0xff at column 1)\n"),
    (b"NOP\nHALT \xc3\x28\n", "error: prog.s:2: not UTF-8 text (byte 0xc3 at column 6)\n"),
    (b"", "error: prog.s: the program is empty (nothing to run)\n"),
    (b"  \n\n", "error: prog.s: the program is empty (nothing to run)\n"),
    (b"; a comment\nstart:\n", "error: prog.s: the program has no instructions (nothing to run)\n"),
    (b"NOP\n" * 4097, "error: prog.s:4097: address 0x1000 lies outside E, which has 4096 cells on 'pg3'\n"),
], ids=["not-utf8", "not-utf8-line-2", "empty", "blank", "no-instructions", "larger-than-memory"])
def test_bad_program_files(tmp_path, content, message):
    (tmp_path / "prog.s").write_bytes(content)
    r = vc("run", "pg3", "prog.s", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", message)


def test_a_program_larger_than_each_guests_partition(tmp_path):
    (tmp_path / "prog.s").write_text("NOP\n" * 3000)
    r = vc("run", "pg3", "prog.s", "--vmm", "trap-emulate", "--vms", "2", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", "error: prog.s:2046: address 0x7fd lies outside each guest's partition "
                                           "of 2045 cells\n")


def _checksum(doc: dict) -> str:
    """docs/hypervisor.md: sha256 of the canonical JSON of everything but the checksum."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    d = tmp_path_factory.mktemp("snap")
    (d / "p.s").write_text("LI r1, 5\nHALT\n")
    r = vc("run", "pg3", "p.s", "--vmm", "trap-emulate", "--save-snapshot", "s.json", cwd=d)
    assert r.rc == 0, r.err
    return json.loads((d / "s.json").read_text())


def _edit(doc: dict, path: tuple, value) -> dict:
    doc = json.loads(json.dumps(doc))
    at = doc
    for k in path[:-1]:
        at = at[k]
    at[path[-1]] = value
    doc["checksum"] = _checksum(doc)  # a consistent file: only the validation can refuse it
    return doc


@pytest.mark.parametrize("path, value, message", [
    (("state", "fields", "M"), 7, "field 'state.fields.M': value 0x7 does not fit in 1 bit"),
    (("state", "fields", "r1"), -1, "field 'state.fields.r1': value -0x1 does not fit in 32 bits"),
    (("state", "memories", "E", "cells"), {"5000": 1}, "field 'state.memories.E.cells.5000': address 0x1388 lies "
     "outside the 4091-cell partition"),
    (("state", "memories", "E", "default"), 1 << 40, "field 'state.memories.E.default': value 0x10000000000 does "
     "not fit in 32 bits"),
    (("partition_size",), 0, "field 'partition_size': 0 is not in 1..4096"),
    (("partition_size",), "big", "field 'partition_size': 'big' is not in 1..4096"),
    (("halted",), "no", "field 'halted': 'no' is not true or false"),
])
def test_snapshot_fields_are_validated(tmp_path, snapshot, path, value, message):
    (tmp_path / "s.json").write_text(json.dumps(_edit(snapshot, path, value)))
    r = vc("run", "pg3", "--vmm", "trap-emulate", "--from-snapshot", "s.json", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", f"error: s.json: {message}\n")


def test_truncated_and_edited_snapshots(tmp_path, snapshot):
    text = json.dumps(snapshot)
    (tmp_path / "t.json").write_text(text[: len(text) // 2])
    r = vc("run", "pg3", "--vmm", "trap-emulate", "--from-snapshot", "t.json", cwd=tmp_path)
    assert r.rc == 2 and r.err.startswith("error: t.json: not a snapshot (invalid JSON: ") and r.err.count("\n") == 1
    edited = dict(snapshot, halted=not snapshot["halted"])
    (tmp_path / "e.json").write_text(json.dumps(edited))
    r = vc("run", "pg3", "--vmm", "trap-emulate", "--from-snapshot", "e.json", cwd=tmp_path)
    assert (r.rc, r.err) == (2, "error: e.json: checksum mismatch: the snapshot is corrupt or was edited\n")


def test_a_snapshot_of_another_isa(tmp_path, snapshot):
    (tmp_path / "s.json").write_text(json.dumps(snapshot))
    r = vc("run", "pg3-jrst", "--vmm", "trap-emulate", "--from-snapshot", "s.json", cwd=tmp_path)
    assert (r.rc, r.err) == (2, "error: s.json: snapshot of ISA 'pg3' cannot restore into ISA 'pg3-jrst'\n")
