"""Cases for a campaign's hot loop, from one seed, through the ISA-derived distributions.

:class:`~virtcheck.fuzz.generate.Generator` draws a 32-instruction program in tens of
microseconds -- longer than running it. So words and states are drawn into *pools*
(by the Generator, so from the same value tables, operand domains and mode spaces as
the Hypothesis strategies), and a program is cut from the word pool as two random
windows while a few pool entries are redrawn per program: every word still comes from
the ISA's distribution, the pool turns over every few hundred programs, and a case
costs a handful of ``random`` calls. Every choice comes from ``random.Random(seed)``.

Initial states are drawn in every virtual mode in turn (supervisor and the guest
configuration), then fitted to their partition: the fields the ISA's ``fits`` condition
reads are redrawn inside the partition until it holds (falling back to a Z3 solution),
because the monitor promises equivalence only there. The pc is moved to 0 if the first
fetch would fault, so the drawn program is what runs.
"""

from __future__ import annotations

import random
from itertools import product
from typing import Optional, Sequence

from virtcheck.fuzz import predicates
from virtcheck.fuzz.case import Case, normalized
from virtcheck.fuzz.configs import config_space
from virtcheck.fuzz.generate import Generator
from virtcheck.hypervisor.mapping import facts
from virtcheck.isa import expr as E
from virtcheck.isa.concrete import compiled
from virtcheck.isa.flow import field_reads
from virtcheck.isa.model import Isa
from virtcheck.isa.state import MachineState

WORD_POOL = 4096
STATE_POOL = 256
#: words redrawn per program (the pool turns over every WORD_POOL / REFRESH programs)
REFRESH = 4
#: one pooled state is redrawn every this many cases (a fitted state with a handler
#: vector costs a few hundred microseconds: more than running a case)
STATE_REFRESH = 32
#: largest partition drawn by default: larger ones only make loading a case slower
MAX_PARTITION = 1024


class CaseGenerator:
    """Seeded cases of ``length``-instruction programs with ``budget``-step runs."""

    def __init__(self, isa: Isa, seed: int, *, length: int = 32, budget: Optional[int] = None,
                 sizes: Optional[Sequence[int]] = None, modes: Sequence[str] = (predicates.SUPERVISOR, predicates.GUEST)):
        self.isa = isa.finalize()
        self.seed = seed
        self.gen = Generator(isa, seed)
        self.rng = self.gen.rng
        self.length = length
        self.budget = budget if budget is not None else length
        space = config_space(isa)
        if sizes is None:
            sizes = [s for s in space.sizes(1, 1) if s <= MAX_PARTITION] or list(space.sizes(1, 1))[:1]
        self.sizes = list(sizes)
        self.modes = list(modes)
        self.facts = facts(isa)
        self.c = compiled(isa)
        self._vector_cause, self._vector_cells, self._vector_stores = _trap_cells(isa)
        self._vector_check = [lay_i for lay_i in self.facts.system_slots] + [self.facts.layout.index[isa.pc_name]]
        self.words = [self.gen.word() for _ in range(WORD_POOL)]
        self._wi = 0
        self._mode_i = 0
        self.states = [self._state() for _ in range(STATE_POOL)]
        self._si = 0

    # --- steering --------------------------------------------------------------------
    def steer(self, weights: Sequence[float]) -> None:
        """New instruction weights (table order); the word pool follows as it turns over."""
        self.gen.weights = weights

    # --- states ----------------------------------------------------------------------
    def _state(self, size: Optional[int] = None, mode: Optional[str] = None) -> tuple[MachineState, int]:
        rng = self.rng
        if size is None:
            size = self.sizes[rng.randrange(len(self.sizes))]
        if mode is None:
            mode = self.modes[self._mode_i % len(self.modes)]
            self._mode_i += 1
        st = normalized(self.gen.state(mode), size)
        self.fit(st, size, rng)
        if self._vector_cells and rng.randrange(4):
            self._handler_vector(st, size)
        return st, size

    def _handler_vector(self, st: MachineState, size: int) -> None:
        """Fill the cells the trap semantics load with a handler state that fits.

        Nothing here knows the ISA's trap format: a fitting supervisor state H is drawn,
        the ISA's own trap entry is run on it (storing H's words where it saves the old
        state), and among those stored words the assignment to the loaded cells that
        makes a trap enter exactly H's system fields and pc is kept. ISAs whose trap does
        not load what it stores keep their random vector."""
        lay = self.facts.layout
        h = normalized(self.gen.state(predicates.SUPERVISOR), size)
        self.fit(h, size, self.rng)
        H = [h.fields[n] for n in lay.names]
        code = lay.memories.index(self.isa.code_memory)  # type: ignore[arg-type]
        cause = self._vector_cause
        scratch = [[0] * size for _ in lay.memories]
        S = list(H)
        self.c.trap_entry[cause](S, *scratch, 0)
        stored = sorted({scratch[code][a] for a in self._vector_stores if a < size})
        want = [H[i] for i in self._vector_check]
        loads = [a for a in self._vector_cells if a < size]
        for combo in product(stored, repeat=len(loads)):
            mems = [[0] * size for _ in lay.memories]
            for a, v in zip(loads, combo):
                mems[code][a] = v
            T = list(H)
            self.c.trap_entry[cause](T, *mems, 0)
            if [T[i] for i in self._vector_check] == want:
                mem = st.memories[self.isa.code_memory]  # type: ignore[index]
                for a, v in zip(loads, combo):
                    mem.cells[a] = v
                return

    def fit(self, st: MachineState, size: int, rng: random.Random) -> None:
        fit_state(self.isa, st, size, rng)

    # --- cases -----------------------------------------------------------------------
    def program(self) -> list[int]:
        """``length`` words: two windows of the pool; REFRESH pool entries redrawn."""
        rng, pool, n = self.rng, self.words, self.length
        for _ in range(REFRESH):
            pool[self._wi] = self.gen.word()
            self._wi = (self._wi + 1) % WORD_POOL
        half = n // 2
        a = rng.randrange(WORD_POOL - half)
        b = rng.randrange(WORD_POOL - (n - half))
        return pool[a:a + half] + pool[b:b + n - half]

    def case(self) -> Case:
        """An equivalence / efficiency case."""
        rng = self.rng
        if rng.randrange(STATE_REFRESH) == 0:
            self.states[self._si] = self._state()
            self._si = (self._si + 1) % STATE_POOL
        st, size = self.states[rng.randrange(STATE_POOL)]
        return Case(self.program(), st, size, self.budget)

    def isolation_case(self, max_vms: int = 3) -> Case:
        """Guest 0, ``vms - 1`` co-resident guests and a variant of guest 1."""
        rng = self.rng
        space = config_space(self.isa, max_vms=max_vms)
        vms = rng.randint(2, space.most_vms[1])
        sizes = [s for s in self.sizes if s <= space.largest(vms)] or [space.lowest[1]]
        size = sizes[rng.randrange(len(sizes))]
        guests = [Case(self.program(), self._pooled(size), size, self.budget) for _ in range(vms + 1)]
        head = guests[0]
        head.others = guests[1:]
        return head

    def _pooled(self, size: int) -> MachineState:
        """A pooled state refitted to ``size`` cells (cheap: no new handler vector)."""
        st, _ = self.states[self.rng.randrange(STATE_POOL)]
        return fit_state(self.isa, st.copy(), size, self.rng)

    def encapsulation_case(self) -> Case:
        c = self.case()
        c.split = self.rng.randrange(1, self.budget)
        return c


