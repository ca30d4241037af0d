"""Hypothesis strategies derived from an :class:`~virtcheck.isa.model.Isa` (design.md §6).

Nothing here is written for one ISA: instructions, operand domains, field widths, modes
and memory sizes all come from the declarations. Every strategy draws *typed choices*
in an order chosen for shrinking:

* an instruction is its table index first (index 0 is the simplest innocuous instruction,
  NOP on the bundled machines), then each operand, each shrinking toward 0;
* a program is a list of such instructions, so it shrinks to fewer, simpler ones;
* a state's fields shrink toward the ISA's reset state, its memories toward "all zero".

Values are biased toward edge cases (0, 1, all ones, the sign bit, the width and its
neighbours) so zero divisors and extreme shifts are drawn on purpose, not by luck.

Arguments are checked when a strategy is built; a bad one raises
:class:`hypothesis.errors.InvalidArgument` with a message naming the fix.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from virtcheck.isa.asm import encode, from_bytes
from virtcheck.isa.model import Instruction, Isa, MemoryDecl, OperandDecl
from virtcheck.isa.state import MachineState, Memory
from virtcheck.fuzz import predicates, values
from virtcheck.fuzz.configs import GuestConfig, config_space

__all__ = ["instructions", "words", "programs", "states", "memories", "guest_configs"]


def _isa(isa: Any) -> Isa:
    if not isinstance(isa, Isa):
        raise InvalidArgument(f"expected an Isa (e.g. bundled()['pg3']), not {type(isa).__name__}")
    return isa.finalize()


def _biased(edges: Sequence[int], limit: int) -> st.SearchStrategy[int]:
    """An edge case or any value below ``limit``; shrinks to ``edges[0]``."""
    parts = [st.sampled_from(tuple(edges))]
    if limit > values.SMALL:
        parts.append(st.integers(0, values.SMALL - 1))
    parts.append(st.integers(0, limit - 1))
    return st.one_of(parts)


def _operand(o: OperandDecl) -> st.SearchStrategy[int]:
    if o.kind == "reg":
        return st.integers(0, o.domain_size - 1)
    if o.zeros:  # bits the encoding cannot hold (see OperandDecl.zeros)
        return _biased(values.operand_edges(o), o.domain_size).map(lambda v, z=o.zeros: v & ~z)
    return _biased(values.operand_edges(o), o.domain_size)


def _selected(isa: Isa, mnemonics: Optional[Sequence[str]]) -> list[Instruction]:
    if mnemonics is None:
        return list(isa.instructions)
    if isinstance(mnemonics, str):
        raise InvalidArgument(f"mnemonics must be a list of mnemonics, not the string {mnemonics!r}")
    chosen = []
    for name in mnemonics:
        try:
            chosen.append(isa.by_mnemonic(name))
        except KeyError:
            raise InvalidArgument(
                f"ISA '{isa.name}' has no instruction '{name}' "
                f"(declared: {', '.join(i.mnemonic for i in isa.instructions)})"
            ) from None
    if not chosen:
        raise InvalidArgument("mnemonics is empty: no instruction could be drawn")
    return sorted(set(chosen), key=lambda i: i.opcode)  # table order: shrinking still heads to the simplest


def instructions(isa: Isa, *, mnemonics: Optional[Sequence[str]] = None
                 ) -> st.SearchStrategy[tuple[Instruction, tuple[int, ...]]]:
    """``(instruction, operand values)`` with every value inside its operand's domain.

    ``mnemonics`` restricts the draw to some instructions (kept in table order).
    """
    isa = _isa(isa)
    table = _selected(isa, mnemonics)
    operand_sts = [tuple(_operand(o) for o in ins.operands) for ins in table]

    @st.composite
    def draw_instruction(draw: st.DrawFn) -> tuple[Instruction, tuple[int, ...]]:
        k = draw(st.integers(0, len(table) - 1))  # the table index first: shrinks toward NOP
        return table[k], tuple(draw(s) for s in operand_sts[k])

    return draw_instruction()


def words(isa: Isa, *, mnemonics: Optional[Sequence[str]] = None) -> st.SearchStrategy[int]:
    """Canonical encoded instruction words (what the assembler would produce)."""
    isa = _isa(isa)
    return instructions(isa, mnemonics=mnemonics).map(lambda iv: encode(isa, iv[0], iv[1]))


def _check_sizes(min_size: Any, max_size: Any) -> None:
    for name, v in (("min_size", min_size), ("max_size", max_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidArgument(f"{name} must be a non-negative integer, not {v!r}")
    if max_size < min_size:
        raise InvalidArgument(f"max_size={max_size} is less than min_size={min_size}: no program length fits")


def programs(isa: Isa, min_size: int = 1, max_size: int = 32, *, as_bytes: bool = False,
             mnemonics: Optional[Sequence[str]] = None) -> st.SearchStrategy[list[int]]:
    """Lists of instruction words, ``min_size`` to ``max_size`` long.

    By default every word is canonical (drawn as instruction + operands, so a program
    shrinks to fewer and simpler instructions). With ``as_bytes=True`` the program is raw
    bytes cut into words by :func:`~virtcheck.isa.asm.from_bytes`: any word, including
    opcodes past the table and operand fields past their domain, which exercises the
    decoder's wrap-around (every chunk decodes); it shrinks toward all-zero bytes, the NOP
    word on an ISA whose opcode 0 is NOP.
    """
    isa = _isa(isa)
    _check_sizes(min_size, max_size)
    if as_bytes:
        if mnemonics is not None:
            raise InvalidArgument("mnemonics cannot restrict a program drawn as_bytes (raw bytes decode to any instruction)")
        n = isa.word // 8
        return st.binary(min_size=min_size * n, max_size=max_size * n).map(lambda b: from_bytes(isa, b))
    return st.lists(words(isa, mnemonics=mnemonics), min_size=min_size, max_size=max_size)


def _cell_values(isa: Isa, m: MemoryDecl) -> st.SearchStrategy[int]:
    base = _biased(values.cell_edges(m), 1 << m.width)
    if values.holds_words(isa, m):
        return st.one_of(base, words(isa))
    return base


def memories(isa: Isa, name: Optional[str] = None) -> st.SearchStrategy[Memory]:
    """A small sparse memory: a default value and up to ``values.MAX_CELLS`` cells set
    apart from it, at addresses biased to the first and last cells. Shrinks to all zero."""
    isa = _isa(isa)
    name = name if name is not None else isa.code_memory
    if name not in isa.memories:
        raise InvalidArgument(f"ISA '{isa.name}' has no memory '{name}' (declared: {', '.join(isa.memories)})")
    m = isa.memories[name]
    cell = _cell_values(isa, m)
    addr = _biased(values.address_edges(m), m.size)
    return st.builds(Memory, cell, st.dictionaries(addr, cell, max_size=values.MAX_CELLS))


def states(isa: Isa, *, mode: Optional[str] = None) -> st.SearchStrategy[MachineState]:
    """Machine states with every field inside its width.

    ``mode`` constrains the state: ``"guest"`` (the ISA's guest configuration),
    ``"supervisor"`` (the mode declared ``supervisor=True``) or a declared mode's name.
    The assignments satisfying it are found once, by Z3, over just the fields the
    predicate reads (see :mod:`virtcheck.fuzz.predicates`); every drawn state satisfies it.
    """
    isa = _isa(isa)
    space = predicates.space(isa, mode)
    constrained = set(space.fields) if space is not None and space.exact else set()
    field_sts = {n: _biased(values.field_edges(isa, f), 1 << f.width)
                 for n, f in isa.fields.items() if n not in constrained}
    memory_sts = {n: memories(isa, n) for n in isa.memories}

    @st.composite
    def draw_state(draw: st.DrawFn) -> MachineState:
        fields = {n: draw(s) for n, s in field_sts.items()}
        if space is not None and (space.exact or not space.holds(fields)):
            # exact: pick a satisfying assignment; a sample: repair a free draw that missed
            fields.update(zip(space.fields, draw(st.sampled_from(space.solutions))))
        mems = {n: draw(s) for n, s in memory_sts.items()}
        return MachineState({n: fields[n] for n in isa.fields}, mems)

    return draw_state()


def guest_configs(isa: Isa, *, max_vms: int = 4, max_depth: int = 3,
                  min_partition: Optional[int] = None) -> st.SearchStrategy[GuestConfig]:
    """Guest configurations that fit the ISA's code memory (see :mod:`virtcheck.fuzz.configs`).

    Shrinks to one VM at depth 1 in the smallest power-of-two partition that fits.
    """
    space = config_space(_isa(isa), max_vms=max_vms, max_depth=max_depth, min_partition=min_partition)
    depths = sorted(space.lowest)

    @st.composite
    def draw_config(draw: st.DrawFn) -> GuestConfig:
        depth = draw(st.sampled_from(depths))
        vms = draw(st.integers(1, space.most_vms[depth]))
        lo, hi = space.lowest[depth], space.largest(vms)
        size = draw(st.one_of(st.sampled_from(space.sizes(depth, vms)), st.integers(lo, hi)))
        return GuestConfig(vms, size, depth)

    return draw_config()

