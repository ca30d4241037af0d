"""Corpus files: validated against their ISA before they run, refused in one line naming
the file and the field (never replayed as "not reproduced", which reads as "fixed"); a
folder with a bad file replays the others; a file replays from any folder."""

from __future__ import annotations

import json
import shutil

import pytest

from rel_helpers import PEEK_SRC, vc


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A corpus of one pg3-jrst failure, made by a campaign; returns (folder, file)."""
    d = tmp_path_factory.mktemp("corpus")
    r = vc("fuzz", "pg3-jrst", "--examples", "300", "--seed", "2", "--corpus", "c", "--no-z3", "--property",
           "equivalence", "--format", "json", cwd=d)
    assert r.rc == 1, r.err
    (f,) = (d / "c").glob("*.json")
    return d, f


def _edited(src, tweak) -> str:
    doc = json.loads(src.read_text())
    tweak(doc)
    return json.dumps(doc)


def _set(*path, value):
    def tweak(doc):
        at = doc
        for k in path[:-1]:
            at = at[k]
        at[path[-1]] = value
    return tweak


BAD = [
    (_set("case", "state", "fields", "M", value=7), "field 'case.state.fields.M': value 0x7 does not fit in 1 bit"),
    (_set("case", "program", 0, value="0xff000000"),
     "field 'case.program[0]': opcode 0x3f of 0xff000000 is past the instruction table (29 instructions)"),
    (_set("case", "program", 0, value="0x1ffffffff"),
     "field 'case.program[0]': 0x1ffffffff does not fit in the 32-bit instruction word"),
    (_set("case", "program", value=[]), "field 'case.program': empty (nothing to run)"),
    (_set("case", "budget", value=0), "field 'case.budget': 0 is not positive"),
    (_set("case", "partition_size", value=0), "field 'case.partition_size': 0 is not in 1..4096 (the size of E)"),
    (_set("case", "partition_size", value=5000), "field 'case.partition_size': 5000 is not in 1..4096 (the size of E)"),
    (_set("case", "state", "memories", "E", "cells", value={"300": 1}),
     "field 'case.state.memories.E.cells.300': address 0x12c lies outside the 256-cell partition"),
    (_set("case", "state", "fields", "nosuch", value=0), "field 'case.state.fields.nosuch': ISA 'pg3-jrst' has no "
     "field 'nosuch'"),
    (_set("isa_fingerprint", value="0" * 64), "field 'isa_fingerprint': ISA 'pg3-jrst' changed since the failure "
     "was saved"),
    (_set("seed", value="seven"), "field 'seed' is 'seven', not an integer"),
    (_set("depth", value=0), "field 'depth' is 0; a monitor stack has depth 1 or more"),
]


def test_a_corrupt_corpus_file_is_refused_never_not_reproduced(tmp_path, corpus):
    _, src = corpus
    tweak, message = BAD[0]
    (tmp_path / "bad.json").write_text(_edited(src, tweak))
    r = vc("replay", "bad.json", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (2, "", f"error: bad.json: {message}\n")


def test_every_field_is_validated_against_the_isa(tmp_path, corpus):
    """One folder of corrupt files (one run): each refused in its own line, none replayed."""
    _, src = corpus
    d = tmp_path / "c"
    d.mkdir()
    for k, (tweak, _) in enumerate(BAD):
        (d / f"bad{k:02d}.json").write_text(_edited(src, tweak))
    r = vc("replay", "c", "--json", cwd=tmp_path)
    assert r.rc == 2
    assert r.err.splitlines() == [f"error: c/bad{k:02d}.json: {m}" for k, (_, m) in enumerate(BAD)]
    assert json.loads(r.out)["results"] == []


def test_a_folder_with_a_bad_file_replays_the_others(tmp_path, corpus):
    _, src = corpus
    d = tmp_path / "c"
    d.mkdir()
    shutil.copy(src, d / src.name)
    (d / "a-truncated.json").write_text(src.read_text()[:80])
    (d / "b-wide.json").write_text(_edited(src, _set("case", "state", "fields", "M", value=2)))
    r = vc("replay", "c", cwd=tmp_path)
    assert r.rc == 2  # an input could not be used: it wins, as in `check`
    assert r.err.splitlines() == [
        "error: c/a-truncated.json: not a virtcheck-fuzz-case file (invalid JSON: Expecting property name "
        "enclosed in double quotes: line 8 column 1 (char 80))",
        "error: c/b-wide.json: field 'case.state.fields.M': value 0x2 does not fit in 1 bit"]
    assert f"c/{src.name}: pg3-jrst under trap-emulate, equivalence, seed 2\n" in r.out
    assert "reproduced: equivalence fails at JRST1 (step 0), identical to the recorded failure\n" in r.out
    assert r.out.endswith("replayed 1 of 3 files: 1 reproduced, 0 not; 2 could not be used\n")


def test_the_campaign_replays_the_good_files_of_a_corpus_and_reports_the_bad(tmp_path, corpus):
    _, src = corpus
    d = tmp_path / "c"
    d.mkdir()
    shutil.copy(src, d / src.name)
    (d / "b-wide.json").write_text(_edited(src, _set("case", "state", "fields", "M", value=2)))
    r = vc("fuzz", "pg3-jrst", "--examples", "1", "--seed", "1", "--corpus", "c", "--no-z3", "--property",
           "equivalence", "--format", "json", cwd=tmp_path)
    d = json.loads(r.out)
    # the good file's failure is replayed and reported, but the run is incomplete: the one
    # exit-code rule (checks.verdict.exit_code) gives 2 for an input that did not load
    assert r.rc == 2 and d["corpus_replayed"] == 1 and d["failures"][0]["from_corpus"]
    assert d["errors"] == ["c/b-wide.json: field 'case.state.fields.M': value 0x2 does not fit in 1 bit"]


def test_a_corpus_file_replays_from_any_folder(tmp_path):
    """The campaign records where the definition file is; replay finds it from anywhere,
    and a corpus moved together with its definition still finds it next to it."""
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "peek.py").write_text(PEEK_SRC)
    r = vc("fuzz", "defs/peek.py", "--examples", "200", "--seed", "3", "--corpus", "c", "--no-z3", "--format", "json",
           cwd=tmp_path)
    assert r.rc == 1, r.err
    (f,) = (tmp_path / "c").glob("*.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = vc("replay", str(f), cwd=elsewhere)
    assert r.rc == 1 and "reproduced: equivalence fails at PEEKS" in r.out, r.err
    moved = tmp_path / "moved"
    (moved / "c").mkdir(parents=True)
    shutil.copy(tmp_path / "defs" / "peek.py", moved / "peek.py")
    (moved / "c" / f.name).write_text(_edited(f, _set("isa_ref", value="gone/peek.py")))
    r = vc("replay", f"c/{f.name}", cwd=moved)
    assert r.rc == 1 and "reproduced: equivalence fails at PEEKS" in r.out, r.err
