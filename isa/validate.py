"""Validation at finalize time: every problem becomes one located IsaError.

Runs each semantics function once (see :mod:`virtcheck.isa.semantics`), assigns
opcodes and encoding layouts, and checks the declarations hang together. Errors raised
while a user's function runs are placed at the line of *that* function that caused them.
"""

from __future__ import annotations

import dataclasses
import re
import traceback
from typing import Callable

from virtcheck.isa import expr as E
from virtcheck.isa.derived import Derived
from virtcheck.isa.errors import IsaError
from virtcheck.isa.model import Instruction, Isa, Kind
from virtcheck.isa.semantics import Effects, build, operand_exprs

SYNTAX_FIELD = re.compile(r"\{(\w+)\}")


def _site(fn: Callable, exc: BaseException, fallback: str) -> str:
    """``file:line`` of the deepest frame inside ``fn``'s file, else ``fallback``."""
    target = fn.__code__.co_filename
    where = fallback
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == target:
            where = f"{frame.filename}:{frame.lineno}"
    return where


def run_located(fn: Callable, where: str, instruction: str | None, *args, length: int = 0) -> Effects:
    """Build ``fn``'s effects; any error comes out located at the offending line."""
    try:
        return build(*args, length=length)
    except IsaError as exc:
        raise exc.located(_site(fn, exc, where), instruction) from None
    except Exception as exc:  # a Python error in the user's semantics function
        raise IsaError(f"{type(exc).__name__}: {exc}", where=_site(fn, exc, where), instruction=instruction) from None


def _layout(isa: Isa, ins: Instruction) -> None:
    top = isa.word - isa.opcode_width
    layout = []
    for o in ins.operands:
        lo = top - o.field
        if lo < 0:
            need = sum(x.field for x in ins.operands)
            raise IsaError(
                f"operands need {need} bits but a {isa.word}-bit word has {top} after the "
                f"{isa.opcode_width}-bit opcode",
                where=ins.where, instruction=ins.mnemonic,
            )
        layout.append((o.name, top - 1, lo))
        top = lo
    ins.layout = tuple(layout)


def _pattern(isa: Isa, ins: Instruction) -> None:
    from virtcheck.isa.encoding import parse

    if not ins.encoding_text:
        raise IsaError(f"ISA '{isa.name}' has variable-length encodings: give every instruction an encoding=",
                       where=ins.where, instruction=ins.mnemonic)
    try:
        pat = parse(ins.encoding_text, isa.unit, isa.endian)  # type: ignore[arg-type]
    except IsaError as exc:
        raise exc.located(ins.where, ins.mnemonic) from None
    declared = {o.name: o for o in ins.operands}
    for name, width in pat.widths.items():
        o = declared.get(name)
        if o is None:
            raise IsaError(f"encoding field '{name}' is not a declared operand "
                           f"(declared: {', '.join(declared) or 'none'})", where=ins.where, instruction=ins.mnemonic)
        if o.width > width:
            raise IsaError(f"operand '{name}' has a {o.width}-bit domain but only {width} bits in the encoding",
                           where=ins.where, instruction=ins.mnemonic)
    for name in declared:
        if name not in pat.widths:
            raise IsaError(f"operand '{name}' does not appear in encoding '{ins.encoding_text}'",
                           where=ins.where, instruction=ins.mnemonic)
    ins.operands = tuple(dataclasses.replace(o, zeros=pat.zeros(o.name) & ((1 << o.width) - 1))
                         if pat.zeros(o.name) else o for o in ins.operands)
    ins.pattern = pat
    ins.length = pat.length * isa.cells_per_unit  # in code-memory cells, as the pc counts


def _check_syntax(ins: Instruction) -> None:
    names = SYNTAX_FIELD.findall(ins.syntax)
    declared = [o.name for o in ins.operands]
    # a dotted assembly mnemonic (RISC-V FENCE.I, SFENCE.VMA) names a function with "_"
    first = ins.syntax.split()[0].upper().replace(".", "_") if ins.syntax.split() else ""
    if not first or not (ins.mnemonic.upper() == first or ins.mnemonic.upper().startswith(first + "_")):
        raise IsaError(
            f"syntax '{ins.syntax}' must start with the mnemonic", where=ins.where, instruction=ins.mnemonic
        )
    for n in names:
        if n not in declared:
            raise IsaError(
                f"syntax '{ins.syntax}' names operand '{n}', which is not declared "
                f"(declared: {', '.join(declared) or 'none'})",
                where=ins.where, instruction=ins.mnemonic,
            )
    for n in declared:
        if names.count(n) != 1:
            raise IsaError(
                f"operand '{n}' must appear exactly once in syntax '{ins.syntax}'",
                where=ins.where, instruction=ins.mnemonic,
            )


