"""The real machine: bare runs, budgets, traps as values, the timer."""

from __future__ import annotations

from virtcheck.hypervisor import Machine, workloads
from virtcheck.hypervisor.stop import BUDGET, HALTED, TRAP
from virtcheck.isa.asm import assemble


def test_kernel_workload_halts_with_its_totals(pg3):
    m = Machine(pg3)
    prog = workloads.load(pg3, "kernel")
    m.load(prog)
    res = m.run(1_000_000)
    assert res.halted
    E = m.mems[0]
    total, ticks, faults, calls = (E[prog.labels[k]] for k in ("total", "ticks", "faults", "calls"))
    assert (total, faults, calls) == (5 * sum(range(150)), 10, 6)
    assert ticks == res.executed // pg3.timer_period
    assert m.log.counts == {"svc": 6, "privileged": 5, "bounds": 5, "timer": ticks}
    assert m.run(10).executed == 0  # a halted machine stays halted


def test_budget_stops_exactly(pg3):
    m = Machine(pg3)
    m.load(workloads.load(pg3, "compute"))
    assert m.run(12_345).executed == 12_345
    assert m.run(655).executed == 655
    assert m.log.executed == 13_000


def test_execute_returns_traps_without_entering_them(pg3):
    m = Machine(pg3)
    m.load(assemble(pg3, "start: LI r1, 7\nSVC 9\nNOP"))
    before = list(m.mems[0][:5])
    stop = m.execute(m.S, 100)
    assert (stop.reason, stop.executed, stop.cause.name, stop.info) == (TRAP, 1, "svc", 9)
    assert m.mems[0][:5] == before and m.S[m.facts.layout.index["P"]] == 1


def test_halt_and_budget_stops(pg3):
    m = Machine(pg3)
    m.load(assemble(pg3, "NOP\nNOP\nHALT"))
    assert m.execute(m.S, 1).reason == BUDGET
    assert m.execute(m.S, 10).reason == HALTED


def test_split_runs_equal_one_run(pg3):
    a, b = Machine(pg3), Machine(pg3)
    prog = workloads.load(pg3, "kernel")
    a.load(prog)
    b.load(prog)
    a.run(100_000)
    while b.run(97).executed:
        pass
    assert a.state() == b.state()
