"""The machine and the trap-and-emulate monitor, compiled to C for throughput.

`virtcheck.hypervisor.Machine` and `Monitor` are the reference: Python over the ISA's
compiled steps, about a microsecond an instruction and several per trap. A differential
fuzzer runs millions of short programs, most of which trap every few instructions, so it
needs both loops without the interpreter. This module writes them in C over the native
backend's per-instruction functions (`virtcheck.isa.native`), from the same
declarations the Python monitor uses -- the map f from `mapping.IsaFacts` (the ISA's
partition composition), the trap semantics, the fetch -- and mirrors the Python control
flow statement for statement:

* ``vc_exec``: the real machine runs until a trap, a halt or the budget (the executor
  face of `Machine.execute` / `fuzz.runner.StepMachine`: a trap is reported, not entered);
* ``vc_direct``: `VirtualMachine.direct` -- enter f, run directly on the real memory,
  leave f; on a stop, run the instruction's own semantics on the virtual state over the
  partition view: completed = **emulated** (and direct execution resumes), trapped =
  **reflected**, else halted;
* ``vc_run``: `fuzz.runner.run_steps` on either -- trap entries count as steps and run
  the ISA's trap semantics on the (virtual) state and its memory.

Tests run both against the Python classes on random programs and compare every field,
cell, trap and count. One monitor level only: a stack is the Python monitor's job.
"""

from __future__ import annotations

import ctypes
from typing import Optional, Sequence

from virtcheck.hypervisor.mapping import Partition, facts
from virtcheck.hypervisor.policies import Capability
from virtcheck.isa import expr as E
from virtcheck.isa.model import Isa
from virtcheck.isa.native import HALT, OK, TRAP, CSource, NativeUnavailable, build, unsupported as isa_unsupported
from virtcheck.isa.semantics import Builder, Effects

#: what the native monitor can do for a policy (`policies.Capability`): it runs a guest
#: directly and emulates or reflects what traps; it neither interprets nor gates
CAPABILITIES = frozenset({Capability.DIRECT})

U64 = ctypes.c_uint64
I64 = ctypes.c_int64
U64P = ctypes.POINTER(U64)

#: a run's end, as ``vc_run`` returns it
END_BUDGET, END_HALT = 0, 1


def unsupported(isa: Isa) -> Optional[str]:
    """Why no native machine and monitor can be built for ``isa``; None if they can."""
    why = isa_unsupported(isa)
    if why:
        return why
    f = facts(isa)
    refusal = f.monitor_refusal()
    if refusal:
        return refusal
    if f.hardware is not isa:
        return (f"ISA '{isa.name}' runs partitioned guests on other hardware semantics ('{f.hardware.name}'); "
                "the native monitor runs the ISA's own")
    if isa.partition_private:
        return f"ISA '{isa.name}' gives each VM private memories ({', '.join(isa.partition_private)}); " \
               "the native monitor partitions every memory"
    for _, e in f.compose_expressions():
        if any(isinstance(n, E.Load) for n in E.walk(e)):
            return f"ISA '{isa.name}': its partition composition reads memory"
    return None


