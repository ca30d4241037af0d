"""Running the ``virtcheck`` command line as a user does: a subprocess, whole outputs kept."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY_SRC = (ROOT / "docs" / "examples" / "tiny_isa.py").read_text(encoding="utf-8")

#: tiny's partition (for monitors and campaigns) and a file that defines only tiny-peek,
#: whose unprivileged PEEKS makes a campaign find an equivalence failure at once
PARTITION = '''

# a monitor confines a guest to cells [base, base + size): relocation composes
tiny.partition(lambda v, base, size: {"S": 0, "base": v.base + base[7:0], "limit": v.limit},
               fits=lambda v, size: ule(zext(v.base, 9) + zext(v.limit, 9), zext(size, 9)))

'''
PEEK_SRC = TINY_SRC.replace("\n# --- a variant", PARTITION + "\n# --- a variant").replace(
    "MACHINES = [tiny, tiny_peek]", "MACHINES = [tiny_peek]")


@dataclass
class Run:
    rc: int
    out: str
    err: str


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "virtcheck", *args]


def vc(*args: str, cwd: Path, timeout: float = 300) -> Run:
    """``virtcheck ARGS`` in ``cwd``; its exit status and both streams."""
    p = subprocess.run(command(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "COLUMNS": "200"})
    return Run(p.returncode, p.stdout, p.stderr)


def tiny_variant(old: str, new: str) -> str:
    """The tiny example with one declaration changed (the old text must be there)."""
    assert old in TINY_SRC, old
    return TINY_SRC.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of ``needle``'s first occurrence in ``text``."""
    return text[: text.index(needle)].count("\n") + 1
