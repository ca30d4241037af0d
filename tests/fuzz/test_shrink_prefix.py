"""Regression: a failing instruction reached only after a trap re-aims execution past
padding shrinks to the instruction alone (found with `virtcheck fuzz pg3-jrst --seed 7
--workers 1`, which used to report eight NOPs in front of JRST1)."""

from virtcheck.fuzz.case import Case
from virtcheck.fuzz.properties import check
from virtcheck.fuzz.shrink import shrink
from virtcheck.isa.asm import disassemble

CASE = {
    "budget": 3, "others": [], "partition_size": 64, "split": 0,
    "program": ["0x0"] * 8 + ["0x70000000"],
    "state": {"fields": {"IE": 0, "M": 1, "P": 0, "b": 1, "l": 21, "r0": 0, "r1": 0, "r2": 0, "r3": 0, "r4": 0,
                         "r5": 0, "r6": 0, "r7": 0},
              "memories": {"E": {"cells": {"2": 16973824, "3": 1900565}, "default": 0}}},
}


def test_padding_before_the_failing_instruction_is_dropped(machines):
    isa = machines["pg3-jrst"]
    case = Case.from_json(CASE)
    failure = check("equivalence", isa, case)
    assert failure is not None and failure.instruction == "JRST1"
    small, f = shrink(isa, case, failure, lambda c: check("equivalence", isa, c))
    assert disassemble(isa, small.program) == ["JRST1 0x0"] and f.key == failure.key
