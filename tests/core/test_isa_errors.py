"""A malformed definition fails at load with one line naming file, line, instruction, problem."""

import textwrap

import pytest

from virtcheck.isa.errors import IsaError
from virtcheck.isa.loader import load

HEADER = '''\
from virtcheck.isa.lang import *
isa = Isa("tiny", word=16)
isa.bank("r", 4, 8, USER)
isa.pc("pc", 8)
isa.field("mode", 1, SYSTEM)
isa.memory("mem", 8, 16)
isa.cause("priv", PRIVILEGE, 1)
isa.mode("sup", lambda m: m.mode == 1, supervisor=True)
isa.mode("usr", lambda m: m.mode == 0)
isa.guest(lambda m: m.mode == 0, doc="user mode")

@isa.on_trap
def trap(m, cause, info):
    m.mode = 1
    m.pc = 0
'''


def _load(tmp_path, body, header=HEADER):
    path = tmp_path / "my_isa.py"
    path.write_text(header + textwrap.dedent(body))
    with pytest.raises(IsaError) as exc:
        load(str(path))
    return str(exc.value).replace(str(path), "my_isa.py")


def test_a_valid_file_loads(tmp_path):
    path = tmp_path / "ok.py"
    path.write_text(HEADER + "\n@isa.instruction('NOP')\ndef NOP(m):\n    pass\n")
    (isa,) = load(str(path))
    assert isa.name == "tiny" and [i.mnemonic for i in isa.instructions] == ["NOP"]


@pytest.mark.parametrize("body,message", [
    ('''
    @isa.instruction("GET {rd}", rd=Reg("r"))
    def GET(m, rd):
        m.r[rd] = m.cr9
    ''', "my_isa.py:19: instruction 'GET': reads undeclared field 'cr9' (declared: pc, mode, r0-r3)"),
    ('''
    @isa.instruction("PUT {rs}", rs=Reg("r"))
    def PUT(m, rs):
        m.cr9 = m.r[rs]
    ''', "my_isa.py:19: instruction 'PUT': writes undeclared field 'cr9' (declared: pc, mode, r0-r3)"),
    ('''
    @isa.instruction("WIDE {rd}", rd=Reg("r"))
    def WIDE(m, rd):
        m.r[rd] = m.r[rd] + m.pc + m.mode
    ''', "my_isa.py:19: instruction 'WIDE': width mismatch in ADD: (r[$rd] + pc) has 8 bits, mode has 1 bits "
         "(use zext/sext/extract to make them agree)"),
    ('''
    @isa.instruction("NOP")
    def NOP(m):
        pass

    @isa.instruction("NOP")
    def NOP(m):
        pass
    ''', "my_isa.py:21: instruction 'NOP': duplicate mnemonic"),
    ('''
    @isa.instruction("BIG {imm}", imm=Imm(12, field=8))
    def BIG(m, imm):
        pass
    ''', "my_isa.py:17: instruction 'BIG': operand 'imm' has a 12-bit domain but only 8 bits in the encoding"),
    ('''
    @isa.instruction("W {rd}", rd=Reg("r"))
    def W(m, rd):
        m.r[rd] = m.mode
    ''', "my_isa.py:19: instruction 'W': writes 1 bits to r[$rd], which has 8 bits (use zext/sext/extract)"),
    ('''
    @isa.instruction("T")
    def T(m):
        m.trap_if(m.mode == 0, "nope")
    ''', "my_isa.py:19: instruction 'T': traps with undeclared cause 'nope' (declared: priv)"),
    ('''
    @isa.instruction("B {rd}", rd=Reg("r"))
    def B(m, rd):
        if m.r[rd] == 0:
            m.pc = 0
    ''', "my_isa.py:19: instruction 'B': a symbolic value ((r[$rd] == 0:8)) has no Python truth value: the "
         "condition depends on the machine state, so write it with ite(cond, a, b), m.trap_if(cond, cause) or "
         "m.set_if(cond, field, value) instead of 'if'/'and'/'or'"),
    ('''
    @isa.instruction("X {rd}", rd=Reg("q"))
    def X(m, rd):
        pass
    ''', "my_isa.py:17: instruction 'X': operand 'rd' names register bank 'q', which is not declared (declared: r)"),
])
def test_malformed_instruction_messages(tmp_path, body, message):
    assert _load(tmp_path, body) == message


def test_no_supervisor_mode(tmp_path):
    header = HEADER.replace(", supervisor=True", "")
    assert _load(tmp_path, "\n@isa.instruction('NOP')\ndef NOP(m):\n    pass\n", header) == \
        "my_isa.py:2: ISA 'tiny' has no supervisor mode (declare one with supervisor=True)"


def test_field_declared_twice(tmp_path):
    assert _load(tmp_path, '\nisa.field("mode", 2, USER)\n') == "my_isa.py:17: field 'mode' is declared twice"


def test_python_error_in_definition_is_located(tmp_path):
    assert _load(tmp_path, "\nundefined_name\n") == "my_isa.py:17: NameError: name 'undefined_name' is not defined"


def test_unknown_bundled_name():
    with pytest.raises(IsaError) as exc:
        load("pg4")
    assert str(exc.value).startswith("unknown ISA 'pg4' (bundled: pg3, pg3-jrst, ")
