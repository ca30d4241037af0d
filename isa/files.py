"""Writing result files so that a crash, Ctrl-C or a full disk never leaves half a file.

Every file virtcheck writes (reports, snapshots, corpus entries) goes through
:func:`write_atomic`; every place it will write is probed with :func:`check_dir` or
:func:`check_file` before long work starts, so a bad ``--out`` costs the user nothing.
It lives in ``isa/`` only because that is the layer every other one may import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

#: the prefix and suffix of the temporary file :func:`write_atomic` renames into place
TMP_PREFIX, TMP_SUFFIX = ".", ".tmp"


class OutputError(Exception):
    """A place virtcheck was asked to write to cannot take the file; one line, naming it."""


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def write_atomic(path: Union[str, Path], text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the whole new one.

    The text goes to a temporary file in the same directory, is flushed and fsynced, and
    is then renamed over ``path``. On any failure (``ENOSPC`` included) the temporary file
    is removed and :class:`OutputError` names the path and the reason.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {_why(exc)}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write: {_why(exc)}") from None
        raise


def _probe(directory: Path, label: str) -> None:
    """Create and remove a small file in ``directory``: the only test of writability that
    also holds for root and for read-only mounts."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}virtcheck-probe.", suffix=TMP_SUFFIX, dir=directory)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        raise OutputError(f"{label}: cannot write in {directory}: {_why(exc)}") from None


def check_dir(path: Union[str, Path], label: str, *, create: bool = True) -> Path:
    """``path`` as a directory virtcheck can write in (created when ``create``), or
    :class:`OutputError` naming ``label`` (the option, e.g. ``--out out``) and the reason."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{label}: {p} is a file, not a directory")
    if not p.exists():
        if not create:
            raise OutputError(f"{label}: no such directory {p}")
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{label}: cannot create directory {p}: {_why(exc)}") from None
    _probe(p, label)
    return p


def check_file(path: Union[str, Path], label: str) -> Path:
    """``path`` as a file virtcheck can (over)write: its directory exists and takes files,
    and it is not a directory itself; else :class:`OutputError`."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{label}: {p} is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{label}: no such directory {parent}")
    _probe(parent, label)
    return p
