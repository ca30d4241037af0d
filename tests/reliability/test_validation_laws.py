"""Laws of the validation that guards replayed files (in-process, Hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from virtcheck.fuzz.case import word_problem
from virtcheck.isa.asm import decode, encode
from virtcheck.isa.machines import bundled
from virtcheck.isa.state import MachineState, state_problem

FIXED = ["pg3", "pg3-jrst"]


def _used_bits(isa, ins) -> int:
    """The bits the decoder reads for ``ins``: the opcode and its operand fields."""
    m = ((1 << isa.opcode_width) - 1) << (isa.word - isa.opcode_width)
    for _, hi, lo in ins.layout:
        m |= ((1 << (hi - lo + 1)) - 1) << lo
    return m


@pytest.mark.parametrize("name", FIXED)
@settings(max_examples=300)
@given(data=st.data())
def test_a_word_is_accepted_exactly_when_decoding_it_does_not_wrap(name, data):
    isa = bundled()[name]
    w = data.draw(st.integers(0, (1 << (isa.word + 2)) - 1))
    fits = w < 1 << isa.word
    op = w >> (isa.word - isa.opcode_width)
    if fits and op < len(isa.instructions):
        ins, vals = decode(isa, w)
        exact = encode(isa, ins, vals) == w & _used_bits(isa, ins)  # the decoder read what the bits say
    else:
        exact = False
    assert (word_problem(isa, w) is None) == exact


@settings(max_examples=200)
@given(data=st.data())
def test_a_state_is_accepted_exactly_when_every_value_fits(data):
    isa = bundled()["pg3"]
    values = {n: data.draw(st.integers(-2, (1 << f.width) + 1), label=n) for n, f in isa.fields.items()}
    cells = data.draw(st.dictionaries(st.integers(-1, 70), st.integers(-1, (1 << 32)), max_size=4))
    state = MachineState.zero(isa)
    state.fields.update(values)
    state.memories["E"].cells.update(cells)
    ok = all(0 <= v < 1 << isa.fields[n].width for n, v in values.items()) and \
        all(0 <= a < 64 and 0 <= v < 1 << 32 for a, v in cells.items())
    assert (state_problem(isa, state, 64) is None) == ok
