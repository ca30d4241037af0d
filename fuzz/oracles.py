"""The four oracles: equivalence, isolation, efficiency and encapsulation (issue 5 §2).

Each oracle runs a :class:`~virtcheck.fuzz.case.Case` and returns a :class:`Result`:
``failure`` is None or a :class:`Failure` naming the first step at which the runs
differ, the instruction there and the state difference.

The bulk of the work is done by the executors' generated loops and compared once at the
end; only a case whose end states differ is re-run step by step to locate the first
difference. Equivalence is checked where the monitor promises it: while the virtual
state's translation fits its partition (the ISA's declared ``fits`` condition). A run
that leaves that domain and only then differs is counted as ``out_of_domain``, not as a
failure: the virtual machine has fewer cells than the bare one, and no monitor can make
addresses it does not have behave like real ones.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Optional, Sequence

from virtcheck.fuzz.case import Case
from virtcheck.fuzz import runner
from virtcheck.fuzz.runner import END_HALT, Rig, RunEnd, rig, run_steps, step_once
from virtcheck.hypervisor import Machine, Monitor, VirtualMachine, monitor_stack
from virtcheck.hypervisor.policies import DEFAULT as DEFAULT_POLICY
from virtcheck.hypervisor.accounting import Accounting
from virtcheck.isa.asm import disassemble_word
from virtcheck.isa.concrete import compiled
from virtcheck.isa.model import Isa

EQUIVALENCE, ISOLATION, EFFICIENCY, ENCAPSULATION = "equivalence", "isolation", "efficiency", "encapsulation"
PROPERTIES = (EQUIVALENCE, ISOLATION, EFFICIENCY, ENCAPSULATION)
#: the most memory cells a state difference lists
MAX_CELLS_SHOWN = 8


@dataclass
class Failure:
    """A property failed on a case: where, on which instruction, and what differs."""

    property: str
    instruction: str  #: mnemonic of the instruction at the first differing step ("" if none)
    step: int  #: steps completed before it (a step: an instruction or a trap entry)
    pc: int
    assembly: str
    difference: dict[str, Any]
    detail: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """Distinct failures: by property and first diverging instruction."""
        return self.property, self.instruction

    def to_json(self) -> dict[str, Any]:
        return {"property": self.property, "instruction": self.instruction, "step": self.step, "pc": self.pc,
                "assembly": self.assembly, "state_difference": self.difference, "detail": self.detail}

    @staticmethod
    def from_json(d: dict[str, Any]) -> "Failure":
        return Failure(d["property"], d["instruction"], int(d["step"]), int(d["pc"]), d["assembly"],
                       d["state_difference"], d.get("detail", ""))


@dataclass
class Result:
    """One oracle's answer on one case."""

    failure: Optional[Failure] = None
    steps: int = 0  #: steps the reference run took
    out_of_domain: bool = False
    direct: int = 0  #: guest instructions the hardware ran directly (monitored run)
    emulated: Counter = dc_field(default_factory=Counter)  #: mnemonic -> emulations
    interpreted: int = 0  #: instructions the policy had the monitor interpret
    #: the policy runs guests directly at all (`Policy.runs_directly` is not the constant False)
    direct_possible: bool = True

    @property
    def direct_ratio(self) -> float:
        """Share of the completed instructions run directly; a run that completed none counts
        as 1 under a policy that runs guests directly (nothing was kept from the hardware)
        and as 0 under one that never does (an emulator's ratio is 0 by construction)."""
        total = self.direct + sum(self.emulated.values()) + self.interpreted
        return self.direct / total if total else float(self.direct_possible)


# --- helpers ------------------------------------------------------------------------
def instruction_at(isa: Isa, r: Rig, S: list[int], mems: Sequence[Any]) -> tuple[str, int, str]:
    """(mnemonic, pc, assembly) of what ``S`` fetches next; ``<fetch>`` if the fetch traps."""
    c = r.c
    pc = S[c.layout.index[isa.pc_name]]  # type: ignore[index]
    a = c.fetch(S, *mems)
    if a.__class__ is tuple:
        return "<fetch>", pc, f"fetch fault ({a[0].name})"
    code = mems[c.layout.memories.index(isa.code_memory)]  # type: ignore[arg-type]
    cell = isa.memories[isa.code_memory].width  # type: ignore[index]
    w = 0
    for k in range(isa.units_per_word):
        w = (w << cell) | code[a + k]
    ins, _ = c.decode(w)
    return ins.mnemonic, pc, disassemble_word(isa, w)


