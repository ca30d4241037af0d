"""Popek & Goldberg classification of every instruction, and Theorems 1 and 3.

The definitions are design.md §4's, quantified over all states and operand values:

privileged
    For every pair of states equal except in the mode fields, one in supervisor mode and
    one in the guest configuration, where neither run memory-traps and the supervisor run
    raises no exception: the guest run traps and the supervisor run does not. Asked as
    "find a pair where that fails". Excluding supervisor *exceptions* generalizes PG's
    exclusion of memory traps to every trap that is the instruction's own error condition
    rather than a matter of privilege (the 68010's RTE takes a format error on a bad stack
    frame in supervisor mode; IA-32's MOV to CR0 a #GP on an invalid bit combination).
    An instruction whose supervisor run always memory-traps or raises an exception never
    completes in supervisor mode, so it is not privileged (witness: such a run).
control-sensitive
    Some state where the instruction completes (no trap, no halt) and changes a system field.
behaviour-sensitive (mode / location / resource)
    Two states a guest cannot tell apart -- equal user fields, equal memory as seen
    through translation -- differing only in system fields (only in mode fields / only in
    translation fields / only in the other system fields), on which the instruction
    completes in both and leaves different user fields or memory as seen through the
    translation the guest had.
user-sensitive (PG §8)
    Control-sensitive from a guest-configuration state, or behaviour-sensitive with both
    states in the guest configuration.

"Equal memory as seen through translation" is a quantified statement; each query
instantiates it at every virtual address the instruction touches and at the address
where the results are compared. That keeps queries quantifier-free. Dropping instances
only weakens a precondition, so an ``unsat`` remains a proof; a ``sat`` is confirmed by
replaying the witness on the compiled backend with the memory completed through the
translation (:mod:`virtcheck.checks.witness`), and a witness that does not replay is
reported as unknown, never as a result.

Read/write sets prove many answers without the solver: an instruction that writes no
system field is not control-sensitive; one that reads no system field and no memory is
not behaviour-sensitive.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import z3

from virtcheck import __version__
from virtcheck.checks import witness as W
from virtcheck.checks.results import (
    CheckRun, InstructionResult, IsaResult, PropertyResult, TheoremResult,
)
from virtcheck.checks.verdict import Answer, Budget, Session, Verdict, combine, solve
from virtcheck.isa import expr as E
from virtcheck.isa.flow import explain, field_reads, has_load, read_write
from virtcheck.isa.location import Location, locate
from virtcheck.isa.model import Instruction, Isa, Kind, Role
from virtcheck.isa.semantics import Builder, Effects, build
from virtcheck.isa.z3backend import (
    SymState, SymStep, Translator, operand_domain, operand_vars, sym_effects, sym_predicate, sym_step,
)


@dataclass(frozen=True)
class FieldClasses:
    """The system fields split by what a difference in them means (design.md §4)."""

    user: tuple[str, ...]
    system: tuple[str, ...]
    mode: tuple[str, ...]  #: read by the mode predicates and the guest configuration
    translation: tuple[str, ...]  #: read by the translation (and not mode fields)
    resource: tuple[str, ...]  #: every other system field

    @staticmethod
    def of(isa: Isa) -> "FieldClasses":
        user = tuple(isa.role_fields(Role.USER))
        system = tuple(isa.role_fields(Role.SYSTEM))
        m = Builder(isa)
        preds = [fn(m) for fn in isa.modes.values()] + [isa.guest_fn(m)]  # type: ignore[misc]
        mode_reads = field_reads(isa, preds)
        tr = _translation_effects(isa, 1, "read", isa.code_memory)
        tr_reads = field_reads(isa, tr.roots())
        mode = tuple(f for f in system if f in mode_reads)
        translation = tuple(f for f in system if f in tr_reads and f not in mode)
        resource = tuple(f for f in system if f not in mode and f not in translation)
        return FieldClasses(user, system, mode, translation, resource)


def _translation_effects(isa: Isa, units: int, access: str, memory: Optional[str]) -> Effects:
    """The translation of a symbolic virtual address ``vaddr``, as effects (exits = faults)."""
    mem = isa.memories[memory or isa.code_memory]  # type: ignore[index]
    vaddr = E.Operand.make("vaddr", mem.addr_width)
    return isa.derived.fact(("classify.translation", units, access, mem.name),
                            lambda: build(isa, lambda m: m.translate(vaddr, units, access, mem.name)))


class _View:
    """Translation of virtual addresses in one symbolic state."""

    def __init__(self, isa: Isa, state: SymState, memory: str):
        self.isa, self.state, self.memory = isa, state, memory
        self.eff = _translation_effects(isa, 1, "read", memory)

    def at(self, vaddr: z3.BitVecRef) -> tuple[z3.BoolRef, z3.BitVecRef]:
        st = sym_effects(self.eff, self.state, {"vaddr": vaddr})
        return st.ok, st.tr.bv(self.eff.result)  # type: ignore[arg-type]


def translation_injective(isa: Isa, memory: str, budget: Budget) -> bool:
    """Proved: two distinct virtual addresses valid in one state never share a physical cell.

    When this holds, a step can change what a guest sees of memory only at the virtual
    addresses the step itself accesses, so behaviour queries need no free probe address.
    False means "not proved" (refuted or unknown); the full query is used then.
    """
    def prove() -> bool:
        st = SymState(isa, "inj.")
        view = _View(isa, st, memory)
        aw = isa.memories[memory].addr_width
        p, q = z3.BitVec("inj.p", aw), z3.BitVec("inj.q", aw)
        okp, pp = view.at(p)
        okq, pq = view.at(q)
        # its own fresh context: the answer must not depend on which instruction asked first
        return solve([okp, okq, p != q, pp == pq], budget).result == "unsat"

    return isa.derived.fact(("classify.injective", memory, budget.rlimit), prove)


class InstructionClassifier:
    """All queries about one instruction, sharing one symbolic run per state."""

    def __init__(self, isa: Isa, ins: Instruction, budget: Budget, classes: FieldClasses):
        self.isa, self.ins, self.budget, self.fc = isa, ins, budget, classes
        self.ops = operand_vars(ins)
        self.dom = operand_domain(ins, self.ops)
        self.A = SymState(isa, "A.")
        self.stepA = sym_step(isa, ins, self.A, self.ops)
        self.queries = 0
        self.session = Session()  #: this instruction's own Z3 context
        eff = ins.effects
        self.reads = field_reads(isa, eff.roots())
        self.loads = has_load(eff.roots())
        writes = set(eff.writes) | {f"{w.bank}{i}" for w in eff.bank_writes
                                     for i in range(isa.banks[w.bank].count)}
        self.writes = {n for n in writes if not (n in eff.writes and isinstance(eff.writes[n], E.Field)
                                                  and eff.writes[n].name == n)}
        self.memories = sorted({a.memory for a in eff.accesses}) or [isa.code_memory]

    # --- plumbing ------------------------------------------------------------------
    def _solve(self, constraints: list) -> Answer:
        self.queries += 1
        return solve(constraints, self.budget, self.session)

    def _pred(self, fn: Callable, state: SymState) -> z3.BoolRef:
        return sym_predicate(self.isa, fn, state)

    def _sup(self, state: SymState) -> z3.BoolRef:
        return self._pred(self.isa.modes[self.isa.supervisor], state)  # type: ignore[index]

    def _guest(self, state: SymState) -> z3.BoolRef:
        return self._pred(self.isa.guest_fn, state)  # type: ignore[arg-type]

    def _twin(self, prefix: str, free: Sequence[str], fresh_memory: bool) -> SymState:
        """A second state sharing A's fields except ``free`` (and memory unless fresh)."""
        fields = {n: (z3.BitVec(f"{prefix}{n}", self.isa.fields[n].width) if n in free else v)
                  for n, v in self.A.fields.items()}
        mems = dict(self.A.memories)
        if fresh_memory:
            mems = {n: z3.Array(f"{prefix}{n}", z3.BitVecSort(m.addr_width), z3.BitVecSort(m.width))
                    for n, m in self.isa.memories.items()}
        return SymState(self.isa, prefix, fields=fields, memories=mems)

    def _operands(self, model: z3.ModelRef) -> dict[str, int]:
        return {n: model.eval(v, model_completion=True).as_long() for n, v in self.ops.items()}

    # --- privileged ----------------------------------------------------------------
    def privileged(self) -> PropertyResult:
        B = self._twin("G.", self.fc.mode, fresh_memory=False)
        stepB = sym_step(self.isa, self.ins, B, self.ops)
        mem = {Kind.MEMORY}
        pre = [*self.dom, self._sup(self.A), self._guest(B), z3.Not(self.stepA.traps({Kind.MEMORY, Kind.EXCEPTION})),
               z3.Not(stepB.traps(mem))]
        ans = self._solve(pre + [z3.Or(z3.Not(stepB.traps()), self.stepA.traps())])
        if ans.result == "unsat":
            vac = self._solve(pre)
            if vac.result == "unknown":
                return PropertyResult(Verdict.UNKNOWN, reason=f"solver: {vac.reason}")
            if vac.result == "sat":
                return PropertyResult(Verdict.HOLDS)
            # No pair qualifies. Either the supervisor run never completes (not privileged),
            # or every guest-configuration run memory-traps (nothing to decide).
            never = self._solve([*self.dom, self._sup(self.A), self.stepA.traps({Kind.MEMORY, Kind.EXCEPTION})])
            if never.result == "sat":
                w = W.privileged_witness(self.isa, self.ins, self._operands(never.model),
                                         self.A.concrete(never.model), B.concrete(never.model))
                w.replayed = w.outcomes[0].kind == "trap"
                w.explanation = (f"{self.isa.name}: {self.ins.mnemonic} is not privileged: in supervisor mode "
                                 f"it never completes (e.g. it ends {w.outcomes[0]})")
                return _checked(Verdict.FAILS, w)
            return PropertyResult(Verdict.VACUOUS, reason="every guest-configuration run memory-traps",
                                  where=locate(self.isa.declared_at.get("guest")))
        if ans.result == "unknown":
            return PropertyResult(Verdict.UNKNOWN, reason=f"solver: {ans.reason}")
        w = W.privileged_witness(self.isa, self.ins, self._operands(ans.model), self.A.concrete(ans.model),
                                 B.concrete(ans.model))
        return _checked(Verdict.FAILS, w)

    # --- control sensitivity ---------------------------------------------------------
    def control(self, from_guest: bool = False) -> PropertyResult:
        system_writes = [n for n in self.fc.system if n in self.writes]
        prop = "control_sensitive_from_guest" if from_guest else "control_sensitive"
        if not system_writes:
            return PropertyResult(Verdict.FAILS, how="static", reason="writes no system field")
        changed = z3.Or(*[self.stepA.post.fields[n] != self.A.fields[n] for n in system_writes])
        cs = [*self.dom, self.stepA.ok, changed]
        if from_guest:
            cs.append(self._guest(self.A))
        ans = self._solve(cs)
        if ans.result == "unsat":
            return PropertyResult(Verdict.FAILS)
        if ans.result == "unknown":
            return PropertyResult(Verdict.UNKNOWN, reason=f"solver: {ans.reason}")
        w = W.control_witness(self.isa, self.ins, self._operands(ans.model), self.A.concrete(ans.model), prop)
        return _checked(Verdict.HOLDS, w)

    # --- behaviour sensitivity -------------------------------------------------------
    def behaviour(self, prop: str, free: Sequence[str], *, both_guest: bool = False) -> PropertyResult:
        if not free:
            return PropertyResult(Verdict.FAILS, how="static", reason="no such system field")
        if not self.loads and not (self.reads & set(free)):
            return PropertyResult(Verdict.FAILS, how="static", reason=f"reads none of {', '.join(free)} and no memory")
        # Memory may differ physically only where the translation may differ.
        B = self._twin("B.", free, fresh_memory=bool(set(free) & set(self.fc.translation)))
        stepB = sym_step(self.isa, self.ins, B, self.ops)
        cs = [*self.dom, self.stepA.ok, stepB.ok, z3.Or(*[self.A.fields[n] != B.fields[n] for n in free])]
        if both_guest:
            cs += [self._guest(self.A), self._guest(B)]
        differs = [self.stepA.post.fields[n] != stepB.post.fields[n] for n in self.fc.user]
        probes: list[z3.BitVecRef] = []
        for acc in self.ins.effects.accesses:
            probes += [self.stepA.tr.bv(acc.vaddr) + k for k in range(acc.units)]
            probes += [stepB.tr.bv(acc.vaddr) + k for k in range(acc.units)]
        for mem in self.memories:
            viewA, viewB = _View(self.isa, self.A, mem), _View(self.isa, B, mem)
            aw = self.isa.memories[mem].addr_width
            points = [p for p in probes if p.size() == aw]
            if translation_injective(self.isa, mem, self.budget):
                compare = points  # nothing else can change (see translation_injective)
            else:
                compare = [z3.BitVec(f"probe.{mem}", aw)]
                points = compare + points
            for p in points:
                okA, pa = viewA.at(p)
                okB, pb = viewB.at(p)
                cs.append(z3.Implies(z3.And(okA, okB),
                                     z3.Select(self.A.memories[mem], pa) == z3.Select(B.memories[mem], pb)))
            for p in compare:
                okA, pa = viewA.at(p)
                okB, pb = viewB.at(p)
                differs.append(z3.And(okA, okB, z3.Select(self.stepA.post.memories[mem], pa)
                                      != z3.Select(stepB.post.memories[mem], pb)))
        ans = self._solve(cs + [z3.Or(*differs)])
        if ans.result == "unsat":
            return PropertyResult(Verdict.FAILS)
        if ans.result == "unknown":
            return PropertyResult(Verdict.UNKNOWN, reason=f"solver: {ans.reason}")
        w = W.behaviour_witness(self.isa, self.ins, self._operands(ans.model), self.A.concrete(ans.model),
                                B.concrete(ans.model), prop, list(free))
        return _checked(Verdict.HOLDS, w)


