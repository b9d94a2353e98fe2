"""GetStageSession, ListStageSessions, GetParticipant, ListParticipants, ListParticipantEvents through boto3.

Sessions, participants and events come from the media plane, which is not built yet, so
the tests seed those rows straight into the server's database (tests/seed.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.seed import EPOCH, event, participant, seed, stage_session
from tests.shapes import assert_matches_output

MAX_PAGES = 200


@pytest.fixture
def stage_arn(ivs) -> str:
    return ivs.create_stage(name="sessions")["stage"]["arn"]


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response


def _all_pages(call: Any, key: str, operation: str, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item across pages, and how many pages it took; a token that never runs out fails, not hangs."""
    items: list[dict[str, Any]] = []
    for pages in range(1, MAX_PAGES + 1):
        page = call(**kwargs)
        assert_matches_output(operation, page)
        items += page[key]
        if "nextToken" not in page:
            return items, pages
        kwargs["nextToken"] = page["nextToken"]
    raise AssertionError(f"{operation} still had a nextToken after {MAX_PAGES} pages")


# --- sessions ---------------------------------------------------------------------------------


def test_fresh_stage_has_no_sessions(ivs, stage_arn):
    response = ivs.list_stage_sessions(stageArn=stage_arn)
    assert_matches_output("ListStageSessions", response)
    assert response["stageSessions"] == []
    assert "nextToken" not in response


def test_list_stage_sessions_of_unknown_stage_is_404(ivs, stage_arn):
    response = _error(ivs.list_stage_sessions, stageArn=stage_arn + "x")
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_get_stage_session_round_trip(ivs, server, stage_arn):
    ended = stage_session(stage_arn, minutes=6)
    seed(server, ended)
    response = ivs.get_stage_session(stageArn=stage_arn, sessionId=ended.session_id)
    assert_matches_output("GetStageSession", response)
    assert response["stageSession"] == {
        "sessionId": ended.session_id,
        "startTime": EPOCH,
        "endTime": EPOCH + timedelta(minutes=6),
    }


def test_get_stage_session_not_found(ivs, server, stage_arn):
    other_stage = ivs.create_stage(name="other")["stage"]["arn"]
    theirs = stage_session(other_stage)
    seed(server, theirs)
    for kwargs in (
        {"stageArn": stage_arn, "sessionId": "st-" + "A" * 13},  # no such session
        {"stageArn": stage_arn, "sessionId": theirs.session_id},  # another stage's session
        {"stageArn": stage_arn + "x", "sessionId": theirs.session_id},  # no such stage
    ):
        response = _error(ivs.get_stage_session, **kwargs)
        assert response["Error"]["Code"] == "ResourceNotFoundException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert kwargs["sessionId"] in response["Error"]["Message"] or kwargs["stageArn"] in response["Error"]["Message"]


def test_sessions_newest_first_across_pages_and_active_one_on_stage(ivs, server, stage_arn):
    sessions = [
        stage_session(stage_arn, EPOCH, minutes=10),
        stage_session(stage_arn, EPOCH + timedelta(hours=1), minutes=3),
        stage_session(stage_arn, EPOCH + timedelta(hours=2), minutes=None),
    ]
    seed(server, *sessions)
    listed, pages = _all_pages(
        ivs.list_stage_sessions, "stageSessions", "ListStageSessions", stageArn=stage_arn, maxResults=1
    )
    assert pages == 3
    assert [s["sessionId"] for s in listed] == [s.session_id for s in reversed(sessions)]
    assert listed[0] == {"sessionId": sessions[2].session_id, "startTime": EPOCH + timedelta(hours=2)}
    assert listed[2]["endTime"] == EPOCH + timedelta(minutes=10)

    stage = ivs.get_stage(arn=stage_arn)["stage"]
    assert stage["activeSessionId"] == sessions[2].session_id
    summaries, _ = _all_pages(ivs.list_stages, "stages", "ListStages", maxResults=100)
    assert next(s for s in summaries if s["arn"] == stage_arn)["activeSessionId"] == sessions[2].session_id


def test_stage_with_only_ended_sessions_has_no_active_session(ivs, server, stage_arn):
    seed(server, stage_session(stage_arn, minutes=1))
    response = ivs.get_stage(arn=stage_arn)
    assert_matches_output("GetStage", response)
    assert "activeSessionId" not in response["stage"]


def test_stage_sessions_next_token_is_bound_to_the_stage(ivs, server, stage_arn):
    seed(server, stage_session(stage_arn), stage_session(stage_arn, EPOCH + timedelta(hours=1)))
    token = ivs.list_stage_sessions(stageArn=stage_arn, maxResults=1)["nextToken"]
    other_stage = ivs.create_stage()["stage"]["arn"]
    response = _error(ivs.list_stage_sessions, stageArn=other_stage, nextToken=token)
    assert response["Error"]["Code"] == "ValidationException"
    assert "nextToken" in response["Error"]["Message"]


