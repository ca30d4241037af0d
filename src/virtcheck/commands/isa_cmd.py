"""``virtcheck isa``: look at ISA definitions without checking them.

``isa list`` names the bundled machines; ``isa show`` prints everything a definition
declares (state and roles, modes, guest configuration, causes, instructions with their
operand domains, encodings and read/write sets), so a user can see what the checker will
quantify over before asking it to.
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

import click
from tabulate import tabulate

from virtcheck.isa.errors import IsaError
from virtcheck.isa.model import Instruction, Isa, OperandDecl

EXIT_USAGE = 2


def _read_write_fn() -> Optional[Callable[[Isa, Instruction], tuple[list[str], list[str]]]]:
    """``virtcheck.isa.flow.read_write`` if this installation has it, else None."""
    try:
        from virtcheck.isa.flow import read_write
    except ImportError:
        return None
    return read_write


def domain(o: OperandDecl) -> str:
    """An operand's values in words: ``r0-r7``, ``0..65535``, ``-32768..32767``, ``pc-2048..pc+2047``."""
    size = o.domain_size
    if o.kind == "reg":
        return f"{o.bank}0-{o.bank}{size - 1}"
    if o.signed:
        lo, hi = -(1 << (o.width - 1)), (1 << (o.width - 1)) - 1
        return f"pc{lo:+d}..pc{hi:+d}" if o.pcrel else f"{lo}..{hi}"
    return f"0..{size - 1}"


def operand_text(o: OperandDecl) -> str:
    kind = {"reg": "register", "imm": "immediate", "target": "pc-relative target" if o.pcrel else "target"}
    return f"{o.name}: {kind.get(o.kind, o.kind)} {domain(o)}"


def encoding_text(isa: Isa, ins: Instruction) -> str:
    """``opcode[31:26]=0x10 rd[25:23] rs[22:20] imm[19:8]`` (bits not listed are zero)."""
    top = isa.word - 1
    parts = [f"opcode[{top}:{isa.word - isa.opcode_width}]={ins.opcode:#x}"]
    parts += [f"{name}[{hi}:{lo}]" if hi != lo else f"{name}[{hi}]" for name, hi, lo in ins.layout]
    return " ".join(parts)


def _fold_banks(isa: Isa) -> list[list[str]]:
    rows: list[list[str]] = []
    for name, f in isa.fields.items():
        if f.bank is not None:
            b = isa.banks[f.bank]
            if name == b.member(0):
                rows.append([f"{b.member(0)}-{b.member(b.count - 1)}", str(b.width), b.role.value,
                             f"bank '{b.name}' of {b.count}: {b.doc}".rstrip(": ")])
            continue
        doc = f.doc + (" (program counter)" if name == isa.pc_name and "program counter" not in f.doc else "")
        rows.append([name, str(f.width), f.role.value, doc])
    return rows


def show_text(isa: Isa) -> str:
    """Everything ``isa`` declares, as text."""
    lines = [f"{isa.name}: {isa.doc}" if isa.doc else isa.name]
    if isa.source:
        lines.append(f"  source: {isa.source}")
    if isa.derived_from:
        lines.append(f"  derived from: {isa.derived_from}")
    lines.append(f"  instruction word: {isa.word} bits, opcode {isa.opcode_width} bits")
    lines.append(f"  defined at: {isa.where}")
    lines += ["", "Fields"]
    lines += _indent(tabulate(_fold_banks(isa), headers=["field", "width", "role", "doc"], disable_numparse=True))
    if isa.composites:
        lines += ["", "Composite registers"]
        for c in isa.composites.values():
            parts = ", ".join(f"{p.field}[{p.hi}:{p.lo}]" for p in c.parts)
            lines.append(f"  {c.name} ({c.width} bits): {parts}; other bits read {c.fixed:#x}")
    lines += ["", "Memories"]
    for m in isa.memories.values():
        code = " (code)" if m.name == isa.code_memory else ""
        lines.append(f"  {m.name}: {m.size} cells of {m.width} bits{code}" + (f": {m.doc}" if m.doc else ""))
    lines += ["", "Modes"]
    for name in isa.modes:
        lines.append(f"  {name}" + (" (supervisor)" if name == isa.supervisor else ""))
    lines += ["", f"Guest configuration: {isa.guest_doc or '-'}", "", "Trap causes"]
    rows = [[c.name, c.kind.value, str(c.code), c.doc] for c in isa.causes.values()]
    lines += _indent(tabulate(rows, headers=["cause", "kind", "code", "doc"], disable_numparse=True))
    lines += ["", "Instructions"]
    read_write = _read_write_fn()
    for ins in isa.instructions:
        lines.append(f"  {ins.opcode:>3}  {ins.syntax}" + (f"  -- {ins.doc.splitlines()[0]}" if ins.doc else ""))
        for o in ins.operands:
            lines.append(f"         operand {operand_text(o)}")
        lines.append(f"         encoding {encoding_text(isa, ins)}")
        if read_write is not None:
            reads, writes = read_write(isa, ins)
            lines.append(f"         reads {', '.join(reads) or '-'}; writes {', '.join(writes) or '-'}")
    return "\n".join(lines) + "\n"


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]


def _load(target: str) -> list[Isa]:
    from virtcheck.isa.loader import load

    try:
        return load(target)
    except IsaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


@click.group("isa")
def command() -> None:
    """List the bundled ISAs, or show what an ISA definition declares."""


@command.command("list")
def list_cmd() -> None:
    """The bundled ISAs: name, number of instructions, description, historical source."""
    from virtcheck.isa.machines import bundled

    try:
        rows = [[isa.name, str(len(isa.instructions)), isa.doc, isa.source] for isa in bundled().values()]
    except IsaError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(tabulate(rows, headers=["isa", "instructions", "doc", "source"], disable_numparse=True,
                        maxcolwidths=[None, None, 60, 40]))


@command.command("show")
@click.argument("target", metavar="ISA|FILE")
def show_cmd(target: str) -> None:
    """Fields with widths and roles, modes, guest configuration, trap causes, and every
    instruction with its operands, encoding and read/write sets."""
    isas = _load(target)
    click.echo("\n".join(show_text(isa) for isa in isas), nl=False)
