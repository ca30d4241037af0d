"""Proofs about a monitor policy, per instruction, with Z3 (design.md §5).

Every registered policy (`virtcheck.hypervisor.policies`) is checked by the same code:
the policy's `runs_directly` predicate over the virtual state V splits each instruction's
commuting diagram into the *direct* branch (V runs on the real machine as f(V)) and the
*interpreted* branch (the monitor runs the instruction on V over its partition view); a
branch the policy never takes (a constant predicate) is not queried. Trap-and-emulate
always runs directly, the emulator never, the hybrid monitor exactly in virtual user mode.

Everything is stated over a *virtual* state V (every field symbolic), a partition
``[B, B + Z)`` of real memory (``B`` above the monitor's own cells) and the real state
``R = f(V)`` that represents V: user fields equal, system fields the ISA's declared
partition composition (``Isa.partition``), real memory whose partition cells are V's
memory. The monitor of ``virtcheck.hypervisor`` computes exactly this f.

* **equivalence** (PG's commuting diagram): for every instruction i and every V the ISA's
  ``fits`` condition admits, the monitor's step from f(V) represents i(V). *Interpreted*
  (``interpreted``): the monitor's step is i on V's partition view, whose cells past the
  partition read 0 and drop writes; the query asks for a V where that run ends or leaves
  anything different from i on a V with the same cells inside the partition and any
  cells past it (the bare machine). *Direct* (``commutes``): when the real
  machine traps, the monitor runs i's own semantics on V (emulate or reflect), so only the
  direct case can differ: the query asks for a V where i completes directly on f(V) but
  i(V) is not what the monitor then holds (user fields and partition from the real result,
  virtual system state unchanged, memory outside the partition unchanged). Each failing
  instruction gets a witness replayed on the concrete monitor and the bare machine.
* **isolation** (resource control and Rushby's unwinding conditions for VM domains): an
  instruction run directly from any f(V) either traps or changes only user fields and
  writes only inside its partition (*resource control*); it changes no cell of another disjoint
  partition (*local respect*); from two real states that agree on the running VM's view
  (user fields, virtual system state, its partition) it has the same outcome (*output
  consistency*) and leaves states that still agree on that view (*step consistency*).
* **efficiency**: on the virtual states where the policy claims it (`Policy.efficient_on`;
  every state for trap-and-emulate, virtual user mode for the hybrid monitor), every
  instruction with no privileged-instruction trap in its semantics runs directly whenever
  its virtual run completes: the monitor never intervenes for it. (The emulator claims
  it everywhere and fails it for every such instruction: nothing runs directly.)

Where the ISA names the hardware a partitioned guest runs with (``Isa.partition``'s
``hardware``: IA-32's segmented model under the flat one), V steps with the ISA's own
semantics -- what the bare machine does -- and R with the hardware's. Memories the ISA
declares private to a VM (IA-32's I/O ports) are the VM's own copy on the V side and the
machine's on the R side: a direct run that touched them would show as a difference.

``unknown`` is kept as unknown and never counts as a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Optional, Union

import z3

from virtcheck.checks.verdict import Budget, Session, Verdict, combine, solve
from virtcheck.hypervisor import policies as P
from virtcheck.hypervisor.mapping import IsaFacts, facts
from virtcheck.isa import expr as E
from virtcheck.isa.asm import encode, format_instruction
from virtcheck.isa.location import Location, locate
from virtcheck.isa.model import Instruction, Isa, Kind, Role
from virtcheck.isa.semantics import build
from virtcheck.isa.state import MachineState, Memory
from virtcheck.isa.z3backend import (
    SymState, SymStep, Translator, operand_domain, operand_vars, sym_effects, sym_predicate, sym_step,
)

PROPERTIES = ("equivalence", "isolation", "efficiency")
_TE = P.get(P.DEFAULT)


@dataclass
class MonitorWitness:
    """A concrete counterexample: the virtual state, the partition, the 1-instruction
    program at the guest's pc, and (equivalence) what bare and monitored runs gave."""

    property: str
    instruction: str
    operands: dict[str, int]
    program: list[str]
    state: MachineState
    partition: tuple[int, int]
    explanation: str
    differs: list[str] = dc_field(default_factory=list)
    bare: Optional[MachineState] = None
    monitored: Optional[MachineState] = None
    replayed: Optional[bool] = None

    def to_json(self) -> dict[str, Any]:
        return {
            "property": self.property, "instruction": self.instruction, "operands": self.operands,
            "program": self.program, "state": self.state.to_json(),
            "partition": {"base": self.partition[0], "size": self.partition[1]},
            "explanation": self.explanation, "differs": self.differs, "replayed": self.replayed,
            "bare": self.bare.to_json() if self.bare else None,
            "monitored": self.monitored.to_json() if self.monitored else None,
        }


