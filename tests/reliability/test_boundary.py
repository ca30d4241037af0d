"""The command line's error boundary: a crash is exit 4 (never 1), an input error exit 2,
Ctrl-C exit 130 at any moment, each as one line naming the command and its input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rel_helpers import command, vc

INTERNAL = ("error: virtcheck run pg3 prog.s: internal error (ZeroDivisionError: division by zero); this is a bug "
            "in virtcheck: please report it with the traceback `virtcheck --debug` prints (exit 4)\n")


def _patched(tmp_path: Path, patch: str, *args: str) -> subprocess.CompletedProcess:
    """``virtcheck ARGS`` with a fault injected first (``patch``: Python run before main)."""
    code = f"import sys\n{patch}\nfrom virtcheck.__main__ import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


def test_an_unexpected_exception_is_one_line_and_exit_4(tmp_path):
    (tmp_path / "prog.s").write_text("NOP\n")
    p = _patched(tmp_path, "import virtcheck.commands.run as r\nr.read_program = lambda path: 1 / 0",
                 "run", "pg3", "prog.s")
    assert (p.returncode, p.stdout, p.stderr) == (4, "", INTERNAL)


def test_debug_shows_the_traceback_too(tmp_path):
    (tmp_path / "prog.s").write_text("NOP\n")
    p = _patched(tmp_path, "import virtcheck.commands.run as r\nr.read_program = lambda path: 1 / 0",
                 "--debug", "run", "pg3", "prog.s")
    assert p.returncode == 4
    assert p.stderr.startswith("Traceback (most recent call last):\n")
    assert p.stderr.endswith("ZeroDivisionError: division by zero\n" + INTERNAL)


def test_an_unexpected_os_error_is_an_input_error(tmp_path):
    p = _patched(tmp_path, "import virtcheck.isa.machines as m\nm.bundled = lambda: open('nowhere/x')", "isa", "list")
    assert (p.returncode, p.stderr) == (2, "error: virtcheck isa list: nowhere/x: No such file or directory\n")


def test_usage_errors_are_one_line(tmp_path):
    r = vc("run", "pg3", "--steps", "many", cwd=tmp_path)
    assert (r.rc, r.out) == (2, "")
    assert r.err == ("error: virtcheck run: Invalid value for '--steps': 'many' is not a valid integer range. "
                     "(see 'virtcheck run --help')\n")
    r = vc("nosuch", cwd=tmp_path)
    assert (r.rc, r.err) == (2, "error: virtcheck: No such command 'nosuch'. (see 'virtcheck --help')\n")


def test_ctrl_c_while_starting_exits_130(tmp_path):
    patch = ("import builtins\nreal = builtins.__import__\n"
             "def imp(name, *a, **k):\n"
             "    if name == 'virtcheck.cli':\n"
             "        raise KeyboardInterrupt\n"
             "    return real(name, *a, **k)\n"
             "builtins.__import__ = imp")
    p = _patched(tmp_path, patch, "isa", "list")
    assert (p.returncode, p.stdout, p.stderr) == (
        130, "", "virtcheck: interrupted (Ctrl-C) while starting; nothing was saved\n")


def test_ctrl_c_while_a_definition_loads_exits_130(tmp_path):
    (tmp_path / "slow.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n")
    r = vc("check", "slow.py", cwd=tmp_path)
    assert r.rc == 130
    assert r.err == "virtcheck check slow.py: interrupted (Ctrl-C); nothing was saved\n"


def test_ctrl_c_during_the_solver_exits_130_and_writes_no_report(tmp_path):
    """Ctrl-C as a terminal sends it: to the whole process group (the solver's worker
    processes too). Z3 takes SIGINT itself while it solves and answers unknown: that must
    stay an interruption, never an "unknown" verdict (exit 3) or a report of half the ISAs."""
    p = subprocess.Popen(command("check", "--jobs", "2", "--out", "out"), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(5)  # checking every bundled ISA takes well over this
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err == "virtcheck check --jobs 2 --out out: interrupted (Ctrl-C); nothing was saved\n"
    assert list((tmp_path / "out").iterdir()) == []


def test_the_solver_wrapper_turns_ctrl_c_into_keyboard_interrupt(tmp_path):
    code = """
import os, signal, threading, z3
from virtcheck.checks.verdict import Budget, solve
a, b, c = z3.BitVecs("a b c", 64)
hard = [a * a * a + b * b * b == c * c * c, z3.UGT(a, 3), z3.UGT(b, 3), z3.UGT(c, 3),
        z3.ULT(a, 1 << 20), z3.ULT(b, 1 << 20), z3.ULT(c, 1 << 20)]
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    print(solve(hard, Budget(rlimit=0)).result)
except KeyboardInterrupt:
    print("interrupted")
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.stdout == "interrupted\n", p.stderr
