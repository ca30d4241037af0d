"""docs/architecture.md's "Adding a policy" example, run as written: registered, it runs
the pg3 kernel bare-identically, the proofs check it, and `virtcheck run --vmm` takes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from virtcheck.checks.monitor import check_equivalence
from virtcheck.cli import main
from virtcheck.hypervisor import monitor_stack, policies, workloads
from virtcheck.hypervisor.policies import base

from hv_helpers import STEPS, bare_run, same_guest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example_policy():
    """The documented module, executed; the registry is restored afterwards so no other
    test sees the extra policy."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", doc, flags=re.S) if "register(" in b]
    assert len(blocks) == 1
    saved = dict(base._REGISTRY)
    ns: dict = {}
    exec(compile(blocks[0], "docs/architecture.md", "exec"), ns)
    try:
        yield ns["KERNEL_DIRECT"]
    finally:
        base._REGISTRY.clear()
        base._REGISTRY.update(saved)


def test_the_documented_policy_runs_the_kernel_as_bare(pg3, example_policy):
    assert policies.get("kernel-direct") is example_policy
    top = monitor_stack(pg3, 1, policy="kernel-direct")
    vm = top.create_vm()
    vm.load(workloads.load(pg3, "kernel"))
    top.run(STEPS["kernel"])
    assert same_guest(vm.state(), bare_run("pg3", "kernel", STEPS["kernel"]), vm.partition.size) == []
    assert vm.account.interpreted and vm.account.emulated  # user code interpreted, LPSW trapped and emulated


def test_the_documented_policy_is_proved_and_run_from_the_command_line(machines, example_policy):
    r = check_equivalence(machines["pg3-jrst"], policy="kernel-direct")
    assert r.violations == ["JRST1"]  # direct in supervisor mode: JRST1 goes unseen, as under trap-and-emulate
    out = CliRunner().invoke(main, ["run", "pg3", "--workload", "kernel", "--vmm", "kernel-direct", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["policies"] == ["kernel-direct"]
