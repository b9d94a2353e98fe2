"""Writes openstage/client/api.py, the typed IVS Real-Time client, from botocore's ivs-realtime model.

Run ``python scripts/generate_client.py`` after upgrading botocore; ``--check`` exits 1 when the
committed module differs from what would be generated (tests/client/test_generated.py runs it).
The module holds declarations only: enums, shapes (frozen dataclasses), the model's errors, and
``IvsRealTimeClient`` with one coroutine per operation and one async iterator per List operation
that pages with ``nextToken``. The hand-written rest lives beside it (base, transport, wire).
"""

from __future__ import annotations

import argparse
import html
import keyword
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import botocore.session
from botocore import xform_name
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

REPO = Path(__file__).resolve().parent.parent
MODULE = REPO / "openstage" / "client" / "api.py"
SERVICE = "ivs-realtime"
WIDTH = 120
STALE = "openstage/client/api.py is stale; run python scripts/generate_client.py"
PRIMITIVES = {
    "string": "str",
    "integer": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "boolean": "bool",
    "timestamp": "datetime",
    "blob": "bytes",
}
# Names the module imports or defines itself; a model shape of the same name would shadow them.
RESERVED = {"Any", "AsyncIterator", "ClassVar", "ClientBase", "ERRORS", "IvsRealTimeClient", "IvsRealTimeError"}
RESERVED |= {"ModelEnum", "Shape", "dataclass", "datetime", "overload"}


# --- text ---------------------------------------------------------------------------------------


def doc_text(documentation: str) -> str:
    """The first non-empty paragraph of the model's HTML documentation, as plain text."""
    paragraphs = re.findall(r"<p>(.*?)</p>", documentation, re.S) or [documentation]
    for paragraph in paragraphs:
        text = re.sub(r"<[^>]+>", "", re.sub(r"</?code>", "`", paragraph))
        text = " ".join(html.unescape(text).split())
        if text:
            return text
    return ""


def docstring(text: str, indent: str) -> list[str]:
    """``text`` as a docstring at ``indent``: one line when it fits, else wrapped to the line length."""
    if not text:
        return []
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text = text[:-1] + '\\"'
    if len(indent) + len(text) + 6 <= WIDTH:
        return [f'{indent}"""{text}"""']
    lines = textwrap.wrap(
        text, WIDTH - len(indent), initial_indent='"""', break_long_words=False, break_on_hyphens=False
    )
    return [indent + line for line in lines] + [indent + '"""']


# --- types --------------------------------------------------------------------------------------


def is_enum(shape: Shape) -> bool:
    return shape.type_name == "string" and bool(shape.enum)


def is_error(shape: Shape) -> bool:
    return bool(shape.metadata.get("exception"))


def py_type(shape: Shape) -> str:
    if shape.type_name == "structure" or is_enum(shape):
        return shape.name
    if shape.type_name == "list":
        return f"list[{py_type(shape.member)}]"
    if shape.type_name == "map":
        return f"dict[{py_type(shape.key)}, {py_type(shape.value)}]"
    return PRIMITIVES[shape.type_name]


def enum_member(value: str) -> str:
    name = re.sub(r"\W", "_", value).upper()
    name = "_" + name if name[0].isdigit() else name
    assert name.isidentifier() and not keyword.iskeyword(name), value
    return name


def attribute(member: str) -> str:
    name = xform_name(member)
    assert name.isidentifier() and not keyword.iskeyword(name), member
    return name


# --- declarations -------------------------------------------------------------------------------


def render_enum(shape: Shape) -> list[str]:
    lines = [f"class {shape.name}(ModelEnum):", *docstring(doc_text(shape.documentation), "    ")]
    lines += [f'    {enum_member(value)} = "{value}"' for value in shape.enum]
    return lines


def render_structure(shape: StructureShape, role: str) -> list[str]:
    """``role`` documents shapes the model leaves undocumented: requests and responses of an operation."""
    lines = ["@dataclass(frozen=True, kw_only=True, slots=True)", f"class {shape.name}(Shape):"]
    lines += docstring(doc_text(shape.documentation) or role, "    ")
    lines.append("")
    for member, member_shape in shape.members.items():
        optional = member not in shape.required_members
        default = " | None = None" if optional else ""
        lines.append(f"    {attribute(member)}: {py_type(member_shape)}{default}")
        lines += docstring(doc_text(member_shape.documentation), "    ")
    names = ", ".join(f'"{attribute(member)}": "{member}"' for member in shape.members)
    lines += ["", f"    _wire_names: ClassVar[dict[str, str]] = {{{names}}}"]
    return lines


def render_error(shape: StructureShape) -> list[str]:
    lines = [f"class {shape.name}(IvsRealTimeError):"]
    return lines + (docstring(doc_text(shape.documentation), "    ") or ["    pass"])


# --- the client ---------------------------------------------------------------------------------


def keyword_parameters(shape: StructureShape) -> list[str]:
    """The request's members as keyword-only parameters: required ones without a default."""
    assert shape.members, f"{shape.name} has no members: an overload without keywords is not valid Python"
    assert "request" not in shape.members, f"{shape.name} has a member named like the request parameter"
    return [
        f"{attribute(member)}: {py_type(member_shape)}"
        + (" | None = None" if member not in shape.required_members else "")
        for member, member_shape in shape.members.items()
    ]


def overloaded(name: str, returns: str, request: StructureShape, doc: str, body: str, prefix: str) -> list[str]:
    """A method taking a request object or its members as keywords; ``overload`` types both ways."""
    keywords = ", ".join(keyword_parameters(request))
    return [
        "    @overload",
        f"    {prefix}def {name}(self, request: {request.name}, /) -> {returns}: ...",
        "    @overload",
        f"    {prefix}def {name}(self, *, {keywords}) -> {returns}: ...",
        # not positional-only as in the first overload: mypy cannot match "/" with **kwargs (no member is "request")
        f"    {prefix}def {name}(self, request: {request.name} | None = None, **kwargs: Any) -> {returns}:",
        *docstring(doc, "        "),
        f"        {body}",
        "",
    ]


