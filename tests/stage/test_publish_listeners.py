"""Publish listeners and participant_info: what the recorder and the compositor learn from the runtime."""

from __future__ import annotations

from openstage.stage import ClientInfo
from tests.stage.harness import BROWSER, LEAVE_TIMEOUT, Harness, Recorder, run, settle


def listening(h: Harness) -> list[tuple[str, str, bool]]:
    """Registers a listener that keeps every call; the list fills as the runtime reports."""
    calls: list[tuple[str, str, bool]] = []

    async def listener(stage_arn: str, participant_id: str, publishing: bool) -> None:
        calls.append((stage_arn, participant_id, publishing))

    h.runtime.add_publish_listener(listener)
    return calls


def test_listeners_hear_publish_start_and_stop_once_each(database_url):
    async def scenario(h: Harness) -> None:
        calls = listening(h)
        alice = await h.claims(user_id="alice", attributes={"role": "host"})
        await h.runtime.attach_events(alice, BROWSER, Recorder())
        await h.runtime.publish_started(alice, BROWSER)
        await h.runtime.publish_started(alice, BROWSER)  # an overlapping second peer connection: no new start
        assert calls == [(h.stage_arn, alice.participant_id, True)]
        await h.runtime.publish_stopped(h.stage_arn, alice.participant_id)
        assert len(calls) == 1
        await h.runtime.publish_stopped(h.stage_arn, alice.participant_id)
        assert calls == [(h.stage_arn, alice.participant_id, True), (h.stage_arn, alice.participant_id, False)]

    run(database_url, scenario)


def test_participant_info_has_the_session_user_and_attributes(database_url):
    async def scenario(h: Harness) -> None:
        alice = await h.claims(user_id="alice", attributes={"role": "host"})
        assert h.runtime.participant_info(h.stage_arn, alice.participant_id) is None
        await h.runtime.publish_started(alice, BROWSER)
        info = h.runtime.participant_info(h.stage_arn, alice.participant_id)
        assert info is not None
        assert info.session_id == (await h.sessions())[0].session_id
        assert info.entry.user_id == "alice" and info.entry.attributes == {"role": "host"}
        assert info.entry.is_publishing

    run(database_url, scenario)


def test_kicked_or_deleted_while_publishing_is_a_stop(database_url):
    async def scenario(h: Harness) -> None:
        calls = listening(h)
        kicked, deleted = await h.claims(), await h.claims()
        for claims in (kicked, deleted):
            await h.runtime.publish_started(claims, ClientInfo())
        await h.runtime.disconnect_participant(h.stage_arn, kicked.participant_id, "", refuse=False)
        assert calls[-1] == (h.stage_arn, kicked.participant_id, False)
        async with h.runtime.deleting_stage(h.stage_arn):
            pass
        assert calls[-1] == (h.stage_arn, deleted.participant_id, False)
        assert [publishing for _, _, publishing in calls] == [True, True, False, False]

    run(database_url, scenario)


def test_a_failing_listener_does_not_break_the_runtime_or_other_listeners(database_url):
    async def scenario(h: Harness) -> None:
        async def broken(stage_arn: str, participant_id: str, publishing: bool) -> None:
            raise RuntimeError("listener bug")

        h.runtime.add_publish_listener(broken)
        calls = listening(h)
        alice = await h.claims()
        await h.runtime.publish_started(alice, BROWSER)
        await h.runtime.publish_stopped(h.stage_arn, alice.participant_id)
        await settle(LEAVE_TIMEOUT)
        assert [publishing for _, _, publishing in calls] == [True, False]
        assert [name for name, _ in await h.events(alice.participant_id)][-1] == "LEFT"

    run(database_url, scenario)
