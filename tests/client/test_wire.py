"""Shapes to botocore's dicts and back: wire names, enums (known or newer), timestamps, nesting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from dateutil.tz import tzutc

from openstage.client.api import (
    AutoParticipantRecordingConfiguration,
    CreateStageRequest,
    Event,
    EventName,
    ParticipantRecordingMediaType,
    ParticipantTokenCapability,
    ParticipantTokenConfiguration,
    Stage,
    StageEndpoints,
    Video,
)
from openstage.client.wire import from_wire, to_wire


def test_request_to_wire_uses_model_names_and_drops_unset_members() -> None:
    request = CreateStageRequest(
        name="demo",
        participant_token_configurations=[
            ParticipantTokenConfiguration(user_id="ana", capabilities=[ParticipantTokenCapability.PUBLISH])
        ],
        auto_participant_recording_configuration=AutoParticipantRecordingConfiguration(
            storage_configuration_arn="", media_types=[ParticipantRecordingMediaType.AUDIO_ONLY]
        ),
    )
    assert to_wire(request) == {
        "name": "demo",
        "participantTokenConfigurations": [{"userId": "ana", "capabilities": ["PUBLISH"]}],
        "autoParticipantRecordingConfiguration": {"storageConfigurationArn": "", "mediaTypes": ["AUDIO_ONLY"]},
    }
    assert type(to_wire(request)["participantTokenConfigurations"][0]["capabilities"][0]) is str


def test_from_wire_builds_nested_shapes_and_ignores_unknown_members() -> None:
    stage = from_wire(
        Stage,
        {
            "arn": "arn:aws:ivs:us-east-1:123456789012:stage/abcdefABCDEF",
            "tags": {"a": "b"},
            "endpoints": {"whip": "http://127.0.0.1/whip", "somethingNewer": "x"},
            "autoParticipantRecordingConfiguration": {"storageConfigurationArn": "", "mediaTypes": ["AUDIO_VIDEO"]},
            "featureFromTheFuture": {"x": 1},
        },
    )
    assert stage.endpoints == StageEndpoints(whip="http://127.0.0.1/whip")
    assert stage.auto_participant_recording_configuration == AutoParticipantRecordingConfiguration(
        storage_configuration_arn="", media_types=[ParticipantRecordingMediaType.AUDIO_VIDEO]
    )
    assert stage.name is None and stage.tags == {"a": "b"}


def test_timestamps_become_utc_datetimes() -> None:
    at = datetime(2024, 4, 26, 20, 30, 29, tzinfo=tzutc())  # as botocore parses them
    event = from_wire(Event, {"name": "JOINED", "eventTime": at})
    assert event.event_time == at and event.event_time is not None and event.event_time.tzinfo is UTC
    east = datetime(2024, 4, 27, 1, 30, 29, tzinfo=timezone(timedelta(hours=5)))
    assert from_wire(Event, {"eventTime": east}).event_time == datetime(2024, 4, 26, 20, 30, 29, tzinfo=UTC)


def test_floats_stay_floats() -> None:
    video = from_wire(Video, {"width": 1280, "height": 720, "framerate": 30, "bitrate": 2_500_000})
    assert video.framerate == 30.0 and isinstance(video.framerate, float) and isinstance(video.width, int)


def test_enum_value_newer_than_the_client_is_kept() -> None:
    event = from_wire(Event, {"name": "SOMETHING_NEWER"})
    assert isinstance(event.name, EventName) and event.name == "SOMETHING_NEWER"
    assert event.name.value == "SOMETHING_NEWER" and event.name not in list(EventName)
    assert EventName("JOINED") is EventName.JOINED
    assert to_wire(event) == {"name": "SOMETHING_NEWER"}
