"""What every operation of the generated client shares: configuration, lifecycle, calls, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, Self, TypeVar, Unpack

from openstage.client.config import ClientConfig, ConfigOverrides
from openstage.client.errors import IvsRealTimeError
from openstage.client.transport import Transport
from openstage.client.wire import Shape, from_wire, to_wire

Req = TypeVar("Req", bound=Shape)
Resp = TypeVar("Resp", bound=Shape)
Item = TypeVar("Item")


class ClientBase:
    """Configuration and lifecycle of a client; the generated subclass adds one method per operation.

    A client owns a botocore client and a few threads: use ``async with`` or ``await close()``.
    """

    _errors: ClassVar[Mapping[str, type[IvsRealTimeError]]] = {}

    def __init__(self, config: ClientConfig | None = None, /, **overrides: Unpack[ConfigOverrides]) -> None:
        self.config = replace(config or ClientConfig(), **overrides)
        self._transport = Transport(self.config, self._errors)

    @classmethod
    def from_env(cls, **overrides: Unpack[ConfigOverrides]) -> Self:
        """A client configured from the environment (``ClientConfig.from_env``), then ``overrides``."""
        return cls(ClientConfig.from_env(), **overrides)

    def with_config(self, **overrides: Unpack[ConfigOverrides]) -> Self:
        """A new client with this one's settings changed by ``overrides``; this one is left as it is.

        The copy has its own connections and threads: close it too (``async with`` suits scoped use).
        """
        return type(self)(self.config, **overrides)

    @property
    def closed(self) -> bool:
        return self._transport.closed

    async def close(self) -> None:
        """Waits for calls in flight, then releases threads and connections; later calls raise ClientClosedError."""
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _call(
        self, method: str, request_type: type[Req], request: Req | None, kwargs: dict[str, Any], response: type[Resp]
    ) -> Resp:
        raw = await self._transport.call(method, to_wire(build_request(request_type, request, kwargs)))
        return from_wire(response, raw)

    def _paginate(
        self,
        method: str,
        request_type: type[Req],
        request: Req | None,
        kwargs: dict[str, Any],
        response: type[Resp],
        items: Callable[[Resp], list[Item] | None],
    ) -> AsyncIterator[Item]:
        """The items of every page, requesting the next page with the last one's ``nextToken``."""
        first = build_request(request_type, request, kwargs)  # a bad argument raises here, not at the first page

        async def walk() -> AsyncIterator[Item]:
            current = first
            while True:
                raw = await self._transport.call(method, to_wire(current))
                for item in items(from_wire(response, raw)) or ():
                    yield item
                if not raw.get("nextToken"):
                    return
                current = replace(current, next_token=raw["nextToken"])

        return walk()


def build_request(request_type: type[Req], request: Req | None, kwargs: dict[str, Any]) -> Req:
    """The request object a method was given, or the one its keyword arguments make."""
    if request is None:
        return request_type(**kwargs)
    if kwargs:
        raise TypeError(f"pass a {request_type.__name__} or keyword arguments, not both")
    if not isinstance(request, request_type):
        raise TypeError(f"expected a {request_type.__name__}, got {type(request).__name__}")
    return request
