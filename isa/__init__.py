"""ISA definitions and everything derived mechanically from one definition."""

from virtcheck.isa.errors import AsmError, IsaError
from virtcheck.isa.model import Isa, Kind, Role

__all__ = ["AsmError", "Isa", "IsaError", "Kind", "Role"]
