"""The example in docs/python-client.md runs against a server and passes mypy --strict."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.server import Server

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "python-client.md"


def example() -> str:
    """The first Python block: the typed client's example."""
    found = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert found is not None
    return found.group(1)


def test_example_runs(server: Server, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("AWS_ACCESS_KEY_ID", "dev")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "dev")
    code = example().replace("http://127.0.0.1:8080", server.url)
    exec(compile(code, str(DOC), "exec"), {"__name__": "__main__"})
    lines = capsys.readouterr().out.splitlines()
    arn, token = lines[0].split()
    assert arn.startswith("arn:aws:ivs:us-east-1:") and token.count(".") == 2
    assert f"{arn} demo" in lines
    assert lines[-1].startswith("404 ResourceNotFoundException ")


def test_example_and_client_package_are_mypy_strict_clean(tmp_path: Path) -> None:
    sample = tmp_path / "python_client_example.py"
    sample.write_text(example())
    cache = Path(tempfile.gettempdir()) / "openstage-mypy-cache"  # kept between runs: a warm check takes ~1 s
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), "openstage/client", str(sample)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
