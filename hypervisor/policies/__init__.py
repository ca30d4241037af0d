"""Monitor policies, registered once (design.md §5; the interface is in `base`).

Every consumer -- ``virtcheck check/run/fuzz --vmm``, the Z3 proofs, the fuzz rigs, the
native engine and the reports -- looks policies up here, by `get` and `names`. A new
policy is one module of this package that registers an instance; its import below is the
only other line to write.
"""

from virtcheck.hypervisor.policies.base import (
    Capability, Policy, PolicyError, StatePredicate, constant, get, names, register,
)
from virtcheck.hypervisor.policies import trap_emulate as _trap_emulate  # noqa: F401  (registers)
from virtcheck.hypervisor.policies import hybrid as _hybrid  # noqa: F401
from virtcheck.hypervisor.policies import emulate as _emulate  # noqa: F401

#: the policy a monitor has when none is named
DEFAULT = "trap-emulate"

__all__ = ["Capability", "DEFAULT", "Policy", "PolicyError", "StatePredicate", "constant", "get", "names",
           "register"]