def difference(names: Sequence[str], mem_names: Sequence[str], Sa: list[int], Sb: list[int],
               ma: Sequence[Sequence[int]], mb: Sequence[Sequence[int]], labels: tuple[str, str] = ("bare", "monitor"),
               outcome: Optional[tuple[Any, Any]] = None) -> dict[str, Any]:
    """The state difference as JSON-able data; empty when the states agree."""
    out: dict[str, Any] = {}
    fields = {n: {labels[0]: a, labels[1]: b} for n, a, b in zip(names, Sa, Sb) if a != b}
    if fields:
        out["fields"] = fields
    cells: dict[str, Any] = {}
    more = 0
    for name, xa, xb in zip(mem_names, ma, mb):
        if list(xa) == list(xb):
            continue
        for a, (va, vb) in enumerate(zip(xa, xb)):
            if va != vb:
                if len(cells) < MAX_CELLS_SHOWN:
                    cells[f"{name}[{a:#x}]"] = {labels[0]: va, labels[1]: vb}
                else:
                    more += 1
    if cells:
        out["memory"] = cells
        if more:
            out["memory_more"] = more
    if outcome is not None and outcome[0] != outcome[1]:
        out["outcome"] = {labels[0]: outcome[0], labels[1]: outcome[1]}
    return out


def _ends_differ(a: RunEnd, b: RunEnd) -> bool:
    return a.end != b.end or a.events != b.events


def _describe(ev: RunEnd) -> Any:
    return {"end": ev.end, "traps": [list(e) for e in ev.events]}


# --- equivalence (and efficiency, from the same monitored run) -------------------------
def equivalence(isa: Isa, case: Case, depth: int = 1, policy: str = DEFAULT_POLICY) -> Result:
    """Bare vs monitored: same fields (user and virtual system), same partition memory,
    same traps and the same end, within ``case.budget`` steps, under ``depth`` monitors of
    ``policy``."""
    r = rig(isa, case.partition_size, depth, policy=policy)
    entry = r.entry
    S0, mems0 = case.image(isa)
    Sb, Sv = list(S0), list(S0)
    eb = run_steps(r.bare, Sb, r.load_bare(mems0), case.budget, entry)
    ev = run_steps(r.vm, Sv, r.load_vm(mems0), case.budget, entry)
    acct = r.vm.account
    res = Result(steps=eb.steps, direct=acct.direct, emulated=Counter(acct.emulated),
                 interpreted=sum(acct.interpreted.values()), direct_possible=r.top.direct_possible)
    if Sb == Sv and not _ends_differ(eb, ev) and r.bare_memory() == r.vm_memory():
        return res
    located = locate(isa, case, depth, policy=policy)
    if located is None:  # differs in bulk, not step by step: the slicing itself changes the result
        lay = r.facts.layout
        diff = difference(lay.names, lay.memories, Sb, Sv, r.bare_memory(), r.vm_memory(),
                          outcome=(_describe(eb), _describe(ev)))
        res.failure = Failure(EQUIVALENCE, "<run>", eb.steps, 0, "", diff,
                              "the runs differ in bulk but agree step by step")
    elif located == "out_of_domain":
        res.out_of_domain = True
    else:
        res.failure = located
    return res


def locate(isa: Isa, case: Case, depth: int = 1, *, on_step: Optional[Callable] = None,
           policy: str = DEFAULT_POLICY) -> Any:
    """Re-run ``case`` bare and monitored in lockstep: the first :class:`Failure`, the string
    ``"out_of_domain"`` when the virtual state left its partition first, or None."""
    r = rig(isa, case.partition_size, depth, policy=policy)
    f = r.facts
    lay = f.layout
    size = case.partition_size
    entry = r.entry
    S0, mems0 = case.image(isa)
    Sb, Sv = list(S0), list(S0)
    mb, mv = r.load_bare(mems0), r.load_vm(mems0)
    for k in range(case.budget):
        if not f.fits(Sb, size):
            return "out_of_domain"
        mnemonic, pc, text = instruction_at(isa, r, Sb, mb)
        ob = step_once(r.bare, Sb, mb, entry)
        ov = step_once(r.vm, Sv, mv, entry)
        if on_step is not None:
            on_step(k, mnemonic, Sb, ob)
        diff = difference(lay.names, lay.memories, Sb, Sv, r.bare_memory(), r.vm_memory(),
                          outcome=(_outcome(ob), _outcome(ov)))
        if diff:
            return Failure(EQUIVALENCE, mnemonic, k, pc, text, diff)
        if ob[0] == END_HALT:
            return None
    return None


