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

from virtcheck.checks.verdict import EXIT_OK, EXIT_USAGE  # the one exit-code rule


def _fail(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(EXIT_USAGE)


def _load_isa(target: str) -> Isa:
    from virtcheck.isa.loader import load

    isas = load(target)
    if len(isas) != 1:
        raise IsaError(f"defines {len(isas)} ISAs; run needs exactly one", where=target)
    return isas[0].finalize()


def read_program(path: str) -> str:
    """The text of a program file, or one located line: unreadable, not UTF-8 (the line and
    column of the first bad byte), or empty."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        _fail(f"{path}: cannot read: {exc.strerror}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        _fail(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x} at column {col})")
    if not text.strip():
        _fail(f"{path}: the program is empty (nothing to run)")
    return text


def _check_fits(isa: Isa, prog: Any, source: str, partition: Optional[int] = None) -> None:
    """Refuse a program with cells past the end of the ISA's code memory, or of each
    guest's partition (one line, naming the source line of the instruction that reaches
    there)."""
    size = isa.memories[isa.code_memory].size if partition is None else partition  # type: ignore[index]
    if not prog.cells:
        _fail(f"{source}: the program has no instructions (nothing to run)")
    outside = [a for a in prog.cells if not 0 <= a < size]
    if outside:
        a = min(outside)
        starts = [s for s in prog.lines if s <= a]
        line = prog.lines[max(starts)] if starts else None
        where = f"{source}:{line}" if line is not None else source
        room = (f"{isa.code_memory}, which has {size} cells on '{isa.name}'" if partition is None else
                f"each guest's partition of {size} cells")
        _fail(f"{where}: address {a:#x} lies outside {room}")


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
@click.option("--save-snapshot", type=click.Path(), default=None,
              help="Save guest 0's state to this file at the end (with --vmm).")
@click.option("--from-snapshot", type=click.Path(), default=None,
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
    from virtcheck.isa.files import OutputError
    from virtcheck.invocation import saved

    if mode == "bare" and vmm:
        _fail("--bare and --vmm exclude each other")
    if vmm is None and (save_snapshot or from_snapshot or vms != 1 or depth not in (None, 1)):
        _fail("--vms, --depth and snapshots need --vmm POLICY")
    if vmm is not None and len(vmm) > 1 and depth not in (None, len(vmm)):
        _fail(f"--depth {depth} contradicts --vmm {','.join(vmm)} (a stack of {len(vmm)})")
    stack = None if vmm is None else (vmm * (depth or 1) if len(vmm) == 1 else vmm)
    depth = 0 if stack is None else len(stack)
    if save_snapshot:  # before the run, not after it (overwriting --from-snapshot's file is allowed)
        from virtcheck.isa.files import OutputError, check_file

        try:
            check_file(save_snapshot, f"--save-snapshot {save_snapshot}")
        except OutputError as exc:
            _fail(str(exc))
    try:
        isa = _load_isa(isa_name)
    except IsaError as exc:
        _fail(str(exc))
    prog = None
    try:
        if workload:
            prog = workloads.load(isa, workload)
        elif program:
            prog = assemble(isa, read_program(program), source=program)
        elif not from_snapshot:
            _fail("give PROGRAM.s, --workload NAME or --from-snapshot FILE")
    except AsmError as exc:
        _fail(str(exc))
    except IsaError as exc:
        _fail(f"{program or workload}: {exc}")
    except OSError as exc:
        if exc.strerror is None:  # raised with a message of its own (an unknown --workload)
            _fail(f"--workload {workload}: {exc}" if workload else str(exc))
        _fail(f"{exc.filename or program}: {exc.strerror}")
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
                _check_fits(isa, prog, program or f"workload {workload}", min(vm.partition.size for vm in guests))
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
                saved(save_snapshot)
                out["snapshot"] = save_snapshot
    except (MonitorError, snap.SnapshotError, IsaError, OutputError) as exc:
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
