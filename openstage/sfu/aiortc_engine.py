"""The MediaEngine built on aiortc: who publishes and who subscribes to whom, per stage.

A publication that ends takes its subscriptions with it (the subscriber's SDK tears its peer
connection down when the remote stops publishing anyway); a new publication or subscription
for the same participant (and publisher) replaces the old one, as a reconnecting client expects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from openstage.sfu.engine import PublisherNotFound
from openstage.sfu.forwarding import PacketSink, move_taps
from openstage.sfu.local import LocalPublication
from openstage.sfu.peer import PeerSession, configure_ice, configure_ports
from openstage.sfu.publisher import AiortcPublication, open_publication
from openstage.sfu.subscriber import AiortcSubscription, open_subscription

log = logging.getLogger("openstage.sfu")

# A client that got its answer but never completes ICE + DTLS within this time is dropped.
CONNECT_TIMEOUT = 15.0


class AiortcEngine:
    def __init__(
        self,
        ice_addresses: Sequence[str] = (),
        connect_timeout: float = CONNECT_TIMEOUT,
        udp_ports: tuple[int, int] = (0, 0),
    ) -> None:
        configure_ice(ice_addresses)
        configure_ports(*udp_ports)
        self.connect_timeout = connect_timeout
        self.publications: dict[tuple[str, str], AiortcPublication | LocalPublication] = {}
        # (stage, subscriber, publisher) -> subscription
        self.subscriptions: dict[tuple[str, str, str], AiortcSubscription] = {}

    async def publish(self, stage_id: str, participant_id: str, offer_sdp: str) -> AiortcPublication:
        publication = await open_publication(stage_id, participant_id, offer_sdp, self.connect_timeout)
        await self._replace_publication(publication)
        return publication

    async def publish_local(
        self,
        stage_id: str,
        participant_id: str,
        codecs: Mapping[str, str],
        request_keyframe: Callable[[], None] | None = None,
    ) -> LocalPublication:
        """A publication fed in-process (RTMP ingest, replicas); it replaces the participant's earlier one."""
        publication = LocalPublication(stage_id, participant_id, codecs, request_keyframe)
        await self._replace_publication(publication)
        return publication

    async def _replace_publication(self, publication: AiortcPublication | LocalPublication) -> None:
        """Makes ``publication`` the participant's; an earlier one hands over its taps and closes."""
        key = (publication.stage_id, publication.participant_id)
        previous = self.publications.get(key)
        self.publications[key] = publication
        publication.on_end(self._publication_ended)
        if previous is not None:
            move_taps(previous.sources, publication.sources)
            await previous.close("replaced")

    async def subscribe(
        self, stage_id: str, subscriber_id: str, publisher_id: str, offer_sdp: str
    ) -> AiortcSubscription:
        publication = self.publications.get((stage_id, publisher_id))
        if publication is None or publication.ended.is_set():
            raise PublisherNotFound(f"participant {publisher_id} is not publishing")
        key = (stage_id, subscriber_id, publisher_id)
        subscription = await open_subscription(publication, subscriber_id, offer_sdp, self.connect_timeout)
        previous = self.subscriptions.get(key)
        self.subscriptions[key] = subscription
        subscription.on_end(self._subscription_ended)
        if previous is not None:
            await previous.close("replaced")
        if publication.ended.is_set():  # it ended while this subscription was being negotiated
            await subscription.close("publisher-ended")
        return subscription

    async def close_participant(self, stage_id: str, participant_id: str) -> None:
        everyone = participant_id == "*"
        sessions: list[PeerSession | LocalPublication] = [
            p for (s, pid), p in self.publications.items() if s == stage_id and (everyone or pid == participant_id)
        ]
        sessions += [
            sub
            for (s, sid, _), sub in self.subscriptions.items()
            if s == stage_id and (everyone or sid == participant_id)
        ]
        await asyncio.gather(*(session.close("kicked") for session in sessions))

    def tap(self, stage_id: str, participant_id: str, kind: str, sink: PacketSink) -> Callable[[], None] | None:
        publication = self._live_publication(stage_id, participant_id)
        source = publication.sources.get(kind) if publication is not None else None
        return source.tap(sink) if source is not None else None

    def codecs(self, stage_id: str, participant_id: str) -> Mapping[str, str] | None:
        publication = self._live_publication(stage_id, participant_id)
        if publication is None:
            return None
        return {kind: codec for kind, codec in publication.codecs.items() if kind in publication.sources}

    def request_keyframe(self, stage_id: str, participant_id: str) -> None:
        publication = self._live_publication(stage_id, participant_id)
        source = publication.sources.get("video") if publication is not None else None
        if source is not None:
            source.request_keyframe()

    def _live_publication(self, stage_id: str, participant_id: str) -> AiortcPublication | LocalPublication | None:
        publication = self.publications.get((stage_id, participant_id))
        return None if publication is None or publication.ended.is_set() else publication

    async def close(self) -> None:
        sessions = [*self.publications.values(), *self.subscriptions.values()]
        await asyncio.gather(*(session.close("shutdown") for session in sessions))

    def _publication_ended(self, session: PeerSession | LocalPublication) -> None:
        key = (session.stage_id, session.participant_id)
        if self.publications.get(key) is session:
            del self.publications[key]
        for sub in list(self.subscriptions.values()):
            if sub.publication is session:
                sub.close_soon("publisher-ended")

    def _subscription_ended(self, session: PeerSession) -> None:
        assert isinstance(session, AiortcSubscription)
        key = (session.stage_id, session.participant_id, session.publisher_id)
        if self.subscriptions.get(key) is session:
            del self.subscriptions[key]
