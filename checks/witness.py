"""Witnesses: the concrete states behind every existential answer, replayed for real.

A solver model is turned into :class:`MachineState` values and the claim is checked
again on the compiled backend. Only then does it count (see ``classify._checked``).
Memory the model leaves unconstrained is completed so that the pair really is
indistinguishable to a guest: every virtual address valid in both states shows the same
value through both translations.
"""

from __future__ import annotations

from typing import Optional

from virtcheck.checks.results import Witness
from virtcheck.isa.concrete import HALT, compiled
from virtcheck.isa.model import Instruction, Isa, Kind, Role
from virtcheck.isa.state import MachineState, Memory, Outcome

def translator(isa: Isa, memory: str):
    """Compiled ``fn(S, *mems, vaddr)`` -> physical address, or a (cause, info) fault."""
    from virtcheck.checks.classify import _translation_effects

    def build():
        eff = _translation_effects(isa, 1, "read", memory)
        return compiled(isa).compile_effects(f"translate_{memory}", eff, ["vaddr"], exits=True, result=True)

    return isa.derived.fact(("witness.translator", memory), build)


def run(isa: Isa, ins: Instruction, operands: dict[str, int], state: MachineState) -> tuple[Outcome, MachineState]:
    """One instruction on the compiled backend."""
    S, mems = state.flat(isa)
    step = compiled(isa).step_of(ins, [operands[o.name] for o in ins.operands])
    out = Outcome.of(step(S, *mems))
    return out, MachineState.from_flat(isa, S, mems)


def mapping(isa: Isa, state: MachineState, memory: str) -> dict[int, int]:
    """Virtual address -> physical cell, for every address ``state``'s translation accepts."""
    S, mems = state.flat(isa)
    fn = translator(isa, memory)
    out = {}
    for v in range(isa.memories[memory].size):
        p = fn(S, *mems, v)
        if isinstance(p, int):
            out[v] = p
    return out


def view(isa: Isa, state: MachineState, memory: str, through: dict[int, int] | None = None) -> dict[int, int]:
    """Virtual address -> value of ``state``'s memory, seen through ``through`` (a
    :func:`mapping`, by default ``state``'s own)."""
    cells = state.memories[memory]
    m = mapping(isa, state, memory) if through is None else through
    return {v: cells[p] for v, p in m.items()}


def complete(isa: Isa, a: MachineState, b: MachineState) -> MachineState:
    """``b`` with its memory made equal to ``a``'s wherever both translations are valid."""
    b = b.copy()
    if isa.translate_fn is None:  # identity on both sides: the same memory
        b.memories = {k: Memory(m.default, dict(m.cells)) for k, m in a.memories.items()}
        return b
    for mem in isa.memories:
        ma, mb = mapping(isa, a, mem), mapping(isa, b, mem)
        cells = b.memories[mem].to_list(isa.memories[mem].size)
        for v, pb in mb.items():
            if v in ma:
                cells[pb] = a.memories[mem][ma[v]]
        b.memories[mem] = Memory.from_list(cells)
    return b


def _diff(isa: Isa, before: MachineState, after: MachineState, names) -> list[str]:
    return [f"{n}={after.fields[n]:#x}" for n in names if before.fields[n] != after.fields[n]]


def privileged_witness(isa: Isa, ins: Instruction, ops: dict[str, int], sup: MachineState,
                       guest: MachineState) -> Witness:
    o1, p1 = run(isa, ins, ops, sup)
    o2, p2 = run(isa, ins, ops, guest)
    mem_trap = lambda o: o.kind == "trap" and isa.causes[o.cause].kind is Kind.MEMORY  # noqa: E731
    replayed = not mem_trap(o1) and not mem_trap(o2) and (o2.kind != "trap" or o1.kind == "trap")
    mode = list(isa.modes)
    expl = (f"{isa.name}: {ins.mnemonic} is not privileged: in the guest configuration "
            f"{guest.short(isa, _mode_names(isa))} it ends {o2}, in supervisor mode it ends {o1}")
    return Witness("privileged", ins.mnemonic, ops, [sup, guest], [o1, o2], [p1, p2], expl, [], replayed)


