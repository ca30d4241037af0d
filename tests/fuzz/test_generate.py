"""The seeded generator: same seed, same sequence; same domains and mode predicates as the
strategies; weights steer the instruction mix."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis.errors import InvalidArgument

from virtcheck.fuzz import Generator, GuestConfig
from virtcheck.fuzz.configs import innermost, monitor_reserve
from virtcheck.isa.asm import canonical, decode, encode
from virtcheck.isa.machines import bundled

from fuzz_helpers import NAMES, assert_within_widths, satisfies

ISAS = bundled()
PG3 = ISAS["pg3"]


def _run(g: Generator) -> list:
    out: list = [g.program(16) for _ in range(20)]
    out += [g.state(), g.state("guest"), g.state("supervisor"), g.guest_config(), g.instruction()]
    return out


def test_the_same_seed_gives_the_same_sequence():
    assert _run(Generator(PG3, 1234)) == _run(Generator(PG3, 1234))


def test_different_seeds_give_different_sequences():
    assert _run(Generator(PG3, 1)) != _run(Generator(PG3, 2))


def test_the_seed_is_kept_for_the_report():
    assert Generator(PG3, 77).seed == 77


@pytest.mark.parametrize("name", NAMES)
def test_words_are_canonical_and_operands_in_domain(name):
    isa = ISAS[name]
    g = Generator(isa, 5)
    for w in g.program(2000):
        assert canonical(isa, w) == w
    for _ in range(500):
        ins, vals = g.instruction()
        assert all(0 <= v < o.domain_size for o, v in zip(ins.operands, vals))
        assert decode(isa, encode(isa, ins, vals)) == (ins, vals)


@pytest.mark.parametrize("name", NAMES)
def test_states_satisfy_every_mode_and_respect_widths(name):
    isa = ISAS[name]
    g = Generator(isa, 9)
    for mode in ["guest", "supervisor", *isa.modes]:
        for _ in range(100):
            s = g.state(mode)
            assert_within_widths(isa, s)
            assert satisfies(isa, mode, s)


def test_every_instruction_is_drawn_and_edges_come_up_often():
    g = Generator(PG3, 3)
    seen = Counter(decode(PG3, w)[0].mnemonic for w in g.program(5000))
    assert set(seen) == {i.mnemonic for i in PG3.instructions}
    r1 = Counter(g.state().fields["r1"] for _ in range(2000))
    # ~3% each; uniform 32-bit values would give ~0: zero divisors and extreme shifts on purpose
    assert all(r1[v] > 20 for v in (0, 1, (1 << 32) - 1, 1 << 31, 32, 33))


def test_guest_configs_fit():
    g = Generator(PG3, 4)
    size = PG3.memories[PG3.code_memory].size
    for _ in range(500):
        c = g.guest_config()
        assert isinstance(c, GuestConfig)
        assert c.vms * c.partition_size <= size - monitor_reserve(size)
        assert innermost(c.partition_size, c.depth) >= 64


# --- steering ------------------------------------------------------------------------

def _mix(g: Generator, n: int = 3000) -> Counter:
    return Counter(decode(PG3, w)[0].mnemonic for w in g.program(n))


def test_weights_steer_the_instruction_mix():
    uniform = _mix(Generator(PG3, 11))
    g = Generator(PG3, 11)
    g.weights = {"DIVU": 30.0}
    steered = _mix(g)
    assert steered["DIVU"] > 5 * uniform["DIVU"]
    assert steered != uniform


def test_zero_weights_exclude_instructions():
    g = Generator(PG3, 12)
    g.weights = [1.0 if i.mnemonic in ("HALT", "LPSW") else 0.0 for i in PG3.instructions]
    assert set(_mix(g, 500)) == {"HALT", "LPSW"}
    g.weights = [1.0] * len(PG3.instructions)  # back to uniform
    assert len(_mix(g, 3000)) == len(PG3.instructions)


def test_weights_default_to_uniform_in_table_order():
    assert Generator(PG3, 0).weights == (1.0,) * len(PG3.instructions)


@pytest.mark.parametrize("weights, message", [
    ([1.0, 2.0], f"weights needs one weight per instruction ({len(PG3.instructions)}), got 2"),
    ([0.0] * len(PG3.instructions), "weights must be non-negative numbers, at least one of them positive"),
    ({"FOO": 1.0}, "ISA 'pg3' has no instruction 'FOO' to weight"),
])
def test_bad_weights_are_refused(weights, message):
    g = Generator(PG3, 0)
    with pytest.raises(InvalidArgument) as exc:
        g.weights = weights
    assert str(exc.value) == message


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidArgument) as exc:
        Generator(PG3, "abc")  # type: ignore[arg-type]
    assert str(exc.value) == "seed must be an integer (it is printed and recorded for replay), not 'abc'"
    with pytest.raises(InvalidArgument) as exc:
        Generator(PG3, 0).state("kernel")
    assert str(exc.value) == "ISA 'pg3' has no mode 'kernel' (declared: s, u; or use 'guest' or 'supervisor')"


def test_variable_length_isas_draw_operands_in_their_domains():
    from virtcheck.fuzz import Generator
    from virtcheck.isa.asm import decode_units, encode_units
    from virtcheck.isa.machines import bundled

    for name in ("x86", "m68000"):
        isa = bundled()[name]
        g = Generator(isa, seed=5)
        for _ in range(200):
            ins, vals = g.instruction()
            assert len(vals) == len(ins.operands)
            assert all(0 <= v < o.domain_size for v, o in zip(vals, ins.operands))
            assert decode_units(isa, encode_units(isa, ins, vals)) == (ins, vals)
