"""``virtcheck run``: run a guest program bare or under stacked monitors of any policy.

Shows the final guest state, the trap log and the monitor's accounting. Exit codes: 0 the
run finished (halted or used its step budget), 2 a usage or input error (one line naming
the file and what is wrong).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import click

from virtcheck.isa.errors import AsmError, IsaError
from virtcheck.isa.model import Isa

EXIT_OK, EXIT_USAGE = 0, 2


def _fail(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(EXIT_USAGE)


def _load_isa(target: str) -> Isa:
    from virtcheck.isa.loader import load

    isas = load(target)
    if len(isas) != 1:
        raise IsaError(f"defines {len(isas)} ISAs; run needs exactly one", where=target)
    return isas[0].finalize()


def _check_fits(isa: Isa, prog: Any, source: str) -> None:
    """Refuse a program with cells past the end of the ISA's code memory (one line, naming
    the source line of the instruction that reaches there)."""
    size = isa.memories[isa.code_memory].size  # type: ignore[index]
    outside = [a for a in prog.cells if not 0 <= a < size]
    if outside:
        a = min(outside)
        starts = [s for s in prog.lines if s <= a]
        line = prog.lines[max(starts)] if starts else None
        where = f"{source}:{line}" if line is not None else source
        _fail(f"{where}: address {a:#x} lies outside {isa.code_memory}, which has {size} cells on '{isa.name}'")


def _policies(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[list[str]]:
    """``--vmm NAME`` or a stack bottom first, ``--vmm trap-emulate,hybrid``; every name registered."""
    if value is None:
        return None
    from virtcheck.hypervisor.policies import names

    chosen = [v.strip() for v in value.split(",")]
    bad = [v for v in chosen if v not in names()]
    if bad or not chosen:
        raise click.BadParameter(f"unknown monitor policy {', '.join(repr(b) for b in bad) or '(none)'} "
                                 f"(known: {', '.join(names())})")
    return chosen


def _vmm_help() -> str:
    from virtcheck.hypervisor.policies import names

    return (f"Run under monitors of this policy ({', '.join(names())}); a comma-separated list is a stack, "
            "bottom first (trap-emulate,hybrid: a hybrid monitor on a trap-and-emulate one).")


def _state_lines(isa: Isa, fields: dict[str, int]) -> str:
    return " ".join(f"{n}={v:#x}" for n, v in fields.items())


@click.command("run")
@click.argument("isa_name", metavar="ISA")
@click.argument("program", metavar="PROGRAM.s", required=False)
@click.option("--bare", "mode", flag_value="bare", help="Run on the real machine (default without --vmm).")
@click.option("--vmm", default=None, callback=_policies, metavar="POLICY[,POLICY...]", help=_vmm_help())
@click.option("--vms", type=click.IntRange(1, 64), default=1, show_default=True, help="Guests (each runs PROGRAM).")
@click.option("--depth", type=click.IntRange(1, 8), default=None, help="Stacked monitors of the one --vmm policy [default: 1].")
@click.option("--steps", type=click.IntRange(1), default=1_000_000, show_default=True,
              help="Step budget: completed instructions per guest.")
@click.option("--slice", "slice_", type=click.IntRange(1), default=10_000, show_default=True,
              help="Time slice of the round-robin scheduler, in instructions.")
@click.option("--save-snapshot", type=click.Path(dir_okay=False), default=None,
              help="Save guest 0's state to this file at the end (with --vmm).")
@click.option("--from-snapshot", type=click.Path(dir_okay=False), default=None,
              help="Start the guest from this snapshot instead of PROGRAM (with --vmm).")
@click.option("--workload", default=None, help="Run a bundled workload of the ISA instead of PROGRAM.s.")
@click.option("--trap-log", type=click.IntRange(0), default=20, show_default=True, help="Trap log lines to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(isa_name: str, program: Optional[str], mode: Optional[str], vmm: Optional[list[str]], vms: int,
            depth: Optional[int],
            steps: int, slice_: int, save_snapshot: Optional[str], from_snapshot: Optional[str],
            workload: Optional[str], trap_log: int, as_json: bool) -> None:
    """Run PROGRAM.s (pg3 assembly for pg3, ...) on ISA, bare or under a monitor."""
    from virtcheck.hypervisor import Machine, MonitorError, monitor_stack, workloads
    from virtcheck.hypervisor import snapshot as snap
    from virtcheck.isa.asm import assemble

    if mode == "bare" and vmm:
        _fail("--bare and --vmm exclude each other")
    if vmm is None and (save_snapshot or from_snapshot or vms != 1 or depth not in (None, 1)):
        _fail("--vms, --depth and snapshots need --vmm POLICY")
    if vmm is not None and len(vmm) > 1 and depth not in (None, len(vmm)):
        _fail(f"--depth {depth} contradicts --vmm {','.join(vmm)} (a stack of {len(vmm)})")
    stack = None if vmm is None else (vmm * (depth or 1) if len(vmm) == 1 else vmm)
    depth = 0 if stack is None else len(stack)
    if save_snapshot and from_snapshot and Path(save_snapshot).resolve() == Path(from_snapshot).resolve():
        pass  # allowed: continue and overwrite
    try:
        isa = _load_isa(isa_name)
    except IsaError as exc:
        _fail(str(exc))
    prog = None
    try:
        if workload:
            prog = workloads.load(isa, workload)
        elif program:
            prog = assemble(isa, Path(program).read_text(), source=program)
        elif not from_snapshot:
            _fail("give PROGRAM.s, --workload NAME or --from-snapshot FILE")
    except (AsmError, FileNotFoundError) as exc:
        _fail(str(exc))
    except IsaError as exc:
        _fail(f"{program or workload}: {exc}")
    except OSError as exc:
        _fail(f"{program}: {exc.strerror}")
    if prog is not None:
        _check_fits(isa, prog, program or f"workload {workload}")

    out: dict[str, Any] = {"isa": isa.name, "mode": "bare" if stack is None else stack[-1], "depth": depth,
                           "policies": stack or []}
    try:
        if stack is None:
            m = Machine(isa)
            m.load(prog)  # type: ignore[arg-type]
            res = m.run(steps)
            out["guests"] = [{"result": res.reason, "executed": res.executed, "detail": res.detail,
                              "state": m.state().fields, "traps": m.log.to_json()}]
        else:
            top = monitor_stack(isa, depth, slice=slice_, policy=stack)
            if from_snapshot:
                guests = [snap.load(top, from_snapshot)]
            else:
                guests = top.create_vms(vms)
                for vm in guests:
                    vm.load(prog)  # type: ignore[arg-type]
            results = top.run(steps)
            out["guests"] = [{"result": results[vm.index].reason, "executed": results[vm.index].executed,
                              "detail": results[vm.index].detail,
                              "partition": [vm.partition.base, vm.partition.size],
                              "state": vm.state().fields, "traps": vm.log.to_json(),
                              "accounting": vm.account.to_json()} for vm in guests]
            out["world_switches"] = top.world_switches
            out["shares"] = top.shares()
            if save_snapshot:
                snap.save(guests[0], save_snapshot)
                out["snapshot"] = save_snapshot
    except (MonitorError, snap.SnapshotError, IsaError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(out, indent=1, default=str))
        return
    how = "bare" if stack is None else f"{stack[-1]} monitor, depth {depth}" + \
        (f" (bottom first: {', '.join(stack)})" if len(set(stack)) > 1 else "")
    click.echo(f"{isa.name}: {how}")
    for k, g in enumerate(out["guests"]):
        where = f" partition [{g['partition'][0]:#x}, +{g['partition'][1]:#x})" if "partition" in g else ""
        detail = f" ({g['detail']})" if g.get("detail") else ""
        click.echo(f"guest {k}{where}: {g['result']} after {g['executed']} instructions{detail}")
        click.echo(f"  state: {_state_lines(isa, g['state'])}")
        traps = g["traps"]
        counts = ", ".join(f"{c} {n}" for c, n in traps["counts"].items()) or "none"
        click.echo(f"  traps: {counts}")
        for e in traps["recent"][-trap_log:] if trap_log else []:
            click.echo(f"    at {e['at']:>9}  pc={e['pc']:#05x}  {e['cause']}  info={e['info']:#x}")
        if "accounting" in g:
            a = g["accounting"]
            click.echo(f"  accounting: direct {a['direct']}, emulated {sum(a['emulated'].values())}, "
                       f"interpreted {sum(a['interpreted'].values())}, reflected {sum(a['reflected'].values())}, "
                       f"trapped {sum(a['trapped'].values())}, monitor entries {a['monitor_entries']}, "
                       f"world switches {a['world_switches']}, direct ratio {a['direct_ratio']:.4f}")
            for kind in ("emulated", "reflected"):
                if a[kind]:
                    click.echo(f"    {kind}: " + ", ".join(f"{m} {n}" for m, n in a[kind].items()))
    if "shares" in out and len(out["guests"]) > 1:
        click.echo("shares: " + ", ".join(f"vm{i} {s:.3f}" for i, s in out["shares"].items()))
    if out.get("snapshot"):
        click.echo(f"snapshot saved to {out['snapshot']}")
    sys.exit(EXIT_OK)