@dataclass
class PropertyResult:
    """One monitor property over all instructions."""

    name: str
    verdict: Verdict
    violations: list[str]  #: mnemonics proved to break it
    undecided: list[str]
    witnesses: dict[str, MonitorWitness]
    per_instruction: dict[str, dict[str, str]]  #: mnemonic -> condition -> verdict value

    @property
    def holds(self) -> Optional[bool]:
        return self.verdict.as_bool()

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "holds": self.holds, "violations": self.violations,
                "undecided": self.undecided, "witnesses": {k: w.to_json() for k, w in self.witnesses.items()},
                "per_instruction": self.per_instruction}


@dataclass
class MonitorResult:
    isa: str
    monitor: str
    equivalence: PropertyResult
    isolation: PropertyResult
    efficiency: PropertyResult
    assumptions: list[str]
    budget: Budget
    direct: list[str] = dc_field(default_factory=list)  #: instructions efficiency proved run directly

    where: Optional[Location] = None  #: the partition's declaration (``Isa.partition``)

    @property
    def verdict(self) -> Verdict:
        """The three properties, combined by the one rule (``verdict.combine``)."""
        return combine(p.verdict for p in (self.equivalence, self.isolation, self.efficiency))

    @property
    def holds(self) -> Optional[bool]:
        return self.verdict.as_bool()

    def to_json(self) -> dict[str, Any]:
        return {"isa": self.isa, "monitor": self.monitor, "holds": self.holds, "verdict": self.verdict.value,
                "location": self.where.to_json() if self.where else None,
                "equivalence": self.equivalence.to_json(), "isolation": self.isolation.to_json(),
                "efficiency": self.efficiency.to_json(), "assumptions": self.assumptions,
                "direct": self.direct, "budget": self.budget.to_json()}


# --- the symbolic setting --------------------------------------------------------------

class _Setting:
    """V, the partition, R = f(V), and the real memories, for one instruction query."""

    def __init__(self, f: IsaFacts, tag: str, *, real_mems: Optional[dict] = None,
                 fields: Optional[dict] = None, base=None, size=None, private: Optional[dict] = None,
                 exact_memory: bool = False, policy: P.Policy = P.get(P.DEFAULT)):
        isa = f.isa
        w = f._addr_width()
        self.w = w
        self.B = base if base is not None else z3.BitVec(f"{tag}B", w)
        self.Z = size if size is not None else z3.BitVec(f"{tag}Z", w)
        self.RE = real_mems or {n: z3.Array(f"{tag}E.{n}", z3.BitVecSort(m.addr_width), z3.BitVecSort(m.width))
                                for n, m in isa.memories.items()}
        #: the memories a partition divides; the others are the VM's own copy (`VP`)
        self.partitioned = [n for _, n in f.partitioned]
        self.VP = private if private is not None else {
            n: z3.Array(f"{tag}P.{n}", z3.BitVecSort(m.addr_width), z3.BitVecSort(m.width))
            for n, m in isa.memories.items() if n not in self.partitioned}
        a = z3.BitVec(f"{tag}a", w)
        # The VM's memory is its partition: a cell at or past the size reads 0 (`PartitionMemory`).
        # By default V's cells past the size are left free instead (the real cells there): that
        # only adds behaviours, so an unsat answer is still a proof, and the query is far
        # easier; ``exact_memory`` states the zeros, for witnesses that must replay.
        def view(n, arr):
            cell = z3.Select(arr, self.B + a)
            if exact_memory:
                cell = z3.If(z3.ULT(a, self.Z), cell, z3.BitVecVal(0, isa.memories[n].width))
            return z3.Lambda([a], cell)

        vmem = {n: (view(n, arr) if n in self.partitioned else self.VP[n]) for n, arr in self.RE.items()}
        self.V = SymState(isa, f"{tag}v.", fields=fields, memories=vmem)
        tr = Translator(self.V, {"base": self.B, "size": self.Z})
        self.compose = {n: tr.bv(e) for n, e in f.compose_expressions()}
        self.fits = tr.bool(f.fits_expression())
        rf = {n: (self.V.fields[n] if d.role is Role.USER else self.compose[n]) for n, d in isa.fields.items()}
        self.R = SymState(f.hardware, f"{tag}r.", fields=rf, memories=dict(self.RE))
        #: where the policy runs V directly, and where it claims efficiency (z3 conditions on V)
        self.policy = policy
        self.direct = _predicate(isa, policy.runs_directly(isa), self.V)
        self.efficient = _predicate(isa, policy.efficient_on(isa), self.V)
        size = 1 << w
        self.well_formed = [
            z3.UGE(self.B, f.reserved), z3.UGT(self.Z, f.reserved),
            z3.ULE(z3.ZeroExt(1, self.B) + z3.ZeroExt(1, self.Z), size),
        ]

    def inside(self, x) -> z3.BoolRef:
        return z3.ULT(x - self.B, self.Z)


