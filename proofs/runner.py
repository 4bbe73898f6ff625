"""Running the rows: one job per distinct (phase, invariant), in parallel processes.

Several transitions share phases (``expand_step``, ``merge_step``...), so the runner proves
each (phase, invariant, geometry) once and a row's result is the first non-proof among its
phases (its time the sum of theirs).  A job's time budget covers all of its queries; Z3
``unknown`` or a budget overrun is a failure, never a pass.  The helper lemmas the rows
assume (:mod:`rmqueue.proofs.lemmas`) are jobs of the same run; jobs start longest first.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import _z3, lemmas
from ._z3 import BV, Bool
from .obligations import Obligation, _queries, attempts, describe, hypotheses, summary
from .state import Geometry
from .strategy import WITNESS_ORDERS, WITNESS_TERMS, cost
from .transitions import PHASES, TRANSITION_PHASES, Phase

LEMMA = "lemma"


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


def _solve(levels: list[list[Bool]], case: list[Bool], g: Bool, deadline: float,
           hints: tuple[BV, ...] = (), max_order: int = 1) -> tuple[str, Any, str]:
    """One query under each hypothesis set of ``levels`` in turn, until one proves it.

    When a smaller set has a model, the next set is first asked for a model with the
    ``hints`` terms (the phase's orders) fixed to that model's values, briefly: a model
    found so is a counterexample of the full query; no model proves nothing, and the
    unconstrained query follows."""
    out = _z3.Outcome("unknown", reason="budget spent")
    fixed: list[Bool] = []
    for n, facts in enumerate(levels, 1):
        query = [*facts, *case, _z3.negate(g)]
        if fixed:
            left = deadline - time.monotonic()
            hinted = _z3.check([*query, *fixed], max(1, int(min(left, 10.0) * 1000)))
            if hinted.status == "sat":
                return hinted.status, hinted.model, hinted.reason
        left = deadline - time.monotonic()
        if left <= 0:
            break
        # A smaller set gets half of what is left, so the full set always has a turn.
        cap = left if n == len(levels) else left / 2
        out = _z3.check(query, max(1, int(cap * 1000)))
        if out.status == "unsat":
            break
        if out.status == "sat":
            fixed = [_z3.OPS.eq(h, _z3.OPS.val(_z3.eval_int(out.model, h))) for h in hints]
        else:  # no model to copy: the largest orders, where models are found fastest
            fixed = [_z3.OPS.eq(h, _z3.OPS.val(-1 % max_order)) for h in hints]
    return out.status, out.model, out.reason


def _lemma_job(job: Job, budget_s: float, t0: float) -> JobResult:
    facts, queries = lemmas.lemma_queries(job.invariant, Geometry(job.max_order,
                                                                  job.pageblock_order))
    deadline = t0 + budget_s
    for n, (g, case) in enumerate(queries, 1):
        status, _, reason = _solve([facts], case, g, deadline)
        if status != "unsat":
            return JobResult(job, _failure(status, reason, deadline), time.monotonic() - t0,
                             n, reason)
    return JobResult(job, "proved", time.monotonic() - t0, len(queries))


def _failure(status: str, reason: str, deadline: float) -> str:
    if status == "sat":
        return "counterexample"
    late = time.monotonic() >= deadline - 0.01
    return "timeout" if late or "timeout" in reason or "canceled" in reason else "unknown"


def _witness_job(job: Job, phase: Phase, p: BV, budget_s: float, t0: float) -> JobResult:
    """Non-vacuity: a model of the phase's hypotheses, looked for first with the phase's
    order terms fixed to small values (a model with them fixed is a model)."""
    facts = hypotheses(phase, p, "")
    terms = dict(phase.terms)
    mo = job.max_order
    fixed = [[_z3.OPS.eq(terms[n], _z3.OPS.val(v % mo)) for n in WITNESS_TERMS[job.phase]]
             for v in WITNESS_ORDERS] if job.phase in WITNESS_TERMS else []
    n = 0
    for extra in [*fixed, []]:
        left = t0 + budget_s - time.monotonic()
        if left <= 0:
            break
        cap = left if not extra else min(left, max(1.0, budget_s / 4))
        out = _z3.check([*facts, *extra], max(1, int(cap * 1000)))
        n += 1
        if out.status == "sat":
            return JobResult(job, "satisfiable", time.monotonic() - t0, n, "",
                             summary(out.model, phase, p))
        if out.status == "unsat" and not extra:
            return JobResult(job, "vacuous", time.monotonic() - t0, n, out.reason)
    return JobResult(job, "unknown", time.monotonic() - t0, n, "no model found")


def run_job(job: Job, budget_s: float) -> JobResult:
    """Prove (or, for ``invariant == ""``, witness) one phase, or prove a helper lemma
    (``phase == "lemma"``)."""
    t0 = time.monotonic()
    if job.phase == LEMMA:
        return _lemma_job(job, budget_s, t0)
    geo = Geometry(job.max_order, job.pageblock_order)
    phase = PHASES[job.phase](geo, job.bug)
    p = _z3.word("p")
    if not job.invariant:
        return _witness_job(job, phase, p, budget_s, t0)
    levels = attempts(phase, p, job.invariant)
    deadline = t0 + budget_s
    n = 0
    terms = dict(phase.terms)
    hints = tuple(terms[n] for n in WITNESS_TERMS.get(job.phase, ()))
    for g, case in _queries(phase, job.invariant, p):
        status, model, reason = _solve(levels, case, g, deadline, hints, job.max_order)
        n += 1
        if status == "sat":
            return JobResult(job, "counterexample", time.monotonic() - t0, n,
                             describe(model, phase, job.invariant, p, g),
                             summary(model, phase, p))
        if status != "unsat":
            return JobResult(job, _failure(status, reason, deadline), time.monotonic() - t0,
                             n, reason)
    return JobResult(job, "proved", time.monotonic() - t0, n)


def _worker(args: tuple[Job, float]) -> JobResult:
    return run_job(*args)


def jobs_for(rows: Iterable[Obligation], bug: str | None = None,
             witnesses: bool = True) -> list[Job]:
    """The distinct jobs the rows need, the helper lemmas they assume, and the witness
    jobs, longest first (:data:`rmqueue.proofs.strategy.COST`)."""
    seen: dict[Job, None] = {}
    wit: dict[Job, None] = {}
    for ob in rows:
        g = ob.geometry
        for ph in TRANSITION_PHASES[ob.transition]:
            seen[Job(ph, ob.invariant, g.max_order, g.pageblock_order, bug)] = None
            if witnesses:
                wit[Job(ph, "", g.max_order, g.pageblock_order, bug)] = None
    geos = {(j.max_order, j.pageblock_order) for j in seen}
    helpers = [Job(LEMMA, name, mo, pb, bug) for mo, pb in sorted(geos)
               for name in lemmas.LEMMAS]
    # Longest first, so that no long job starts last on an otherwise idle pool.
    return sorted([*helpers, *wit, *seen], key=lambda j: -cost(j.phase, j.invariant))


def run_jobs(jobs: list[Job], processes: int, budget_s: float) -> Iterator[JobResult]:
    """Results as they come; ``processes <= 1`` runs in this process."""
    if processes <= 1 or len(jobs) <= 1:
        for j in jobs:
            yield run_job(j, budget_s)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        yield from pool.imap_unordered(_worker, [(j, budget_s) for j in jobs], chunksize=1)


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
