"""The real machine's inner loop, generated once per ISA in the concrete backend's style.

Direct execution is the hot path of everything here (bare runs and every monitor's
guests), so it is one generated Python function per ISA: fetch through the ISA's own
compiled translation, decode through the backend's per-word cache of step closures,
step, count -- with every lookup in a local variable. It stops on the first trap or halt
and returns it as a value; it never applies trap semantics (that is the caller's job:
the bare driver, or a monitor).
"""

from __future__ import annotations

from typing import Callable

from virtcheck.isa.concrete import CompiledIsa

#: ``execute(S, mems, budget) -> (result, executed, on_fetch)``; ``result`` is ``None``
#: (budget spent), ``HALT`` or ``(cause, info)``.
RunLoop = Callable[[list, list, int], tuple]


def make_runloop(c: CompiledIsa) -> RunLoop:
    lay = c.layout
    isa = c.isa
    mems = [lay.mem_param(m) for m in lay.memories]
    code = lay.mem_param(isa.code_memory)  # type: ignore[arg-type]
    units = isa.units_per_word
    cell = isa.memories[isa.code_memory].width  # type: ignore[index]
    if units == 1:
        word = f"w = {code}[a]"
    else:  # most significant cell first, as the assembler lays words out
        parts = " | ".join(f"({code}[a + {k}] << {(units - 1 - k) * cell})" for k in range(units))
        word = f"w = {parts}"
    margs = ", ".join(mems)
    src = f"""
def execute(S, mems, budget):
    {margs}, = mems
    fetch = _fetch
    get = _cache.get
    step_for = _step_for
    n = 0
    while n < budget:
        a = fetch(S, {margs})
        if a.__class__ is tuple:
            return a, n, True
        {word}
        f = get(w)
        if f is None:
            f = step_for(w)
        r = f(S, {margs})
        if r is not None:
            return r, n, False
        n += 1
    return None, n, False
"""
    ns = {"_fetch": c.fetch, "_cache": c._cache, "_step_for": c.step_for}
    exec(compile(src, f"<virtcheck:runloop:{isa.name}>", "exec"), ns)
    return ns["execute"]  # type: ignore[return-value]
