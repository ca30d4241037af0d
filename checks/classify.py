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

"Equal memory as seen through translation" is a quantified statement (and, where the
translation is not proved injective, so is "the same virtual addresses alias"); each query
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
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

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

    def __init__(self, isa: Isa, state: SymState, memory: str, access: str = "read"):
        self.isa, self.state, self.memory = isa, state, memory
        self.eff = _translation_effects(isa, 1, access, memory)

    def at(self, vaddr: z3.BitVecRef, units: int = 1) -> tuple[z3.BoolRef, z3.BitVecRef]:
        eff = self.eff if units == 1 else _translation_effects(self.isa, units, "read", self.memory)
        st = sym_effects(eff, self.state, {"vaddr": vaddr})
        return st.ok, st.tr.bv(eff.result)  # type: ignore[arg-type]

    def cells(self, vaddr: z3.BitVecRef, units: int, contiguous: bool) -> list[tuple[z3.BoolRef, z3.BitVecRef]]:
        """(valid, physical cell) for each of ``units`` virtual addresses from ``vaddr``: one
        translation of the whole access when the ISA's translation is proved contiguous
        for that size (see :func:`translation_contiguous`), else one per address."""
        if contiguous and units > 1:
            ok, pa = self.at(vaddr, units)
            return [(ok, pa + k if k else pa) for k in range(units)]
        return [self.at(vaddr + k if k else vaddr) for k in range(units)]


def translation_contiguous(isa: Isa, memory: str, units: int, budget: Budget) -> bool:
    """Proved: wherever an access of ``units`` cells at ``v`` translates, each ``v + k``
    translates on its own, to the access's physical address + k.

    Then "memory seen through translation is equal at v .. v + units - 1" is implied by one
    translation of the whole access, which is far cheaper for the solver than ``units``
    (a page-table walk per address). False means "not proved"; one per address is used then.
    """
    def prove() -> bool:
        st = SymState(isa, "con.")
        view = _View(isa, st, memory)
        v = z3.BitVec("con.v", isa.memories[memory].addr_width)
        ok, pa = view.at(v, units)
        bad = []
        for k in range(units):
            okk, pk = view.at(v + k if k else v)
            bad.append(z3.Or(z3.Not(okk), pk != (pa + k if k else pa)))
        # its own fresh context: the answer must not depend on which instruction asked first
        return solve([ok, z3.Or(*bad)], budget).result == "unsat"

    return isa.derived.fact(("classify.contiguous", memory, units, budget.rlimit), prove)


def translation_injective(isa: Isa, memory: str, budget: Budget) -> bool:
    """Proved: two distinct virtual addresses valid in one state never share a physical cell.

    When this holds, a step can change what a guest sees of memory only at the virtual
    addresses the step itself accesses, so behaviour queries need no free probe address.
    False means "not proved" (refuted or unknown); the full query is used then.
    """
    def prove() -> bool:
        # its own fresh context: the answer must not depend on which instruction asked first
        session = Session()
        st = SymState(isa, "inj.", ctx=session.context)
        view = _View(isa, st, memory)
        aw = isa.memories[memory].addr_width
        p, q = z3.BitVec("inj.p", aw, session.context), z3.BitVec("inj.q", aw, session.context)
        okp, pp = view.at(p)
        okq, pq = view.at(q)
        return solve([okp, okq, p != q, pp == pq], budget, session).result == "unsat"

    return isa.derived.fact(("classify.injective", memory, budget.rlimit), prove)


