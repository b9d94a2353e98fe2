"""What the typed client raises: the service's errors, carrying what a support case needs."""

from __future__ import annotations


class IvsRealTimeError(Exception):
    """An error answer from the service.

    The model's errors have subclasses in ``openstage.client.api`` (``ValidationException``, …);
    codes the model does not list (``NotImplementedException``, ``InvalidSignatureException``, …)
    arrive as this class, so ``except IvsRealTimeError`` catches every error answer.
    """

    def __init__(self, message: str, *, code: str, status: int, request_id: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.code} (HTTP {self.status}, request id {self.request_id}): {self.message}"


class ClientClosedError(RuntimeError):
    """A call on a client after ``close()``: its threads and connections are gone."""
