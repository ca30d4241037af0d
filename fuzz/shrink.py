"""Shrinking a failing case to a minimal one that fails the same way.

"The same way" is the failure's key: the same property and the same first diverging
instruction. The reducer is deterministic (no randomness, so a replay of a campaign
shrinks to the same program) and greedy, in the order Hypothesis would shrink a drawn
case: fewer instructions, then simpler instructions (toward table index 0, the simplest
innocuous one) and smaller operands, then a state closer to the ISA's reset state and a
memory with fewer cells set. It runs the oracle a bounded number of times.
"""

from __future__ import annotations

from typing import Callable, Optional

from virtcheck.fuzz.case import Case
from virtcheck.fuzz.oracles import Failure
from virtcheck.isa.asm import encode
from virtcheck.isa.concrete import compiled
from virtcheck.isa.model import Isa
from virtcheck.isa.state import Memory

Check = Callable[[Case], Optional[Failure]]
#: most oracle runs one shrink may spend
MAX_RUNS = 3000


class _Budget(Exception):
    pass


def shrink(isa: Isa, case: Case, failure: Failure, check: Check, *, max_runs: int = MAX_RUNS,
           should_stop: Callable[[], bool] = lambda: False) -> tuple[Case, Failure]:
    """The smallest case found that still fails with ``failure.key``, and its failure.
    Stops early (keeping the best so far) after ``max_runs`` oracle runs or on ``should_stop``."""
    best, best_f = case.copy(), failure
    runs = [0]

    def fails(c: Case) -> Optional[Failure]:
        if runs[0] >= max_runs or should_stop():
            raise _Budget
        runs[0] += 1
        f = check(c)
        return f if f is not None and f.key == failure.key else None

    def attempt(c: Case) -> bool:
        nonlocal best, best_f
        if not c.program or not _starts_in_program(isa, c):  # the report shows the program: it must run
            return False
        f = fails(c)
        if f is None:
            return False
        best, best_f = c, f
        return True

    try:
        changed = True
        while changed:
            changed = False
            changed |= _budget(best, best_f, attempt)
            # memory first: a cell the program covers is irrelevant and goes, so dropping
            # program words later uncovers the (zeroed) default, never a stray copy of
            # the failing instruction left in memory
            changed |= _memory(isa, lambda: best, attempt)
            changed |= _absorb(isa, lambda: best, attempt)
            changed |= _drop(best, attempt, lambda c: c.program, lambda c, p: setattr(c, "program", p))
            changed |= _drop_before_entry(isa, best, attempt)
            changed |= _simplify_words(isa, lambda: best, attempt)
            changed |= _fields(isa, lambda: best, attempt)
            for k in range(len(best.others)):
                changed |= _drop(best, attempt, lambda c, k=k: c.others[k].program,
                                 lambda c, p, k=k: setattr(c.others[k], "program", p))
    except _Budget:
        pass
    return best, best_f


def _starts_in_program(isa: Isa, c: Case) -> bool:
    """Whether the first fetch succeeds (so the program, placed there, is what runs)."""
    S, mems = c.image(isa)
    return compiled(isa).fetch(S, *mems).__class__ is not tuple


def _absorb(isa: Isa, best: Callable[[], Case], attempt: Callable[[Case], bool]) -> bool:
    """Move code that runs from the state's memory into the program: the report shows the
    program, so a failing instruction must not stay hidden in a memory cell (or in the
    default value every cell holds)."""
    code = isa.code_memory
    changed = False
    m = best().state.memories[code]  # type: ignore[index]
    values = sorted(set(m.cells.values()) | ({m.default} if m.default else set()))
    for v in values:
        cur = best()
        for program in ([v], cur.program + [v]):
            trial = cur.copy()
            trial.program = list(program)
            mem = trial.state.memories[code]  # type: ignore[index]
            mem.cells = {a: x for a, x in mem.cells.items() if x != v}
            if mem.default == v:
                mem.default = 0
            if attempt(trial):
                changed = True
                break
    return changed


