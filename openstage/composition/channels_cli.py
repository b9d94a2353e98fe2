"""``openstage channels add|list|remove``: edits the channel registry a server's compositions push to."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from openstage.composition import channels
from openstage.config import ENV_PREFIX


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or os.environ.get(ENV_PREFIX + "DATA_DIR") or ".openstage")
    try:
        if args.action == "add":
            channels.add(data_dir, args.arn, args.url)
            print(f"{args.arn} -> {args.url}")
        elif args.action == "remove":
            if not channels.remove(data_dir, args.arn):
                print(f"openstage: no channel {args.arn} in {data_dir / channels.FILE_NAME}", file=sys.stderr)
                return 1
        else:
            for arn, url in sorted(channels.read(data_dir).items()):
                print(f"{arn}\t{url}")
    except channels.ChannelError as error:
        print(f"openstage: {error}", file=sys.stderr)
        return 2
    return 0