def _trap_cells(isa: Isa) -> tuple[str, list[int], list[int]]:
    """(a cause, the constant physical cells its trap semantics load, those it stores)."""
    for cause, eff in isa.derived.trap_effects.items():
        loads: set[int] = set()
        for root in eff.roots():
            loads |= {n.addr.value for n in E.walk(root) if isinstance(n, E.Load) and isinstance(n.addr, E.Const)}
        stores = [s.addr.value for s in eff.stores if isinstance(s.addr, E.Const)]
        if loads and len(loads) <= 4:
            return cause, sorted(loads), stores
    return "", [], []


def _fit_fields(isa: Isa) -> list[str]:
    def build() -> list[str]:
        reads = field_reads(isa, [facts(isa).fits_expression()])
        return [n for n in isa.fields if n in reads]

    return isa.derived.fact("casegen.fit_fields", build)


def fit_state(isa: Isa, st: MachineState, size: int, rng: random.Random) -> MachineState:
    """Make ``st`` (in place, and return it) a state a monitor represents exactly in a
    ``size``-cell partition: the fields the ISA's ``fits`` condition reads are redrawn
    inside the partition until it holds (after 8 misses, a Z3 solution is used), and the
    pc is moved to 0 when the first fetch would fault, so the program placed there runs.
    Memory cells past the partition are folded into it."""
    f = facts(isa)
    if not f.can_partition:
        return st
    folded = normalized(st, size)
    st.memories = folded.memories
    fit_fields = _fit_fields(isa)
    lay = f.layout
    S = [st.fields[n] for n in lay.names]
    tries = 0
    while not f.fits(S, size):
        if tries == 8:
            sp = predicates.fit_space(isa, size)
            for n, v in zip(sp.fields, sp.solutions[rng.randrange(len(sp.solutions))]):
                st.fields[n] = v
            break
        for n in fit_fields:
            st.fields[n] = rng.randint(0, min(size, (1 << isa.fields[n].width) - 1))
        S = [st.fields[n] for n in lay.names]
        tries += 1
    S = [st.fields[n] for n in lay.names]
    probe = [[0] * size for _ in lay.memories]
    if compiled(isa).fetch(S, *probe).__class__ is tuple:
        st.fields[isa.pc_name] = 0  # type: ignore[index]
    return st