def _predicate(isa: Isa, pred: P.StatePredicate, V: SymState) -> z3.BoolRef:
    """A policy's state predicate (`policies.StatePredicate`) on the symbolic state V."""
    value = P.constant(pred)
    return z3.BoolVal(value) if value is not None else sym_predicate(isa, pred, V)


def _gated(s: "_Setting") -> list:
    """The policy runs V directly, as a constraint (none when it always does: the queries
    of trap-and-emulate are exactly what they were before policies)."""
    return [] if z3.is_true(s.direct) else [s.direct]


def _real(f: IsaFacts, ins: Instruction) -> Instruction:
    """``ins`` as the partition hardware declares it (the same form; `IsaFacts.hardware`)."""
    hw = f.hardware
    return ins if hw is f.isa else hw.instructions[f.isa.instructions.index(ins)]


def _pattern_cells(isa: Isa, ins: Instruction, ops: dict) -> list[z3.BitVecRef]:
    """The code-memory cells of a variable-length form's pattern with symbolic operands."""
    pat = ins.pattern
    unit_bits = isa.unit
    units = []
    for k in range(pat.length):
        u = z3.BitVecVal(pat.values[k], unit_bits)
        for sl in pat.slots:
            if sl.unit == k:
                part = z3.Extract(sl.at + sl.bits - 1, sl.at, ops[sl.operand])
                u = u | (z3.ZeroExt(unit_bits - sl.bits, part) << sl.lo) if sl.bits < unit_bits else u | part
        units.append(u)
    per = isa.cells_per_unit
    cell = isa.memories[isa.code_memory].width  # type: ignore[index]
    cells = []
    for u in units:
        parts = [z3.Extract(cell * (j + 1) - 1, cell * j, u) for j in range(per)]  # low cell first
        cells += parts if isa.endian == "little" else list(reversed(parts))
    return cells


def _fetch_constraints(f: IsaFacts, s: _Setting, ins: Instruction, ops: dict) -> list:
    """V fetches ``ins`` with ``ops``: the fetch translates and the code memory holds its word
    (its pattern's cells, for a variable-length ISA)."""
    isa = f.isa
    fx = sym_effects(isa.derived.fetch_effects, s.V, {})
    addr = fx.tr.bv(isa.derived.fetch_effects.result)
    code = s.V.memories[isa.code_memory]
    if isa.variable:
        cells = _pattern_cells(isa, ins, ops)
        return [fx.ok] + [z3.Select(code, addr + k) == c for k, c in enumerate(cells)]
    cell = isa.memories[isa.code_memory].width  # type: ignore[index]
    units = isa.units_per_word
    word = z3.BitVecVal(ins.opcode << (isa.word - isa.opcode_width), isa.word)
    for (name, hi, lo), o in zip(ins.layout, ins.operands):
        word = word | (z3.ZeroExt(isa.word - o.width, ops[name]) << lo)
    cells = [z3.Select(code, addr + k) for k in range(units)]
    fetched = cells[0] if units == 1 else z3.Concat(*cells)
    if fetched.size() != isa.word:
        fetched = z3.Extract(isa.word - 1, 0, fetched)
    return [fx.ok, fetched == word]


