"""Assembler, disassembler and byte codec: derived from the instruction table, round-tripping."""

import pytest
from hypothesis import given, settings, strategies as st

from virtcheck.isa.asm import (
    assemble, canonical, decode, disassemble, disassemble_word, encode, format_instruction, from_bytes, to_bytes,
)
from virtcheck.isa.errors import AsmError

NAMES = ["pg3", "pg3-jrst", "pg3-mfsr", "pg3-lra", "pg3-popf"]


@pytest.mark.parametrize("name", NAMES)
def test_every_word_disassembles_and_reassembles_to_its_canonical_form(machines, name):
    isa = machines[name]

    @settings(max_examples=200)
    @given(word=st.integers(0, (1 << isa.word) - 1))
    def check(word):
        text = disassemble_word(isa, word)
        assert assemble(isa, text).words() == [canonical(isa, word)]

    check()


@pytest.mark.parametrize("name", NAMES)
def test_instruction_text_round_trips(machines, name):
    isa = machines[name]

    @settings(max_examples=200)
    @given(data=st.data())
    def check(data):
        ins = data.draw(st.sampled_from(isa.instructions))
        vals = [data.draw(st.integers(0, o.domain_size - 1)) for o in ins.operands]
        word = encode(isa, ins, vals)
        assert decode(isa, word) == (ins, tuple(vals))
        assert assemble(isa, format_instruction(isa, ins, vals)).words() == [word]

    check()


def test_all_zero_chunk_is_the_simplest_innocuous_instruction(machines):
    # the word codec of fixed-width ISAs; variable-length ones decode their own patterns (on
    # RISC-V the all-zero word is deliberately illegal, Vol. I §2.2: tests/isa/test_riscv.py)
    for isa in machines.values():
        if not isa.variable:
            assert disassemble(isa, from_bytes(isa, bytes(4))) == ["NOP"]


@given(data=st.binary(max_size=64))
def test_every_byte_chunk_decodes(data):
    from virtcheck.isa.machines import bundled

    isa = bundled()["pg3"]
    words = from_bytes(isa, data)
    assert len(disassemble(isa, words)) == (len(data) + 3) // 4
    assert from_bytes(isa, to_bytes(isa, words)) == words


def test_labels_comments_org_and_word(machines):
    isa = machines["pg3"]
    prog = assemble(isa, """
        ; a loop
        start:  LI r1, 3
        loop:   ADDI r1, r1, -1
                BNE r1, r0, loop   ; back two
                JMP done
        .org 0x20
        done:   HALT
        data:   .word 0xdeadbeef
    """)
    assert prog.labels == {"start": 0, "loop": 1, "done": 0x20, "data": 0x21}
    assert disassemble(isa, [prog.cells[a] for a in range(4)]) == [
        "LI r1, 3", "ADDI r1, r1, -1", "BNE r1, r0, -1", "JMP 0x20"]
    assert prog.cells[0x21] == 0xDEADBEEF and prog.entry == 0


@pytest.mark.parametrize("text,message", [
    ("FOO r1", "prog.s:2: unknown instruction 'FOO'"),
    ("ADD r1, r2", "prog.s:2: 'ADD r1, r2' does not match the syntax 'ADD {rd}, {rs}, {rt}'"),
    ("LI r1, 70000", "prog.s:2: LI: operand 'imm' value 70000 does not fit in 16 bits"),
    ("JMP nowhere", "prog.s:2: JMP: unknown label 'nowhere'"),
    ("x: NOP\nx: NOP", "prog.s:3: label 'x' is defined twice"),
    ("ADD r9, r1, r2", "prog.s:2: ADD: register r9 does not exist"),
])
def test_assembly_errors_name_the_line(machines, text, message):
    with pytest.raises(AsmError) as exc:
        assemble(machines["pg3"], "NOP\n" + text, source="prog.s")
    assert str(exc.value) == message
