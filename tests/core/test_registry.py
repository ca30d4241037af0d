"""The lazy registry of bundled ISAs (isa/machines/__init__.py): it names every ISA the
machine modules define, in their order, and naming one loads only that one."""

from __future__ import annotations

import subprocess
import sys

from virtcheck.isa.machines import MODULES, REGISTRY, bundled, declared


def test_registry_matches_every_module():
    """REGISTRY is the only list of names; it must say exactly what the modules define."""
    defined = {name: mod for mod in MODULES for name in declared(mod)}
    assert REGISTRY == defined
    assert list(REGISTRY) == [n for mod in MODULES for n in declared(mod)]  # report order


def test_bundled_is_a_mapping_of_finalized_isas():
    b = bundled()
    assert list(b) == list(REGISTRY) and len(b) == len(REGISTRY)
    assert b["pg3-jrst"].name == "pg3-jrst" and b["pg3-jrst"].final
    assert b["pg3-jrst"] is bundled()["pg3-jrst"]  # one object per ISA per process
    assert "nosuch" not in b


def test_naming_one_isa_loads_only_it():
    """In a fresh interpreter: loading pg3-mfsr imports no other machine module and
    finalizes no other ISA (its siblings in pg3.py are declared, not finalized)."""
    code = (
        "import sys\n"
        "from virtcheck.isa.loader import load\n"
        "from virtcheck.isa.machines import declared\n"
        "isa, = load('pg3-mfsr')\n"
        "mods = sorted(m for m in sys.modules if m.startswith('virtcheck.isa.machines.'))\n"
        "final = sorted(n for n, i in declared('pg3').items() if i.final)\n"
        "print(mods, final)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['virtcheck.isa.machines.pg3'] ['pg3-mfsr']"
