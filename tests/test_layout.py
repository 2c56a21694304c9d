"""The size rules of ARCHITECTURE.md, checked on every run: no module over
700 lines and no function over 80 outside migrations, tests and bench. A
module that grows past them is split by meaning (CONTRIBUTING.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "common", "config", "console", "employees", "notifications")
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    found = [ROOT / "dev.py", ROOT / "manage.py"]
    for package in PACKAGES:
        found += [
            path
            for path in (ROOT / package).rglob("*.py")
            if "migrations" not in path.relative_to(ROOT).parts
        ]
    return sorted(found)


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_it_finds_the_modules():
    assert len(_modules()) > 50


def test_no_module_is_over_700_lines():
    long = {}
    for path in _modules():
        lines = path.read_text().count("\n")
        if lines > MAX_MODULE_LINES:
            long[str(path.relative_to(ROOT))] = lines
    assert not long, f"split by meaning: {long}"


def test_no_function_is_over_80_lines():
    long = {}
    for path in _modules():
        for node in _functions(ast.parse(path.read_text())):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert not long, f"split by meaning: {long}"
