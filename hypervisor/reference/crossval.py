"""Cross-validation: random instructions and states, run on the model and on a reference.

Instructions and states are drawn by :class:`virtcheck.fuzz.generate.Generator` from the
ISA definition, in the modes the reference can be set up in, then fitted by the ISA's spec to
what the reference can realise. Every example ends ``agree``, ``explained`` (by a declared
limit), ``mismatch`` or ``skipped`` (with the reason). Wording stays honest: agreement on N
examples, never "verified".
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from virtcheck.isa.model import Isa
from virtcheck.hypervisor.reference.base import Example, Reference
from virtcheck.hypervisor.reference.compare import compare, describe, model_result


@dataclass
class CrossvalReport:
    isa: str
    reference: str
    backing: str
    seed: int
    examples: int = 0
    counts: Counter = field(default_factory=Counter)  #: agree / explained / mismatch / skipped
    skipped: Counter = field(default_factory=Counter)  #: reason -> count
    explained: Counter = field(default_factory=Counter)  #: limit id -> count
    per_mnemonic: dict[str, Counter] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unexplained(self) -> int:
        return self.counts["mismatch"]

    def to_json(self) -> dict[str, Any]:
        return {
            "isa": self.isa, "reference": self.reference, "backing": self.backing, "seed": self.seed,
            "examples": self.examples, "counts": dict(self.counts), "skipped": dict(self.skipped),
            "explained": dict(self.explained),
            "per_mnemonic": {k: dict(v) for k, v in sorted(self.per_mnemonic.items())},
            "mismatches": self.mismatches,
            "limits": [{k: v for k, v in lim.items() if k != "when"} for lim in self.limits],
            "seconds": round(self.seconds, 3),
            "per_example_ms": round(1000 * self.seconds / self.examples, 3) if self.examples else None,
        }


def _operand(rng: random.Random, o) -> int:
    """An operand value as the fuzz value tables bias it: an edge, a small int or any value
    (with the bits its encoding cannot hold cleared)."""
    return _drawn(rng, o) & ~o.zeros


def _drawn(rng: random.Random, o) -> int:
    from virtcheck.fuzz import values

    if o.kind == "reg":
        return rng.randrange(o.domain_size)
    r = rng.randrange(3)
    if r == 0:
        edges = values.operand_edges(o)
        return edges[rng.randrange(len(edges))]
    if r == 1:
        return rng.randrange(min(values.SMALL, o.domain_size))
    return rng.randrange(o.domain_size)


def _round_trips(isa: Isa, ins, vals) -> bool:
    """The bytes a reference runs mean this instruction: they decode back to it. (An M68000
    Bcc.S with displacement 0 is encoded, but those bytes are the Bcc.W form.)"""
    from virtcheck.isa.asm import decode_units, encode_units

    if not isa.variable:
        return True
    back = decode_units(isa, encode_units(isa, ins, vals) + [0] * 8)  # as followed by other code
    return back is not None and back[0] is ins and tuple(back[1]) == tuple(vals)


def examples(isa: Isa, ref: Reference, seed: int, n: int):
    """``n`` fitted examples, reproducible from ``seed``."""
    from virtcheck.fuzz.generate import Generator

    gen = Generator(isa, seed)
    rng = random.Random(seed ^ 0x5EED)
    modes = ref.modes
    for _ in range(n):
        mode = modes[rng.randrange(len(modes))]
        state = gen.state(mode=mode)
        for _attempt in range(100):
            ins, vals = gen.instruction()
            if len(vals) != len(ins.operands):  # Generator leaves the operands of pattern-encoded forms out
                vals = tuple(_operand(rng, o) for o in ins.operands)
            if _round_trips(isa, ins, vals):
                break
        ops = {o.name: v for o, v in zip(ins.operands, vals)}
        state, ops = ref.fit(state, ins, ops, rng)
        yield Example(ins, ops, state, mode)


def crossval(isa: Isa, ref: Reference, *, seed: int, n: int, keep: int = 50,
             progress: Optional[Callable[[int], None]] = None) -> CrossvalReport:
    rep = CrossvalReport(isa.name, ref.name, ref.backing(), seed, limits=ref.limits)
    t0 = time.perf_counter()
    for k, ex in enumerate(examples(isa, ref, seed, n)):
        model = model_result(isa, ex, ref.spec)
        res = ref.run(ex)
        c = compare(isa, ex, model, res, ref.spec)
        rep.examples += 1
        rep.counts[c.status] += 1
        rep.per_mnemonic.setdefault(ex.ins.mnemonic, Counter())[c.status] += 1
        if c.status == "skipped":
            rep.skipped[res.reason] += 1
        elif c.status == "explained":
            for lim in c.limits:
                rep.explained[lim] += 1
        elif c.status == "mismatch" and len(rep.mismatches) < keep:
            rep.mismatches.append(describe(isa, ex, c))
        if progress and (k + 1) % 1000 == 0:
            progress(k + 1)
    rep.seconds = time.perf_counter() - t0
    return rep
