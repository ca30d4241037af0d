"""Finding ISAs by name (bundled) or loading them from a user's definition file.

A definition file is ordinary Python that builds one or more :class:`Isa` objects at
module level (``isa = Isa(...)``); every ``Isa`` it defines is loaded, in definition
order, or just those in a module-level ``MACHINES`` list if it has one. Any problem
becomes one located :class:`IsaError` line.

Trust boundary: loading a definition file *runs its code*, with the user's rights (like
``conftest.py`` for pytest or ``setup.py`` for pip). Load only files you would run. The
load (running the file and validating what it built) is bounded by a wall-clock timeout,
so a definition that never finishes ends in one line instead of a hang. The file's folder
is importable while it loads, so it can import a sibling module.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from typing import Iterator, Optional

from virtcheck.isa.errors import IsaError
from virtcheck.isa.machines import bundled
from virtcheck.isa.model import Isa


def is_path(target: str) -> bool:
    return target.endswith(".py") or os.sep in target or "/" in target


#: seconds a definition file may take to run and validate (``virtcheck --load-timeout``)
LOAD_TIMEOUT = 60.0


class _LoadTimeout(BaseException):
    """Raised by the alarm inside a definition file's code; BaseException so the file's own
    ``except Exception`` cannot swallow it."""


@contextmanager
def _time_limit(seconds: Optional[float], path: str) -> Iterator[None]:
    """Bound the body by ``seconds`` of wall-clock time (SIGALRM: main thread, POSIX; no
    bound elsewhere or when ``seconds`` is falsy)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(*_: object) -> None:
        raise _LoadTimeout

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _LoadTimeout:
        raise IsaError(f"loading did not finish within {seconds:g} s (a definition that never ends? "
                       "raise the bound with virtcheck --load-timeout SECONDS)", where=path) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def _sibling_imports(path: str) -> Iterator[None]:
    """The definition's folder first on ``sys.path`` while it loads; the modules it
    imported from there are forgotten afterwards, so two definitions with a sibling of the
    same name never see each other's (results never depend on what else was loaded)."""
    folder = os.path.dirname(os.path.abspath(path))
    before = set(sys.modules)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
        for name in set(sys.modules) - before:
            f = getattr(sys.modules[name], "__file__", None)
            if f and os.path.abspath(f).startswith(folder + os.sep):
                del sys.modules[name]


def load_file(path: str, timeout: Optional[float] = None) -> list[Isa]:
    """Every ISA the definition file ``path`` builds, validated (see the module's note on
    trust: this runs the file). ``timeout``: seconds, default :data:`LOAD_TIMEOUT`."""
    if not os.path.isfile(path):
        raise IsaError(f"no such ISA definition file", where=path)
    with _time_limit(LOAD_TIMEOUT if timeout is None else timeout, path):
        with _sibling_imports(path):
            return _run(path)


def _run(path: str) -> list[Isa]:
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
    if not isinstance(isas, (list, tuple)) or not all(isinstance(i, Isa) for i in isas):
        raise IsaError("MACHINES must be a list of Isa objects", where=path)
    for isa in isas:
        try:
            isa.finalize()
        except IsaError:
            raise
        except Exception as exc:  # a declaration validation did not foresee: still one located line
            raise IsaError(f"ISA '{isa.name}' cannot be finalized ({type(exc).__name__}: {exc})",
                           where=_site(path, exc) if _site(path, exc) != path else isa.where) from None
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
