"""One entry point per property: ``check(prop, isa, case)`` -> the failure or None.

The campaign, the shrinker and ``virtcheck replay`` all call the oracles through here,
so a case saved by a campaign is judged by exactly the code that found it.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Optional

from virtcheck.fuzz import oracles as O
from virtcheck.fuzz.case import Case
from virtcheck.isa.model import Isa
from virtcheck.hypervisor.policies import DEFAULT as DEFAULT_POLICY


@dataclass(frozen=True)
class Settings:
    """What the oracles need beyond the case: the monitor stack depth, the isolation time
    slice, the instructions the efficiency oracle must never see emulated, and the policy of
    the monitors (a registered name, `virtcheck.hypervisor.policies`)."""

    depth: int = 1
    slice: int = 4
    innocuous: frozenset[str] = dc_field(default_factory=frozenset)
    policy: str = DEFAULT_POLICY


def check(prop: str, isa: Isa, case: Case, settings: Settings = Settings()) -> Optional[O.Failure]:
    """Run the oracle for ``prop`` on ``case``; the failure, or None."""
    if prop == O.EQUIVALENCE:
        return O.equivalence(isa, case, settings.depth, settings.policy).failure
    if prop == O.EFFICIENCY:
        res = O.equivalence(isa, case, settings.depth, settings.policy)
        if res.failure is not None:  # inefficiency is only judged on runs that agree
            return None
        return O.efficiency(isa, case, res, settings.innocuous, settings.depth, settings.policy).failure
    if prop == O.ISOLATION:
        return O.isolation(isa, case, settings.slice, settings.depth, settings.policy).failure
    if prop == O.ENCAPSULATION:
        return O.encapsulation(isa, case, policy=settings.policy).failure
    raise ValueError(f"unknown property {prop!r} (expected one of {', '.join(O.PROPERTIES)})")
