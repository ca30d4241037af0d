"""Counters a monitor keeps per VM: what ran directly, what trapped, what it emulated or
reflected, and how often the world switched. Plain data, JSON-able, additive."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field as dc_field
from typing import Any

#: pseudo-instructions for events that no guest instruction caused
FETCH, TIMER = "<fetch>", "<timer>"


@dataclass
class Accounting:
    """``direct`` counts instructions the hardware ran for the guest (the hot loop counts
    them in bulk, so not per instruction); ``trapped``, ``emulated`` and ``reflected``
    count per instruction mnemonic (or `FETCH`/`TIMER`)."""

    direct: int = 0
    trapped: Counter = dc_field(default_factory=Counter)
    emulated: Counter = dc_field(default_factory=Counter)
    reflected: Counter = dc_field(default_factory=Counter)
    halted: int = 0
    world_switches: int = 0

    @property
    def executed(self) -> int:
        """Guest instructions completed: directly or by emulation."""
        return self.direct + sum(self.emulated.values())

    @property
    def direct_ratio(self) -> float:
        """Share of completed guest instructions the hardware ran directly."""
        total = self.executed
        return self.direct / total if total else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "direct": self.direct,
            "emulated": dict(sorted(self.emulated.items())),
            "reflected": dict(sorted(self.reflected.items())),
            "trapped": dict(sorted(self.trapped.items())),
            "halted": self.halted,
            "world_switches": self.world_switches,
            "executed": self.executed,
            "direct_ratio": self.direct_ratio,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> "Accounting":
        return Accounting(int(d["direct"]), Counter(d["trapped"]), Counter(d["emulated"]),
                          Counter(d["reflected"]), int(d["halted"]), int(d["world_switches"]))
