"""Operand kinds whose assembly syntax is not a plain number or register name.

Each kind maps an operand's encoded value (what the encoding fields hold and what the
semantics receives) to text and back, so the assembler and disassembler derive from the
same declaration and cannot drift apart. A32 (ARM DDI 0406C) needs them:

``rotimm``
    the modified immediate ``rotate:imm8`` (§A5.2.4), written ``#value`` when the encoding is
    the one an assembler picks for that value (the smallest rotation), else ``#imm8, rot``
    (the rotation in bits, even), so every one of the 4096 encodings round-trips.
``reglist``
    a register mask, written ``{r0, r4-r6, r14}`` (registers named by the operand's bank);
    registers listed in ``texts`` are implied (always present, no bit).
``letters``
    a bit mask spelled as letters, most significant bit first (``aif``, ``fsxc``); a
    mask of 0 is written as nothing.
``flag``
    one bit written as ``texts[0]`` when set and ``texts[1]`` when clear (``!``, ``-``).
``swapped``
    an immediate split across two fields whose high part the encoding names first; the
    operand holds the parts in encoding order, the syntax shows the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from virtcheck.isa.expr import mask
from virtcheck.isa.model import OperandDecl

_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)"


def ror32(v: int, r: int) -> int:
    r %= 32
    return ((v >> r) | (v << (32 - r))) & 0xFFFFFFFF if r else v


def rotimm_value(field: int) -> int:
    """The 32-bit value of a ``rotate:imm8`` field."""
    return ror32(field & 0xFF, 2 * ((field >> 8) & 0xF))


def rotimm_encode(value: int) -> int | None:
    """The field an assembler picks for ``value`` (smallest rotation), or None."""
    value &= 0xFFFFFFFF
    for rot in range(16):
        imm8 = ror32(value, 32 - 2 * rot) if rot else value
        if imm8 <= 0xFF:
            return (rot << 8) | imm8
    return None


def _fmt_rotimm(o: OperandDecl, v: int) -> str:
    value = rotimm_value(v)
    if rotimm_encode(value) == v:
        return f"#{value:#x}" if value > 9 else f"#{value}"
    return f"#{v & 0xFF}, {2 * (v >> 8)}"


def _parse_rotimm(o: OperandDecl, text: str) -> int:
    mo = re.fullmatch(rf"#\s*({_NUM})(?:\s*,\s*({_NUM}))?", text.strip())
    if not mo:
        raise ValueError(f"'{text}' is not #value or #imm8, rotation")
    v = int(mo.group(1), 0)
    if mo.group(2) is not None:
        rot = int(mo.group(2), 0)
        if not (0 <= v <= 0xFF and 0 <= rot <= 30 and rot % 2 == 0):
            raise ValueError(f"'{text}': imm8 must be 0..255 and the rotation even, 0..30")
        return ((rot // 2) << 8) | v
    if not -(1 << 31) <= v <= 0xFFFFFFFF:
        raise ValueError(f"'{text}' does not fit in 32 bits")
    field = rotimm_encode(v & 0xFFFFFFFF)
    if field is None:
        raise ValueError(f"{text} is not an 8-bit value rotated right by an even amount")
    return field


def _implied(o: OperandDecl) -> list[int]:
    return [int(t) for t in o.texts]


def _fmt_reglist(o: OperandDecl, v: int) -> str:
    regs = sorted([k for k in range(o.width) if v >> k & 1] + _implied(o))
    parts, k = [], 0
    while k < len(regs):
        j = k
        while j + 1 < len(regs) and regs[j + 1] == regs[j] + 1:
            j += 1
        name = f"{o.bank}{regs[k]}"
        parts.append(name if j == k else f"{name}, {o.bank}{regs[j]}" if j == k + 1 else f"{name}-{o.bank}{regs[j]}")
        k = j + 1
    return "{" + ", ".join(parts) + "}"


def _parse_reglist(o: OperandDecl, text: str) -> int:
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError(f"'{text}' is not a register list {{...}}")
    implied = set(_implied(o))
    seen: set[int] = set()
    out = 0
    items = [i.strip() for i in body[1:-1].split(",") if i.strip()]
    for item in items:
        ends = [e.strip() for e in item.split("-")]
        nums = []
        for e in ends:
            mo = re.fullmatch(rf"{re.escape(o.bank or '')}(\d+)", e, re.IGNORECASE)
            if not mo:
                raise ValueError(f"'{e}' is not a register of bank '{o.bank}'")
            nums.append(int(mo.group(1)))
        if len(nums) > 2 or nums[0] > nums[-1]:
            raise ValueError(f"'{item}' is not a register or an ascending range")
        for k in range(nums[0], nums[-1] + 1):
            seen.add(k)
            if k in implied:
                continue
            if k >= o.width:
                raise ValueError(f"register {o.bank}{k} cannot be in this list")
            out |= 1 << k
    if not implied <= seen:
        missing = ", ".join(f"{o.bank}{k}" for k in sorted(implied - seen))
        raise ValueError(f"this list always holds {missing}: write it")
    return out


def _fmt_letters(o: OperandDecl, v: int) -> str:
    n = len(o.texts)
    return "".join(c for k, c in enumerate(o.texts) if v >> (n - 1 - k) & 1)


def _parse_letters(o: OperandDecl, text: str) -> int:
    n, out = len(o.texts), 0
    for ch in text.strip().lower():
        if ch not in o.texts:
            raise ValueError(f"'{ch}' is not one of '{''.join(o.texts)}'")
        bit = 1 << (n - 1 - o.texts.index(ch))
        if out & bit:
            raise ValueError(f"'{ch}' is written twice")
        out |= bit
    return out


def _fmt_flag(o: OperandDecl, v: int) -> str:
    return o.texts[0] if v else o.texts[1]


def _parse_flag(o: OperandDecl, text: str) -> int:
    return 1 if text.strip() == o.texts[0] else 0


def swapped_value(o: OperandDecl, v: int) -> int:
    """The immediate a ``swapped`` operand's encoded value ``v`` stands for."""
    first = int(o.texts[0])
    return ((v & mask(first)) << (o.width - first)) | (v >> first)