def _checked(verdict: Verdict, w: W.Witness) -> PropertyResult:
    """A solver model counts only if it replays on the compiled backend."""
    if not w.replayed:
        return PropertyResult(Verdict.UNKNOWN, witness=w,
                              reason="the solver's witness did not replay on the concrete backend")
    return PropertyResult(verdict, witness=w)


def _any(*verdicts: Verdict) -> Verdict:
    """The verdict of "the instruction has one of these properties": HOLDS if one holds,
    FAILS if every one fails, else the combined verdict of the undecided ones."""
    if Verdict.HOLDS in verdicts:
        return Verdict.HOLDS
    undecided = [v for v in verdicts if v is not Verdict.FAILS]
    return combine(undecided) if undecided else Verdict.FAILS


def _not(v: Verdict) -> Verdict:
    return {Verdict.HOLDS: Verdict.FAILS, Verdict.FAILS: Verdict.HOLDS}.get(v, v)


def classify_instruction(isa: Isa, ins: Instruction, budget: Budget,
                         classes: Optional[FieldClasses] = None) -> InstructionResult:
    """Every property of one instruction."""
    t0 = time.perf_counter()
    fc = classes or FieldClasses.of(isa)
    c = InstructionClassifier(isa, ins, budget, fc)
    props: dict[str, PropertyResult] = {}
    props["privileged"] = c.privileged()
    props["control_sensitive"] = c.control()
    props["behaviour_sensitive"] = c.behaviour("behaviour_sensitive", fc.system)
    if props["behaviour_sensitive"].value is False:
        why = "not behaviour-sensitive (" + (props["behaviour_sensitive"].reason or "z3") + ")"
        for p in ("mode_sensitive", "location_sensitive", "resource_sensitive"):
            props[p] = PropertyResult(Verdict.FAILS, how="derived", reason=why)
    else:
        props["mode_sensitive"] = c.behaviour("mode_sensitive", fc.mode)
        props["location_sensitive"] = c.behaviour("location_sensitive", fc.translation)
        props["resource_sensitive"] = c.behaviour("resource_sensitive", fc.resource)
    # user-sensitive: from guest-configuration states only
    if props["control_sensitive"].value is False:
        cg = PropertyResult(Verdict.FAILS, how="derived", reason="not control-sensitive")
    else:
        cg = c.control(from_guest=True)
    if props["behaviour_sensitive"].value is False:
        bg = PropertyResult(Verdict.FAILS, how="derived", reason="not behaviour-sensitive")
    else:
        bg = c.behaviour("user_behaviour_sensitive", fc.system, both_guest=True)
    user = _any(cg.verdict, bg.verdict)
    props["user_sensitive"] = PropertyResult(
        user, how="derived",
        witness=(cg.witness if cg.value else bg.witness if bg.value else None),
        reason="; ".join(r for r in (cg.reason, bg.reason) if r and user.as_bool() is None),
    )
    sens = _any(props["control_sensitive"].verdict, props["behaviour_sensitive"].verdict)
    props["sensitive"] = PropertyResult(sens, how="derived")
    props["innocuous"] = PropertyResult(_not(sens), how="derived")
    reads, writes = read_write(isa, ins)
    return InstructionResult(
        ins.mnemonic, ins.syntax, ins.doc, props, reads, writes,
        flows=explain(isa, ins, [n for n in reads if n in _system_nodes(isa)]),
        queries=c.queries, seconds=time.perf_counter() - t0, where=locate(ins.where),
    )


