"""What every reference machine offers, and how one is found by name."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Optional

from virtcheck.isa.model import Instruction, Isa
from virtcheck.isa.state import MachineState

#: reference name -> module under virtcheck.hypervisor.reference defining ``Ref``
MODULES = {"unicorn": "unicorn", "kvm": "kvm", "native": "native"}


class ReferenceUnavailable(Exception):
    """The reference cannot run here at all (no /dev/kvm, no Unicorn, no spec for the ISA)."""


@dataclass
class Example:
    """One instruction with its operand values, in one state, in a named mode."""

    ins: Instruction
    ops: dict[str, int]
    state: MachineState
    mode: str = ""


@dataclass
class RefResult:
    """How a run on a reference ended.

    ``kind``: ``ok`` (``fields`` holds the user fields read back, ``memories`` every model
    memory afterwards), ``trap`` (``vector``), ``halt``, or ``skipped`` (``reason``: why the
    reference could not run it; never agreement).
    """

    kind: str
    vector: Optional[int] = None
    fields: dict[str, int] = field(default_factory=dict)
    memories: dict[str, list[int]] = field(default_factory=dict)
    reason: str = ""

    def __str__(self) -> str:
        if self.kind == "trap":
            return f"trap(vector {self.vector})"
        if self.kind == "skipped":
            return f"skipped ({self.reason})"
        return self.kind

    @staticmethod
    def skipped(reason: str) -> "RefResult":
        return RefResult("skipped", reason=reason)


class Reference(abc.ABC):
    """A real executor for one ISA. Subclasses implement :meth:`run`."""

    name = ""

    def __init__(self, isa: Isa):
        self.isa = isa.finalize()
        spec = isa.references.get(self.name)
        if spec is None:
            raise ReferenceUnavailable(
                f"ISA '{isa.name}' declares no '{self.name}' reference"
                f" (declared: {', '.join(isa.references) or 'none'}); see isa.reference() in isa/model.py")
        self.spec: dict[str, Any] = spec

    @property
    def modes(self) -> list[str]:
        """The ISA's modes this reference can be set up in."""
        return list(self.spec.get("modes") or self.isa.modes)

    @property
    def limits(self) -> list[dict]:
        return list(self.spec.get("limits", []))

    @abc.abstractmethod
    def backing(self) -> str:
        """What actually executes the instructions (printed in every report)."""

    def fit(self, state: MachineState, ins: Instruction, ops: dict[str, int], rng) -> tuple[MachineState, dict]:
        """The ISA's declared adjustment of a drawn example to what this reference can set up."""
        fn = self.spec.get("fit")
        return fn(self.isa, state, ins, ops, rng) if fn else (state, ops)

    @abc.abstractmethod
    def run(self, ex: Example) -> RefResult:
        """Run one example on the reference; an example it cannot run is a skip, never agreement."""

    def close(self) -> None:
        """Release what the reference holds (file descriptors, child processes)."""


def get_reference(name: str, isa: Isa) -> Reference:
    """The reference ``name`` for ``isa``; raises :class:`ReferenceUnavailable` with the reason."""
    import importlib

    if name not in MODULES:
        raise ReferenceUnavailable(f"unknown reference '{name}' (known: {', '.join(MODULES)})")
    mod = importlib.import_module(f"virtcheck.hypervisor.reference.{MODULES[name]}")
    return mod.Ref(isa)


def available_references(isa: Isa) -> dict[str, str]:
    """Reference name -> backing description or the reason it cannot run here."""
    out = {}
    for name in MODULES:
        try:
            ref = get_reference(name, isa)
            out[name] = ref.backing()
            ref.close()
        except ReferenceUnavailable as exc:
            out[name] = f"unavailable: {exc}"
    return out
