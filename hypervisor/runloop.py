"""The real machine's inner loop, generated once per ISA in the concrete backend's style.

Direct execution is the hot path of everything here (bare runs and every monitor's
guests), so it is one generated Python function per ISA with the ISA's own compiled
translation inlined (no call per fetch) and blocks of instructions run in one call each
(`blocks`): per instruction, what remains is the instruction's own inlined effects. It
stops on the first trap or halt and returns it as a value; it never applies trap
semantics (that is the caller's job: the bare driver, or a monitor).

It also counts what ran, per block (``tally``: a block for a whole run of it, ``(block,
k)`` for its first k instructions), so per-instruction accounting costs one dictionary
update per block and is folded into mnemonics only when read (`tally.fold`).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from virtcheck.isa.concrete import CompiledIsa, effects_source
from virtcheck.hypervisor.blocks import MAX_REBUILDS, Block, BlockCompiler, block_compiler
from virtcheck.hypervisor.stop import BUDGET, HALTED, TRAP, RawStop

#: ``direct(S, budget, tally=None) -> RawStop`` (`stop.RawStop`)
RunLoop = Callable[..., RawStop]

def _factory(c: CompiledIsa) -> Callable:
    """``make(blocks, build, mems, own) -> direct``: the run loop's source, compiled once
    per ISA; ``direct(S, budget, T=None) -> RawStop`` runs on ``mems`` and counts into
    ``T`` (default ``own``)."""
    return c.isa.derived.fact("runloop.factory", lambda: _build_factory(c))


def _build_factory(c: CompiledIsa) -> Callable:
    lay = c.layout
    isa = c.isa
    mems = ", ".join(lay.mem_param(m) for m in lay.memories)
    code = lay.mem_param(isa.code_memory)  # type: ignore[arg-type]
    fetch, ns = effects_source(lay, isa.fetch_effects, {},  # type: ignore[attr-defined]
                               exit_format="return _TRAP, n, {0}[0], int({0}[1]), True",
                               result_var="a", prefix="f_")
    body = "\n".join(" " * 12 + ln for ln in fetch)
    src = f"""
def make(blocks, build, mems, own):
    def direct(S, budget, T=None):
        {mems}, = mems
        if T is None:
            T = own
        get = blocks.get
        tget = T.get
        n = 0
        while n < budget:
{body}
            b = get(a)
            if b is None or {code}[a:b.end] != b.cells:
                b = build({code}, a)
            if b.length <= budget - n:
                r = b.run(S, {mems})
                if r is None:
                    n += b.length
                    T[b] = tget(b, 0) + 1
                    continue
                r, k, f = r
                if k:
                    n += k
                    key = (b, k)
                    T[key] = tget(key, 0) + 1
                if r is None:
                    continue
            else:
                r = b.first(S, {mems})
                if r is None:
                    n += 1
                    key = (b, 1)
                    T[key] = tget(key, 0) + 1
                    continue
                f = False
            if r.__class__ is tuple:
                return _TRAP, n, r[0], int(r[1]), f
            return _HALTED, n, None, 0, False
        return _BUDGET, n, None, 0, False
    return direct
"""
    ns.update(_TRAP=TRAP, _HALTED=HALTED, _BUDGET=BUDGET)
    exec(compile(src, f"<virtcheck:runloop:{isa.name}>", "exec"), ns)
    return ns["make"]


class BlockTable:
    """One machine's blocks by physical address, rebuilt when the code under them changed."""

    def __init__(self, bc: BlockCompiler):
        self.bc = bc
        self.blocks: dict[int, Block] = {}
        self.builds: dict[int, int] = {}

    def build(self, code: Sequence[int], a: int) -> Block:
        n = self.builds.get(a, 0) + 1
        self.builds[a] = n
        blk = self.bc.build(code, a) if n <= MAX_REBUILDS else self.bc.single(code, a)
        self.blocks[a] = blk
        return blk


    def clear(self) -> None:
        """Forget every block (new code loaded: rebuild counts start again)."""
        self.blocks.clear()
        self.builds.clear()


def make_runloop(c: CompiledIsa, mems: Sequence[list[int]], own: dict,
                 table: Optional[BlockTable] = None) -> RunLoop:
    """A run loop on the memories ``mems`` over ``table`` (default: its own, empty),
    counting into ``own`` unless given a tally: one per machine."""
    if table is None:
        table = BlockTable(block_compiler(c))
    return _factory(c)(table.blocks, table.build, mems, own)
