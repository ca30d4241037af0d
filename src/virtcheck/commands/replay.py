"""``virtcheck replay FILE``: re-run one saved fuzz failure exactly.

Exit codes: 1 the property still fails (reproduced), 0 it no longer fails, 2 the file
or its ISA cannot be used (one line naming the file and the field).
"""

from __future__ import annotations

import json
import sys
from typing import Optional

import click

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _fail(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(EXIT_USAGE)


@click.command("replay")
@click.argument("path", metavar="FILE")
@click.option("--isa", "isa_ref", default=None, help="Load the ISA from here instead of the file's isa_ref.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(path: str, isa_ref: Optional[str], as_json: bool) -> None:
    """Replay a corpus FILE written by `virtcheck fuzz`."""
    from virtcheck.fuzz import corpus as C
    from virtcheck.fuzz import oracles as O
    from virtcheck.fuzz.properties import Settings, check
    from virtcheck.isa.errors import IsaError
    from virtcheck.isa.loader import load

    try:
        e = C.read(path)
    except C.CorpusError as exc:
        _fail(str(exc))
    ref = isa_ref or e.isa_ref
    try:
        isa = next((i for i in load(ref) if i.name == e.isa), None)
    except IsaError as exc:
        _fail(f"{path}: field 'isa_ref': {exc}")
    if isa is None:
        _fail(f"{path}: field 'isa': {ref} defines no ISA named '{e.isa}'")
    isa.finalize()
    if e.isa_fingerprint and e.isa_fingerprint != C.fingerprint(isa):
        _fail(f"{path}: field 'isa_fingerprint': ISA '{e.isa}' changed since the failure was saved")
    innocuous: frozenset[str] = frozenset()
    if e.property == O.EFFICIENCY:
        from virtcheck.checks.classify import classify_isa
        from virtcheck.fuzz.reference import Reference

        innocuous = Reference.from_isa_result(classify_isa(isa)).innocuous
    try:
        f = check(e.property, isa, e.case, Settings(e.depth, 4, innocuous, e.vmm))
    except (ValueError, KeyError, IndexError) as exc:
        _fail(f"{path}: field 'case' cannot run on ISA '{e.isa}' ({type(exc).__name__}: {exc})")
    same = f is not None and f.to_json() == e.failure.to_json()
    result = {"file": path, "isa": e.isa, "property": e.property, "seed": e.seed,
              "program": e.case.assembly(isa), "reproduced": f is not None, "identical": same,
              "failure": f.to_json() if f else None, "recorded": e.failure.to_json()}
    if as_json:
        click.echo(json.dumps(result, indent=1))
    else:
        click.echo(f"{path}: {e.isa} under {e.vmm}, {e.property}, seed {e.seed}")
        for line in result["program"]:
            click.echo(f"    {line}")
        if f is None:
            click.echo(f"not reproduced: {e.property} holds on this case now (recorded failure at {e.failure.instruction})")
        else:
            how = "identical to the recorded failure" if same else "differs from the recorded failure"
            click.echo(f"reproduced: {e.property} fails at {f.instruction} (step {f.step}), {how}")
            click.echo(f"  state difference: {json.dumps(f.difference)}")
    sys.exit(EXIT_FAIL if f is not None else EXIT_OK)
