"""Trap-and-emulate (PG 1974 §5, Theorem 1): the guest always runs directly; what traps
only because the guest is deprivileged is emulated, everything else reflected.

Exact where every sensitive instruction is privileged (Theorem 1): an unprivileged
sensitive instruction runs directly in virtual supervisor mode and goes unseen."""

from __future__ import annotations

from virtcheck.hypervisor.policies.base import Capability, Policy, StatePredicate, register
from virtcheck.isa.model import Isa


class TrapEmulate(Policy):
    name = "trap-emulate"
    title = "trap-and-emulate monitor"
    summary = "run directly in every mode; emulate privileged traps, reflect the rest (Theorem 1)"
    technique = "trap-and-emulate"
    efficiency_scope = "every virtual state"
    theorem = "1"
    needs = frozenset({Capability.DIRECT})

    def runs_directly(self, isa: Isa) -> StatePredicate:
        return True

    def efficient_on(self, isa: Isa) -> StatePredicate:
        return True


TRAP_EMULATE = register(TrapEmulate())
