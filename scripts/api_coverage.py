"""Writes docs/api-coverage.md: every operation of botocore's ivs-realtime model, its status, its tests.

Run ``python scripts/api_coverage.py`` after adding a handler or a test; ``--check`` exits 1
when the committed file differs from what would be generated (tests/test_api_coverage.py
runs it, so CI catches a stale table). The output has no timestamps, so it is stable.

A test "calls" an operation when the test, or a helper function of the same file it calls,
contains a boto3 call of the snake_case name (``ivs.create_stage(...)``, ``getattr(ivs,
"create_stage")``, or the name in the test's ``parametrize`` list), or the AWS CLI
kebab-case name as a word of a string (``"create-stage"``, ``"aws ivs-realtime create-stage"``).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from botocore import xform_name

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "api-coverage.md"
TESTS = REPO / "tests"
SHOWN_TESTS = 3
STALE = "docs/api-coverage.md is stale; run python scripts/api_coverage.py"

if str(REPO) not in sys.path:  # run as a script, the checkout's own package must win over any installed one
    sys.path.insert(0, str(REPO))

import openstage.control.handlers  # noqa: E402, F401  (registers every handler)
from openstage.control.model import service_model  # noqa: E402
from openstage.control.registry import HANDLERS  # noqa: E402


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    snake: str
    kebab: str

    @property
    def status(self) -> str:
        return "implemented" if self.name in HANDLERS else "missing"


def operations() -> list[Operation]:
    model = service_model()
    found = []
    for name in sorted(model.operation_names):
        http = model.operation_model(name).http
        snake = xform_name(name)
        found.append(Operation(name, http["method"], http["requestUri"], snake, snake.replace("_", "-")))
    return found


# --- which tests call which operation ---------------------------------------------------------


def _direct_calls(node: ast.AST, snakes: set[str], kebabs: dict[str, re.Pattern[str]]) -> tuple[set[str], set[str]]:
    """Operations (snake_case) a function names, and the plain function names it calls."""
    ops: set[str] = set()
    called: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            if isinstance(func, ast.Attribute) and func.attr in snakes:
                ops.add(func.attr)
            elif isinstance(func, ast.Name):
                called.add(func.id)
                if func.id == "getattr" and len(child.args) > 1 and _string(child.args[1]) in snakes:
                    ops.add(_string(child.args[1]))
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            ops.update(snake for snake, pattern in kebabs.items() if pattern.search(child.value))
    return ops, called


def _string(node: ast.AST) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def _parametrized(node: ast.FunctionDef | ast.AsyncFunctionDef, snakes: set[str]) -> set[str]:
    """Operation names listed in a test's decorators (parametrize), which feed ``getattr(ivs, name)``."""
    return {_string(child) for d in node.decorator_list for child in ast.walk(d) if _string(child) in snakes}


def _test_functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """pytest's test functions: module-level ``test*`` and ``test*`` methods of ``Test*`` classes."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    yield f"{node.name}::{item.name}", item


def tests_by_operation(ops: list[Operation], tests_dir: Path = TESTS) -> dict[str, list[tuple[str, str]]]:
    """snake_case operation -> [(test file relative to the repo, test id)], in file and source order."""
    snakes = {op.snake for op in ops}
    kebabs = {op.snake: re.compile(rf"(?<!\S){re.escape(op.kebab)}(?!\S)") for op in ops}  # a command-line word
    found: dict[str, list[tuple[str, str]]] = {op.snake: [] for op in ops}
    for path in sorted(tests_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        helpers = {
            node.name: _direct_calls(node, snakes, kebabs)
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("test")
        }
        relative = path.relative_to(tests_dir.parent).as_posix()
        for test_id, node in _test_functions(tree):
            ops_called, to_visit = _direct_calls(node, snakes, kebabs)
            ops_called |= _parametrized(node, snakes)
            seen: set[str] = set()
            while to_visit:  # follow same-file helpers, each once
                name = to_visit.pop()
                if name in helpers and name not in seen:
                    seen.add(name)
                    ops_called |= helpers[name][0]
                    to_visit |= helpers[name][1]
            for snake in ops_called:
                found[snake].append((relative, test_id))
    return found


def _tests_cell(tests: list[tuple[str, str]]) -> str:
    if not tests:
        return "—"
    by_file: dict[str, list[str]] = {}
    for file, test_id in tests:
        by_file.setdefault(file, []).append(test_id)
    parts = []
    for file, ids in by_file.items():
        shown = ", ".join(f"`{test_id}`" for test_id in ids[:SHOWN_TESTS])
        more = f" +{len(ids) - SHOWN_TESTS} more" if len(ids) > SHOWN_TESTS else ""
        parts.append(f"`{file}`: {shown}{more}")
    return "<br>".join(parts)


# --- the document -----------------------------------------------------------------------------


def render() -> str:
    ops = operations()
    tests = tests_by_operation(ops)
    implemented = sum(op.status == "implemented" for op in ops)
    missing = len(ops) - implemented
    lines = [
        "# API coverage",
        "",
        "<!-- Generated by scripts/api_coverage.py; do not edit by hand. -->",
        "",
        f"Every operation of the AWS `ivs-realtime` API (model apiVersion {service_model().api_version}, "
        "as the installed botocore describes it), whether openstage answers it, and the tests that call it.",
        "Regenerate with `python scripts/api_coverage.py`.",
        "",
        f"**{implemented} of {len(ops)} operations implemented, {missing} missing.**",
        "",
        "| operation | HTTP | status | tests |",
        "|---|---|---|---|",
    ]
    for op in ops:
        lines.append(f"| `{op.name}` | `{op.method} {op.path}` | {op.status} | {_tests_cell(tests[op.snake])} |")
    return "\n".join(lines) + "\n"


def is_fresh(path: Path = DOC) -> bool:
    return path.is_file() and path.read_text() == render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api-coverage.md is stale")
    args = parser.parse_args(argv)
    if args.check:
        if not is_fresh():
            print(STALE, file=sys.stderr)
            return 1
        print("docs/api-coverage.md is up to date")
        return 0
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
