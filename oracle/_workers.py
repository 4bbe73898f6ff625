"""``--workers N``: N processes fuzz at once (different seeds, one shared example
database); the shortest failing trace among them is the result."""

from __future__ import annotations

import argparse
import math
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rmqueue.model.config import ZoneConfig

from .adapters import parse_target
from .fuzz import FuzzResult, example_database, fuzz
from .report import write_report
from .trace import Trace, Verdict


def _worker(i: int, job: dict[str, Any]) -> dict[str, Any]:
    out = Path(job["report"]) / f"worker-{i}"
    seed = None if job["seed"] is None else job["seed"] + i
    result = fuzz(job["impl"], ZoneConfig.from_json(job["config"]),
                  max_examples=job["max_examples"], steps=job["steps"], seed=seed,
                  timeout=job["timeout"], report_dir=out,
                  database=example_database(job["database"], job["redis"]),
                  state_every=job["state_every"], shrink_budget=job["shrink_seconds"])
    return {"summary": result.summary(), "trace": str(result.trace_path or ""),
            "stderr": result.stderr_tail}


def fuzz_parallel(args: argparse.Namespace, config: ZoneConfig) -> FuzzResult:
    n = args.workers
    job = {"impl": args.impl, "config": config.to_json(), "steps": args.steps,
           "max_examples": math.ceil(args.max_examples / n), "seed": args.seed,
           "timeout": args.timeout, "report": args.report, "database": args.database,
           "redis": args.redis, "state_every": args.state_every,
           "shrink_seconds": args.shrink_seconds}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n, mp_context=ctx) as pool:
        results = list(pool.map(_worker, range(n), [job] * n))
    examples = sum(r["summary"]["examples"] for r in results)
    steps = sum(r["summary"]["steps"] for r in results)
    seconds = max(r["summary"]["seconds"] for r in results)
    failing = [r for r in results if r["trace"]]
    extra = {"impl": args.impl, "config": config.to_json(), "workers": n}
    if not failing:
        return FuzzResult(Verdict("pass"), None, None, None, examples, steps, seconds,
                          extra=extra)
    best = min(failing, key=lambda r: r["summary"]["trace_length"])
    out = Path(args.report)
    trace_path = out / "trace.json"
    shutil.copyfile(best["trace"], trace_path)
    trace = Trace.read(trace_path)
    report = write_report(out, trace, trace_path, parse_target(args.impl), args.timeout,
                          best["stderr"])
    verdict = trace.verdict or Verdict("pass")
    return FuzzResult(verdict, trace, trace_path, report, examples, steps, seconds,
                      trace.level, best["stderr"], extra)
