"""Properties of the ISA-derived strategies: domains, widths, mode predicates, shrinking."""

from __future__ import annotations

import pytest
from hypothesis import Phase, find, given, settings, strategies as st
from hypothesis.errors import InvalidArgument

from virtcheck.fuzz import GuestConfig, guest_configs, instructions, memories, programs, states, words
from virtcheck.fuzz import predicates, values
from virtcheck.fuzz.configs import MONITOR_SHARE, innermost, monitor_reserve
from virtcheck.isa.asm import canonical, decode, encode
from virtcheck.isa.machines import bundled
from virtcheck.isa.state import MachineState

from fuzz_helpers import NAMES, assert_within_widths, is_privileged, satisfies

ISAS = bundled()
PG3 = ISAS["pg3"]
#: find() settings: no database (results must not depend on earlier runs) and no explain
#: phase (it re-runs the shrunk example many times to annotate it; nothing reads that here)
FIND = settings(database=None, phases=[Phase.generate, Phase.shrink])


def _any_isa(strategy_of):
    """One strategy drawing from every bundled ISA: (isa, value)."""
    return st.one_of([strategy_of(ISAS[n]).map(lambda v, n=n: (ISAS[n], v)) for n in NAMES])


# --- instructions, words, programs ------------------------------------------------------

@given(_any_isa(instructions))
def test_operands_lie_in_their_domains(drawn):
    isa, (ins, vals) = drawn
    assert ins in isa.instructions
    assert len(vals) == len(ins.operands)
    for o, v in zip(ins.operands, vals):
        assert 0 <= v < o.domain_size, (ins.mnemonic, o.name, v)


@given(_any_isa(lambda isa: st.lists(instructions(isa), max_size=8)))
def test_encoded_programs_decode_to_the_drawn_instructions(drawn):
    isa, drawn_instructions = drawn
    program = [encode(isa, ins, vals) for ins, vals in drawn_instructions]
    assert [decode(isa, w) for w in program] == drawn_instructions


@given(_any_isa(programs))
def test_programs_are_canonical_words_within_size(drawn):
    isa, program = drawn
    assert 1 <= len(program) <= 32
    assert all(canonical(isa, w) == w for w in program)


@given(programs(PG3, min_size=2, max_size=5, as_bytes=True))
def test_byte_programs_decode_chunk_by_chunk(program):
    assert 2 <= len(program) <= 5
    for w in program:
        assert 0 <= w < 1 << PG3.word
        ins, vals = decode(PG3, w)  # every word decodes, whatever its bits
        assert all(0 <= v < o.domain_size for o, v in zip(ins.operands, vals))


@given(words(PG3, mnemonics=["DIVU", "LD"]))
def test_mnemonics_restrict_the_draw(w):
    assert decode(PG3, w)[0].mnemonic in ("DIVU", "LD")


# --- states ---------------------------------------------------------------------------

def _isa_and_mode():
    return st.sampled_from([(n, m) for n in NAMES for m in ["guest", "supervisor", *ISAS[n].modes]])


@settings(max_examples=150)
@given(which=_isa_and_mode(), data=st.data())
def test_every_drawn_state_satisfies_the_requested_predicate(which, data):
    name, mode = which
    isa = ISAS[name]
    state = data.draw(states(isa, mode=mode))
    assert_within_widths(isa, state)
    assert satisfies(isa, mode, state)


@given(_any_isa(states))
def test_unconstrained_states_respect_widths_and_stay_small(drawn):
    isa, state = drawn
    assert_within_widths(isa, state)
    assert all(len(m.cells) <= values.MAX_CELLS for m in state.memories.values())


def test_a_predicate_space_lists_only_the_fields_the_predicate_reads():
    sp = predicates.space(PG3, "guest")
    assert sp.exact and len(sp.fields) >= 1
    assert all(PG3.fields[n].role.value == "system" for n in sp.fields)


def test_memories_draw_encoded_instruction_words():
    # a memory whose default is a non-NOP canonical instruction word is reachable
    found = find(memories(PG3), lambda m: m.default != 0 and decode(PG3, m.default)[0].mnemonic == "HALT",
                 settings=settings(FIND, max_examples=2000))
    assert decode(PG3, found.default)[0].mnemonic == "HALT"