# --- participants -----------------------------------------------------------------------------


def test_get_participant_returns_every_recorded_field(ivs, server, stage_arn):
    session = stage_session(stage_arn)
    who = participant(
        session,
        user_id="ana@example.com",
        state="DISCONNECTED",
        published=True,
        recording_state="ACTIVE",
    )
    who.details = {
        **who.details,
        "recordingS3BucketName": "recordings-bucket",
        "recordingS3Prefix": f"{stage_arn[-12:]}/{session.session_id}/{who.participant_id}/1714163434",
    }
    seed(server, session, who)
    response = ivs.get_participant(stageArn=stage_arn, sessionId=session.session_id, participantId=who.participant_id)
    assert_matches_output("GetParticipant", response)
    assert response["participant"] == {
        "participantId": who.participant_id,
        "userId": "ana@example.com",
        "state": "DISCONNECTED",
        "firstJoinTime": EPOCH + timedelta(seconds=5),
        "attributes": {"displayName": "Ana"},
        "published": True,
        "ispName": "Comcast",
        "osName": "Microsoft Windows 10 Pro",
        "osVersion": "10.0.19044",
        "browserName": "Google Chrome",
        "browserVersion": "116",
        "sdkVersion": "1.41.0",
        "recordingS3BucketName": "recordings-bucket",
        "recordingS3Prefix": who.details["recordingS3Prefix"],
        "recordingState": "ACTIVE",
        "protocol": "WHIP",
        "replicationType": "NONE",
    }


def test_get_participant_defaults_for_unrecorded_fields(ivs, server, stage_arn):
    session = stage_session(stage_arn, minutes=None)
    bare = participant(session, details={})
    source = participant(session, details={"replicationType": "SOURCE", "replicationState": "ACTIVE"})
    seed(server, session, bare, source)
    response = ivs.get_participant(stageArn=stage_arn, sessionId=session.session_id, participantId=bare.participant_id)
    assert_matches_output("GetParticipant", response)
    assert response["participant"] == {
        "participantId": bare.participant_id,
        "userId": "",
        "state": "CONNECTED",
        "firstJoinTime": EPOCH + timedelta(seconds=5),
        "attributes": {},
        "published": False,
        "ispName": "",
        "osName": "",
        "osVersion": "",
        "browserName": "",
        "browserVersion": "",
        "sdkVersion": "",
        "recordingS3BucketName": "",
        "recordingS3Prefix": "",
        "recordingState": "DISABLED",
        "protocol": "UNKNOWN",
        "replicationType": "NONE",
    }
    replicated = ivs.get_participant(
        stageArn=stage_arn, sessionId=session.session_id, participantId=source.participant_id
    )["participant"]
    assert {k: replicated[k] for k in ("replicationType", "replicationState", "sourceStageArn", "sourceSessionId")} == {
        "replicationType": "SOURCE",
        "replicationState": "ACTIVE",
        "sourceStageArn": "",
        "sourceSessionId": "",
    }


def test_get_participant_not_found(ivs, server, stage_arn):
    first, second = stage_session(stage_arn), stage_session(stage_arn, EPOCH + timedelta(hours=1))
    who = participant(first)
    seed(server, first, second, who)
    for session_id, participant_id in (
        (first.session_id, "NoSuchPerson"),
        (second.session_id, who.participant_id),  # joined the other session
    ):
        response = _error(ivs.get_participant, stageArn=stage_arn, sessionId=session_id, participantId=participant_id)
        assert response["Error"]["Code"] == "ResourceNotFoundException"
        assert participant_id in response["Error"]["Message"]
    response = _error(
        ivs.get_participant, stageArn=stage_arn, sessionId="st-" + "B" * 13, participantId=who.participant_id
    )
    assert response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_participants_of_empty_and_unknown_sessions(ivs, server, stage_arn):
    session = stage_session(stage_arn, minutes=None)
    seed(server, session)
    response = ivs.list_participants(stageArn=stage_arn, sessionId=session.session_id)
    assert_matches_output("ListParticipants", response)
    assert response["participants"] == []
    assert "nextToken" not in response
    response = _error(ivs.list_participants, stageArn=stage_arn, sessionId="st-" + "C" * 13)
    assert response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_participants_summaries_carry_only_summary_fields(ivs, server, stage_arn):
    session = stage_session(stage_arn)
    who = participant(session, user_id="host", published=True, recording_state="STOPPED", state="DISCONNECTED")
    seed(server, session, who)
    response = ivs.list_participants(stageArn=stage_arn, sessionId=session.session_id)
    assert_matches_output("ListParticipants", response)
    assert response["participants"] == [
        {
            "participantId": who.participant_id,
            "userId": "host",
            "state": "DISCONNECTED",
            "firstJoinTime": EPOCH + timedelta(seconds=5),
            "published": True,
            "recordingState": "STOPPED",
            "replicationType": "NONE",
        }
    ]


