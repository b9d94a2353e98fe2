"""The stage runtime: who is on which stage of this node, what they publish and subscribe to, and what they hear.

The events WebSocket registers connections here, the media plane (WHIP and the SFU) reports
peer connections here, and the control plane kicks through here. Every change of a stage
runs under that stage's lock and is written to the database (records.py) before anyone is
told, so the event log has the order things happened in. Nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from openstage.stage.client import ClientInfo
from openstage.stage.errors import ExchangeRefused, JoinRefused, StageAtCapacity
from openstage.stage.records import AbandonedFilter, Event, StageRecords, event
from openstage.stage.state import EventsConnection, LiveParticipant, LiveStage, ParticipantInfo
from openstage.store.db import Database
from openstage.tokens import ParticipantClaims, TokenError, TokenVerifier

log = logging.getLogger("openstage.stage")

# A participant whose connections all dropped is LEFT this long after the last one, unless
# one comes back first: long enough for the SDK's first reconnect attempts (1 s, 2 s).
LEAVE_TIMEOUT_SECONDS = 3.0
MAX_PUBLISHERS = 12  # per stage, not adjustable (docs 8.1)
EVERYONE = "*"  # the participant id kick listeners get when a whole stage goes
# What a token exchange may not change (docs 1.5): the participant, its stage and where it connects.
IMMUTABLE_CLAIMS = ("resource", "topic", "jti", "whip_url", "events_url")

# Called with (stage ARN, participant id or EVERYONE) when participants are thrown out, so the
# media plane closes their peer connections.
KickListener = Callable[[str, str], Awaitable[None]]
# Called with (stage ARN, participant id, publishing) after a participant's start or end of publishing
# (stopped, left, kicked, stage deleted) is recorded, in order, outside the stage's lock: the
# recorder and the compositor start and stop reading the participant's media on it.
PublishListener = Callable[[str, str, bool], Awaitable[None]]


class StageRuntime:
    def __init__(
        self,
        db: Database,
        verifier: TokenVerifier,
        session_grace_seconds: float,
        leave_timeout: float = LEAVE_TIMEOUT_SECONDS,
        on_event: Callable[[], None] = lambda: None,
        abandoned: AbandonedFilter | None = None,
    ) -> None:
        """``on_event`` is called after a change that put EventBridge events in the outbox commits; ``abandoned``
        spares, at start and stop, the open sessions other nodes of a cluster host (openstage/cluster)."""
        self._records = StageRecords(db, on_event)
        self._abandoned = abandoned
        self._verifier = verifier
        self._grace = session_grace_seconds
        self._leave_timeout = leave_timeout
        self._stages: dict[str, LiveStage] = {}
        self._kick_listeners: list[KickListener] = []
        self._publish_listeners: list[PublishListener] = []
        # Publishing changes recorded under a stage's lock, told to the listeners once it is released.
        self._publish_changes: list[tuple[str, str, bool]] = []
        self._notifying = False
        self._timers: set[asyncio.Task[None]] = set()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Closes the sessions a crash left open: their participants cannot still be connected."""
        closed = await self._records.close_abandoned_sessions(self._abandoned)
        if closed:
            log.warning("closed %d stage session(s) left open by an unclean shutdown", closed)

    async def stop(self) -> None:
        """Ends every session; call it after the WebSockets and peer connections are closed."""
        for stage in list(self._stages.values()):
            self._retire(stage)
        for task in list(self._timers):
            task.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
        await self._records.close_abandoned_sessions(self._abandoned)

    def add_kick_listener(self, listener: KickListener) -> None:
        self._kick_listeners.append(listener)

    def add_publish_listener(self, listener: PublishListener) -> None:
        self._publish_listeners.append(listener)

    def participant_info(self, stage_arn: str, participant_id: str) -> ParticipantInfo | None:
        """The live participant's session, user id and attributes; None if it is not on the stage here."""
        stage = self._stages.get(stage_arn)
        participant = stage.participants.get(participant_id) if stage else None
        if stage is None or participant is None or stage.session_id is None:
            return None
        return ParticipantInfo(stage.session_id, participant.roster_entry())

    # --- joining ----------------------------------------------------------------------------------

    async def authorize(self, token: str | None) -> ParticipantClaims:
        """Verifies ``token`` and that its stage exists and its participant was not disconnected.

        Raises :class:`JoinRefused` with the JOIN_ERROR code (docs 2.3).
        """
        try:
            claims = await self._verifier.verify(token)
        except TokenError as error:
            raise JoinRefused(error.code, error.message) from None
        refused = await self._records.refusal(claims.stage_arn, claims.participant_id)
        if refused is None:
            return claims
        if refused.code == "PARTICIPANT_DISCONNECTED" and claims.stage_arn in self._stages:
            # The Event model has no "disconnected" code; the participant lacks the right to join.
            async with self._locked(claims.stage_arn) as stage:
                if stage.session_id is not None:
                    failure = event("JOIN_ERROR", error_code="INSUFFICIENT_CAPABILITIES")
                    await self._records.record(stage.arn, stage.session_id, claims.participant_id, [failure])
        raise refused

    async def attach_events(self, claims: ParticipantClaims, client: ClientInfo, connection: EventsConnection) -> None:
        """Registers the participant's events WebSocket, joining the participant if new; it gets the state at once.

        One live connection per token (docs 2.5): an older WebSocket of the same participant
        is told TOKEN_REUSED. Raises :class:`JoinRefused` if a kick or DeleteStage came first.
        """
        async with self._locked(claims.stage_arn) as stage:
            participant = await self._present(stage, claims, client)
            previous, participant.connection = participant.connection, connection
            if previous is not None:
                previous.disconnect("TOKEN_REUSED", "another connection with the same token replaced this one")
            # A fresh number even if nothing changed: a reconnecting SDK drops states it has seen.
            connection.push_state(stage.next_state())

    async def detach_events(self, stage_arn: str, participant_id: str, connection: EventsConnection) -> None:
        """The WebSocket closed; without other connections the participant leaves after the leave timeout."""
        if stage_arn not in self._stages:
            return
        async with self._locked(stage_arn) as stage:
            participant = stage.participants.get(participant_id)
            if participant is None or participant.connection is not connection:
                return
            participant.connection = None
            self._leave_if_unreachable(stage, participant)

    async def set_media_state(
        self, stage_arn: str, participant_id: str, connection: EventsConnection, audio_muted: bool, video_stopped: bool
    ) -> None:
        """SET_STATE from the participant's WebSocket: others see audioMuted/videoStopped change."""
        if stage_arn not in self._stages:
            return
        async with self._locked(stage_arn) as stage:
            participant = stage.participants.get(participant_id)
            if participant is None or participant.connection is not connection:
                return
            if (participant.audio_muted, participant.video_stopped) == (audio_muted, video_stopped):
                return
            participant.audio_muted, participant.video_stopped = audio_muted, video_stopped
            if participant.publishing:
                self._broadcast(stage)

    async def exchange_token(
        self, current: ParticipantClaims, connection: EventsConnection, new_token: str
    ) -> ParticipantClaims:
        """EXCHANGE_TOKEN from the participant's WebSocket: the new token's attributes, capabilities, user id
        and expiry replace the old ones, and others see the change (docs 1.5).

        Like IVS, only a self-signed token can be exchanged, for one of the same participant, stage,
        topic and endpoints. Raises :class:`ExchangeRefused` otherwise.
        """
        try:
            claims = await self.authorize(new_token)
        except JoinRefused as refused:
            raise ExchangeRefused(refused.message) from None
        if not (current.self_signed and claims.self_signed):
            raise ExchangeRefused("only self-signed tokens (made with an imported public key) can be exchanged")
        for claim in IMMUTABLE_CLAIMS:
            if current.raw.get(claim) != claims.raw.get(claim):
                raise ExchangeRefused(f"the new token's {claim} differs from the current token's; it cannot change")
        if current.stage_arn not in self._stages:
            raise ExchangeRefused("the participant is no longer in the stage")
        async with self._locked(current.stage_arn) as stage:
            participant = stage.participants.get(current.participant_id)
            if participant is None or participant.connection is not connection or stage.session_id is None:
                raise ExchangeRefused("the participant is no longer in the stage")
            previous, participant.claims = participant.claims, claims
            await self._records.exchange_token(stage.arn, stage.session_id, previous, claims)
            if participant.publishing:
                self._broadcast(stage)
        return claims

    # --- media, as the WHIP endpoints report it -------------------------------------------------------

    async def publish_started(self, claims: ParticipantClaims, client: ClientInfo) -> None:
        """A publish peer connection is up: PUBLISH_STARTED, and the roster shows the participant.

        Joins a participant without an events WebSocket (OBS and other WHIP-only clients).
        Raises :class:`StageAtCapacity`, recording PUBLISH_ERROR QUOTA_EXCEEDED, when twelve
        others publish; :class:`JoinRefused` if the participant may not join.
        """
        participant_id = claims.participant_id
        async with self._locked(claims.stage_arn) as stage:
            participant = await self._present(stage, claims, client)
            session_id = _session(stage)
            if stage.publishers_other_than(participant_id) >= MAX_PUBLISHERS:
                failure = event("PUBLISH_ERROR", error_code="QUOTA_EXCEEDED")
                await self._records.record(stage.arn, session_id, participant_id, [failure], client=client)
                self._leave_if_unreachable(stage, participant)
                raise StageAtCapacity(f"stage {stage.arn} already has {MAX_PUBLISHERS} publishers")
            participant.publications += 1
            if participant.publications == 1:
                started = [event("PUBLISH_STARTED")]
                await self._records.record(
                    stage.arn, session_id, participant_id, started, published=True, client=client
                )
                self._publish_changes.append((stage.arn, participant_id, True))
                self._broadcast(stage)

    async def publish_stopped(self, stage_arn: str, participant_id: str) -> None:
        if stage_arn not in self._stages:
            return
        async with self._locked(stage_arn) as stage:
            participant = stage.participants.get(participant_id)
            if participant is None or not participant.publishing:
                return
            participant.publications -= 1
            if not participant.publishing:
                await self._records.record(stage.arn, _session(stage), participant_id, [event("PUBLISH_STOPPED")])
                self._publish_changes.append((stage.arn, participant_id, False))
                self._broadcast(stage)
            self._leave_if_unreachable(stage, participant)

    async def publish_failed(
        self, claims: ParticipantClaims, error_code: str, client: ClientInfo | None = None
    ) -> None:
        """PUBLISH_ERROR with an Event errorCode (docs 3.4), e.g. INSUFFICIENT_CAPABILITIES; ``client`` describes
        a participant the attempt joins (an RTMP encoder's protocol)."""
        await self._fail(claims, event("PUBLISH_ERROR", error_code=error_code), client)

    async def subscribe_started(self, claims: ParticipantClaims, publisher_id: str, client: ClientInfo) -> None:
        participant_id = claims.participant_id
        async with self._locked(claims.stage_arn) as stage:
            participant = await self._present(stage, claims, client)
            participant.subscriptions[publisher_id] += 1
            if participant.subscriptions[publisher_id] == 1:
                started = [event("SUBSCRIBE_STARTED", publisher_id)]
                await self._records.record(stage.arn, _session(stage), participant_id, started, client=client)

    async def subscribe_stopped(self, stage_arn: str, participant_id: str, publisher_id: str) -> None:
        if stage_arn not in self._stages:
            return
        async with self._locked(stage_arn) as stage:
            participant = stage.participants.get(participant_id)
            if participant is None or not participant.subscriptions[publisher_id]:
                return
            participant.subscriptions[publisher_id] -= 1
            if not participant.subscriptions[publisher_id]:
                del participant.subscriptions[publisher_id]
                stopped = [event("SUBSCRIBE_STOPPED", publisher_id)]
                await self._records.record(stage.arn, _session(stage), participant_id, stopped)
            self._leave_if_unreachable(stage, participant)

    async def subscribe_failed(self, claims: ParticipantClaims, publisher_id: str, error_code: str) -> None:
        """SUBSCRIBE_ERROR with an Event errorCode (docs 3.4), e.g. PUBLISHER_NOT_FOUND."""
        await self._fail(claims, event("SUBSCRIBE_ERROR", publisher_id, error_code))

    def is_publishing(self, stage_arn: str, participant_id: str) -> bool:
        stage = self._stages.get(stage_arn)
        participant = stage.participants.get(participant_id) if stage else None
        return participant is not None and participant.publishing

    # --- the control plane ------------------------------------------------------------------------

    async def disconnect_participant(self, stage_arn: str, participant_id: str, reason: str, refuse: bool) -> None:
        """DisconnectParticipant: every connection of the participant is closed with PARTICIPANT_DISCONNECTED,
        others see it KICKED, and with ``refuse`` its id may never join this stage again (docs 2.5)."""
        async with self._locked(stage_arn) as stage:
            if refuse:
                await self._records.refuse(stage_arn, participant_id, reason)
            participant = stage.participants.get(participant_id)
            if participant is not None:
                if participant.connection is not None:
                    participant.connection.disconnect("PARTICIPANT_DISCONNECTED", reason or "disconnected by the API")
                    participant.connection = None
                await self._remove(stage, participant, kicked=True)
        await self._notify_kicked(stage_arn, participant_id)

    @asynccontextmanager
    async def deleting_stage(self, stage_arn: str) -> AsyncIterator[None]:
        """Holds the stage while the caller deletes it; if that succeeds, everyone is disconnected with STAGE_DELETED.

        Nothing is recorded: the stage's sessions, participants and events go with it.
        """
        async with self._locked(stage_arn) as stage:
            yield
            for participant in stage.participants.values():
                _cancel(participant.leave_task)
                if participant.publishing:
                    self._publish_changes.append((stage_arn, participant.claims.participant_id, False))
                if participant.connection is not None:
                    participant.connection.disconnect("STAGE_DELETED", "the stage was deleted")
            stage.participants.clear()
            stage.session_id = None
        await self._notify_kicked(stage_arn, EVERYONE)

    # --- internals --------------------------------------------------------------------------------

    @asynccontextmanager
    async def _locked(self, stage_arn: str) -> AsyncIterator[LiveStage]:
        """The stage's live state under its lock; made on first use, dropped once it has nobody and no session."""
        try:
            while True:
                stage = self._stages.setdefault(stage_arn, LiveStage(stage_arn))
                async with stage.lock:
                    if stage.retired:
                        continue  # dropped while this caller waited: take the one that replaced it
                    try:
                        yield stage
                    finally:
                        if not stage.participants and stage.session_id is None:
                            self._retire(stage)
                    return
        finally:
            await self._notify_publishing()

    def _retire(self, stage: LiveStage) -> None:
        stage.retired = True
        _cancel(stage.end_task)
        if self._stages.get(stage.arn) is stage:
            del self._stages[stage.arn]

    async def _present(self, stage: LiveStage, claims: ParticipantClaims, client: ClientInfo) -> LiveParticipant:
        """The participant, joined now (JOINED, and a new session if there was none) if it was not on the stage."""
        participant = stage.participants.get(claims.participant_id)
        if participant is not None:
            _cancel(participant.leave_task)
            participant.leave_task = None
            return participant
        stage.session_id = await self._records.join(stage.arn, stage.session_id, claims, client)
        _cancel(stage.end_task)
        stage.end_task = None
        participant = stage.participants[claims.participant_id] = LiveParticipant(claims)
        return participant

    async def _fail(self, claims: ParticipantClaims, failure: Event, client: ClientInfo | None = None) -> None:
        """Records a failed publish or subscribe; the attempt makes a WHIP-only client a participant."""
        async with self._locked(claims.stage_arn) as stage:
            try:
                participant = await self._present(stage, claims, client or ClientInfo())
            except JoinRefused:
                return  # the stage is gone or the participant was kicked: no session to record it in
            await self._records.record(stage.arn, _session(stage), claims.participant_id, [failure])
            self._leave_if_unreachable(stage, participant)

    def _leave_if_unreachable(self, stage: LiveStage, participant: LiveParticipant) -> None:
        if participant.unreachable and participant.leave_task is None:
            participant.leave_task = self._spawn(self._leave_later(stage.arn, participant.claims.participant_id))

    async def _leave_later(self, stage_arn: str, participant_id: str) -> None:
        await asyncio.sleep(self._leave_timeout)
        async with self._locked(stage_arn) as stage:
            participant = stage.participants.get(participant_id)
            if participant is None or participant.leave_task is not asyncio.current_task():
                return
            participant.leave_task = None
            if participant.unreachable:
                await self._remove(stage, participant, kicked=False)

    async def _remove(self, stage: LiveStage, participant: LiveParticipant, kicked: bool) -> None:
        """LEFT, after stopping whatever media it still had; the session ends after the grace once nobody is left."""
        participant_id = participant.claims.participant_id
        events = [event("PUBLISH_STOPPED")] if participant.publishing else []
        events += [event("SUBSCRIBE_STOPPED", publisher) for publisher in participant.subscriptions]
        events.append(event("LEFT"))
        await self._records.record(stage.arn, _session(stage), participant_id, events, state="DISCONNECTED")
        if participant.publishing:
            self._publish_changes.append((stage.arn, participant_id, False))
        del stage.participants[participant_id]
        _cancel(participant.leave_task)
        if participant.publishing or kicked:
            self._broadcast(stage, kicked=(participant_id,) if kicked else ())
        if not stage.participants:
            stage.end_task = self._spawn(self._end_session_later(stage.arn))

    async def _end_session_later(self, stage_arn: str) -> None:
        await asyncio.sleep(self._grace)
        async with self._locked(stage_arn) as stage:
            if stage.end_task is not asyncio.current_task() or stage.participants or stage.session_id is None:
                return
            stage.end_task = None
            await self._records.end_session(stage.session_id)
            stage.session_id = None  # the stage is retired on the way out of the lock

    def _broadcast(self, stage: LiveStage, kicked: tuple[str, ...] = ()) -> None:
        state = stage.next_state(kicked)
        for participant in stage.participants.values():
            if participant.connection is not None:
                participant.connection.push_state(state)

    async def _notify_publishing(self) -> None:
        """Tells the listeners in the order the changes were recorded: one caller at a time drains the
        queue, so a participant's stop never overtakes its start."""
        if self._notifying:
            return
        self._notifying = True
        try:
            while self._publish_changes:
                stage_arn, participant_id, publishing = self._publish_changes.pop(0)
                for listener in list(self._publish_listeners):
                    try:
                        await listener(stage_arn, participant_id, publishing)
                    except Exception:
                        log.exception("publish listener failed for %s on %s", participant_id, stage_arn)
        finally:
            self._notifying = False

    async def _notify_kicked(self, stage_arn: str, participant_id: str) -> None:
        for listener in list(self._kick_listeners):
            try:
                await listener(stage_arn, participant_id)
            except Exception:
                log.exception("kick listener failed for %s on %s", participant_id, stage_arn)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._timers.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        """Timers run unattended: a failure is logged, not left for the garbage collector to mention."""
        self._timers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("stage timer failed", exc_info=task.exception())


def _session(stage: LiveStage) -> str:
    """The live session: a stage with participants always has one."""
    if stage.session_id is None:
        raise RuntimeError(f"stage {stage.arn} has participants but no session")
    return stage.session_id


def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
