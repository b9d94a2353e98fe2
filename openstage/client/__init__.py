"""Python clients of openstage (and of Amazon IVS Real-Time): the typed, async control API client.

``IvsRealTimeClient`` and its errors are here; request and response shapes and enums are in
``openstage.client.api``.
"""

from openstage.client.api import (
    AccessDeniedException,
    ConflictException,
    InternalServerException,
    IvsRealTimeClient,
    PendingVerification,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from openstage.client.config import ClientConfig, StaticCredentials
from openstage.client.errors import ClientClosedError, IvsRealTimeError

__all__ = [
    "AccessDeniedException",
    "ClientClosedError",
    "ClientConfig",
    "ConflictException",
    "InternalServerException",
    "IvsRealTimeClient",
    "IvsRealTimeError",
    "PendingVerification",
    "ResourceNotFoundException",
    "ServiceQuotaExceededException",
    "StaticCredentials",
    "ValidationException",
]
