"""What finalize derives lives on one object per ISA (``isa.derived``), and every layer
keeps its per-ISA facts there -- not in module-level dicts keyed by ``id(isa)``."""

from __future__ import annotations

import re
from pathlib import Path

from virtcheck.isa.concrete import compiled
from virtcheck.isa.derived import Derived
from virtcheck.isa.encoding import Decoder
from virtcheck.isa.machines import bundled

ROOT = Path(__file__).resolve().parents[2]


def test_finalize_builds_one_derived_object():
    pg3, m68k = bundled()["pg3"], bundled()["m68000"]
    d = pg3.derived
    assert isinstance(d, Derived) and pg3.derived is d
    assert set(d.trap_effects) == set(pg3.causes)
    assert d.fetch_effects.result is not None
    assert d.decoder is None and isinstance(m68k.derived.decoder, Decoder)
    assert "trap_effects" not in vars(pg3) and "fetch_effects" not in vars(pg3) and "decoder" not in vars(pg3)


def test_facts_are_per_isa_and_built_once():
    a, b = bundled()["pg3"], bundled()["pg3-jrst"]
    assert compiled(a) is compiled(a) and compiled(a) is not compiled(b)
    assert "concrete.compiled" in a.derived.known()
    calls = []
    assert a.derived.fact("test.once", lambda: calls.append(1) or "x") == "x"
    assert a.derived.fact("test.once", lambda: calls.append(1) or "y") == "x"
    assert calls == [1] and "test.once" not in b.derived.known()


def test_no_module_level_memo_keyed_by_id():
    """The pattern this replaced (``_cache.get(id(isa))``) appears nowhere in the package."""
    pattern = re.compile(r"\[\s*\(?id\((isa|c|self\.isa)\)|\.get\(\s*\(?id\((isa|c)\)|key = \(id\(isa\)")
    hits = [f"{p.relative_to(ROOT)}:{n}" for d in ("isa", "checks", "hypervisor", "fuzz", "reports")
            for p in sorted((ROOT / d).rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
