"""The composition supervisor across server restarts, the maximum duration (docs 5.2), and its settings."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from tests.composition.helpers import channel, composition_events, wait_for
from tests.server import Server


def start(server: Server) -> tuple[Any, str, str]:
    ivs = server.client()
    stage_arn = ivs.create_stage()["stage"]["arn"]
    composition_arn = ivs.start_composition(
        stageArn=stage_arn, destinations=[{"channel": {"channelArn": channel(server)}}]
    )["composition"]["arn"]
    return ivs, stage_arn, composition_arn


def test_a_graceful_shutdown_stops_running_compositions(make_server: Callable[..., Server]):
    server = make_server("sqlite")
    _, _, composition_arn = start(server)
    assert server.stop(signal.SIGTERM) == 0
    ivs = server.start().client()
    assert ivs.get_composition(arn=composition_arn)["composition"]["state"] == "STOPPED"
    names = [e["detail"]["event_name"] for e in composition_events(server, composition_arn)]
    assert names == ["Destination End", "Session End"]


def test_a_crash_leaves_running_compositions_failed_at_the_next_start(make_server: Callable[..., Server]):
    server = make_server("sqlite")
    _, _, composition_arn = start(server)
    server.stop(signal.SIGKILL)
    ivs = server.start().client()
    composition = ivs.get_composition(arn=composition_arn)["composition"]
    assert composition["state"] == "FAILED" and composition["destinations"][0]["state"] == "FAILED"
    events = composition_events(server, composition_arn)
    assert [e["detail"]["event_name"] for e in events] == ["Destination Failure", "Session Failure"]
    assert "stopped while the composition ran" in events[-1]["detail"]["reason"]


def test_the_maximum_duration_stops_a_composition_with_publishers(make_server: Callable[..., Server]):
    server = make_server(
        "sqlite", args=["--ice-addresses", "127.0.0.1"], env={"OPENSTAGE_COMPOSITION_MAX_SECONDS": "4"}
    )
    ivs = server.client()
    stage_arn = ivs.create_stage()["stage"]["arn"]
    storage_arn = ivs.create_storage_configuration(s3={"bucketName": "longest"})["storageConfiguration"]["arn"]
    encoder_arn = ivs.create_encoder_configuration(video={"width": 320, "height": 180, "framerate": 10})[
        "encoderConfiguration"
    ]["arn"]
    token = ivs.create_participant_token(stageArn=stage_arn, capabilities=["PUBLISH"])["participantToken"]["token"]

    async def scenario() -> None:
        async with Participant(token, ice_addresses=["127.0.0.1"]) as participant:
            await participant.publish(video=PatternVideoTrack(), audio=ToneAudioTrack())
            composition_arn = ivs.start_composition(
                stageArn=stage_arn,
                destinations=[
                    {"s3": {"storageConfigurationArn": storage_arn, "encoderConfigurationArns": [encoder_arn]}}
                ],
            )["composition"]["arn"]

            def state() -> str:
                return str(ivs.get_composition(arn=composition_arn)["composition"]["state"])

            await asyncio.to_thread(wait_for, lambda: state() == "ACTIVE", "ACTIVE")
            await asyncio.to_thread(wait_for, lambda: state() == "STOPPED", "the maximum duration's stop")
            events = await asyncio.to_thread(composition_events, server, composition_arn)
            names = [e["detail"]["event_name"] for e in events]
            assert names == ["Session Start", "Destination Start", "Destination End", "Session End"]

    asyncio.run(asyncio.wait_for(scenario(), 90))


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("COMPOSITION_IDLE_SECONDS", "0", "composition_idle_seconds must be > 0"),
        ("COMPOSITION_MAX_SECONDS", "-1", "composition_max_seconds must be > 0"),
        ("COMPOSITION_RECONNECT_SECONDS", "0", "composition_reconnect_seconds must be > 0"),
        ("COMPOSITION_RETENTION_SECONDS", "-5", "composition_retention_seconds must be >= 0"),
        ("COMPOSITION_IDLE_SECONDS", "soon", "must be a number"),
    ],
)
def test_unusable_composition_settings_are_refused(tmp_path, name, value, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTAGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "openstage.cli", "serve", "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, f"OPENSTAGE_{name}": value},
    )
    assert result.returncode == 2 and message in result.stderr