def _system_nodes(isa: Isa) -> set[str]:
    return {f.bank or f.name for f in isa.fields.values() if f.role is Role.SYSTEM}


THEOREM_1 = "every sensitive instruction is privileged (a trap-and-emulate monitor exists)"
THEOREM_3 = "every user-sensitive instruction is privileged (a hybrid monitor exists)"


def theorem(number: str, instructions: list[InstructionResult], prop: str, statement: str,
            where: Optional[Location] = None) -> TheoremResult:
    """"Every ``prop`` instruction is privileged": each instruction's standing
    (``InstructionResult.under``), combined by the one rule."""
    standing = {r.mnemonic: r.under(prop) for r in instructions}
    violations = [m for m, v in standing.items() if v is Verdict.FAILS]
    undecided = [m for m, v in standing.items() if v in (Verdict.UNKNOWN, Verdict.VACUOUS)]
    return TheoremResult(number, combine(standing.values()), violations, undecided, statement, where)


_worker_isas: dict[tuple[str, str], tuple[Isa, FieldClasses]] = {}


def _worker(ref: tuple[str, str], mnemonic: str, budget: Budget) -> InstructionResult:
    """Runs in a pool process: loads each ISA once per process, then classifies."""
    entry = _worker_isas.get(ref)
    if entry is None:
        from virtcheck.isa.loader import load

        isa = next(i for i in load(ref[0]) if i.name == ref[1])
        entry = _worker_isas[ref] = (isa, FieldClasses.of(isa))
    isa, fc = entry
    return classify_instruction(isa, isa.by_mnemonic(mnemonic), budget, fc)