def _budget(c: Case, f: Failure, attempt: Callable[[Case], bool]) -> bool:
    want = f.step + 1
    if want >= c.budget or c.others:
        return False
    trial = c.copy()
    trial.budget = want
    if trial.split >= want:
        trial.split = max(0, want - 1)
    return attempt(trial)


def _drop(c: Case, attempt: Callable[[Case], bool], get: Callable, put: Callable) -> bool:
    """Delete chunks of the program, halving the chunk size (delta debugging)."""
    changed = False
    n = max(1, len(get(c)) // 2)
    cur = c
    while n >= 1:
        i = 0
        while i < len(get(cur)):
            prog = get(cur)
            trial = cur.copy()
            put(trial, prog[:i] + prog[i + n:])
            if attempt(trial):
                cur = trial
                changed = True
            else:
                i += n
        n //= 2
    return changed


def _drop_before_entry(isa: Isa, c: Case, attempt: Callable[[Case], bool]) -> bool:
    """Keep only a suffix of the program, with the pc where it was or moved back by the
    dropped words. Halving deletions (``_drop``) never remove a whole prefix at once, and
    a prefix can matter only as padding: once the budget is cut to the failure, shifting
    the code by one word at a time loses it."""
    pc = isa.pc_name
    units = isa.units_per_word
    start = c.state.fields[pc]  # type: ignore[index]
    for k in range(len(c.program) - 1, 0, -1):
        for new_pc in ([start, start - k * units] if start >= k * units else [start]):
            trial = c.copy()
            trial.program = c.program[k:]
            trial.state.fields[pc] = new_pc  # type: ignore[index]
            if attempt(trial):
                return True
    return False


def _simplify_words(isa: Isa, best: Callable[[], Case], attempt: Callable[[Case], bool]) -> bool:
    """Each word toward opcode 0, then each operand toward 0 (zero, then halving)."""
    c = compiled(isa)
    changed = False
    for i in range(len(best().program)):
        ins, vals = c.decode(best().program[i])
        for k in range(ins.opcode):  # a simpler instruction (its operands kept where they fit)
            other = isa.instructions[k]
            ovals = tuple(v % o.domain_size for v, o in zip(vals, other.operands)) + (0,) * max(0, len(other.operands) - len(vals))
            trial = best().copy()
            trial.program[i] = encode(isa, other, ovals[: len(other.operands)])
            if attempt(trial):
                changed = True
                break
        ins, vals = c.decode(best().program[i])
        for j, v in enumerate(vals):
            for smaller in _smaller(v):
                new = list(vals)
                new[j] = smaller
                trial = best().copy()
                trial.program[i] = encode(isa, ins, new)
                if attempt(trial):
                    vals = tuple(new)
                    changed = True
                    break
    return changed


def _smaller(v: int) -> list[int]:
    out = [0, 1] if v > 1 else ([0] if v else [])
    h = v // 2
    while h and len(out) < 6:
        out.append(v - h)
        h //= 2
    return [x for x in dict.fromkeys(out) if x < v]


def _fields(isa: Isa, best: Callable[[], Case], attempt: Callable[[Case], bool]) -> bool:
    changed = False
    for n in isa.fields:
        target = isa.reset_fields.get(n, 0)
        v = best().state.fields[n]
        if v == target:
            continue
        for cand in [target, *(x for x in _smaller(v) if x != target)]:
            trial = best().copy()
            trial.state.fields[n] = cand
            if attempt(trial):
                changed = True
                break
    return changed


def _memory(isa: Isa, best: Callable[[], Case], attempt: Callable[[Case], bool]) -> bool:
    changed = False
    for name in isa.memories:
        if best().state.memories[name].default != 0:
            trial = best().copy()
            m = trial.state.memories[name]
            trial.state.memories[name] = Memory(0, dict(m.cells))
            changed |= attempt(trial)
        for a in sorted(best().state.memories[name].cells):
            trial = best().copy()
            del trial.state.memories[name].cells[a]
            if attempt(trial):
                changed = True
                continue
            v = best().state.memories[name].cells[a]
            if v:
                trial = best().copy()
                trial.state.memories[name].cells[a] = 0
                changed |= attempt(trial)
    return changed
