"""Per-instruction counts of direct execution, kept cheap on the hot path.

The run loop adds one to a dictionary entry per block it runs (a `Block` for a whole run,
``(block, k)`` for its first ``k`` instructions); a monitor that emulates an instruction
for the executor above it adds ``(EMULATED, level, mnemonic)``. Nothing is expanded into
mnemonics until someone reads the accounting (`fold`).

One tally belongs to one guest (a VM driven by a program, or a bare machine) and is
passed down the stack on every direct run, so every executor under that guest sees the
same counts without copying them: an executor at ``level`` (monitors under it) counts as
direct what the machine ran plus what monitors *below* it emulated; its own emulations and
those of monitors above it are not direct execution for it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from virtcheck.hypervisor.blocks import Block

#: a tally: block, (block, k) or (EMULATED, level, mnemonic) -> count
Tally = dict

EMULATED = "emulated"


def fold(tallies: Iterable[Tally], level: int) -> Counter:
    """Instructions per mnemonic in ``tallies``, as an executor at ``level`` counts them."""
    out: Counter = Counter()
    for t in tallies:
        for key, n in list(t.items()):
            if key.__class__ is Block:
                for m in key.mnemonics:
                    out[m] += n
            elif key[0] is EMULATED:
                if key[1] < level:
                    out[key[2]] += n
            else:
                blk, k = key
                for m in blk.mnemonics[:k]:
                    out[m] += n
    return out


def add_emulated(tally: Tally, level: int, mnemonic: str) -> None:
    key: Any = (EMULATED, level, mnemonic)
    tally[key] = tally.get(key, 0) + 1
