"""How a run of guest instructions ended: a value, never an exception.

Every executor (the real machine and every monitor's virtual machine) reports the end
of a direct run the same way, which is what lets monitors stack: a monitor reads the
`Stop` of the executor under it exactly as that executor would read the real machine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from virtcheck.isa.model import Cause

BUDGET, TRAP, HALTED = "budget", "trap", "halt"
#: the next instruction's cells match no encoding of a variable-length ISA, and the ISA
#: declares no trap for that (``info`` is the pc): the machine cannot go on
UNDEFINED = "undefined"


@dataclass(frozen=True)
class Stop:
    """``executed`` instructions completed, then: the budget ran out, the next instruction
    trapped (``cause``/``info``; ``fetch`` when the fetch itself faulted), it halted, or
    it is undefined (``info`` its pc; see `UNDEFINED`). A trapping, halting or undefined
    instruction is not counted and left the state untouched."""

    reason: str
    executed: int
    cause: Optional[Cause] = None
    info: int = 0
    fetch: bool = False

    @property
    def detail(self) -> str:
        """A readable account of an `UNDEFINED` stop (empty otherwise)."""
        return f"undefined instruction at {self.info:#x}" if self.reason == UNDEFINED else ""

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "executed": self.executed,
                "cause": self.cause.name if self.cause else None, "info": self.info, "fetch": self.fetch}


#: ``(reason, executed, cause, info, fetch)``: a `Stop` as a plain tuple. Executors pass
#: these between the levels of a stack (``direct``), where a trap costs a few tuples
#: instead of a frozen dataclass per level; ``execute`` wraps the top one in a `Stop`.
RawStop = tuple


def raw(stop: Stop) -> RawStop:
    return (stop.reason, stop.executed, stop.cause, stop.info, stop.fetch)


def direct_of(ex: Any) -> Callable[[list, int, Any], RawStop]:
    """``direct(S, budget, tally) -> RawStop`` of an executor: its own ``direct`` when it
    has one, else its ``execute`` (an executor written against the `Executor` protocol
    alone, which counts no tally)."""
    fn = getattr(ex, "direct", None)
    if fn is not None:
        return fn
    return lambda S, budget, tally=None: raw(ex.execute(S, budget))
