"""Building stacks: the bare machine, or monitors on monitors on the machine.

Depth ``d`` means ``d`` monitors. `monitor_stack`: the ``d - 1`` lower ones each run one
VM (the next monitor's machine, all of their free memory), the top one runs the guests.
`monitor_tree`: every lower monitor runs several VMs, each the machine of a monitor
above it; running the bottom monitor runs them all, each VM's time slice spent by the
monitor on it (`Monitor.run_for`).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from virtcheck.isa.model import Isa
from virtcheck.hypervisor import policies as P
from virtcheck.hypervisor.driver import Host
from virtcheck.hypervisor.machine import Machine
from virtcheck.hypervisor.monitor import DEFAULT_SLICE, Monitor, VirtualMachine

#: one policy for every level, or one per level, bottom first
Policies = Union[str, P.Policy, Sequence[Union[str, P.Policy]]]


def stack_policies(policy: Policies, depth: int) -> list[P.Policy]:
    """The policy of each of ``depth`` levels, bottom first (``policy`` for all, or a list
    that must have ``depth`` entries); unknown names raise `PolicyError`."""
    if isinstance(policy, (str, P.Policy)):
        return [P.get(policy)] * depth
    out = [P.get(p) for p in policy]
    if len(out) != depth:
        raise ValueError(f"{len(out)} policies for a stack of depth {depth}")
    return out


def monitor_stack(isa: Isa, depth: int, *, slice: int = DEFAULT_SLICE, machine: Optional[Host] = None,
                  policy: Policies = P.DEFAULT) -> Monitor:
    """The top monitor of ``depth`` (at least 1) stacked monitors on a (new) machine, with
    ``policy`` at every level or one policy per level, bottom first (a hybrid monitor on a
    trap-and-emulate one: ``["trap-emulate", "hybrid"]``)."""
    if depth < 1:
        raise ValueError(f"a monitor stack has depth at least 1, not {depth}")
    chosen = stack_policies(policy, depth)
    host: Any = machine or Machine(isa)
    for p in chosen[:-1]:
        host = Monitor(host, slice=slice, policy=p).create_vm()
    return Monitor(host, slice=slice, policy=chosen[-1])


def levels(top: Monitor) -> list[Monitor]:
    """The monitors under and including ``top``, bottom first."""
    out = [top]
    host = top.host
    while isinstance(host, VirtualMachine):
        out.append(host.monitor)
        host = host.monitor.host
    return list(reversed(out))


def monitor_tree(isa: Isa, depth: int, fanout: Union[int, Sequence[int]] = 2, *, slice: int = DEFAULT_SLICE,
                 machine: Optional[Host] = None, policy: Policies = P.DEFAULT) -> Monitor:
    """``depth`` levels of monitors on a (new) machine, where the monitor at level ``k``
    (1 = on the machine) runs ``fanout[k - 1]`` VMs (or ``fanout`` at every level), each
    splitting its free memory equally and each running a monitor of level ``k + 1``.
    Returns the bottom monitor: ``run`` it to run every guest; the top monitors
    (`top_monitors`) have no VMs yet -- create the guests there."""
    if depth < 1:
        raise ValueError(f"a monitor tree has depth at least 1, not {depth}")
    widths = [fanout] * (depth - 1) if isinstance(fanout, int) else list(fanout)
    if len(widths) != depth - 1 or any(w < 1 for w in widths):
        raise ValueError(f"fanout must give at least 1 VM for each of the {depth - 1} lower levels, not {fanout!r}")
    chosen = stack_policies(policy, depth)
    root = Monitor(machine or Machine(isa), slice=slice, policy=chosen[0])
    level = [root]
    for width, p in zip(widths, chosen[1:]):
        level = [Monitor(vm, slice=slice, policy=p) for mon in level for vm in mon.create_vms(width)]
    return root


def top_monitors(root: Monitor) -> list[Monitor]:
    """The monitors of a tree that run no monitor above them (the guests' monitors), in
    scheduling order."""
    out: list[Monitor] = []
    stack = [root]
    while stack:
        mon = stack.pop(0)
        above = [vm.hosted for vm in mon.vms if vm.hosted is not None]
        if above:
            stack[:0] = above
        else:
            out.append(mon)
    return out
