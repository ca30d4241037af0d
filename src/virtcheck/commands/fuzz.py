"""``virtcheck fuzz``: a time-boxed differential fuzzing campaign against a monitor.

The seed is printed first (stderr) and recorded in every report. Exit codes: 0 nothing
failed, 1 a property failed, 2 bad input (one line naming the option or file).
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Optional

import click

from virtcheck.checks.verdict import EXIT_FAIL, EXIT_OK, EXIT_USAGE  # the one exit-code rule
from virtcheck.commands.check import policy_names
from virtcheck.hypervisor.policies import DEFAULT as DEFAULT_POLICY


def _fail(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(EXIT_USAGE)


def parse_budget(text: str) -> float:
    """``60s``, ``2m``, ``500ms``, ``1h`` or a plain number of seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise ValueError(f"--budget {text!r}: expected a duration such as 60s, 2m or 500ms")
    value = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    if value <= 0:
        raise ValueError(f"--budget {text!r}: must be positive")
    return value


def _progress_printer(tty: bool) -> tuple[Any, Any]:
    """(callback, close): a rich live line on a terminal, plain lines every 5 s otherwise."""
    if tty:
        from rich.console import Console
        from rich.live import Live

        live = Live(console=Console(stderr=True), auto_refresh=False, transient=True)
        live.start()

        def show(r: Any) -> None:
            live.update(f"[bold]fuzz[/] {r.isa} seed {r.seed}: {r.seconds:5.1f}s  {r.programs} programs  "
                        f"{r.pairs_per_second:.0f} pairs/s  failures {len(r.failures)}")
            live.refresh()

        return show, live.stop
    state = {"last": 0.0}

    def line(r: Any) -> None:
        now = time.monotonic()
        if now - state["last"] >= 5.0:
            state["last"] = now
            click.echo(f"fuzz: {r.seconds:.1f}s programs={r.programs} pairs/s={r.pairs_per_second:.0f} "
                       f"failures={len(r.failures)}", err=True)

    return line, lambda: None


@click.command("fuzz")
@click.argument("isa_name", metavar="ISA")
@click.option("--vmm", type=click.Choice(policy_names()), default=DEFAULT_POLICY, show_default=True,
              help="Policy of the monitor under test.")
@click.option("--property", "props", default=",".join(["equivalence", "isolation", "efficiency", "encapsulation"]),
              show_default=True, help="Comma-separated properties to check.")
@click.option("--budget", default=None, help="Wall-clock budget (60s, 2m, 500ms). Default 60s unless --examples.")
@click.option("--examples", type=click.IntRange(1), default=None, help="Run exactly N programs instead of a time budget.")
@click.option("--seed", type=click.IntRange(0), default=None, help="Campaign seed (default: random, printed first).")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True, help="Worker processes.")
@click.option("--corpus", type=click.Path(), default=None,
              help="Failure corpus: replayed first, every new failure saved here.")
@click.option("--format", "fmt", default="text", show_default=True,
              help="Report format(s) on stdout, comma-separated: text, md, json, junit.")
@click.option("--out", type=click.Path(), default=None, help="Also write every format to this folder.")
@click.option("--length", type=click.IntRange(1, 4096), default=32, show_default=True, help="Instructions per program.")
@click.option("--depth", type=click.IntRange(1, 4), default=1, show_default=True, help="Stacked monitors.")
@click.option("--hardware", type=click.Choice(["step", "hypervisor"]), default="step", show_default=True,
              help="The real machine: per-instruction steps, or the hypervisor's Machine.")
@click.option("--engine", type=click.Choice(["auto", "native", "python"]), default="auto", show_default=True,
              help="What runs the hot loop: native (C, compiled once per ISA), python, or native where it can.")