def _mode_names(isa: Isa) -> list[str]:
    from virtcheck.checks.classify import FieldClasses

    return list(FieldClasses.of(isa).mode) + [isa.pc_name]  # type: ignore[list-item]


def control_witness(isa: Isa, ins: Instruction, ops: dict[str, int], s: MachineState, prop: str) -> Witness:
    o, p = run(isa, ins, ops, s)
    system = isa.role_fields(Role.SYSTEM)
    changed = _diff(isa, s, p, system)
    replayed = o.kind == "ok" and bool(changed)
    where = "from the guest configuration " if prop.endswith("guest") else "from "
    expl = (f"{isa.name}: {ins.mnemonic} is control-sensitive: {where}{s.short(isa, system + [isa.pc_name])} "
            f"it sets {', '.join(changed) or '(nothing)'} without trapping")
    return Witness(prop, ins.mnemonic, ops, [s], [o], [p], expl, changed, replayed)


def behaviour_witness(isa: Isa, ins: Instruction, ops: dict[str, int], a: MachineState, b: MachineState,
                      prop: str, free: list[str]) -> Witness:
    b = complete(isa, a, b)
    oa, pa = run(isa, ins, ops, a)
    ob, pb = run(isa, ins, ops, b)
    user = isa.role_fields(Role.USER)
    differs = [f"{n}: {pa.fields[n]:#x} vs {pb.fields[n]:#x}" for n in user if pa.fields[n] != pb.fields[n]]
    maps: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
    for mem in isa.memories:
        # compared through the translation each state had before the step
        if isa.translate_fn is None:
            ma, mb = pa.memories[mem], pb.memories[mem]
            addrs = sorted(set(ma.cells) | set(mb.cells) | ({0} if ma.default != mb.default else set()))
            first = next((x for x in addrs if ma[x] != mb[x]), None)
            if first is None and ma.default != mb.default:
                first = next(x for x in range(isa.memories[mem].size) if ma[x] != mb[x])
            if first is not None:
                differs.append(f"{mem}[{first:#x}]: {ma[first]:#x} vs {mb[first]:#x}")
            continue
        maps[mem] = (mapping(isa, a, mem), mapping(isa, b, mem))
        va, vb = view(isa, pa, mem, maps[mem][0]), view(isa, pb, mem, maps[mem][1])
        for addr in sorted(set(va) & set(vb)):
            if va[addr] != vb[addr]:
                differs.append(f"{mem}[virtual {addr:#x}]: {va[addr]:#x} vs {vb[addr]:#x}")
                break
    same_view = True
    for m in isa.memories:
        if isa.translate_fn is None:
            same_view &= a.memories[m].to_json() == b.memories[m].to_json()
            continue
        va_pre, vb_pre = view(isa, a, m, maps[m][0]), view(isa, b, m, maps[m][1])
        same_view &= all(va_pre[k] == v for k, v in vb_pre.items() if k in va_pre)
    same_user = all(a.fields[n] == b.fields[n] for n in user)
    replayed = oa.kind == "ok" and ob.kind == "ok" and bool(differs) and same_view and same_user
    diff_in = [n for n in free if a.fields[n] != b.fields[n]]
    kind = prop.replace("_", "-").replace("user-behaviour-sensitive", "user-sensitive")
    expl = (f"{isa.name}: {ins.mnemonic} is {kind}: from {a.short(isa, diff_in)} and {b.short(isa, diff_in)}"
            f" (a guest cannot tell them apart) it leaves {'; '.join(differs) or '(no difference)'}")
    return Witness(prop, ins.mnemonic, ops, [a, b], [oa, ob], [pa, pb], expl, differs, replayed)
