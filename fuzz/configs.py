"""Guest configurations for the monitor fuzzer: how many VMs, how large, how deeply nested.

Sizes come from the ISA's code memory, never from a constant: a monitor keeps at least
``1/MONITOR_SHARE`` of memory for itself, the VMs share the rest in equal partitions, and
at nesting depth ``d`` each inner monitor again keeps its share of its own partition, so
the innermost guest still has ``min_partition`` cells (room for its trap vector, a
program and its data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from hypothesis.errors import InvalidArgument

from virtcheck.isa.model import Isa

#: a monitor keeps at least 1/MONITOR_SHARE of the memory it partitions
MONITOR_SHARE = 8
#: the default smallest innermost partition is 1/DEFAULT_MIN_FRACTION of memory ...
DEFAULT_MIN_FRACTION = 64
#: ... and never fewer cells than this
DEFAULT_MIN_CELLS = 16


@dataclass(frozen=True)
class GuestConfig:
    """``vms`` guests side by side, each in a ``partition_size``-cell partition of the code
    memory, under ``depth`` stacked monitors (1 = one monitor on the bare machine)."""

    vms: int
    partition_size: int
    depth: int

    def to_json(self) -> dict[str, Any]:
        return {"vms": self.vms, "partition_size": self.partition_size, "depth": self.depth}


def monitor_reserve(size: int) -> int:
    """Cells a monitor keeps of ``size``: at least 1/MONITOR_SHARE, rounded up."""
    return -(-size // MONITOR_SHARE)


def innermost(size: int, depth: int) -> int:
    """The partition the innermost guest gets when ``depth - 1`` nested monitors each keep
    their reserve of a ``size``-cell partition."""
    for _ in range(depth - 1):
        size -= monitor_reserve(size)
    return size


def _check_int(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidArgument(f"{name} must be an integer of at least {least}, not {value!r}")


@dataclass(frozen=True)
class ConfigSpace:
    """The feasible configurations of one ISA, computed once: for each depth the smallest
    partition that leaves ``min_partition`` cells innermost, and how many VMs fit it."""

    memory_size: int
    min_partition: int
    usable: int  #: cells the VMs share after the outermost monitor's reserve
    lowest: dict[int, int]  #: depth -> smallest partition_size
    most_vms: dict[int, int]  #: depth -> most VMs

    def largest(self, vms: int) -> int:
        return self.usable // vms

    def sizes(self, depth: int, vms: int) -> tuple[int, ...]:
        """Power-of-two partition sizes in range, smallest first (shrinking heads there)."""
        lo, hi = self.lowest[depth], self.largest(vms)
        out = tuple(1 << k for k in range(hi.bit_length() + 1) if lo <= 1 << k <= hi)
        return out or (lo,)


def config_space(isa: Isa, *, max_vms: int = 4, max_depth: int = 3,
                 min_partition: Optional[int] = None) -> ConfigSpace:
    """Validate the arguments and list what fits ``isa``'s code memory."""
    _check_int("max_vms", max_vms, 1)
    _check_int("max_depth", max_depth, 1)
    isa.finalize()
    mem = isa.memories[isa.code_memory]  # type: ignore[index]
    size = mem.size
    if min_partition is None:
        min_partition = max(DEFAULT_MIN_CELLS, size // DEFAULT_MIN_FRACTION)
    _check_int("min_partition", min_partition, 1)
    usable = size - monitor_reserve(size)
    if min_partition > usable:
        raise InvalidArgument(
            f"ISA '{isa.name}': code memory '{mem.name}' has {size} cells; with 1/{MONITOR_SHARE} "
            f"({monitor_reserve(size)} cells) reserved for the monitor, {usable} remain, fewer than "
            f"min_partition={min_partition}"
        )
    lowest: dict[int, int] = {}
    most: dict[int, int] = {}
    for depth in range(1, max_depth + 1):
        lo, hi = min_partition, usable  # innermost() is monotone: binary search the least size
        if innermost(hi, depth) < min_partition:
            break
        while lo < hi:
            mid = (lo + hi) // 2
            if innermost(mid, depth) >= min_partition:
                hi = mid
            else:
                lo = mid + 1
        lowest[depth] = lo
        most[depth] = max(v for v in range(1, max_vms + 1) if usable // v >= lo)
    return ConfigSpace(size, min_partition, usable, lowest, most)
