"""How long `virtcheck check x86 armv7 armv7-ve` takes per configuration, in one run.

Goal (issue 13): each ARM configuration within 2x of x86's check time measured in the same
run. Prints the per-ISA seconds (one job, the default rlimit), the ratios, whether the goal is
met, and what stays undecided within the budget.

    python bench/bench_arm_check.py
"""

from __future__ import annotations

from virtcheck.checks.classify import check_all
from virtcheck.checks.verdict import Budget
from virtcheck.isa.machines import bundled

NAMES = ["x86", "armv7", "armv7-ve"]


def main() -> None:
    isas = [bundled()[n] for n in NAMES]
    run = check_all(isas, Budget(), jobs=1)
    base = run.results[0].seconds
    for r in run.results:
        undecided = sorted({i.mnemonic for i in r.instructions for p in ("privileged", "sensitive", "user_sensitive")
                            if i.value(p) is None})
        print(f"{r.isa:9s} {r.seconds:7.1f} s  x{r.seconds / base:5.1f}  theorem 1: {r.theorems['1'].verdict.value:7s}"
              f" theorem 3: {r.theorems['3'].verdict.value:7s} undecided: {', '.join(undecided) or '-'}")
    worst = max(r.seconds for r in run.results[1:]) / base
    print(f"goal: each ARM configuration within 2x of x86: {'met' if worst <= 2 else 'NOT met'} (worst x{worst:.1f})")


if __name__ == "__main__":
    main()