def _real_fetch_constraints(f: IsaFacts, s: _Setting, ins: Instruction, ops: dict) -> list:
    """R fetches the same form directly: every cell of it translates on the hardware and
    holds the same value. Stated only when R steps with another ISA than V (IA-32: the
    segmented fetch through CS and its cut limit); otherwise V's fetch and ``fits`` imply it.
    A real fetch that faults is not a direct run: the monitor runs the step on V."""
    hw = f.hardware
    if hw is f.isa:
        return []
    code = hw.code_memory
    mem = hw.memories[code]  # type: ignore[index]
    vaddr = E.Operand.make("vaddr", mem.addr_width)
    eff = build(hw, lambda m: m.translate(vaddr, 1, "fetch", code))
    vfx = sym_effects(f.isa.derived.fetch_effects, s.V, {})
    vpc = vfx.tr.bv(f.isa.derived.fetch_effects.result)
    rpc = z3.Extract(mem.addr_width - 1, 0, s.R.fields[hw.pc_name]) if s.R.fields[hw.pc_name].size() > \
        mem.addr_width else s.R.fields[hw.pc_name]
    n = ins.length if hw.variable else hw.units_per_word
    out = []
    for k in range(n):
        st = sym_effects(eff, s.R, {"vaddr": rpc + k})
        out += [st.ok, z3.Select(s.R.memories[code], st.tr.bv(eff.result)) ==
                z3.Select(s.V.memories[f.isa.code_memory], vpc + k)]
    return out


def _outcome_differs(a: SymStep, b: SymStep) -> z3.BoolRef:
    """The two runs of the same effects end differently (which exit fires, or its info)."""
    parts = []
    for xa, xb in zip(a.exits, b.exits):
        parts.append(xa.cond != xb.cond)
        if xa.cause is not None:
            parts.append(z3.And(xa.cond, xb.cond, xa.info != xb.info))
    return z3.Or(*parts) if parts else z3.BoolVal(False)


# --- queries -----------------------------------------------------------------------------

def _equivalence_query(f: IsaFacts, ins: Instruction, exact: bool = False,
                       policy: P.Policy = _TE) -> tuple[list, _Setting, dict]:
    isa = f.isa
    s = _Setting(f, "", exact_memory=exact, policy=policy)
    ops = operand_vars(ins)
    vs, rs = sym_step(isa, ins, s.V, ops), sym_step(f.hardware, _real(f, ins), s.R, ops)
    x = z3.BitVec("x", s.w)
    same = [vs.ok]
    for n, d in isa.fields.items():
        if d.role is Role.USER:
            same.append(vs.post.fields[n] == rs.post.fields[n])
        else:  # direct execution leaves the monitor's virtual system state as it was
            same.append(vs.post.fields[n] == s.V.fields[n])
    for n, m in isa.memories.items():
        if n in s.partitioned:
            held = z3.If(s.inside(x), z3.Select(vs.post.memories[n], x - s.B), z3.Select(s.RE[n], x))
            same.append(z3.Select(rs.post.memories[n], x) == held)
        else:  # a private memory: direct execution changes neither the VM's copy nor the machine's
            p = z3.BitVec(f"x.{n}", m.addr_width)
            same += [z3.Select(vs.post.memories[n], p) == z3.Select(s.VP[n], p),
                     z3.Select(rs.post.memories[n], p) == z3.Select(s.RE[n], p)]
    q = s.well_formed + operand_domain(ins, ops) + [s.fits] + _gated(s) + _fetch_constraints(f, s, ins, ops) + \
        _real_fetch_constraints(f, s, ins, ops) + [rs.ok, z3.Not(z3.And(*same))]
    return q, s, ops