def _fmt_swapped(o: OperandDecl, v: int) -> str:
    value = swapped_value(o, v)
    return f"{value:#x}" if value > 9 else str(value)


def _parse_swapped(o: OperandDecl, text: str) -> int:
    value = int(text.strip(), 0)
    if not 0 <= value <= mask(o.width):
        raise ValueError(f"{text} does not fit in {o.width} bits")
    first = int(o.texts[0])
    return (value >> (o.width - first)) | ((value & mask(o.width - first)) << first)


@dataclass(frozen=True)
class Syntax:
    """How one kind is written: a regex for its text, and the two mappings."""

    regex: Callable[[OperandDecl], str]
    format: Callable[[OperandDecl, int], str]
    parse: Callable[[OperandDecl, str], int]  #: raises ValueError with the reason


def _letters_rx(o: OperandDecl) -> str:
    return f"[{''.join(o.texts)}]*"


def _flag_rx(o: OperandDecl) -> str:
    alts = sorted({re.escape(t) for t in o.texts}, key=len, reverse=True)
    return "(?:" + "|".join(alts) + ")"


SYNTAXES: dict[str, Syntax] = {
    "rotimm": Syntax(lambda o: rf"#\s*{_NUM}(?:\s*,\s*{_NUM})?", _fmt_rotimm, _parse_rotimm),
    "reglist": Syntax(lambda o: r"\{[^}]*\}", _fmt_reglist, _parse_reglist),
    "letters": Syntax(_letters_rx, _fmt_letters, _parse_letters),
    "flag": Syntax(_flag_rx, _fmt_flag, _parse_flag),
    "swapped": Syntax(lambda o: _NUM, _fmt_swapped, _parse_swapped),
}


def in_domain(o: OperandDecl, v: int) -> bool:
    return 0 <= v <= mask(o.width)
