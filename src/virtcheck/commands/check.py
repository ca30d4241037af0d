"""``virtcheck check``: classify ISAs, decide Theorems 1 and 3, and report.

Inputs are loaded one by one; one that fails to load is reported as ``error: <where>:
<what>`` on stderr and recorded in the run, and the others are still checked, so a typo
in one file never loses the results of the rest. The exit code is the run's (see
:mod:`virtcheck.cli`).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import click

from virtcheck import __version__
from virtcheck.checks.results import CheckRun, IsaResult
from virtcheck.checks.verdict import EXIT_USAGE, Budget
from virtcheck.isa.errors import IsaError
from virtcheck.isa.files import OutputError, check_dir, write_atomic
from virtcheck.isa.model import Isa
from virtcheck.reports import FILE_NAMES, FORMATS, render
from virtcheck.reports.labels import budget_line, plural
from virtcheck.reports.text import render_summary
from virtcheck.invocation import saved


def policy_names() -> list[str]:
    """The registered monitor policies (`virtcheck.hypervisor.policies`)."""
    from virtcheck.hypervisor.policies import names

    return names()


class _Fatal(Exception):
    """A problem that stops the whole command (exit 2) before anything is checked."""


def _import_classifier() -> Callable[..., CheckRun]:
    try:
        from virtcheck.checks.classify import check_all
    except ImportError as exc:
        raise _Fatal(f"the classifier is not available in this installation "
                     f"(virtcheck.checks.classify: {exc})") from None
    return check_all


def _import_monitor(vmm: str) -> Callable[[Isa, Budget], Any]:
    try:
        from virtcheck.checks.monitor import check_monitor
    except ImportError as exc:
        raise _Fatal(f"--vmm {vmm}: the monitor proofs are not available in this installation "
                     f"(virtcheck.checks.monitor: {exc})") from None
    return lambda isa, budget: check_monitor(isa, budget, vmm)


def load_targets(targets: list[str], errors: list[str], report: Callable[[str], None]) -> list[tuple[Isa, str]]:
    """Every ISA the targets name, each with the reference a worker process reloads it by.

    A target that fails to load adds its one-line message to ``errors`` (and is reported
    through ``report``); the rest still load. Two ISAs with one name would make the
    report ambiguous, so the later one is an error too.
    """
    from virtcheck.isa.loader import load

    out: list[tuple[Isa, str]] = []
    seen: dict[str, str] = {}
    for target in dict.fromkeys(targets):
        try:
            isas = load(target)
        except IsaError as exc:
            errors.append(str(exc))
            report(str(exc))
            continue
        for isa in isas:
            if isa.name in seen:
                msg = f"{target}: ISA '{isa.name}' is already loaded from {seen[isa.name]}"
                errors.append(msg)
                report(msg)
                continue
            seen[isa.name] = target
            out.append((isa, target))
    return out


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing at all.

    The bar is refreshed by hand rather than by rich's background thread, because the
    classifier may fork worker processes.
    """
    if not enabled:
        yield lambda name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True, auto_refresh=False) as bar:
        task = bar.add_task("checking", total=total)
        state = {"first": True}

        def step(name: str) -> None:
            if not state["first"]:
                bar.advance(task)
            state["first"] = False
            bar.update(task, description=f"checking {name}")
            bar.refresh()

        yield step


def run_checks(targets: list[str], budget: Budget, jobs: int, vmm: Optional[str] = None,
               *, progress: bool = False, report: Callable[[str], None] = lambda msg: None) -> CheckRun:
    """Load and check ``targets`` (every bundled ISA when empty): the library form of the command.

    Raises :class:`_Fatal` only when nothing can be checked at all (a missing component);
    a bad target is recorded in ``CheckRun.errors`` instead.
    """
    check_all = _import_classifier()
    check_monitor = _import_monitor(vmm) if vmm else None
    t0 = time.perf_counter()
    errors: list[str] = []
    loaded = load_targets(targets or _bundled_names(), errors, report)
    results: list[IsaResult] = []
    with _progress(progress, len(loaded)) as step:
        for isa, ref in loaded:
            step(isa.name)
            def failed(exc: Exception) -> None:
                msg = str(exc) if isinstance(exc, IsaError) else \
                    f"{ref}: ISA '{isa.name}': internal error while checking ({type(exc).__name__}: {exc})"
                errors.append(msg)
                report(msg)

            try:
                result = check_all([isa], budget, jobs, refs=[ref]).results[0]
            except Exception as exc:  # noqa: BLE001 -- one ISA's failure must not lose the others' results
                failed(exc)
                continue
            results.append(result)  # kept even if its monitor cannot be checked
            if check_monitor is not None:
                try:
                    result.monitor = check_monitor(isa, budget)
                except Exception as exc:  # noqa: BLE001
                    failed(exc)
    return CheckRun(results, budget.to_json(), __version__, jobs=jobs, seconds=time.perf_counter() - t0,
                    errors=errors)


