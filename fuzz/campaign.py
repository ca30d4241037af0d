"""A fuzzing campaign: seeded worker processes, coverage steering, shrinking, corpus.

The parent process replays the corpus first, then forks ``workers`` processes. Worker
``k`` of generation ``g`` draws from ``random.Random`` seeded with a value derived from
(campaign seed, k, g), so a campaign is deterministic given its seed and worker count
(exactly so with ``examples``; with a time budget the same sequence is cut at a
different point). Each worker runs cases through the oracles in bulk, shrinks every new
distinct failure itself, and reports counts, coverage and failures over a queue.

The parent saves every failure to the corpus as it arrives (atomically), replaces a
worker that dies, and stops the workers on the deadline, on Ctrl-C or on SIGTERM; in
every case it returns a :class:`~virtcheck.fuzz.report.FuzzReport` of what was found.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import random
import signal
import time
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Callable, Optional

from virtcheck.fuzz import corpus as C
from virtcheck.fuzz import oracles as O
from virtcheck.fuzz.casegen import CaseGenerator
from virtcheck.fuzz.coverage import Coverage
from virtcheck.fuzz.native import BATCH, DIFFERS, SUSPECT, NativeBatch, unsupported as _native_unsupported
from virtcheck.fuzz.properties import Settings, check
from virtcheck.fuzz.reference import Reference
from virtcheck.fuzz.report import FailureRecord, FuzzReport, Histogram
from virtcheck.fuzz.shrink import shrink
from virtcheck.hypervisor.policies import DEFAULT as DEFAULT_POLICY
from virtcheck.isa.model import Isa

#: isolation and encapsulation cases cost several runs: one of each per this many programs
SIDE_EVERY = 8
#: the same under the native engine, whose pairs cost ~1/50 of a Python one: the side
#: properties (still run by the Python monitor) keep about the same share of the time
SIDE_EVERY_NATIVE = 256

#: engines: ``auto`` picks native where the ISA and depth allow it, else python
AUTO, NATIVE, PYTHON = "auto", "native", "python"
ENGINES = (AUTO, NATIVE, PYTHON)
#: a worker slot whose process dies this many times in a row without running a program is
#: not replaced again (a deterministic crash would otherwise respawn until the deadline)
MAX_BARREN_DEATHS = 3
#: a coverage probe (a stepped bare run) every this many programs
PROBE_EVERY = 8
#: new steering weights every this many programs
STEER_EVERY = 512
#: a worker reports progress at least this often (seconds)
REPORT_EVERY = 0.5


@dataclass
class CampaignConfig:
    isa: Isa
    isa_ref: str
    seed: int
    vmm: str = DEFAULT_POLICY
    properties: tuple[str, ...] = O.PROPERTIES
    seconds: Optional[float] = 60.0
    examples: Optional[int] = None
    workers: int = 1
    corpus: Optional[Path] = None
    length: int = 32
    depth: int = 1
    reference: Optional[Reference] = None
    steer: bool = True
    engine: str = AUTO

    def engine_choice(self) -> tuple[str, str]:
        """(the engine that runs the hot loop, why when it is not the native one).
        Raises ValueError when ``native`` was asked for and cannot serve."""
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r} (expected one of {', '.join(ENGINES)})")
        if self.engine == PYTHON:
            return PYTHON, "asked for"
        why = native_refusal(self.isa) if self.depth == 1 else \
            f"the native monitor runs one level; depth {self.depth} runs the Python monitor stack"
        if why is None:
            why = policy_refusal(self.vmm)
        if why is None:
            return NATIVE, ""
        if self.engine == NATIVE:
            raise ValueError(f"the native engine cannot run this campaign: {why}")
        return PYTHON, why

    @property
    def settings(self) -> Settings:
        return Settings(self.depth, 4, self.reference.innocuous if self.reference else frozenset(), self.vmm)


def campaign_refusal(isa: Isa) -> Optional[str]:
    """Why no campaign can run on ``isa`` (one line); None if one can."""
    isa.finalize()
    if isa.partition_fn is None:
        return (f"ISA '{isa.name}' declares no partition composition (Isa.partition); "
                "a trap-and-emulate monitor cannot run it")
    if isa.variable:
        return (f"ISA '{isa.name}' has variable-length instructions; campaigns draw fixed-width instruction "
                "words (check its monitor with `virtcheck check --vmm trap-emulate`, its model with "
                "`virtcheck crossval`)")
    return None


def policy_refusal(policy: str) -> Optional[str]:
    """Why the native engine cannot run ``policy`` (None if it can): the first capability
    the policy needs that the native monitor lacks, named by what it does."""
    from virtcheck.hypervisor.native import CAPABILITIES
    from virtcheck.hypervisor.policies import get

    missing = sorted(c.value for c in get(policy).needs - CAPABILITIES)
    if missing:
        return f"the native monitor has no {missing[0]}, which this policy needs"
    return None


def native_refusal(isa: Isa) -> Optional[str]:
    """Why the native engine cannot serve ``isa`` (None if it can): the ISA's shape, or no
    C compiler on this machine."""
    why = _native_unsupported(isa)
    if why is None:
        from virtcheck.isa.native import compiler

        if compiler() is None:
            why = "no C compiler found (cc, gcc or clang)"
    return why


def worker_seed(seed: int, index: int, generation: int) -> int:
    """The seed of worker ``index``, generation ``generation`` (a replaced worker's next)."""
    return random.Random(f"virtcheck-fuzz:{seed}:{index}:{generation}").getrandbits(63)


# --- the worker ---------------------------------------------------------------------
@dataclass
class _Counts:
    programs: int = 0
    pairs: int = 0
    steps: int = 0
    isolation: int = 0
    encapsulation: int = 0
    out_of_domain: int = 0
    engine_checked: int = 0
    ratio_hist: list[int] = dc_field(default_factory=lambda: [0] * Histogram.BINS)
    ratio_sum: float = 0.0

    def take(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["ratio_hist"] = list(self.ratio_hist)
        self.__init__()  # type: ignore[misc]
        return d


def run_worker(cfg: CampaignConfig, index: int, generation: int, quota: Optional[int], deadline: Optional[float],
               send: Callable[[tuple], None], should_stop: Callable[[], bool]) -> None:
    """The hot loop: cases from the seeded generator through every selected oracle."""
    isa = cfg.isa
    seed = worker_seed(cfg.seed, index, generation)
    gen = CaseGenerator(isa, seed, length=cfg.length)
    cov = Coverage(isa)
    settings = cfg.settings
    props = cfg.properties
    seen: set[tuple[str, str]] = set()
    counts = _Counts()
    last = time.monotonic()
    reported_hits: dict = {}
    want_eq = O.EQUIVALENCE in props or O.EFFICIENCY in props
    n = 0

    def done() -> bool:
        if should_stop():
            return True
        if quota is not None and n >= quota:
            return True
        return deadline is not None and time.monotonic() >= deadline

    def found(prop: str, case: Any, failure: O.Failure, at: Optional[int] = None) -> None:
        if failure.key in seen:
            return
        seen.add(failure.key)
        t0 = time.monotonic()
        small, f = shrink(isa, case, failure, lambda c: check(prop, isa, c, settings), should_stop=should_stop)
        send(("failure", index, {"property": prop, "case": small.to_json(isa), "failure": f.to_json(),
                                 "original_length": len(case.program), "program_index": n if at is None else at,
                                 "shrink_seconds": time.monotonic() - t0, "seed": seed}))

    if cfg.engine_choice()[0] == NATIVE:
        _native_loop(cfg, gen, cov, counts, found, should_stop, quota, deadline, send, index, reported_hits)
        return

    while not done():
        case = gen.case()
        if want_eq:
            res = O.equivalence(isa, case, cfg.depth, cfg.vmm)
            counts.pairs += 1
            counts.steps += res.steps
            counts.out_of_domain += res.out_of_domain
            r = res.direct_ratio
            counts.ratio_sum += r
            counts.ratio_hist[min(Histogram.BINS - 1, int(r * Histogram.BINS))] += 1
            if res.failure is not None and O.EQUIVALENCE in props:
                found(O.EQUIVALENCE, case, res.failure)
            elif res.failure is None and O.EFFICIENCY in props and settings.innocuous:
                eff = O.efficiency(isa, case, res, settings.innocuous, cfg.depth, cfg.vmm)
                if eff.failure is not None:
                    found(O.EFFICIENCY, case, eff.failure)
        if n % SIDE_EVERY == 0:
            _side_cases(isa, gen, settings, props, counts, found)
        if n % PROBE_EVERY == 0:
            cov.probe(case)
        if cfg.steer and n % STEER_EVERY == STEER_EVERY - 1:
            gen.steer(cov.weights())
        n += 1
        counts.programs += 1
        last = _progress(send, index, counts, cov, reported_hits, last)
    _progress(send, index, counts, cov, reported_hits)
    send(("done", index, n))


def _progress(send: Callable[[tuple], None], index: int, counts: _Counts, cov: Coverage, reported_hits: dict,
              last: Optional[float] = None) -> float:
    """Send the counts and new coverage since the last report: now, or (given the time of
    the last report) once REPORT_EVERY has passed. Returns the time of the last report."""
    now = time.monotonic()
    if last is None or now - last >= REPORT_EVERY:
        send(("progress", index, counts.take(), _delta(cov.hits, reported_hits)))
        return now
    return last


def _side_cases(isa: Isa, gen: CaseGenerator, settings: Settings, props: tuple[str, ...], counts: _Counts,
                found: Callable) -> None:
    """One isolation and one encapsulation case, as selected, through the Python monitor
    (each counted under its property's name)."""
    for prop, draw in ((O.ISOLATION, gen.isolation_case), (O.ENCAPSULATION, gen.encapsulation_case)):
        if prop not in props:
            continue
        c = draw()
        setattr(counts, prop, getattr(counts, prop) + 1)
        f = check(prop, isa, c, settings)
        if f is not None:
            found(prop, c, f)


def _native_loop(cfg: CampaignConfig, gen: CaseGenerator, cov: Coverage, counts: _Counts, found: Callable,
                 should_stop: Callable[[], bool], quota: Optional[int], deadline: Optional[float],
                 send: Callable[[tuple], None], index: int, reported_hits: dict) -> None:
    """The hot loop on the native engine: batches of pairs in C, flagged cases (and the
    side properties) through the Python oracles. Same counts, messages and failures as
    the Python loop; coverage is counted on every case's bare run."""
    isa = cfg.isa
    settings = cfg.settings
    props = cfg.properties
    want_eq = O.EQUIVALENCE in props or O.EFFICIENCY in props
    batch = NativeBatch(isa, gen, settings.innocuous if O.EFFICIENCY in props else frozenset())
    last = time.monotonic()
    n = 0

    def hit(prop: str, case: Any, failure: O.Failure) -> None:
        found(prop, case, failure, at=n)  # failures are placed at their batch's first program

    while not should_stop() and (deadline is None or time.monotonic() < deadline):
        k = BATCH if quota is None else min(BATCH, quota - n)
        if k <= 0:
            break
        if want_eq:
            res = batch.run(k, gen.rng.getrandbits(64))
            counts.pairs += k
            counts.steps += res.steps
            counts.ratio_sum += res.ratio_sum
            counts.ratio_hist = [a + b for a, b in zip(counts.ratio_hist, res.ratio_hist)]
            cov.merge(res.hits)
            # one unflagged pair per batch re-run on the Python monitor: the engines must agree
            # there too, or a native bug would hide failures rather than invent them
            pick = gen.rng.randrange(k)
            if pick not in dict(res.flagged):
                counts.engine_checked += 1
                case = batch.case(res.choices[pick])
                r = O.equivalence(isa, case, cfg.depth, cfg.vmm)
                if r.failure is not None:
                    hit(O.EQUIVALENCE, case, O.Failure(
                        O.EQUIVALENCE, "<engine>", r.failure.step, r.failure.pc, r.failure.assembly,
                        r.failure.difference, "the Python monitor diverges on a pair the native engine ran "
                        "equivalently: an engine bug (report it with this case)"))
            for i, flag in res.flagged:
                case = batch.case(res.choices[i])
                r = O.equivalence(isa, case, cfg.depth, cfg.vmm)
                if flag & DIFFERS:
                    if r.failure is not None:
                        if O.EQUIVALENCE in props:
                            hit(O.EQUIVALENCE, case, r.failure)
                    elif r.out_of_domain:
                        counts.out_of_domain += 1
                    else:
                        hit(O.EQUIVALENCE, case, O.Failure(
                            O.EQUIVALENCE, "<engine>", 0, 0, "", {},
                            "the native engine saw the runs differ where the Python monitor did not: "
                            "an engine bug (report it with this case)"))
                elif flag & SUSPECT and r.failure is None and O.EFFICIENCY in props and settings.innocuous:
                    eff = O.efficiency(isa, case, r, settings.innocuous, cfg.depth, cfg.vmm)
                    if eff.failure is not None:
                        hit(O.EFFICIENCY, case, eff.failure)
        for _ in range(max(1, k // SIDE_EVERY_NATIVE)):
            _side_cases(isa, gen, settings, props, counts, hit)
        before = n
        n += k
        counts.programs += k
        if cfg.steer and n // STEER_EVERY != before // STEER_EVERY:
            gen.steer(cov.weights())
        batch.refresh()
        last = _progress(send, index, counts, cov, reported_hits, last)
    _progress(send, index, counts, cov, reported_hits)
    send(("done", index, n))


def _delta(hits: dict, reported: dict) -> list:
    out = {k: v - reported.get(k, 0) for k, v in hits.items() if v != reported.get(k, 0)}
    reported.update(hits)
    return Coverage.keys_to_json(out)


def _die_with_parent(parent: int) -> None:
    """Make the kernel kill this worker when the campaign process dies (SIGKILL included:
    nothing of ours runs then). Linux's PR_SET_PDEATHSIG; checked once afterwards, since
    the parent may have died before it was set. Elsewhere the worker's stop test polls."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker_entry(cfg: CampaignConfig, index: int, generation: int, quota: Optional[int], deadline: Optional[float],
                  q: Any, stop: Any, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us cleanly
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _die_with_parent(parent)

    def should_stop() -> bool:
        if os.getppid() != parent:  # orphaned (where the kernel does not end us): nobody reads our results
            os._exit(1)
        return stop.is_set()

    try:
        run_worker(cfg, index, generation, quota, deadline, q.put, should_stop)
    except KeyboardInterrupt:  # Z3 takes Ctrl-C itself during a query: the campaign was interrupted
        q.put(("interrupted", index))
    except BaseException as exc:  # report, then die: the parent replaces us
        q.put(("error", index, f"{type(exc).__name__}: {exc}"))
        raise


# --- the parent ---------------------------------------------------------------------
class Campaign:
    """Runs one campaign; ``progress(report)`` is called about twice a second."""

    def __init__(self, cfg: CampaignConfig, progress: Optional[Callable[[FuzzReport], None]] = None):
        self.cfg = cfg
        self.progress = progress or (lambda r: None)
        self.report = FuzzReport.start(cfg)
        self.coverage = Coverage(cfg.isa)
        self._stop_requested = False
        self._t0 = time.monotonic()

    # signals ---------------------------------------------------------------------------
    def request_stop(self, signum: int = signal.SIGINT, *_: Any) -> None:
        """Ctrl-C / SIGTERM: stop the workers, keep what they found."""
        self._stop_requested = True
        self.report.interrupted = True
        self.report.stop_signal = int(signum)

    def run(self) -> FuzzReport:
        cfg = self.cfg
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in old:
            signal.signal(s, self.request_stop)
        t0 = self._t0 = time.monotonic()
        try:
            self._replay_corpus()
            if not self._stop_requested:
                self._run_workers(t0)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.report.seconds = time.monotonic() - t0
            self.report.coverage = self.coverage.table()
            self.report.finish(cfg.reference)
        return self.report

    def _replay_corpus(self) -> None:
        cfg = self.cfg
        if cfg.corpus is None:
            return
        notes, errors = C.recover(cfg.corpus)  # what a killed campaign left half-renamed
        self.report.corpus_notes += notes
        found, bad = C.entries(cfg.corpus, cfg.isa.name)
        errors += bad
        self.report.errors += errors
        for path, e in found:
            try:
                C.validate(e, cfg.isa, path)
            except C.CorpusError as exc:  # one bad file: reported, the others still replay
                self.report.errors.append(str(exc))
                continue
            if e.vmm != cfg.vmm or e.property not in cfg.properties:
                continue
            self.report.corpus_replayed += 1
            f = check(e.property, cfg.isa, e.case, cfg.settings)
            if f is not None:
                self.report.add_failure(FailureRecord.of(cfg.isa, e.property, e.case, f, str(path), from_corpus=True))

    def _run_workers(self, t0: float) -> None:
        cfg = self.cfg
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        stop = ctx.Event()
        deadline = t0 + cfg.seconds if cfg.seconds is not None else None
        quotas = _quotas(cfg.examples, cfg.workers)
        progress_of = [0] * cfg.workers
        generation = [0] * cfg.workers
        finished = [False] * cfg.workers
        procs: list[Any] = [None] * cfg.workers
        started_at = [0] * cfg.workers  # programs reported when the slot's process started
        barren = [0] * cfg.workers  # consecutive deaths with no program in between

        def start(k: int) -> None:
            started_at[k] = progress_of[k]
            quota = None if quotas is None else quotas[k] - progress_of[k]
            p = ctx.Process(target=_worker_entry, args=(cfg, k, generation[k], quota, deadline, q, stop, os.getpid()),
                            name=f"virtcheck-fuzz-{k}", daemon=True)
            p.start()
            procs[k] = p

        for k in range(cfg.workers):
            start(k)
        self.report.workers = cfg.workers
        last_progress = 0.0
        stopping_since: Optional[float] = None
        while not all(finished):
            if self._stop_requested and not stop.is_set():
                stop.set()
                stopping_since = time.monotonic()
            try:
                msg = q.get(timeout=0.1)
            except queue_mod.Empty:
                msg = None
            if msg is not None:
                self._handle(msg, progress_of, finished)
                continue  # drain the queue before looking at the processes
            for k, p in enumerate(procs):
                if finished[k] or p.is_alive():
                    continue
                code = p.exitcode
                self.report.worker_deaths.append({"worker": k, "generation": generation[k], "exitcode": code,
                                                  "after_programs": progress_of[k]})
                if progress_of[k] == started_at[k]:
                    barren[k] += 1  # died without reporting a program since it started
                else:
                    barren[k] = 0
                more = (quotas is None or progress_of[k] < quotas[k]) and not stop.is_set() and \
                    (deadline is None or time.monotonic() < deadline)
                if more and barren[k] >= MAX_BARREN_DEATHS:
                    self.report.worker_errors.append(
                        f"worker {k}: died {barren[k]} times in a row without running a program; not replaced again")
                    more = False
                if more:
                    generation[k] += 1
                    start(k)
                else:
                    finished[k] = True
            now = time.monotonic()
            if stopping_since is not None and now - stopping_since > 10:
                for k, p in enumerate(procs):  # a worker that ignores the stop for 10 s is ended
                    if not finished[k] and p.is_alive():
                        p.terminate()
                        finished[k] = True
            if now - last_progress >= 0.5:
                last_progress = now
                self.report.seconds = now - t0
                self.progress(self.report)
        for p in procs:
            p.join(timeout=1)

    def _handle(self, msg: tuple, progress_of: list[int], finished: list[bool]) -> None:
        kind, k = msg[0], msg[1]
        cfg = self.cfg
        if kind == "progress":
            counts, hits = msg[2], msg[3]
            self.report.add_counts(counts)
            progress_of[k] += counts["programs"]
            self.coverage.merge(Coverage.keys_from_json(hits))
        elif kind == "failure":
            d = msg[2]
            from virtcheck.fuzz.case import Case

            case = Case.from_json(d["case"])
            failure = O.Failure.from_json(d["failure"])
            rec = FailureRecord.of(cfg.isa, d["property"], case, failure, None,
                                   original_length=d["original_length"], seed=d["seed"])
            rec.found_at_seconds = round(time.monotonic() - self._t0, 3)
            if self.report.add_failure(rec) and cfg.corpus is not None:
                entry = C.Entry(cfg.isa.name, cfg.isa_ref, C.fingerprint(cfg.isa), cfg.vmm, cfg.depth,
                                d["property"], cfg.seed, case, failure, C.versions())
                rec.replay_file = str(C.save(cfg.corpus, entry, cfg.isa))
        elif kind == "error":
            self.report.worker_errors.append(f"worker {k}: {msg[2]}")
        elif kind == "interrupted":
            finished[k] = True
            if not self._stop_requested:
                self.request_stop(signal.SIGINT)
        elif kind == "done":
            finished[k] = True


def _quotas(examples: Optional[int], workers: int) -> Optional[list[int]]:
    if examples is None:
        return None
    return [examples // workers + (1 if k < examples % workers else 0) for k in range(workers)]


def run_campaign(cfg: CampaignConfig, progress: Optional[Callable[[FuzzReport], None]] = None) -> FuzzReport:
    """Run a campaign and return its report (also when interrupted). Raises ValueError
    with a one-line reason when the ISA cannot be fuzzed (`campaign_refusal`)."""
    why = campaign_refusal(cfg.isa)
    if why:
        raise ValueError(why)
    return Campaign(cfg, progress).run()
