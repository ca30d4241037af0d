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


def encode_units(isa: Isa, ins: Instruction, values: Iterable[int]) -> list[int]:
    """The code-memory cells of an instruction (a fixed word split into cells, or its pattern)."""
    values = list(values)
    if isa.variable:
        for o, v in zip(ins.operands, values):
            if not 0 <= v < o.domain_size or v & o.zeros:
                raise IsaError(f"operand '{o.name}' value {v} is outside its domain (0..{o.domain_size - 1}"
                               + (f", bits {o.zeros:#x} clear)" if o.zeros else ")"), instruction=ins.mnemonic)
        return _split(isa, ins.pattern.encode(dict(zip((o.name for o in ins.operands), values))))
    word = encode(isa, ins, values)
    units = isa.units_per_word
    cell = isa.word // units
    return [(word >> ((units - 1 - k) * cell)) & mask(cell) for k in range(units)]


def _split(isa: Isa, units: list[int]) -> list[int]:
    """Encoding units -> code-memory cells, in the ISA's byte order."""
    k = isa.cells_per_unit
    if k == 1:
        return units
    cell = isa.unit // k  # type: ignore[operator]
    order = range(k - 1, -1, -1) if isa.endian == "big" else range(k)
    return [(u >> (j * cell)) & mask(cell) for u in units for j in order]


def _join(isa: Isa, cells: list[int]) -> list[int]:
    k = isa.cells_per_unit
    if k == 1:
        return cells
    cell = isa.unit // k  # type: ignore[operator]
    out = []
    for i in range(0, len(cells) - k + 1, k):
        chunk = cells[i:i + k]
        if isa.endian != "big":
            chunk = chunk[::-1]
        u = 0
        for c in chunk:
            u = (u << cell) | c
        out.append(u)
    return out


def decode_units(isa: Isa, units: list[int]) -> Optional[tuple[Instruction, tuple[int, ...]]]:
    """Decode the instruction at the start of ``units`` (code-memory cells); None for an
    undefined encoding."""
    if not isa.variable:
        n = isa.units_per_word
        if len(units) < n:
            return None
        cell = isa.word // n
        word = 0
        for u in units[:n]:
            word = (word << cell) | u
        return decode(isa, word)
    hit = isa.derived.decoder.decode(_join(isa, units))
    if hit is None:
        return None
    k, vals = hit
    ins = isa.instructions[k]
    return ins, tuple(vals[o.name] % o.domain_size for o in ins.operands)


def disassemble_units(isa: Isa, units: list[int]) -> list[str]:
    """Decode a run of cells instruction by instruction (``.word`` for undefined cells)."""
    out, k = [], 0
    while k < len(units):
        hit = decode_units(isa, units[k:])
        if hit is None:
            step = isa.cells_per_unit if isa.variable else 1
            word = _join(isa, units[k:k + step]) if isa.variable else units[k:k + 1]
            out.append(f".word {(word or units[k:k + 1])[0]:#x}")
            k += step
            continue
        ins, vals = hit
        out.append(format_instruction(isa, ins, vals))
        k += ins.length
    return out


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
    """One compiled regex per instruction form, from its syntax template; forms of one
    assembly mnemonic are tried in table order."""

    def __init__(self, isa: Isa):
        self.by_mnemonic: dict[str, list[tuple[Instruction, re.Pattern]]] = {}
        # a label may not look like a register, so forms that differ by operand kind stay apart
        banks = "|".join(re.escape(b) for b in isa.banks)
        self.symbol = rf"(?!(?:{banks})\d+\b){SYMBOL}" if banks else SYMBOL
        for ins in isa.instructions:
            self.by_mnemonic.setdefault(ins.assembly_mnemonic.upper(), []).append((ins, self._regex(ins)))

    def match(self, line: str) -> tuple[Optional[Instruction], Optional[re.Match], list[Instruction]]:
        forms = self.by_mnemonic.get(line.split()[0].upper(), [])
        for ins, rx in forms:
            mo = rx.match(line)
            if mo:
                return ins, mo, [f for f, _ in forms]
        return None, None, [f for f, _ in forms]

    def _regex(self, ins: Instruction) -> re.Pattern:
        out = []
        pos = 0
        for mo in SYNTAX_FIELD.finditer(ins.syntax):
            out.append(_literal(ins.syntax[pos:mo.start()]))
            o = ins.operand(mo.group(1))
            pat = rf"(?P<{o.name}>{o.bank}\d+)" if o.kind == "reg" else rf"(?P<{o.name}>{NUMBER}|{self.symbol})"
            out.append(pat)
            pos = mo.end()
        out.append(_literal(ins.syntax[pos:]))
        return re.compile(r"^\s*" + "".join(out) + r"\s*$", re.IGNORECASE)


def _literal(text: str) -> str:
    parts = [re.escape(p) for p in re.split(r"\s+", text)]
    return r"\s*".join(parts) if text.strip() else (r"\s+" if text else "")


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
    if v & o.zeros:
        raise AsmError(f"{ins.mnemonic}: operand '{o.name}' value {text} has bits {v & o.zeros:#x} set, which "
                       f"its encoding cannot hold", source=source, line=line)
    return v


def assemble(isa: Isa, text: str, *, origin: int = 0, source: str = "<program>") -> Program:
    """Two passes: choose each line's form and collect labels, then encode. Errors name the line."""
    isa.finalize()
    tpl = isa.derived.fact("asm.templates", lambda: _Templates(isa))
    # (line, address, text, form, match)
    stmts: list[tuple[int, int, str, Optional[Instruction], Optional[re.Match]]] = []
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
        if line.lower().startswith(".word"):
            stmts.append((lineno, addr, line, None, None))
            addr += isa.cells_per_unit if isa.variable else isa.units_per_word
            continue
        ins, mo, forms = tpl.match(line)
        if ins is None:
            if not forms:
                raise AsmError(f"unknown instruction '{line.split()[0]}'", source=source, line=lineno)
            syntax = " or ".join(f"'{f.syntax}'" for f in forms)
            raise AsmError(f"'{line}' does not match the syntax {syntax}", source=source, line=lineno)
        stmts.append((lineno, addr, line, ins, mo))
        addr += ins.length
    prog = Program(labels=labels)
    for lineno, here, line, ins, mo in stmts:
        if ins is None:
            arg = line[5:].strip()
            try:
                v = labels[arg] if arg in labels else _parse_int(arg)
            except ValueError:
                raise AsmError(f"bad .word value '{arg}'", source=source, line=lineno) from None
            cells = _split(isa, [v & mask(isa.unit)]) if isa.variable else encode_units_word(isa, v & mask(isa.word))
        else:
            vals = [_operand_value(isa, ins, o, mo.group(o.name), here, labels, source, lineno)  # type: ignore[union-attr]
                    for o in ins.operands]
            cells = encode_units(isa, ins, vals)
        for k, cell in enumerate(cells):
            if here + k in prog.cells:
                raise AsmError(f"address {here + k:#x} is assembled twice", source=source, line=lineno)
            prog.cells[here + k] = cell
        prog.lines[here] = lineno
    return prog


def encode_units_word(isa: Isa, word: int) -> list[int]:
    units = isa.units_per_word
    cell = isa.word // units
    return [(word >> ((units - 1 - k) * cell)) & mask(cell) for k in range(units)]


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
