"""``Isa.derive`` copies every declaration: the derived ISA equals its base in every
attribute except the ones that name the ISA object itself (``Isa._IDENTITY``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtcheck.isa.loader import load_file
from virtcheck.isa.machines import declared
from virtcheck.isa.model import Instruction, Isa

TINY = str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "tiny_isa.py")


def _declaration(ins: Instruction) -> tuple:
    return (ins.mnemonic, ins.syntax, ins.operands, ins.semantics, ins.doc, ins.where, ins.encoding_text)


def _declared(isa: Isa) -> dict:
    """Every attribute that declares the machine, with instructions as their declarations."""
    out = {k: v for k, v in vars(isa).items() if k not in Isa._IDENTITY}
    out["instructions"] = [_declaration(i) for i in isa.instructions]
    return out


def _bases() -> list[Isa]:
    # pg3: partition, reset, timer; m68000: variable-length; x86: composites, banks,
    # references, partition hardware and private memories; tiny: a user's file
    return [declared("pg3")["pg3"], declared("m68k")["m68000"], declared("x86")["x86"], load_file(TINY)[0]]


@pytest.mark.parametrize("base", _bases(), ids=lambda i: i.name)
def test_derive_keeps_every_declared_attribute(base):
    new = base.derive("copy", doc="a copy", source="here")
    assert set(vars(new)) == set(vars(base))
    assert _declared(new) == _declared(base)
    assert (new.name, new.doc, new.source, new.derived_from) == ("copy", "a copy", "here", base.name)
    assert new.where.startswith(__file__ + ":") and not new.final
    # the copy's containers are its own: adding to it leaves the base alone
    assert new.instructions is not base.instructions and new.fields is not base.fields
    assert all(a is not b for a, b in zip(new.instructions, base.instructions))
    new.finalize()
    assert [(i.opcode, i.length) for i in new.instructions] == [(i.opcode, i.length) for i in base.finalize().instructions]


def test_a_declaration_added_later_is_copied_too():
    """derive() lists no attributes: one it has never heard of is copied like the rest."""
    base = load_file(TINY)[0]
    base.vendor_notes = {"errata": [1, 2]}  # type: ignore[attr-defined]
    new = base.derive("copy", doc="")
    assert new.vendor_notes == {"errata": [1, 2]} and new.vendor_notes is not base.vendor_notes  # type: ignore
