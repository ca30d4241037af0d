"""How fast the seeded Generator draws programs (issue 5: the campaign's hot loop).

Reports programs/s and instructions/s for 32-instruction pg3 programs, and states/s in
the guest configuration, measured in this one run (median of ``--repeat`` rounds).

    python bench/bench_generate.py [--seconds S] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

from virtcheck.fuzz import Generator
from virtcheck.isa.machines import bundled

PROGRAM_SIZE = 32


def rate(draw: Callable[[], object], seconds: float) -> float:
    """Draws per second over about ``seconds`` of wall time."""
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(100):
            draw()
        n += 100
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0, help="wall time per round")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    isa = bundled()["pg3"]
    t0 = time.perf_counter()
    g = Generator(isa, seed=0)
    setup = time.perf_counter() - t0
    programs = statistics.median(rate(lambda: g.program(PROGRAM_SIZE), args.seconds) for _ in range(args.repeat))
    states = statistics.median(rate(lambda: g.state("guest"), args.seconds) for _ in range(args.repeat))
    print(f"Generator(pg3) setup (mode predicates via Z3, once): {setup * 1e3:.1f} ms")
    print(f"{PROGRAM_SIZE}-instruction pg3 programs: {programs:,.0f} programs/s "
          f"({programs * PROGRAM_SIZE:,.0f} instructions/s), median of {args.repeat} x {args.seconds:g} s")
    print(f"pg3 guest states: {states:,.0f} states/s")


if __name__ == "__main__":
    main()
