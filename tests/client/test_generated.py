"""openstage/client/api.py is what scripts/generate_client.py makes of the installed model, and the client is typed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import botocore.session
import pytest
from botocore import xform_name

from openstage.client import IvsRealTimeClient

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "generate_client.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """scripts/ is not a package: load the generator from its file, as CI would run it."""
    spec = importlib.util.spec_from_file_location("generate_client", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerating_changes_nothing(generator: ModuleType) -> None:
    assert generator.render() == generator.MODULE.read_text(), generator.STALE


def test_one_method_per_operation_and_one_iterator_per_paged_list() -> None:
    model = botocore.session.get_session().get_service_model("ivs-realtime")
    assert len(model.operation_names) == 40
    for name in model.operation_names:
        assert callable(getattr(IvsRealTimeClient, xform_name(name)))
    paged = [name for name in model.operation_names if "nextToken" in model.operation_model(name).input_shape.members]
    assert sorted(f"paginate_{xform_name(name)}" for name in paged) == sorted(
        name for name in dir(IvsRealTimeClient) if name.startswith("paginate_")
    )
    assert "paginate_list_tags_for_resource" not in dir(IvsRealTimeClient)  # ListTagsForResource has no pages


def test_docstrings_are_plain_text(generator: ModuleType) -> None:
    assert generator.doc_text('<p>Uses <code>a&amp;b</code> (see <a href="x">docs</a>).</p> <p>More.</p>') == (
        "Uses `a&b` (see docs)."
    )
    assert generator.doc_text("<p/>") == ""
    assert IvsRealTimeClient.create_stage.__doc__ == "Creates a new stage (and optionally participant tokens)."
