"""Monitor policies side by side: slowdown, direct ratio and monitor entries per workload.

For each workload (pg3's compute and kernel by default) and each configuration -- the bare
machine, then one monitor of every registered policy (`virtcheck.hypervisor.policies`) --
runs the guest for a fixed budget (a workload that halts earlier is restarted until the
budget is spent), all in this one run. Time is the process's CPU time; configurations are
interleaved and each keeps its best of ``--repeat``, so load on a shared machine hits them
alike. Prints, per workload and configuration: CPU seconds, slowdown against bare, the
direct ratio (guest instructions the executor below ran directly), monitor entries and
interpreted instructions per 1000 guest instructions. Not a test: run it directly,

    python bench/bench_policies.py [--isa pg3] [--steps 300000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Optional

from virtcheck.hypervisor import Machine, monitor_stack, policies, workloads
from virtcheck.isa.machines import bundled


def _run(isa: Any, prog: Any, steps: int, policy: Optional[str]) -> tuple[float, dict]:
    """CPU seconds for ``steps`` guest instructions (restarting a guest that halts), and the
    accounting summed over the restarts."""
    secs, done = 0.0, 0
    direct = executed = entries = interpreted = 0
    while done < steps:
        if policy is None:
            m = Machine(isa)
            m.load(prog)
            t = time.process_time()
            res = m.run(steps - done)
            secs += time.process_time() - t
            n = res.executed
            direct += n
        else:
            top = monitor_stack(isa, 1, policy=policy)
            vm = top.create_vm()
            vm.load(prog)
            t = time.process_time()
            top.run(steps - done)
            secs += time.process_time() - t
            a = vm.account
            n = a.executed
            direct += a.direct
            entries += a.monitor_entries
            interpreted += sum(a.interpreted.values())
        executed += n
        done += max(n, 1)
    return secs, {"executed": executed, "direct": direct, "monitor_entries": entries, "interpreted": interpreted}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--isa", default="pg3")
    ap.add_argument("--workloads", default="compute,kernel")
    ap.add_argument("--steps", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs per configuration (interleaved)")
    ap.add_argument("--json", action="store_true", help="print the table as JSON")
    args = ap.parse_args()
    isa = bundled()[args.isa]
    configs: list[Optional[str]] = [None, *policies.names()]
    rows = []
    for wl in args.workloads.split(","):
        prog = workloads.load(isa, wl)
        for pol in configs:
            _run(isa, prog, 5_000, pol)  # warm the per-ISA caches
        best: dict[Optional[str], float] = {}
        info: dict[Optional[str], dict] = {}
        for _ in range(args.repeat):
            for pol in configs:
                secs, acct = _run(isa, prog, args.steps, pol)
                if secs < best.get(pol, float("inf")):
                    best[pol] = secs
                info[pol] = acct
        for pol in configs:
            a = info[pol]
            per_k = 1000 / a["executed"] if a["executed"] else 0.0
            rows.append({"workload": wl, "configuration": pol or "bare", "cpu_seconds": round(best[pol], 3),
                         "slowdown": round(best[pol] / best[None], 2),
                         "direct_ratio": round(a["direct"] / a["executed"], 4) if a["executed"] else 0.0,
                         "monitor_entries_per_1000": round(a["monitor_entries"] * per_k, 2),
                         "interpreted_per_1000": round(a["interpreted"] * per_k, 1),
                         "guest_instructions": a["executed"]})
    if args.json:
        print(json.dumps({"isa": args.isa, "steps": args.steps, "repeat": args.repeat, "rows": rows}, indent=1))
        return
    print(f"{args.isa}: {args.steps} guest instructions per configuration, best of {args.repeat} (interleaved, CPU time)")
    print(f"{'workload':<10}{'configuration':<15}{'CPU s':>8}{'slowdown':>10}{'direct ratio':>14}"
          f"{'entries/1000':>14}{'interpreted/1000':>18}")
    for r in rows:
        print(f"{r['workload']:<10}{r['configuration']:<15}{r['cpu_seconds']:>8.3f}{r['slowdown']:>10.2f}"
              f"{r['direct_ratio']:>14.4f}{r['monitor_entries_per_1000']:>14.2f}{r['interpreted_per_1000']:>18.1f}")


if __name__ == "__main__":
    main()
