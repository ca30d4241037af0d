"""Text assembly, disassembly and the byte codec, all derived from the instruction table.

Syntax: one instruction a line, ``label:`` prefixes, ``;`` comments, and two directives:
``.org ADDR`` (continue at an address) and ``.word VALUE`` (a data word). Operand
syntax comes from each instruction's declared template (``LD {rd}, {imm}({rs})``).
A pc-relative operand written as a number is the offset itself; written as a label it
is computed from the instruction's address.

The byte codec is the instruction word, big-endian, ``word/8`` bytes a chunk. The decoder
accepts every chunk (see :meth:`CompiledIsa.decode`), and the all-zero chunk is opcode 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field
from typing import Iterable, Optional

from virtcheck.isa.errors import AsmError, IsaError
from virtcheck.isa.expr import mask
from virtcheck.isa.model import Instruction, Isa, OperandDecl
from virtcheck.isa.validate import SYNTAX_FIELD

NUMBER = r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)"
SYMBOL = r"[A-Za-z_.][\w.]*"


@dataclass
class Program:
    """An assembled program: cells of the code memory, and its labels."""

    cells: dict[int, int] = dc_field(default_factory=dict)
    labels: dict[str, int] = dc_field(default_factory=dict)
    lines: dict[int, int] = dc_field(default_factory=dict)  #: address -> source line

    @property
    def entry(self) -> int:
        """``start`` if defined, else the lowest address."""
        if "start" in self.labels:
            return self.labels["start"]
        return min(self.cells) if self.cells else 0

    def words(self) -> list[int]:
        """The cells from the lowest to the highest address (gaps as 0)."""
        if not self.cells:
            return []
        lo, hi = min(self.cells), max(self.cells)
        return [self.cells.get(a, 0) for a in range(lo, hi + 1)]


def _parse_int(text: str) -> int:
    return int(text, 0)


def encode(isa: Isa, ins: Instruction, values: Iterable[int]) -> int:
    """The canonical word for ``ins`` with operand values (each within its domain)."""
    word = ins.opcode << (isa.word - isa.opcode_width)
    for (name, hi, lo), o, v in zip(ins.layout, ins.operands, values):
        if not 0 <= v < o.domain_size:
            raise IsaError(f"operand '{name}' value {v} is outside its domain (0..{o.domain_size - 1})",
                           instruction=ins.mnemonic)
        word |= v << lo
    return word


def decode(isa: Isa, word: int) -> tuple[Instruction, tuple[int, ...]]:
    from virtcheck.isa.concrete import compiled

    return compiled(isa).decode(word)


def _signed(v: int, width: int) -> int:
    return v - (1 << width) if v >> (width - 1) else v


def format_operand(isa: Isa, o: OperandDecl, v: int) -> str:
    if o.kind == "reg":
        return f"{o.bank}{v}"
    if o.signed:
        return str(_signed(v, o.width))
    if o.kind == "target":
        return hex(v)
    return str(v) if v < 10 else hex(v)


def format_instruction(isa: Isa, ins: Instruction, values: Iterable[int]) -> str:
    vals = dict(zip((o.name for o in ins.operands), values))
    return SYNTAX_FIELD.sub(lambda mo: format_operand(isa, ins.operand(mo.group(1)), vals[mo.group(1)]), ins.syntax)


def disassemble_word(isa: Isa, word: int) -> str:
    ins, vals = decode(isa, word)
    return format_instruction(isa, ins, vals)


def disassemble(isa: Isa, words: Iterable[int]) -> list[str]:
    return [disassemble_word(isa, w) for w in words]


class _Templates:
    """One compiled regex per instruction, from its syntax template."""

    def __init__(self, isa: Isa):
        self.by_mnemonic: dict[str, tuple[Instruction, re.Pattern]] = {}
        for ins in isa.instructions:
            self.by_mnemonic[ins.mnemonic.upper()] = (ins, self._regex(ins))

    @staticmethod
    def _regex(ins: Instruction) -> re.Pattern:
        out = []
        pos = 0
        for mo in SYNTAX_FIELD.finditer(ins.syntax):
            out.append(_literal(ins.syntax[pos:mo.start()]))
            o = ins.operand(mo.group(1))
            pat = rf"(?P<{o.name}>{o.bank}\d+)" if o.kind == "reg" else rf"(?P<{o.name}>{NUMBER}|{SYMBOL})"
            out.append(pat)
            pos = mo.end()
        out.append(_literal(ins.syntax[pos:]))
        return re.compile(r"^\s*" + "".join(out) + r"\s*$", re.IGNORECASE)


def _literal(text: str) -> str:
    parts = [re.escape(p) for p in re.split(r"\s+", text)]
    return r"\s*".join(parts) if text.strip() else (r"\s+" if text else "")


_templates: dict[int, _Templates] = {}


def _operand_value(isa: Isa, ins: Instruction, o: OperandDecl, text: str, here: int, labels: dict[str, int],
                   source: str, line: int) -> int:
    if o.kind == "reg":
        n = int(text[len(o.bank or ""):])
        if n >= o.domain_size:
            raise AsmError(f"{ins.mnemonic}: register {text} does not exist", source=source, line=line)
        return n
    if re.fullmatch(NUMBER, text):
        v = _parse_int(text)
        is_label = False
    else:
        if text not in labels:
            raise AsmError(f"{ins.mnemonic}: unknown label '{text}'", source=source, line=line)
        v = labels[text]
        is_label = True
    if o.kind == "target" and o.pcrel and is_label:
        v = v - here
    lo = -(1 << (o.width - 1)) if o.signed else 0
    if not lo <= v <= mask(o.width):
        raise AsmError(f"{ins.mnemonic}: operand '{o.name}' value {text} does not fit in {o.width} bits",
                       source=source, line=line)
    v &= mask(o.width)
    if v >= o.domain_size:
        raise AsmError(f"{ins.mnemonic}: operand '{o.name}' value {text} is outside its domain", source=source,
                       line=line)
    return v


def assemble(isa: Isa, text: str, *, origin: int = 0, source: str = "<program>") -> Program:
    """Two passes: collect labels, then encode. Errors name the source line."""
    isa.finalize()
    tpl = _templates.get(id(isa))
    if tpl is None:
        tpl = _templates[id(isa)] = _Templates(isa)
    units = isa.units_per_word
    stmts: list[tuple[int, int, str]] = []  # (line, address, text)
    labels: dict[str, int] = {}
    addr = origin
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        while True:
            mo = re.match(rf"^({SYMBOL})\s*:\s*", line)
            if not mo:
                break
            name = mo.group(1)
            if name in labels:
                raise AsmError(f"label '{name}' is defined twice", source=source, line=lineno)
            labels[name] = addr
            line = line[mo.end():]
        if not line:
            continue
        if line.lower().startswith(".org"):
            try:
                addr = _parse_int(line[4:].strip())
            except ValueError:
                raise AsmError(f"bad .org address '{line[4:].strip()}'", source=source, line=lineno) from None
            continue
        stmts.append((lineno, addr, line))
        addr += units
    prog = Program(labels=labels)
    for lineno, here, line in stmts:
        if line.lower().startswith(".word"):
            arg = line[5:].strip()
            try:
                v = labels[arg] if arg in labels else _parse_int(arg)
            except ValueError:
                raise AsmError(f"bad .word value '{arg}'", source=source, line=lineno) from None
            word = v & mask(isa.word)
        else:
            mnemonic = line.split()[0].upper()
            entry = tpl.by_mnemonic.get(mnemonic)
            if entry is None:
                raise AsmError(f"unknown instruction '{line.split()[0]}'", source=source, line=lineno)
            ins, rx = entry
            mo = rx.match(line)
            if not mo:
                raise AsmError(f"'{line}' does not match the syntax '{ins.syntax}'", source=source, line=lineno)
            vals = [_operand_value(isa, ins, o, mo.group(o.name), here, labels, source, lineno) for o in ins.operands]
            word = encode(isa, ins, vals)
        if here in prog.cells:
            raise AsmError(f"address {here:#x} is assembled twice", source=source, line=lineno)
        for k in range(units):  # a word spanning several cells: most significant first
            shift = (units - 1 - k) * (isa.word // units)
            prog.cells[here + k] = (word >> shift) & mask(isa.word // units)
        prog.lines[here] = lineno
    return prog


def to_bytes(isa: Isa, words: Iterable[int]) -> bytes:
    n = isa.word // 8
    return b"".join(w.to_bytes(n, "big") for w in words)


def from_bytes(isa: Isa, data: bytes) -> list[int]:
    """Every chunk is a word; a short last chunk is padded with zero bytes."""
    n = isa.word // 8
    if len(data) % n:
        data = data + bytes(n - len(data) % n)
    return [int.from_bytes(data[i:i + n], "big") for i in range(0, len(data), n)]


def canonical(isa: Isa, word: int) -> int:
    """The word the assembler would produce for what ``word`` decodes to."""
    ins, vals = decode(isa, word)
    return encode(isa, ins, vals)
