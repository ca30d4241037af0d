"""The bundled machines, as a lazy registry: naming one ISA loads only what it needs.

Each module lists its ISAs in ``MACHINES``. :data:`REGISTRY` says which module defines
which name, so listing the names imports nothing, and ``bundled()["pg3"]`` imports only
``pg3.py`` and finalizes only ``pg3`` (its siblings in that module are declared -- cheap --
but not finalized until someone names them). ``tests/core/test_registry.py`` checks the
registry against every module's ``MACHINES``, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from virtcheck.isa.model import Isa

#: bundled ISA name -> the module of this package that defines it, in the order reports list them
REGISTRY: dict[str, str] = {
    "pg3": "pg3", "pg3-jrst": "pg3", "pg3-mfsr": "pg3", "pg3-lra": "pg3", "pg3-popf": "pg3",
    "m68000": "m68k", "m68010": "m68k",
    "x86": "x86", "x86-ring1": "x86", "x86-umip": "x86", "x86-vmx": "x86",
}

#: modules holding bundled ISAs, in report order
MODULES = list(dict.fromkeys(REGISTRY.values()))


def declared(module: str) -> dict[str, Isa]:
    """Name -> ISA (not necessarily finalized) for every ISA ``module`` declares."""
    return {isa.name: isa for isa in importlib.import_module(f"{__name__}.{module}").MACHINES}


class Bundled(Mapping[str, Isa]):
    """Name -> finalized bundled ISA, loaded (module imported, ISA finalized) on first access."""

    def __getitem__(self, name: str) -> Isa:
        module = REGISTRY[name]  # KeyError for an unknown name, as a dict would
        isa = declared(module).get(name)
        if isa is None:
            raise LookupError(f"isa/machines/{module}.py: MACHINES has no ISA named '{name}' (see REGISTRY)")
        return isa.finalize()

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTRY)

    def __len__(self) -> int:
        return len(REGISTRY)


def bundled() -> Bundled:
    """Name -> finalized ISA for every bundled machine; each is loaded when it is first named."""
    return Bundled()
