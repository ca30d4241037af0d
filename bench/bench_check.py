"""How long `virtcheck check` takes: pg3 alone, the pg3 family, and (with --full) every
bundled ISA, end to end as a user runs it (a fresh `virtcheck check` process each time).

Goal (issue 3): pg3 and all its variants classified in under 2 s wall time on a 2-core
machine. Issue 11: naming one ISA loads only that ISA, so `check pg3` and the family get
faster than the base commit; fresh Z3 contexts per instruction must not make the full
`check` much slower. With ``--base-python`` (the interpreter of another checkout's venv,
e.g. a `git worktree` of `main`), every case is also timed with that code, interleaved
run by run in this one invocation so both see the same machine load, and the table gives
the ratio.

    python bench/bench_check.py [--repeat N] [--full] [--base-python PATH] [--jobs-table]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

FAMILY = ["pg3", "pg3-jrst", "pg3-mfsr", "pg3-lra", "pg3-popf"]

#: case name -> `virtcheck check` arguments
CASES: dict[str, list[str]] = {
    "check pg3": ["pg3"],
    "check pg3-mfsr --vmm trap-emulate": ["pg3-mfsr", "--vmm", "trap-emulate"],
    "check <pg3 family>": FAMILY,
}
FULL = {"check (every bundled ISA)": []}


def once(python: str, args: list[str]) -> float:
    """Wall time of one fresh `virtcheck check ARGS --jobs 1` process (the text report)."""
    t0 = time.perf_counter()
    p = subprocess.run([python, "-m", "virtcheck.cli", "check", *args, "--jobs", "1"],
                       capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode not in (0, 1, 3):
        raise SystemExit(f"{python} check {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return elapsed


def in_process(jobs: int) -> float:
    """The family classified in this process (no start-up or load), as issue 3's goal counts it."""
    from virtcheck.checks.classify import check_all
    from virtcheck.checks.verdict import Budget
    from virtcheck.isa.machines import bundled

    isas = [bundled()[n] for n in FAMILY]
    t0 = time.perf_counter()
    result = check_all(isas, Budget(), jobs=jobs, refs=FAMILY)
    elapsed = time.perf_counter() - t0
    assert [r.theorems["1"].holds for r in result.results] == [True, False, False, False, False]
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--full", action="store_true", help="also time `check` of every bundled ISA (about 20 s a run)")
    ap.add_argument("--base-python", help="python of another checkout's venv to compare with (the base commit)")
    ap.add_argument("--jobs-table", action="store_true", help="also time the family in process, jobs=1 vs 2")
    args = ap.parse_args()
    cases = {**CASES, **(FULL if args.full else {})}
    pythons = {"branch": sys.executable, **({"base": args.base_python} if args.base_python else {})}
    times: dict[tuple[str, str], list[float]] = {(c, p): [] for c in cases for p in pythons}
    for _ in range(args.repeat):
        for case, cargs in cases.items():
            for label, python in pythons.items():  # interleaved: both see the same load
                times[(case, label)].append(once(python, cargs))
    print(f"`virtcheck check` end to end, median of {args.repeat} fresh processes (wall s, --jobs 1):")
    width = max(len(c) for c in cases)
    head = f"  {'case':<{width}}  {'branch':>7}" + (f"  {'base':>7}  {'branch/base':>11}" if "base" in pythons else "")
    print(head)
    for case in cases:
        b = statistics.median(times[(case, "branch")])
        line = f"  {case:<{width}}  {b:7.2f}"
        if "base" in pythons:
            a = statistics.median(times[(case, "base")])
            line += f"  {a:7.2f}  {b / a:11.2f}"
        print(line)
    family = statistics.median(times[("check <pg3 family>", "branch")])
    print(f"  goal < 2 s for the pg3 family (issue 3): {'met' if family < 2 else 'NOT met'} ({family:.2f} s)")
    if args.jobs_table:
        in_process(1)  # warm caches (compiled backends, imports) as a CLI run would have them
        s = statistics.median(in_process(1) for _ in range(args.repeat))
        p = statistics.median(in_process(2) for _ in range(args.repeat))
        print(f"in process, pg3 family: jobs=1 {s:.3f} s, jobs=2 {p:.3f} s, speed-up x{s / p:.2f}")


if __name__ == "__main__":
    main()
