"""StageRuntime in-process on a real database: roster, capacity, media events, leaving, kicks, sessions.

Peer connections are reported the way the WHIP endpoints report them; the events WebSocket is
played by recorders (harness.py). tests/dataplane/test_events.py covers the same over real sockets.
"""

from __future__ import annotations

import asyncio

import pytest

from openstage.stage import EVERYONE, MAX_PUBLISHERS, ClientInfo, JoinRefused, StageAtCapacity
from tests.stage.harness import BROWSER, GRACE, LEAVE_TIMEOUT, Harness, Recorder, run, settle


def names(events: list[tuple[str, dict]]) -> list[str]:
    return [name for name, _ in events]


def test_a_session_starts_at_the_first_join_and_ends_after_the_grace(database_url):
    async def scenario(h: Harness) -> None:
        assert await h.sessions() == []
        claims = await h.claims(user_id="ana", attributes={"displayName": "Ana"})
        connection = Recorder()
        await h.runtime.attach_events(claims, BROWSER, connection)
        (session,) = await h.sessions()
        assert session.session_id.startswith("st-") and len(session.session_id) == 16
        assert session.end_time is None
        row = await h.participant(claims.participant_id)
        assert row is not None
        assert (row.state, row.user_id, row.published) == ("CONNECTED", "ana", False)
        assert row.first_join_time is not None
        assert row.details == {
            "attributes": {"displayName": "Ana"},
            "protocol": "WHIP",
            "ispName": "",
            "osName": "Microsoft Windows",
            "osVersion": "10.0",
            "browserName": "Google Chrome",
            "browserVersion": "116",
            "sdkVersion": "1.41.0",
        }

        await h.runtime.detach_events(h.stage_arn, claims.participant_id, connection)
        await settle(LEAVE_TIMEOUT)
        assert names(await h.events(claims.participant_id)) == ["JOINED", "LEFT"]
        row = await h.participant(claims.participant_id)
        assert row is not None and row.state == "DISCONNECTED"
        assert (await h.sessions())[0].end_time is None  # empty, but within the grace
        await settle(GRACE)
        (session,) = await h.sessions()
        assert session.end_time is not None and session.end_time >= session.start_time

    run(database_url, scenario)


def test_someone_joining_within_the_grace_keeps_the_session(database_url):
    async def scenario(h: Harness) -> None:
        first, second = await h.claims(), await h.claims()
        connection = Recorder()
        await h.runtime.attach_events(first, BROWSER, connection)
        await h.runtime.detach_events(h.stage_arn, first.participant_id, connection)
        await settle(LEAVE_TIMEOUT)
        await h.runtime.attach_events(second, BROWSER, Recorder())
        await settle(GRACE)
        (session,) = await h.sessions()
        assert session.end_time is None

    run(database_url, scenario)


def test_the_roster_holds_publishers_with_increasing_sequence_numbers(database_url):
    async def scenario(h: Harness) -> None:
        viewer, publisher = await h.claims(("SUBSCRIBE",)), await h.claims(user_id="bo", attributes={"seat": "2"})
        watching = Recorder()
        await h.runtime.attach_events(viewer, BROWSER, watching)
        await h.runtime.attach_events(publisher, BROWSER, Recorder())
        assert watching.roster == {}  # subscribe-only participants are not announced (docs 2.3)
        assert len(watching.states) == 1 and watching.states[0].sequence_number >= 1

        await h.runtime.publish_started(publisher, BROWSER)
        entry = watching.roster[publisher.participant_id]
        assert (entry.user_id, entry.attributes, entry.is_publishing) == ("bo", {"seat": "2"}, True)
        assert (entry.audio_muted, entry.video_stopped) == (False, False)
        assert h.runtime.is_publishing(h.stage_arn, publisher.participant_id)

        await h.runtime.publish_stopped(h.stage_arn, publisher.participant_id)
        assert watching.roster == {}
        assert not h.runtime.is_publishing(h.stage_arn, publisher.participant_id)
        numbers = [state.sequence_number for state in watching.states]
        assert numbers == sorted(set(numbers)) and len(numbers) == 3
        assert names(await h.events(publisher.participant_id)) == ["JOINED", "PUBLISH_STARTED", "PUBLISH_STOPPED"]
        row = await h.participant(publisher.participant_id)
        assert row is not None and row.published  # "ever published"

    run(database_url, scenario)