def test_edge_values_are_drawn_on_purpose():
    # zero divisors, all ones, the sign bit and shifts at/past the width, within 200 states
    regs = [n for n, f in PG3.fields.items() if f.bank is not None]
    seen: set[int] = set()

    @settings(max_examples=200, database=None)
    @given(states(PG3))
    def collect(state):
        seen.update(state.fields[n] for n in regs)

    collect()
    assert {0, 1, (1 << 32) - 1, 1 << 31, (1 << 31) - 1, 31, 32, 33} <= seen


# --- guest configurations --------------------------------------------------------------

@given(_any_isa(guest_configs))
def test_guest_configs_fit_memory_with_room_for_the_monitor(drawn):
    isa, cfg = drawn
    size = isa.memories[isa.code_memory].size
    assert isinstance(cfg, GuestConfig)
    assert 1 <= cfg.vms <= 4 and 1 <= cfg.depth <= 3
    assert cfg.vms * cfg.partition_size <= size - monitor_reserve(size)
    assert size - cfg.vms * cfg.partition_size >= size / MONITOR_SHARE
    assert innermost(cfg.partition_size, cfg.depth) >= max(16, size // 64)


# --- shrinking: "finds X and shrinks it to exactly Y" -----------------------------------

def _first_privileged(isa):
    return min((i for i in isa.instructions if is_privileged(i)), key=lambda i: i.opcode)


def test_minimal_program_with_a_privileged_instruction_is_that_one_instruction():
    found = find(programs(PG3), lambda p: any(is_privileged(decode(PG3, w)[0]) for w in p),
                 settings=FIND)
    ins = _first_privileged(PG3)
    assert found == [encode(PG3, ins, [0] * len(ins.operands))]


def test_minimal_generic_program_is_the_nop_word():
    nop = PG3.instructions[0]
    assert nop.mnemonic == "NOP"  # the table's order is what shrinking relies on
    assert find(programs(PG3), lambda p: True, settings=FIND) == [encode(PG3, nop, [])]
    assert find(programs(PG3, as_bytes=True), lambda p: True, settings=FIND) == [0]


def test_minimal_guest_state_is_the_reset_state_in_the_guest_configuration():
    found = find(states(PG3, mode="guest"), lambda s: True, settings=FIND)
    expected = MachineState.zero(PG3)
    expected.fields.update(PG3.reset_fields)
    sp = predicates.space(PG3, "guest")
    expected.fields.update(zip(sp.fields, sp.solutions[0]))
    assert found == expected


def test_minimal_guest_config_is_one_vm_at_depth_one():
    assert find(guest_configs(PG3), lambda c: True, settings=FIND) == GuestConfig(1, 64, 1)


# --- arguments are checked, with messages that say what to do ------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: programs(PG3, min_size=3, max_size=2),
     "max_size=2 is less than min_size=3: no program length fits"),
    (lambda: programs(PG3, min_size=-1),
     "min_size must be a non-negative integer, not -1"),
    (lambda: states(PG3, mode="kernel"),
     "ISA 'pg3' has no mode 'kernel' (declared: s, u; or use 'guest' or 'supervisor')"),
    (lambda: instructions(PG3, mnemonics=["FOO"]),
     "ISA 'pg3' has no instruction 'FOO' (declared: " + ", ".join(i.mnemonic for i in PG3.instructions) + ")"),
    (lambda: programs(PG3, as_bytes=True, mnemonics=["NOP"]),
     "mnemonics cannot restrict a program drawn as_bytes (raw bytes decode to any instruction)"),
    (lambda: guest_configs(PG3, max_vms=0),
     "max_vms must be an integer of at least 1, not 0"),
    (lambda: guest_configs(PG3, min_partition=4000),
     "ISA 'pg3': code memory 'E' has 4096 cells; with 1/8 (512 cells) reserved for the monitor, "
     "3584 remain, fewer than min_partition=4000"),
    (lambda: states("pg3"),
     "expected an Isa (e.g. bundled()['pg3']), not str"),
])
def test_invalid_arguments_are_refused_with_a_clear_message(make, message):
    with pytest.raises(InvalidArgument) as exc:
        make()
    assert str(exc.value) == message
