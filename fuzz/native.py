"""The campaign's hot loop in native code: thousands of equivalence pairs per call.

A pair (a 32-instruction program bare and under the monitor) costs a few microseconds in
C and a few hundred in Python, and Hypothesis or ``random`` per program would cost more
than the pair. So the generator's *pools* (`CaseGenerator`: words and fitted states,
drawn from the ISA-derived distributions) are copied into C arrays, and one call runs a
batch: per case it draws the two program windows and the state with a seeded splitmix64
(the batch seed comes from the campaign's ``random.Random``, so a campaign is as
deterministic as before), places the program where the first fetch reads (`case.place`),
runs it on the native bare machine and under the native monitor (`hypervisor.native`),
and compares what `oracles.equivalence` compares: every field, the partition's cells,
the traps and the end. It also counts coverage on every bare step -- (instruction, mode,
outcome), as `Coverage.probe` does, but on every case instead of a sample -- and the
direct-execution ratio.

A case that differs, or that emulated an instruction its ISA calls innocuous from a state
its partition fits (the efficiency oracle's domain), is flagged
with its choices; the campaign rebuilds it as a `Case` (`NativeBatch.case`) and hands it
to the Python oracles, which locate the first differing step, check the domain and
shrink. A flagged case the Python monitor runs equivalently is an *engine* disagreement,
reported as a failure rather than dropped.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Optional

from virtcheck.fuzz.case import Case
from virtcheck.fuzz.casegen import CaseGenerator
from virtcheck.fuzz.report import Histogram
from virtcheck.fuzz.runner import rig
from virtcheck.hypervisor import native as HN
from virtcheck.isa.native import NativeUnavailable, build
from virtcheck.isa.model import Isa

U64 = ctypes.c_uint64
U64P = ctypes.POINTER(U64)

#: cases per native call (the Python work per batch is amortised over them)
BATCH = 2048
#: pool words redrawn per batch, and pooled states (a fitted state costs ~0.3 ms)
WORDS_PER_BATCH = 256
STATES_PER_BATCH = 4

#: flag bits of a case
DIFFERS, SUSPECT = 1, 2

BATCH_C = r"""
static u64 vc_rand(u64 *s) {
    u64 z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* run_steps on the bare machine, counting (instruction, mode, outcome) of every step
   (Coverage.probe: a fetch fault is entered and not counted) */
static int vc_run_cov(u64 *S, vc_mem *P, int budget, i64 *ev, int *nev, int *steps_out, u64 *cov) {
    int steps = 0, idx;
    u64 info;
    *nev = 0;
    while (steps < budget) {
        int mode = vc_mode(S);
        int r = vc_step(S, P, &info, &idx);
        if (idx < VC_NINS) cov[((u64)idx * (VC_NMODES + 1) + mode) * (2 + VC_NCAUSES) + r]++;
        if (r == 0) { steps++; continue; }
        if (r == 1) { *steps_out = steps; return 1; }
        ev[3 * *nev] = steps; ev[3 * *nev + 1] = r - 2; ev[3 * *nev + 2] = (i64)info;
        (*nev)++;
        vc_trap(r - 2, S, P, info);
        steps++;
    }
    *steps_out = steps;
    return 0;
}

int vcx_batch(const u64 *pool, int npool, int length, int budget,
              int nstates, const u64 *st_S, u64 *const *st_img, const u64 *st_size, const u64 *st_base,
              const unsigned char *innocuous, u64 seed, int ncases, u64 **bare, u64 **phys,
              int *choices, unsigned char *flags, u64 *totals, u64 *hist, double *ratio_sum, u64 *cov) {
    u64 rs = seed;
    const int half = length / 2;
    i64 evb[3 * (budget > 0 ? budget : 1)], evv[3 * (budget > 0 ? budget : 1)];
    vc_mem BP[VC_NMEMS], PP[VC_NMEMS], G[VC_NMEMS], V[VC_NMEMS];
    for (int j = 0; j < VC_NMEMS; j++) {
        BP[j].c = bare[j]; BP[j].off = 0; BP[j].size = VC_MEMSIZE[j];
        PP[j].c = phys[j]; PP[j].off = 0; PP[j].size = VC_MEMSIZE[j];
    }
    for (int c = 0; c < ncases; c++) {
        const int a = (int)(vc_rand(&rs) % (u64)(npool - half));
        const int b = (int)(vc_rand(&rs) % (u64)(npool - (length - half)));
        const int si = (int)(vc_rand(&rs) % (u64)nstates);
        choices[3 * c] = a; choices[3 * c + 1] = b; choices[3 * c + 2] = si;
        const u64 size = st_size[si], base = st_base[si];
        const u64 *img = st_img[si];
        u64 Sb[VC_NFIELDS], Sv[VC_NFIELDS];
        memcpy(Sb, st_S + (u64)si * VC_NFIELDS, sizeof Sb);
        for (int j = 0; j < VC_NMEMS; j++) {
            memcpy(bare[j], img + (u64)j * size, size * sizeof(u64));
            memset(bare[j] + size, 0, (VC_MEMSIZE[j] - size) * sizeof(u64));
            V[j].c = bare[j]; V[j].off = 0; V[j].size = size;
            G[j].c = phys[j]; G[j].off = base; G[j].size = size;
        }
        /* case.place: the program goes where the first fetch reads (cell 0 if it traps) */
        u64 at, info;
        if (vc_fetch(Sb, V, &at, &info) != 0) at = 0;
        for (int k = 0; k < length; k++) {
            const u64 w = k < half ? pool[a + k] : pool[b + k - half];
            for (int u = 0; u < VC_UNITS; u++)
                bare[VC_CODE][(at + u) % size] = (w >> ((VC_UNITS - 1 - u) * VC_CELL)) & VC_CELLMASK;
            at += VC_UNITS;
        }
        /* the real memory outside the partition starts at 0 in every case, as in the
           Python rig (Rig.load_vm): no case sees the cells an earlier one left */
        for (int j = 0; j < VC_NMEMS; j++) {
            memset(phys[j], 0, base * sizeof(u64));
            memcpy(phys[j] + base, bare[j], size * sizeof(u64));
            memset(phys[j] + base + size, 0, (VC_MEMSIZE[j] - base - size) * sizeof(u64));
        }
        memcpy(Sv, Sb, sizeof Sb);
        int nb, sb, nv, sv;
        const int endb = vc_run_cov(Sb, BP, budget, evb, &nb, &sb, cov);
        vc_acct acct;
        memset(&acct, 0, sizeof acct);
        const int endv = vc_run(Sv, PP, G, base, size, &acct, budget, evv, &nv, &sv);
        int same = endb == endv && nb == nv && memcmp(evb, evv, 3 * (u64)nb * sizeof(i64)) == 0
                   && memcmp(Sb, Sv, sizeof Sb) == 0;
        for (int j = 0; same && j < VC_NMEMS; j++)
            same = memcmp(bare[j], phys[j] + base, size * sizeof(u64)) == 0;
        u64 emulated = 0;
        int suspect = 0;
        for (int k = 0; k <= VC_NINS; k++) {
            emulated += acct.emulated[k];
            if (k < VC_NINS && acct.emulated_fit[k] && innocuous[k]) suspect = 1;
        }
        flags[c] = (unsigned char)((same ? 0 : 1) | (suspect ? 2 : 0));
        totals[0] += (u64)sb;
        totals[1] += acct.direct;
        totals[2] += emulated;
        const double r = acct.direct + emulated ? (double)acct.direct / (double)(acct.direct + emulated) : 1.0;
        int bin = (int)(r * VC_BINS);
        hist[bin < VC_BINS - 1 ? bin : VC_BINS - 1]++;
        *ratio_sum += r;
    }
    return ncases;
}
"""


def unsupported(isa: Isa) -> Optional[str]:
    """Why a campaign on ``isa`` cannot use the native engine (one line); None if it can."""
    return HN.unsupported(isa)


@dataclass
class BatchResult:
    """What one native call did: per case its choices and flags, and the totals."""

    choices: list[tuple[int, int, int]]
    flagged: list[tuple[int, int]]  #: (case index in the batch, flags)
    steps: int
    direct: int
    emulated: int
    ratio_hist: list[int]
    ratio_sum: float
    hits: dict[tuple[str, str, str], int]


class NativeBatch:
    """A `CaseGenerator`'s pools in C arrays, and batches of equivalence pairs over them.

    The batch keeps its own copy of the pools, drawn through the generator: the
    generator's own cases (isolation, encapsulation) turn its pools over as they like,
    and a flagged case must be rebuilt from exactly what the C arrays held."""

    def __init__(self, isa: Isa, gen: CaseGenerator, innocuous: frozenset[str] = frozenset()):
        isa = isa.finalize()
        why = unsupported(isa)
        if why:
            raise NativeUnavailable(why)
        self.isa = isa
        self.gen = gen
        src = HN.source(isa)
        code = isa.code_memory
        lay = HN.facts(isa).layout
        cell = isa.memories[code].width  # type: ignore[index]
        src.add(f"#define VC_CODE {lay.memories.index(code)}\n#define VC_UNITS {isa.units_per_word}\n"
                f"#define VC_CELL {cell}\n#define VC_CELLMASK 0x{(1 << cell) - 1:x}ULL\n#define VC_BINS {Histogram.BINS}\n")
        src.add(BATCH_C)
        self.lib = build(src.text(), f"vc-fuzz-{isa.name}")
        self.lib.vcx_batch.restype = ctypes.c_int
        self.layout = lay
        self.n_fields = len(lay.names)
        self.n_mems = len(lay.memories)
        self.mnemonics = [i.mnemonic for i in isa.instructions]
        self.modes = [*isa.modes, "?"]
        self.outcomes = ["ok", "halt", *isa.causes]
        self.innocuous = (ctypes.c_ubyte * len(self.mnemonics))(*[m in innocuous for m in self.mnemonics])
        self.words = list(gen.words)
        self.states = list(gen.states)
        self.pool = (U64 * len(self.words))(*self.words)
        n = len(self.states)
        self.st_S = (U64 * (n * self.n_fields))()
        self.st_size = (U64 * n)()
        self.st_base = (U64 * n)()
        self._imgs: list = [None] * n
        self.st_img = (U64P * n)()
        for k in range(n):
            self._load_state(k)
        self.bare = [(U64 * m)() for m in lay.mem_size]
        self.phys = [(U64 * m)() for m in lay.mem_size]
        self.bare_p = (U64P * self.n_mems)(*[ctypes.cast(a, U64P) for a in self.bare])
        self.phys_p = (U64P * self.n_mems)(*[ctypes.cast(a, U64P) for a in self.phys])
        self._cov_len = len(self.mnemonics) * len(self.modes) * len(self.outcomes)
        self._wi = 0
        self._si = 0

    def _load_state(self, k: int) -> None:
        st, size = self.states[k]
        S, mems = Case([], st, size, self.gen.budget).image(self.isa)
        nf = self.n_fields
        self.st_S[k * nf:(k + 1) * nf] = S
        img = (U64 * (self.n_mems * size))(*[v for m in mems for v in m])
        self._imgs[k] = img  # kept alive: C holds only the pointer
        self.st_img[k] = ctypes.cast(img, U64P)
        self.st_size[k] = size
        self.st_base[k] = rig(self.isa, size).base

    # --- pools ----------------------------------------------------------------------
    def refresh(self, words: int = WORDS_PER_BATCH, states: int = STATES_PER_BATCH) -> None:
        """Redraw ``words`` pool words and ``states`` pooled states (the pools turn over)."""
        gen = self.gen
        n = len(self.words)
        for _ in range(words):
            w = gen.gen.word()
            self.words[self._wi] = w
            self.pool[self._wi] = w
            self._wi = (self._wi + 1) % n
        for _ in range(states):
            self.states[self._si] = gen._state()
            self._load_state(self._si)
            self._si = (self._si + 1) % len(self.states)

    def case(self, choice: tuple[int, int, int]) -> Case:
        """The case a batch ran with these choices (valid until the next `refresh`)."""
        a, b, si = choice
        n = self.gen.length
        half = n // 2
        st, size = self.states[si]
        return Case(self.words[a:a + half] + self.words[b:b + n - half], st, size, self.gen.budget)

    # --- running --------------------------------------------------------------------
    def run(self, ncases: int, seed: int) -> BatchResult:
        """Run ``ncases`` pairs from the current pools with batch seed ``seed``."""
        gen = self.gen
        choices = (ctypes.c_int * (3 * ncases))()
        flags = (ctypes.c_ubyte * ncases)()
        totals = (U64 * 3)()
        hist = (U64 * Histogram.BINS)()
        ratio = ctypes.c_double(0.0)
        cov = (U64 * self._cov_len)()
        self.lib.vcx_batch(self.pool, len(self.words), gen.length, gen.budget, len(self.states), self.st_S,
                           self.st_img, self.st_size, self.st_base, self.innocuous, U64(seed & (2 ** 64 - 1)),
                           ncases, self.bare_p, self.phys_p, choices, flags, totals, hist, ctypes.byref(ratio), cov)
        ch = list(choices)
        hits: dict[tuple[str, str, str], int] = {}
        nm, no = len(self.modes), len(self.outcomes)
        for k, v in enumerate(cov):
            if v:
                ins, rest = divmod(k, nm * no)
                mode, out = divmod(rest, no)
                hits[(self.mnemonics[ins], self.modes[mode], self.outcomes[out])] = int(v)
        return BatchResult([(ch[3 * k], ch[3 * k + 1], ch[3 * k + 2]) for k in range(ncases)],
                           [(k, f) for k, f in enumerate(flags) if f], int(totals[0]), int(totals[1]), int(totals[2]),
                           [int(h) for h in hist], ratio.value, hits)