def _interpreted_query(f: IsaFacts, ins: Instruction, policy: P.Policy) -> list:
    """The interpreted branch: a V the policy interprets (and that fits) where i run on the
    VM's partition view (cells past the partition read 0, writes there are dropped) ends
    differently, or leaves fields or partition cells different, from i run on the bare
    machine's memory (the same cells inside the partition, any cells past it), or the bare
    run writes past the partition."""
    isa = f.isa
    s = _Setting(f, "", exact_memory=True, policy=policy)
    V = s.V
    bare_mems = {}
    outside: dict[str, z3.ArrayRef] = {}
    for n, m in isa.memories.items():
        if n in s.partitioned:
            a = z3.BitVec(f"ia.{n}", m.addr_width)
            outside[n] = z3.Array(f"bare.{n}", z3.BitVecSort(m.addr_width), z3.BitVecSort(m.width))
            bare_mems[n] = z3.Lambda([a], z3.If(_below(a, s.Z), z3.Select(V.memories[n], a),
                                                 z3.Select(outside[n], a)))
        else:
            bare_mems[n] = V.memories[n]
    bare = SymState(isa, "bare.", fields=dict(V.fields), memories=bare_mems)
    ops = operand_vars(ins)
    vs, bs = sym_step(isa, ins, V, ops), sym_step(isa, ins, bare, ops)
    differ = [vs.post.fields[n] != bs.post.fields[n] for n in isa.fields]
    for n, m in isa.memories.items():
        x = z3.BitVec(f"ix.{n}", m.addr_width)
        if n in s.partitioned:
            differ += [z3.And(_below(x, s.Z), z3.Select(vs.post.memories[n], x) != z3.Select(bs.post.memories[n], x)),
                       z3.And(z3.Not(_below(x, s.Z)), z3.Select(bs.post.memories[n], x) != z3.Select(bare_mems[n], x))]
        else:
            differ.append(z3.Select(vs.post.memories[n], x) != z3.Select(bs.post.memories[n], x))
    shim = _Setting.__new__(_Setting)
    shim.V = bare
    return s.well_formed + operand_domain(ins, ops) + [s.fits, z3.Not(s.direct)] + \
        _fetch_constraints(f, s, ins, ops) + _fetch_constraints(f, shim, ins, ops) + \
        [z3.Or(_outcome_differs(vs, bs), z3.And(vs.ok, bs.ok, z3.Or(*differ)))]


def _below(a: z3.BitVecRef, size: z3.BitVecRef) -> z3.BoolRef:
    """a < size, for an address and a partition size of possibly different widths."""
    wa, ws = a.size(), size.size()
    if wa < ws:
        a = z3.ZeroExt(ws - wa, a)
    elif ws < wa:
        size = z3.ZeroExt(wa - ws, size)
    return z3.ULT(a, size)


def _resource_queries(f: IsaFacts, ins: Instruction, policy: P.Policy = _TE) -> list[list]:
    """Run directly, the instruction changes no system field, and each of its stores
    (taken from its effects) writes inside the partition: one query each."""
    isa = f.isa
    s = _Setting(f, "", policy=policy)
    ops = operand_vars(ins)
    real = _real(f, ins)
    rs = sym_step(f.hardware, real, s.R, ops)
    pre = s.well_formed + _gated(s) + operand_domain(ins, ops) + [rs.ok]
    system = [rs.post.fields[n] != s.R.fields[n] for n in isa.role_fields(Role.SYSTEM)]
    queries = [pre + [z3.Or(*system)]] if system else []
    for st in real.effects.stores:
        if st.memory in s.partitioned:
            queries.append(pre + [z3.Not(s.inside(rs.tr.bv(st.addr)))])
        else:  # a private memory is never the machine's to write directly
            queries.append(pre)
    return queries


def _decide_all(queries: list[list], budget: Budget, session: Optional[Session] = None) -> Verdict:
    return combine(_decide(q, budget, session)[0] for q in queries)


def _local_respect_query(f: IsaFacts, ins: Instruction, policy: P.Policy = _TE) -> list:
    isa = f.isa
    s = _Setting(f, "", policy=policy)
    ob, oz = z3.BitVec("o.B", s.w), z3.BitVec("o.Z", s.w)
    ops = operand_vars(ins)
    rs = sym_step(f.hardware, _real(f, ins), s.R, ops)
    x = z3.BitVec("x", s.w)
    wide = lambda v: z3.ZeroExt(1, v)  # noqa: E731
    other = [z3.UGE(ob, f.reserved), z3.ULE(wide(ob) + wide(oz), 1 << s.w),
             z3.Or(z3.ULE(wide(s.B) + wide(s.Z), wide(ob)), z3.ULE(wide(ob) + wide(oz), wide(s.B)))]
    touched = [z3.And(z3.ULT(x - ob, oz), z3.Select(rs.post.memories[n], x) != z3.Select(s.RE[n], x))
               for n in s.partitioned]
    # disjointness implies x is outside the running VM's partition; stating it (a consequence,
    # not an assumption) spares the solver re-deriving it through the bit-vector arithmetic
    lemma = z3.Implies(z3.ULT(x - ob, oz), z3.Not(s.inside(x)))
    return s.well_formed + _gated(s) + other + [lemma] + operand_domain(ins, ops) + [rs.ok, z3.Or(*touched)]