def _outcome(o: tuple[str, Optional[tuple[str, int]]]) -> str:
    kind, trap = o
    return f"trap({trap[0]}, info={trap[1]:#x})" if trap else kind


def efficiency(isa: Isa, case: Case, res: Result, innocuous: frozenset[str], depth: int = 1,
               policy: str = DEFAULT_POLICY) -> Result:
    """Flag an innocuous, unprivileged instruction (as ``innocuous`` names them) that the
    monitor had to emulate while the virtual state fit its partition."""
    suspects = [m for m in res.emulated if m in innocuous]
    if not suspects:
        return res
    seen: dict[str, Any] = {}
    r = rig(isa, case.partition_size, depth)

    def watch(k: int, mnemonic: str, S: list[int], outcome: Any) -> None:
        before = seen.get("count", 0)
        now = sum(r.vm.account.emulated[m] for m in suspects)
        if now > before and "failure" not in seen:
            seen["failure"] = (k, mnemonic, list(S))
        seen["count"] = now

    located = locate(isa, case, depth, on_step=watch, policy=policy)
    if "failure" in seen:
        k, mnemonic, _ = seen["failure"]
        res.failure = Failure(EFFICIENCY, mnemonic, k, 0, mnemonic,
                              {"emulated": {m: res.emulated[m] for m in suspects}},
                              f"{mnemonic} is innocuous, yet the monitor trapped and emulated it")
    elif isinstance(located, Failure):
        res.failure = located
    return res


# --- isolation ------------------------------------------------------------------------
def _pattern(lo: int, hi: int, width: int) -> list[int]:
    """A recognisable fill for cells no guest owns (so a stray write shows)."""
    return [((a * 2654435761) >> 3) & ((1 << width) - 1) for a in range(lo, hi)]


class IsolationRig:
    """A monitor with ``vms`` guests of ``size`` cells each on a fresh machine; the cells
    outside every partition (the monitor's own and the gaps) hold a known pattern."""

    def __init__(self, isa: Isa, size: int, vms: int, depth: int = 1, policy: str = DEFAULT_POLICY):
        self.isa = isa
        self.c = compiled(isa)
        self.top = monitor_stack(isa, depth, machine=runner.machine(isa, runner.default_hardware), policy=policy)
        self.vms = [self.top.create_vm(size) for _ in range(vms)]
        machine = self.top.host
        while isinstance(machine, VirtualMachine):  # the physical memory at the bottom of the stack
            machine = machine.monitor.host
        self.host_mems: list[list[int]] = list(machine.mems)  # type: ignore[attr-defined]
        total = len(self.host_mems[0])
        lo_hi = [(v.partition.base, v.partition.end) for v in self.vms]
        if depth > 1:  # lower monitors' VMs: the top monitor's partitions sit inside one big one
            lo_hi = [(_physical_base(v), _physical_base(v) + v.partition.size) for v in self.vms]
        self.outside = _gaps(sorted(lo_hi), total)
        widths = [isa.memories[n].width for n in self.c.layout.memories]
        self.states: list[list[int]] = []
        #: per memory, per gap: the fill (computed once; resetting and checking are slice copies)
        self._spans = [[_pattern(lo, hi, w) for lo, hi in self.outside] for w in widths]
        self.pattern = [[x for span in spans for x in span] for spans in self._spans]

    def reset(self) -> None:
        for m, spans in zip(self.host_mems, self._spans):
            for (lo, hi), fill in zip(self.outside, spans):
                m[lo:hi] = fill

    def outside_intact(self) -> bool:
        """Every cell outside the partitions still holds its pattern."""
        return all(m[lo:hi] == fill for m, spans in zip(self.host_mems, self._spans)
                   for (lo, hi), fill in zip(self.outside, spans))

    def outside_cells(self) -> list[list[int]]:
        return [[v for lo, hi in self.outside for v in m[lo:hi]] for m in self.host_mems]

    def outside_addresses(self) -> list[int]:
        return [a for lo, hi in self.outside for a in range(lo, hi)]