@pytest.mark.parametrize(
    "filters",
    [
        {"filterByUserId": "a", "filterByPublished": True},
        {"filterByPublished": False, "filterByState": "CONNECTED"},
        {"filterByState": "DISCONNECTED", "filterByRecordingState": "ACTIVE"},
        {"filterByUserId": "a", "filterByState": "CONNECTED", "filterByRecordingState": "FAILED"},
    ],
)
def test_list_participants_accepts_only_one_filter(ivs, server, stage_arn, filters):
    session = stage_session(stage_arn)
    seed(server, session)
    response = _error(ivs.list_participants, stageArn=stage_arn, sessionId=session.session_id, **filters)
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    for name in filters:
        assert name in response["Error"]["Message"]


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("filterByUserId", "guest", ["guest-connected", "guest-left"]),
        ("filterByPublished", True, ["host-recording", "host-failed"]),
        ("filterByPublished", False, ["guest-connected", "guest-left"]),
        ("filterByState", "DISCONNECTED", ["guest-left", "host-failed"]),
        ("filterByState", "CONNECTED", ["host-recording", "guest-connected"]),
        ("filterByRecordingState", "ACTIVE", ["host-recording"]),
        ("filterByRecordingState", "STOPPED", []),
    ],
)
def test_list_participants_single_filter(ivs, server, stage_arn, name, value, expected):
    session = stage_session(stage_arn)
    people = {
        "host-recording": participant(session, user_id="host", published=True, recording_state="ACTIVE"),
        "guest-connected": participant(session, user_id="guest"),
        "guest-left": participant(session, user_id="guest", state="DISCONNECTED"),
        "host-failed": participant(
            session, user_id="host", published=True, state="DISCONNECTED", recording_state="FAILED"
        ),
    }
    seed(server, session, *people.values())
    response = ivs.list_participants(stageArn=stage_arn, sessionId=session.session_id, **{name: value})
    assert_matches_output("ListParticipants", response)
    assert [p["participantId"] for p in response["participants"]] == [
        people[label].participant_id for label in expected
    ]


def test_list_participants_pages_in_join_order(ivs, server, stage_arn):
    session = stage_session(stage_arn)
    people = [participant(session, user_id=f"user-{i}", published=i % 2 == 0) for i in range(5)]
    seed(server, session, *people)
    listed, pages = _all_pages(
        ivs.list_participants,
        "participants",
        "ListParticipants",
        stageArn=stage_arn,
        sessionId=session.session_id,
        maxResults=1,
    )
    assert pages == 5
    assert [p["participantId"] for p in listed] == [p.participant_id for p in people]
    published, _ = _all_pages(
        ivs.list_participants,
        "participants",
        "ListParticipants",
        stageArn=stage_arn,
        sessionId=session.session_id,
        filterByPublished=True,
        maxResults=2,
    )
    assert [p["userId"] for p in published] == ["user-0", "user-2", "user-4"]


def test_list_participants_default_page_is_50(ivs, server, stage_arn):
    session = stage_session(stage_arn)
    seed(server, session, *[participant(session) for _ in range(51)])
    first = ivs.list_participants(stageArn=stage_arn, sessionId=session.session_id)
    assert_matches_output("ListParticipants", first)
    assert len(first["participants"]) == 50
    rest = ivs.list_participants(stageArn=stage_arn, sessionId=session.session_id, nextToken=first["nextToken"])
    assert len(rest["participants"]) == 1
    assert "nextToken" not in rest


def test_list_participants_next_token_is_bound_to_the_filter(ivs, server, stage_arn):
    session = stage_session(stage_arn)
    seed(server, session, participant(session, user_id="u"), participant(session, user_id="u"))
    token = ivs.list_participants(stageArn=stage_arn, sessionId=session.session_id, filterByUserId="u", maxResults=1)[
        "nextToken"
    ]
    response = _error(
        ivs.list_participants, stageArn=stage_arn, sessionId=session.session_id, filterByUserId="v", nextToken=token
    )
    assert response["Error"]["Code"] == "ValidationException"


# --- participant events -----------------------------------------------------------------------


