"""``python -m virtcheck`` and the ``virtcheck`` script.

Ctrl-C must end in one line and exit 130 at any moment, set-up included: importing the
command line (z3, click, the commands) takes a noticeable fraction of a second, so the
import itself runs inside the handler.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from virtcheck.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("virtcheck: interrupted (Ctrl-C) while starting; nothing was saved\n")
        sys.exit(130)
    cli()


if __name__ == "__main__":
    main()
