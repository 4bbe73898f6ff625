"""Running the rows: one job per distinct (phase, invariant), in parallel processes.

Several transitions share phases (``expand_step``, ``merge_step``...), so the runner proves
each (phase, invariant, geometry) once and a row's result is the first non-proof among its
phases (its time the sum of theirs).  A job's time budget covers all of its queries; Z3
``unknown`` or a budget overrun is a failure, never a pass.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import _z3
from .obligations import Obligation, _queries, describe, hypotheses, summary
from .state import Geometry
from .transitions import PHASES, TRANSITION_PHASES


@dataclass(frozen=True, slots=True)
class Job:
    """``invariant`` is an invariant name, ``step_conditions``, or ``""`` for the
    non-vacuity check of the phase's hypotheses."""

    phase: str
    invariant: str
    max_order: int
    pageblock_order: int
    bug: str | None = None


@dataclass(slots=True)
class JobResult:
    job: Job
    status: str  # proved | counterexample | unknown | timeout | satisfiable | vacuous
    seconds: float
    queries: int = 0
    detail: str = ""
    witness: dict[str, Any] = field(default_factory=dict)


def run_job(job: Job, budget_s: float) -> JobResult:
    """Prove (or, for ``invariant == ""``, witness) one phase."""
    t0 = time.monotonic()
    geo = Geometry(job.max_order, job.pageblock_order)
    phase = PHASES[job.phase](geo, job.bug)
    p = _z3.word("p")
    facts = hypotheses(phase, p, job.invariant)
    if not job.invariant:
        out = _z3.check(facts, int(budget_s * 1000))
        status = {"sat": "satisfiable", "unsat": "vacuous"}.get(out.status, "unknown")
        wit = summary(out.model, phase, p) if out.status == "sat" else {}
        return JobResult(job, status, time.monotonic() - t0, 1, out.reason, wit)
    n = 0
    for g, case in _queries(phase, job.invariant, p):
        left = budget_s - (time.monotonic() - t0)
        if left <= 0:
            return JobResult(job, "timeout", time.monotonic() - t0, n, "budget spent")
        out = _z3.check([*facts, *case, _z3.negate(g)], max(1, int(left * 1000)))
        n += 1
        if out.status == "sat":
            return JobResult(job, "counterexample", time.monotonic() - t0, n,
                             describe(out.model, phase, job.invariant, p, g),
                             summary(out.model, phase, p))
        if out.status != "unsat":
            status = "timeout" if time.monotonic() - t0 >= budget_s * 0.99 or \
                "timeout" in out.reason or "canceled" in out.reason else "unknown"
            return JobResult(job, status, time.monotonic() - t0, n, out.reason)
    return JobResult(job, "proved", time.monotonic() - t0, n)


def _worker(args: tuple[Job, float]) -> JobResult:
    return run_job(*args)


def jobs_for(rows: Iterable[Obligation], bug: str | None = None,
             witnesses: bool = True) -> list[Job]:
    """The distinct jobs the rows need (witness jobs first: they are the cheapest)."""
    seen: dict[Job, None] = {}
    wit: dict[Job, None] = {}
    for ob in rows:
        g = ob.geometry
        for ph in TRANSITION_PHASES[ob.transition]:
            seen[Job(ph, ob.invariant, g.max_order, g.pageblock_order, bug)] = None
            if witnesses:
                wit[Job(ph, "", g.max_order, g.pageblock_order, bug)] = None
    return list(wit) + list(seen)


def run_jobs(jobs: list[Job], processes: int, budget_s: float) -> Iterator[JobResult]:
    """Results as they come; ``processes <= 1`` runs in this process."""
    if processes <= 1 or len(jobs) <= 1:
        for j in jobs:
            yield run_job(j, budget_s)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        yield from pool.imap_unordered(_worker, [(j, budget_s) for j in jobs])


@dataclass(slots=True)
class RowResult:
    obligation: Obligation
    status: str
    seconds: float
    phase: str = ""
    detail: str = ""
    vacuous: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "proved" and not self.vacuous


def rows_from(rows: Iterable[Obligation], results: dict[Job, JobResult],
              bug: str | None = None) -> list[RowResult]:
    out = []
    for ob in rows:
        g = ob.geometry
        status, phase, detail, secs = "proved", "", "", 0.0
        vacuous = []
        for ph in TRANSITION_PHASES[ob.transition]:
            r = results[Job(ph, ob.invariant, g.max_order, g.pageblock_order, bug)]
            secs += r.seconds
            w = results.get(Job(ph, "", g.max_order, g.pageblock_order, bug))
            if w is not None and w.status != "satisfiable":
                vacuous.append(f"{ph}: {w.status}")
            if r.status != "proved" and status == "proved":
                status, phase, detail = r.status, ph, r.detail
        out.append(RowResult(ob, status, secs, phase, detail, vacuous))
    return out


__all__ = ["Job", "JobResult", "RowResult", "jobs_for", "rows_from", "run_job", "run_jobs"]
