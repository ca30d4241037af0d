"""The hybrid monitor (PG 1974 §8, Theorem 3): in virtual supervisor mode the monitor
interprets every instruction on the virtual state; in virtual user mode the guest runs
directly, trapping as under trap-and-emulate.

"Virtual user mode" is the ISA's guest configuration (`Isa.guest`) holding on the
virtual state: the same states from which Theorem 3's *user-sensitive* instructions are
defined. So the hybrid monitor is exact where every user-sensitive instruction is
privileged, and its efficiency is claimed on virtual user mode only (supervisor code is
interpreted by design)."""

from __future__ import annotations

from virtcheck.hypervisor.policies.base import Capability, Policy, StatePredicate, register
from virtcheck.isa.model import Isa


class Hybrid(Policy):
    name = "hybrid"
    title = "hybrid monitor"
    summary = "interpret in virtual supervisor mode, run directly in virtual user mode (Theorem 3)"
    technique = "the hybrid monitor"
    efficiency_scope = "virtual user mode (the guest configuration) only: virtual supervisor code is interpreted by design"
    theorem = "3"
    needs = frozenset({Capability.DIRECT, Capability.INTERPRET, Capability.GATE})

    def runs_directly(self, isa: Isa) -> StatePredicate:
        return isa.guest_fn  # type: ignore[return-value]

    def efficient_on(self, isa: Isa) -> StatePredicate:
        return isa.guest_fn  # type: ignore[return-value]


HYBRID = register(Hybrid())
