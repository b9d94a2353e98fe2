"""Every operation of the model through the typed client, against a running openstage.

Sessions, participants, events and compositions come from features not built yet, so those rows
are seeded into the server's database (tests/seed.py), as the control-plane tests do.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage.client import IvsRealTimeClient, IvsRealTimeError, ResourceNotFoundException
from openstage.client.api import (
    ERRORS,
    AutoParticipantRecordingConfiguration,
    ChannelDestinationConfiguration,
    CompositionState,
    CreateStageRequest,
    DestinationConfiguration,
    DestinationState,
    EncoderConfiguration,
    EventErrorCode,
    EventName,
    GetStageRequest,
    IngestConfigurationState,
    IngestProtocol,
    ListParticipantsRequest,
    ParticipantProtocol,
    ParticipantRecordingMediaType,
    ParticipantRecordingState,
    ParticipantState,
    ParticipantTokenCapability,
    ParticipantTokenConfiguration,
    RecordingConfigurationFormat,
    S3StorageConfiguration,
    Stage,
    StageEndpoints,
    ThumbnailRecordingMode,
    ThumbnailStorageType,
    Video,
)
from openstage.client.wire import Shape
from tests.seed import EPOCH, arn, composition, event, participant, seed, stage_session
from tests.server import Server


def bucket() -> str:
    return f"typed-{uuid.uuid4().hex[:12]}.example"


def new_pem() -> str:
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


# --- stages and tokens -------------------------------------------------------------------------


def test_stage_lifecycle_with_typed_shapes(client: IvsRealTimeClient, server: Server) -> None:
    async def main() -> None:
        storage = await client.create_storage_configuration(s3=S3StorageConfiguration(bucket_name=bucket()))
        recording = AutoParticipantRecordingConfiguration(
            storage_configuration_arn=storage.storage_configuration.arn,
            media_types=[ParticipantRecordingMediaType.AUDIO_ONLY],
        )
        token = ParticipantTokenConfiguration(
            user_id="ana", duration=30, capabilities=[ParticipantTokenCapability.PUBLISH], attributes={"seat": "1"}
        )
        created = await client.create_stage(
            name="typed",
            tags={"team": "video"},
            participant_token_configurations=[token],
            auto_participant_recording_configuration=recording,
        )
        stage = created.stage
        assert isinstance(stage, Stage) and stage.name == "typed" and stage.tags == {"team": "video"}
        assert stage.active_session_id is None
        host = server.url.split("://", 1)[1]
        assert stage.endpoints == StageEndpoints(
            events=f"ws://{host}/events",
            whip=f"{server.url}/whip",
            rtmp=f"rtmp://{host.split(':')[0]}:{server.rtmp_ports[0]}/app/",
            rtmps=f"rtmps://{host.split(':')[0]}:{server.rtmp_ports[1]}/app/",
        )
        stored = stage.auto_participant_recording_configuration
        assert stored is not None and stored.storage_configuration_arn == storage.storage_configuration.arn
        assert stored.media_types == [ParticipantRecordingMediaType.AUDIO_ONLY]
        assert isinstance(stored.media_types[0], ParticipantRecordingMediaType)
        assert stored.thumbnail_configuration is not None
        assert stored.thumbnail_configuration.recording_mode is ThumbnailRecordingMode.DISABLED
        assert stored.thumbnail_configuration.storage == [ThumbnailStorageType.SEQUENTIAL]
        (issued,) = created.participant_tokens or []
        assert issued.user_id == "ana" and issued.attributes == {"seat": "1"}
        assert issued.capabilities == [ParticipantTokenCapability.PUBLISH]
        assert issued.expiration_time is not None and issued.expiration_time.tzinfo is UTC
        expected = datetime.now(UTC) + timedelta(minutes=30)
        assert abs(issued.expiration_time - expected) < timedelta(minutes=1)

        assert (await client.get_stage(arn=stage.arn)).stage == stage  # shapes compare by value
        assert (await client.get_stage(GetStageRequest(arn=stage.arn))).stage == stage
        updated = await client.update_stage(arn=stage.arn, name="renamed")
        assert updated.stage.name == "renamed" and updated.stage.endpoints == stage.endpoints
        assert len((await client.list_stages(max_results=1)).stages) == 1
        summaries = {summary.arn: summary async for summary in client.paginate_list_stages(max_results=50)}
        assert summaries[stage.arn].name == "renamed" and summaries[stage.arn].tags == {"team": "video"}
        await client.delete_stage(arn=stage.arn)
        with pytest.raises(ResourceNotFoundException):
            await client.get_stage(arn=stage.arn)
        await client.delete_storage_configuration(arn=storage.storage_configuration.arn)

    asyncio.run(main())


def test_create_participant_token(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        stage = (await client.create_stage(CreateStageRequest(name="tokens"))).stage
        response = await client.create_participant_token(
            stage_arn=stage.arn,
            user_id="bo",
            duration=5,
            capabilities=[ParticipantTokenCapability.SUBSCRIBE],
            attributes={"role": "viewer"},
        )
        token = response.participant_token
        assert token.user_id == "bo" and token.duration == 5 and token.attributes == {"role": "viewer"}
        assert token.capabilities == [ParticipantTokenCapability.SUBSCRIBE]
        assert token.participant_id is not None and len(token.participant_id) == 12
        assert token.token is not None and token.token.count(".") == 2  # a JWT
        assert token.expiration_time is not None and token.expiration_time > datetime.now(UTC)

    asyncio.run(main())


def test_request_object_or_keywords_not_both(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="not both"):
            await client.get_stage(GetStageRequest(arn="x"), arn="y")  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="expected a GetStageRequest"):
            await client.get_stage(CreateStageRequest())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await client.get_stage(name="no such member")  # type: ignore[call-overload]

    asyncio.run(main())


# --- configurations and keys -------------------------------------------------------------------


def test_encoder_configuration_lifecycle(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        video = Video(width=640, height=360, framerate=15, bitrate=800_000)
        created = await client.create_encoder_configuration(name="small", video=video, tags={"k": "v"})
        config = created.encoder_configuration
        assert isinstance(config, EncoderConfiguration) and config.name == "small" and config.tags == {"k": "v"}
        assert config.video == Video(width=640, height=360, framerate=15.0, bitrate=800_000)
        assert config.video is not None and isinstance(config.video.framerate, float)
        assert (await client.get_encoder_configuration(arn=config.arn)).encoder_configuration == config
        page = await client.list_encoder_configurations(max_results=100)
        assert config.arn in [summary.arn for summary in page.encoder_configurations]
        walked = [summary async for summary in client.paginate_list_encoder_configurations(max_results=1)]
        assert config.arn in [summary.arn for summary in walked]
        await client.delete_encoder_configuration(arn=config.arn)
        with pytest.raises(ResourceNotFoundException):
            await client.get_encoder_configuration(arn=config.arn)

    asyncio.run(main())


def test_storage_configuration_lifecycle(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        name = bucket()
        created = await client.create_storage_configuration(name="rec", s3=S3StorageConfiguration(bucket_name=name))
        config = created.storage_configuration
        assert config.name == "rec" and config.s3 == S3StorageConfiguration(bucket_name=name) and config.tags == {}
        assert (await client.get_storage_configuration(arn=config.arn)).storage_configuration == config
        page = await client.list_storage_configurations(max_results=100)
        assert config.arn in [summary.arn for summary in page.storage_configurations]
        walked = [summary.arn async for summary in client.paginate_list_storage_configurations(max_results=1)]
        assert config.arn in walked
        await client.delete_storage_configuration(arn=config.arn)
        with pytest.raises(ResourceNotFoundException):
            await client.get_storage_configuration(arn=config.arn)

    asyncio.run(main())


def test_ingest_configuration_lifecycle(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        first = (await client.create_stage(name="ingest-a")).stage.arn
        second = (await client.create_stage(name="ingest-b")).stage.arn
        created = await client.create_ingest_configuration(
            name="obs", stage_arn=first, user_id="caster", ingest_protocol=IngestProtocol.RTMPS, attributes={"a": "b"}
        )
        config = created.ingest_configuration
        assert config.ingest_protocol is IngestProtocol.RTMPS and config.state is IngestConfigurationState.INACTIVE
        assert config.stage_arn == first and config.user_id == "caster" and config.attributes == {"a": "b"}
        assert config.stream_key and config.participant_id and len(config.participant_id) == 12
        assert created.x_frame_options == "DENY"  # the model puts security headers on this response
        moved = (await client.update_ingest_configuration(arn=config.arn, stage_arn=second)).ingest_configuration
        assert moved.stage_arn == second and moved.stream_key == config.stream_key
        assert (await client.get_ingest_configuration(arn=config.arn)).ingest_configuration == moved
        page = await client.list_ingest_configurations(filter_by_stage_arn=second)
        assert [summary.arn for summary in page.ingest_configurations] == [config.arn]
        walked = [c async for c in client.paginate_list_ingest_configurations(filter_by_stage_arn=second)]
        assert [summary.state for summary in walked] == [IngestConfigurationState.INACTIVE]
        await client.delete_ingest_configuration(arn=config.arn)
        with pytest.raises(ResourceNotFoundException):
            await client.get_ingest_configuration(arn=config.arn)

    asyncio.run(main())


def test_public_key_lifecycle(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        pem = new_pem()
        key = (await client.import_public_key(public_key_material=pem, name="signer")).public_key
        assert key.name == "signer" and key.public_key_material == pem
        assert key.fingerprint is not None and key.fingerprint.count(":") == 15  # MD5, colon-separated
        assert (await client.get_public_key(arn=key.arn)).public_key == key
        page = await client.list_public_keys(max_results=100)
        assert key.arn in [summary.arn for summary in page.public_keys]
        assert key.arn in [summary.arn async for summary in client.paginate_list_public_keys(max_results=1)]
        await client.delete_public_key(arn=key.arn)
        with pytest.raises(ResourceNotFoundException):
            await client.get_public_key(arn=key.arn)

    asyncio.run(main())


def test_tags(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        stage = (await client.create_stage(name="tagged", tags={"a": "1"})).stage.arn
        await client.tag_resource(resource_arn=stage, tags={"b": "2", "c": "3"})
        assert (await client.list_tags_for_resource(resource_arn=stage)).tags == {"a": "1", "b": "2", "c": "3"}
        await client.untag_resource(resource_arn=stage, tag_keys=["a", "c"])
        assert (await client.list_tags_for_resource(resource_arn=stage)).tags == {"b": "2"}

    asyncio.run(main())


# --- sessions, participants, events, compositions (seeded) -------------------------------------


def test_sessions_participants_and_events(client: IvsRealTimeClient, server: Server) -> None:
    async def create() -> str:
        return (await client.create_stage(name="sessions")).stage.arn

    stage_arn = asyncio.run(create())
    session = stage_session(stage_arn, minutes=6)
    ana = participant(session, user_id="ana", published=True, recording_state="ACTIVE")
    joined = event(ana, "JOINED", EPOCH + timedelta(seconds=5))
    failed = event(ana, "PUBLISH_ERROR", EPOCH + timedelta(seconds=9), errorCode="BITRATE_EXCEEDED")
    seed(server, session, ana, joined, failed)

    async def main() -> None:
        got = (await client.get_stage_session(stage_arn=stage_arn, session_id=session.session_id)).stage_session
        assert got.session_id == session.session_id
        assert got.start_time == EPOCH and got.end_time == EPOCH + timedelta(minutes=6)
        assert got.start_time is not None and got.start_time.tzinfo is UTC
        sessions = (await client.list_stage_sessions(stage_arn=stage_arn)).stage_sessions
        assert [s.session_id for s in sessions] == [session.session_id]
        walked = [s async for s in client.paginate_list_stage_sessions(stage_arn=stage_arn, max_results=1)]
        assert walked == sessions

        who = (
            await client.get_participant(
                stage_arn=stage_arn, session_id=session.session_id, participant_id=ana.participant_id
            )
        ).participant
        assert who.user_id == "ana" and who.published is True
        assert who.state is ParticipantState.CONNECTED and who.protocol is ParticipantProtocol.WHIP
        assert who.recording_state is ParticipantRecordingState.ACTIVE
        assert who.first_join_time == EPOCH + timedelta(seconds=5) and who.attributes == {"displayName": "Ana"}
        listed = (await client.list_participants(stage_arn=stage_arn, session_id=session.session_id)).participants
        assert [(p.participant_id, p.state) for p in listed] == [(ana.participant_id, ParticipantState.CONNECTED)]

        events = (
            await client.list_participant_events(
                stage_arn=stage_arn, session_id=session.session_id, participant_id=ana.participant_id
            )
        ).events
        assert [(e.name, e.event_time) for e in events] == [
            (EventName.JOINED, joined.event_time),
            (EventName.PUBLISH_ERROR, failed.event_time),
        ]
        assert events[1].error_code is EventErrorCode.BITRATE_EXCEEDED and events[0].error_code is None
        walked_events = client.paginate_list_participant_events(
            stage_arn=stage_arn, session_id=session.session_id, participant_id=ana.participant_id, max_results=1
        )
        assert [e async for e in walked_events] == events

    asyncio.run(main())


def test_compositions(client: IvsRealTimeClient, server: Server) -> None:
    async def create() -> str:
        return (await client.create_stage(name="composed")).stage.arn

    stage_arn = asyncio.run(create())
    encoder = arn("encoder-configuration")
    # Ended a minute ago: a composition that ended over five minutes ago is gone from Get and List (docs 5.2).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)
    stopped = composition(stage_arn, encoder, state="STOPPED", start=start)
    seed(server, stopped)

    async def main() -> None:
        got = (await client.get_composition(arn=stopped.arn)).composition
        assert got.state is CompositionState.STOPPED and got.stage_arn == stage_arn
        assert got.start_time == start and got.end_time == start + timedelta(minutes=5)
        assert got.layout.grid is not None and got.layout.grid.grid_gap == 2
        channel, recording = got.destinations
        assert channel.state is DestinationState.STOPPED
        assert channel.configuration.channel == ChannelDestinationConfiguration(
            channel_arn=stopped.destinations[0]["configuration"]["channel"]["channelArn"],
            encoder_configuration_arn=encoder,
        )
        s3 = recording.configuration.s3
        assert s3 is not None and s3.encoder_configuration_arns == [encoder]
        assert s3.recording_configuration is not None
        assert s3.recording_configuration.format is RecordingConfigurationFormat.HLS
        assert s3.thumbnail_configurations is not None
        assert s3.thumbnail_configurations[0].storage == [ThumbnailStorageType.SEQUENTIAL]
        assert recording.detail is not None and recording.detail.s3 is not None
        assert recording.detail.s3.recording_prefix.endswith("/composite")
        assert recording.start_time == start + timedelta(seconds=2)

        page = await client.list_compositions(filter_by_stage_arn=stage_arn)
        (summary,) = page.compositions
        assert summary.arn == stopped.arn and summary.state is CompositionState.STOPPED
        assert [d.state for d in summary.destinations] == [DestinationState.STOPPED] * 2
        walked = [c async for c in client.paginate_list_compositions(filter_by_stage_arn=stage_arn)]
        assert walked == [summary]

    asyncio.run(main())


# --- pagination --------------------------------------------------------------------------------


def test_paginator_walks_every_page(client: IvsRealTimeClient, server: Server) -> None:
    async def create() -> str:
        return (await client.create_stage(name="crowd")).stage.arn

    stage_arn = asyncio.run(create())
    session = stage_session(stage_arn, minutes=None)
    crowd = [participant(session, user_id=f"user-{i}") for i in range(3)]
    seed(server, session, *crowd)

    async def main() -> None:
        first = await client.list_participants(stage_arn=stage_arn, session_id=session.session_id, max_results=1)
        assert len(first.participants) == 1 and first.next_token  # one per page: three items take three pages
        items = client.paginate_list_participants(stage_arn=stage_arn, session_id=session.session_id, max_results=1)
        assert [p.user_id async for p in items] == ["user-0", "user-1", "user-2"]
        resumed = client.paginate_list_participants(
            ListParticipantsRequest(
                stage_arn=stage_arn, session_id=session.session_id, max_results=1, next_token=first.next_token
            )
        )
        assert [p.user_id async for p in resumed] == ["user-1", "user-2"]

        arns = [(await client.create_stage(name=f"page-{i}")).stage.arn for i in range(3)]
        walked = [s.arn async for s in client.paginate_list_stages(max_results=1)]
        assert walked[-3:] == arns  # creation order, across pages

    asyncio.run(main())


# --- operations that arrived with later features ------------------------------------------------


def later_feature_calls(stage_arn: str) -> dict[str, dict[str, Any]]:
    """Valid arguments for the operations that answered 501 when the client was written.

    The stage exists, so the answer is about the operation, not a 404 for the stage.
    """
    participant_id = "abcdef123456"
    replication = {"source_stage_arn": stage_arn, "destination_stage_arn": arn("stage")}
    replication["participant_id"] = participant_id
    channel = DestinationConfiguration(channel=ChannelDestinationConfiguration(channel_arn=arn("channel")))
    return {
        "disconnect_participant": {"stage_arn": stage_arn, "participant_id": participant_id},
        "revoke_connection_token": {"token_id": participant_id},
        "start_composition": {"stage_arn": stage_arn, "destinations": [channel]},
        "stop_composition": {"arn": arn("composition")},
        "start_participant_replication": replication,
        "stop_participant_replication": replication,
        "list_participant_replicas": {"source_stage_arn": stage_arn, "participant_id": participant_id},
    }


@pytest.fixture(scope="module")
def later_stage(client: IvsRealTimeClient) -> str:
    async def create() -> str:
        return (await client.create_stage(name="later")).stage.arn

    return asyncio.run(create())


@pytest.mark.parametrize(
    "method",
    [
        "disconnect_participant",
        "revoke_connection_token",
        "start_composition",
        "stop_composition",
        "start_participant_replication",
        "stop_participant_replication",
        "list_participant_replicas",
    ],
)
def test_operations_of_later_features_answer_typed(client: IvsRealTimeClient, later_stage: str, method: str) -> None:
    """Each answers with its typed response or one of the model's typed errors, never a generic one."""

    async def main() -> None:
        try:
            response = await getattr(client, method)(**later_feature_calls(later_stage)[method])
        except IvsRealTimeError as error:
            assert error.request_id
            assert type(error) in ERRORS.values(), error
        else:
            assert isinstance(response, Shape)

    asyncio.run(main())


def test_paginator_raises_the_operations_typed_error(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        missing = arn("stage")
        with pytest.raises(ResourceNotFoundException) as excinfo:
            [session async for session in client.paginate_list_stage_sessions(stage_arn=missing)]
        assert missing in excinfo.value.message

    asyncio.run(main())
