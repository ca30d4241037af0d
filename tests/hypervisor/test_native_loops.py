"""The native machine and monitor loops (`virtcheck.hypervisor.native`) against the
Python ones they mirror: on random cases of every bundled ISA they can build, the same
fields, cells, traps, end, steps and accounting, bare and monitored."""

import pytest

from virtcheck.fuzz.casegen import CaseGenerator
from virtcheck.fuzz.runner import rig, run_steps
from virtcheck.hypervisor import native as N
from virtcheck.isa.machines import bundled
from virtcheck.isa.native import NativeUnavailable, compiler

pytestmark = pytest.mark.skipif(compiler() is None, reason="no C compiler on this machine")

NATIVE_ISAS = [n for n, isa in bundled().items() if N.unsupported(isa) is None]


def test_the_fixed_width_bundled_isas_are_served():
    assert {"pg3", "pg3-jrst", "pg3-mfsr", "pg3-lra", "pg3-popf"} <= set(NATIVE_ISAS)


@pytest.mark.parametrize("name", NATIVE_ISAS)
def test_native_runs_equal_the_python_machine_and_monitor(name):
    isa = bundled()[name]
    nr = N.runner(isa)
    gen = CaseGenerator(isa, 2026)
    emulated = reflected = 0
    for _ in range(400):
        case = gen.case()
        r = rig(isa, case.partition_size)
        S0, mems0 = case.image(isa)
        Sb = list(S0)
        eb = run_steps(r.bare, Sb, r.load_bare(mems0), case.budget, r.entry)
        Sv = list(S0)
        r.load_vm(mems0)
        phys = [list(m) for m in r._backing]
        ev = run_steps(r.vm, Sv, r.vm.mems, case.budget, r.entry)

        S1 = list(S0)
        m1 = [list(x) + [0] * (n - len(x)) for x, n in zip(mems0, nr.mem_size)]
        end, steps, events, _ = nr.run(S1, m1, case.budget)
        assert (S1, end, steps, events) == (Sb, eb.end, eb.steps, eb.events)
        assert [m[:case.partition_size] for m in m1] == r.bare_memory()

        S2 = list(S0)
        end, steps, events, acct = nr.run(S2, phys, case.budget, r.vm.partition)
        assert (S2, end, steps, events) == (Sv, ev.end, ev.steps, ev.events)
        assert phys == [list(b) for b in r._backing]  # every physical cell, not only the partition
        py = r.vm.account
        assert acct["direct"] == py.direct
        assert acct["emulated"] == {k: v for k, v in py.emulated.items() if v}
        emulated += sum(acct["emulated"].values())
        reflected += sum(acct["reflected"].values())
    assert emulated and reflected  # the cases exercised both monitor paths


def test_an_isa_the_native_loops_cannot_serve_says_why():
    assert "variable-length" in N.unsupported(bundled()["x86"])
    with pytest.raises(NativeUnavailable, match="variable-length"):
        N.runner(bundled()["m68000"])


def test_partition_hardware_or_private_memories_are_refused():
    """Declarations the native monitor does not model are refused by name, not ignored."""
    pg3 = bundled()["pg3"]
    twin = pg3.derive("pg3-twin", doc="pg3 with its partition hardware named")
    twin.partition(pg3.partition_fn, fits=pg3.partition_fits_fn, hardware=pg3)
    assert "other hardware semantics ('pg3')" in N.unsupported(twin)
    private = pg3.derive("pg3-private", doc="pg3 with a private port memory")
    private.memory("io", 4, 8, doc="ports")
    private.partition(pg3.partition_fn, fits=pg3.partition_fits_fn, private=("io",))
    assert "private memories (io)" in N.unsupported(private)
