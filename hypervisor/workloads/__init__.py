"""Guest programs per ISA, in the ISA's own assembly, shipped with the package.

``workloads/<isa>/<name>.s``; an ISA derived from another (``Isa.derive``) uses its
parent's workloads when it has none of its own.
"""

from __future__ import annotations

from pathlib import Path

from virtcheck.isa.asm import Program, assemble
from virtcheck.isa.model import Isa

ROOT = Path(__file__).parent


def _dirs(isa: Isa) -> list[Path]:
    names = [isa.name] + ([isa.derived_from] if isa.derived_from else [])
    return [ROOT / n for n in names if (ROOT / n).is_dir()]


def names(isa: Isa) -> list[str]:
    """The workloads available for ``isa``."""
    out: list[str] = []
    for d in _dirs(isa):
        out += [p.stem for p in sorted(d.glob("*.s")) if p.stem not in out]
    return out


def path(isa: Isa, name: str) -> Path:
    for d in _dirs(isa):
        p = d / f"{name}.s"
        if p.is_file():
            return p
    raise FileNotFoundError(f"no workload '{name}' for ISA '{isa.name}' (available: {', '.join(names(isa)) or 'none'})")


def load(isa: Isa, name: str) -> Program:
    """The assembled workload ``name`` for ``isa``."""
    p = path(isa, name)
    return assemble(isa, p.read_text(), source=str(p))