def render_operation(operation: OperationModel) -> list[str]:
    name = xform_name(operation.name)
    request, response = operation.input_shape.name, operation.output_shape.name
    body = f'return await self._call("{name}", {request}, request, kwargs, {response})'
    return overloaded(name, response, operation.input_shape, doc_text(operation.documentation), body, "async ")


def page_items(operation: OperationModel, paginators: dict[str, dict[str, str]]) -> str | None:
    """The member holding a List operation's items, or None when the operation does not page with nextToken."""
    if "nextToken" not in operation.input_shape.members or "nextToken" not in operation.output_shape.members:
        return None
    lists = [m for m, s in operation.output_shape.members.items() if s.type_name == "list"]
    assert len(lists) == 1, f"{operation.name} has {lists}: which one are the items?"
    if operation.name in paginators:
        declared = paginators[operation.name]["result_key"]
        assert declared == lists[0], f"{operation.name}: botocore's paginator pages {declared}, not {lists[0]}"
    return lists[0]


def render_paginator(operation: OperationModel, items: str) -> list[str]:
    name = xform_name(operation.name)
    item = py_type(operation.output_shape.members[items].member)
    doc = f"Every {item} of `{name}`, page after page: `max_results` sets the page size, `next_token` where to start."
    body = (
        f'return self._paginate("{name}", {operation.input_shape.name}, request, kwargs, '
        f"{operation.output_shape.name}, lambda page: page.{attribute(items)})"
    )
    return overloaded(f"paginate_{name}", f"AsyncIterator[{item}]", operation.input_shape, doc, body, "")


def render_client(model: ServiceModel, paginators: dict[str, dict[str, str]]) -> list[str]:
    operations = [model.operation_model(name) for name in sorted(model.operation_names)]
    lines = [
        "class IvsRealTimeClient(ClientBase):",
        '    """The Amazon IVS Real-Time API, async and typed, on botocore (SigV4, retries, timeouts, endpoints).',
        "",
        "    One coroutine per operation (``await client.create_stage(name=...)`` or with a",
        "    ``CreateStageRequest``), returning its typed response and raising its typed errors; one async",
        "    iterator per List operation that pages with ``nextToken`` (``client.paginate_list_stages()``).",
        "    Configure with ``IvsRealTimeClient(ClientConfig(...))``, keyword overrides, or ``from_env()``;",
        "    close with ``async with`` or ``await client.close()``.",
        '    """',
        "",
        "    _errors = ERRORS",
        "",
    ]
    for operation in operations:
        lines += render_operation(operation)
    for operation in operations:
        items = page_items(operation, paginators)
        if items is not None:
            lines += render_paginator(operation, items)
    return lines


# --- the module ---------------------------------------------------------------------------------


def generate(model: ServiceModel, paginators: dict[str, dict[str, str]]) -> str:
    """The module's source, before formatting; ``paginators`` is botocore's paginators-1 ``pagination`` table."""
    shapes = [model.shape_for(name) for name in sorted(model.shape_names)]
    clashes = RESERVED & {shape.name for shape in shapes}
    assert not clashes, f"model shapes shadow the module's own names: {clashes}"
    errors = [shape for shape in shapes if shape.type_name == "structure" and is_error(shape)]
    out = [
        '"""The Amazon IVS Real-Time API as typed Python: enums, shapes, errors and the async client.',
        "",
        f"Generated by scripts/generate_client.py from botocore's {SERVICE} model (apiVersion "
        f"{model.api_version}); do not edit.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import AsyncIterator",
        "from dataclasses import dataclass",
        "from datetime import datetime",
        "from typing import Any, ClassVar, overload",
        "",
        "from openstage.client.base import ClientBase",
        "from openstage.client.errors import IvsRealTimeError",
        "from openstage.client.wire import ModelEnum, Shape",
        "",
    ]
    for shape in shapes:
        if is_enum(shape):
            out += ["", "", *render_enum(shape)]
    roles: dict[str, str] = {}
    for name in model.operation_names:
        operation = model.operation_model(name)
        roles[operation.input_shape.name] = f"The request of `{xform_name(name)}`."
        roles[operation.output_shape.name] = f"The response of `{xform_name(name)}`."
    for shape in shapes:
        if shape.type_name == "structure" and not is_error(shape):
            out += ["", "", *render_structure(shape, roles.get(shape.name, ""))]
    for shape in errors:
        out += ["", "", *render_error(shape)]
    out += ["", "", "ERRORS: dict[str, type[IvsRealTimeError]] = {"]
    out += [f'    "{shape.error_code}": {shape.name},' for shape in errors]
    out += ["}", "", "", *render_client(model, paginators)]
    return "\n".join(out) + "\n"


def render() -> str:
    """The module as committed: generated from the installed botocore, formatted by ruff."""
    session = botocore.session.get_session()
    paginators = session.get_component("data_loader").load_service_model(SERVICE, "paginators-1")["pagination"]
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(MODULE), "-"],
        input=generate(session.get_service_model(SERVICE), paginators),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if openstage/client/api.py is stale")
    args = parser.parse_args(argv)
    source = render()
    if args.check:
        if not MODULE.is_file() or MODULE.read_text() != source:
            print(STALE, file=sys.stderr)
            return 1
        print("openstage/client/api.py is up to date")
        return 0
    MODULE.write_text(source)
    print(f"wrote {MODULE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
