"""The house rules that no linter checks: small modules, small functions, one env reader.

The import contract (layers, no cycles) and ``mypy --strict`` run in
``make lint``; these are the rest of the rules the package was reorganised
to keep (see the README's "How it works").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import REPO

PACKAGE = REPO / "feedsvc"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 350  # a module a newcomer reads in one sitting
MAX_FUNCTION_LINES = 60  # a function that fits on a screen


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_modules_stay_small(path: Path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)}: {lines} lines; split it by job"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_functions_fit_on_a_screen(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{_name(path)}: {long}"


def _reads_environment(tree: ast.AST) -> list[int]:
    """Lines that touch ``os.environ`` or ``os.getenv`` (a WSGI ``environ`` is not one)."""
    lines = []
    for node in ast.walk(tree):
        os_attribute = (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in ("environ", "environb", "getenv", "putenv")
        )
        from_os = (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in ("environ", "environb", "getenv") for alias in node.names)
        )
        if os_attribute or from_os:
            lines.append(node.lineno)
    return lines


def test_only_settings_reads_the_environment():
    readers = {
        _name(path): lines
        for path in MODULES
        if (lines := _reads_environment(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert set(readers) == {"feedsvc/settings.py"}, readers


def test_the_environment_check_sees_a_reader(tmp_path: Path):
    """The check above finds both spellings (so it cannot pass by missing them)."""
    assert _reads_environment(ast.parse("import os\nx = os.environ.get('A')\n")) == [2]
    assert _reads_environment(ast.parse("from os import getenv\n")) == [1]
