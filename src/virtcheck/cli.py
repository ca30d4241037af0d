"""The ``virtcheck`` command line: a thin layer over the library, and its one error boundary.

Exit codes (every command; docs/errors.md): 0 all checks hold, 1 a property fails, 2 usage
or input error, 3 inconclusive (some verdict unknown, nothing failed), 4 internal error (a
bug in virtcheck: one line, and ``virtcheck --debug ...`` shows the traceback), 130
interrupted (Ctrl-C; the message says what was saved).

Commands report the input errors they expect themselves; :class:`_Main` turns anything
that escapes them into one line naming the command, its input and the problem, so a crash
never reads as "a property fails" (exit 1).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback
from typing import Any, Optional, Sequence

import click

from virtcheck import __version__
from virtcheck.invocation import (EXIT_FAIL, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE,
                               Invocation, current)

#: stdout closed by the reader: what a shell reports for SIGPIPE (128 + 13)
EXIT_BROKEN_PIPE = 141

__all__ = ["main", "EXIT_OK", "EXIT_FAIL", "EXIT_USAGE", "EXIT_UNKNOWN", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]

#: command modules under virtcheck/commands, each defining ``command`` (a click command or group)
COMMANDS = ["isa_cmd", "check", "run", "fuzz", "replay", "crossval"]

#: (module, class) of input errors raised below the commands; a module not imported yet
#: cannot have raised its error, so the boundary never imports one just to test against it
_INPUT_ERRORS = [("virtcheck.isa.errors", "IsaError"), ("virtcheck.isa.errors", "AsmError"),
                 ("virtcheck.isa.files", "OutputError"), ("virtcheck.fuzz.corpus", "CorpusError"),
                 ("virtcheck.hypervisor.snapshot", "SnapshotError"), ("virtcheck.hypervisor.monitor", "MonitorError")]


def _is_input_error(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, UnicodeError)):
        return True
    types = [getattr(sys.modules[m], c) for m, c in _INPUT_ERRORS if m in sys.modules]
    return isinstance(exc, tuple(types))


def _problem(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def interrupted_exit(inv: Optional[Invocation], signum: int = signal.SIGINT) -> None:
    """Ctrl-C (or SIGTERM, where a command handles it): one line saying what is complete
    on disk; exit 128 + the signal (130 for Ctrl-C)."""
    where = inv.invocation() if inv else "virtcheck"
    saved = inv.saved_text() if inv else "nothing was saved"
    how = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    click.echo(f"{where}: interrupted ({how}); {saved}", err=True)
    sys.exit(128 + signum)


class _Main(click.Group):
    """The error boundary: usage errors exit 2 (click's own), input errors 2, anything
    unexpected 4, Ctrl-C 130, each as one line on stderr."""

    def main(self, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        inv = Invocation(argv, debug="--debug" in argv)
        argv = [a for a in argv if a != "--debug"]  # accepted anywhere, not only before the command
        extra.pop("standalone_mode", None)
        try:
            rv = super().main(argv, "virtcheck", standalone_mode=False, obj=inv, **extra)  # whoever calls it
        except (click.exceptions.Abort, KeyboardInterrupt):
            interrupted_exit(inv)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.UsageError as exc:  # one line too, naming the command and its --help
            cmd = exc.ctx.command_path if exc.ctx is not None else "virtcheck"
            click.echo(f"error: {cmd}: {exc.format_message()} (see '{cmd} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:  # here, before click would print a blank line and turn it into Abort
            interrupted_exit(current())
        except BrokenPipeError:  # stdout closed early (``| head``): not an error of the input or of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_BROKEN_PIPE)
        except Exception as exc:  # the boundary: one line, never a traceback unless asked
            inv = current() or Invocation(sys.argv[1:])
            if inv.debug:
                traceback.print_exc()
            if _is_input_error(exc):
                click.echo(f"error: {inv.invocation()}: {_problem(exc)}", err=True)
                sys.exit(EXIT_USAGE)
            click.echo(f"error: {inv.invocation()}: internal error ({type(exc).__name__}: {_problem(exc)}); "
                       f"this is a bug in virtcheck: please report it with the traceback `virtcheck --debug` "
                       f"prints (exit {EXIT_INTERNAL})", err=True)
            sys.exit(EXIT_INTERNAL)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="virtcheck")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an internal error.")
@click.option("--load-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds an ISA definition file may take to load (0: no bound). Loading runs the file's code.")
def main(debug: bool, load_timeout: float) -> None:
    """Popek & Goldberg's virtualizability theory, executable: classify, prove, run and fuzz.

    Loading an ISA definition file runs its Python code: load only files you trust
    (docs/errors.md).
    """
    from virtcheck.isa import loader

    loader.LOAD_TIMEOUT = load_timeout


for _name in COMMANDS:
    try:
        _mod = importlib.import_module(f"virtcheck.commands.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"virtcheck.commands.{_name}":
            raise
        continue
    main.add_command(_mod.command)


if __name__ == "__main__":
    main()