@click.option("--no-z3", is_flag=True, help="Skip the Z3 classification (no comparison, no efficiency flags).")
def command(isa_name: str, vmm: str, props: str, budget: Optional[str], examples: Optional[int], seed: Optional[int],
            workers: int, corpus: Optional[str], fmt: str, out: Optional[str], length: int, depth: int,
            hardware: str, engine: str, no_z3: bool) -> None:
    """Fuzz ISA's monitor: random programs bare vs monitored, isolation, efficiency, snapshots."""
    from virtcheck.fuzz import oracles as O, runner
    from virtcheck.fuzz.campaign import CampaignConfig, run_campaign
    from virtcheck.fuzz.reference import Reference
    from virtcheck.cli import interrupted_exit
    from virtcheck.isa.errors import IsaError
    from virtcheck.isa.files import OutputError, check_dir, write_atomic
    from virtcheck.invocation import current, saved
    from virtcheck.isa.loader import load
    from virtcheck.reports.fuzz_render import FILE_NAMES, FORMATS, render_fuzz

    properties = tuple(p.strip() for p in props.split(",") if p.strip())
    bad = [p for p in properties if p not in O.PROPERTIES]
    if bad or not properties:
        _fail(f"--property: unknown {', '.join(bad) or '(none given)'} (known: {', '.join(O.PROPERTIES)})")
    formats = [f.strip() for f in fmt.split(",") if f.strip()]
    badf = [f for f in formats if f not in FORMATS]
    if badf or not formats:
        _fail(f"--format: unknown {', '.join(badf) or '(none given)'} (known: {', '.join(FORMATS)})")
    if budget is not None and examples is not None:
        _fail("--budget and --examples exclude each other")
    try:
        seconds = parse_budget(budget) if budget is not None else (None if examples is not None else 60.0)
    except ValueError as exc:
        _fail(str(exc))
    try:  # every place the campaign writes, before it starts
        if out:
            check_dir(out, f"--out {out}")
        if corpus:
            check_dir(corpus, f"--corpus {corpus}")
    except OutputError as exc:
        _fail(str(exc))
    try:
        isas = load(isa_name)
    except IsaError as exc:
        _fail(str(exc))
    if len(isas) != 1:
        _fail(f"{isa_name}: defines {len(isas)} ISAs; fuzz needs exactly one")
    isa = isas[0].finalize()
    from virtcheck.fuzz.campaign import campaign_refusal

    why = campaign_refusal(isa)
    if why:
        _fail(f"{isa_name}: {why}")
    if seed is None:
        seed = secrets.randbits(32)
    click.echo(f"virtcheck fuzz: seed {seed} ({workers} worker(s); rerun with --seed {seed} --workers {workers})", err=True)
    reference = None
    if not no_z3:
        from virtcheck.checks.classify import classify_isa

        from virtcheck.hypervisor.policies import get

        reference = Reference.from_isa_result(classify_isa(isa), get(vmm).theorem)
    runner.default_hardware = hardware
    if hardware == "hypervisor" and engine == "auto":
        engine = "python"  # the hypervisor's Machine is Python: the native loop would bypass it
    from virtcheck.isa.loader import is_path

    ref = os.path.abspath(isa_name) if is_path(isa_name) else isa_name  # corpus files replay from any folder
    cfg = CampaignConfig(isa, ref, seed, vmm, properties, seconds, examples, workers,
                         Path(corpus) if corpus else None, length, depth, reference, engine=engine)
    try:
        chosen, note = cfg.engine_choice()
    except ValueError as exc:
        _fail(f"--engine native: {exc}")
    click.echo(f"virtcheck fuzz: engine {chosen}" + (f" ({note})" if note else ""), err=True)
    show, close = _progress_printer(sys.stderr.isatty())
    try:
        report = run_campaign(cfg, show)
    finally:
        close()
    saved_failures = [r.replay_file for r in report.failures if r.replay_file and not r.from_corpus]
    if saved_failures:
        saved(f"{len(saved_failures)} failure(s) in corpus {corpus}")
    for f in formats:
        click.echo(render_fuzz(report, f), nl=False)
    if out:
        for f in FORMATS:
            path = Path(out) / FILE_NAMES[f]
            try:
                write_atomic(path, render_fuzz(report, f))
            except OutputError as exc:
                _fail(f"--out {out}: {exc}")
            saved(str(path))
    if report.interrupted:
        interrupted_exit(current(), report.stop_signal)
    sys.exit(report.exit_code)
