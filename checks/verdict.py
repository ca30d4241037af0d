"""Verdicts: a closed set, each value defined, and the one wrapper around ``Solver.check``.

A query is phrased as "find a counterexample / witness". ``sat`` gives a witness;
``unsat`` proves the universal claim; ``unknown`` stays unknown -- it raises nowhere and
is never read as a pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field as dc_field
from typing import Any, Optional, Sequence

import z3


class Verdict(enum.Enum):
    HOLDS = "holds"  #: proved for every state and operand value
    FAILS = "fails"  #: refuted; a witness shows it
    UNKNOWN = "unknown"  #: the solver gave up within its budget (reason kept)
    VACUOUS = "vacuous"  #: the claim's precondition is unsatisfiable

    def as_bool(self) -> Optional[bool]:
        """True/False for holds/fails, None when not decided (unknown, vacuous)."""
        return {Verdict.HOLDS: True, Verdict.FAILS: False}.get(self)


@dataclass(frozen=True)
class Budget:
    """Z3's deterministic resource limit per query (``rlimit``); 0 means none."""

    rlimit: int = 5_000_000

    def to_json(self) -> dict[str, Any]:
        return {"rlimit": self.rlimit, "z3_version": z3.get_version_string()}


@dataclass
class Answer:
    """The result of one query: sat (with model), unsat, or unknown (with reason)."""

    result: str  #: "sat" | "unsat" | "unknown"
    model: Optional[z3.ModelRef] = None
    reason: str = ""
    rlimit_used: int = 0


def solve(constraints: Sequence[z3.BoolRef], budget: Budget) -> Answer:
    """The only place that calls ``Solver.check``.

    The query is copied into a fresh Z3 context first: Z3's search depends on the ids of
    the terms it is given, and in the shared context those depend on every term any
    earlier query made, so a query near its budget could be decided in one process and not
    in another. Copied, its terms are numbered by the query alone, and a verdict does not
    depend on what else ran in the process. The model is copied back."""
    ctx = z3.Context()
    s = z3.SolverFor("QF_ABV", ctx=ctx)
    if budget.rlimit:
        s.set("rlimit", budget.rlimit)
    s.add(*[c.translate(ctx) for c in constraints])
    before = _rlimit_count(s)
    r = s.check()
    used = _rlimit_count(s) - before
    if r == z3.sat:
        return Answer("sat", s.model().translate(z3.main_ctx()), rlimit_used=used)
    if r == z3.unsat:
        return Answer("unsat", rlimit_used=used)
    return Answer("unknown", reason=s.reason_unknown() or "unknown", rlimit_used=used)


def _rlimit_count(s: z3.Solver) -> int:
    try:
        st = s.statistics()
        for k in range(len(st)):
            if st[k][0] == "rlimit count":
                return int(st[k][1])
    except z3.Z3Exception:
        pass
    return 0
