"""Helper lemmas: consequences of the registry's invariants, proved once per geometry and
then assumed (instantiated) in the transition proofs.

``blocks_disjoint`` says that no aligned *ancestor* of a head covers it.  Transition proofs
mostly need the range form of that fact: a pfn strictly inside a block is not a head
(:func:`inside_not_head`).  The solver can derive it from the ancestor clauses, but only by
finding which ancestor level equals the covering block's order, through 64-bit shifts by a
symbolic amount, for every pair of pfns at once; handed the lemma, it needs none of that.

The lemma is proved for every state, every pair of 64-bit words ``q``, ``x`` and every order,
from ``block_aligned`` at ``q`` and ``blocks_disjoint`` at ``x`` alone (one query per value of
``q``'s order, the cases exhaustive).  Since the pre-state of every phase satisfies the
invariants at every pfn, any instance of the lemma on the pre-state is a consequence of the
phase's hypotheses: adding it assumes nothing new.
"""

from __future__ import annotations

from typing import Any

from rmqueue.model.buddy import combined_index, find_buddy_index, is_aligned
from rmqueue.specs.invariants import BY_NAME, head_order, implies, is_head

from ._z3 import BV, OPS, Bool, word
from .extra import config_axioms
from .state import Geometry, SymState, fresh

o_ = OPS


def _view(s: SymState) -> Any:
    """``s`` as the registry's ``PageView`` (a frozen dataclass: read-only attributes)."""
    return s


def covers(s: SymState, q: BV, x: BV) -> Bool:
    """``x`` lies strictly inside the block headed by ``q`` (a head in the zone)."""
    return o_.and_(
        is_head(o_, _view(s), q),
        o_.ule(s.start, q),
        o_.ult(q, x),
        o_.ult(x, q + (o_.val(1) << head_order(o_, _view(s), q))),
    )


def inside_not_head(s: SymState, q: BV, x: BV) -> Bool:
    """The range form of ``blocks_disjoint``: a pfn strictly inside a block heads none."""
    return implies(o_, covers(s, q, x), o_.not_(is_head(o_, _view(s), x)))


def instances(s: SymState, heads: tuple[BV, ...], pfns: tuple[BV, ...]) -> list[Bool]:
    """The lemma at every pair (``q`` in ``heads``, ``x`` in ``pfns``), ``q`` not ``x``."""
    return [inside_not_head(s, q, x) for q in heads for x in pfns if q is not x]


def buddies_parent(m: BV, k: BV) -> Bool:
    """``combined_index`` of a block and its buddy (``find_buddy_index``) is one of the two,
    and is aligned one order up when the block is aligned at its order (pure bit-vector
    facts, for every 64-bit ``m`` and every ``k`` below 63)."""
    b = find_buddy_index(o_, m, k)
    c = combined_index(o_, m, b)
    return implies(o_, o_.ult(k, o_.val(63)), o_.and_(
        o_.or_(o_.eq(c, m), o_.eq(c, b)),
        implies(o_, is_aligned(o_, m, k), is_aligned(o_, c, k + o_.val(1))),
    ))


def phase_instances(phase_name: str, terms: dict[str, BV]) -> list[Bool]:
    """The word lemmas at the phase's own terms (the merge step's block and order)."""
    if phase_name == "merge_step":
        return [buddies_parent(terms["page"], terms["order"])]
    return []


LEMMAS = ("inside_not_head", "buddies_parent")


def lemma_queries(name: str, geo: Geometry) -> tuple[list[Bool], list[tuple[Bool, list[Bool]]]]:
    """The hypotheses and the (goal, case) queries that prove lemma ``name``."""
    if name == "buddies_parent":
        m, k = word("m"), word("k")
        return [], [(buddies_parent(m, k), [])]
    if name != "inside_not_head":
        raise KeyError(name)
    s = fresh(geo, "lemma.")
    q, x = word("q"), word("x")
    facts = [*config_axioms(s), BY_NAME["block_aligned"].formula(o_, s, q),
             BY_NAME["blocks_disjoint"].formula(o_, s, x)]
    goal = inside_not_head(s, q, x)
    k = head_order(o_, _view(s), q)
    cases = [[o_.eq(k, o_.val(v))] for v in range(geo.max_order)]
    cases.append([o_.ule(o_.val(geo.max_order), k)])
    return facts, [(goal, c) for c in cases]


__all__ = ["LEMMAS", "buddies_parent", "covers", "inside_not_head", "instances",
           "lemma_queries", "phase_instances"]
