"""One entry point for every format: ``render(run, fmt)``.

The CLI and library users pick a format by name; adding a format means adding a renderer
module and one line here.
"""

from __future__ import annotations

from typing import Callable

from virtcheck.checks.results import CheckRun
from virtcheck.reports.json_report import render_json
from virtcheck.reports.junit import render_junit
from virtcheck.reports.markdown import render_markdown
from virtcheck.reports.text import render_text

#: format name -> file name written by ``check --out``
FILE_NAMES: dict[str, str] = {
    "text": "report.txt",
    "md": "report.md",
    "json": "report.json",
    "junit": "report.xml",
}
FORMATS = list(FILE_NAMES)

_RENDERERS: dict[str, Callable[[CheckRun], str]] = {
    "md": render_markdown,
    "json": render_json,
    "junit": render_junit,
}


def render(run: CheckRun, fmt: str, *, color: bool = False) -> str:
    """The report of ``run`` in ``fmt`` (one of FORMATS). ``color`` only affects ``text``."""
    if fmt == "text":
        return render_text(run, color=color)
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown report format '{fmt}' (known: {', '.join(FORMATS)})")
    return renderer(run)
