"""Building stacks: the bare machine, or monitors on monitors on the machine.

Depth ``d`` means ``d`` monitors: the ``d - 1`` lower ones each run one VM (the next
monitor's machine, all of their free memory), the top one runs the guests.
"""

from __future__ import annotations

from typing import Optional

from virtcheck.isa.model import Isa
from virtcheck.hypervisor.machine import Machine
from virtcheck.hypervisor.monitor import DEFAULT_SLICE, Monitor


def monitor_stack(isa: Isa, depth: int, *, slice: int = DEFAULT_SLICE, machine: Optional[Machine] = None) -> Monitor:
    """The top monitor of ``depth`` (at least 1) stacked monitors on a (new) machine."""
    if depth < 1:
        raise ValueError(f"a monitor stack has depth at least 1, not {depth}")
    host = machine or Machine(isa)
    for _ in range(depth - 1):
        host = Monitor(host, slice=slice).create_vm()
    return Monitor(host, slice=slice)


def levels(top: Monitor) -> list[Monitor]:
    """The monitors under and including ``top``, bottom first."""
    out = [top]
    host = top.host
    while hasattr(host, "monitor"):
        out.append(host.monitor)  # type: ignore[attr-defined]
        host = host.monitor.host  # type: ignore[attr-defined]
    return list(reversed(out))