LOOPS = r"""
/* the Python Accounting's counts, plus emulations from a state the partition fits
   (`IsaFacts.fits`): the efficiency oracle judges only those */
typedef struct {
    u64 direct; u64 trapped[VC_NINS + 1]; u64 emulated[VC_NINS + 1]; u64 reflected[VC_NINS + 1];
    u64 emulated_fit[VC_NINS + 1];
} vc_acct;

/* the real machine: run until a trap (reported in *why as TRAP + cause, with *info, not
   entered), a halt (*why = HALT) or `budget` instructions (*why = -1); the count done */
static int vc_exec(u64 *S, vc_mem *M, int budget, int *why, u64 *info) {
    int n = 0, idx;
    while (n < budget) {
        int r = vc_step(S, M, info, &idx);
        if (r != 0) { *why = r; return n; }
        n++;
    }
    *why = -1;
    return n;
}

/* VirtualMachine.direct: V is the virtual state, P the real memories, G the partition */
static int vc_direct(u64 *V, vc_mem *P, vc_mem *G, u64 base, u64 size, vc_acct *acct,
                     int budget, int *why, u64 *info) {
    int n = 0;
    for (;;) {
        u64 saved[VC_NSYS + 1];
        int hw, idx, fit;
        u64 hinfo;
        vc_enter(V, base, size, saved);
        int k = vc_exec(V, P, budget - n, &hw, &hinfo);
        vc_leave(V, saved);
        n += k;
        acct->direct += k;
        if (hw < 0) { *why = -1; return n; }
        fit = vc_fits(V, size);
        int r = vc_step(V, G, info, &idx);
        acct->trapped[idx]++;
        if (r == 0) {
            acct->emulated[idx]++;
            if (fit) acct->emulated_fit[idx]++;
            n++;
            if (n >= budget) { *why = -1; return n; }
            continue;
        }
        if (r >= 2) { acct->reflected[idx]++; *why = r; return n; }
        *why = 1;
        return n;
    }
}

/* fuzz.runner.run_steps: on the bare machine (acct == 0: S on memories P) or as a guest
   (acct != 0: virtual state S, real memories P, partition G at base/size). Events are
   (step, cause, info) triples, at most `budget` of them. Returns END_HALT or END_BUDGET. */
static int vc_run(u64 *S, vc_mem *P, vc_mem *G, u64 base, u64 size, vc_acct *acct, int budget,
                  i64 *ev, int *nev, int *steps_out) {
    int steps = 0;
    *nev = 0;
    while (steps < budget) {
        int why;
        u64 info;
        if (acct) steps += vc_direct(S, P, G, base, size, acct, budget - steps, &why, &info);
        else steps += vc_exec(S, P, budget - steps, &why, &info);
        if (why < 0) break;
        if (why == 1) { *steps_out = steps; return 1; }
        ev[3 * *nev] = steps; ev[3 * *nev + 1] = why - 2; ev[3 * *nev + 2] = (i64)info;
        (*nev)++;
        vc_trap(why - 2, S, acct ? G : P, info);
        steps++;
    }
    *steps_out = steps;
    return 0;
}

static void vc_views(vc_mem *P, u64 **cells, u64 off, const u64 *sizes) {
    for (int j = 0; j < VC_NMEMS; j++) { P[j].c = cells[j]; P[j].off = off; P[j].size = sizes[j]; }
}

/* exported: one run, bare or monitored (base/size name the partition; acct may be 0) */
int vcx_run(u64 *S, u64 **phys, int monitored, u64 base, u64 size, int budget, i64 *ev, int *nev,
            int *steps, u64 *acct_out) {
    vc_mem P[VC_NMEMS], G[VC_NMEMS];
    u64 sizes[VC_NMEMS];
    for (int j = 0; j < VC_NMEMS; j++) sizes[j] = size;
    vc_views(P, phys, 0, VC_MEMSIZE);
    vc_views(G, phys, base, sizes);
    vc_acct acct;
    memset(&acct, 0, sizeof acct);
    int end = vc_run(S, P, G, base, size, monitored ? &acct : 0, budget, ev, nev, steps);
    if (acct_out) memcpy(acct_out, &acct, sizeof acct);
    return end;
}
"""


