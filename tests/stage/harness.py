"""The stage runtime run in-process against a real database, with recorders in place of WebSocket clients.

Publishing needs WHIP and the SFU; these tests report peer connections to the runtime the way
the WHIP endpoints do, and read back what it wrote with the store models.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from openstage import ids
from openstage.control.handlers.stages import DEFAULT_RECORDING
from openstage.stage import ClientInfo, StageRuntime, StageState
from openstage.store.db import Database
from openstage.store.models import Participant, ParticipantEvent, Stage, StageSession
from openstage.tokens import ParticipantClaims, TokenIssuer, TokenVerifier
from openstage.tokens.lookup import database_lookup
from tests.events_client import CHROME_ON_WINDOWS
from tests.server import ACCOUNT, REGION

ENDPOINTS = {"events": "ws://127.0.0.1:1/events", "whip": "http://127.0.0.1:1/whip"}
KEY = ec.generate_private_key(ec.SECP384R1())
BROWSER = ClientInfo(user_agent=CHROME_ON_WINDOWS, sdk_version="1.41.0", platform="web")
LEAVE_TIMEOUT = 0.1
GRACE = 0.3


class Recorder:
    """An EventsConnection that keeps what it was told: the in-process stand-in for a WebSocket client."""

    def __init__(self) -> None:
        self.states: list[StageState] = []
        self.disconnects: list[tuple[str, str]] = []

    def push_state(self, state: StageState) -> None:
        self.states.append(state)

    def disconnect(self, code: str, reason: str) -> None:
        self.disconnects.append((code, reason))

    @property
    def roster(self) -> dict[str, Any]:
        """The latest state's participants by id."""
        return {entry.participant_id: entry for entry in self.states[-1].participants}


@dataclass
class Harness:
    db: Database
    runtime: StageRuntime
    issuer: TokenIssuer
    stage_arn: str
    kicks: list[tuple[str, str]] = field(default_factory=list)

    async def claims(
        self, capabilities: tuple[str, ...] = ("PUBLISH", "SUBSCRIBE"), **claims: Any
    ) -> ParticipantClaims:
        token = self.token(capabilities, **claims)
        return await self.runtime.authorize(token)

    def token(self, capabilities: tuple[str, ...] = ("PUBLISH", "SUBSCRIBE"), **claims: Any) -> str:
        participant_id = claims.get("participant_id", ids.random_id())
        user_id, attributes = claims.get("user_id", ""), claims.get("attributes", {})
        return self.issuer.issue(self.stage_arn, participant_id, user_id, attributes, list(capabilities), 60)[0]

    async def events(self, participant_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(name, details) of the participant's events in the stage's latest session, oldest first."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(ParticipantEvent.name, ParticipantEvent.details)
                .where(
                    ParticipantEvent.session_id == await self._latest_session_id(session),
                    ParticipantEvent.participant_id == participant_id,
                )
                .order_by(ParticipantEvent.pk)
            )
            return [(name, details) for name, details in rows]

    async def participant(self, participant_id: str) -> Participant | None:
        async with self.db.read() as session:
            return await session.scalar(
                select(Participant).where(
                    Participant.session_id == await self._latest_session_id(session),
                    Participant.participant_id == participant_id,
                )
            )

    async def sessions(self) -> list[StageSession]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(StageSession).where(StageSession.stage_arn == self.stage_arn).order_by(StageSession.pk)
            )
            return list(rows)

    async def _latest_session_id(self, session: Any) -> str | None:
        return await session.scalar(
            select(StageSession.session_id)
            .where(StageSession.stage_arn == self.stage_arn)
            .order_by(StageSession.pk.desc())
            .limit(1)
        )


def run(database_url: str, scenario: Callable[[Harness], Awaitable[None]]) -> None:
    """Runs ``scenario`` against a fresh stage and a started runtime; stops the runtime afterwards."""

    async def main() -> None:
        db = Database(database_url)
        await db.migrate()
        try:
            stage_arn = ids.arn(REGION, ACCOUNT, "stage", ids.random_id())
            async with db.write() as session:
                session.add(Stage(arn=stage_arn, name="runtime", auto_recording=DEFAULT_RECORDING))
            issuer = TokenIssuer(KEY, ENDPOINTS)
            runtime = StageRuntime(db, TokenVerifier(issuer, database_lookup(db)), GRACE, LEAVE_TIMEOUT)
            harness = Harness(db, runtime, issuer, stage_arn)

            async def listener(stage_arn: str, participant_id: str) -> None:
                harness.kicks.append((stage_arn, participant_id))

            runtime.add_kick_listener(listener)
            await runtime.start()
            try:
                await scenario(harness)
            finally:
                await runtime.stop()
        finally:
            await db.close()

    asyncio.run(main())


async def settle(seconds: float) -> None:
    """Waits out the runtime's timers (leave timeout, session grace) with some slack."""
    await asyncio.sleep(seconds + 0.15)