def _disjointness_query(f: IsaFacts) -> list:
    """A cell of a disjoint partition is outside the running VM's: with resource control
    (writes stay inside the own partition) this gives local respect for every instruction."""
    s = _Setting(f, "")
    ob, oz = z3.BitVec("o.B", s.w), z3.BitVec("o.Z", s.w)
    x = z3.BitVec("x", s.w)
    wide = lambda v: z3.ZeroExt(1, v)  # noqa: E731
    return s.well_formed + [z3.UGE(ob, f.reserved), z3.ULE(wide(ob) + wide(oz), 1 << s.w),
                            z3.Or(z3.ULE(wide(s.B) + wide(s.Z), wide(ob)), z3.ULE(wide(ob) + wide(oz), wide(s.B))),
                            z3.ULT(x - ob, oz), s.inside(x)]


def _two_views(f: IsaFacts, ins: Instruction,
               policy: P.Policy = _TE) -> tuple[list, SymStep, SymStep, _Setting, z3.BitVecRef]:
    """Two real states agreeing on the running VM's view, differing anywhere else."""
    isa = f.isa
    a = _Setting(f, "", policy=policy)
    other = {n: z3.Array(f"b.E.{n}", z3.BitVecSort(m.addr_width), z3.BitVecSort(m.width))
             for n, m in isa.memories.items()}
    y = z3.BitVec("y", a.w)
    # the running VM's view: its partition and its private copies (not the machine's ports)
    mems_b = {n: (z3.Lambda([y], z3.If(a.inside(y), z3.Select(a.RE[n], y), z3.Select(other[n], y)))
                  if n in a.partitioned else other[n]) for n in isa.memories}
    b = _Setting(f, "b.", real_mems=mems_b, fields=dict(a.V.fields), base=a.B, size=a.Z, private=a.VP, policy=policy)
    ops = operand_vars(ins)
    real = _real(f, ins)
    ra, rb = sym_step(f.hardware, real, a.R, ops), sym_step(f.hardware, real, b.R, ops)
    x = z3.BitVec("x", a.w)
    return a.well_formed + _gated(a) + operand_domain(ins, ops), ra, rb, a, x


def _output_consistency_query(f: IsaFacts, ins: Instruction, policy: P.Policy = _TE) -> list:
    pre, ra, rb, _, _ = _two_views(f, ins, policy)
    return pre + [_outcome_differs(ra, rb)]


def _step_consistency_query(f: IsaFacts, ins: Instruction, policy: P.Policy = _TE) -> list:
    isa = f.isa
    pre, ra, rb, a, x = _two_views(f, ins, policy)
    differ = [ra.post.fields[n] != rb.post.fields[n] for n in isa.fields]
    differ += [z3.And(a.inside(x), z3.Select(ra.post.memories[n], x) != z3.Select(rb.post.memories[n], x))
               for n in a.partitioned]
    return pre + [ra.ok, rb.ok, z3.Or(*differ)]


def _efficiency_query(f: IsaFacts, ins: Instruction, policy: P.Policy = _TE) -> list:
    """A V where the policy claims efficiency, i completes, and the monitor does not run it
    directly: the policy interprets V, or the real run traps."""
    isa = f.isa
    s = _Setting(f, "", policy=policy)
    ops = operand_vars(ins)
    vs, rs = sym_step(isa, ins, s.V, ops), sym_step(f.hardware, _real(f, ins), s.R, ops)
    runs = rs.ok if z3.is_true(s.direct) else z3.And(s.direct, rs.ok)
    claim = [] if z3.is_true(s.efficient) else [s.efficient]
    return s.well_formed + operand_domain(ins, ops) + [s.fits] + claim + [vs.ok, z3.Not(runs)]


def needs_emulation(ins: Instruction) -> bool:
    """Its semantics contain a privileged-instruction trap: the monitor must emulate it."""
    return any(x.cause is not None and x.cause.kind is Kind.PRIVILEGE for x in ins.effects.exits)


# --- witnesses ---------------------------------------------------------------------------

