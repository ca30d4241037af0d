"""The fast path (blocks, inlined fetch) is single-stepping, exactly.

Law: from any state and any program, running on `Machine` (block translation, inlined
translation, cached blocks re-validated against memory) stops where single-stepping
stops -- with the reference evaluator (`isa.evaluator`) and with the compiled
per-instruction step -- with the same reason, count, cause, info and final state. The
programs store into their own code, trap in the middle of blocks, fetch-fault in the
middle of blocks, and their budgets end in the middle of blocks; each runs in several
calls and then again on the same machine (cached blocks, and the path that skips the
fetch checks of a block already run from the same state).
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from virtcheck.fuzz import programs, states
from virtcheck.hypervisor import Machine
from virtcheck.hypervisor.stop import BUDGET, HALTED, TRAP
from virtcheck.isa.concrete import compiled
from virtcheck.isa.evaluator import evaluate, step as ref_step
from virtcheck.isa.lang import (
    EXCEPTION, MEMORY, PRIVILEGE, SYSTEM, USER, Imm, Isa, Reg, Target, concat, const, ite, udiv, zext,
)
from virtcheck.isa.state import MachineState, Memory

Result = tuple  # (reason, executed, cause name, info, on fetch, fields, memories)


def _paged2() -> Isa:
    """Unlike pg3: a word spans two memory cells, and the translation reads a page table in
    memory (so a store can change where the next instruction comes from)."""
    isa = Isa("paged2", word=16)
    isa.opcode_width = 4
    isa.bank("r", 2, 8, USER)
    isa.pc("pc", 8)
    isa.field("sup", 1, SYSTEM)
    isa.field("ptbr", 8, SYSTEM)
    isa.memory("mem", 8, 8)
    isa.cause("page", MEMORY, 1)
    isa.cause("priv", PRIVILEGE, 2)
    isa.cause("div", EXCEPTION, 3)
    isa.mode("s", lambda m: m.sup == 1, supervisor=True)
    isa.mode("u", lambda m: m.sup == 0)
    isa.guest(lambda m: m.sup == 0, doc="user mode")

    @isa.translate
    def tr(m, vaddr, units, access):
        pte = m.phys_load(m.ptbr + zext(vaddr[7:4], 8))
        m.trap_if(pte[7] == 0, "page", info=zext(vaddr, 16))
        return concat(pte[3:0], vaddr[3:1], const(0, 1))

    @isa.on_trap
    def trap(m, cause, info):
        m.sup = const(1, 1)
        m.pc = const(0, 8)

    R = Reg("r")

    @isa.instruction("NOP")
    def NOP(m):
        pass

    @isa.instruction("LI {rd}, {imm}", rd=R, imm=Imm(8))
    def LI(m, rd, imm):
        m.r[rd] = imm

    @isa.instruction("ADD {rd}, {rs}", rd=R, rs=R)
    def ADD(m, rd, rs):
        m.r[rd] = m.r[rd] + m.r[rs]

    @isa.instruction("ST {rt}, {rs}", rt=R, rs=R)
    def ST(m, rt, rs):
        m.store(m.r[rs], m.r[rt])

    @isa.instruction("LD {rd}, {rs}", rd=R, rs=R)
    def LD(m, rd, rs):
        m.r[rd] = m.load(m.r[rs])

    @isa.instruction("DIV {rd}, {rs}", rd=R, rs=R)
    def DIV(m, rd, rs):
        m.trap_if(m.r[rs] == 0, "div")
        m.r[rd] = udiv(m.r[rd], m.r[rs])

    @isa.instruction("BNE {rs}, {rt}, {off}", rs=R, rt=R, off=Target(4, pcrel=True))
    def BNE(m, rs, rt, off):
        m.pc = ite(m.r[rs] != m.r[rt], m.rel(off), m.next_pc)

    @isa.instruction("SETPT {rs}", rs=R)
    def SETPT(m, rs):
        m.trap_if(m.sup == 0, "priv")
        m.ptbr = m.r[rs]

    @isa.instruction("HALT")
    def HALT(m):
        m.trap_if(m.sup == 0, "priv")
        m.halt()

    return isa.finalize()


PAGED2 = _paged2()


def _word_cells(isa: Isa, w: int) -> list[int]:
    cell = isa.memories[isa.code_memory].width
    units = isa.units_per_word
    return [(w >> ((units - 1 - k) * cell)) & ((1 << cell) - 1) for k in range(units)]


# --- the two references -----------------------------------------------------------------
def _reference(isa: Isa, state: MachineState, budgets: list[int]) -> Result:
    """Single steps on the tree-walking evaluator."""
    c = compiled(isa)
    fetch = isa.fetch_effects  # type: ignore[attr-defined]
    code = isa.code_memory
    n = 0
    for budget in budgets:
        for _ in range(budget):
            trap = next((x for x in fetch.exits if evaluate(x.cond, state, {})), None)
            if trap is not None:
                return _result(isa, TRAP, n, trap.cause.name, evaluate(trap.info, state, {}), True, state)
            a = evaluate(fetch.result, state, {})
            w = 0
            for k in range(isa.units_per_word):
                w = (w << isa.memories[code].width) | state.memories[code][a + k]  # type: ignore[index]
            ins, vals = c.decode(w)
            out, state = ref_step(isa, ins, {o.name: v for o, v in zip(ins.operands, vals)}, state)
            if out.kind == "halt":
                return _result(isa, HALTED, n, None, 0, False, state)
            if out.kind == "trap":
                return _result(isa, TRAP, n, out.cause, out.info, False, state)
            n += 1
    return _result(isa, BUDGET, n, None, 0, False, state)


def _compiled_steps(isa: Isa, state: MachineState, budgets: list[int]) -> Result:
    """Single steps with the backend's compiled fetch and per-instruction step."""
    c = compiled(isa)
    S, mems = state.flat(isa)
    code = mems[c.layout.memories.index(isa.code_memory)]  # type: ignore[arg-type]
    cell = isa.memories[isa.code_memory].width  # type: ignore[index]
    n = 0
    for budget in budgets:
        for _ in range(budget):
            a = c.fetch(S, *mems)
            if a.__class__ is tuple:
                return _flat_result(isa, TRAP, n, a[0].name, a[1], True, S, mems)
            w = 0
            for k in range(isa.units_per_word):
                w = (w << cell) | code[a + k]
            r = c.step_for(w)(S, *mems)
            if r is not None:
                if r.__class__ is tuple:
                    return _flat_result(isa, TRAP, n, r[0].name, r[1], False, S, mems)
                return _flat_result(isa, HALTED, n, None, 0, False, S, mems)
            n += 1
    return _flat_result(isa, BUDGET, n, None, 0, False, S, mems)


