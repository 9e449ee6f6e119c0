"""Every README block marked ``<!-- test: python -->`` runs as written, in a fresh namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(kind: str) -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1))
            for m in re.finditer(r"<!-- test: " + kind + r" -->\n```[a-z]*\n(.*?)```", text, re.DOTALL)]


@pytest.mark.parametrize("line, code", blocks("python"), ids=lambda v: f"line {v}" if isinstance(v, int) else "")
def test_python_block_runs_as_written(line, code):
    # a line offset so that a traceback points at the README's own line
    exec(compile("\n" * line + code, str(README), "exec"), {"__name__": "readme"})
