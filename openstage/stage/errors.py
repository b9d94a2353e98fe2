"""Why the stage runtime turns a participant away; the media plane passes the codes on unchanged."""

from __future__ import annotations


class JoinRefused(Exception):
    """``code`` is an ``aws:ivs:JOIN_ERROR`` code (docs 2.3): TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED,
    TOKEN_INVALID_SIGNATURE, STAGE_DELETED, PARTICIPANT_DISCONNECTED or BAD_REQUEST."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StageAtCapacity(Exception):
    """Twelve others already publish (docs 8.1: not adjustable); WHIP answers code 2005."""


class ExchangeRefused(Exception):
    """An EXCHANGE_TOKEN the stage will not take; the message goes back to the client as the reply's error."""