def test_participant_events_oldest_first_with_optional_members_only_where_set(ivs, server, stage_arn):
    session = stage_session(stage_arn)
    publisher, viewer = participant(session, published=True), participant(session)
    t = EPOCH + timedelta(seconds=5)
    events = [
        event(viewer, "JOINED", t),
        event(
            viewer,
            "SUBSCRIBE_ERROR",
            t + timedelta(seconds=1),
            remoteParticipantId="GoneAway1234",
            errorCode="PUBLISHER_NOT_FOUND",
        ),
        event(publisher, "JOINED", t + timedelta(seconds=1)),  # someone else's: never listed here
        event(viewer, "SUBSCRIBE_STARTED", t + timedelta(seconds=2), remoteParticipantId=publisher.participant_id),
        event(viewer, "SUBSCRIBE_STOPPED", t + timedelta(minutes=5), remoteParticipantId=publisher.participant_id),
        event(viewer, "LEFT", t + timedelta(minutes=5)),
    ]
    seed(server, session, publisher, viewer, *events)
    listed, pages = _all_pages(
        ivs.list_participant_events,
        "events",
        "ListParticipantEvents",
        stageArn=stage_arn,
        sessionId=session.session_id,
        participantId=viewer.participant_id,
        maxResults=1,
    )
    assert pages == 5
    me = viewer.participant_id
    assert listed == [
        {"name": "JOINED", "participantId": me, "eventTime": t},
        {
            "name": "SUBSCRIBE_ERROR",
            "participantId": me,
            "eventTime": t + timedelta(seconds=1),
            "remoteParticipantId": "GoneAway1234",
            "errorCode": "PUBLISHER_NOT_FOUND",
        },
        {
            "name": "SUBSCRIBE_STARTED",
            "participantId": me,
            "eventTime": t + timedelta(seconds=2),
            "remoteParticipantId": publisher.participant_id,
        },
        {
            "name": "SUBSCRIBE_STOPPED",
            "participantId": me,
            "eventTime": t + timedelta(minutes=5),
            "remoteParticipantId": publisher.participant_id,
        },
        {"name": "LEFT", "participantId": me, "eventTime": t + timedelta(minutes=5)},
    ]
    # Same timestamps, same order every time: the order they were recorded.
    again = ivs.list_participant_events(stageArn=stage_arn, sessionId=session.session_id, participantId=me)["events"]
    assert again == listed


def test_replication_and_token_exchange_events_carry_their_members(ivs, server, stage_arn):
    session = stage_session(stage_arn)
    who = participant(session, published=True)
    destination_stage = ivs.create_stage(name="replica-target")["stage"]["arn"]
    token = {"capabilities": ["PUBLISH", "SUBSCRIBE"], "attributes": {"role": "host"}, "userId": "host"}
    events = [
        event(
            who,
            "REPLICATION_STARTED",
            EPOCH + timedelta(seconds=10),
            destinationStageArn=destination_stage,
            destinationSessionId="st-" + "D" * 13,
            replica=False,
        ),
        event(
            who,
            "TOKEN_EXCHANGED",
            EPOCH + timedelta(seconds=20),
            previousToken={**token, "capabilities": ["SUBSCRIBE"], "expirationTime": "2024-04-27T08:30:29+00:00"},
            newToken={**token, "expirationTime": "2024-04-27T20:30:29+00:00"},
        ),
    ]
    seed(server, session, who, *events)
    response = ivs.list_participant_events(
        stageArn=stage_arn, sessionId=session.session_id, participantId=who.participant_id
    )
    assert_matches_output("ListParticipantEvents", response)
    replication, exchange = response["events"]
    assert replication["destinationStageArn"] == destination_stage
    assert replication["destinationSessionId"] == "st-" + "D" * 13
    assert replication["replica"] is False
    assert "remoteParticipantId" not in replication and "errorCode" not in replication
    assert exchange["previousToken"]["capabilities"] == ["SUBSCRIBE"]
    assert exchange["newToken"]["attributes"] == {"role": "host"}
    assert exchange["newToken"]["expirationTime"] == EPOCH + timedelta(days=1)


def test_participant_events_empty_and_not_found(ivs, server, stage_arn):
    session = stage_session(stage_arn)
    seed(server, session)
    response = ivs.list_participant_events(stageArn=stage_arn, sessionId=session.session_id, participantId="Nobody")
    assert_matches_output("ListParticipantEvents", response)
    assert response["events"] == []
    response = _error(
        ivs.list_participant_events, stageArn=stage_arn, sessionId="st-" + "E" * 13, participantId="Nobody"
    )
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    response = _error(
        ivs.list_participant_events, stageArn=stage_arn + "x", sessionId=session.session_id, participantId="Nobody"
    )
    assert response["Error"]["Code"] == "ResourceNotFoundException"
