"""How long `virtcheck check` takes on each RISC-V configuration, against x86 in the same run.

Goal (issue 12): each RISC-V configuration checks in less time than `x86` in the same run.
Prints each ISA's check time (one job, the default budget unless --rlimit), its Theorem 1
and 3 verdicts, and whether the goal is met; docs/riscv.md quotes its output.

    python bench/bench_riscv_check.py [--rlimit N]
"""

from __future__ import annotations

import argparse

from virtcheck.checks.classify import classify_isa
from virtcheck.checks.verdict import Budget
from virtcheck.isa.machines import bundled

NAMES = ["x86", "riscv32", "riscv32-s", "riscv32-s-trap"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlimit", type=int, default=Budget().rlimit)
    args = ap.parse_args()
    print(f"rlimit {args.rlimit} per query, 1 job", flush=True)
    x86 = None
    for name in NAMES:  # one process, one after the other: "the same run"
        r = classify_isa(bundled()[name], Budget(args.rlimit))
        x86 = r.seconds if x86 is None else x86
        t1, t3 = r.theorems["1"], r.theorems["3"]
        goal = "" if name == "x86" else ("  faster than x86" if r.seconds < x86 else "  NOT faster than x86")
        print(f"{name:15s} {r.seconds:7.1f} s  Theorem 1 {t1.verdict.value} {sorted(t1.violations)} "
              f"undecided {sorted(t1.undecided)}; Theorem 3 {t3.verdict.value} {sorted(t3.violations)} "
              f"undecided {sorted(t3.undecided)}{goal}", flush=True)

if __name__ == "__main__":
    main()