def _witness(f: IsaFacts, ins: Instruction, s: _Setting, ops: dict, model: z3.ModelRef,
             how: str = "runs directly") -> MonitorWitness:
    from virtcheck.checks.monitor_replay import replay

    isa = f.isa
    vals = {n: model.eval(v, model_completion=True).as_long() for n, v in ops.items()}
    base = model.eval(s.B, model_completion=True).as_long()
    size = model.eval(s.Z, model_completion=True).as_long()
    real = SymState(isa, "", fields=s.V.fields,
                    memories={n: (s.RE[n] if n in s.partitioned else s.VP[n]) for n in isa.memories}).concrete(model)
    mems = {n: Memory.from_list([m[(base + a) % (1 << s.w)] for a in range(size)] if n in s.partitioned
                                else [m[a] for a in range(isa.memories[n].size)])
            for n, m in real.memories.items()}
    state = MachineState(real.fields, mems)
    values = [vals[o.name] for o in ins.operands]
    text = format_instruction(isa, ins, values)
    w = MonitorWitness("equivalence", ins.mnemonic, vals, [text], state, (base, size), "")
    replay(isa, w, encode(isa, ins, values), s.policy)
    where = state.short(isa, [n for n, d in isa.fields.items() if d.bank is None])
    w.explanation = (f"{isa.name}: {ins.mnemonic} is not virtualized by {s.policy.technique}: from {where} "
                     f"'{text}' {how} and leaves {', '.join(w.differs) or 'the same state'} "
                     f"different from the bare machine" + ("" if w.replayed else " (replay did not reproduce it)"))
    return w


# --- the check ---------------------------------------------------------------------------

def _decide(q: list, budget: Budget, session: Optional[Session] = None) -> tuple[Verdict, Optional[z3.ModelRef]]:
    ans = solve(q, budget, session)
    if ans.result == "sat":
        return Verdict.FAILS, ans.model
    if ans.result == "unsat":
        return Verdict.HOLDS, None
    return Verdict.UNKNOWN, None


def _aggregate(name: str, per: dict[str, dict[str, Verdict]], witnesses: dict) -> PropertyResult:
    """Each instruction's conditions, then the instructions, combined by the one rule."""
    standing = {m: combine(c.values()) for m, c in per.items()}
    violations = [m for m, v in standing.items() if v is Verdict.FAILS]
    undecided = [m for m, v in standing.items() if v in (Verdict.UNKNOWN, Verdict.VACUOUS)]
    return PropertyResult(name, combine(standing.values()), violations, undecided, witnesses,
                          {m: {k: v.value for k, v in c.items()} for m, c in per.items()})


def _commutes(f: IsaFacts, ins: Instruction, budget: Budget,
              policy: P.Policy = _TE, session: Optional[Session] = None) -> tuple[Verdict, Optional[MonitorWitness]]:
    """Equivalence of one instruction's direct branch. The query leaves V's cells past its
    partition free (`_Setting`); when a counterexample needs them (its witness does not
    replay: the concrete VM reads 0 there), the exact query decides, so a failure is never
    built on memory the VM does not have."""
    session = session or Session()
    q, s, ops = _equivalence_query(f, ins, policy=policy)
    v, model = _decide(q, budget, session)
    if model is None:
        return v, None
    w = _witness(f, ins, s, ops, model)
    if w.replayed:
        return v, w
    q, s, ops = _equivalence_query(f, ins, exact=True, policy=policy)
    v, model = _decide(q, budget, session)
    return v, (_witness(f, ins, s, ops, model) if model is not None else None)


def _equivalent(f: IsaFacts, ins: Instruction, budget: Budget, policy: P.Policy,
                session: Optional[Session] = None) -> tuple[dict[str, Verdict], Optional[MonitorWitness]]:
    """Equivalence of one instruction on every branch the policy can take: ``commutes``
    (direct) unless it never runs directly, ``interpreted`` unless it always does."""
    out: dict[str, Verdict] = {}
    witness = None
    session = session or Session()
    gate = P.constant(policy.runs_directly(f.isa))
    if gate is not False:
        out["commutes"], witness = _commutes(f, ins, budget, policy, session)
    if gate is not True:
        s = _Setting(f, "", exact_memory=True, policy=policy)
        v, model = _decide(_interpreted_query(f, ins, policy), budget, session)
        out["interpreted"] = v
        if model is not None and witness is None:
            witness = _witness(f, ins, s, operand_vars(ins), model, "is interpreted")
    return out, witness


