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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from virtcheck import __version__
from virtcheck.fuzz.case import Case
from virtcheck.fuzz.oracles import PROPERTIES, Failure
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
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
    return Entry(doc["isa"], doc.get("isa_ref", doc["isa"]), doc.get("isa_fingerprint", ""), doc["vmm"],
                 int(doc.get("depth", 1)), doc["property"], int(doc["seed"]), case, failure, doc.get("versions", {}))


def entries(directory: Union[str, Path], isa_name: Optional[str] = None) -> list[tuple[Path, Entry]]:
    """Every readable file of a corpus (for ``isa_name`` only, when given), in name order.
    Unreadable files are skipped by the caller's choice: they are returned as errors."""
    d = Path(directory)
    out = []
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        e = read(p)
        if isa_name is None or e.isa == isa_name:
            out.append((p, e))
    return out
