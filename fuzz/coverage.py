"""Which (instruction, mode, outcome) combinations a campaign has hit, and steering.

The combinations that can exist are read from the ISA: every instruction in every
declared mode, with the outcomes its semantics can produce (``ok``, each trap cause its
exits name, ``halt``). Some of them are infeasible (a privilege trap in supervisor mode);
they stay "unhit" and are reported as such, honestly, not hidden.

Coverage is sampled: a probe steps a case on the bare machine one instruction at a time
(the hot path runs programs in bulk and sees no single steps) every ``probe_every`` cases.
"""

from __future__ import annotations

from typing import Any, Iterable

from virtcheck.fuzz import predicates
from virtcheck.fuzz.case import Case
from virtcheck.fuzz.runner import rig
from virtcheck.isa.model import Isa

OK, HALT = "ok", "halt"


def possible(isa: Isa) -> dict[str, set[tuple[str, str]]]:
    """Per mnemonic, the (mode, outcome) pairs its declaration allows."""
    out: dict[str, set[tuple[str, str]]] = {}
    for ins in isa.instructions:
        outcomes = {OK}
        for x in ins.effects.exits:
            outcomes.add(x.cause.name if x.cause is not None else HALT)
        out[ins.mnemonic] = {(m, o) for m in isa.modes for o in outcomes}
    return out


class Coverage:
    """Hit counts per (mnemonic, mode, outcome)."""

    def __init__(self, isa: Isa):
        self.isa = isa
        self.possible = possible(isa)
        self.hits: dict[tuple[str, str, str], int] = {}
        self._spaces = [(m, predicates.space(isa, m)) for m in isa.modes]

    def mode_of(self, S: list[int]) -> str:
        for name, sp in self._spaces:
            if sp is not None and sp.holds_flat(S):
                return name
        return "?"

    def probe(self, case: Case) -> None:
        """Step ``case`` bare and count every step's combination."""
        isa = self.isa
        r = rig(isa, case.partition_size)
        S, mems0 = case.image(isa)
        mems = r.load_bare(mems0)
        entry = r.entry
        c = r.c
        code = mems[c.layout.memories.index(isa.code_memory)]  # type: ignore[arg-type]
        cell = isa.memories[isa.code_memory].width  # type: ignore[index]
        units = isa.units_per_word
        for _ in range(case.budget):
            a = c.fetch(S, *mems)
            if a.__class__ is tuple:
                entry[a[0].name](S, *mems, a[1])
                continue
            w = 0
            for k in range(units):
                w = (w << cell) | code[a + k]
            ins, _ = c.decode(w)
            mode = self.mode_of(S)
            res = c.step_for(w)(S, *mems)
            if res is None:
                outcome = OK
            elif res.__class__ is tuple:
                outcome = res[0].name
                entry[outcome](S, *mems, res[1])
            else:
                outcome = HALT
            key = (ins.mnemonic, mode, outcome)
            self.hits[key] = self.hits.get(key, 0) + 1
            if outcome == HALT:
                break

    def merge(self, hits: dict[tuple[str, str, str], int]) -> None:
        for k, v in hits.items():
            self.hits[k] = self.hits.get(k, 0) + v

    def weights(self, boost: float = 4.0) -> list[float]:
        """One weight per instruction: 1, plus ``boost`` times its share of unhit combinations."""
        out = []
        for ins in self.isa.instructions:
            pos = self.possible[ins.mnemonic]
            unhit = sum(1 for m, o in pos if (ins.mnemonic, m, o) not in self.hits)
            out.append(1.0 + boost * unhit / len(pos))
        return out

    def table(self) -> list[dict[str, Any]]:
        """Per instruction: hit / possible combinations, and which are still unhit."""
        rows = []
        for ins in self.isa.instructions:
            pos = sorted(self.possible[ins.mnemonic])
            hit = [f"{m}/{o}" for m, o in pos if (ins.mnemonic, m, o) in self.hits]
            rows.append({"instruction": ins.mnemonic, "hit": len(hit), "possible": len(pos),
                         "unhit": [f"{m}/{o}" for m, o in pos if (ins.mnemonic, m, o) not in self.hits],
                         "steps": sum(v for (mn, _, _), v in self.hits.items() if mn == ins.mnemonic)})
        return rows

    @staticmethod
    def keys_to_json(hits: dict[tuple[str, str, str], int]) -> list[list[Any]]:
        return [[a, b, c, n] for (a, b, c), n in sorted(hits.items())]

    @staticmethod
    def keys_from_json(rows: Iterable[list[Any]]) -> dict[tuple[str, str, str], int]:
        return {(a, b, c): int(n) for a, b, c, n in rows}
