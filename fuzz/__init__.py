"""virtcheck.fuzz: generation derived from an ISA definition (design.md §6).

Two front ends over the same distributions:

* Hypothesis strategies for property tests -- ``from virtcheck.fuzz import programs, states``;
* :class:`Generator`, a seeded ``random.Random`` drawing the same shapes fast enough for a
  campaign's hot loop, deterministic per seed.
"""

from virtcheck.fuzz.configs import GuestConfig
from virtcheck.fuzz.generate import Generator
from virtcheck.fuzz.strategies import guest_configs, instructions, memories, programs, states, words

__all__ = ["programs", "states", "instructions", "words", "memories", "guest_configs", "GuestConfig", "Generator"]
