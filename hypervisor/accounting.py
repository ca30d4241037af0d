"""Counters a monitor keeps per VM: what ran directly, what trapped, what it emulated or
reflected, and how often the world switched. Plain data, JSON-able, additive.

Direct execution is counted per instruction too, but not on the hot path: the run loop
counts blocks into tallies (`tally`) that the accounting watches and folds into
mnemonics only when ``direct_by_instruction`` is read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field as dc_field
from typing import Any

from virtcheck.hypervisor.tally import Tally, fold

#: pseudo-instructions for events that no guest instruction caused
FETCH, TIMER = "<fetch>", "<timer>"


@dataclass
class Accounting:
    """``direct`` counts instructions the hardware ran for the guest, and
    ``direct_by_instruction`` the same per mnemonic; ``trapped``, ``emulated``,
    ``interpreted`` and ``reflected`` count per instruction mnemonic (or `FETCH`/`TIMER`).

    Every policy fills the same counters: an instruction is *direct* (the executor below
    ran it), *emulated* (it stopped direct execution and the monitor completed it on the
    virtual state), or *interpreted* (the policy had the monitor execute it without trying
    direct execution); a trap delivered into the guest is *reflected*.
    ``monitor_entries`` counts the times control passed from the guest to the monitor: a
    direct run stopped (a trap or a halt; not a spent budget) or a timer interrupt came
    (the real interrupt enters the monitor, which reflects it); ``world_switches`` the
    times the scheduler switched to this VM."""

    direct: int = 0
    trapped: Counter = dc_field(default_factory=Counter)
    emulated: Counter = dc_field(default_factory=Counter)
    reflected: Counter = dc_field(default_factory=Counter)
    halted: int = 0
    world_switches: int = 0
    #: per-instruction direct counts carried over (from a snapshot), before the live tallies
    direct_base: Counter = dc_field(default_factory=Counter)
    interpreted: Counter = dc_field(default_factory=Counter)
    monitor_entries: int = 0
    #: monitors under the executor this accounting belongs to (see `tally.fold`)
    level: int = dc_field(default=1, compare=False)
    _tallies: dict = dc_field(default_factory=dict, repr=False, compare=False)

    def watch(self, tally: Tally) -> None:
        """Count what runs directly into ``tally`` as this guest's (idempotent, cheap)."""
        if id(tally) not in self._tallies:
            self._tallies[id(tally)] = tally

    @property
    def direct_by_instruction(self) -> Counter:
        """Instructions executed directly, per mnemonic (sums to ``direct``)."""
        out = Counter(self.direct_base)
        out.update(fold(self._tallies.values(), self.level))
        return +out

    @property
    def executed(self) -> int:
        """Guest instructions completed: directly, by emulation or by interpretation."""
        return self.direct + sum(self.emulated.values()) + sum(self.interpreted.values())

    @property
    def direct_ratio(self) -> float:
        """Share of completed guest instructions the hardware ran directly."""
        total = self.executed
        return self.direct / total if total else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "direct": self.direct,
            "direct_by_instruction": dict(sorted(self.direct_by_instruction.items())),
            "emulated": dict(sorted(self.emulated.items())),
            "interpreted": dict(sorted(self.interpreted.items())),
            "reflected": dict(sorted(self.reflected.items())),
            "trapped": dict(sorted(self.trapped.items())),
            "halted": self.halted,
            "world_switches": self.world_switches,
            "monitor_entries": self.monitor_entries,
            "executed": self.executed,
            "direct_ratio": self.direct_ratio,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> "Accounting":
        return Accounting(int(d["direct"]), Counter(d["trapped"]), Counter(d["emulated"]),
                          Counter(d["reflected"]), int(d["halted"]), int(d["world_switches"]),
                          Counter(d.get("direct_by_instruction", {})), Counter(d.get("interpreted", {})),
                          int(d.get("monitor_entries", 0)))
