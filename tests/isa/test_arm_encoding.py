"""A32 encodings of the bundled ARM machines (isa/machines/arm.py): a round-trip property test,
and both directions against Debian's binutils-arm-none-eabi (skipped where it is missing):
GNU as assembles our text to our bytes, our decoder reads its bytes back to the same form and
operands, and objdump names our bytes with our mnemonic."""

import random
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from virtcheck.isa.asm import assemble, decode_units, encode_units, format_instruction
from virtcheck.isa.machines import arm as A

SEED = 13  #: the samples for binutils are drawn from this seed (printed by the failing assert)


@pytest.mark.parametrize("isa", [A.armv7, A.armv7_ve], ids=lambda i: i.name)
def test_round_trip(isa):
    isa.finalize()

    @settings(max_examples=300)
    @given(data=st.data())
    def check(data):
        ins = data.draw(st.sampled_from(isa.instructions))
        vals = [data.draw(st.integers(0, o.domain_size - 1)) for o in ins.operands]
        cells = encode_units(isa, ins, vals)
        assert len(cells) == 4 == ins.length
        assert decode_units(isa, cells) == (ins, tuple(vals))
        assert assemble(isa, format_instruction(isa, ins, vals)).words() == cells

    check()


def _value(rng, ins, o, chosen):
    """An operand value GNU as accepts: the UNPREDICTABLE and hint-space values the model
    decodes (empty lists, empty masks, PC or base-equals-transfer registers) are left out."""
    if o.kind == "reg":
        taken = {chosen.get(n) for n in ("rn", "rt")} if ins.mnemonic.endswith("T") else set()
        return rng.choice([r for r in range(13) if r not in taken])
    if o.kind in ("reglist", "letters"):
        v = rng.randrange(1, 1 << o.width)
        if o.kind == "reglist" and chosen.get("wb") == 1 and "rn" in chosen:
            v &= ~(1 << chosen["rn"])
        return v or 1 << (chosen.get("rn", 0) + 1) % 13
    return rng.randrange(o.domain_size)


def _samples(isa, per_form=4):
    rng = random.Random(SEED)
    out = []
    for ins in isa.instructions:
        for _ in range(per_form):
            chosen = {}
            for o in sorted(ins.operands, key=lambda o: o.kind != "flag"):  # writeback first
                chosen[o.name] = _value(rng, ins, o, chosen)
            vals = [chosen[o.name] for o in ins.operands]
            text = format_instruction(isa, ins, vals)
            gnu = text
            if ins.mnemonic in ("B", "BL", "BEQ", "BNE"):  # GNU as reads a number as an address
                off = vals[0] - (1 << 24) if vals[0] >> 23 else vals[0]
                gnu = f"{ins.assembly_mnemonic} .{8 + 4 * off:+d}"
            out.append((ins, vals, text, gnu))
    return out


needs_arm_binutils = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("arm-none-eabi-as", "arm-none-eabi-objcopy", "arm-none-eabi-objdump")),
    reason="binutils-arm-none-eabi (arm-none-eabi-as, -objcopy, -objdump) not installed")


def _gnu_words(tmp_path, lines):
    (tmp_path / "t.s").write_text(".arm\n" + "\n".join(lines) + "\n")
    subprocess.run(["arm-none-eabi-as", "-march=armv7ve", "-o", str(tmp_path / "t.o"), str(tmp_path / "t.s")],
                   check=True, capture_output=True)
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", str(tmp_path / "t.o"),
                    str(tmp_path / "t.bin")], check=True)
    data = (tmp_path / "t.bin").read_bytes()
    return [list(data[k:k + 4]) for k in range(0, len(data), 4)]


@needs_arm_binutils
@pytest.mark.parametrize("isa", [A.armv7, A.armv7_ve], ids=lambda i: i.name)
def test_gnu_as_agrees_both_ways(isa, tmp_path):
    samples = _samples(isa.finalize())
    gnu = _gnu_words(tmp_path, [g for *_, g in samples])
    assert len(gnu) == len(samples)
    for (ins, vals, text, g), cells in zip(samples, gnu):
        ours = encode_units(isa, ins, vals)
        assert ours == cells, (f"seed {SEED}", text, g, bytes(ours).hex(), bytes(cells).hex())
        assert decode_units(isa, cells) == (ins, tuple(vals)), text


#: objdump's names where they differ from the form's assembly mnemonic
OBJDUMP_ALIASES = {"STMDB": {"push"}, "LDM": {"pop", "ldmia"}, "STM": {"stmia"}}


@needs_arm_binutils
def test_objdump_names_our_bytes(tmp_path):
    isa = A.armv7_ve.finalize()
    samples = _samples(isa, per_form=2)
    prog = b"".join(bytes(encode_units(isa, ins, vals)) for ins, vals, _, _ in samples)
    (tmp_path / "ours.bin").write_bytes(prog)
    out = subprocess.run(["arm-none-eabi-objdump", "-D", "-b", "binary", "-m", "arm", "-M", "reg-names-raw",
                          str(tmp_path / "ours.bin")], check=True, capture_output=True, text=True).stdout
    rows = [ln.split("\t") for ln in out.splitlines() if ln.startswith(" ") and ln.count("\t") >= 2]
    assert len(rows) == len(samples)
    for (ins, vals, text, _), row in zip(samples, rows):
        got = row[2].split()[0].lower()
        want = {ins.assembly_mnemonic.lower()} | OBJDUMP_ALIASES.get(ins.assembly_mnemonic, set())
        assert got in want, (text, row[2])