class InstructionClassifier:
    """All queries about one instruction, sharing one symbolic run per state."""

    def __init__(self, isa: Isa, ins: Instruction, budget: Budget, classes: FieldClasses):
        self.isa, self.ins, self.budget, self.fc = isa, ins, budget, classes
        self.session = Session()  #: this instruction's own Z3 context: every term is built in it
        self.ctx = self.session.context
        self.ops = operand_vars(ins, ctx=self.ctx)
        self.dom = operand_domain(ins, self.ops)
        self.A = SymState(isa, "A.", ctx=self.ctx)
        self.stepA = sym_step(isa, ins, self.A, self.ops)
        self.queries = 0
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
        ctx = self.ctx
        fields = {n: (z3.BitVec(f"{prefix}{n}", self.isa.fields[n].width, ctx) if n in free else v)
                  for n, v in self.A.fields.items()}
        mems = dict(self.A.memories)
        if fresh_memory:
            mems = {n: z3.Array(f"{prefix}{n}", z3.BitVecSort(m.addr_width, ctx), z3.BitVecSort(m.width, ctx))
                    for n, m in self.isa.memories.items()}
        return SymState(self.isa, prefix, fields=fields, memories=mems, ctx=ctx)

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
    def _same_write_sharing(self, B: SymState, stepB: Any, mem: str, compare: list) -> list:
        """Where a write may translate where a read does not (ARM stage-2 write-only pages),
        :func:`_same_aliasing` over read translations misses a way a guest tells two states
        apart: it stores through an address and loads through a compared one. So states it
        cannot tell apart also share alike between each address the step stores to,
        translated for a write, and each compared address."""
        wA, wB = _View(self.isa, self.A, mem, "write"), _View(self.isa, B, mem, "write")
        stores = {}
        for acc in self.ins.effects.accesses:
            if acc.memory == mem and acc.kind == "write":
                for step in (self.stepA, stepB):
                    for k in range(acc.units):
                        v = step.tr.bv(acc.vaddr)
                        stores.setdefault((v.get_id(), k), v + k if k else v)
        out = []
        for p in stores.values():
            (okAp, pap), (okBp, pbp) = wA.at(p), wB.at(p)
            for (okAc, pac), (okBc, pbc) in compare:
                out.append(z3.Implies(z3.And(okAp, okBp, okAc, okBc), (pap == pac) == (pbp == pbc)))
        return out

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
        for mem in self.memories:
            viewA, viewB = _View(self.isa, self.A, mem), _View(self.isa, B, mem)
            aw = self.isa.memories[mem].addr_width
            # the addresses the step accesses, as each state computes them: (vaddr, units)
            accesses: dict = {}  # (vaddr id, units) -> (vaddr, units, loaded)
            for acc in self.ins.effects.accesses:
                if acc.memory == mem:
                    for v in (self.stepA.tr.bv(acc.vaddr), stepB.tr.bv(acc.vaddr)):
                        key = (v.get_id(), acc.units)
                        loaded = acc.kind == "read" or accesses.get(key, (0, 0, False))[2]
                        accesses[key] = (v, acc.units, loaded)
            stores = any(st.memory == mem for st in self.ins.effects.stores)
            # a step that stores nothing leaves memory as it was, which the precondition
            # makes equal at every compared address: only what its loads read matters
            injective = not stores or translation_injective(self.isa, mem, self.budget)
            seen = []
            if stores and not injective:
                probe = z3.BitVec(f"probe.{mem}", aw, self.ctx)
                seen.append((viewA.at(probe), viewB.at(probe)))
            compared = len(seen) if not injective else None
            needed = list(range(len(seen)))  # where the precondition must say "equal memory"
            for v, units, loaded in accesses.values():
                contiguous = units > 1 and translation_contiguous(self.isa, mem, units, self.budget)
                if loaded or injective:  # a cell only stored to is compared at the probe instead
                    needed += range(len(seen), len(seen) + units)
                seen += list(zip(viewA.cells(v, units, contiguous), viewB.cells(v, units, contiguous)))
            compare = seen[:compared] if stores else []
            for (okA, pa), (okB, pb) in (seen[i] for i in needed):
                cs.append(z3.Implies(z3.And(okA, okB),
                                     z3.Select(self.A.memories[mem], pa) == z3.Select(B.memories[mem], pb)))
            if not injective:
                cs += _same_aliasing(seen, len(compare))
                cs += self._same_write_sharing(B, stepB, mem, compare)
            for (okA, pa), (okB, pb) in compare:
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


def _same_aliasing(seen: list, compared: int) -> list:
    """Where a translation may map two virtual addresses to one cell (page tables), a guest
    tells two states apart by storing through one address and loading through the other.
    So states it cannot tell apart alias alike: for each compared address (the first
    ``compared`` of ``seen``) and every other address in ``seen``, valid in both states,
    "same cell" holds in one state exactly when it holds in the other. (Without this, a
    store would look behaviour-sensitive merely because the two states alias differently
    somewhere.) These are instances of a precondition, so leaving pairs of non-compared
    addresses out only weakens it; the witness replay checks the pairs that matter."""
    out = []
    for i, ((okA1, pa1), (okB1, pb1)) in enumerate(seen[:compared]):
        for (okA2, pa2), (okB2, pb2) in seen[i + 1:]:
            out.append(z3.Implies(z3.And(okA1, okA2, okB1, okB2), (pa1 == pa2) == (pb1 == pb2)))
    return out


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
        if props["behaviour_sensitive"].value is None:
            # a pair differing only in some system fields is a pair differing in system fields:
            # a replayed witness of a narrower property decides the query the solver gave up on
            sub = next((props[p] for p in ("mode_sensitive", "location_sensitive", "resource_sensitive")
                        if props[p].value is True), None)
            if sub is not None:
                props["behaviour_sensitive"] = PropertyResult(True, how="derived", witness=sub.witness,
                                                              reason="implied by a narrower property")
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
        declarations={k: loc for k, w in isa.declared_at.items() if (loc := locate(w)) is not None},
    )


def _pool_worker_init() -> None:
    """Ctrl-C belongs to the parent, which stops the pool: a worker that took it too would
    print a traceback of its own (Z3 still hands an interrupted query back as such)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_pool_worker_init) as pool:
            try:
                pending = [(isa, [pool.submit(_worker, (ref, isa.name), i.mnemonic, budget)
                                  for i in isa.instructions], time.perf_counter()) for isa, ref in zip(isas, refs)]
                for isa, futures, t in pending:
                    out.append(_isa_result(isa, [f.result() for f in futures], time.perf_counter() - t))
            except BaseException:  # Ctrl-C (or a failure): drop the queued queries, do not run them
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    else:
        out = [classify_isa(isa, budget) for isa in isas]
    return CheckRun(out, budget.to_json(), __version__, jobs=jobs, seconds=time.perf_counter() - t0)
