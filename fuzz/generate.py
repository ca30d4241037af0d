"""The hot-loop generator: the strategies' distributions from a seeded ``random.Random``.

A campaign runs a program in microseconds; Hypothesis spends far longer than that per
example. :class:`Generator` draws from the same value tables (:mod:`virtcheck.fuzz.values`),
the same operand domains and the same mode spaces (:mod:`virtcheck.fuzz.predicates`) as
:mod:`virtcheck.fuzz.strategies`, with the same shapes (an edge case, a small int or any
value, in equal parts). It does not reproduce Hypothesis's exact probabilities, and it
does not shrink: a campaign that finds something hands it to Hypothesis or a reducer.

Everything that needs a solver or a compiler (mode predicates) happens in ``__init__``;
drawing a program or a state only calls the ``random.Random`` seeded with ``seed``, so
the same seed gives the same sequence, and a campaign is replayed from its seed.

``weights`` steers it: one non-negative weight per instruction, in table order. A campaign
that tracks which (instruction, mode, outcome) combinations it has hit can raise the
weight of instructions whose combinations are still missing.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from itertools import accumulate
from typing import Mapping, Optional, Sequence, Union

from hypothesis.errors import InvalidArgument

from virtcheck.isa.model import Instruction, Isa, MemoryDecl
from virtcheck.isa.state import MachineState, Memory
from virtcheck.fuzz import predicates, values
from virtcheck.fuzz.configs import GuestConfig, config_space

# A value sampler: (edge table, limit, bits). Drawn as an edge, a small int or any value
# below the limit, in equal parts -- as strategies._biased does. ``bits`` is log2(limit)
# when the limit is a power of two (then getrandbits draws it, the fastest way), else 0.
Sampler = tuple[tuple[int, ...], int, int]


def _sampler(edges: Sequence[int], limit: int) -> Sampler:
    bits = limit.bit_length() - 1 if limit & (limit - 1) == 0 else 0
    return tuple(edges), limit, bits


_SMALL_BITS = values.SMALL.bit_length() - 1
assert 1 << _SMALL_BITS == values.SMALL, "values.SMALL must be a power of two"


class Generator:
    """Programs, states and guest configurations of one ISA from one seed."""

    def __init__(self, isa: Isa, seed: int):
        if not isinstance(isa, Isa):
            raise InvalidArgument(f"expected an Isa (e.g. bundled()['pg3']), not {type(isa).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidArgument(f"seed must be an integer (it is printed and recorded for replay), not {seed!r}")
        self.isa = isa.finalize()
        self.seed = seed
        self.rng = random.Random(seed)
        self._table: list[Instruction] = list(isa.instructions)
        # per instruction: the opcode's bits, and (shift, sampler, is_register) per operand
        self._encoders: list[tuple[int, tuple[tuple[int, Sampler, bool], ...]]] = []
        for ins in self._table:
            # variable-length ISAs have no fixed word layout: shifts are unused (0) there
            base = 0 if isa.variable else ins.opcode << (isa.word - isa.opcode_width)
            shifts = [lo for (_, _, lo) in ins.layout] if not isa.variable else [0] * len(ins.operands)
            ops = tuple((lo, _sampler(values.operand_edges(o), o.domain_size), o.kind == "reg")
                        for lo, o in zip(shifts, ins.operands))
            self._encoders.append((base, ops))
        self._fields = [(n, _sampler(values.field_edges(isa, f), 1 << f.width)) for n, f in isa.fields.items()]
        self._memories = {n: self._memory_plan(m) for n, m in isa.memories.items()}
        # every mode a caller may ask for, resolved now: no solver in the loop
        self._spaces: dict[Optional[str], Optional[predicates.PredicateSpace]] = {None: None}
        for mode in [predicates.GUEST, predicates.SUPERVISOR, *isa.modes]:
            self._spaces[mode] = predicates.space(isa, mode)
        self._weights: tuple[float, ...] = (1.0,) * len(self._table)
        self._cum: Optional[list[float]] = None  # None: uniform, draw with randrange

    def _memory_plan(self, m: MemoryDecl) -> tuple[Sampler, Sampler, bool]:
        return (_sampler(values.cell_edges(m), 1 << m.width), _sampler(values.address_edges(m), m.size),
                values.holds_words(self.isa, m))

    # --- steering ------------------------------------------------------------------
    @property
    def weights(self) -> tuple[float, ...]:
        """One weight per instruction, in table order (all 1.0: uniform)."""
        return self._weights

    @weights.setter
    def weights(self, new: Union[Sequence[float], Mapping[str, float]]) -> None:
        if isinstance(new, Mapping):
            current = dict(zip((i.mnemonic for i in self._table), self._weights))
            for name, w in new.items():
                if name not in current:
                    raise InvalidArgument(f"ISA '{self.isa.name}' has no instruction '{name}' to weight")
                current[name] = w
            new = [current[i.mnemonic] for i in self._table]
        ws = tuple(float(w) for w in new)
        if len(ws) != len(self._table):
            raise InvalidArgument(f"weights needs one weight per instruction ({len(self._table)}), got {len(ws)}")
        if any(not w >= 0 for w in ws) or not any(ws):
            raise InvalidArgument("weights must be non-negative numbers, at least one of them positive")
        self._weights = ws
        self._cum = None if len(set(ws)) == 1 else list(accumulate(ws))

    # --- values --------------------------------------------------------------------
    def _value(self, s: Sampler) -> int:
        edges, limit, bits = s
        rng = self.rng
        if limit > values.SMALL:
            r = rng.random() * 3.0
            if r < 1.0:  # r is uniform in [0, 1) here: reuse it to pick the edge
                return edges[int(r * len(edges))]
            if r < 2.0:
                return rng.getrandbits(_SMALL_BITS)
        elif rng.getrandbits(1):
            return edges[rng.randrange(len(edges))]
        return rng.getrandbits(bits) if bits else rng.randrange(limit)

    def _register(self, s: Sampler) -> int:
        return self.rng.getrandbits(s[2]) if s[2] else self.rng.randrange(s[1])

    # --- instructions and programs -------------------------------------------------
    def _index(self) -> int:
        if self._cum is None:
            return self.rng.randrange(len(self._table))
        return bisect_right(self._cum, self.rng.random() * self._cum[-1])

    def instruction(self) -> tuple[Instruction, tuple[int, ...]]:
        """``(instruction, operand values)``, as :func:`strategies.instructions` draws them."""
        k = self._index()
        vals = tuple(self._register(s) if reg else self._value(s) for _, s, reg in self._encoders[k][1])
        return self._table[k], vals

    def word(self) -> int:
        """A canonical encoded instruction word (equal to ``asm.encode`` of what it drew).
        Fixed-width ISAs only: a variable-length instruction is several cells (use
        :meth:`instruction` and ``asm.encode_units``)."""
        if self.isa.variable:
            raise ValueError(f"ISA '{self.isa.name}' has variable-length instructions: draw instruction() "
                             "and encode it with virtcheck.isa.asm.encode_units")
        base, ops = self._encoders[self._index()]
        for lo, s, reg in ops:
            base |= (self._register(s) if reg else self._value(s)) << lo
        return base

    def program(self, n: int) -> list[int]:
        """``n`` canonical instruction words."""
        return [self.word() for _ in range(n)]

    # --- states --------------------------------------------------------------------
    def memory(self, name: str) -> Memory:
        """A sparse memory: a default and up to ``values.MAX_CELLS`` cells set apart."""
        cell, addr, words = self._memories[name]
        rng = self.rng

        def one() -> int:
            if words and rng.randrange(2):
                return self.word()
            return self._value(cell)

        default = one()
        cells = {}
        for _ in range(rng.randrange(values.MAX_CELLS + 1)):
            cells[self._value(addr)] = one()
        return Memory(default, cells)

    def state(self, mode: Optional[str] = None) -> MachineState:
        """A state; with ``mode`` (as :func:`strategies.states`) one satisfying its predicate."""
        try:
            space = self._spaces[mode]
        except (KeyError, TypeError):
            predicates.resolve(self.isa, mode)  # raises the InvalidArgument naming the modes
            raise
        fields = {n: self._value(s) for n, s in self._fields}
        if space is not None and (space.exact or not space.holds(fields)):
            fields.update(zip(space.fields, space.solutions[self.rng.randrange(len(space.solutions))]))
        return MachineState(fields, {n: self.memory(n) for n in self._memories})

    def guest_config(self, *, max_vms: int = 4, max_depth: int = 3) -> GuestConfig:
        """A guest configuration, as :func:`strategies.guest_configs` draws them."""
        space = config_space(self.isa, max_vms=max_vms, max_depth=max_depth)
        rng = self.rng
        depth = rng.choice(sorted(space.lowest))
        vms = rng.randint(1, space.most_vms[depth])
        if rng.randrange(2):
            size = rng.choice(space.sizes(depth, vms))
        else:
            size = rng.randint(space.lowest[depth], space.largest(vms))
        return GuestConfig(vms, size, depth)
