"""Everything answered 200 survives ``kill -9`` of the server, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal

from tests.server import REGION


def test_acknowledged_writes_survive_kill_9(make_server, backend):
    server = make_server(backend)
    ivs = server.client()
    stages = [ivs.create_stage(name=f"durable-{i}", tags={"n": str(i)})["stage"] for i in range(20)]
    ivs.update_stage(arn=stages[0]["arn"], name="renamed")
    ivs.delete_stage(arn=stages[1]["arn"])
    token = ivs.create_participant_token(stageArn=stages[2]["arn"])["participantToken"]
    key_file = server.data_dir / "keys" / "token-signing-key.pem"
    key_before = key_file.read_bytes()

    server.stop(signal.SIGKILL)
    server.start(port=server.port)
    ivs = server.client()

    assert ivs.get_stage(arn=stages[0]["arn"])["stage"]["name"] == "renamed"
    for stage in stages[2:]:
        assert ivs.get_stage(arn=stage["arn"])["stage"] == stage
    listed = {s["arn"] for s in ivs.list_stages(maxResults=100)["stages"]}
    assert listed == {s["arn"] for s in stages} - {stages[1]["arn"]}
    assert key_file.read_bytes() == key_before, "the token-signing key must persist across restarts"
    assert token["participantId"]
    assert REGION in stages[0]["arn"]
