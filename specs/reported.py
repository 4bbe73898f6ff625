"""The invariants and transition predicates over an implementation's *reported* state.

An implementation under test answers the protocol's ``state`` request with its free lists,
pcp lists and counters (protocol.md); the oracle knows which blocks it has handed out.  From
these, :func:`check_state` builds the abstract state of :mod:`rmqueue.specs.invariants` and
evaluates every invariant it can (``INT_OPS``, the same formulas); what the report omits
(counters, pcp lists, ``nr_free``, the pageblock types of the state-detail extension) is not
checked: without ``pageblocks`` the three pageblock invariants are skipped, never judged on
made-up types.  :func:`check_transition` judges one step as
any correct buddy allocator may take it (:mod:`rmqueue.specs.transitions`).

Reported states carry no PageBuddy flags nor cached types: the flag is taken to be set on
every free-list head with that list's order, and a pcp page's cached type to be its list's
(or CMA when the reported pageblock types make its pageblock CMA).

The parts live in private modules: :mod:`._reported_view` (the view and counts of a report),
:mod:`._reported_state` (the invariants on one view), :mod:`._reported_step` (the transition
predicates between two).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rmqueue.model.config import ZoneConfig

from ._reported_state import _evaluate_all, _state_violations
from ._reported_step import _free_set_change, _post_allocated, _transition
from ._reported_view import ReportedView, _build, _state_counts, build_view
from .errors import Violation


def check_state(
    config: ZoneConfig, state: Mapping[str, Any], allocated: Mapping[int, int]
) -> list[Violation]:
    """Every invariant the report lets us evaluate, over ``state`` and the blocks the oracle
    knows are allocated (pfn -> order).  Returns the violations (empty when all hold).
    Linear in the state: one pass builds the pfn index, the page formulas (compiled) read it
    at every head.  :class:`ReportedChecker` does the same incrementally."""
    idx = _build(config, state, allocated)
    _evaluate_all(config, idx)
    return _state_violations(config, idx, _state_counts(config, state, allocated))


def check_transition(
    config: ZoneConfig,
    pre_state: Mapping[str, Any] | None,
    pre_allocated: Mapping[int, int],
    request: Mapping[str, Any],
    response: Mapping[str, Any],
    post_state: Mapping[str, Any] | None,
) -> list[Violation]:
    """The predicates of :mod:`rmqueue.specs.transitions` for one request/response, judged
    as any correct buddy allocator may behave.  With no states (a black-box implementation)
    only the result is checked against the config and the allocated blocks."""
    pre_alloc = dict(pre_allocated)
    pre_v = build_view(config, pre_state, pre_alloc)[0] if pre_state is not None else None
    post_alloc = _post_allocated(pre_alloc, request, response)
    post_v = build_view(config, post_state, post_alloc)[0] if post_state is not None else None

    def free_change(block: list[tuple[int, int]], sign: int) -> list[Violation]:
        assert pre_v is not None and post_v is not None
        return _free_set_change(pre_v, post_v, block, sign)

    return _transition(config, pre_v, post_v, pre_alloc, request, response, post_state,
                       free_change)


__all__ = [
    "ReportedView",
    "Violation",
    "build_view",
    "check_state",
    "check_transition",
]
