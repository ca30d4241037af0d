"""The bundled machines. Each module lists its ISAs in ``MACHINES``."""

from __future__ import annotations

import importlib

from virtcheck.isa.model import Isa

#: modules holding bundled ISAs, in the order reports list them
MODULES = ["pg3", "m68k", "x86", "riscv"]


def bundled() -> dict[str, Isa]:
    """Name -> finalized ISA for every bundled machine."""
    out: dict[str, Isa] = {}
    for mod in MODULES:
        for isa in importlib.import_module(f"virtcheck.isa.machines.{mod}").MACHINES:
            out[isa.name] = isa.finalize()
    return out
