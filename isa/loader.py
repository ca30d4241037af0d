"""Finding ISAs by name (bundled) or loading them from a user's definition file.

A definition file is ordinary Python that builds one or more :class:`Isa` objects at
module level (``isa = Isa(...)``); every ``Isa`` it defines is loaded, in definition
order, or just those in a module-level ``MACHINES`` list if it has one. Any problem
becomes one located :class:`IsaError` line.
"""

from __future__ import annotations

import os
import runpy
import traceback

from virtcheck.isa.errors import IsaError
from virtcheck.isa.machines import bundled
from virtcheck.isa.model import Isa


def is_path(target: str) -> bool:
    return target.endswith(".py") or os.sep in target or "/" in target


def load_file(path: str) -> list[Isa]:
    if not os.path.isfile(path):
        raise IsaError(f"no such ISA definition file", where=path)
    try:
        ns = runpy.run_path(path, run_name="virtcheck_user_isa")
    except IsaError as exc:
        raise exc.located(_site(path, exc)) from None
    except SyntaxError as exc:
        raise IsaError(f"syntax error: {exc.msg}", where=f"{path}:{exc.lineno}") from None
    except Exception as exc:
        raise IsaError(f"{type(exc).__name__}: {exc}", where=_site(path, exc)) from None
    isas = ns.get("MACHINES")
    if isas is None:
        isas = [v for v in ns.values() if isinstance(v, Isa)]
    if not isas:
        raise IsaError("defines no ISA (create one with Isa(...) at module level)", where=path)
    for isa in isas:
        isa.finalize()
    return list(isas)


def _site(path: str, exc: BaseException) -> str:
    where = path
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            where = f"{path}:{frame.lineno}"
    return where


def load(target: str) -> list[Isa]:
    """A bundled ISA by name, or every ISA of a definition file."""
    if is_path(target):
        return load_file(target)
    machines = bundled()
    if target in machines:
        return [machines[target]]
    raise IsaError(f"unknown ISA '{target}' (bundled: {', '.join(machines)}; or give a path to a .py file)")
