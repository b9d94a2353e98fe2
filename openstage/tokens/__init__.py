"""Participant tokens: issue them (ES384, IVS's claims) and verify them at join time.

The media plane calls :class:`TokenVerifier`; the control plane calls :class:`TokenIssuer`.
"""

from openstage.tokens.keys import TokenIssuer, fingerprint, load_or_create_server_key
from openstage.tokens.participant import ParticipantClaims, TokenError, TokenVerifier

__all__ = [
    "ParticipantClaims",
    "TokenError",
    "TokenIssuer",
    "TokenVerifier",
    "fingerprint",
    "load_or_create_server_key",
]
