"""Guest instructions per second: bare, and under the trap-and-emulate monitor at depths 1-3.

Runs the ISA's compute workload (default pg3) for a fixed step budget and reports the
rates and their ratios, all measured in this one run. Time is the process's CPU time (one
core; other load on a shared machine does not count), configurations are interleaved and
each keeps its best time, so a burst of load hits them alike. Not a test: run it directly,

    python bench/bench_monitor.py [--isa pg3] [--steps 3000000] [--repeat 5]

Goals (issue 4): >= 3 M guest instructions/s bare on one core; depth 1 <= 1.1x bare time.

What limits it: bare, the Python bytecode of the guest instructions themselves (each is
its compiled effects inlined into a block; per block the run loop adds one translation,
one dictionary lookup, one slice compare and one call). Under monitors, direct execution
is that same loop, so the extra time is per *exit* from it (a timer tick or a trapped
instruction): reflecting or emulating it, and at each level under the top the map f, a
re-entry into the run loop and a re-decode of the trapping instruction. The last column
gives that cost per guest trap (trapped instructions plus timer interrupts).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

from virtcheck.hypervisor import Machine, monitor_stack, workloads
from virtcheck.isa.machines import bundled


def _bare(isa: Any, prog: Any, steps: int) -> tuple[float, dict]:
    m = Machine(isa)
    m.load(prog)
    t = time.process_time()
    m.run(steps)
    return time.process_time() - t, {}


def _monitored(depth: int) -> Callable[[Any, Any, int], tuple[float, dict]]:
    def run(isa: Any, prog: Any, steps: int) -> tuple[float, dict]:
        top = monitor_stack(isa, depth)
        vm = top.create_vm()
        vm.load(prog)
        t = time.process_time()
        top.run(steps)
        secs = time.process_time() - t
        a = vm.account
        return secs, {"direct_ratio": a.direct_ratio, "traps": sum(a.trapped.values()) + a.reflected["<timer>"]}

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--isa", default="pg3")
    ap.add_argument("--workload", default="compute")
    ap.add_argument("--steps", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=5, help="best of N runs per configuration (interleaved)")
    args = ap.parse_args()
    isa = bundled()[args.isa]
    prog = workloads.load(isa, args.workload)
    configs: dict[str, Callable] = {"bare": _bare}
    for depth in (1, 2, 3):
        configs[f"monitor depth {depth}"] = _monitored(depth)
    for run in configs.values():
        run(isa, prog, 20_000)  # warm the per-ISA caches (compiled blocks, decode)
    best: dict[str, float] = {}
    info: dict[str, dict] = {}
    for _ in range(args.repeat):
        for name, run in configs.items():
            secs, extra = run(isa, prog, args.steps)
            if secs < best.get(name, float("inf")):
                best[name] = secs
            info[name] = extra
    bare = best["bare"]
    print(f"{args.isa} {args.workload}, {args.steps} guest instructions, best of {args.repeat} (interleaved)")
    print(f"{'configuration':<16}{'CPU s':>9}{'M instr/s':>11}{'time/bare':>11}{'direct ratio':>14}"
          f"{'guest traps':>13}{'us/trap over bare':>19}")
    for name, secs in best.items():
        extra = info[name]
        traps = extra.get("traps", 0)
        ratio = f"{extra['direct_ratio']:.5f}" if extra else ""
        per_trap = f"{(secs - bare) / traps * 1e6:.1f}" if traps else ""
        print(f"{name:<16}{secs:>9.3f}{args.steps / secs / 1e6:>11.2f}{secs / bare:>11.3f}{ratio:>14}"
              f"{traps or '':>13}{per_trap:>19}")


if __name__ == "__main__":
    main()
