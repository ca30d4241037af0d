"""Differential fuzzing throughput: program pairs (bare vs trap-and-emulate) per second.

32-instruction programs on pg3, equivalence only (the hot loop), run by the campaign's
own workers for a fixed time: on the native engine with 1 and with 2 worker processes,
and on the Python engine with 1, all in this one run. Prints pairs/s per worker, the
2-worker speed-up and the native/Python ratio (plus, for scale, the native rate of a
campaign that checks all four properties). Usage: ``python bench/bench_fuzz.py [seconds]``.
"""

from __future__ import annotations

import json
import os
import sys

from virtcheck.fuzz import oracles as O
from virtcheck.fuzz.campaign import CampaignConfig, run_campaign
from virtcheck.isa.machines import bundled


def measure(workers: int, seconds: float, engine: str, properties: tuple[str, ...] = (O.EQUIVALENCE,)) -> dict:
    isa = bundled()["pg3"]
    cfg = CampaignConfig(isa, "pg3", seed=1, seconds=seconds, workers=workers, properties=properties,
                         length=32, steer=False, engine=engine)
    r = run_campaign(cfg)
    return {"engine": r.engine, "workers": workers, "properties": list(properties), "pairs": r.pairs,
            "seconds": round(r.seconds, 2), "pairs_per_second": round(r.pairs_per_second),
            "pairs_per_second_per_worker": round(r.pairs_per_second_per_worker),
            "steps_per_pair": round(r.instructions_executed / max(1, r.pairs), 1), "failures": len(r.failures)}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    one = measure(1, seconds, "native")
    two = measure(2, seconds, "native")
    python = measure(1, seconds, "python")
    every = measure(1, seconds, "native", O.PROPERTIES)
    out = {"cpus": os.cpu_count(), "native_one_worker": one, "native_two_workers": two, "python_one_worker": python,
           "native_all_properties_one_worker": every,
           "speedup_2_workers": round(two["pairs_per_second"] / max(1, one["pairs_per_second"]), 2),
           "native_over_python": round(one["pairs_per_second"] / max(1, python["pairs_per_second"]), 1),
           "target": {"pairs_per_second_per_worker": 50_000, "speedup_2_workers": 1.8}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
