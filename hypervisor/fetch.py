"""Direct execution of ISAs whose instructions vary in length (``Isa.unit``: x86 bytes,
M68000 16-bit words in byte memory).

An instruction is fetched the way the ISA says, then decoded, then run:

* **fetch**: the compiled fetch (`CompiledIsa.fetch`) translates the pc, i.e. the first
  cell. Every further cell the decoder looks at is translated on its own with the ISA's
  translation (access ``fetch``), whose faults are fetch faults. When that translation
  is the identity (it has no exits and gives the address back, as on every bundled
  variable-length ISA), the cells are the consecutive physical ones and nothing is
  translated per cell;
* **decode**: first match over the ISA's encoding patterns (`Isa.decoder`, the one
  `isa.asm.decode_units` uses). What an instruction is depends on every cell a pattern
  tried before it looked at, not only on its own, so each decode remembers that window;
  a pattern that needs a cell whose translation faults makes the fetch fault there, as
  the hardware would while reading the instruction. Cells that match no pattern are an
  undefined instruction: the models declare no trap for one, so the run stops with
  `stop.UNDEFINED` (the pc as its info) instead;
* **run**: the form's compiled step (`CompiledIsa.step_of`), cached per window of cells.
  A decode cached at an address is used only while its window still equals memory (one
  slice compare), so self-modifying code stays exact.

The run loop counts each instruction into the tally as a one-instruction `Block`, so
per-instruction accounting (`tally.fold`) is the same as for fixed-width ISAs. It applies
no trap semantics (the caller's job, as for `runloop`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

from virtcheck.isa import expr as E
from virtcheck.isa.concrete import CompiledIsa
from virtcheck.isa.expr import mask
from virtcheck.isa.semantics import build
from virtcheck.hypervisor.blocks import CACHE_LIMIT, Block
from virtcheck.hypervisor.stop import BUDGET, HALTED, TRAP, UNDEFINED, RawStop

#: what `VariableFetch.lookup` returns for cells that match no encoding
UNDEFINED_RESULT = UNDEFINED


class VariableFetch:
    """Fetch and decode of one variable-length ISA (shared by every machine of it: it
    holds no machine state, only decodes keyed by the cells they were made from)."""

    def __init__(self, c: CompiledIsa):
        isa = c.isa
        self.c = c
        self.isa = isa
        lay = c.layout
        self.code_index = lay.memories.index(isa.code_memory)  # type: ignore[arg-type]
        mem = isa.memories[isa.code_memory]  # type: ignore[index]
        self.size = mem.size
        self.amask = mask(mem.addr_width)
        self.pc = lay.index[isa.pc_name]  # type: ignore[index]
        self.cpu = isa.cells_per_unit
        self.cell_bits = mem.width
        self.big = isa.endian == "big"
        dec = isa.decoder  # type: ignore[attr-defined]
        self.patterns = dec.patterns
        self.by_first = dec.by_first
        self.wild = dec.wild
        #: cells the longest pattern covers: the most any decode looks at
        self.window = max(p.length for p in self.patterns) * self.cpu
        vaddr = E.Operand.make("vaddr", mem.addr_width)
        eff = build(isa, lambda m: m.translate(vaddr, 1, "fetch", isa.code_memory))
        #: the translation is the identity: cells are consecutive physical addresses
        self.linear = not eff.exits and not eff.stores and not eff.writes and eff.result is vaddr
        self.translate: Optional[Callable] = None
        if not self.linear:
            self.translate = c.compile_effects("fetch_cell", eff, ["vaddr"], exits=True, result=True)
        self._forms: dict[tuple, tuple[Callable, str]] = {}
        #: one Block per (address, window): a stable tally key for what ran there
        self._blocks: dict[tuple, Block] = {}

    # --- decoding ------------------------------------------------------------------------
    def _units(self, cells: Sequence[int]) -> list[int]:
        k = self.cpu
        if k == 1:
            return list(cells)
        out = []
        for i in range(0, len(cells) - k + 1, k):
            chunk = cells[i:i + k] if self.big else cells[i:i + k][::-1]
            u = 0
            for cell in chunk:
                u = (u << self.cell_bits) | cell
            out.append(u)
        return out

    def decide(self, cells: Sequence[int]) -> tuple[Optional[int], int, bool]:
        """First match over the patterns on ``cells`` (the cells from the pc on that could be
        read): ``(pattern index or None, cells examined, more needed)``. ``more needed``:
        a pattern matched every cell there was but is longer (the next cell's fetch
        faulted). ``cells examined`` is the window the answer depends on."""
        units = self._units(cells)
        n = len(units)
        if not n:
            return None, 0, True
        examined = 1
        cands = self.by_first.get(units[0], [])
        for k in (sorted(cands + self.wild) if self.wild else cands):
            p = self.patterns[k]
            for j, (m, v) in enumerate(zip(p.masks, p.values)):
                if j >= n:
                    return None, examined * self.cpu, True
                if units[j] & m != v:
                    if j + 1 > examined:
                        examined = j + 1
                    break
            else:
                return k, max(examined, p.length) * self.cpu, False
        return None, examined * self.cpu, False

    def form(self, cells: tuple[int, ...], k: int) -> tuple[Callable, str]:
        """The compiled step and mnemonic of pattern ``k`` on ``cells`` (cached per cells)."""
        hit = self._forms.get(cells)
        if hit is None:
            ins = self.isa.instructions[k]
            raw = self.patterns[k].extract(self._units(cells))
            vals = tuple(raw[o.name] % o.domain_size for o in ins.operands)
            if len(self._forms) >= CACHE_LIMIT:
                self._forms.clear()
            hit = self._forms[cells] = (self.c.step_of(ins, vals), ins.mnemonic)
        return hit

    # --- fetching ------------------------------------------------------------------------
    def cells_at(self, S: list[int], mems: Sequence[Any], a: int) -> tuple[list[int], Any]:
        """The cells of the instruction window whose first cell is at physical ``a``: up to
        `window` cells, stopping before the first whose translation faults (returned too,
        else None). Memories are indexed cell by cell (they may be partition views)."""
        code = mems[self.code_index]
        if self.linear:
            m = self.amask
            return [code[(a + k) & m] for k in range(self.window)], None
        pc = S[self.pc] & self.amask
        cells = [code[a]]
        for k in range(1, self.window):
            p = self.translate(S, *mems, (pc + k) & self.amask)  # type: ignore[misc]
            if p.__class__ is tuple:
                return cells, p
            cells.append(code[p])
        return cells, None

    def lookup(self, S: list[int], mems: Sequence[Any], a: int) -> Union[tuple, Block, str]:
        """What runs next, its first cell at physical ``a``: a one-instruction `Block`
        (``first`` its step), a fetch fault ``(cause, info)`` or `UNDEFINED_RESULT`."""
        cells, fault = self.cells_at(S, mems, a)
        k, examined, more = self.decide(cells)
        if more and fault is not None:
            return fault
        if k is None:
            return UNDEFINED_RESULT
        window = tuple(cells[:examined])
        key = (a, window)
        blk = self._blocks.get(key)
        if blk is None:
            step, mnemonic = self.form(window, k)
            if len(self._blocks) >= CACHE_LIMIT:
                self._blocks.clear()
            blk = self._blocks[key] = Block(a, list(window), (mnemonic,), step, step)
        return blk

    def step_once(self, S: list[int], mems: Sequence[Any]) -> tuple[Any, str, bool]:
        """One instruction on ``S``: ``(result, mnemonic, on_fetch)`` where result is the
        step's (None, halt, ``(cause, info)``), a fetch fault, or `UNDEFINED_RESULT`."""
        a = self.c.fetch(S, *mems)
        if a.__class__ is tuple:
            return a, "<fetch>", True
        hit = self.lookup(S, mems, a)
        if hit.__class__ is Block:
            return hit.first(S, *mems), hit.mnemonics[0], False  # type: ignore[union-attr]
        if hit is UNDEFINED_RESULT:
            return hit, "<undefined>", False
        return hit, "<fetch>", True


