"""The ``openstage`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

import uvloop

from openstage.config import ConfigError, load_settings, parse_quota_overrides


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the server (control API; embedded SQLite and local storage by default)")
    p.add_argument("--config", help="TOML file with settings (env OPENSTAGE_CONFIG)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; env OPENSTAGE_HOST)")
    p.add_argument("--port", type=int, help="port to listen on, 0 for any free port (default 8080)")
    p.add_argument("--data-dir", help="where the database, keys and buckets live (default ./.openstage)")
    p.add_argument("--public-url", help="base URL clients use to reach this server (default: where it listens)")
    p.add_argument("--region", help="AWS region the server answers for (default us-east-1)")
    p.add_argument("--account-id", help="12-digit account id in ARNs (default 123456789012)")
    p.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db (default SQLite)")
    p.add_argument("--log-level", help="debug, info, warning or error (default info)")
    p.add_argument("--access-key", help="access key id clients sign with (with --secret-key)")
    p.add_argument("--secret-key", help="secret access key clients sign with")
    p.add_argument("--credentials-file", help="AWS-style credentials INI file with key pairs clients may use")
    p.add_argument("--rtmp-port", type=int, help="port named in stage endpoints.rtmp (default 1935)")
    p.add_argument("--rtmps-port", type=int, help="port named in stage endpoints.rtmps (default 1936)")
    p.add_argument("--rtmps-certificate", help="PEM certificate for RTMPS (default: self-signed, in the data dir)")
    p.add_argument("--rtmps-private-key", help="PEM private key of --rtmps-certificate")
    p.add_argument("--ice-addresses", help="comma-separated IPs ICE advertises (tests: 127.0.0.1)")
    p.add_argument("--udp-port-min", type=int, help="lowest UDP port for media (default: any)")
    p.add_argument("--udp-port-max", type=int, help="highest UDP port for media (default: any)")
    p.add_argument("--session-grace-seconds", type=int, help="empty time before a stage session ends (default 60)")
    p.add_argument("--webhook", action="append", dest="webhooks", metavar="URL", help="POST events here (repeatable)")
    p.add_argument("--webhook-secret", help="HMAC-SHA256 key that signs webhook deliveries (docs/events.md)")
    p.add_argument("--webhook-retry-base-seconds", type=float, help="first retry delay, doubling (default 1)")
    p.add_argument("--webhook-retry-budget-seconds", type=float, help="retry time before a dead letter (default 6 h)")
    p.add_argument("--eventbridge-bus", help="also PutEvents every event to this AWS EventBridge bus (name or ARN)")
    p.add_argument("--eventbridge-endpoint-url", help="EventBridge endpoint (default: AWS's for the region)")
    p.add_argument("--eventbridge-region", help="EventBridge region (default: --region)")
    p.add_argument("--eventbridge-source", help='source of the put events (default "aws.ivs"; AWS refuses "aws." ones)')
    p.add_argument("--s3-endpoint", help="S3-compatible endpoint URL for recordings (default: local folder buckets)")
    p.add_argument("--s3-region", help="region of --s3-endpoint (default: --region)")
    p.add_argument("--s3-access-key-id", help="access key for --s3-endpoint")
    p.add_argument("--s3-secret-access-key", help="secret key for --s3-endpoint")
    p.add_argument("--redis-url", help="join a cluster through this Redis, e.g. redis://127.0.0.1:6379 (default: none)")
    p.add_argument("--node-id", help="this node's name in the cluster (default: random per start)")
    p.add_argument("--cluster-name", help="prefix of the cluster's Redis keys (default openstage)")
    p.add_argument("--heartbeat-seconds", type=float, help="how often the node tells the cluster it lives (default 2)")
    p.add_argument("--node-ttl-seconds", type=float, help="silence after which a node is dead (default 10)")
    p.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an account quota, e.g. --quota stages=50 (repeatable)",
    )


def _participant_parser(sub: Any) -> None:
    p = sub.add_parser("participant", help="join a stage with a participant token: publish media or watch others")
    actions = p.add_subparsers(dest="action", required=True)
    publish = actions.add_parser("publish", help="publish a media file or a test pattern with a tone")
    watch = actions.add_parser("watch", help="subscribe to every publisher and print what arrives")
    for action in (publish, watch):
        action.add_argument("--token", required=True, help="participant token (CreateParticipantToken)")
        action.add_argument("--seconds", type=float, help="leave after this many seconds (default: run until Ctrl-C)")
        action.add_argument("--ice-addresses", help="comma-separated local IPs for WebRTC (default: all but loopback)")
    publish.add_argument("--file", help="media file to publish, played once (default: colour bars and a 440 Hz tone)")
    publish.add_argument("--video-codec", choices=["H264", "VP8"], help="offer only this video codec")


def _events_parser(sub: Any) -> None:
    p = sub.add_parser("events", help="watch the EventBridge-shaped events a server emits")
    actions = p.add_subparsers(dest="action", required=True)
    tail = actions.add_parser("tail", help="print live events, one JSON per line (signed with AWS credentials if any)")
    listing = actions.add_parser("list", help="recent events, and each sink's delivery state and lag")
    listing.add_argument("--limit", type=int, default=20, help="how many recent events (1-1000, default 20)")
    listing.add_argument("--json", action="store_true", help="print the server's JSON instead of tables")
    for action in (tail, listing):
        action.add_argument("--endpoint-url", required=True, help="the server's URL, e.g. http://127.0.0.1:8080")
        action.add_argument("--region", help="region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
        action.add_argument("--stage", help="only events of this stage ARN")
        action.add_argument("--detail-type", help='only events of this detail-type, e.g. "IVS Stage Update"')


def _channels_parser(sub: Any) -> None:
    p = sub.add_parser("channels", help="map IVS channel ARNs to RTMP(S) URLs for compositions' channel destinations")
    p.add_argument("--data-dir", help="the server's data folder (default ./.openstage; env OPENSTAGE_DATA_DIR)")
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register (or replace) a channel")
    add.add_argument("arn", help="channel ARN, e.g. arn:aws:ivs:us-east-1:123456789012:channel/abcdEFGH1234")
    add.add_argument("url", help="where to push it: rtmp://HOST[:PORT]/APP/STREAM_KEY or rtmps://…")
    actions.add_parser("list", help="print the registered channels")
    remove = actions.add_parser("remove", help="forget a channel")
    remove.add_argument("arn")


def _cluster_parser(sub: Any) -> None:
    p = sub.add_parser("cluster", help="the nodes serving as one service (docs/cluster.md)")
    actions = p.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="nodes, their load and their stages, as any node sees them")
    status.add_argument("--endpoint-url", required=True, help="any node's URL, e.g. http://127.0.0.1:8080")
    status.add_argument("--region", help="region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
    status.add_argument("--json", action="store_true", help="print the server's JSON instead of a table")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openstage", description="Amazon IVS Real-Time, self-hosted.")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _participant_parser(sub)
    _events_parser(sub)
    _cluster_parser(sub)
    _channels_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "participant":
        from openstage.client.participant_cli import run  # the media stack loads only for this command

        return run(args)
    if args.command == "channels":
        from openstage.composition.channels_cli import run as run_channels

        return run_channels(args)
    if args.command == "cluster":
        from openstage.cluster.status_cli import status

        return status(args.endpoint_url, args.region, args.json)
    if args.command == "events":
        if args.action == "list":
            from openstage.events.listing import list_events

            return list_events(args.endpoint_url, args.region, args.limit, args.stage, args.detail_type, args.json)
        from openstage.events.tail import tail

        return tail(args.endpoint_url, args.region, args.stage, args.detail_type)
    return 2


def _serve(args: argparse.Namespace) -> int:
    overrides = {
        name: getattr(args, name)
        for name in (
            "host",
            "port",
            "data_dir",
            "public_url",
            "region",
            "account_id",
            "database_url",
            "log_level",
            "access_key",
            "secret_key",
            "credentials_file",
            "rtmp_port",
            "rtmps_port",
            "rtmps_certificate",
            "rtmps_private_key",
            "ice_addresses",
            "udp_port_min",
            "udp_port_max",
            "session_grace_seconds",
            "webhooks",
            "webhook_secret",
            "webhook_retry_base_seconds",
            "webhook_retry_budget_seconds",
            "eventbridge_bus",
            "eventbridge_endpoint_url",
            "eventbridge_region",
            "eventbridge_source",
            "s3_endpoint",
            "s3_region",
            "s3_access_key_id",
            "s3_secret_access_key",
            "redis_url",
            "node_id",
            "cluster_name",
            "heartbeat_seconds",
            "node_ttl_seconds",
        )
    }
    try:
        if args.quota:
            overrides["quotas"] = parse_quota_overrides(args.quota)
        settings = load_settings(overrides, args.config)
    except ConfigError as error:
        print(f"openstage: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    from openstage.cluster import ClusterUnavailable
    from openstage.server import serve

    try:
        # uvloop, as DESIGN.md chose: uvicorn picks it only when it owns the loop, and here we do.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(settings))
    except OSError as error:
        print(f"openstage: cannot listen on {settings.host}:{settings.port}: {error}", file=sys.stderr)
        return 1
    except ClusterUnavailable as error:
        print(f"openstage: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