def check_equivalence(isa: Isa, budget: Budget = Budget(), policy: Union[str, P.Policy] = P.DEFAULT) -> PropertyResult:
    """PG's equivalence of a monitor of ``policy`` on ``isa`` alone (the first part of
    `check_monitor`): per instruction, whether the monitor's step commutes with the map f,
    with a replayed witness for each that does not. Its violations are an independent
    route to the classification: for trap-and-emulate exactly the sensitive, unprivileged
    instructions (Theorem 1), for the hybrid monitor the user-sensitive, unprivileged ones
    (Theorem 3) -- the policy's ``theorem``."""
    isa.finalize()
    pol = P.get(policy)
    f = facts(isa)
    eq: dict[str, dict[str, Verdict]] = {}
    eq_w: dict[str, MonitorWitness] = {}
    for ins in isa.instructions:
        eq[ins.mnemonic], w = _equivalent(f, ins, budget, pol)
        if w is not None:
            eq_w[ins.mnemonic] = w
    return _aggregate("equivalence", eq, eq_w)


def check_monitor(isa: Isa, budget: Budget = Budget(), policy: Union[str, P.Policy] = P.DEFAULT) -> MonitorResult:
    """Equivalence, isolation and efficiency of a monitor of ``policy`` (a registered name
    or a `Policy`; default trap-and-emulate) on ``isa``."""
    isa.finalize()
    pol = P.get(policy)
    f = facts(isa)
    eq: dict[str, dict[str, Verdict]] = {}
    iso: dict[str, dict[str, Verdict]] = {}
    eff: dict[str, dict[str, Verdict]] = {}
    eq_w: dict[str, MonitorWitness] = {}
    direct: list[str] = []
    runs_directly = P.constant(pol.runs_directly(isa)) is not False  # an emulator runs nothing directly
    disjoint = _decide(_disjointness_query(f), budget)[0]
    for ins in isa.instructions:
        session = Session()  # the instruction's own Z3 context (see Session)
        eq[ins.mnemonic], w = _equivalent(f, ins, budget, pol, session)
        if w is not None:
            eq_w[ins.mnemonic] = w
        resource = _decide_all(_resource_queries(f, ins, pol), budget, session)
        if resource is Verdict.HOLDS and disjoint is Verdict.HOLDS:
            respect = Verdict.HOLDS  # writes stay in the own partition, which no other overlaps
        else:
            respect = _decide(_local_respect_query(f, ins, pol), budget, session)[0]
        iso[ins.mnemonic] = {
            "resource_control": resource,
            "local_respect": respect,
            "output_consistency": _decide(_output_consistency_query(f, ins, pol), budget, session)[0],
            "step_consistency": _decide(_step_consistency_query(f, ins, pol), budget, session)[0],
        }
        if needs_emulation(ins):
            eff[ins.mnemonic] = {}
        else:
            v = _decide(_efficiency_query(f, ins, pol), budget, session)[0]
            eff[ins.mnemonic] = {"runs_directly": v}
            if v is Verdict.HOLDS and runs_directly:
                direct.append(ins.mnemonic)
    gate = P.constant(pol.runs_directly(isa))
    assumptions = [
        f"policy: {pol.name} ({pol.summary})",
        f"guest configuration: {isa.guest_doc}",
        f"partition: {isa.partition_doc or 'Isa.partition'}; base above the monitor's {f.reserved} cells",
        *([f"the real machine runs partitioned guests as '{f.hardware.name}' (Isa.partition hardware)"]
          if f.hardware is not isa else []),
        *([f"private to each VM (never touched by a direct run, checked): {', '.join(isa.partition_private)}"]
          if isa.partition_private else []),
        "equivalence and efficiency: virtual states whose translation fits their partition (Isa.partition fits)",
        f"efficiency is claimed on {pol.efficiency_scope}",
        *(["isolation: direct runs only (the monitor's own steps reach memory through the VM's partition "
           "views alone)"] if gate is not True else []),
        "the instruction is fetched from the guest's memory at its pc",
    ]
    return MonitorResult(isa.name, pol.name, _aggregate("equivalence", eq, eq_w),
                         _aggregate("isolation", iso, {}), _aggregate("efficiency", eff, {}),
                         assumptions, budget, direct, where=locate(isa.declared_at.get("partition")))
