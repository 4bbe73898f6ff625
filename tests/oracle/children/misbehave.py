#!/usr/bin/env python3
"""A child that serves the example buddy allocator correctly, then misbehaves.

    misbehave.py MODE AFTER

answers the first AFTER requests (hello included) correctly, then, on request AFTER+1:
crash (traceback, exit 1), hang (sleeps), garbage (a non-JSON line), wrong_type
({"pfn": "0"}), out_of_range ({"pfn": 10**9}), die (exits silently), partial (half a line
then hangs), or ok (never misbehaves).
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "buddy"))

import buddy  # noqa: E402


def main() -> None:
    mode, after = sys.argv[1], int(sys.argv[2])
    allocator = buddy.BuddyAllocator(black_box=True)
    n = 0
    for line in sys.stdin:
        request = json.loads(line)
        n += 1
        if n > after and mode != "ok":
            print(f"misbehave: now doing {mode}", file=sys.stderr, flush=True)
            if mode == "crash":
                raise RuntimeError("planted crash in the implementation")
            if mode == "hang":
                time.sleep(3600)
            if mode == "die":
                os._exit(0)
            if mode == "partial":
                sys.stdout.write('{"pfn": ')
                sys.stdout.flush()
                time.sleep(3600)
            answer = {"garbage": "this is not json {{{", "wrong_type": {"pfn": "0"},
                      "out_of_range": {"pfn": 10**9}}[mode]
            if isinstance(answer, str):
                sys.stdout.write(answer + "\n")
            else:
                sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
            continue
        sys.stdout.write(json.dumps(buddy.handle(allocator, request)) + "\n")
        sys.stdout.flush()
        if request.get("op") == "bye":
            return


if __name__ == "__main__":
    main()
