"""Differential fuzzing throughput: program pairs (bare vs trap-and-emulate) per second.

32-instruction programs on pg3, equivalence only (the hot loop), run by the campaign's
own workers for a fixed time with 1 and with 2 worker processes. Prints pairs/s per
worker and the 2-worker speed-up. Usage: ``python bench/bench_fuzz.py [seconds]``.
"""

from __future__ import annotations

import json
import os
import sys

from virtcheck.fuzz.campaign import CampaignConfig, run_campaign
from virtcheck.isa.machines import bundled


def measure(workers: int, seconds: float) -> dict:
    isa = bundled()["pg3"]
    cfg = CampaignConfig(isa, "pg3", seed=1, seconds=seconds, workers=workers, properties=("equivalence",),
                         length=32, steer=False)
    r = run_campaign(cfg)
    return {"workers": workers, "pairs": r.pairs, "seconds": round(r.seconds, 2),
            "pairs_per_second": round(r.pairs_per_second), "pairs_per_second_per_worker": round(r.pairs_per_second_per_worker),
            "steps_per_pair": round(r.instructions_executed / max(1, r.pairs), 1)}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    one = measure(1, seconds)
    two = measure(2, seconds)
    out = {"cpus": os.cpu_count(), "one_worker": one, "two_workers": two,
           "speedup_2_workers": round(two["pairs_per_second"] / max(1, one["pairs_per_second"]), 2),
           "target": {"pairs_per_second_per_worker": 50_000, "speedup_2_workers": 1.8}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
