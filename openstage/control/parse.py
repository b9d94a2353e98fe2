"""Reads a rest-json request into the parameter dict its input shape describes.

Members can live in the URI, the query string, headers or the JSON body; the model says
which, so the tagging routes (ARN in the path, ``tagKeys`` repeated in the query) need no
special code.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, Shape

from openstage.control.errors import SerializationException
from openstage.control.validation import validation_error


def _scalar(shape: Shape, raw: str, where: str) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise validation_error(
                [f"Value '{raw}' at '{where}' failed to satisfy constraint: Member must be an integer"]
            ) from None
    if shape.type_name == "boolean":
        return raw.lower() == "true"
    return raw


def parse_request(
    operation: OperationModel,
    path_params: dict[str, str],
    query_string: str,
    headers: dict[str, str],
    body: bytes,
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    body_members = {
        name: member for name, member in shape.members.items() if member.serialization.get("location") is None
    }
    if body_members and body.strip():
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise SerializationException(f"Request body is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise SerializationException("Request body must be a JSON object")
        # A JSON null means "not given", as botocore would never send it.
        params.update({k: v for k, v in document.items() if k in body_members and v is not None})
    query = parse_qsl(query_string, keep_blank_values=True)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in path_params:
            params[name] = path_params[wire]
        elif location == "querystring":
            values = [v for k, v in query if k == wire]
            if member.type_name == "list":
                if values:
                    params[name] = [_scalar(member.member, v, name) for v in values]
            elif values:
                params[name] = _scalar(member, values[0], name)
        elif location == "header" and wire.lower() in headers:
            params[name] = _scalar(member, headers[wire.lower()], name)
    return params