def _bundled_names() -> list[str]:
    """Every bundled ISA's name (nothing is loaded: each loads when it is checked, and one
    that fails is one error line while the others are still checked)."""
    from virtcheck.isa.machines import REGISTRY

    return list(REGISTRY)


def _announce(targets: list[str], budget: Budget, jobs: int, vmm: Optional[str]) -> str:
    what = ", ".join(targets) if targets else f"{', '.join(_bundled_names())} (every bundled ISA)"
    from virtcheck.hypervisor.policies import get

    extra = f", and the {get(vmm).title}" if vmm else ""
    return (f"virtcheck {__version__}: checking {what}{extra} with {budget_line(budget.to_json())}, "
            f"{plural(jobs, 'job')}")


@click.command("check")
@click.argument("targets", nargs=-1, metavar="[ISA|FILE]...")
@click.option("--format", "formats", type=click.Choice(FORMATS), multiple=True,
              help="Report format (repeatable with --out). Default: text; with --out, every format.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Write report files (report.txt/.md/.json/.xml) into this directory and print a summary.")
@click.option("--rlimit", type=click.IntRange(min=0), default=Budget().rlimit, show_default=True,
              help="Z3 resource limit per query (deterministic; 0 = none).")
@click.option("--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes for the solver queries (0 = one per CPU). The report does not depend "
                   "on it (every instruction's queries run in a Z3 context of their own).")
@click.option("--vmm", type=click.Choice(policy_names()),
              help="Also prove equivalence, isolation and efficiency of a monitor of this policy.")
def command(targets: tuple[str, ...], formats: tuple[str, ...], out: Optional[Path], rlimit: int, jobs: int,
            vmm: Optional[str]) -> None:
    """Classify every instruction of each ISA (all bundled ISAs if none is named) and decide
    Popek & Goldberg's Theorems 1 and 3.

    ISA is a bundled name (see `virtcheck isa list`); FILE is a Python ISA definition. The
    first line says what is checked and the budget; it goes to stdout with the text report
    and to stderr when stdout carries JSON, Markdown or JUnit XML. Exit 0: every theorem
    holds; 1: one fails (or a --vmm property fails); 2: an input did not load; 3:
    inconclusive.
    """
    if len(formats) > 1 and out is None:
        raise click.UsageError("several --format values need --out DIR (stdout holds one report)")
    if out is not None:
        formats = formats or tuple(FORMATS)
    fmt = formats[0] if formats else "text"
    text_on_stdout = out is not None or fmt == "text"
    budget = Budget(rlimit=rlimit)
    jobs = jobs or os.cpu_count() or 1

    reported: set[str] = set()

    def error(msg: str) -> None:
        click.echo(f"error: {msg}", err=True)
        reported.add(f"error: {msg}")

    def once(text: str) -> str:
        """A text report without the error lines already printed on stderr (a terminal
        shows both streams: each error once)."""
        return "".join(ln for ln in text.splitlines(keepends=True) if ln.rstrip("\n") not in reported)

    if out is not None:  # before any work: a bad --out must cost nothing
        try:
            check_dir(out, f"--out {out}")
        except OutputError as exc:
            error(str(exc))
            sys.exit(EXIT_USAGE)
    try:
        click.echo(_announce(list(targets), budget, jobs, vmm), err=not text_on_stdout)
        run = run_checks(list(targets), budget, jobs, vmm, progress=sys.stderr.isatty(), report=error)
    except _Fatal as exc:
        error(str(exc))
        sys.exit(EXIT_USAGE)

    color = sys.stdout.isatty()
    if out is None:
        report = render(run, fmt, color=color)
        click.echo(once(report) if fmt == "text" else report, nl=False, color=color)
    else:
        written = []
        for f in formats:
            path = out / FILE_NAMES[f]
            try:
                write_atomic(path, render(run, f))
            except OutputError as exc:  # e.g. a full disk: the reports written so far are whole
                error(f"--out {out}: {exc}" + (f" (complete: {', '.join(written)})" if written else ""))
                sys.exit(EXIT_USAGE)
            written.append(str(path))
            saved(str(path))
        click.echo(once(render_summary(run, color=color)), nl=False, color=color)
        click.echo(f"wrote {', '.join(written)}")
    sys.exit(run.exit_code)
