"""Model versus reference: what is compared, and which declared limit explains a difference.

Compared: the outcome (completed, halted, or trapped with which exception vector -- the
ISA's spec maps a cause to its vector), and for a completed instruction the **user** fields
and every model memory. System fields are not compared: they are what a reference realises
from the state, not what a program sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from virtcheck.isa.concrete import HALT, compiled
from virtcheck.isa.model import Isa, Role
from virtcheck.hypervisor.reference.base import Example, RefResult


@dataclass
class ModelResult:
    kind: str  #: ok, trap, halt
    vector: Optional[int] = None
    cause: str = ""
    fields: dict[str, int] = field(default_factory=dict)
    memories: dict[str, list[int]] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.kind == "trap":
            return f"trap({self.cause}, vector {self.vector})"
        return self.kind


def model_result(isa: Isa, ex: Example, spec: dict) -> ModelResult:
    """One step of the compiled model."""
    S, mems = ex.state.flat(isa)
    step = compiled(isa).step_of(ex.ins, [ex.ops[o.name] for o in ex.ins.operands])
    r = step(S, *mems)
    if r is None:
        names = list(isa.fields)
        return ModelResult("ok", fields=dict(zip(names, S)), memories=dict(zip(isa.memories, mems)))
    if r is HALT:
        return ModelResult("halt")
    cause, info = r
    return ModelResult("trap", vector=spec["vector"](cause, info), cause=cause.name)


@dataclass
class Comparison:
    """``agree``, ``explained`` (every difference covered by ``limits``), ``mismatch`` or ``skipped``."""

    status: str
    model: Optional[ModelResult]
    ref: RefResult
    differences: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)


def compare(isa: Isa, ex: Example, model: ModelResult, ref: RefResult, spec: dict) -> Comparison:
    if ref.kind == "skipped":
        return Comparison("skipped", model, ref)
    diffs: list[str] = []
    details: list[str] = []
    xor: dict[str, int] = {}
    if (model.kind, model.vector) != (ref.kind, ref.vector):
        diffs.append("outcome")
        details.append(f"outcome: model {model}, reference {ref}")
    elif model.kind == "ok":
        for n in isa.role_fields(Role.USER):
            if n in ref.fields and model.fields[n] != ref.fields[n]:
                diffs.append(n)
                xor[n] = model.fields[n] ^ ref.fields[n]
                details.append(f"{n}: model {model.fields[n]:#x}, reference {ref.fields[n]:#x}")
        for m, cells in model.memories.items():
            got = ref.memories.get(m)
            if got is None:
                continue
            bad = [a for a in range(len(cells)) if cells[a] != got[a]]
            if bad:
                diffs.append(m)
                shown = ", ".join(f"[{a:#x}] {cells[a]:#x}/{got[a]:#x}" for a in bad[:6])
                details.append(f"{m}: {len(bad)} cell(s) differ (model/reference) {shown}")
    if not diffs:
        return Comparison("agree", model, ref)
    covering = explain(ex, diffs, spec.get("limits", []), xor)
    if covering is not None:
        return Comparison("explained", model, ref, diffs, details, covering)
    return Comparison("mismatch", model, ref, diffs, details)


def _applies(limit: dict, ex: Example) -> bool:
    mn = limit.get("mnemonics")
    if mn is not None and ex.ins.mnemonic not in mn:
        return False
    modes = limit.get("modes")
    if modes is not None and ex.mode not in modes:
        return False
    when = limit.get("when")
    return when is None or bool(when(ex.state, ex.ops))


def explain(ex: Example, diffs: list[str], limits: list[dict],
            xor: Optional[dict[str, int]] = None) -> Optional[list[str]]:
    """The ids of declared limits that together cover every difference, or None.

    A limit covers a difference when it applies to the example (``mnemonics``, ``modes``,
    ``when``) and names it in ``differs`` (``*``: anything); with ``bits``, a field's
    model and reference values may differ only in those bits."""
    used: list[str] = []
    xor = xor or {}
    for d in diffs:
        hit = None
        for lim in limits:
            cover = lim.get("differs", ["*"])
            if "bits" in lim and xor.get(d, 0) & ~lim["bits"]:
                continue
            if _applies(lim, ex) and ("*" in cover or d in cover):
                hit = lim["id"]
                break
        if hit is None:
            return None
        if hit not in used:
            used.append(hit)
    return used


def describe(isa: Isa, ex: Example, c: Comparison) -> dict[str, Any]:
    """A mismatch as data: the instruction, the state, both results, what differs."""
    from virtcheck.isa.asm import format_instruction

    return {
        "instruction": format_instruction(isa, ex.ins, [ex.ops[o.name] for o in ex.ins.operands]),
        "mnemonic": ex.ins.mnemonic, "operands": dict(ex.ops), "mode": ex.mode,
        "state": ex.state.to_json(), "model": str(c.model), "reference": str(c.ref),
        "differences": c.details, "limits": c.limits,
    }