def test_set_state_reaches_others_once_the_participant_publishes(database_url):
    async def scenario(h: Harness) -> None:
        viewer, publisher = await h.claims(("SUBSCRIBE",)), await h.claims()
        watching, own = Recorder(), Recorder()
        await h.runtime.attach_events(viewer, BROWSER, watching)
        await h.runtime.attach_events(publisher, BROWSER, own)
        await h.runtime.set_media_state(h.stage_arn, publisher.participant_id, own, True, False)
        assert len(watching.states) == 1  # not publishing: nobody sees it
        await h.runtime.publish_started(publisher, BROWSER)
        assert watching.roster[publisher.participant_id].audio_muted
        await h.runtime.set_media_state(h.stage_arn, publisher.participant_id, own, True, True)
        entry = watching.roster[publisher.participant_id]
        assert (entry.audio_muted, entry.video_stopped) == (True, True)
        assert own.roster == watching.roster  # a publisher sees itself, as AWS's samples expect
        count = len(watching.states)
        await h.runtime.set_media_state(h.stage_arn, publisher.participant_id, Recorder(), False, False)
        assert len(watching.states) == count  # only the participant's own live connection may set its state

    run(database_url, scenario)


def test_twelve_publishers_fit_and_the_thirteenth_is_refused(database_url):
    async def scenario(h: Harness) -> None:
        publishers = [await h.claims() for _ in range(MAX_PUBLISHERS)]
        for claims in publishers:
            await h.runtime.publish_started(claims, BROWSER)
        late = await h.claims()
        with pytest.raises(StageAtCapacity):
            await h.runtime.publish_started(late, BROWSER)
        assert await h.events(late.participant_id) == [
            ("JOINED", {}),
            ("PUBLISH_ERROR", {"errorCode": "QUOTA_EXCEEDED"}),
        ]
        assert not h.runtime.is_publishing(h.stage_arn, late.participant_id)
        await h.runtime.publish_started(publishers[0], BROWSER)  # a republish of one of the twelve still fits

        await h.runtime.publish_stopped(h.stage_arn, publishers[1].participant_id)
        await h.runtime.publish_started(late, BROWSER)
        assert h.runtime.is_publishing(h.stage_arn, late.participant_id)

    run(database_url, scenario)


def test_a_whip_only_publisher_joins_and_leaves_with_its_peer_connection(database_url):
    async def scenario(h: Harness) -> None:
        obs = await h.claims(("PUBLISH",))
        await h.runtime.publish_started(
            obs, ClientInfo(user_agent="Mozilla/5.0 (OBS-Studio/30.1.2; Windows x86_64; en-US)")
        )
        row = await h.participant(obs.participant_id)
        assert row is not None and row.state == "CONNECTED" and row.details["browserName"] == "OBS Studio"
        await h.runtime.publish_stopped(h.stage_arn, obs.participant_id)
        await settle(LEAVE_TIMEOUT)
        assert names(await h.events(obs.participant_id)) == ["JOINED", "PUBLISH_STARTED", "PUBLISH_STOPPED", "LEFT"]

    run(database_url, scenario)


def test_overlapping_peer_connections_count_once(database_url):
    """A client may open its new peer connection before the old one closes (republish, resubscribe)."""

    async def scenario(h: Harness) -> None:
        publisher, viewer = await h.claims(), await h.claims(("SUBSCRIBE",))
        await h.runtime.publish_started(publisher, BROWSER)
        await h.runtime.publish_started(publisher, BROWSER)
        await h.runtime.subscribe_started(viewer, publisher.participant_id, BROWSER)
        await h.runtime.subscribe_started(viewer, publisher.participant_id, BROWSER)
        await h.runtime.publish_stopped(h.stage_arn, publisher.participant_id)
        await h.runtime.subscribe_stopped(h.stage_arn, viewer.participant_id, publisher.participant_id)
        assert h.runtime.is_publishing(h.stage_arn, publisher.participant_id)
        await settle(LEAVE_TIMEOUT)
        assert names(await h.events(publisher.participant_id)) == ["JOINED", "PUBLISH_STARTED"]
        assert await h.events(viewer.participant_id) == [
            ("JOINED", {}),
            ("SUBSCRIBE_STARTED", {"remoteParticipantId": publisher.participant_id}),
        ]
        await h.runtime.subscribe_stopped(h.stage_arn, viewer.participant_id, publisher.participant_id)
        await settle(LEAVE_TIMEOUT)
        assert await h.events(viewer.participant_id) == [
            ("JOINED", {}),
            ("SUBSCRIBE_STARTED", {"remoteParticipantId": publisher.participant_id}),
            ("SUBSCRIBE_STOPPED", {"remoteParticipantId": publisher.participant_id}),
            ("LEFT", {}),
        ]

    run(database_url, scenario)


