"""Words every renderer shares, so text, Markdown and JUnit never disagree on a name.

A property value is three-valued (``True``/``False``/``None``); ``None`` is always shown
as ``?`` -- "not decided within the budget" -- and never as a pass.
"""

from __future__ import annotations

from typing import Any, Optional

from virtcheck.checks.results import MONITOR_PROPERTIES, PROPERTIES
from virtcheck.checks.verdict import Verdict

#: short column headers for the instruction × property table, in PROPERTIES order
COLUMNS: dict[str, str] = {
    "privileged": "priv",
    "control_sensitive": "ctrl",
    "mode_sensitive": "mode",
    "location_sensitive": "loc",
    "resource_sensitive": "res",
    "behaviour_sensitive": "behav",
    "user_sensitive": "user",
    "sensitive": "sens",
    "innocuous": "innoc",
}
assert list(COLUMNS) == PROPERTIES, "a property was added to checks/results.py: give it a column"

#: what each theorem claims, used when a TheoremResult carries no statement of its own
THEOREMS: dict[str, str] = {
    "1": "sensitive ⊆ privileged: a trap-and-emulate monitor exists",
    "3": "user-sensitive ⊆ privileged: a hybrid monitor exists",
}


LEGEND = ("yes / no: proved (by z3, or statically from read/write sets); ?: not decided within the budget; "
          "vac: vacuous (no state meets the property's precondition)")


#: how the instruction table shows a property's verdict
MARKS: dict[Verdict, str] = {Verdict.HOLDS: "yes", Verdict.FAILS: "no", Verdict.UNKNOWN: "?", Verdict.VACUOUS: "vac"}


def mark(value: Verdict | Optional[bool]) -> str:
    """``yes`` / ``no`` / ``?`` / ``vac`` for a property's verdict (a bool or None is read
    as holds / fails / unknown)."""
    return MARKS[value if isinstance(value, Verdict) else Verdict.of(value)]


def prop_name(prop: str) -> str:
    """``control_sensitive`` -> ``control-sensitive`` (how the paper writes it)."""
    return prop.replace("_", "-")


def budget_line(budget: dict[str, Any]) -> str:
    """``rlimit 5000000 per query, z3 4.13.0`` (rlimit 0 means unlimited)."""
    rlimit = budget.get("rlimit")
    limit = "no rlimit" if not rlimit else f"rlimit {rlimit} per query"
    return f"{limit}, z3 {budget.get('z3_version', '?')}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
