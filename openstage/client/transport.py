"""The botocore client behind an IvsRealTimeClient, and the threads its blocking calls run on.

botocore signs (SigV4), retries, times out and pools connections; this module only moves its
calls off the event loop and turns its ``ClientError`` into the typed errors.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.session  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from openstage.client.config import ClientConfig
from openstage.client.errors import ClientClosedError, IvsRealTimeError

SERVICE = "ivs-realtime"
_numbers = itertools.count(1)


class Transport:
    """One botocore client, created on first use in a worker thread.

    Creating it resolves credentials, which may block on the network (SSO, instance metadata),
    so it never happens on the event loop; botocore clients are thread-safe once created.
    """

    def __init__(self, config: ClientConfig, errors: Mapping[str, type[IvsRealTimeError]]) -> None:
        self._config = config
        self._errors = errors
        self._executor = ThreadPoolExecutor(
            max_workers=config.max_pool_connections, thread_name_prefix=f"ivs-realtime-client-{next(_numbers)}"
        )
        self._lock = threading.Lock()
        self._client: Any = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Runs botocore's ``method`` (snake_case operation) with ``params`` (wire names) in a worker thread."""
        if self._closed:
            raise ClientClosedError("this IvsRealTimeClient is closed; create a new one to make calls")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._invoke, method, params)
        except ClientError as error:
            raise self._typed(error) from None

    async def close(self) -> None:
        """Waits for calls in flight, then stops the threads and closes botocore's connections."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._shutdown)

    def _invoke(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = getattr(self._botocore(), method)(**params)
        return response

    def _botocore(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = create_botocore_client(self._config)
            return self._client

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            if self._client is not None:
                self._client.close()

    def _typed(self, error: ClientError) -> IvsRealTimeError:
        response = error.response
        code = response.get("Error", {}).get("Code", "")
        meta = response.get("ResponseMetadata", {})
        return self._errors.get(code, IvsRealTimeError)(
            response.get("Error", {}).get("Message", ""),
            code=code,
            status=meta.get("HTTPStatusCode", 0),
            request_id=meta.get("RequestId"),
        )


def create_botocore_client(config: ClientConfig) -> Any:
    """A botocore ``ivs-realtime`` client for ``config``; unset fields are left to botocore's own resolution."""
    retries: dict[str, Any] = {}
    if config.max_attempts is not None:
        retries["total_max_attempts"] = config.max_attempts
    if config.retry_mode is not None:
        retries["mode"] = config.retry_mode
    options: dict[str, Any] = {"max_pool_connections": config.max_pool_connections}
    if retries:
        options["retries"] = retries
    if config.connect_timeout is not None:
        options["connect_timeout"] = config.connect_timeout
    if config.read_timeout is not None:
        options["read_timeout"] = config.read_timeout
    credentials = config.credentials
    return botocore.session.Session(profile=config.profile).create_client(
        SERVICE,
        region_name=config.region,
        endpoint_url=config.endpoint_url,
        aws_access_key_id=credentials.access_key_id if credentials else None,
        aws_secret_access_key=credentials.secret_access_key if credentials else None,
        aws_session_token=credentials.session_token if credentials else None,
        config=Config(**options),
    )
