"""What Z3 says about an ISA, in the shape a campaign compares its findings with.

Built from a :class:`virtcheck.checks.results.IsaResult` (``classify_isa``) by the caller,
so ``fuzz/`` depends on no solver code and hard-codes no instruction: the instructions
the monitor policy's theorem flags (Theorem 1 for trap-and-emulate: sensitive, not
privileged; Theorem 3 for the hybrid monitor: user-sensitive, not privileged; none for
the emulator) are what equivalence should find; the innocuous, unprivileged ones are what
the efficiency oracle must never see emulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Reference:
    flagged: frozenset[str]  #: the policy's theorem's violations (Theorem 1: sensitive and not privileged)
    innocuous: frozenset[str]  #: innocuous and not privileged
    undecided: frozenset[str] = frozenset()

    @staticmethod
    def from_isa_result(result: Any, theorem: Optional[str] = "1") -> "Reference":
        """``theorem``: the classification theorem whose violations the monitor policy under
        test must show (`Policy.theorem`); None when it must show none (the emulator)."""
        innocuous = frozenset(i.mnemonic for i in result.instructions
                              if i.value("innocuous") is True and i.value("privileged") is False)
        if theorem is None:
            return Reference(frozenset(), innocuous)
        t = result.theorems[theorem]
        return Reference(frozenset(t.violations), innocuous, frozenset(t.undecided))

    def compare(self, found: set[str]) -> dict[str, list[str]]:
        """Agreed, found only by fuzzing (a model or monitor bug), found only by Z3 (a blind spot)."""
        return {"agreed": sorted(found & self.flagged), "fuzz_only": sorted(found - self.flagged),
                "z3_only": sorted(self.flagged - found)}

    def to_json(self) -> dict[str, Any]:
        return {"flagged": sorted(self.flagged), "innocuous": sorted(self.innocuous), "undecided": sorted(self.undecided)}