def test_failures_are_recorded_with_their_error_codes(database_url):
    async def scenario(h: Harness) -> None:
        viewer = await h.claims(("SUBSCRIBE",))
        await h.runtime.attach_events(viewer, BROWSER, Recorder())
        await h.runtime.publish_failed(viewer, "INSUFFICIENT_CAPABILITIES")
        await h.runtime.subscribe_failed(viewer, "nobodyHere12", "PUBLISHER_NOT_FOUND")
        assert await h.events(viewer.participant_id) == [
            ("JOINED", {}),
            ("PUBLISH_ERROR", {"errorCode": "INSUFFICIENT_CAPABILITIES"}),
            ("SUBSCRIBE_ERROR", {"remoteParticipantId": "nobodyHere12", "errorCode": "PUBLISHER_NOT_FOUND"}),
        ]

    run(database_url, scenario)


def test_the_sdk_version_of_a_later_whip_request_fills_in(database_url):
    """Browsers cannot set headers on a WebSocket; the SDK's WHIP requests carry X-Stages-SDK."""

    async def scenario(h: Harness) -> None:
        claims = await h.claims()
        await h.runtime.attach_events(claims, ClientInfo(user_agent=BROWSER.user_agent), Recorder())
        await h.runtime.publish_started(claims, BROWSER)
        row = await h.participant(claims.participant_id)
        assert row is not None and row.details["sdkVersion"] == "1.41.0"

    run(database_url, scenario)


def test_a_reconnect_within_the_leave_timeout_is_no_leave(database_url):
    async def scenario(h: Harness) -> None:
        claims = await h.claims()
        first, second = Recorder(), Recorder()
        await h.runtime.attach_events(claims, BROWSER, first)
        await h.runtime.detach_events(h.stage_arn, claims.participant_id, first)
        await h.runtime.attach_events(claims, BROWSER, second)
        await settle(LEAVE_TIMEOUT)
        assert names(await h.events(claims.participant_id)) == ["JOINED"]
        assert second.states[0].sequence_number > first.states[-1].sequence_number

    run(database_url, scenario)


def test_a_newer_connection_with_the_same_token_wins(database_url):
    async def scenario(h: Harness) -> None:
        claims = await h.claims()
        older, newer = Recorder(), Recorder()
        await h.runtime.attach_events(claims, BROWSER, older)
        await h.runtime.attach_events(claims, BROWSER, newer)
        assert [code for code, _ in older.disconnects] == ["TOKEN_REUSED"]
        assert newer.disconnects == [] and len(newer.states) == 1
        await h.runtime.detach_events(h.stage_arn, claims.participant_id, older)  # the old socket's close
        await settle(LEAVE_TIMEOUT)
        assert names(await h.events(claims.participant_id)) == ["JOINED"]

    run(database_url, scenario)


def test_disconnect_participant_kicks_stops_its_media_and_refuses_it(database_url):
    async def scenario(h: Harness) -> None:
        token = h.token()
        target, other = await h.runtime.authorize(token), await h.claims()
        kicked, watching = Recorder(), Recorder()
        await h.runtime.attach_events(target, BROWSER, kicked)
        await h.runtime.attach_events(other, BROWSER, watching)
        await h.runtime.publish_started(other, BROWSER)
        await h.runtime.publish_started(target, BROWSER)
        await h.runtime.subscribe_started(target, other.participant_id, BROWSER)

        await h.runtime.disconnect_participant(h.stage_arn, target.participant_id, "rude", refuse=True)
        assert kicked.disconnects == [("PARTICIPANT_DISCONNECTED", "rude")]
        assert watching.states[-1].kicked == (target.participant_id,)
        assert list(watching.roster) == [other.participant_id]
        assert h.kicks == [(h.stage_arn, target.participant_id)]
        assert not h.runtime.is_publishing(h.stage_arn, target.participant_id)
        await h.runtime.publish_stopped(h.stage_arn, target.participant_id)  # the media plane closing up: no-op

        with pytest.raises(JoinRefused) as refused:
            await h.runtime.authorize(token)
        assert refused.value.code == "PARTICIPANT_DISCONNECTED"
        assert await h.events(target.participant_id) == [
            ("JOINED", {}),
            ("PUBLISH_STARTED", {}),
            ("SUBSCRIBE_STARTED", {"remoteParticipantId": other.participant_id}),
            ("PUBLISH_STOPPED", {}),
            ("SUBSCRIBE_STOPPED", {"remoteParticipantId": other.participant_id}),
            ("LEFT", {}),
            ("JOIN_ERROR", {"errorCode": "INSUFFICIENT_CAPABILITIES"}),
        ]
        row = await h.participant(target.participant_id)
        assert row is not None and row.state == "DISCONNECTED"

    run(database_url, scenario)


