"""IA-32's segmented model (the hardware a monitor runs partitioned guests on) is the flat
model exactly on flat segments (SDM Vol. 3A §3.2.1), and relocates and checks otherwise."""

from __future__ import annotations

import random

import pytest

from virtcheck.isa.concrete import compiled
from virtcheck.isa.machines.x86 import x86
from virtcheck.isa.state import MachineState, Memory, Outcome

HW = x86.partition_hardware.finalize()  # type: ignore[union-attr]


def _state(rng: random.Random, flat: bool) -> MachineState:
    fields = {n: rng.getrandbits(d.width) for n, d in x86.fields.items()}
    if flat:
        for s in ("cs", "ss", "ds"):
            fields[f"{s}_base"], fields[f"{s}_limit"] = 0, 0xFFFFFFFF
    mems = {n: Memory.from_list([rng.getrandbits(m.width) for _ in range(m.size)]) for n, m in x86.memories.items()}
    return MachineState(fields, mems)


def _run(isa, ins, ops, st):
    S, mems = st.flat(isa)
    out = Outcome.of(compiled(isa).step_of(ins, ops)(S, *mems))
    return out, MachineState.from_flat(isa, S, mems)


@pytest.mark.parametrize("mnemonic", [i.mnemonic for i in x86.finalize().instructions])
def test_segmented_equals_flat_on_flat_segments(mnemonic):
    rng = random.Random(mnemonic)
    ins, hw = x86.by_mnemonic(mnemonic), HW.by_mnemonic(mnemonic)
    for _ in range(20):
        st = _state(rng, flat=True)
        ops = [rng.randrange(o.domain_size) for o in ins.operands]
        a, b = _run(x86, ins, ops, st.copy()), _run(HW, hw, ops, st.copy())
        assert (str(a[0]), a[1].fields) == (str(b[0]), b[1].fields)
        assert all(a[1].memories[n].to_list(m.size) == b[1].memories[n].to_list(m.size)
                   for n, m in x86.memories.items())


def test_segmented_relocates_and_checks_the_limit():
    rng = random.Random(1)
    st = _state(rng, flat=True)
    st.fields.update(ds_base=0x800, ds_limit=0xFF)
    ins = HW.by_mnemonic("MOV_r_m")
    out, after = _run(HW, ins, [0, 0x10], st.copy())  # MOV r0, [0x10]: linear 0x810
    mem = st.memories["mem"]
    assert out.kind == "ok" and after.fields["r0"] == sum(mem[0x810 + k] << (8 * k) for k in range(4))
    out, _ = _run(HW, ins, [0, 0xFD], st.copy())  # bytes 0xFD..0x100: past the limit
    assert out.kind == "trap" and out.cause == "gp_operand"
    out, _ = _run(x86, x86.by_mnemonic("MOV_r_m"), [0, 0xFD], st.copy())  # the flat model ignores it
    assert out.kind == "ok"
