"""``rmqueue serve``: the reference model as a protocol v1 implementation on stdin/stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, BinaryIO

from .session import ModelSession

HELP = """\
Speak the rmqueue wire protocol (JSON Lines, version 1) on stdin/stdout, answering every
request with the Linux 4.3 reference model.  The hello answer claims
`"semantics": "linux-4.3"`, `"observes": ["state"]` and `"validates": true`: bad requests
(a free of a block that is not allocated or with another order, an order >= max_order, a
cpu out of range, an unknown gfp name) are answered with {"error": ...} and change nothing.

Example session (one JSON object per line):
  -> {"op": "hello", "protocol": 1, "config": {"zone": {"pages": 4096}, "cpus": 1}}
  <- {"ok": true, "name": "rmqueue-model", "observes": ["state"], ...}
  -> {"op": "alloc", "cpu": 0, "order": 0, "gfp": ["GFP_KERNEL"]}
  <- {"pfn": 0}
  -> {"op": "free", "cpu": 0, "pfn": 0, "order": 0, "cold": false}
  <- {"ok": true}
  -> {"op": "bye"}
  <- {"ok": true}

Every config field and its default, and the extensions (batch, state detail), are
documented in oracle/PROTOCOL.md.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="the model as a wire-protocol server on stdin/stdout",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--strict-config",
        action="store_true",
        help="refuse a hello whose config has unknown keys (default: warn on stderr)",
    )
    parser.set_defaults(func=run)


def serve(stdin: BinaryIO, stdout: BinaryIO, session: ModelSession) -> int:
    """Answer requests until ``bye`` or end of input.

    Reads whatever input is available, answers every complete line in it and flushes once,
    so a client that pipelines requests pays one write per read, not per request.
    """
    fd = stdin.fileno()
    pending = b""
    while not session.closed:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        out = []
        for line in lines:
            if session.closed:
                break
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                response: dict[str, Any] = {"error": f"not a JSON object: {exc}"}
            else:
                response = session.handle(request)
            out.append(json.dumps(response, separators=(",", ":")).encode() + b"\n")
        if out:
            stdout.write(b"".join(out))
            stdout.flush()
    return 0


def run(args: argparse.Namespace) -> int:
    session = ModelSession(strict_config=args.strict_config)
    try:
        return serve(sys.stdin.buffer, sys.stdout.buffer, session)
    except BrokenPipeError:
        return 0
