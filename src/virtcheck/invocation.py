"""One CLI run: what was asked, whether to show tracebacks, and what was saved so far.

The error boundary of :mod:`virtcheck.cli` reads this to word its one-line messages
("virtcheck run pg3 prog.s: ...") and, on Ctrl-C, to say which files are complete.
Commands record each file they finish with :func:`saved`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Optional

import click

from virtcheck.checks.verdict import EXIT_FAIL, EXIT_OK, EXIT_USAGE  # the one exit-code rule
from virtcheck.checks.verdict import EXIT_INCONCLUSIVE as EXIT_UNKNOWN

#: exit codes beyond the verdicts' (docs/errors.md): a crash is never 1
EXIT_INTERNAL = 4
#: Ctrl-C: 128 + SIGINT, what a shell reports for a process ended by it
EXIT_INTERRUPTED = 130


@dataclass
class Invocation:
    argv: list[str]
    debug: bool = False
    files: list[str] = field(default_factory=list)

    def invocation(self) -> str:
        """``virtcheck run pg3 prog.s --vmm trap-emulate``: the command and its inputs, as typed."""
        return shlex.join(["virtcheck", *(a for a in self.argv if a != "--debug")])

    def saved_text(self) -> str:
        return "saved: " + ", ".join(self.files) if self.files else "nothing was saved"


def current() -> Optional[Invocation]:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, Invocation) else None


def saved(what: str) -> None:
    """Record that ``what`` (a path, or e.g. "2 failures in corpus c/") is complete on disk."""
    s = current()
    if s is not None:
        s.files.append(what)
