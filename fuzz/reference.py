"""What Z3 says about an ISA, in the shape a campaign compares its findings with.

Built from a :class:`virtcheck.checks.results.IsaResult` (``classify_isa``) by the caller,
so ``fuzz/`` depends on no solver code and hard-codes no instruction: the instructions
Theorem 1 flags (sensitive, not privileged) are what equivalence should find; the
innocuous, unprivileged ones are what the efficiency oracle must never see emulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reference:
    flagged: frozenset[str]  #: Theorem 1 violations: sensitive and not privileged
    innocuous: frozenset[str]  #: innocuous and not privileged
    undecided: frozenset[str] = frozenset()

    @staticmethod
    def from_isa_result(result: Any) -> "Reference":
        t1 = result.theorems["1"]
        innocuous = frozenset(i.mnemonic for i in result.instructions
                              if i.value("innocuous") is True and i.value("privileged") is False)
        return Reference(frozenset(t1.violations), innocuous, frozenset(t1.undecided))

    def compare(self, found: set[str]) -> dict[str, list[str]]:
        """Agreed, found only by fuzzing (a model or monitor bug), found only by Z3 (a blind spot)."""
        return {"agreed": sorted(found & self.flagged), "fuzz_only": sorted(found - self.flagged),
                "z3_only": sorted(self.flagged - found)}

    def to_json(self) -> dict[str, Any]:
        return {"flagged": sorted(self.flagged), "innocuous": sorted(self.innocuous), "undecided": sorted(self.undecided)}
