"""The documented example is the file the tests check, byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_isa_language_example_is_tiny_isa_py():
    doc = (ROOT / "docs" / "isa-language.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    example = (ROOT / "docs" / "examples" / "tiny_isa.py").read_text(encoding="utf-8")
    assert example in blocks
