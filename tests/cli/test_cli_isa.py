"""``virtcheck isa list`` and ``virtcheck isa show`` through CliRunner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from virtcheck.cli import main
from virtcheck.isa.machines import bundled

TINY = str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "tiny_isa.py")


def invoke(*args: str):
    return CliRunner().invoke(main, ["isa", *args], catch_exceptions=False)


def test_list_names_every_bundled_isa():
    result = invoke("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["isa", "instructions", "doc", "source"]
    firsts = [line.split()[:2] for line in lines[2:] if line and not line.startswith(" ")]
    assert firsts == [[name, str(len(isa.instructions))] for name, isa in bundled().items()]


def test_show_tiny():
    result = invoke("show", TINY)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "tiny: An accumulator machine with a relocation window."
    assert "  S        1        system  mode: 1 = supervisor, 0 = user" in lines
    assert "  sup (supervisor)" in lines
    assert "Guest configuration: S = 0 (guests run in user mode inside their window)" in lines
    assert "  fault       memory     1       address outside the window" in lines
    i = lines.index("    5  BZ {off}  -- Branch to pc + off when A = 0.")
    assert lines[i + 1:i + 4] == [
        "         operand off: pc-relative target pc-128..pc+127",
        "         encoding opcode[15:10]=0x5 off[9:2]",
        "         reads A, PC; writes PC",
    ]
    # both ISAs of the file are shown
    assert "tiny-peek: tiny plus an unprivileged read of the mode bit." in lines


def test_show_bundled_register_bank():
    result = invoke("show", "pg3")
    assert result.exit_code == 0
    assert "  r0-r7    32       user    bank 'r' of 8: general registers" in result.stdout.splitlines()


def test_show_unknown():
    result = invoke("show", "nosuch")
    assert result.exit_code == 2
    assert result.stderr == (f"error: unknown ISA 'nosuch' (bundled: {', '.join(bundled())}; "
                             "or give a path to a .py file)\n")
