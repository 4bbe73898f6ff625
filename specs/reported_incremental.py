"""Incremental checking of a sequence of reported states: :class:`ReportedChecker`.

The same verdicts as :func:`rmqueue.specs.reported.check_state` and
:func:`~rmqueue.specs.reported.check_transition` (which it calls for the parts it does not
do incrementally), at a cost that follows what changed between two states rather than the
size of the state.  Cross-checked against the full functions in
tests/specs/test_reported_incremental.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rmqueue.model.config import ZoneConfig

from ._reported_state import _cover, _evaluate_all, _page_failures, _state_violations
from ._reported_step import _free_set_change, _free_set_verdict, _post_allocated, _transition
from ._reported_view import _MT, Lists, ReportedView, _build, _Index, _raw, _state_counts
from .errors import Violation

__all__ = ["ReportedChecker"]


class ReportedChecker:
    """:func:`check_state` and :func:`check_transition` for a sequence of reported states,
    incrementally: each state is diffed list by list against the last one seen (identical
    lists are skipped by one comparison), and the page invariants are re-evaluated only at
    the heads whose instances read a pfn whose facts changed.  The frame argument: an
    instance at ``p`` reads the facts at ``p``, at ``p``'s aligned ancestors (p rounded down
    to 2^j, j < max_order: ``blocks_disjoint``, which only asks whether the ancestor's
    block reaches ``p``) and at ``p ^ 2^k`` where k < max_order - 1 is ``p``'s free order
    (``buddies_merged``), so elsewhere it keeps its value; and the pageblock types, so a
    state whose reported ``pageblocks`` differ from the last one's is checked in full.  A
    state with a malformed or duplicated entry or a pfn on two lists is checked in full.
    Same results as the functions (tests/specs/test_reported_incremental.py)."""

    def __init__(self, config: ZoneConfig) -> None:
        self.config = config
        self._last: _Index | None = None  # the last state seen
        self._checked: _Index | None = None  # the last state whose invariants were evaluated
        # the pfns whose facts may differ between _checked and _last (None: unknown)
        self._pending: set[Any] | None = None

    def check_state(
        self, state: Mapping[str, Any], allocated: Mapping[int, int]
    ) -> list[Violation]:
        base = self._checked
        delta: set[Any] | None
        if self._pending is not None and self._last is not None:
            idx, delta = self._index(self._last, state, allocated)
            delta = None if delta is None else self._pending | delta
        else:
            idx, delta = self._index(base, state, allocated)
        if base is None or delta is None or base.bad is None or base.nz is None:
            _evaluate_all(self.config, idx)
        elif delta:
            idx.bad, idx.nz = self._reevaluate(base, idx, delta)
        self._checked = self._last = idx
        self._pending = set()
        return _state_violations(self.config, idx, _state_counts(self.config, state, allocated))

    def check_transition(
        self,
        pre_state: Mapping[str, Any] | None,
        pre_allocated: Mapping[int, int],
        request: Mapping[str, Any],
        response: Mapping[str, Any],
        post_state: Mapping[str, Any] | None,
    ) -> list[Violation]:
        pre_alloc = dict(pre_allocated)
        post_alloc = _post_allocated(pre_alloc, request, response)
        pre, pre_delta = self._index(self._last, pre_state, pre_alloc) \
            if pre_state is not None else (None, None)
        post, delta = self._index(pre, post_state, post_alloc) if post_state is not None \
            else (None, None)
        if post is not None:
            if self._pending is not None and pre_delta is not None and delta is not None:
                self._pending |= pre_delta | delta
            else:
                self._pending = None
            self._last = post

        def free_change(block: list[tuple[int, int]], sign: int) -> list[Violation]:
            assert pre is not None and post is not None
            if delta is None:
                return _free_set_change(pre.v, post.v, block, sign)
            ev: list[tuple[int, int]] = []
            for p in delta:  # pfns elsewhere hold the same free block before and after
                for v, w in ((post.v, 1), (pre.v, -1)):
                    o = v.free[p][0] if p in v.free else 0 if p in v.pcp else -1
                    if o >= 0:
                        ev += [(p, w), (p + (1 << o), -w)]
            return _free_set_verdict(ev, block, sign)

        return _transition(self.config, pre.v if pre else None, post.v if post else None,
                           pre_alloc, request, response, post_state, free_change)

    def _index(
        self, base: _Index | None, state: Mapping[str, Any], allocated: Mapping[int, int]
    ) -> tuple[_Index, set[Any] | None]:
        """``state``'s index and the pfns whose facts may differ from ``base`` (None: built
        in full)."""
        if base is not None:
            got = _update(self.config, base, state, allocated)
            if got is not None:
                return got
        return _build(self.config, state, allocated), None

    def _reevaluate(
        self, base: _Index, idx: _Index, delta: set[Any]
    ) -> tuple[dict[int, tuple[str, ...]], dict[int, int]]:
        assert base.bad is not None and base.nz is not None
        v, old, mo = idx.v, base.v, self.config.max_order
        F, P, A = v.free, v.pcp, v.alloc
        readers: set[Any] = set()
        for q in delta:
            readers.add(q)
            # buddies_merged at p = q ^ 2^k reads q when p is free at order k
            readers.update(p for k in range(mo - 1) if F.get(p := q ^ (1 << k), _NO)[0] == k)
            # blocks_disjoint at p reads its ancestor q only to see whether q's block
            # (before or after) reaches p: the p in (q, q + 2^min(ancestry, block order))
            low = (q & -q).bit_length() - 1 if q else mo - 1
            reach = max(_order(old, q), _order(v, q))
            readers.update(p for p in range(q + 1, q + (1 << min(low, mo - 1, reach)))
                           if p in F or p in P or p in A)
        bad = {p: names for p, names in base.bad.items() if p not in readers}
        bad.update(_page_failures(self.config, v, [p for p in readers
                                                   if p in F or p in P or p in A]))
        nz = dict(base.nz)
        for p in delta:
            for view, sign in ((old, -1), (v, 1)):
                if p in view.free:
                    _cover(nz, p, p + (1 << view.free[p][0]), sign)
                elif p in view.pcp:
                    _cover(nz, p, p + 1, sign)
                elif p in view.alloc:
                    _cover(nz, p, p + (1 << view.alloc[p]), sign)
        return bad, {x: w for x, w in nz.items() if w}


_EMPTY: list[Any] = []
_NO = (-1, -1)


def _order(v: ReportedView, p: int) -> int:
    """The order of the block headed by ``p`` (0 for a pcp page or no head)."""
    return v.free[p][0] if p in v.free else v.alloc.get(p, 0)


def _update(
    config: ZoneConfig, base: _Index, state: Mapping[str, Any], allocated: Mapping[int, int]
) -> tuple[_Index, set[Any]] | None:
    """``state``'s index from ``base``'s by the lists that differ, and the pfns whose facts
    may have changed; None when either state is not clean (then build it in full)."""
    if base.lists is None or base.out or ("pcp" in state) != base.pcp_present:
        return None
    if state.get("pageblocks") != base.pb_raw:
        return None  # a retype changes block_mt at every pfn of the pageblock: in full
    raw = state.get("free_area", _EMPTY), state.get("pcp", _EMPTY)
    braw, bkeys = base.raw, base.keys
    if braw is not None and braw == raw and allocated == base.v.alloc:
        return base, set()
    lists: Lists = {}
    keys: tuple[list[Any], list[Any]] = ([], [])
    suspects = []
    for fi, kind, key in ((0, "f", "order"), (1, "p", "cpu")):
        was = braw[fi] if braw is not None and bkeys is not None else _EMPTY
        for i, entry in enumerate(raw[fi]):
            if i < len(was) and entry == was[i]:  # as in base, so well-formed
                assert bkeys is not None
                k = bkeys[fi][i]
            else:
                a, name = entry.get(key), entry.get("migratetype")
                if not (isinstance(a, int) and isinstance(name, str) and name in _MT):
                    return None
                k = (kind, a, _MT[name])
                suspects.append(k)
            if k in lists:
                return None
            lists[k] = entry.get("pfns", _EMPTY)
            keys[fi].append(k)
    old = base.lists
    changed = [k for k in suspects if lists[k] != old.get(k, _EMPTY)]
    changed += [k for k in old.keys() - lists.keys() if old[k]]
    same_alloc = allocated == base.v.alloc
    if not changed and same_alloc:
        return base, set()
    v = ReportedView(config)
    F, P, A = dict(base.v.free), dict(base.v.pcp), dict(allocated)
    delta: set[Any] = set()
    for k in changed:
        was = old.get(k, _EMPTY)
        target = F if k[0] == "f" else P
        for p in was:
            del target[p]
        delta.update(was)
    for kind, a, t in changed:
        target = F if kind == "f" else P
        for p in lists.get((kind, a, t), _EMPTY):
            if p in F or p in P or p in A:
                return None
            target[p] = (a, t)
            delta.add(p)
    if not same_alloc:
        for p, _ in A.items() ^ base.v.alloc.items():
            delta.add(p)
            if p in A and (p in F or p in P):
                return None
    v.free, v.pcp, v.alloc, v.pb = F, P, A, base.v.pb
    copies = dict(old)  # the unchanged lists are equal to base's copies
    for k in changed:
        if k in lists:
            copies[k] = list(lists[k])
        else:
            del copies[k]
    return _Index(v, [], copies, base.pcp_present, raw=_raw(state), keys=keys,
                  pb_raw=base.pb_raw), delta
