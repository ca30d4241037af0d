"""Guest instructions per second: bare, and under the trap-and-emulate monitor at depths 1-3.

Runs the ISA's compute workload (default pg3) for a fixed step budget and reports the
rates and their ratios, all measured in this one run. Not a test: run it directly,

    python bench/bench_monitor.py [--isa pg3] [--steps 3000000] [--repeat 3]

Goal (issue 4): >= 3 M guest instructions/s bare on one core; depth 1 <= 1.1x bare time.
"""

from __future__ import annotations

import argparse
import time

from virtcheck.hypervisor import Machine, monitor_stack, workloads
from virtcheck.isa.machines import bundled


def _bare(isa, prog, steps: int) -> float:
    m = Machine(isa)
    m.load(prog)
    t = time.perf_counter()
    m.run(steps)
    return time.perf_counter() - t


def _monitored(isa, prog, steps: int, depth: int) -> tuple[float, float]:
    top = monitor_stack(isa, depth)
    vm = top.create_vm()
    vm.load(prog)
    t = time.perf_counter()
    top.run(steps)
    return time.perf_counter() - t, vm.account.direct_ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--isa", default="pg3")
    ap.add_argument("--workload", default="compute")
    ap.add_argument("--steps", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs per configuration")
    args = ap.parse_args()
    isa = bundled()[args.isa]
    prog = workloads.load(isa, args.workload)
    _bare(isa, prog, 10_000)  # warm the decode cache
    bare = min(_bare(isa, prog, args.steps) for _ in range(args.repeat))
    print(f"{args.isa} {args.workload}, {args.steps} guest instructions, best of {args.repeat}")
    print(f"{'configuration':<16}{'seconds':>10}{'M instr/s':>12}{'time / bare':>13}{'direct ratio':>14}")
    print(f"{'bare':<16}{bare:>10.3f}{args.steps / bare / 1e6:>12.2f}{1.0:>13.3f}{'':>14}")
    for depth in (1, 2, 3):
        runs = [_monitored(isa, prog, args.steps, depth) for _ in range(args.repeat)]
        secs = min(r[0] for r in runs)
        print(f"{f'monitor depth {depth}':<16}{secs:>10.3f}{args.steps / secs / 1e6:>12.2f}"
              f"{secs / bare:>13.3f}{runs[0][1]:>14.5f}")


if __name__ == "__main__":
    main()
