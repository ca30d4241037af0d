"""Pure emulation: the monitor interprets every guest instruction on the virtual state;
nothing runs directly. Equivalent wherever the ISA's semantics are complete, direct ratio
0 by construction -- the baseline PG's "efficient" is measured against, and not a virtual
machine monitor in their sense (it fails efficiency on every innocuous instruction)."""

from __future__ import annotations

from virtcheck.hypervisor.policies.base import Capability, Policy, StatePredicate, register
from virtcheck.isa.model import Isa


class Emulate(Policy):
    name = "emulate"
    title = "emulator"
    summary = "interpret every instruction on the virtual state; nothing runs directly"
    technique = "emulation"
    efficiency_scope = "every virtual state (and fails there: nothing runs directly)"
    theorem = None
    needs = frozenset({Capability.INTERPRET})

    def runs_directly(self, isa: Isa) -> StatePredicate:
        return False

    def efficient_on(self, isa: Isa) -> StatePredicate:
        return True


EMULATE = register(Emulate())
