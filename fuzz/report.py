"""The report model of a campaign: one object, rendered as text, Markdown, JSON or JUnit.

``to_json`` is the stable contract documented in docs/fuzz-report.md. Wording is honest:
a campaign that found nothing says "no divergence in N programs (seed S)", never
"verified".
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Optional

from virtcheck import __version__
from virtcheck.checks.verdict import Verdict, combine, exit_code
from virtcheck.fuzz.case import Case
from virtcheck.fuzz.oracles import Failure
from virtcheck.isa.model import Isa

REPORT_FORMAT = "virtcheck-fuzz-report"
REPORT_VERSION = 1
#: pseudo-instructions (no real mnemonic) never enter the comparison with Z3
PSEUDO = ("<fetch>", "<run>", "")


class Histogram:
    BINS = 10


@dataclass
class FailureRecord:
    """One distinct failure (property, first diverging instruction), shrunk."""

    property: str
    instruction: str
    program: list[str]
    state_difference: dict[str, Any]
    step: int
    assembly: str
    detail: str
    case: dict[str, Any]
    replay_file: Optional[str] = None
    original_length: Optional[int] = None
    seed: Optional[int] = None
    from_corpus: bool = False
    found_at_seconds: Optional[float] = None

    @staticmethod
    def of(isa: Isa, prop: str, case: Case, f: Failure, replay_file: Optional[str], *, from_corpus: bool = False,
           original_length: Optional[int] = None, seed: Optional[int] = None) -> "FailureRecord":
        return FailureRecord(prop, f.instruction, case.assembly(isa), f.difference, f.step, f.assembly, f.detail,
                             case.to_json(isa), replay_file, original_length, seed, from_corpus)

    @property
    def key(self) -> tuple[str, str]:
        return self.property, self.instruction

    def to_json(self) -> dict[str, Any]:
        return {"property": self.property, "instruction": self.instruction, "program": self.program,
                "state_difference": self.state_difference, "replay_file": self.replay_file, "step": self.step,
                "assembly": self.assembly, "detail": self.detail, "initial_state": self.case["state"],
                "partition_size": self.case["partition_size"], "budget": self.case["budget"],
                "original_length": self.original_length, "worker_seed": self.seed, "from_corpus": self.from_corpus,
                "found_at_seconds": self.found_at_seconds}


@dataclass
class FuzzReport:
    isa: str
    vmm: str
    seed: int
    properties: list[str]
    workers: int = 1
    budget: dict[str, Any] = dc_field(default_factory=dict)
    engine: str = "python"  #: what ran the hot loop: "native" (C) or "python"
    engine_note: str = ""  #: why the python engine ran, when it did
    programs: int = 0
    pairs: int = 0
    instructions_executed: int = 0
    isolation_cases: int = 0
    encapsulation_cases: int = 0
    out_of_domain: int = 0
    engine_checked: int = 0  #: unflagged native pairs re-run on the Python monitor
    seconds: float = 0.0
    ratio_hist: list[int] = dc_field(default_factory=lambda: [0] * Histogram.BINS)
    ratio_sum: float = 0.0
    coverage: list[dict[str, Any]] = dc_field(default_factory=list)
    failures: list[FailureRecord] = dc_field(default_factory=list)
    comparison: Optional[dict[str, list[str]]] = None
    reference: Optional[dict[str, Any]] = None
    corpus_replayed: int = 0
    worker_deaths: list[dict[str, Any]] = dc_field(default_factory=list)
    errors: list[str] = dc_field(default_factory=list)  #: input problems (a corpus file that does not load)
    worker_errors: list[str] = dc_field(default_factory=list)  #: exceptions a worker died of
    interrupted: bool = False

    @staticmethod
    def start(cfg: Any) -> "FuzzReport":
        budget = {"seconds": cfg.seconds, "examples": cfg.examples, "program_length": cfg.length}
        engine, note = cfg.engine_choice()
        return FuzzReport(cfg.isa.name, cfg.vmm, cfg.seed, list(cfg.properties), cfg.workers, budget, engine, note)

    # --- accumulation --------------------------------------------------------------------
    def add_counts(self, c: dict[str, Any]) -> None:
        self.programs += c["programs"]
        self.pairs += c["pairs"]
        self.instructions_executed += c["steps"]
        self.isolation_cases += c["isolation"]
        self.encapsulation_cases += c["encapsulation"]
        self.out_of_domain += c["out_of_domain"]
        self.engine_checked += c.get("engine_checked", 0)
        self.ratio_sum += c["ratio_sum"]
        self.ratio_hist = [a + b for a, b in zip(self.ratio_hist, c["ratio_hist"])]

    def add_failure(self, rec: FailureRecord) -> bool:
        """Keep ``rec`` unless a failure with its key is known; True if kept. A shorter
        program for a known key replaces the longer one."""
        for i, old in enumerate(self.failures):
            if old.key == rec.key:
                if len(rec.program) < len(old.program) and not old.from_corpus:
                    rec.replay_file = rec.replay_file or old.replay_file
                    self.failures[i] = rec
                return False
        self.failures.append(rec)
        return True

    def finish(self, reference: Any) -> None:
        if reference is not None:
            self.reference = reference.to_json()
            self.comparison = reference.compare(self.failing_instructions())

    # --- derived -------------------------------------------------------------------------
    def failing_instructions(self) -> set[str]:
        return {f.instruction for f in self.failures if f.instruction not in PSEUDO}

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else 0.0

    @property
    def pairs_per_second_per_worker(self) -> float:
        return self.pairs_per_second / max(1, self.workers)

    @property
    def verdict(self) -> Verdict:
        """FAILS when a property failed; UNKNOWN when a worker raised (the campaign did not
        run as asked); else HOLDS -- which, for a campaign, means only "no divergence found
        in the programs run" (see :meth:`summary`), never a proof."""
        return combine([Verdict.FAILS if self.failures else Verdict.HOLDS,
                        Verdict.UNKNOWN if self.worker_errors else Verdict.HOLDS])

    @property
    def exit_code(self) -> int:
        """The one exit-code rule (``checks.verdict.exit_code``): 2 when a corpus input did
        not load (the campaign is incomplete), else by :attr:`verdict`."""
        return exit_code([self.verdict], input_errors=bool(self.errors))

    def efficiency(self) -> dict[str, Any]:
        n = sum(self.ratio_hist)
        # rounded: the sum arrives in batches whose split depends on timing
        return {"programs": n, "mean_direct_ratio": round(self.ratio_sum / n, 9) if n else None,
                "histogram": [{"from": k / Histogram.BINS, "to": (k + 1) / Histogram.BINS, "programs": v}
                              for k, v in enumerate(self.ratio_hist)]}

    def summary(self) -> str:
        """The one-line, honest verdict."""
        if self.failures:
            what = ", ".join(f"{f.property} at {f.instruction}" for f in self.failures)
            line = f"{len(self.failures)} distinct failure(s) in {self.programs} programs (seed {self.seed}): {what}"
        else:
            line = f"no divergence in {self.programs} programs (seed {self.seed})"
        if self.worker_errors and not self.failures:
            line = f"inconclusive: {len(self.worker_errors)} worker error(s); " + line
        if self.interrupted:
            line += " [interrupted]"
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT, "version": REPORT_VERSION, "virtcheck_version": __version__,
            "isa": self.isa, "vmm": self.vmm, "seed": self.seed, "workers": self.workers,
            "properties": self.properties, "budget": self.budget,
            "engine": self.engine, "engine_note": self.engine_note, "engine_checked": self.engine_checked,
            "programs": self.programs, "pairs": self.pairs, "instructions_executed": self.instructions_executed,
            "isolation_cases": self.isolation_cases, "encapsulation_cases": self.encapsulation_cases,
            "out_of_domain": self.out_of_domain, "seconds": round(self.seconds, 3),
            "pairs_per_second": round(self.pairs_per_second, 1),
            "pairs_per_second_per_worker": round(self.pairs_per_second_per_worker, 1),
            "coverage": self.coverage, "efficiency": self.efficiency(),
            "failures": [f.to_json() for f in self.failures],
            "comparison": self.comparison, "z3": self.reference,
            "corpus_replayed": self.corpus_replayed, "worker_deaths": self.worker_deaths,
            "errors": self.errors, "worker_errors": self.worker_errors, "interrupted": self.interrupted, "summary": self.summary(),
            "exit_code": self.exit_code,
        }
