"""Everything an ISA definition file imports: ``from virtcheck.isa.lang import *``."""

from virtcheck.isa.expr import (
    FALSE, TRUE, Expr, ashr, concat, const, ite, land, lnot, lor, lshr, resize, sdiv, sext, sge, sgt,
    sle, slt, srem, udiv, uge, ugt, ule, ult, urem, zext,
)
from virtcheck.isa.errors import IsaError
from virtcheck.isa.model import (
    SYSTEM, USER, Flag, Imm, Isa, Kind, Letters, Reg, RegList, Role, RotImm, Sign, Swapped, Target,
)

MEMORY = Kind.MEMORY
PRIVILEGE = Kind.PRIVILEGE
CALL = Kind.CALL
EXCEPTION = Kind.EXCEPTION

__all__ = [
    "FALSE", "TRUE", "Expr", "ashr", "concat", "const", "ite", "land", "lnot", "lor", "lshr", "resize",
    "sdiv", "sext", "sge", "sgt", "sle", "slt", "srem", "udiv", "uge", "ugt", "ule", "ult", "urem", "zext",
    "IsaError", "SYSTEM", "USER", "Imm", "Isa", "Kind", "Reg", "Role", "Target",
    "Flag", "Letters", "RegList", "RotImm", "Sign", "Swapped",
    "MEMORY", "PRIVILEGE", "CALL", "EXCEPTION",
]
