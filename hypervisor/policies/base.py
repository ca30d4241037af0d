"""The policy interface: what a monitor does before its guest runs and at each stop.

A monitor is the executor contract (run a state for a budget, get a typed stop) plus a
*policy* (design.md §5). The monitor's `VirtualMachine` asks its policy two questions
and nothing else:

* **before the guest runs** from virtual state V (at the start of every run and after
  every instruction the monitor itself executed): does V run *directly* on the executor
  below, or does the monitor *interpret* its next instruction on V? (`Policy.runs_directly`)
* **at a stop** (direct execution stopped on a trap, or the monitor interprets): which
  step the monitor takes on V. Every policy here takes the ISA's own step of the
  instruction at V's pc over the partition (`Policy.stop_step`); the executor reads its
  outcome the same way for all of them: completed = emulated (after a direct stop) or
  interpreted, trapped = reflected into the guest, halted = the VM halts.

Both answers come from one declaration each, written in the ISA's expression language
over the virtual state (or a constant), so the concrete monitor (compiled Python), the
Z3 proofs (`virtcheck.checks.monitor`: the commuting diagram with the policy's step on
the right-hand side) and the native engine read the same definition.

A policy is one module in this package that defines a `Policy` subclass and registers an
instance with `register`; see ``docs/architecture.md``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Optional, Union

from virtcheck.isa.model import Isa

#: a predicate over a state (``lambda m: m.M == 0``, the ISA's `Builder` as ``m``), or a constant
StatePredicate = Union[bool, Callable[[Any], Any]]


class Capability(enum.Enum):
    """What a policy needs from an engine that runs it. The native engine lists the ones it
    has (`virtcheck.hypervisor.native.CAPABILITIES`); a campaign whose policy needs one it
    lacks runs the Python monitor and says which."""

    DIRECT = "direct execution of the guest, emulating or reflecting what traps"
    INTERPRET = "interpretation of guest instructions on the virtual state"
    GATE = "per-run choice between direct execution and interpretation by the virtual state"


class PolicyError(Exception):
    """An unknown policy name, or a second policy under a name already taken (one line)."""


class Policy(ABC):
    """One monitor technique. Subclasses set the class attributes and the two predicates."""

    #: the name ``--vmm`` takes, reports and snapshots record
    name: ClassVar[str]
    #: what a report calls it ("trap-and-emulate monitor")
    title: ClassVar[str]
    #: one line for ``--help`` and the docs
    summary: ClassVar[str]
    #: what a proof's witness says an instruction is not virtualized by ("trap-and-emulate")
    technique: ClassVar[str]
    #: the virtual states `efficient_on` names, in words (reports state it)
    efficiency_scope: ClassVar[str]
    #: the classification theorem whose violations are exactly this policy's equivalence
    #: failures ("1", "3"), or None when it has no such counterpart
    theorem: ClassVar[Optional[str]] = None
    #: what an engine must offer to run it
    needs: ClassVar[frozenset[Capability]]

    @abstractmethod
    def runs_directly(self, isa: Isa) -> StatePredicate:
        """Before the guest runs from virtual state V: True where V runs directly on the
        executor below, False where the monitor interprets V's next instruction."""

    @abstractmethod
    def efficient_on(self, isa: Isa) -> StatePredicate:
        """The virtual states on which the policy claims PG's efficiency: from them every
        instruction with no privileged-instruction trap in its semantics runs directly
        whenever it completes. The proofs check exactly this claim."""

    def stop_step(self, vm: Any) -> Callable[[list[int]], tuple[Any, str, bool]]:
        """The step the monitor takes on virtual state V at a stop: ``step(V) ->
        (result, mnemonic, on_fetch)`` as the compiled ISA returns it (None = completed,
        a (cause, info) tuple = trapped, else halted). Default: the ISA's own step of the
        instruction at V's pc, over the VM's partition (`VirtualMachine.virtual_step`)."""
        return vm.virtual_step

    def __repr__(self) -> str:
        return f"<policy {self.name}>"


def constant(pred: StatePredicate) -> Optional[bool]:
    """The value of a constant predicate, None if it depends on the state."""
    return pred if isinstance(pred, bool) else None


_REGISTRY: dict[str, Policy] = {}


def register(policy: Policy) -> Policy:
    """Make ``policy`` known under its name, once (the CLI, proofs, fuzzer, native engine and
    reports all look it up here)."""
    if not isinstance(policy, Policy):
        raise PolicyError(f"register() takes a Policy instance, not {type(policy).__name__}")
    if policy.name in _REGISTRY:
        raise PolicyError(f"monitor policy '{policy.name}' is already registered")
    _REGISTRY[policy.name] = policy
    return policy


def get(name: Union[str, Policy]) -> Policy:
    """The registered policy called ``name`` (a `Policy` is returned as it is)."""
    if isinstance(name, Policy):
        return name
    hit = _REGISTRY.get(name)
    if hit is None:
        raise PolicyError(f"unknown monitor policy '{name}' (known: {', '.join(_REGISTRY)})")
    return hit


def names() -> list[str]:
    """Every registered policy's name, in registration order."""
    return list(_REGISTRY)
