"""Where a declaration was written, in a form that does not depend on the machine.

Declarations record ``file:line`` as Python saw it (:mod:`virtcheck.isa.model`). Reports
carry it on every result, so a reader (or a SARIF viewer, or an editor) can jump to the
instruction, mode or partition a verdict is about. Two forms, both stable:

* a file of the ``virtcheck`` package (the bundled machines) is named by its path inside
  the package, ``virtcheck/isa/machines/pg3.py``, the same for an editable install, an
  installed wheel and any checkout directory;
* any other file (a user's ISA definition) keeps the path the user gave, as Python ran it
  (``docs/examples/tiny_isa.py`` when given relative, absolute when given absolute).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class Location:
    """A declaration's file (in the stable form above) and line (1-based; 0 if unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line}


@lru_cache(maxsize=1)
def _package_root() -> Path:
    """The directory the ``virtcheck.isa`` package lives in, named ``virtcheck/isa``."""
    import virtcheck.isa

    return Path(virtcheck.isa.__file__).resolve().parent


def display_path(filename: str) -> str:
    """``filename`` as reports show it: package-relative inside ``virtcheck.isa``, as given
    otherwise."""
    try:
        rel = Path(filename).resolve().relative_to(_package_root())
    except (ValueError, OSError):
        return filename
    return "/".join(("virtcheck", "isa", *rel.parts))


def locate(where: Optional[str]) -> Optional[Location]:
    """The :class:`Location` of a recorded ``file:line`` (None when nothing was recorded)."""
    if not where:
        return None
    file, sep, line = where.rpartition(":")
    if not sep or not line.isdigit():
        return Location(display_path(where))
    return Location(display_path(file), int(line))