def classify_isa(isa: Isa, budget: Budget = Budget(), jobs: int = 1, ref: Optional[str] = None,
                 pool: Optional[ProcessPoolExecutor] = None) -> IsaResult:
    """Classify every instruction and decide Theorems 1 and 3.

    With a ``pool`` (and ``ref``, the name or file the ISA loads from), instructions are
    classified in worker processes; results are identical either way.
    """
    isa.finalize()
    t0 = time.perf_counter()
    if pool is not None and ref is not None:
        futures = [pool.submit(_worker, (ref, isa.name), i.mnemonic, budget) for i in isa.instructions]
        results = [f.result() for f in futures]
    else:
        fc = FieldClasses.of(isa)
        results = [classify_instruction(isa, i, budget, fc) for i in isa.instructions]
    return _isa_result(isa, results, time.perf_counter() - t0)


def _isa_result(isa: Isa, results: list[InstructionResult], seconds: float) -> IsaResult:
    where = locate(isa.where)
    theorems = {
        "1": theorem("1", results, "sensitive", THEOREM_1, where),
        "3": theorem("3", results, "user_sensitive", THEOREM_3, where),
    }
    return IsaResult(
        isa.name, isa.doc, isa.source, isa.guest_doc, isa.supervisor or "",
        {n: f.role.value for n, f in isa.fields.items()}, results, theorems, seconds, where=where,
    )


def check_all(isas: Sequence[Isa], budget: Budget = Budget(), jobs: int = 1,
              refs: Optional[Sequence[str]] = None) -> CheckRun:
    """Classify several ISAs; with ``jobs`` > 1, instructions run in a process pool.

    ``refs`` (one per ISA: a bundled name or a definition file) lets workers load the
    ISA themselves; without them everything runs in this process.
    """
    t0 = time.perf_counter()
    out: list[IsaResult] = []
    if jobs > 1 and refs is not None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            pending = [(isa, [pool.submit(_worker, (ref, isa.name), i.mnemonic, budget) for i in isa.instructions],
                        time.perf_counter()) for isa, ref in zip(isas, refs)]
            for isa, futures, t in pending:
                out.append(_isa_result(isa, [f.result() for f in futures], time.perf_counter() - t))
    else:
        out = [classify_isa(isa, budget) for isa in isas]
    return CheckRun(out, budget.to_json(), __version__, jobs=jobs, seconds=time.perf_counter() - t0)