def test_a_kick_racing_a_join_wins(database_url):
    """The token was authorized before DisconnectParticipant landed: the join itself still refuses."""

    async def scenario(h: Harness) -> None:
        claims = await h.claims()
        await h.runtime.disconnect_participant(h.stage_arn, claims.participant_id, "", refuse=True)
        with pytest.raises(JoinRefused) as refused:
            await h.runtime.attach_events(claims, BROWSER, Recorder())
        assert refused.value.code == "PARTICIPANT_DISCONNECTED"
        assert await h.sessions() == []

    run(database_url, scenario)


def test_deleting_the_stage_disconnects_everyone(database_url):
    async def scenario(h: Harness) -> None:
        connections = [Recorder(), Recorder()]
        for connection in connections:
            await h.runtime.attach_events(await h.claims(), BROWSER, connection)
        async with h.runtime.deleting_stage(h.stage_arn):
            assert all(connection.disconnects == [] for connection in connections)
        assert [connection.disconnects[0][0] for connection in connections] == ["STAGE_DELETED"] * 2
        assert h.kicks == [(h.stage_arn, EVERYONE)]

    run(database_url, scenario)


def test_a_failed_stage_deletion_disconnects_nobody(database_url):
    async def scenario(h: Harness) -> None:
        connection = Recorder()
        await h.runtime.attach_events(await h.claims(), BROWSER, connection)
        with pytest.raises(LookupError):
            async with h.runtime.deleting_stage(h.stage_arn):
                raise LookupError("not found")
        assert connection.disconnects == [] and h.kicks == []

    run(database_url, scenario)


def test_a_restart_settles_what_a_crash_left_open(database_url):
    """A runtime that never stopped (a crash) leaves its session open; the next one's start closes it."""

    async def scenario(h: Harness) -> None:
        publisher, viewer = await h.claims(), await h.claims()
        await h.runtime.publish_started(publisher, BROWSER)
        await h.runtime.subscribe_started(viewer, publisher.participant_id, BROWSER)
        await h.runtime.start()  # what the next process does first
        (session,) = await h.sessions()
        assert session.end_time is not None
        assert names(await h.events(publisher.participant_id)) == [
            "JOINED",
            "PUBLISH_STARTED",
            "PUBLISH_STOPPED",
            "LEFT",
        ]
        assert await h.events(viewer.participant_id) == [
            ("JOINED", {}),
            ("SUBSCRIBE_STARTED", {"remoteParticipantId": publisher.participant_id}),
            ("SUBSCRIBE_STOPPED", {"remoteParticipantId": publisher.participant_id}),
            ("LEFT", {}),
        ]
        for claims in (publisher, viewer):
            row = await h.participant(claims.participant_id)
            assert row is not None and row.state == "DISCONNECTED"

    run(database_url, scenario)


def test_unknown_stages_and_participants_are_ignored(database_url):
    """The media plane may report a close after a kick or a session's end; nothing must break."""

    async def scenario(h: Harness) -> None:
        await h.runtime.publish_stopped(h.stage_arn, "nobody")
        await h.runtime.subscribe_stopped(h.stage_arn + "x", "nobody", "noone")
        await h.runtime.detach_events(h.stage_arn, "nobody", Recorder())
        await asyncio.sleep(0)
        assert not h.runtime.is_publishing(h.stage_arn, "nobody")
        assert await h.sessions() == []

    run(database_url, scenario)


def test_a_participant_back_within_the_grace_keeps_its_row(database_url):
    async def scenario(h: Harness) -> None:
        claims = await h.claims()
        connection = Recorder()
        await h.runtime.attach_events(claims, BROWSER, connection)
        first = await h.participant(claims.participant_id)
        await h.runtime.detach_events(h.stage_arn, claims.participant_id, connection)
        await settle(LEAVE_TIMEOUT)
        await h.runtime.attach_events(claims, ClientInfo(), Recorder())  # a client that says nothing this time
        again = await h.participant(claims.participant_id)
        assert first is not None and again is not None
        assert (again.state, again.first_join_time, again.details) == (
            "CONNECTED",
            first.first_join_time,
            first.details,
        )
        assert names(await h.events(claims.participant_id)) == ["JOINED", "LEFT", "JOINED"]
        assert len(await h.sessions()) == 1

    run(database_url, scenario)