def _fast(m: Machine, S: list[int], budgets: list[int]) -> Result:
    """The fast path: `Machine.execute` in several calls."""
    n = 0
    for budget in budgets:
        stop = m.execute(S, budget)
        n += stop.executed
        if stop.reason != BUDGET:
            return _flat_result(m.isa, stop.reason, n, stop.cause.name if stop.cause else None, stop.info,
                                stop.fetch, S, m.mems)
    return _flat_result(m.isa, BUDGET, n, None, 0, False, S, m.mems)


def _result(isa: Isa, reason: str, n: int, cause: Any, info: int, fetch: bool, state: MachineState) -> Result:
    S, mems = state.flat(isa)
    return _flat_result(isa, reason, n, cause, info, fetch, S, mems)


def _flat_result(isa: Isa, reason: str, n: int, cause: Any, info: int, fetch: bool, S: list[int], mems: Any) -> Result:
    return (reason, n, cause, int(info), fetch, list(S), [list(m) for m in mems])


# --- drawing cases -----------------------------------------------------------------------
def _place(isa: Isa, state: MachineState, words: list[int]) -> MachineState:
    """Put ``words`` where the fetch of ``state`` goes (at 0 if it faults)."""
    c = compiled(isa)
    S, mems = state.flat(isa)
    a = c.fetch(S, *mems)
    at = 0 if a.__class__ is tuple else a
    code = state.memories[isa.code_memory]  # type: ignore[index]
    size = isa.memories[isa.code_memory].size  # type: ignore[index]
    for w in words:
        for v in _word_cells(isa, w):
            if at < size:
                code.cells[at] = v
            at += 1
    return state


