"""The ``rmqueue`` command: one entry point, one module per subcommand.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a ``run(args) -> int``.  Errors that are the user's (``RmqueueError`` but not
``InternalError``) print one line and exit 2; only our own bugs print a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rmqueue.model.errors import InternalError, RmqueueError

SUBCOMMANDS = ("simulate", "serve", "fuzz", "replay", "prove")
_MODULES = {
    "simulate": "rmqueue.oracle.simulate",
    "serve": "rmqueue.oracle.serve",
    "fuzz": "rmqueue.oracle.fuzz_cli",
    "replay": "rmqueue.oracle.replay_cli",
    "prove": "rmqueue.proofs.cli",
}

DESCRIPTION = """\
rmqueue: a Z3-checked reference model of the Linux 4.3 page allocator (buffered_rmqueue)
and an oracle that tells whether another page allocator is right.

  rmqueue simulate            run a workload on the model, print /proc/buddyinfo-style tables
  rmqueue serve               the model as a wire-protocol (JSON Lines) server on stdin/stdout
  rmqueue fuzz --impl CMD     fuzz an allocator against the model, shrink any bug found
  rmqueue replay TRACE --impl CMD   replay a saved counterexample
  rmqueue prove               machine-check that every transition keeps the buddy invariants
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rmqueue",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(_MODULES[name])
        except ModuleNotFoundError as exc:
            if exc.name != _MODULES[name]:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except KeyboardInterrupt:
        print("rmqueue: interrupted", file=sys.stderr)
        return 130
    except InternalError:
        raise
    except RmqueueError as exc:
        print(f"rmqueue {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
