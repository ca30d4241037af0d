"""The failure corpus: one replayable JSON file per distinct failure, written atomically.

Format ``virtcheck-fuzz-case``, version 1 (docs/fuzz-report.md)::

    {"format": "virtcheck-fuzz-case", "version": 1,
     "isa": "pg3-jrst", "isa_ref": "pg3-jrst", "isa_fingerprint": "<sha256>",
     "vmm": "trap-emulate", "depth": 1, "property": "equivalence", "seed": 7,
     "case": {"program": [...], "assembly": [...], "state": {...}, "partition_size": 64,
              "budget": 2, "split": 0, "others": []},
     "failure": {"property": ..., "instruction": "JRST1", "step": 0, "state_difference": {...}},
     "versions": {"virtcheck": "0.1.0", "python": "3.11.6", "hypothesis": "...", "z3": "..."}}

A file is written to a temporary name in the same directory, flushed, fsynced and then
renamed over its final name, so a crash or Ctrl-C never leaves half a file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from virtcheck import __version__
from virtcheck.fuzz.case import Case
from virtcheck.fuzz.oracles import PROPERTIES, Failure
from virtcheck.isa import files
from virtcheck.isa.model import Isa

FORMAT = "virtcheck-fuzz-case"
VERSION = 1


class CorpusError(Exception):
    """A corpus file that cannot be replayed; the message names the file and the field."""


def versions() -> dict[str, str]:
    out = {"virtcheck": __version__, "python": platform.python_version()}
    try:
        import hypothesis

        out["hypothesis"] = hypothesis.__version__
    except ImportError:
        pass
    try:
        import z3

        out["z3"] = z3.get_version_string()
    except ImportError:
        pass
    return out


def fingerprint(isa: Isa) -> str:
    from virtcheck.hypervisor.snapshot import isa_fingerprint

    return isa_fingerprint(isa)


@dataclass
class Entry:
    """One corpus file's content."""

    isa: str
    isa_ref: str
    isa_fingerprint: str
    vmm: str
    depth: int
    property: str
    seed: int
    case: Case
    failure: Failure
    versions: dict[str, str]

    def to_json(self, isa: Optional[Isa] = None) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "isa": self.isa, "isa_ref": self.isa_ref,
                "isa_fingerprint": self.isa_fingerprint, "vmm": self.vmm, "depth": self.depth,
                "property": self.property, "seed": self.seed, "case": self.case.to_json(isa),
                "failure": self.failure.to_json(), "versions": self.versions}

    def file_name(self) -> str:
        body = json.dumps(self.case.to_json(), sort_keys=True).encode()
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", self.failure.instruction) or "none"
        return f"{self.isa}-{self.property}-{tag}-{hashlib.sha256(body).hexdigest()[:10]}.json"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one
    (:func:`virtcheck.isa.files.write_atomic`, after creating the corpus directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(path, text)


def save(directory: Union[str, Path], entry: Entry, isa: Optional[Isa] = None) -> Path:
    path = Path(directory) / entry.file_name()
    write_atomic(path, json.dumps(entry.to_json(isa), indent=1, sort_keys=True) + "\n")
    return path


def read(path: Union[str, Path]) -> Entry:
    """Read and validate one corpus file; :class:`CorpusError` names what is wrong."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except OSError as exc:
        raise CorpusError(f"{p}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{p}: not a {FORMAT} file (invalid JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CorpusError(f"{p}: not a {FORMAT} file (field 'format' is {doc.get('format') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != VERSION:
        raise CorpusError(f"{p}: field 'version' is {doc.get('version')!r}; this virtcheck reads version {VERSION}")
    for name in ("isa", "vmm", "property", "seed", "case", "failure"):
        if name not in doc:
            raise CorpusError(f"{p}: missing field '{name}'")
    if doc["property"] not in PROPERTIES:
        raise CorpusError(f"{p}: field 'property' is {doc['property']!r} (expected one of {', '.join(PROPERTIES)})")
    from virtcheck.hypervisor.policies import names

    if doc["vmm"] not in names():
        raise CorpusError(f"{p}: field 'vmm' is {doc['vmm']!r} (expected one of {', '.join(names())})")
    try:
        case = Case.from_json(doc["case"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CorpusError(f"{p}: field 'case' is malformed ({type(exc).__name__}: {exc})") from None
    try:
        failure = Failure.from_json(doc["failure"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CorpusError(f"{p}: field 'failure' is malformed ({type(exc).__name__}: {exc})") from None
    for name, kind in (("isa", str), ("isa_ref", str), ("isa_fingerprint", str), ("vmm", str), ("depth", int),
                       ("seed", int), ("versions", dict)):
        if name in doc and (not isinstance(doc[name], kind) or isinstance(doc[name], bool)):
            raise CorpusError(f"{p}: field '{name}' is {doc[name]!r}, not {'a string' if kind is str else 'an integer' if kind is int else 'an object'}")
    if doc.get("depth", 1) < 1:
        raise CorpusError(f"{p}: field 'depth' is {doc['depth']}; a monitor stack has depth 1 or more")
    return Entry(doc["isa"], doc.get("isa_ref", doc["isa"]), doc.get("isa_fingerprint", ""), doc["vmm"],
                 doc.get("depth", 1), doc["property"], doc["seed"], case, failure, doc.get("versions", {}))


def validate(entry: Entry, isa: Isa, path: Union[str, Path]) -> None:
    """Refuse an entry that cannot mean what it says on ``isa``: another ISA or another
    version of it (fingerprint), or a case whose values do not fit (CorpusError naming the
    file and the field). Replaying such a case would run a different one and could report
    "not reproduced", which reads as "fixed"."""
    if entry.isa != isa.name:
        raise CorpusError(f"{path}: field 'isa' is '{entry.isa}', but the ISA loaded is '{isa.name}'")
    if entry.isa_fingerprint and entry.isa_fingerprint != fingerprint(isa):
        raise CorpusError(f"{path}: field 'isa_fingerprint': ISA '{isa.name}' changed since the failure was saved")
    hit = entry.case.problem(isa)
    if hit:
        raise CorpusError(f"{path}: field '{hit[0]}': {hit[1]}")


def entries(directory: Union[str, Path], isa_name: Optional[str] = None) -> tuple[list[tuple[Path, Entry]], list[str]]:
    """Every readable file of a corpus (for ``isa_name`` only, when given), in name order,
    and one message per file that is not: a bad file never hides the others."""
    d = Path(directory)
    out: list[tuple[Path, Entry]] = []
    errors: list[str] = []
    if not d.is_dir():
        return out, errors
    for p in sorted(d.glob("*.json")):
        try:
            e = read(p)
        except CorpusError as exc:
            errors.append(str(exc))
            continue
        if isa_name is None or e.isa == isa_name:
            out.append((p, e))
    return out, errors


def recover(directory: Union[str, Path]) -> tuple[list[str], list[str]]:
    """Temporary files an interrupted write left in a corpus (the writer was killed between
    writing and renaming): each whole one is renamed to the name it was written for;
    each one that is not is reported and kept for the user to look at. Returns (notes,
    errors), one line each."""
    d = Path(directory)
    notes: list[str] = []
    errors: list[str] = []
    if not d.is_dir():
        return notes, errors
    for tmp in sorted(d.glob(f"{files.TMP_PREFIX}*{files.TMP_SUFFIX}")):
        final = _final_name(tmp.name)
        if final is None:
            continue
        target = d / final
        try:
            read(tmp)
        except CorpusError:
            errors.append(f"{tmp}: an interrupted write left an incomplete corpus file (meant for {final}); "
                          "its failure was not saved: delete it after looking")
            continue
        if target.exists():
            tmp.unlink()
            notes.append(f"{tmp}: removed: a leftover copy of {final}, which is complete")
        else:
            os.replace(tmp, target)
            notes.append(f"{target}: recovered from an interrupted write ({tmp.name})")
    return notes, errors


def _final_name(tmp_name: str) -> Optional[str]:
    """``.NAME.json.<random>.tmp`` -> ``NAME.json`` (the form write_atomic uses), else None."""
    m = re.fullmatch(rf"{re.escape(files.TMP_PREFIX)}(.+\.json)\.[^.]+{re.escape(files.TMP_SUFFIX)}", tmp_name)
    return m.group(1) if m else None
