"""Running an operating system on an executor: the ISA's trap semantics and its timer.

The same loop runs a program bare on the real machine and a guest under a monitor: it
asks the executor to run directly, and when the executor stops on a trap it enters the
ISA's own trap semantics on the state it drives (bare: the real state; under a monitor:
the guest's virtual state and partition, which is *reflecting* the trap). Interval-timer
interrupts are delivered here too, counted in completed instructions, so a bare run and a
monitored run of the same program see them at the same instruction.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Optional, Protocol, Sequence

from virtcheck.isa.concrete import compiled
from virtcheck.hypervisor.accounting import TIMER, Accounting
from virtcheck.hypervisor.mapping import IsaFacts
from virtcheck.hypervisor.stop import BUDGET, HALTED, UNDEFINED, Stop, direct_of


class Executor(Protocol):
    """What a driver and a monitor need from the machine under them."""

    isa: Any
    facts: IsaFacts

    @property
    def memory_size(self) -> int: ...

    def execute(self, S: list[int], budget: int) -> Stop: ...

    # Optional, for speed and per-instruction accounting (every `Host` has it):
    # ``direct(S, budget, tally) -> RawStop``, `execute` without the `Stop` object.


#: the members a monitor uses of the executor under it (`Host`), checked when it is built
HOST_MEMBERS = ("isa", "facts", "level", "mems", "memory_size", "direct", "direct_for")


class Host(Executor, Protocol):
    """What a monitor uses of the executor it runs on, and nothing else: the real
    `Machine`, a monitor's `VirtualMachine` (monitors stack), or the fuzzer's stepping
    machine. `Monitor` checks these members are there when it is built
    (`host_missing`) instead of probing for them while it runs.

    * ``level``: monitors under this executor (0 for a machine); a VM on it is one more.
    * ``mems``: its physical memories, one per ISA memory, in layout order; the monitor
      cuts its partitions out of them.
    * ``memory_size``: cells of the memories a partition divides.
    * ``direct(S, budget, tally) -> RawStop``: run ``S`` directly until it traps, halts,
      or completes ``budget`` instructions; nothing is applied on a trap. What ran is
      counted into ``tally`` (a per-guest block tally, `tally`), when the host counts.
    * ``direct_for(hardware)``: the same run loop with another model of this hardware
      (`Isa.partition`'s ``hardware``), or an error when it has none.
    """

    level: int
    mems: Sequence[Any]

    def direct(self, S: list[int], budget: int, tally: Any = None) -> tuple: ...

    def direct_for(self, hardware: Any) -> Callable[..., tuple]: ...


def host_missing(ex: Any) -> list[str]:
    """The `Host` members ``ex`` lacks (empty when a monitor can run on it)."""
    return [m for m in HOST_MEMBERS if not hasattr(ex, m)]


@dataclass
class Clock:
    """The interval timer: completed instructions since the last period, and whether an
    interrupt is waiting to be taken."""

    since: int = 0
    pending: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since, "pending": self.pending}

    @staticmethod
    def from_json(d: dict[str, Any]) -> "Clock":
        return Clock(int(d["since"]), bool(d["pending"]))


@dataclass(frozen=True)
class TrapEvent:
    at: int  #: completed instructions of this guest before the trap
    pc: int
    cause: str
    info: int

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "pc": self.pc, "cause": self.cause, "info": self.info}


@dataclass
class TrapLog:
    """Every trap entered, counted by cause; the last ``keep`` kept in full."""

    keep: int = 1000
    counts: Counter = dc_field(default_factory=Counter)
    recent: deque = dc_field(default_factory=deque)
    executed: int = 0  #: completed instructions of the driven state, all runs together

    def add(self, ev: TrapEvent) -> None:
        self.counts[ev.cause] += 1
        self.recent.append(ev)
        if len(self.recent) > self.keep:
            self.recent.popleft()

    def to_json(self) -> dict[str, Any]:
        return {"executed": self.executed, "counts": dict(sorted(self.counts.items())),
                "recent": [e.to_json() for e in self.recent]}

    @staticmethod
    def from_json(d: dict[str, Any]) -> "TrapLog":
        log = TrapLog(counts=Counter(d["counts"]), executed=int(d["executed"]))
        for e in d["recent"]:
            log.add(TrapEvent(int(e["at"]), int(e["pc"]), e["cause"], int(e["info"])))
        log.counts = Counter(d["counts"])
        return log


@dataclass(frozen=True)
class RunResult:
    """How a driven run ended: ``halt``, ``budget`` or ``undefined`` (the next instruction
    matches no encoding; ``detail`` says where), after ``executed`` instructions."""

    reason: str
    executed: int
    detail: str = ""

    @property
    def halted(self) -> bool:
        return self.reason == HALTED

    @property
    def stopped(self) -> bool:
        """The run cannot go on: it halted or met an undefined instruction."""
        return self.reason != BUDGET


#: ``enter(cause_name, S, info)``: run the ISA's trap semantics on a state and its memories
TrapEntry = Callable[[str, list, int], None]


def trap_entry(isa: Any, mems: Sequence[Any]) -> TrapEntry:
    """The ISA's compiled trap semantics on ``mems``."""
    entry = compiled(isa).trap_entry

    def enter(cause: str, S: list[int], info: int) -> None:
        entry[cause](S, *mems, info)

    return enter


#: trap entries a run may take however small its budget (a time slice of one instruction
#: still has room for the traps that instruction takes)
STORM = 1000


def drive(ex: Executor, S: list[int], mems: Sequence[Any], clock: Clock, steps: int, log: TrapLog,
          account: Optional[Accounting] = None, enter: Optional[TrapEntry] = None) -> RunResult:
    """Run state ``S`` (with memories ``mems``) on ``ex`` for at most ``steps`` completed
    instructions, entering the ISA's trap semantics on every trap and timer interrupt
    (through ``enter``, default `trap_entry` on ``mems``).

    Trap entries are bounded too (by ``steps``, and never below `STORM`): a handler that
    traps at once (a vector whose own fetch faults) completes no instruction, and a budget
    that counted only instructions would never end such a trap storm. Hitting the bound
    returns ``budget`` with a ``detail`` that says so."""
    f = ex.facts
    isa = f.isa
    if enter is None:
        enter = trap_entry(isa, mems)
    period = f.timer_period
    pc = f.layout.index[isa.pc_name]
    run = direct_of(ex)
    done = 0
    entries = 0
    bound = max(steps, STORM)
    while done < steps:
        if entries >= bound:
            return RunResult(BUDGET, done, f"budget: {entries} trap entries (a trap storm?)")
        if clock.pending:
            if f.timer_enabled(S):
                clock.pending = False
                log.add(TrapEvent(log.executed, S[pc], isa.timer_cause, 0))
                if account is not None:  # the real interrupt enters the monitor, which reflects it
                    account.reflected[TIMER] += 1
                    account.monitor_entries += 1
                enter(isa.timer_cause, S, 0)
                entries += 1
                continue
            chunk = 1  # step until the interrupt can be taken
        else:
            chunk = steps - done
            if period:
                chunk = min(chunk, period - clock.since)
        reason, executed, cause, info, _ = run(S, chunk, None)
        done += executed
        log.executed += executed
        if period:
            clock.since += executed
            if clock.since >= period:
                clock.since -= period
                clock.pending = True
        if reason == BUDGET:
            continue
        if reason == HALTED:
            return RunResult(HALTED, done)
        if reason == UNDEFINED:
            return RunResult(UNDEFINED, done, Stop(UNDEFINED, executed, None, info).detail)
        log.add(TrapEvent(log.executed, S[pc], cause.name, info))
        enter(cause.name, S, info)
        entries += 1
    return RunResult(BUDGET, done)