def source(isa: Isa) -> CSource:
    """The native machine and monitor of ``isa`` (raises NativeUnavailable)."""
    why = unsupported(isa)
    if why:
        raise NativeUnavailable(why)
    f = facts(isa)
    src = CSource(isa)
    lay = f.layout
    sys_slots = f.system_slots
    writes = dict(f.compose_expressions())
    save = " ".join(f"saved[{k}] = S[{i}];" for k, i in enumerate(sys_slots))
    src.add(f"#define VC_NSYS {len(sys_slots)}\n"
            f"static const u64 VC_MEMSIZE[VC_NMEMS] = {{{', '.join(str(n) for n in lay.mem_size)}}};\n")
    # f, in place (IsaFacts.entering): save the virtual system fields, write the composed ones
    src.function("static void vc_enter(u64 *S, u64 base, u64 size, u64 *saved)", Effects(writes=writes),
                 {"base": "base", "size": "size"}, exits=False, head=["vc_mem *M = 0; (void)M;", save], tail=())
    restore = " ".join(f"S[{i}] = saved[{k}];" for k, i in enumerate(sys_slots))
    src.add(f"static void vc_leave(u64 *S, const u64 *saved) {{ {restore} }}\n")
    src.function("static int vc_fits(u64 *S, u64 size)", Effects(result=f.fits_expression()), {"size": "size"},
                 exits=False, result_var="r", head=["u64 r = 0; vc_mem *M = 0; (void)M;"], tail=["return (int)r;"])
    modes = list(isa.modes)
    b = Builder(isa)
    mode_lines = []
    for k, name in enumerate(modes):
        expr = isa.modes[name](b)
        src.function(f"static int vc_mode_{k}(u64 *S)", Effects(result=expr), {}, exits=False, result_var="r",
                     head=["u64 r = 0; vc_mem *M = 0; (void)M;"], tail=["return (int)r;"])
        mode_lines.append(f"    if (vc_mode_{k}(S)) return {k};")
    src.add("#define VC_NMODES %d\n/* the first declared mode whose predicate holds; VC_NMODES if none */\n"
            "static int vc_mode(u64 *S) {\n%s\n    return VC_NMODES;\n}\n" % (len(modes), "\n".join(mode_lines)))
    src.add(LOOPS)
    return src


class NativeRunner:
    """One run at a time through the native loops, on Python lists (for tests, replay)."""

    def __init__(self, isa: Isa):
        self.isa = isa.finalize()
        self.facts = facts(isa)
        self.lib = build(source(isa).text(), f"vc-{isa.name}")
        self.lib.vcx_run.restype = ctypes.c_int
        lay = self.facts.layout
        self.n_fields = len(lay.names)
        self.mem_size = lay.mem_size
        self.causes = list(isa.causes)
        self.n_ins = len(isa.instructions)

    def run(self, S: list[int], mems: Sequence[list[int]], budget: int,
            partition: Optional[Partition] = None) -> tuple[str, int, list[tuple[int, str, int]], Optional[dict]]:
        """Run ``S`` (in place) bare on ``mems``, or as a monitored guest in ``partition``
        of ``mems`` (the real memories); returns (end, steps, events, accounting)."""
        Sa = (U64 * self.n_fields)(*S)
        arrays = [(U64 * n)(*m) for n, m in zip(self.mem_size, mems)]
        ptrs = (U64P * len(arrays))(*[ctypes.cast(a, U64P) for a in arrays])
        ev = (I64 * (3 * max(1, budget)))()
        nev, steps = ctypes.c_int(), ctypes.c_int()
        acct = (U64 * (1 + 4 * (self.n_ins + 1)))()
        m = (1 << 64) - 1
        base, size = (partition.base, partition.size) if partition else (0, 0)
        mask = self.facts._addr_mask
        end = self.lib.vcx_run(Sa, ptrs, int(partition is not None), U64(base & mask & m), U64(size & mask & m),
                               ctypes.c_int(budget), ev, ctypes.byref(nev), ctypes.byref(steps), acct)
        S[:] = list(Sa)
        for dst, a in zip(mems, arrays):
            dst[:] = list(a)
        events = [(int(ev[3 * k]), self.causes[int(ev[3 * k + 1])], int(ev[3 * k + 2]) & m) for k in range(nev.value)]
        account = None
        if partition is not None:
            n = self.n_ins + 1
            names = [i.mnemonic for i in self.isa.instructions] + ["<fetch>"]
            vals = list(acct)
            account = {"direct": vals[0],
                       "trapped": {names[k]: vals[1 + k] for k in range(n) if vals[1 + k]},
                       "emulated": {names[k]: vals[1 + n + k] for k in range(n) if vals[1 + n + k]},
                       "reflected": {names[k]: vals[1 + 2 * n + k] for k in range(n) if vals[1 + 2 * n + k]}}
        return ("halt" if end == END_HALT else "budget"), steps.value, events, account


def runner(isa: Isa) -> NativeRunner:
    """The (cached, per process) native runner of ``isa`` (raises NativeUnavailable)."""
    return isa.derived.fact("native.runner", lambda: NativeRunner(isa))


__all__ = ["HALT", "OK", "TRAP", "NativeRunner", "NativeUnavailable", "runner", "source", "unsupported"]
