"""Free inputs (Isa.unconstrained): the language's way to say "the manual leaves this value
open". Z3 sees any value in every state; execution reads the state's (the declared choice)."""

import textwrap

import pytest

from virtcheck.checks.classify import classify_isa
from virtcheck.isa.errors import IsaError
from virtcheck.isa.loader import load
from virtcheck.isa.state import MachineState
from virtcheck.checks.witness import run

TINY = '''\
from virtcheck.isa.lang import *
isa = Isa("free", word=16)
isa.pc("pc", 8)
isa.field("A", 8, USER)
isa.field("S", 1, SYSTEM)
isa.unconstrained("unk", 8, doc="what an UNPREDICTABLE read returns")
isa.memory("mem", 8, 16)
isa.cause("priv", PRIVILEGE, 1)
isa.mode("sup", lambda m: m.S == 1, supervisor=True)
isa.mode("usr", lambda m: m.S == 0)
isa.guest(lambda m: m.S == 0, doc="user mode")

@isa.on_trap
def trap(m, cause, info):
    m.S = 1
    m.pc = 0

@isa.instruction("NOP")
def NOP(m):
    pass

@isa.instruction("RANDOM")
def RANDOM(m):
    """A := an UNPREDICTABLE value, in every mode."""
    m.A = m.unk

@isa.instruction("PEEK")
def PEEK(m):
    """A := 5 in supervisor mode; UNPREDICTABLE in user mode (no trap)."""
    m.A = ite(m.S == 1, const(5, 8), m.unk)
'''


def _isa(tmp_path, extra=""):
    path = tmp_path / "free_isa.py"
    path.write_text(TINY + textwrap.dedent(extra))
    (isa,) = load(str(path))
    return isa.finalize(), path


def test_z3_lets_the_free_input_take_any_value(tmp_path):
    isa, _ = _isa(tmp_path)
    res = {r.mnemonic: r for r in classify_isa(isa).instructions}
    # the same free value in two states a guest cannot tell apart: no difference
    assert res["RANDOM"].value("sensitive") is False
    # user mode's free value need not be 5: mode-sensitive, and not privileged (it never traps)
    peek = res["PEEK"]
    assert peek.value("mode_sensitive") is True and peek.value("privileged") is False
    w = peek.props["mode_sensitive"].witness
    assert w.replayed and any(s.fields["unk"] != 5 for s in w.states)


def test_execution_reads_the_declared_choice(tmp_path):
    isa, _ = _isa(tmp_path)
    state = MachineState.zero(isa)
    state.fields["unk"] = 0x2A
    _, post = run(isa, isa.by_mnemonic("PEEK"), {}, state)
    assert post.fields["A"] == 0x2A and post.fields["unk"] == 0x2A


def test_writing_a_free_input_is_refused(tmp_path):
    extra = '''
    @isa.instruction("SETU")
    def SETU(m):
        m.unk = m.A
    '''
    with pytest.raises(IsaError) as exc:
        _isa(tmp_path, extra)
    msg = str(exc.value).replace(str(tmp_path / "free_isa.py"), "free_isa.py")
    assert msg == ("free_isa.py:32: instruction 'SETU': instruction writes free input 'unk' "
                   "(declared with isa.unconstrained: read-only)")
