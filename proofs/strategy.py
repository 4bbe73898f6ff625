"""How each (phase, invariant) is put to the solver: data, not logic (STYLE §1).

None of these choices changes what is proved; each only conditions the queries:

* :data:`SLICES`: the hypotheses of a first attempt.  A query is tried first with a subset
  of the hypotheses (the invariants the goal needs); a proof from fewer hypotheses is a
  proof of the row.  Any other answer is retried with every hypothesis, so a counterexample
  is always one of the full hypotheses.
* :data:`ORDER_SPLITS`: phase terms (orders) the queries are case-split on, one query per
  value ``0 .. max_order - 1`` plus one for ``>= max_order``: the cases are exhaustive.  A
  concrete order turns the shifts ``1 << order`` into constants, which bit-blast to nothing.
* :data:`COST`: rough seconds per job at Linux's geometry, to start the longest first.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = "*"


@dataclass(frozen=True, slots=True)
class Slice:
    """The hypotheses of a first attempt: page invariants (names, or :data:`ALL`) at the
    touched pfns and, when ``at_p``, at ``p``; count invariants (names, or :data:`ALL`;
    ``"="`` is the goal itself)."""

    page: tuple[str, ...] | str = ALL
    count: tuple[str, ...] | str = ALL
    at_p: bool = True


# The page facts a list-length step reads: a block's order and type are those of its list.
_LISTS = ("block_aligned", "buddy_flag_on_free_heads", "no_isolated_pageblocks")
_COUNT_GOAL = Slice(page=_LISTS, count=("=",), at_p=False)

# Goal invariant -> first-attempt hypotheses (absent: every hypothesis at once).
SLICES: dict[str, Slice] = {
    "blocks_disjoint": Slice(page=("block_aligned", "blocks_disjoint",
                                   "buddy_flag_on_free_heads"), count=()),
    "block_aligned": Slice(count=()),
    "buddy_flag_on_free_heads": Slice(count=()),
    "buddies_merged": Slice(count=()),
    "pcp_list_matches_cached_mt": Slice(count=()),
    "no_isolated_pageblocks": Slice(count=()),
    "cma_pageblocks_whole": Slice(count=()),
    "cma_lists_match_pageblocks": Slice(count=()),
    "nr_free_matches_lists": _COUNT_GOAL,
    "free_pages_conserved": _COUNT_GOAL,
    "free_cma_pages_conserved": Slice(page=(*_LISTS, "cma_lists_match_pageblocks"),
                                      count=("=",), at_p=False),
    "pcp_count_matches": _COUNT_GOAL,
    "zone_pages_conserved": _COUNT_GOAL,
    "vm_events_balance": _COUNT_GOAL,
    "alloc_batch_matches": _COUNT_GOAL,
    "fair_depleted_matches": Slice(page=(), count=("=", "alloc_batch_matches"), at_p=False),
    "step_conditions": Slice(page=("block_aligned", "blocks_disjoint",
                                   "buddy_flag_on_free_heads"), count=(), at_p=False),
}

# (phase, term) -> the terms it always equals one of (by a proved lemma, see
# :func:`rmqueue.proofs.lemmas.phase_instances`): blocks_disjoint at that pfn is proved per
# alternative, plus the case of none of them (refuted by the lemma).
ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("merge_step", "parent"): ("page", "buddy"),
}

# Goal invariants whose queries get the range form of blocks_disjoint
# (:func:`rmqueue.proofs.lemmas.inside_not_head`) at the touched blocks.
COVER_LEMMA = ("blocks_disjoint", "step_conditions")

ORDER_TERMS: dict[str, tuple[str, ...]] = {
    "take_smallest": ("current_order",),
    "take_cma": ("current_order",),
    "take_reserve": ("current_order",),
    "take_fallback": ("current_order",),
    "expand_step": ("high",),
    "merge_step": ("order",),
    "merge_exit": ("order",),
    "finish_alloc": ("order",),
    "free_entry": ("order",),
}

# (phase, goal invariant) -> the order terms to split on.  None at present: with the
# sliced hypotheses every row proves faster with its orders symbolic (measured at 11/9).
ORDER_SPLITS: dict[tuple[str, str], tuple[str, ...]] = {}

# Witness queries (non-vacuity) first try these phase terms fixed to each of these values in
# turn: a model of the hypotheses with a term fixed is a model of the hypotheses.
WITNESS_TERMS: dict[str, tuple[str, ...]] = {
    **ORDER_TERMS,
    **{ph: ("order", "current_order")
       for ph in ("take_smallest", "take_cma", "take_reserve", "take_fallback")},
}
# Negative values count from max_order (-1: the largest order, where a zone has the fewest
# blocks to arrange and the solver finds a model fastest).
WITNESS_ORDERS = (-1, 0)

# Measured at 11/9 (one run, seconds); every other job takes about a second or less.
COST: dict[tuple[str, str], float] = {
    ("merge_step", "blocks_disjoint"): 14,
    ("expand_step", "blocks_disjoint"): 8,
    ("take_fallback", "zone_pages_conserved"): 4,
    ("merge_exit", "blocks_disjoint"): 4,
    ("expand_step", "buddies_merged"): 3,
    ("take_fallback", "step_conditions"): 2,
    ("merge_step", ""): 2,
    ("lemma", "inside_not_head"): 2,
    ("take_fallback", "blocks_disjoint"): 2,
    ("take_fallback", "nr_free_matches_lists"): 2,
}


def cost(phase: str, invariant: str) -> float:
    return COST.get((phase, invariant), 1.0)


__all__ = ["ALIASES", "ALL", "COST", "COVER_LEMMA", "ORDER_SPLITS", "ORDER_TERMS", "SLICES",
           "WITNESS_ORDERS", "WITNESS_TERMS", "Slice", "cost"]
