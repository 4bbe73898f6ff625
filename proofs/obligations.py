"""Proof obligations as data rows: transition x invariant x geometry (STYLE §1).

Each row is proved by its own queries (one per phase of the transition): havoc a state,
assume the config axioms, the transition's guards and every invariant of the registry
instantiated at an arbitrary pfn ``p`` and at every
pfn the transition touches, run the transition, and ask Z3 for a ``p`` at which the row's
invariant fails afterwards (count invariants: at any of their orders / CPUs).  ``unsat`` is a
proof; ``sat`` is a counterexample; ``unknown`` or a timeout is a failure.

The pseudo-invariant ``step_conditions`` checks the side conditions of the list operations
(each push is of a page on no list, each unlink of a page on that list: with them the ghost
lengths stay equal to the number of members, the delta form of the count invariants) and
the extra conjuncts of the loop invariants (:mod:`rmqueue.proofs.loops`).

``p`` ranges over the pfn space of every zone, ``[0, 2^40)`` (:data:`PFN_LIMIT`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rmqueue.specs.invariants import INVARIANTS, Invariant
from rmqueue.specs.sorts import PFN_LIMIT

from . import _z3
from ._z3 import BV, OPS, Bool
from .extra import config_axioms
from .state import CPUS_MODELLED, LINUX, Geometry, SymState
from .transitions import PHASES, TRANSITION_PHASES, TRANSITIONS, Phase

ALL_INVARIANTS: tuple[Invariant, ...] = INVARIANTS
LIST_DELTA = "step_conditions"
PAGE_INVARIANTS = tuple(i for i in ALL_INVARIANTS if i.kind == "page")
COUNT_INVARIANTS = tuple(i for i in ALL_INVARIANTS if i.kind == "count")


@dataclass(frozen=True, slots=True)
class Obligation:
    """One row: prove that ``transition`` keeps ``invariant`` at ``geometry``."""

    transition: str
    invariant: str
    geometry: Geometry = LINUX

    @property
    def id(self) -> str:
        return f"{self.transition}:{self.invariant}@{self.geometry.name}"


@dataclass(slots=True)
class Result:
    """The outcome of one row: ``proved``, ``counterexample``, ``unknown`` or ``timeout``."""

    obligation: Obligation
    status: str
    seconds: float
    phase: str = ""
    detail: str = ""
    witness: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "proved"


def rows(geometries: tuple[Geometry, ...] = (LINUX,)) -> list[Obligation]:
    """Every (transition, invariant, geometry) row."""
    names = [i.name for i in ALL_INVARIANTS] + [LIST_DELTA]
    return [Obligation(t, n, g) for g in geometries for t in TRANSITIONS for n in names]


def domain(inv: Invariant, s: SymState) -> range:
    if inv.domain == "order":
        return range(s.max_order)
    if inv.domain == "cpu":
        return range(CPUS_MODELLED)
    return range(1)


def holds(inv: Invariant, s: SymState, p: BV) -> Bool:
    """``inv`` on ``s``: at ``p`` (page) or at every index of its domain (count)."""
    if inv.kind == "page":
        return inv.formula(OPS, s, p)
    return OPS.and_(*(inv.formula(OPS, s, i) for i in domain(inv, s)))


def hypotheses(phase: Phase, p: BV, invariant: str = "") -> list[Bool]:
    """Config axioms, guards, and every invariant of the pre-state at ``p`` and the touched
    pfns (the universally quantified invariant, instantiated where the step reads)."""
    pre = phase.pre
    facts = config_axioms(pre) + list(phase.guards) + [OPS.ult(p, OPS.val(PFN_LIMIT))]
    extra = (buddy_term(pre, p),) if invariant in ("buddies_merged", "") else ()
    for t in (p, *extra, *phase.touched):
        for inv in PAGE_INVARIANTS:
            facts.append(inv.formula(OPS, pre, t))
    for inv in COUNT_INVARIANTS:
        facts.append(holds(inv, pre, p))
    return facts


def goal(phase: Phase, invariant: str, p: BV) -> Bool:
    if invariant == LIST_DELTA:
        return OPS.and_(*(f for _, f in phase.side))
    inv = next(i for i in ALL_INVARIANTS if i.name == invariant)
    return holds(inv, phase.post, p)


# Count invariants over the list lengths: proved per value of the phase's split terms (the
# requested type for the fallback, whose ghost ``moved`` counts shift lengths between types).
WEIGHTED = ("nr_free_matches_lists", "free_pages_conserved", "free_cma_pages_conserved",
            "zone_pages_conserved")


def _queries(phase: Phase, invariant: str, p: BV) -> list[tuple[Bool, list[Bool]]]:
    """The (subgoal, case hypotheses) queries of one phase and invariant."""
    goals = _z3.split(goal(phase, invariant, p))
    if invariant == "blocks_disjoint" and phase.touched:
        # Where p sits: on one of the pfns the step wrote, or elsewhere.
        off = [OPS.not_(OPS.eq(p, t)) for t in phase.touched]
        at = [[OPS.eq(p, t)] for t in phase.touched]
        return [(g, c) for g in goals for c in [*at, off]]
    if invariant not in WEIGHTED or not phase.splits:
        return [(g, []) for g in goals]
    cases: list[list[Bool]] = [[]]
    for term, n in phase.splits:
        cases = [[*c, OPS.eq(term, OPS.val(v))] for c in cases for v in range(n)]
    return [(g, c) for g in goals for c in cases]


def buddy_term(s: SymState, p: BV) -> BV:
    """The pfn ``buddies_merged`` reads besides ``p``: its buddy at its free order."""
    return p ^ (OPS.val(1) << s.free_order(p))


def phases(ob: Obligation, bug: str | None = None) -> list[Phase]:
    return [PHASES[name](ob.geometry, bug) for name in TRANSITION_PHASES[ob.transition]]


def prove(ob: Obligation, timeout_ms: int = 60000, bug: str | None = None,
          extra: Callable[[Phase], list[Bool]] | None = None) -> Result:
    """Prove one row (all phases of its transition)."""
    t0 = time.monotonic()
    p = _z3.word("p")
    for phase in phases(ob, bug):
        facts = hypotheses(phase, p, ob.invariant) + (extra(phase) if extra else [])
        for g, case in _queries(phase, ob.invariant, p):
            out = _z3.check([*facts, *case, _z3.negate(g)], timeout_ms)
            if out.status == "sat":
                return Result(ob, "counterexample", time.monotonic() - t0, phase.name,
                              describe(out.model, phase, ob.invariant, p, g),
                              {"model": out.model, "phase": phase, "p": p})
            if out.status == "unknown":
                status = "timeout" if "timeout" in out.reason or "canceled" in out.reason \
                    else "unknown"
                return Result(ob, status, time.monotonic() - t0, phase.name, out.reason)
    return Result(ob, "proved", time.monotonic() - t0)


def witness(ob: Obligation, timeout_ms: int = 60000) -> Result:
    """Non-vacuity: the hypotheses of every phase are satisfiable; returns a witness."""
    t0 = time.monotonic()
    p = _z3.word("p")
    seen: dict[str, Any] = {}
    for phase in phases(ob):
        out = _z3.check(hypotheses(phase, p), timeout_ms)
        if out.status != "sat":
            return Result(ob, "vacuous" if out.status == "unsat" else out.status,
                          time.monotonic() - t0, phase.name, out.reason)
        seen[phase.name] = summary(out.model, phase, p)
    return Result(ob, "satisfiable", time.monotonic() - t0, witness=seen)


def summary(model: Any, phase: Phase, p: BV) -> dict[str, Any]:
    """The state in kernel terms, at the pfns that matter."""
    s = phase.pre
    ev, eb = _z3.eval_int, _z3.eval_bool
    out: dict[str, Any] = {
        "zone": [ev(model, s.start), ev(model, s.end)],
        "pcp": {"count": ev(model, s.pcp_count(0)), "high": ev(model, s.c_high),
                "batch": ev(model, s.c_batch)},
    }
    for name, term in phase.terms:
        out[name] = ev(model, term)
    pages = {}
    for t in (p, *phase.touched):
        pfn = ev(model, t)
        if pfn in pages:
            continue
        if eb(model, s.on_free(pfn_term(pfn))):
            pages[pfn] = (f"free o{ev(model, s.free_order(pfn_term(pfn)))} "
                          f"mt{ev(model, s.free_mt(pfn_term(pfn)))}")
        elif eb(model, s.on_pcp(pfn_term(pfn))):
            pages[pfn] = f"pcp list {ev(model, s.pcp_index(pfn_term(pfn)))}"
        elif eb(model, s.allocated(pfn_term(pfn))):
            pages[pfn] = f"allocated o{ev(model, s.alloc_order(pfn_term(pfn)))}"
    out["pages"] = pages
    return out


def pfn_term(v: int) -> BV:
    return OPS.val(v)


def describe(model: Any, phase: Phase, invariant: str, p: BV, g: Bool) -> str:
    """A counterexample in kernel terms, naming the smallest failing clause."""
    info = summary(model, phase, p)
    lines = [f"phase {phase.name}: zone pfns [{info['zone'][0]}, {info['zone'][1]})",
             f"  pcp count/high/batch {info['pcp']['count']}/{info['pcp']['high']}/"
             f"{info['pcp']['batch']}"]
    for name, _ in phase.terms:
        lines.append(f"  {name} = {info[name]}")
    lines.append(f"  p = {_z3.eval_int(model, p)}")
    for pfn, what in sorted(info["pages"].items()):
        lines.append(f"  pre pfn {pfn}: {what}")
    lines.append(f"  failing clause of {invariant}: {_z3.smallest_false(model, g)}")
    return "\n".join(lines)


__all__ = ["ALL_INVARIANTS", "LIST_DELTA", "Obligation", "Result", "prove", "rows", "witness"]
