"""Verdicts: a closed set, each value defined, and the one wrapper around ``Solver.check``.

A query is phrased as "find a counterexample / witness". ``sat`` gives a witness;
``unsat`` proves the universal claim; ``unknown`` stays unknown -- it raises nowhere and
is never read as a pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field as dc_field
from typing import Any, Iterable, Optional, Sequence

import z3


class Verdict(enum.Enum):
    """The answer to one claim: a property of an instruction, an instruction's standing
    under a theorem, a theorem, a monitor property, an ISA, a run.

    For a *property* of an instruction (``privileged``, ``control_sensitive``, ...) the
    claim is "the instruction has the property": HOLDS means proved to have it, FAILS
    proved not to have it.
    """

    HOLDS = "holds"  #: proved for every state and operand value
    FAILS = "fails"  #: refuted; a witness shows it
    UNKNOWN = "unknown"  #: the solver gave up within its budget (reason kept)
    VACUOUS = "vacuous"  #: the claim's precondition is unsatisfiable: nothing was there to check

    def as_bool(self) -> Optional[bool]:
        """True/False for holds/fails, None when not decided (unknown, vacuous)."""
        return {Verdict.HOLDS: True, Verdict.FAILS: False}.get(self)

    @staticmethod
    def of(value: Optional[bool]) -> "Verdict":
        """HOLDS / FAILS for a decided boolean, UNKNOWN for None."""
        return Verdict.UNKNOWN if value is None else Verdict.HOLDS if value else Verdict.FAILS

    @property
    def severity(self) -> int:
        """The verdict's rank in :data:`SEVERITY`: the higher one wins when results combine."""
        return SEVERITY.index(self)


#: THE combining rule, used wherever several results make one (an instruction's conditions,
#: a theorem over instructions, a monitor property, an ISA over its theorems and monitor, a
#: run over its ISAs, a campaign): every part must hold, and the most severe part decides.
#: FAILS beats everything (one refutation refutes the conjunction); UNKNOWN beats VACUOUS
#: (an undecided part leaves the whole undecided, while a vacuous part is at least decided);
#: VACUOUS beats HOLDS (a claim that held only because a part had nothing to check is
#: reported as such, never as a plain pass).
SEVERITY: tuple[Verdict, ...] = (Verdict.HOLDS, Verdict.VACUOUS, Verdict.UNKNOWN, Verdict.FAILS)


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict of the conjunction of ``verdicts`` (HOLDS for none): see :data:`SEVERITY`."""
    return max(verdicts, key=SEVERITY.index, default=Verdict.HOLDS)


#: THE exit-code rule of every command (README "Exit codes"): 0 all checks hold, 1 a property
#: fails, 2 usage or input error, 3 inconclusive (unknown or vacuous, nothing failed).
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
EXIT_CODES: dict[Verdict, int] = {
    Verdict.HOLDS: EXIT_OK, Verdict.FAILS: EXIT_FAIL, Verdict.UNKNOWN: EXIT_INCONCLUSIVE,
    Verdict.VACUOUS: EXIT_INCONCLUSIVE,
}


def exit_code(verdicts: Iterable[Verdict], *, input_errors: bool = False) -> int:
    """The exit code of a command whose results have ``verdicts``. An input that did not
    load makes the run incomplete, whatever the rest gave: 2 before any verdict."""
    return EXIT_USAGE if input_errors else EXIT_CODES[combine(verdicts)]


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


class Session:
    """A fresh Z3 context shared by the queries about one declaration (one instruction).

    Z3 numbers every term of a context in creation order, and its heuristics follow those
    numbers: in one shared context the same query can be decided in one run and give up at
    the same ``rlimit`` in another, depending on what other ISAs, instructions or workers
    created before. So no query runs in the context its terms were built in: a session
    translates them into a context of its own, created on its first query, which sees only
    the queries of its own declaration, in their own (deterministic) order. A verdict then
    depends on the declaration alone, never on the rest of the run. A context per
    declaration rather than per query keeps the cost of creating contexts (about 2 ms
    each) to one per instruction.
    """

    def __init__(self) -> None:
        self._ctx: Optional[z3.Context] = None

    def solve(self, constraints: Sequence[z3.BoolRef], budget: Budget) -> Answer:
        """Decide ``constraints`` in this session's context; a model comes back translated
        into the constraints' own context, so callers evaluate their variables in it."""
        if self._ctx is None:
            self._ctx = z3.Context()
        home = constraints[0].ctx if constraints else z3.main_ctx()
        s = z3.SolverFor("QF_ABV", ctx=self._ctx)
        if budget.rlimit:
            s.set("rlimit", budget.rlimit)
        s.add(*[c.translate(self._ctx) for c in constraints])
        before = _rlimit_count(s)
        r = s.check()
        used = _rlimit_count(s) - before
        if r == z3.sat:
            return Answer("sat", s.model().translate(home), rlimit_used=used)
        if r == z3.unsat:
            return Answer("unsat", rlimit_used=used)
        return Answer("unknown", reason=s.reason_unknown() or "unknown", rlimit_used=used)


def solve(constraints: Sequence[z3.BoolRef], budget: Budget, session: Optional[Session] = None) -> Answer:
    """The only place that calls ``Solver.check``: in ``session``, or in a fresh context
    of its own (see :class:`Session`)."""
    return (session or Session()).solve(constraints, budget)


def _rlimit_count(s: z3.Solver) -> int:
    try:
        st = s.statistics()
        for k in range(len(st)):
            if st[k][0] == "rlimit count":
                return int(st[k][1])
    except z3.Z3Exception:
        pass
    return 0
