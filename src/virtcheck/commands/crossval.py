"""``virtcheck crossval``: the model against a reference machine (Unicorn, KVM, the host CPU).

Prints the seed first. Exit codes: 0 no unexplained mismatch, 1 mismatches, 2 bad input
(unknown ISA or reference, or a reference that cannot run here).
"""

from __future__ import annotations

import json
import random
import sys
from typing import Optional

import click

from virtcheck.checks.verdict import EXIT_FAIL, EXIT_OK, EXIT_USAGE  # the one exit-code rule


def _fail(msg: str) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(EXIT_USAGE)


@click.command("crossval")
@click.argument("isa_name", metavar="ISA")
@click.option("--reference", "reference", type=click.Choice(["kvm", "unicorn", "native"]), required=True,
              help="The real executor to compare the model with.")
@click.option("--examples", type=click.IntRange(1), default=1000, show_default=True, help="Examples to run.")
@click.option("--seed", type=int, default=None, help="Seed (default: random, printed first).")
@click.option("--show", type=click.IntRange(0), default=10, show_default=True, help="Mismatches to print in full.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(isa_name: str, reference: str, examples: int, seed: Optional[int], show: int, as_json: bool) -> None:
    """Run random instructions and states of ISA on the model and on a reference machine."""
    from virtcheck.hypervisor.reference import ReferenceUnavailable, get_reference
    from virtcheck.hypervisor.reference.crossval import crossval
    from virtcheck.isa.errors import IsaError
    from virtcheck.isa.loader import load

    if seed is None:
        seed = random.SystemRandom().randrange(1 << 32)
    click.echo(f"seed: {seed}", err=as_json)  # stdout carries only the JSON document then
    try:
        isas = load(isa_name)
    except IsaError as exc:
        _fail(str(exc))
    if len(isas) != 1:
        _fail(f"{isa_name} defines {len(isas)} ISAs; crossval needs exactly one")
    isa = isas[0].finalize()
    try:
        ref = get_reference(reference, isa)
    except ReferenceUnavailable as exc:
        _fail(str(exc))
    try:
        rep = crossval(isa, ref, seed=seed, n=examples, keep=max(show, 50))
    finally:
        ref.close()
    if as_json:
        click.echo(json.dumps(rep.to_json(), indent=2))
        sys.exit(EXIT_FAIL if rep.unexplained else EXIT_OK)
    _print(rep, show)
    sys.exit(EXIT_FAIL if rep.unexplained else EXIT_OK)


def _print(rep, show: int) -> None:
    c = rep.counts
    ran = rep.examples - c["skipped"]
    click.echo(f"{rep.isa} against {rep.reference}: {rep.backing}")
    click.echo(f"examples: {rep.examples}  ran: {ran}  agree: {c['agree']}  explained: {c['explained']}  "
               f"mismatch: {c['mismatch']}  skipped: {c['skipped']}")
    click.echo(f"time: {rep.seconds:.2f} s ({1000 * rep.seconds / max(rep.examples, 1):.3f} ms per example)")
    if rep.skipped:
        click.echo("skipped (never counted as agreement):")
        for reason, k in rep.skipped.most_common():
            click.echo(f"  {k:6d}  {reason}")
    click.echo("known limits (declared in the ISA's reference spec):")
    for lim in rep.limits:
        used = rep.explained.get(lim["id"], 0)
        click.echo(f"  {lim['id']} [{lim.get('source', 'reference')}] explained {used}: {lim['doc']}")
    for m in rep.mismatches[:show]:
        click.echo(f"mismatch: {m['instruction']} in {m['mode']}")
        click.echo(f"  model: {m['model']}  reference: {m['reference']}")
        for d in m["differences"]:
            click.echo(f"  {d}")
        f = m["state"]["fields"]
        click.echo("  state: " + " ".join(f"{k}={v:#x}" for k, v in f.items()))
    if rep.unexplained:
        click.echo(f"{rep.unexplained} unexplained mismatch(es) in {rep.examples} examples (seed {rep.seed})")
    else:
        click.echo(f"no unexplained mismatch in {ran} examples run (seed {rep.seed}); {c['skipped']} skipped")
