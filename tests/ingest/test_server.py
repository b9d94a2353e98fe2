"""RTMP and RTMPS ingest end to end: ffmpeg publishes into a real server, an aiortc subscriber watches and listens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.client.test_participant import frequency
from tests.ingest.encoder import TONE_HZ, pushing
from tests.ingest.helpers import configuration, events, state, wait_for, watch
from tests.server import Server


@pytest.mark.parametrize("protocol", ["RTMP", "RTMPS"])
def test_an_encoder_is_a_participant_every_subscriber_sees_and_hears(
    ivs: Any, stage: dict[str, Any], protocol: str
) -> None:
    config = configuration(
        ivs, stage, protocol, insecureIngest=protocol == "RTMP", userId="encoder-1", attributes={"camera": "a"}
    )
    assert config["state"] == "INACTIVE"
    url = stage["endpoints"][protocol.lower()] + config["streamKey"]
    viewer = ivs.create_participant_token(stageArn=stage["arn"], capabilities=["SUBSCRIBE"])["participantToken"]
    with pushing(url) as encoder:
        wait_for(lambda: state(ivs, config) == "ACTIVE", "the configuration to turn ACTIVE")
        video, audio = watch(viewer["token"], config["participantId"])
        session_id = ivs.get_stage(arn=stage["arn"])["stage"]["activeSessionId"]
        participant = ivs.get_participant(
            stageArn=stage["arn"], sessionId=session_id, participantId=config["participantId"]
        )["participant"]
        encoder.terminate()
        wait_for(lambda: state(ivs, config) == "INACTIVE", "the configuration to turn INACTIVE")

    assert {(f.width, f.height) for f in video} == {(320, 240)}
    heard = frequency(audio[50:])  # after the first second, once both codecs have settled
    assert abs(heard - TONE_HZ) < TONE_HZ * 0.05, f"heard {heard:.0f} Hz"
    assert participant["protocol"] == protocol
    assert participant["ingestConfigurationArn"] == config["arn"]
    assert (participant["userId"], participant["attributes"], participant["published"]) == (
        "encoder-1",
        {"camera": "a"},
        True,
    )
    wait_for(lambda: len(events(ivs, stage, config["participantId"])) >= 4, "the encoder to leave")
    names = [e["name"] for e in events(ivs, stage, config["participantId"])]
    assert names == ["JOINED", "PUBLISH_STARTED", "PUBLISH_STOPPED", "LEFT"]


def test_an_ingest_port_in_use_is_explained(media_server: Server, tmp_path: Path) -> None:
    taken = str(media_server.rtmp_ports[0])
    command = [sys.executable, "-m", "openstage.cli", "serve", "--port", "0", "--rtmp-port", taken]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTAGE_")}
    result = subprocess.run(
        [*command, "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 1
    assert f"the RTMP ingest port {taken} (--rtmp-port)" in result.stderr