def _check_decodable(isa: Isa):
    from virtcheck.isa.encoding import Decoder

    dec = Decoder([i.pattern for i in isa.instructions], isa.unit)  # type: ignore[arg-type]
    for a, b in dec.overlaps():
        first, later = isa.instructions[a], isa.instructions[b]
        raise IsaError(f"can never be decoded: '{first.mnemonic}' ({first.where}) matches every encoding of it",
                       where=later.where, instruction=later.mnemonic)
    return dec


def finalize(isa: Isa) -> Derived:
    """Validate ``isa`` and derive its facts; the caller keeps the returned object."""
    where = isa.where
    if isa.pc_name is None:
        raise IsaError(f"ISA '{isa.name}' declares no program counter (use isa.pc(...))", where=where)
    if not isa.memories:
        raise IsaError(f"ISA '{isa.name}' declares no memory (use isa.memory(...))", where=where)
    if isa.variable and isa.unit % isa.memories[isa.code_memory].width:
        raise IsaError(f"ISA '{isa.name}': encoding unit of {isa.unit} bits is not a whole number of the "
                       f"{isa.memories[isa.code_memory].width}-bit cells of '{isa.code_memory}'", where=where)
    if not isa.variable and isa.word % isa.memories[isa.code_memory].width:
        raise IsaError(f"ISA '{isa.name}': instruction word of {isa.word} bits is not a whole number of "
                       f"'{isa.code_memory}' cells", where=where)
    if isa.supervisor is None:
        raise IsaError(f"ISA '{isa.name}' has no supervisor mode (declare one with supervisor=True)", where=where)
    if isa.guest_fn is None:
        raise IsaError(f"ISA '{isa.name}' declares no guest configuration (use isa.guest(...))", where=where)
    if isa.trap_fn is None:
        raise IsaError(f"ISA '{isa.name}' declares no trap semantics (use @isa.on_trap)", where=where)
    if not isa.instructions:
        raise IsaError(f"ISA '{isa.name}' has no instructions", where=where)
    if not isa.variable and len(isa.instructions) > 1 << isa.opcode_width:
        raise IsaError(
            f"ISA '{isa.name}' has {len(isa.instructions)} instructions; a {isa.opcode_width}-bit opcode holds "
            f"{1 << isa.opcode_width}", where=where,
        )
    if not any(c.kind is Kind.PRIVILEGE for c in isa.causes.values()):
        raise IsaError(f"ISA '{isa.name}' declares no trap cause of kind PRIVILEGE", where=where)

    from virtcheck.isa.semantics import Builder

    # Modes and the guest configuration must be 1-bit predicates over the state.
    for name, pred in list(isa.modes.items()) + [("guest configuration", isa.guest_fn)]:
        try:
            p = pred(Builder(isa))
        except IsaError as exc:
            raise exc.located(where) from None
        if not isinstance(p, E.Expr) or p.width != 1:
            raise IsaError(f"mode '{name}' must be a 1-bit predicate over the state", where=where)

    pc_w = isa.pc_field.width
    for opcode, ins in enumerate(isa.instructions):
        ins.opcode = opcode
        _check_syntax(ins)
        if isa.variable:
            _pattern(isa, ins)
        else:
            _layout(isa, ins)
            ins.length = isa.units_per_word
        eff = run_located(ins.semantics, ins.where, ins.mnemonic, isa, ins.semantics, *operand_exprs(ins),
                          length=ins.length)
        if isa.pc_name not in eff.writes:
            eff.writes[isa.pc_name] = E.Field.make(isa.pc_name, pc_w) + ins.length
        ins.effects = eff
    decoder = _check_decodable(isa) if isa.variable else None

    # Trap entry, one effects per cause; fetch through the translation.
    trap_effects = {}
    info = E.Operand.make("info", isa.word)
    for cause in isa.causes.values():
        trap_effects[cause.name] = run_located(isa.trap_fn, where, None, isa, isa.trap_fn, cause, info)
    pc = E.Field.make(isa.pc_name, pc_w)
    code = isa.memories[isa.code_memory]
    fetch_addr = E.resize(pc, code.addr_width)

    def fetch(m):
        return m.translate(fetch_addr, 1 if isa.variable else isa.units_per_word, "fetch")

    fx = run_located(isa.translate_fn or fetch, where, None, isa, fetch)
    return Derived(trap_effects, fx, decoder)
