"""The complete pytest example of docs/fuzzing.md runs as written (pg3: passes; pg3-jrst:
Hypothesis finds and shrinks JRST1)."""

from __future__ import annotations

from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "fuzzing.md"


def _example(isa_name: str) -> dict:
    code = DOC.read_text().split("```python\n")[1].split("```")[0]
    ns: dict = {}
    exec(compile(code.replace('bundled()["pg3"]', f'bundled()["{isa_name}"]'), str(DOC), "exec"), ns)
    return ns


def test_the_documented_example_passes_on_pg3():
    _example("pg3")["test_trap_and_emulate_matches_the_bare_machine"]()


@pytest.mark.slow  # Hypothesis shrinking takes several seconds
def test_the_documented_example_finds_jrst1(tmp_path):
    # in a fresh interpreter, as a reader would run it (Hypothesis's derandomized search
    # is not independent of what ran earlier in the same process)
    import subprocess
    import sys

    code = DOC.read_text().split("```python\n")[1].split("```")[0].replace('bundled()["pg3"]', 'bundled()["pg3-jrst"]')
    code += "\ntest_trap_and_emulate_matches_the_bare_machine()\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)  # no example database from earlier runs
    assert r.returncode != 0 and "JRST1" in r.stderr, r.stderr[-2000:]