def _tight_pg3(state: MachineState, data: st.DataObject) -> None:
    """Code and data at low addresses, so stores land in the code; sometimes a bound that
    ends inside the program, so the fetch faults mid-block."""
    f = state.fields
    f["l"] = 0
    f["P"] = data.draw(st.integers(0, 6))
    f["b"] = data.draw(st.one_of(st.just(4095), st.integers(0, 40)))
    for k in range(8):
        f[f"r{k}"] = data.draw(st.integers(0, 40))


def _tight_paged2(state: MachineState, data: st.DataObject) -> None:
    """A page table mapping most pages to themselves (a few absent), code and data in
    page 0; the table at 0xf0, or at 0x10 where the program's stores reach it (a store
    that moves the code's page under the block)."""
    f = state.fields
    table = f["ptbr"] = data.draw(st.sampled_from([0xF0, 0x10]))
    f["pc"] = data.draw(st.integers(0, 6))
    absent = data.draw(st.sets(st.integers(0, 15), max_size=3))
    mem = state.memories["mem"]
    for k in range(16):
        mem.cells[table + k] = k if k in absent else 0x80 | k
    for k in range(2):
        f[f"r{k}"] = data.draw(st.integers(0, 40))


SETUPS: dict[str, Callable[[MachineState, st.DataObject], None]] = {"pg3": _tight_pg3, "paged2": _tight_paged2}


@pytest.fixture(scope="module", params=["pg3", "paged2"])
def isa(request, machines):
    return machines["pg3"] if request.param == "pg3" else PAGED2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fast_path_is_single_stepping(isa, data):
    words = data.draw(programs(isa, 1, 24), label="program")
    state = data.draw(states(isa), label="state")
    if data.draw(st.booleans(), label="tight"):
        SETUPS[isa.name](state, data)
    state = _place(isa, state, words)
    budgets = data.draw(st.lists(st.integers(0, 40), min_size=1, max_size=3), label="budgets")

    want = _reference(isa, state.copy(), budgets)
    assert _compiled_steps(isa, state.copy(), budgets) == want

    m = Machine(isa)
    for run in range(2):  # the second run finds the blocks of the first
        S, mems = state.flat(isa)
        for dst, src in zip(m.mems, mems):
            dst[:] = src
        assert _fast(m, S, budgets) == want, f"run {run}"


def test_store_into_the_rest_of_a_block_takes_effect(pg3):
    """A block whose first instruction overwrites its third: the new instruction runs."""
    from virtcheck.isa.asm import assemble

    prog = assemble(pg3, """
        start:  LD r2, new(r0)
                ST r2, patch(r0)
                NOP
        patch:  LI r1, 1
                HALT
        new:    LI r1, 2
    """)
    m = Machine(pg3)
    m.load(prog)
    m.execute(m.S, 3)  # build the block, run up to the patched cell
    m.load(prog)
    stop = m.execute(m.S, 100)
    assert stop.reason == HALTED and m.S[m.facts.layout.index["r1"]] == 2


def test_code_changed_between_runs_is_not_run_stale(pg3):
    """Memory written from outside (a monitor, a loader, a test) between two runs: the
    cached block no longer matches its cells and is rebuilt."""
    from virtcheck.isa.asm import assemble

    prog = assemble(pg3, "LI r1, 1\nLI r2, 2\nHALT")
    m = Machine(pg3)
    m.load(prog)
    assert m.execute(m.S, 100).reason == HALTED
    m.mems[0][1] = assemble(pg3, "LI r2, 7").cells[0]
    m.S[m.facts.layout.index["P"]] = 0
    assert m.execute(m.S, 100).reason == HALTED and m.S[m.facts.layout.index["r2"]] == 7


def test_budget_and_trap_in_the_middle_of_a_block(pg3):
    from virtcheck.isa.asm import assemble

    prog = assemble(pg3, "LI r1, 1\nLI r2, 2\nLI r3, 3\nGETR r4\nLI r5, 5\nHALT")
    m = Machine(pg3)
    m.load(prog)
    m.S[m.facts.layout.index["M"]] = 0  # user mode: GETR traps
    assert m.execute(m.S, 2).executed == 2
    stop = m.execute(m.S, 100)
    assert (stop.reason, stop.executed, stop.cause.name) == (TRAP, 1, "privileged")
    ix = m.facts.layout.index
    assert [m.S[ix[f"r{k}"]] for k in range(1, 6)] == [1, 2, 3, 0, 0] and m.S[ix["P"]] == 3
