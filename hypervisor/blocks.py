"""Block translation: a straight line of guest instructions compiled into one Python function.

Single-stepping costs a few Python calls per instruction (fetch, decode lookup, step);
a *block* runs a run of consecutive instructions in one call, each instruction's compiled
effects inlined with its operands as literals (which CPython then folds). A block is keyed
by the physical address of its first instruction and is exactly the single-step semantics:

* **fetch**: every instruction after the first runs the ISA's own translation, inlined. A
  translation trap leaves the block with the instructions before it completed; a
  translation that does not land on the next cell of the block (a taken branch, a changed
  relocation) leaves it too, and the run loop fetches again;
* **traps and halts**: every instruction's exits come before its writes, so a trap of the
  k-th instruction returns with k instructions completed and the state as after them;
* **self-modifying code**: a block holds the code cells it was built from. The run loop
  compares them with memory before entering it (one slice compare), and after any
  instruction that stores into the code memory the block compares the cells still ahead
  of it and leaves when they changed;
* **budget**: the run loop enters a block only when the budget covers all of it, and
  single-steps the tail.

Where a block ends is a speed decision only (the checks above keep it exact): after an
instruction that always exits, that writes the pc other than as a function of the pc alone
(a branch), or that writes a field the fetch reads (a relocation change).

``run(S, <memories>)`` returns ``None`` when every instruction completed, otherwise
``(result, completed, on_fetch)``: ``result`` ``None`` (left early, no trap), ``HALT`` or
``(cause, info)``.

Set ``VIRTCHECK_DUMP_CODE=1`` to print each block's source as it is compiled.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

from virtcheck.isa import expr as E
from virtcheck.isa.concrete import CompiledIsa, effects_source
from virtcheck.isa.model import Instruction

#: the longest block, in instructions (a budget shorter than a block single-steps it)
MAX_BLOCK = 32
#: builds of blocks at one address after which it is single-stepped (self-modifying code
#: rewritten in a loop would otherwise compile a block per iteration)
MAX_REBUILDS = 16
#: compiled blocks kept per ISA (shared by every machine; a block holds no machine state)
CACHE_LIMIT = 20_000


class Block:
    """Consecutive instructions at physical ``start`` of the code memory, ``cells`` their code."""

    __slots__ = ("start", "end", "cells", "length", "run", "mnemonics", "first")

    def __init__(self, start: int, cells: list[int], mnemonics: tuple[str, ...], run: Callable, first: Callable):
        self.start = start
        self.end = start + len(cells)
        self.cells = cells
        self.length = len(mnemonics)
        self.mnemonics = mnemonics
        self.run = run
        self.first = first  #: the first instruction's compiled step (for budget tails)

    def __repr__(self) -> str:
        return f"Block({self.start:#x}: {' '.join(self.mnemonics)})"


def _reads(e: E.Expr) -> set[str]:
    """Fields and banks an expression reads (banks as ``bank:<name>``)."""
    out: set[str] = set()
    for n in E.walk(e):
        if isinstance(n, E.Field):
            out.add(n.name)
        elif isinstance(n, E.RegRead):
            out.add(f"bank:{n.bank}")
    return out


class BlockCompiler:
    """Builds (and caches) the blocks of one ISA."""

    def __init__(self, c: CompiledIsa):
        self.c = c
        isa = c.isa
        self.isa = isa
        lay = c.layout
        self.layout = lay
        self.units = isa.units_per_word
        self.cell = isa.memories[isa.code_memory].width  # type: ignore[index]
        self.code = isa.code_memory
        self.code_index = lay.memories.index(isa.code_memory)
        self.code_size = lay.mem_size[self.code_index]
        self.pc = isa.pc_name
        self.params = ", ".join(lay.mem_param(m) for m in lay.memories)
        fetch = isa.fetch_effects  # type: ignore[attr-defined]
        self.fetch = fetch
        fetch_reads: set[str] = set()
        for root in fetch.roots():
            fetch_reads |= _reads(root)
        fetch_reads |= {f"bank:{lay.bank_of[n]}" for n in fetch_reads if n in lay.bank_of}
        self._fetch_reads = fetch_reads - {self.pc}
        # The fetch is a function of these slots alone unless it reads memory: then a block
        # whose fetches all succeeded once from one entry key succeeds again from it.
        reads_memory = any(isinstance(n, E.Load) for root in fetch.roots() for n in E.walk(root))
        slots = sorted({lay.index[n] for n in fetch_reads if not n.startswith("bank:")}
                       | {i for n in fetch_reads if n.startswith("bank:")
                          for f, b in lay.bank_of.items() if b == n[5:] for i in [lay.index[f]]})
        self.entry_key: Optional[str] = None if reads_memory else "(" + "".join(f"S[{i}], " for i in slots) + ")"
        self._ends: dict[int, bool] = {}
        self._cache: dict[tuple, Block] = {}
        self._names: dict[int, tuple[Instruction, tuple[int, ...]]] = {}

    # --- decoding --------------------------------------------------------------------
    def word_at(self, code: Sequence[int], a: int) -> int:
        w = 0
        for k in range(self.units):
            w = (w << self.cell) | code[a + k]
        return w

    def decoded(self, w: int) -> tuple[Instruction, tuple[int, ...]]:
        hit = self._names.get(w)
        if hit is None:
            hit = self._names[w] = self.c.decode(w)
        return hit

    def ends_block(self, ins: Instruction) -> bool:
        """Whether a block should end after ``ins`` (a speed choice, never a correctness one)."""
        hit = self._ends.get(ins.opcode)
        if hit is None:
            eff = ins.effects
            always_exits = any(isinstance(x.cond, E.Const) and x.cond.value for x in eff.exits)
            pc_write = eff.writes.get(self.pc)  # type: ignore[arg-type]
            branches = pc_write is None or not _reads(pc_write) <= {self.pc} or any(
                isinstance(n, E.Operand) for n in E.walk(pc_write))
            written = set(eff.writes) | {f"bank:{w.bank}" for w in eff.bank_writes}
            for name in eff.writes:
                bank = self.layout.bank_of.get(name)
                if bank:
                    written.add(f"bank:{bank}")
            relocates = bool(written & self._fetch_reads)
            hit = self._ends[ins.opcode] = always_exits or branches or relocates
        return hit

    # --- building ----------------------------------------------------------------------
    def build(self, code: Sequence[int], start: int) -> Block:
        """The block at physical ``start`` of ``code`` as it is now (cached per contents)."""
        units = self.units
        words: list[tuple[int, Instruction, tuple[int, ...]]] = []
        a = start
        while len(words) < MAX_BLOCK and a + units <= self.code_size:
            w = self.word_at(code, a)
            ins, vals = self.decoded(w)
            words.append((w, ins, vals))
            a += units
            if self.ends_block(ins):
                break
        cells = list(code[start:a])
        key = (start, tuple(cells))
        blk = self._cache.get(key)
        if blk is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            blk = self._cache[key] = self._compile(start, cells, words)
        return blk

    def single(self, code: Sequence[int], start: int) -> Block:
        """A one-instruction block that compiles nothing: the backend's cached step."""
        w = self.word_at(code, start)
        ins, _ = self.decoded(w)
        step = self.c.step_for(w)

        def run(S: list[int], *mems: Any) -> Optional[tuple]:
            r = step(S, *mems)
            return None if r is None else (r, 0, False)

        return Block(start, list(code[start:start + self.units]), (ins.mnemonic,), run, step)

    def _body(self, start: int, cells: list[int], words: list[tuple[int, Instruction, tuple[int, ...]]],
              ns: dict[str, Any], *, fetches: bool) -> list[str]:
        """The straight-line source of a block; with ``fetches``, each instruction after
        the first is fetched through the inlined translation and checked to be the next."""
        lay = self.layout
        code_param = lay.mem_param(self.code)
        lines: list[str] = []
        end = start + len(cells)
        for i, (_, ins, vals) in enumerate(words):
            here = start + i * self.units
            if i and fetches:
                body, names = effects_source(lay, self.fetch, {}, exit_format=f"return {{}}, {i}, True",
                                             result_var="a", prefix=f"f{i}_")
                lines += body
                lines.append(f"if a != {here:#x}: return None, {i}, False")
                ns.update(names)
            ops = {o.name: str(v) for o, v in zip(ins.operands, vals)}
            body, names = effects_source(lay, ins.effects, ops, exit_format=f"return {{}}, {i}, False",
                                         prefix=f"s{i}_")
            lines.append(f"# {ins.mnemonic} {vals}")
            lines += body
            ns.update(names)
            ahead = here + self.units
            if ahead < end and any(s.memory == self.code for s in ins.effects.stores):
                ns[f"_K{i}"] = cells[ahead - start:]
                lines.append(f"if {code_param}[{ahead:#x}:{end:#x}] != _K{i}: return None, {i + 1}, False")
        return lines

    def _compile(self, start: int, cells: list[int], words: list[tuple[int, Instruction, tuple[int, ...]]]) -> Block:
        ns: dict[str, Any] = {}
        checked = self._body(start, cells, words, ns, fetches=True)
        if self.entry_key is None or len(words) == 1:
            lines = checked
        else:
            # The fetches of a block depend only on the entry key (see __init__): once a
            # checked run completed from a key, runs from that key skip them.
            ns["_ok"] = [None]
            fast = self._body(start, cells, words, ns, fetches=False)
            lines = [f"key = {self.entry_key}", "if key == _ok[0]:"]
            lines += ["    " + ln for ln in fast]
            lines += ["    return None", *checked, "_ok[0] = key"]
        name = f"block_{start:x}"
        src = f"def {name}(S, {self.params}):\n" + "\n".join("    " + ln for ln in lines) + "\n"
        if os.environ.get("VIRTCHECK_DUMP_CODE"):
            print(f"# --- {name}\n{src}")
        exec(compile(src, f"<virtcheck:{self.isa.name}:{name}>", "exec"), ns)
        first = self.c.step_for(words[0][0])
        return Block(start, cells, tuple(ins.mnemonic for _, ins, _ in words), ns[name], first)


def block_compiler(c: CompiledIsa) -> BlockCompiler:
    """The (cached) block compiler of a compiled ISA."""
    return c.isa.derived.fact("blocks.compiler", lambda: BlockCompiler(c))