def _physical_base(vm: Any) -> int:
    base = vm.partition.base
    host = vm.monitor.host
    while isinstance(host, VirtualMachine):
        base += host.partition.base
        host = host.monitor.host
    return base


def _gaps(spans: list[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    out, at = [], 0
    for lo, hi in spans:
        if lo > at:
            out.append((at, lo))
        at = max(at, hi)
    if at < total:
        out.append((at, total))
    return out


Observation = tuple[list[int], list[list[int]], str, list]
StepHook = Callable[[int, int, str, str], Optional[Failure]]


def _schedule(ir: IsolationRig, cases: Sequence[Case], slice_: int, budget: int,
              after: Optional[StepHook] = None) -> tuple[list[Observation], Optional[Failure]]:
    """Round robin over the guests, ``slice_`` steps each, until each spent ``budget``
    steps or halted. With ``after(guest, global_step, mnemonic, assembly)`` every single
    step is followed by a call (the slow path), which may stop the run with a failure."""
    isa = ir.isa
    entry = ir.c.trap_entry
    ir.reset()
    states = []
    for vm, case in zip(ir.vms, cases):
        S, mems = case.image(isa)
        for view, src in zip(vm.mems, mems):
            view.load(src)
        states.append(S)
    ir.states = states  # the hooks read the guests' states here
    n = len(cases)
    done, halted = [0] * n, [False] * n
    events: list[list] = [[] for _ in range(n)]
    g = 0
    while True:
        active = [i for i in range(n) if not halted[i] and done[i] < budget]
        if not active:
            break
        for i in active:
            vm, S = ir.vms[i], states[i]
            quota = min(slice_, budget - done[i])
            if after is None:
                e = run_steps(vm, S, vm.mems, quota, entry)
                events[i].extend((done[i] + s, c, inf) for s, c, inf in e.events)
                done[i] += e.steps
                halted[i] = e.end == END_HALT
                continue
            for _ in range(quota):
                mnemonic, _pc, text = instruction_at(isa, ir, S, vm.mems)  # type: ignore[arg-type]
                kind, trap = step_once(vm, S, vm.mems, entry)
                if trap:
                    events[i].append((done[i], trap[0], trap[1]))
                done[i] += 1
                g += 1
                fail = after(i, g, mnemonic, text)
                if fail is not None:
                    return [], fail
                if kind == END_HALT:
                    halted[i] = True
                    break
    return [(states[i], [v.to_list() for v in ir.vms[i].mems], "halt" if halted[i] else "budget", events[i])
            for i in range(n)], None




def isolation(isa: Isa, case: Case, slice_: int = 4, depth: int = 1, policy: str = DEFAULT_POLICY) -> Result:
    """Noninterference and containment among ``len(case.others)`` guests.

    ``case`` is guest 0 (the observer); ``case.others[:-1]`` run beside it in both runs;
    ``case.others[-1]`` replaces ``case.others[0]`` in the second run. Each guest that
    was not varied must observe the same (fields, partition, traps, end) in both runs, and
    the cells outside every partition must still hold their pattern after each run."""
    if len(case.others) < 2:
        raise ValueError("an isolation case needs at least one co-resident guest and its variant")
    runs = [[case, *case.others[:-1]], [case, case.others[-1], *case.others[1:-1]]]
    ir = isa.derived.fact(("fuzz.isolation_rig", case.partition_size, len(runs[0]), depth, policy),
                          lambda: IsolationRig(isa, case.partition_size, len(runs[0]), depth, policy))
    finals = []
    for guests in runs:
        final, _ = _schedule(ir, guests, slice_, case.budget)
        if not ir.outside_intact():
            return Result(_locate_containment(ir, guests, slice_, case.budget), steps=len(final[0][3]))
        finals.append(final)
    a, b = finals
    for i in [0, *range(2, len(runs[0]))]:
        if a[i] != b[i]:
            return Result(_locate_interference(ir, runs, slice_, case.budget, i))
    return Result(steps=case.budget)


def _locate_containment(ir: IsolationRig, guests: list[Case], slice_: int, budget: int) -> Failure:
    lay = ir.c.layout
    addrs = ir.outside_addresses()

    def after(i: int, g: int, mnemonic: str, text: str) -> Optional[Failure]:
        if ir.outside_intact():
            return None
        now = ir.outside_cells()
        cells = {}
        for m, (xa, xb) in enumerate(zip(ir.pattern, now)):
            for k, (va, vb) in enumerate(zip(xa, xb)):
                if va != vb and len(cells) < MAX_CELLS_SHOWN:
                    cells[f"{lay.memories[m]}[{addrs[k]:#x}] (physical)"] = {"before": va, "after": vb}
        return Failure(ISOLATION, mnemonic, g - 1, 0, text, {"outside_partitions": cells},
                       f"guest {i} wrote outside its partition")

    _, fail = _schedule(ir, guests, slice_, budget, after)
    return fail or Failure(ISOLATION, "<run>", 0, 0, "", {}, "a cell outside the partitions changed in bulk only")


def _locate_interference(ir: IsolationRig, runs: list[list[Case]], slice_: int, budget: int, observer: int) -> Failure:
    lay = ir.c.layout
    traces: list[list] = [[], []]
    for t, guests in zip(traces, runs):
        def rec(i: int, g: int, mnemonic: str, text: str, t: list = t) -> Optional[Failure]:
            vm = ir.vms[observer]
            t.append((list(ir.states[observer]), [v.to_list() for v in vm.mems], i, mnemonic, text))
            return None

        _schedule(ir, guests, slice_, budget, rec)
    for g, (ta, tb) in enumerate(zip(traces[0], traces[1])):
        if ta[:2] != tb[:2]:
            _, _, i, mnemonic, text = tb
            diff = difference(lay.names, lay.memories, ta[0], tb[0], ta[1], tb[1], labels=("run A", "run B"))
            return Failure(ISOLATION, mnemonic, g, 0, text, diff,
                           f"guest {observer} observed a change after guest {i} stepped (guest 1 varied between runs)")
    return Failure(ISOLATION, "<run>", 0, 0, "", {}, f"guest {observer}'s end state differs between the runs")


# --- encapsulation --------------------------------------------------------------------
def encapsulation(isa: Isa, case: Case, *, same_monitor: bool = False, snapshotter: Any = None,
                  policy: str = DEFAULT_POLICY) -> Result:
    """Run ``case.split`` steps, snapshot (through JSON), restore into another monitor (or
    the same one), continue: the final virtual state must equal the uninterrupted run's."""
    from virtcheck.hypervisor import snapshot as snap

    save, restore = snapshotter or (snap.snapshot, snap.restore)
    entry = __import__("virtcheck.isa.concrete", fromlist=["compiled"]).compiled(isa).trap_entry
    size = case.partition_size
    lay = __import__("virtcheck.hypervisor.mapping", fromlist=["facts"]).facts(isa).layout
    S0, mems0 = case.image(isa)

    def fresh() -> tuple[Monitor, Any]:
        top = Monitor(runner.machine(isa, runner.default_hardware), policy=policy)
        vm = top.create_vm(size)
        for view, src in zip(vm.mems, mems0):
            view.load(src)
        return top, vm

    _, vm_a = fresh()
    Sa = list(S0)
    ea = run_steps(vm_a, Sa, vm_a.mems, case.budget, entry)
    top_b, vm_b = fresh()
    Sb = list(S0)
    k = min(case.split, case.budget)
    e1 = run_steps(vm_b, Sb, vm_b.mems, k, entry)
    vm_b.S[:] = Sb
    doc = json.loads(json.dumps(save(vm_b)))
    target = top_b if same_monitor else Monitor(runner.machine(isa, runner.default_hardware), policy=policy)
    vm_c = restore(target, doc)
    Sc = list(vm_c.S)
    rest = run_steps(vm_c, Sc, vm_c.mems, case.budget - e1.steps, entry) if e1.end != END_HALT else RunEnd(END_HALT, 0)
    ma = [v.to_list() for v in vm_a.mems]
    mc = [v.to_list() for v in vm_c.mems]
    end_b = rest.end
    diff = difference(lay.names, lay.memories, Sa, Sc, ma, mc, labels=("uninterrupted", "restored"),
                      outcome=(ea.end, end_b))
    if not diff:
        return Result(steps=ea.steps)
    r = rig(isa, size, policy=policy)
    mnemonic, pc, text = instruction_at(isa, r, Sb, vm_b.mems)
    return Result(Failure(ENCAPSULATION, mnemonic, e1.steps, pc, text, diff,
                          f"snapshot after {e1.steps} steps, restored into {'the same' if same_monitor else 'another'} "
                          "monitor"), steps=ea.steps)
