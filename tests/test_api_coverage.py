"""docs/api-coverage.md matches the code, and every operation of the model is implemented or pending."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "api_coverage.py"


@pytest.fixture(scope="module")
def coverage() -> ModuleType:
    """scripts/ is not a package: load the generator from its file, as CI would run it."""
    spec = importlib.util.spec_from_file_location("api_coverage", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_committed_coverage_table_is_fresh(coverage: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    code = coverage.main(["--check"])
    assert code == 0, capsys.readouterr().err


def test_check_fails_on_a_stale_table(coverage: ModuleType, tmp_path: Path) -> None:
    stale = tmp_path / "api-coverage.md"
    stale.write_text(coverage.render().replace("implemented", "missing", 1))
    assert not coverage.is_fresh(stale)
    assert not coverage.is_fresh(tmp_path / "absent.md")


def test_no_operation_is_missing(coverage: ModuleType) -> None:
    missing = [op.name for op in coverage.operations() if op.status == "missing"]
    assert not missing, f"operations without a handler: {', '.join(missing)}"


def test_finds_the_tests_that_call_an_operation(coverage: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sample.py").write_text(
        "import pytest\n"
        "def _make(ivs):\n"
        "    return ivs.create_stage()\n"
        "def test_direct(ivs):\n"
        "    ivs.get_stage(arn='x')\n"
        "def test_through_helper(ivs):\n"
        "    _make(ivs)\n"
        "def test_cli(run):\n"
        "    run(['aws', 'ivs-realtime', 'list-stages'])\n"
        "@pytest.mark.parametrize('call', ['delete_stage'])\n"
        "def test_by_name(ivs, call):\n"
        "    getattr(ivs, call)(arn='x')\n"
        "class TestGroup:\n"
        "    def test_method(self, ivs):\n"
        "        ivs.get_stage_session(stageArn='x', sessionId='y')\n"
    )
    found = coverage.tests_by_operation(coverage.operations(), tmp_path / "tests")
    file = "tests/test_sample.py"
    assert found["get_stage"] == [(file, "test_direct")]
    assert found["create_stage"] == [(file, "test_through_helper")]
    assert found["list_stages"] == [(file, "test_cli")]
    assert found["delete_stage"] == [(file, "test_by_name")]
    assert found["get_stage_session"] == [(file, "TestGroup::test_method")]
    assert found["update_stage"] == []
