"""Python clients of openstage (and of Amazon IVS Real-Time): the typed, async control API client
and the participant SDK.

``IvsRealTimeClient`` and its errors are here; request and response shapes and enums are in
``openstage.client.api``. ``Participant`` joins a stage with a participant token, publishes and
subscribes (``openstage.client.participant``); ``openstage.client.pattern`` has test media.
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
from openstage.client.participant import (
    ExchangeError,
    JoinError,
    Participant,
    ParticipantError,
    Publication,
    RemoteParticipant,
    StageLeft,
    Subscription,
    TokenClaims,
)
from openstage.client.whip_http import WhipError

__all__ = [
    "AccessDeniedException",
    "ClientClosedError",
    "ClientConfig",
    "ConflictException",
    "ExchangeError",
    "InternalServerException",
    "IvsRealTimeClient",
    "IvsRealTimeError",
    "JoinError",
    "Participant",
    "ParticipantError",
    "PendingVerification",
    "Publication",
    "RemoteParticipant",
    "ResourceNotFoundException",
    "ServiceQuotaExceededException",
    "StageLeft",
    "StaticCredentials",
    "Subscription",
    "TokenClaims",
    "ValidationException",
    "WhipError",
]
