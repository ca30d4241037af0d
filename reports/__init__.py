"""virtcheck.reports: one report model (:mod:`virtcheck.checks.results`), several renderers.

``render(run, fmt)`` gives the report of a :class:`CheckRun` as ``text``, ``md``, ``json``
or ``junit``; ``run_json(run)`` gives the JSON report as plain data.
"""

from virtcheck.reports.json_report import run_json
from virtcheck.reports.render import FILE_NAMES, FORMATS, render

__all__ = ["FILE_NAMES", "FORMATS", "render", "run_json"]
