"""Malformed ISA definition files: each is one located line naming the declaration at
fault, and one bad file never loses the results of the others in the same run."""

from __future__ import annotations

from rel_helpers import PARTITION, TINY_SRC, line_of, tiny_variant, vc

ANCHOR = "\n# --- a variant"
PART_CALL = "tiny.partition("


def _with_partition(compose: str, fits: str) -> str:
    part = f"\n{PART_CALL}{compose},\n               fits={fits})\n"
    return TINY_SRC.replace(ANCHOR, part + ANCHOR)


#: (file name, source, the declaration its error must point at, the message after "file:line: ")
CASES = [
    ("fits9.py", _with_partition('lambda v, base, size: {"S": 0, "base": v.base + base[7:0], "limit": v.limit}',
                                 "lambda v, size: zext(v.limit, 9)"),
     PART_CALL, "partition fits must be a 1-bit predicate, not a value of 9 bits"),
    ("arity.py", _with_partition('lambda v, base: {"S": 0, "base": v.base, "limit": v.limit}',
                                 "lambda v, size: ule(v.limit, size)"),
     PART_CALL, "partition compose: the function must take 3 arguments, not (v, base)"),
    ("const.py", _with_partition('lambda v, base, size: {"S": 2, "base": v.base, "limit": v.limit}',
                                 "lambda v, size: ule(v.limit, size)"),
     PART_CALL, "partition compose: field 'S' is given the constant 0x2, which does not fit in 1 bit"),
    ("missing.py", _with_partition('lambda v, base, size: {"S": 0, "base": v.base}', "lambda v, size: ule(v.limit, size)"),
     PART_CALL, "partition compose must give every system field (missing: limit; extra: none)"),
    ("mode.py", tiny_variant('tiny.mode("user", lambda m: m.S == 0)', 'tiny.mode("user", lambda m: m.base)'),
     'tiny.mode("user"', "mode 'user' must be a 1-bit predicate over the state, not a value of 8 bits"),
    ("modename.py", tiny_variant('tiny.mode("user", lambda m: m.S == 0)', 'tiny.mode("user", lambda m: m.X == 0)'),
     'tiny.mode("user"', "mode 'user': reads undeclared field 'X' (declared: A, PC, S, base, limit)"),
    ("vacuous.py", tiny_variant("tiny.guest(lambda m: m.S == 0,", "tiny.guest(lambda m: (m.S == 0) & (m.S == 1),"),
     "tiny.guest(", "guest configuration is unsatisfiable: no state satisfies it, so every check in it would hold "
     "vacuously"),
    ("mem64.py", tiny_variant('tiny.memory("mem", 8, 16,', 'tiny.memory("mem", 64, 16,'),
     'tiny.memory("mem"', "memory 'mem': 64 address bits cannot be executed; the executors hold each memory "
     "whole, at most 2^24 cells (1..24 bits)"),
    ("wide.py", tiny_variant('@tiny.instruction("LDI {imm}", imm=Imm(8))', '@tiny.instruction("LDI {imm}", imm=Imm(12))'),
     '@tiny.instruction("LDI', "instruction 'LDI': operands need 12 bits but a 16-bit word has 10 after the 6-bit "
     "opcode"),
    ("reset.py", TINY_SRC.replace(ANCHOR, "\ntiny.reset(S=2)\n" + ANCHOR), "tiny.reset(",
     "reset: S = 2 does not fit in field 'S' (1 bit)"),
    ("nofits.py", TINY_SRC.replace(ANCHOR, f"\n{PART_CALL}None, fits=None)\n" + ANCHOR), PART_CALL,
     "partition: compose must be a function, not None"),
    ("private.py", TINY_SRC.replace(ANCHOR, '\n_other = Isa("other", word=16)\n_other.memory("mem", 8, 16)\n'
                                            f"{PART_CALL}lambda v, base, size: {{}}, fits=lambda v, size: 1,\n"
                                            '               private=(_other.memories["mem"],))\n' + ANCHOR),
     PART_CALL, "partition: private memory 'mem' belongs to another ISA object (name this ISA's own)"),
    ("bank.py", tiny_variant('tiny.field("A", 8, USER, doc="accumulator")', 'tiny.bank("r", 1 << 20, 8, USER)'),
     'tiny.bank(', "bank 'r': 1048576 registers cannot be executed (1..4096: each is a field of the state)"),
    ("foreign.py", tiny_variant("    m.trap(SYS, info=zext(code, 16))", "    m.trap(OTHER_SYS, info=zext(code, 16))")
     .replace("# --- modes", '_other = Isa("other", word=16)\nOTHER_SYS = _other.cause("syscall", CALL, 9)\n\n# --- modes'),
     "    m.trap(OTHER_SYS", "instruction 'SYSCALL': traps with cause 'syscall' (call code 9) of another ISA object "
     "(this ISA's 'syscall' is call code 3)"),
]


def test_every_bad_definition_is_one_located_line_and_the_good_one_is_still_checked(tmp_path):
    (tmp_path / "tiny.py").write_text(TINY_SRC)
    names = []
    expected = []
    for name, src, decl, message in CASES:
        (tmp_path / name).write_text(src)
        names.append(name)
        expected.append(f"error: {name}:{line_of(src, decl)}: {message}")
    (tmp_path / "loop.py").write_text("while True:\n    pass\n")
    expected.append("error: loop.py: loading did not finish within 2 s (a definition that never ends? raise the "
                    "bound with virtcheck --load-timeout SECONDS)")
    r = vc("--load-timeout", "2", "check", "tiny.py", *names, "loop.py", cwd=tmp_path)
    assert r.rc == 2  # an input did not load
    assert r.err.splitlines() == expected
    summary = [ln.split() for ln in r.out.splitlines() if ln.startswith("  tiny")]
    assert summary == [["tiny", "holds"], ["tiny-peek", "fails", "(PEEKS)"]]  # tiny.py's results are all there


def test_a_definition_imports_a_sibling_module(tmp_path):
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "widths.py").write_text("WORD = 16\n")
    src = "from widths import WORD\n" + TINY_SRC.replace("word=16", "word=WORD")
    (tmp_path / "defs" / "sib.py").write_text(src)
    r = vc("isa", "show", "defs/sib.py", cwd=tmp_path)
    assert r.rc == 0, r.err
    assert "  instruction word: 16 bits, opcode 6 bits" in r.out.splitlines()


def test_a_monitor_that_cannot_be_checked_keeps_the_classification(tmp_path):
    (tmp_path / "tiny.py").write_text(TINY_SRC)  # no partition: no trap-and-emulate monitor
    r = vc("check", "tiny.py", "--vmm", "trap-emulate", cwd=tmp_path)
    assert r.rc == 2
    assert r.err.splitlines() == [
        f"error: ISA '{n}' declares no partition mechanism (isa.partition): a trap-and-emulate monitor needs the "
        "ISA's own relocation to confine a guest" for n in ("tiny", "tiny-peek")]
    summary = [ln.split() for ln in r.out.splitlines() if ln.startswith("  tiny")]
    assert summary == [["tiny", "holds"], ["tiny-peek", "fails", "(PEEKS)"]]


def test_an_unknown_workload(tmp_path):
    r = vc("run", "pg3", "--workload", "nosuch", cwd=tmp_path)
    assert (r.rc, r.out, r.err) == (
        2, "", "error: --workload nosuch: no workload 'nosuch' for ISA 'pg3' (available: compute, kernel)\n")
