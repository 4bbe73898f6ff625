"""Run the lockstep machine under Hypothesis: find, shrink, save and report a failure.

:func:`fuzz` is what ``rmqueue fuzz`` and the pytest plugin call.  The minimal trace is
written to disk as soon as a failure is seen (and rewritten as shrinking finds smaller
ones), before the report is built.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import ConfigError

from ._defaults import DEFAULT_DATABASE
from .adapters import Target, parse_target
from .findings import Finding, ImplementationError
from .machine import ImplementationAbort, Recorder, ShrinkBudgetSpent, make_machine
from .report import write_report
from .trace import Trace, Verdict


def example_database(directory: str | None, redis_url: str | None) -> ExampleDatabase | None:
    """A directory database by default; Hypothesis's RedisExampleDatabase for ``redis_url``
    (needs the ``redis`` extra), so that machines share the failures they find."""
    if redis_url:
        try:
            import redis  # type: ignore[import-not-found, import-untyped, unused-ignore]
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise ConfigError(
                "--redis needs the redis client: pip install 'rmqueue[redis]'"
            ) from None
        client = redis.Redis.from_url(redis_url)
        db: ExampleDatabase = RedisExampleDatabase(client, key_prefix=b"rmqueue-oracle:")
        return db
    if directory == "":
        return None
    return DirectoryBasedExampleDatabase(directory or DEFAULT_DATABASE)


@dataclass
class FuzzResult:
    verdict: Verdict
    trace: Trace | None
    trace_path: Path | None
    report_path: Path | None
    examples: int
    steps: int
    seconds: float
    level: str = ""
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def summary(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.to_json(),
            "exit_code": self.exit_code,
            "level": self.level,
            "examples": self.examples,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "trace": str(self.trace_path) if self.trace_path and self.trace else None,
            "trace_length": len(self.trace.ops) if self.trace else None,
            "report": str(self.report_path) if self.report_path else None,
            **self.extra,
        }


def fuzz(
    impl: str | Target | Callable[[], object],
    config: ZoneConfig | None = None,
    *,
    max_examples: int = 100,
    steps: int = 100,
    seed: int | None = None,
    timeout: float = 5.0,
    report_dir: str | os.PathLike[str] | None = None,
    database: ExampleDatabase | None = None,
    state_every: int = 1,
    shrink_budget: float = 60.0,
    on_example: Callable[[Recorder], None] | None = None,
) -> FuzzResult:
    """Fuzz ``impl`` against the model; on a failure, shrink it, save the trace, report."""
    target = impl if isinstance(impl, Target) else parse_target(impl)
    out = Path(report_dir) if report_dir is not None else None
    trace_path = out / "trace.json" if out is not None else None
    recorder = Recorder(trace_path=trace_path, on_example=on_example)
    machine = make_machine(target, config, timeout=timeout, state_every=state_every,
                           recorder=recorder, shrink_budget=shrink_budget)
    cfg = machine.options.config
    if seed is not None:
        machine._hypothesis_internal_use_seed = seed
    run_settings = settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        deadline=None,
        database=database,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    start = time.monotonic()
    error: Finding | ImplementationError | None = None
    try:
        run_state_machine_as_test(machine, settings=run_settings)  # type: ignore[no-untyped-call, unused-ignore]
    except ImplementationAbort as abort:
        error = abort.error
    except ShrinkBudgetSpent:
        error = recorder.best_error
        recorder.last = recorder.best
    except (AssertionError, HypothesisException) as exc:
        error = recorder.last_error
        if error is None:
            raise
        if not isinstance(exc, Finding):
            recorder.last_error = error  # e.g. Flaky: keep the failure we saw
    seconds = time.monotonic() - start
    trace = recorder.last if error is not None else None
    if trace is not None:
        trace.seed = seed
        if trace_path is not None:
            trace.write(trace_path)  # the final (minimal) failure, before the report
    verdict = trace.verdict if trace and trace.verdict else Verdict("pass")
    stderr_tail = error.stderr_tail if isinstance(error, ImplementationError) else ""
    report_path = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if trace is not None:
            report_path = write_report(out, trace, trace_path, target, timeout, stderr_tail)
    level = trace.level if trace else ""
    return FuzzResult(verdict, trace, trace_path if trace else None, report_path,
                      recorder.examples, recorder.steps, seconds, level, stderr_tail,
                      {"impl": target.spec, "config": cfg.to_json(),
                       "seconds_to_find": None if recorder.found_at is None
                       else round(recorder.found_at - recorder.started, 3)})