def variable_fetch(c: CompiledIsa) -> VariableFetch:
    """The (cached) fetch and decode of a compiled variable-length ISA."""
    return c.isa.derived.fact("fetch.variable", lambda: VariableFetch(c))


class DecodeTable:
    """One machine's decodes by physical address (checked against memory before use)."""

    def __init__(self, vf: VariableFetch):
        self.vf = vf
        self.blocks: dict[int, Block] = {}

    def clear(self) -> None:
        self.blocks.clear()


def make_variable_runloop(vf: VariableFetch, mems: Sequence[list[int]], own: dict,
                          table: Optional[DecodeTable] = None) -> Callable[..., RawStop]:
    """``direct(S, budget, T=None) -> RawStop`` on ``mems`` (see `runloop.RunLoop`)."""
    if table is None:
        table = DecodeTable(vf)
    blocks = table.blocks
    code = mems[vf.code_index]
    mems = tuple(mems)
    pc, amask = vf.pc, vf.amask
    fetch = vf.c.fetch
    linear = vf.linear
    lookup = vf.lookup

    def direct(S: list[int], budget: int, T: Optional[dict] = None) -> RawStop:
        if T is None:
            T = own
        tget = T.get
        get = blocks.get
        n = 0
        while n < budget:
            if linear:
                a = S[pc] & amask
            else:
                a = fetch(S, *mems)
                if a.__class__ is tuple:
                    return TRAP, n, a[0], int(a[1]), True
            b = get(a)
            if b is None or code[a:b.end] != b.cells or not linear:
                b = lookup(S, mems, a)
                if b.__class__ is not Block:
                    if b is UNDEFINED_RESULT:
                        return UNDEFINED, n, None, S[pc], False
                    return TRAP, n, b[0], int(b[1]), True  # type: ignore[index]
                if linear:
                    blocks[a] = b  # type: ignore[assignment]
            r = b.first(S, *mems)  # type: ignore[union-attr]
            if r is None:
                n += 1
                T[b] = tget(b, 0) + 1
                continue
            if r.__class__ is tuple:
                return TRAP, n, r[0], int(r[1]), False
            return HALTED, n, None, 0, False
        return BUDGET, n, None, 0, False

    return direct
