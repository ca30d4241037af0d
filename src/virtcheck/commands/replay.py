"""``virtcheck replay FILE|DIR``: re-run saved fuzz failures exactly.

Every file is validated against its ISA before it runs (fingerprint, every value within
its width, partition, budget, program words that decode without wrapping), so a corrupt
file is refused and never replays as "not reproduced" (which would read as "fixed").
A directory replays every ``*.json`` file in it; a bad one is reported and the others
still run.

Exit codes: 1 a failure still reproduces, 0 none does, 2 a file or its ISA cannot be used
(one line naming the file and the field; it wins, as in ``check``: the run is incomplete).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import click

from virtcheck.checks.verdict import EXIT_FAIL, EXIT_OK, EXIT_USAGE  # the one exit-code rule


class _Bad(Exception):
    """One file that cannot be replayed; the message names the file and the field."""


def resolve_ref(ref: str, path: Path) -> str:
    """The ISA reference a corpus file recorded, usable from here: a bundled name as is; a
    definition file as recorded (absolute since campaigns store it so), else relative to
    the corpus file's folder or its parent (a corpus moved with its definition)."""
    from virtcheck.isa.loader import is_path

    if not is_path(ref) or os.path.isfile(ref):
        return ref
    here = path.resolve().parent
    for base in (here, here.parent):
        for cand in (base / ref, base / Path(ref).name):
            if cand.is_file():
                return str(cand)
    return ref


def replay_one(path: Path, isa_ref: Optional[str]) -> dict[str, Any]:
    """Replay one file; its result as JSON-able data, or _Bad."""
    from virtcheck.fuzz import corpus as C
    from virtcheck.fuzz import oracles as O
    from virtcheck.fuzz.properties import Settings, check
    from virtcheck.isa.errors import IsaError
    from virtcheck.isa.loader import load

    try:
        e = C.read(path)
    except C.CorpusError as exc:
        raise _Bad(str(exc)) from None
    ref = isa_ref or resolve_ref(e.isa_ref, path)
    try:
        isa = next((i for i in load(ref) if i.name == e.isa), None)
    except IsaError as exc:
        raise _Bad(f"{path}: field 'isa_ref': {exc}") from None
    if isa is None:
        raise _Bad(f"{path}: field 'isa': {ref} defines no ISA named '{e.isa}'")
    isa.finalize()
    try:
        C.validate(e, isa, path)
    except C.CorpusError as exc:
        raise _Bad(str(exc)) from None
    innocuous: frozenset[str] = frozenset()
    if e.property == O.EFFICIENCY:
        from virtcheck.checks.classify import classify_isa
        from virtcheck.fuzz.reference import Reference

        innocuous = Reference.from_isa_result(classify_isa(isa)).innocuous
    f = check(e.property, isa, e.case, Settings(e.depth, 4, innocuous, e.vmm))
    same = f is not None and f.to_json() == e.failure.to_json()
    return {"file": str(path), "isa": e.isa, "vmm": e.vmm, "property": e.property, "seed": e.seed,
            "program": e.case.assembly(isa), "reproduced": f is not None, "identical": same,
            "failure": f.to_json() if f else None, "recorded": e.failure.to_json()}


def _print(r: dict[str, Any]) -> None:
    click.echo(f"{r['file']}: {r['isa']} under {r['vmm']}, {r['property']}, seed {r['seed']}")
    for line in r["program"]:
        click.echo(f"    {line}")
    f = r["failure"]
    if f is None:
        click.echo(f"not reproduced: {r['property']} holds on this case now "
                   f"(recorded failure at {r['recorded']['instruction']})")
    else:
        how = "identical to the recorded failure" if r["identical"] else "differs from the recorded failure"
        click.echo(f"reproduced: {r['property']} fails at {f['instruction']} (step {f['step']}), {how}")
        click.echo(f"  state difference: {json.dumps(f['state_difference'])}")


@click.command("replay")
@click.argument("path", metavar="FILE|DIR")
@click.option("--isa", "isa_ref", default=None, help="Load the ISA from here instead of the file's isa_ref.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(path: str, isa_ref: Optional[str], as_json: bool) -> None:
    """Replay a corpus FILE written by `virtcheck fuzz`, or every file of a corpus DIR."""
    p = Path(path)
    if p.is_dir():
        paths = sorted(p.glob("*.json"))
        if not paths:
            click.echo(f"error: {path}: no corpus files (*.json) in this directory", err=True)
            sys.exit(EXIT_USAGE)
    else:
        paths = [p]
    results, errors = [], []
    for one in paths:
        try:
            r = replay_one(one, isa_ref)
        except _Bad as exc:  # reported now; the other files still replay
            click.echo(f"error: {exc}", err=True)
            errors.append(str(exc))
            continue
        results.append(r)
        if not as_json:
            _print(r)
    if as_json:
        doc: Any = results[0] if len(paths) == 1 and results else {"results": results, "errors": errors}
        if results or len(paths) > 1:
            click.echo(json.dumps(doc, indent=1))
    if len(paths) > 1 and not as_json:
        n = sum(r["reproduced"] for r in results)
        click.echo(f"replayed {len(results)} of {len(paths)} files: {n} reproduced, {len(results) - n} not; "
                   f"{len(errors)} could not be used")
    if errors:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FAIL if any(r["reproduced"] for r in results) else EXIT_OK)
