"""``rmqueue fuzz``: fuzz a page allocator against the model, shrink and save any failure."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import ConfigError

from ._defaults import DEFAULT_CONFIG, DEFAULT_DATABASE

if TYPE_CHECKING:
    from .fuzz import FuzzResult
    from .machine import Recorder

HELP = """\
Drive an allocator (any program speaking the rmqueue wire protocol v1) and the Linux 4.3
model in lockstep from Hypothesis stateful tests, checking every transition at the
strongest level the implementation's hello answer allows:
  black box  (observes: [])             aligned, inside the zone, no overlap, frees accepted,
                                        and with complete: true no failure while a free run fits
  state      (observes: [state], semantics: buddy)  the invariants and transitions of specs/
  exact      (semantics: linux-4.3)      every result (and state) equal to the model's

On a failure the trace is shrunk, written to DIR/trace.json first, then DIR/report.md.
Exit codes: 0 passed, 1 violation or divergence found, 2 usage or config error,
3 implementation error (crash, hang past --timeout, protocol violation).

--impl takes a command line ('./my-alloc --flag'), `serve` (the model through
`rmqueue serve`), `model` (the model in-process) or python:MODULE:ATTR (an in-process
object implementing rmqueue.oracle.adapters.PageAllocator).
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fuzz", help="fuzz an allocator against the model, shrink any bug found",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--impl", required=True, metavar="CMD", help="the implementation to test")
    p.add_argument("--config", metavar="FILE", help="zone config JSON (default: a small zone)")
    p.add_argument("--max-examples", type=int, default=100, metavar="N")
    p.add_argument("--steps", type=int, default=100, metavar="N", help="operations per example")
    p.add_argument("--seed", type=int, default=None, metavar="S")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="per request (default 5)")
    p.add_argument("--report", metavar="DIR", default="rmqueue-reports",
                   help="where trace.json and report.md go (default ./rmqueue-reports)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="fuzz in N processes sharing the example database")
    p.add_argument("--state-every", type=int, default=1, metavar="N",
                   help="fetch and check the state every N operations (default 1)")
    p.add_argument("--shrink-seconds", type=float, default=60.0, metavar="S",
                   help="stop shrinking after S seconds and keep the smallest trace (default 60)")
    p.add_argument("--database", metavar="DIR", default=DEFAULT_DATABASE,
                   help=f"Hypothesis example database directory (default {DEFAULT_DATABASE}; "
                        "'' for none)")
    p.add_argument("--redis", metavar="URL", help="share the example database through Redis")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML result")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def load_config(path: str | None) -> ZoneConfig:
    if path is None:
        return ZoneConfig.from_json(DEFAULT_CONFIG)
    try:
        with open(path) as f:
            obj = json.load(f)
    except OSError as exc:
        raise ConfigError(f"--config {path!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config {path!r} is not JSON: {exc}") from None
    return ZoneConfig.from_json(obj, strict=True)


def _check_args(args: argparse.Namespace) -> None:
    for name in ("max_examples", "steps", "workers", "state_every"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1 "
                              f"(got {getattr(args, name)})")
    if not args.timeout > 0:
        raise ConfigError(f"--timeout must be a positive number of seconds (got {args.timeout})")
    if not args.shrink_seconds >= 0:
        raise ConfigError(f"--shrink-seconds must be >= 0 (got {args.shrink_seconds})")


class _Progress:
    def __init__(self, total: int, quiet: bool) -> None:
        self.bar: Any = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="ex", file=sys.stderr, leave=False)
        self.quiet = quiet
        self.last = time.monotonic()

    def __call__(self, rec: Recorder) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(steps=rec.steps, failing=len(rec.best.ops) if rec.best else "-")
        elif not self.quiet and time.monotonic() - self.last > 5:
            self.last = time.monotonic()
            found = f", failing trace {len(rec.best.ops)} ops" if rec.best else ""
            print(f"rmqueue fuzz: {rec.examples} examples, {rec.steps} steps{found}",
                  file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    from .adapters import parse_target
    from .fuzz import example_database, fuzz

    _check_args(args)
    config = load_config(args.config)
    target = parse_target(args.impl)
    report = Path(args.report)
    if args.workers > 1:
        from ._workers import fuzz_parallel

        result = fuzz_parallel(args, config)
    else:
        database = example_database(args.database, args.redis)
        progress = _Progress(args.max_examples, args.quiet)
        try:
            result = fuzz(target, config, max_examples=args.max_examples, steps=args.steps,
                          seed=args.seed, timeout=args.timeout, report_dir=report,
                          database=database, state_every=args.state_every,
                          shrink_budget=args.shrink_seconds, on_example=progress)
        finally:
            progress.close()
    if args.junit:
        from ._junit import write_junit

        write_junit(args.junit, result)
    print_result(result, args.json)
    code: int = result.exit_code
    return code


def print_result(result: FuzzResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.summary(), indent=1))
        return
    v = result.verdict
    head = f"rmqueue fuzz: {result.examples} examples, {result.steps} steps in " \
           f"{result.seconds:.1f} s: "
    if v.kind == "pass":
        print(head + "passed")
        return
    n = len(result.trace.ops) if result.trace else 0
    print(head + f"{v.kind} {v.name} at step {v.step} (trace of {n} operations)")
    print(f"  {v.message}")
    print(f"  trace:  {result.trace_path}")
    print(f"  report: {result.report_path}")
    print(f"  replay: rmqueue replay {result.trace_path} --impl '{result.extra['impl']}'")
