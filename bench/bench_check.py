"""How long `virtcheck check` takes on pg3 and its variants, serial and in parallel.

Goal (issue 3): pg3 and all its variants classified in under 2 s wall time on a 2-core
machine. Reports wall times measured in this one run, and the parallel/serial ratio,
so the --jobs default can follow the measurement rather than a guess.

    python bench/bench_check.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from virtcheck.checks.classify import check_all
from virtcheck.checks.verdict import Budget
from virtcheck.isa.machines import bundled

NAMES = ["pg3", "pg3-jrst", "pg3-mfsr", "pg3-lra", "pg3-popf"]


def run(jobs: int) -> float:
    isas = [bundled()[n] for n in NAMES]
    t0 = time.perf_counter()
    result = check_all(isas, Budget(), jobs=jobs, refs=NAMES)
    elapsed = time.perf_counter() - t0
    assert [r.theorems["1"].holds for r in result.results] == [True, False, False, False, False]
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    run(1)  # warm caches (compiled backends, imports) as a CLI run would have them
    serial = [run(1) for _ in range(args.repeat)]
    parallel = [run(2) for _ in range(args.repeat)]
    s, p = statistics.median(serial), statistics.median(parallel)
    print(f"check pg3 + 4 variants ({len(NAMES)} ISAs), median of {args.repeat}:")
    print(f"  jobs=1: {s:.3f} s   jobs=2: {p:.3f} s   speed-up x{s / p:.2f}")
    print(f"  goal < 2 s: {'met' if min(s, p) < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
