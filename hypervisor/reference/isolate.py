"""Crash isolation: run a reference in a forked worker process.

An emulator that crashes (Unicorn 2.1.4's M68000 translator dereferences NULL on some F-line
words it decodes ahead of the PC) must end only a child, never the caller. The worker is
forked from the caller -- it inherits the ISA and the reference already built -- and serves
examples over a pipe; when it dies, the example it was running counts as skipped with the
signal, and the next example forks a fresh worker.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
from typing import Callable, Optional

from virtcheck.hypervisor.reference.base import Example, RefResult
from virtcheck.isa.model import Isa


def _send(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(fd, struct.pack("<I", len(data)))
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _recv(fd: int):
    head = _read(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack("<I", head)
    body = _read(fd, n)
    return None if body is None else pickle.loads(body)


def _read(fd: int, n: int) -> Optional[bytes]:
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


class Isolated:
    """``run(example)`` in a forked worker; a crash becomes a skipped result."""

    def __init__(self, isa: Isa, run: Callable[[Example], RefResult], what: str):
        self.isa = isa
        self._run = run
        self.what = what
        self.pid = 0
        self.to_child = self.from_child = -1

    def _start(self) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            try:
                os.close(down_w)
                os.close(up_r)
                while True:
                    msg = _recv(down_r)
                    if msg is None:
                        break
                    k, ops, state, mode = msg
                    res = self._run(Example(self.isa.instructions[k], ops, state, mode))
                    _send(up_w, res)
            finally:
                os._exit(0)
        os.close(down_r)
        os.close(up_w)
        self.pid, self.to_child, self.from_child = pid, down_w, up_r

    def run(self, ex: Example) -> RefResult:
        if not self.pid:
            self._start()
        k = self.isa.instructions.index(ex.ins)
        try:
            _send(self.to_child, (k, ex.ops, ex.state, ex.mode))
            res = _recv(self.from_child)
        except (BrokenPipeError, OSError):
            res = None
        if res is None:
            status = self._reap()
            return RefResult.skipped(f"{self.what} crashed ({status})")
        return res

    def _reap(self) -> str:
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if os.WIFSIGNALED(status):
            return signal.Signals(os.WTERMSIG(status)).name
        return f"exit {os.WEXITSTATUS(status)}"

    def close(self) -> None:
        if self.pid:
            os.close(self.to_child)
            os.close(self.from_child)
            os.waitpid(self.pid, 0)
            self.pid = 0
