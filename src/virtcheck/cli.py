"""The ``virtcheck`` command line: a thin layer over the library.

Exit codes (every command): 0 all checks hold, 1 a property fails, 2 usage or input
error, 3 inconclusive (some verdict unknown, nothing failed).
"""

from __future__ import annotations

import importlib
import sys

import click

from virtcheck import __version__

from virtcheck.checks.verdict import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_USAGE  # the one rule

EXIT_UNKNOWN = EXIT_INCONCLUSIVE

#: command modules under virtcheck/commands, each defining ``command`` (a click command or group)
COMMANDS = ["isa_cmd", "check", "run", "fuzz", "replay", "crossval"]


class _Main(click.Group):
    def main(self, *args, **kwargs):  # usage errors exit 2 (click's default too), keep it explicit
        kwargs.setdefault("standalone_mode", True)
        return super().main(*args, **kwargs)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="virtcheck")
def main() -> None:
    """Popek & Goldberg's virtualizability theory, executable: classify, prove, run and fuzz."""


for _name in COMMANDS:
    try:
        _mod = importlib.import_module(f"virtcheck.commands.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"virtcheck.commands.{_name}":
            raise
        continue
    main.add_command(_mod.command)


if __name__ == "__main__":
    sys.exit(main())
