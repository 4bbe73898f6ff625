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

How a row is put to the solver (:mod:`rmqueue.proofs.strategy`) never changes what it
proves: a query is tried first with the hypotheses its goal needs, then with all of them
(:func:`attempts`); case splits are exhaustive; the helper lemmas of
:mod:`rmqueue.proofs.lemmas` are consequences of the hypotheses, proved in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rmqueue.specs.invariants import INVARIANTS, Invariant
from rmqueue.specs.sorts import PFN_LIMIT

from . import _z3, lemmas
from ._z3 import BV, OPS, Bool
from .extra import config_axioms
from .state import CPUS_MODELLED, LINUX, Geometry, SymState
from .strategy import ALIASES, ALL, COVER_LEMMA, ORDER_SPLITS, SLICES, Slice
from .transitions import TRANSITIONS, Phase

ALL_INVARIANTS: tuple[Invariant, ...] = INVARIANTS
LIST_DELTA = "step_conditions"
PAGE_INVARIANTS = tuple(i for i in ALL_INVARIANTS if i.kind == "page")
COUNT_INVARIANTS = tuple(i for i in ALL_INVARIANTS if i.kind == "count")
COUNT_NAMES = frozenset(i.name for i in COUNT_INVARIANTS)


@dataclass(frozen=True, slots=True)
class Obligation:
    """One row: prove that ``transition`` keeps ``invariant`` at ``geometry``."""

    transition: str
    invariant: str
    geometry: Geometry = LINUX

    @property
    def id(self) -> str:
        return f"{self.transition}:{self.invariant}@{self.geometry.name}"


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


def _names(sel: tuple[str, ...] | str, invariant: str, pool: tuple[Invariant, ...]
           ) -> tuple[Invariant, ...]:
    if sel == ALL:
        return pool
    wanted = {invariant if n == "=" else n for n in sel}
    return tuple(i for i in pool if i.name in wanted)


def hypotheses(phase: Phase, p: BV, invariant: str = "", sl: Slice | None = None) -> list[Bool]:
    """Config axioms, guards, and the invariants of the pre-state at ``p`` and the touched
    pfns (the universally quantified invariant, instantiated where the step reads): all of
    them, or the first-attempt subset ``sl`` (:data:`rmqueue.proofs.strategy.SLICES`)."""
    pre = phase.pre
    sl = sl or Slice()
    facts = config_axioms(pre) + list(phase.guards) + [OPS.ult(p, OPS.val(PFN_LIMIT))]
    extra = (buddy_term(pre, p),) if invariant in ("buddies_merged", "") else ()
    sites = (p, *extra, *phase.touched) if sl.at_p else phase.touched
    page = _names(sl.page, invariant, PAGE_INVARIANTS)
    for t in sites:
        for inv in page:
            facts.append(inv.formula(OPS, pre, t))
    for inv in _names(sl.count, invariant, COUNT_INVARIANTS):
        facts.append(holds(inv, pre, p))
    if invariant in COVER_LEMMA or not invariant:
        facts += lemmas.instances(pre, phase.touched, (p, *phase.touched))
    return facts + lemmas.phase_instances(phase.name, dict(phase.terms))


def attempts(phase: Phase, p: BV, invariant: str) -> list[list[Bool]]:
    """The hypothesis sets a query is tried with, in order: the goal's slice (if it has
    one), then every hypothesis.  A counterexample is only ever one of the last."""
    full = hypotheses(phase, p, invariant)
    sl = SLICES.get(invariant)
    return [full] if sl is None else [hypotheses(phase, p, invariant, sl), full]


def goal(phase: Phase, invariant: str, p: BV) -> Bool:
    if invariant == LIST_DELTA:
        return OPS.and_(*(f for _, f in phase.side))
    inv = next(i for i in ALL_INVARIANTS if i.name == invariant)
    return holds(inv, phase.post, p)


# Count invariants over the list lengths: proved per value of the phase's split terms (the
# requested type for the fallback, whose ghost ``moved`` counts shift lengths between types).
WEIGHTED = ("nr_free_matches_lists", "free_pages_conserved", "free_cma_pages_conserved",
            "zone_pages_conserved")


def _cases(phase: Phase, invariant: str) -> list[list[Bool]]:
    """Exhaustive case splits: the phase's split terms (weighted count invariants) and the
    order terms of :data:`rmqueue.proofs.strategy.ORDER_SPLITS`."""
    cases: list[list[Bool]] = [[]]
    if invariant in WEIGHTED:
        for term, n in phase.splits:
            cases = [[*c, OPS.eq(term, OPS.val(v))] for c in cases for v in range(n)]
    terms = dict(phase.terms)
    mo = phase.pre.max_order
    for name in ORDER_SPLITS.get((phase.name, invariant), ()):
        t = terms[name]
        values = [OPS.eq(t, OPS.val(v)) for v in range(mo)] + [OPS.ule(OPS.val(mo), t)]
        cases = [[*c, v] for c in cases for v in values]
    return cases


def _queries(phase: Phase, invariant: str, p: BV) -> list[tuple[Bool, list[Bool]]]:
    """The (subgoal, case hypotheses) queries of one phase and invariant."""
    whole = goal(phase, invariant, p)
    # A count goal is one query per case: its orders share one adder tree, which the
    # solver simplifies once (one query per order would redo it per order).
    goals = [whole] if invariant in COUNT_NAMES else _z3.split(whole)
    if invariant == "blocks_disjoint" and phase.touched:
        # Where p sits: on one of the pfns the step wrote, or elsewhere.  On a touched pfn
        # t, the ancestors of t are where the goal reads: the cover lemma there.
        off = [OPS.not_(OPS.eq(p, t)) for t in phase.touched]
        terms = dict(phase.terms)
        at: list[list[Bool]] = []
        for t in phase.touched:
            anc = tuple(t & ~((OPS.val(1) << OPS.val(j)) - OPS.val(1))
                        for j in range(1, phase.pre.max_order))
            here = [OPS.eq(p, t), *lemmas.instances(phase.pre, anc, phase.touched),
                    *lemmas.instances(phase.pre, phase.touched, anc)]
            alts = [terms[a] for (ph, n), names in ALIASES.items()
                    if ph == phase.name and terms[n] is t for a in names]
            if not alts:
                at.append(here)
                continue
            at += [[*here, OPS.eq(t, a)] for a in alts]
            at.append([*here, *(OPS.not_(OPS.eq(t, a)) for a in alts)])
        return [(g, [*c, *k]) for g in goals for c in [*at, off]
                for k in _cases(phase, invariant)]
    return [(g, c) for g in goals for c in _cases(phase, invariant)]


def buddy_term(s: SymState, p: BV) -> BV:
    """The pfn ``buddies_merged`` reads besides ``p``: its buddy at its free order."""
    return p ^ (OPS.val(1) << s.free_order(p))


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


__all__ = ["ALL_INVARIANTS", "LIST_DELTA", "Obligation", "attempts", "hypotheses", "rows"]
