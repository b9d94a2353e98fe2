"""botocore's ``ivs-realtime`` service model, loaded once, and the HTTP routes it defines.

The model is the API contract: openstage never copies a shape by hand. Everything that
parses, validates or serializes asks this module for the shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

SERVICE_NAME = "ivs-realtime"

# Where the published model's own pattern cannot match the values AWS itself returns, the
# correction lives here, with the reason, rather than in a handler.
PATTERN_CORRECTIONS: dict[str, str] = {
    # The model's ResourceArn pattern allows a one-letter resource type ("[a-z-]/"); every
    # taggable IVS ARN ("stage/…", "encoder-configuration/…") would fail it if applied as a
    # full match, and AWS accepts those ARNs on the tagging routes.
    "ResourceArn": r"arn:aws:ivs:[a-z0-9-]+:[0-9]+:[a-z-]+/[a-zA-Z0-9-]+",
}


@cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def shape_pattern(shape: Shape) -> str | None:
    if shape.name in PATTERN_CORRECTIONS:
        return PATTERN_CORRECTIONS[shape.name]
    return shape.metadata.get("pattern")


@cache
def compiled_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


@dataclass(frozen=True)
class Route:
    method: str
    regex: re.Pattern[str]
    operation: OperationModel

    def match(self, raw_path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(raw_path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


def _route_for(operation: OperationModel) -> Route:
    uri = operation.http["requestUri"].split("?", 1)[0]
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", uri):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = name.endswith("+")
            name = name.rstrip("+")
            pattern += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
        else:
            pattern += re.escape(part)
    return Route(operation.http["method"], re.compile(pattern), operation)


@cache
def routes() -> tuple[Route, ...]:
    model = service_model()
    return tuple(_route_for(model.operation_model(name)) for name in model.operation_names)


def find_route(method: str, raw_path: str) -> tuple[Route | None, dict[str, str], bool]:
    """Returns the route, its path parameters, and whether the path exists under another method."""
    path_known = False
    for route in routes():
        params = route.match(raw_path)
        if params is None:
            continue
        if route.method == method:
            return route, params, True
        path_known = True
    return None, {}, path_known
