"""What an ISA's declarations imply, worked out once: one object per finalized ISA.

:meth:`Isa.finalize` builds a :class:`Derived` and hangs it on the ISA as ``isa.derived``.
It holds the facts finalize derives itself (trap entry and fetch effects, the decoder of a
variable-length ISA) and, through :meth:`Derived.fact`, every fact a later layer derives
from the ISA and wants to build only once (the compiled backend, assembler templates, the
monitor's partition facts, translation effects for the classifier ...).

Why not module-level dicts keyed by ``id(isa)``: such a dict outlives the ISA, so a new ISA
allocated at a freed ISA's address is handed the old one's facts; and it keeps every ISA a
process ever built alive. A fact kept on the ISA's own derived object lives and dies with it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")


class Derived:
    """The derived facts of one finalized ISA (see the module docstring)."""

    def __init__(self, trap_effects: dict[str, Any], fetch_effects: Any, decoder: Optional[Any]):
        #: cause name -> the effects of entering the trap (``Isa.on_trap`` with that cause)
        self.trap_effects = trap_effects
        #: the effects of fetching at the pc through the translation (result: the address)
        self.fetch_effects = fetch_effects
        #: the decoder of a variable-length ISA (:class:`virtcheck.isa.encoding.Decoder`), else None
        self.decoder = decoder
        self._facts: dict[Any, Any] = {}

    def fact(self, key: Any, build: Callable[[], T]) -> T:
        """The fact named ``key`` (hashable; by convention ``"module.what"`` or a tuple
        starting with it), built by ``build()`` on first use and kept for the ISA's lifetime."""
        try:
            return self._facts[key]
        except KeyError:
            value = self._facts[key] = build()
            return value

    def known(self) -> list[Any]:
        """The keys of the facts built so far (for tests and debugging)."""
        return list(self._facts)
