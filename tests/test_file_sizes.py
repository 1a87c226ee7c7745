"""Short strategy files: every module under strategies/ stays readable in one sitting, and every
registered strategy's module docstring is a short summary that points to its notes in
docs/strategies/ (research notes, measured numbers, what could be read)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from strategies import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 260
MAX_DOC_LINES = 16


def _docstring(path: Path) -> str | None:
    return ast.get_docstring(ast.parse(path.read_text()), clean=True)


def _modules(entry) -> list[Path]:
    """The registered module and, when the class lives elsewhere (a package), its module."""
    module = importlib.import_module(entry.target.partition(":")[0])
    cls = entry.load()
    files = {Path(module.__file__), Path(importlib.import_module(cls.__module__).__file__)}
    return sorted(files)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "strategies").rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_strategy_files_are_short(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (at most {MAX_LINES})"


@pytest.mark.parametrize("entry", list(STRATEGIES), ids=lambda e: e.name)
def test_strategy_docstrings_are_short_and_point_to_their_notes(entry):
    for path in _modules(entry):
        where = path.relative_to(ROOT)
        doc = _docstring(path)
        assert doc, f"{where} has no module docstring"
        n = len(doc.splitlines())
        assert n <= MAX_DOC_LINES, f"{where}: docstring of {n} lines (at most {MAX_DOC_LINES})"
        notes = re.findall(r"docs/strategies/[\w.-]+\.md", doc)
        assert notes, f"{where}: the docstring names no docs/strategies/ file"
        for name in notes:
            assert (ROOT / name).is_file(), f"{where} points to {name}, which does not exist"


def test_every_registered_strategy_has_notes_listed_in_the_index():
    index = (ROOT / "docs" / "strategies" / "README.md").read_text()
    for entry in STRATEGIES:
        assert (ROOT / "docs" / "strategies" / f"{entry.name}.md").is_file(), entry.name
        assert f"({entry.name}.md)" in index, f"{entry.name} missing from the index"
