"""The proof registry at a small zone geometry: rows prove, hypotheses are satisfiable, and
planted bugs make proofs fail (STYLE §7: tests/proofs/)."""

from __future__ import annotations

import pytest

from rmqueue.model.allocator import Allocator
from rmqueue.proofs import _z3
from rmqueue.proofs.frame import frame_lemmas
from rmqueue.proofs.lemmas import LEMMAS, lemma_queries
from rmqueue.proofs.obligations import ALL_INVARIANTS, LIST_DELTA, Obligation, attempts, rows
from rmqueue.proofs.replay import (
    BUG_SITES,
    REPLAY_CONFIG,
    ROUTE_STATE,
    sensitivity,
)
from rmqueue.proofs.runner import LEMMA, Job, run_job
from rmqueue.proofs.state import SMALL
from rmqueue.proofs.strategy import SLICES
from rmqueue.proofs.transitions import BUGS, PHASES, TRANSITION_PHASES, TRANSITIONS
from rmqueue.specs.check import StepChecker

BUDGET = 60.0


def _job(phase: str, invariant: str, bug: str | None = None) -> Job:
    return Job(phase, invariant, SMALL.max_order, SMALL.pageblock_order, bug)


def test_rows_are_data() -> None:
    table = rows((SMALL,))
    assert len(table) == len(TRANSITIONS) * (len(ALL_INVARIANTS) + 1)
    assert {ob.invariant for ob in table} == {i.name for i in ALL_INVARIANTS} | {LIST_DELTA}
    assert all(isinstance(ob, Obligation) for ob in table)
    assert set(BUGS) == set(TRANSITIONS)
    for phases in TRANSITION_PHASES.values():
        assert all(p in PHASES for p in phases)


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_hypotheses_satisfiable(phase: str) -> None:
    r = run_job(_job(phase, ""), BUDGET)
    assert r.status == "satisfiable", r.detail
    assert r.witness["zone"][0] < r.witness["zone"][1]


# Cheap rows proved in the default run; the whole registry runs under `rmqueue prove` (CI)
# and in the slow test below.
QUICK = [
    ("pcp_hit", "pcp_count_matches"),
    ("pcp_hit", "zone_pages_conserved"),
    ("free_hot_cold_page", "pcp_list_matches_cached_mt"),
    ("free_pages_ok", "free_pages_conserved"),
    ("free_pages_ok", "buddies_merged"),
    ("rmqueue_fallback", "nr_free_matches_lists"),
    ("rmqueue_fallback", "cma_lists_match_pageblocks"),
    ("pcp_refill", "free_pages_conserved"),
    ("drain_pages_zone", "pcp_count_matches"),
]


@pytest.mark.parametrize(("transition", "invariant"), QUICK)
def test_row_proved(transition: str, invariant: str) -> None:
    for phase in TRANSITION_PHASES[transition]:
        r = run_job(_job(phase, invariant), BUDGET)
        assert r.status == "proved", f"{phase}: {r.status}\n{r.detail}"


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_planted_bug_fails_and_replays(transition: str) -> None:
    """The bug makes the proof fail with a counterexample naming a clause, and the model,
    with the same bug, breaks an invariant for real (the specs' checker says so) from the
    counterexample's own pre-state, which is a sound zone on which the operation without
    the bug breaks nothing."""
    s = sensitivity(transition, SMALL.max_order, SMALL.pageblock_order, BUDGET)
    assert s.proof == "counterexample", s.counterexample
    assert "failing clause" in s.counterexample
    assert s.invariant is not None, f"{s.bug} did not break the model"
    # the direct route: the counterexample's own pre-state, moved into the model, breaks
    # (the seeded search is only the CLI's fallback)
    assert s.route == ROUTE_STATE, (s.transfer.notes if s.transfer else None)
    assert s.transfer is not None and s.transfer.sound and s.transfer.control is None
    phase, invariant, _ = BUG_SITES[transition]
    fixed = run_job(_job(phase, invariant), BUDGET)
    assert fixed.status == "proved", fixed.detail


def test_replay_zone_is_sound_without_bugs() -> None:
    """Without a planted bug, the replay zone passes the whole-state check after each of
    the operations the replay search uses."""
    a = Allocator(REPLAY_CONFIG)
    checker = StepChecker(a)
    held = []
    for order in (0, 1, 2, 0, 3, 0):
        rec = a.alloc(0, order, ("GFP_HIGHUSER_MOVABLE",))
        checker.check(rec)
        assert rec.pfn is not None
        held.append((rec.pfn, order))
    for pfn, order in held:
        checker.check(a.free(0, pfn, order))
    checker.check(a.drain(0))
    checker.full_check()
    assert a.zone.pageset[0].count == 0


def test_frame_lemma() -> None:
    results = frame_lemmas(SMALL, 30000)
    assert results, "no frame lemma was run"
    assert all(v == "proved" for v in results.values()), results


@pytest.mark.parametrize(
    ("dropped", "broken"),
    [("cma", {"cma_pageblocks_whole", "cma_lists_match_pageblocks"}),
     ("isolate", {"no_isolated_pageblocks"}),
     ("shadow", {"cma_pageblocks_whole", "cma_lists_match_pageblocks"}),
     ("post", {"cma_pageblocks_whole", "cma_lists_match_pageblocks",
               "no_isolated_pageblocks"})],
)
def test_frame_lemma_needs_the_retype_predicate(dropped: str, broken: set[str]) -> None:
    """With a clause of ``retype_keeps_cma_isolate`` dropped (CMA kept, ISOLATE refused, the
    old type being the pre-state's, the new one the post-state's), the frame lemmas of the
    pageblock invariants that need it fail."""
    from typing import Any

    from rmqueue.model.types import MIGRATE_CMA, MIGRATE_ISOLATE
    from rmqueue.proofs.frame import page_frame
    from rmqueue.specs.invariants import BY_NAME, PAGEBLOCK_INVARIANTS, iff, in_zone

    def weak(ops: Any, S: Any, p: Any, was: Any, old: Any, new: Any) -> Any:
        iso, cma = ops.val(MIGRATE_ISOLATE), ops.val(MIGRATE_CMA)
        clauses = {"zone": in_zone(ops, S, p), "shadow": ops.eq(old, was),
                   "post": ops.eq(S.block_mt(p), new),
                   "isolate": ops.and_(ops.ult(old, iso), ops.ult(new, iso)),
                   "cma": iff(ops, ops.eq(old, cma), ops.eq(new, cma))}
        return ops.and_(*(c for k, c in clauses.items() if k != dropped))

    got = {inv.name: page_frame(inv, SMALL, 30000, weak) for inv in PAGEBLOCK_INVARIANTS}
    assert {n for n, r in got.items() if r == "counterexample"} == broken, got
    assert all(r == "proved" for n, r in got.items() if n not in broken), got
    assert page_frame(BY_NAME["buddies_merged"], SMALL, 30000, weak) == "proved"


@pytest.mark.slow
@pytest.mark.parametrize("ob", rows((SMALL,)), ids=lambda ob: ob.id)
def test_every_row_small(ob: Obligation) -> None:
    for phase in TRANSITION_PHASES[ob.transition]:
        r = run_job(_job(phase, ob.invariant), BUDGET)
        assert r.status == "proved", f"{phase}: {r.status}\n{r.detail}"


@pytest.mark.parametrize("name", LEMMAS)
def test_helper_lemma_proved(name: str) -> None:
    r = run_job(Job(LEMMA, name, SMALL.max_order, SMALL.pageblock_order), BUDGET)
    assert r.status == "proved", r.detail


def test_cover_lemma_needs_blocks_disjoint() -> None:
    """The cover lemma is not true of any state: without blocks_disjoint some case has a
    counterexample (so assuming it in the rows assumes something the run must prove)."""
    facts, queries = lemma_queries("inside_not_head", SMALL)
    weak = facts[:-1]  # drop blocks_disjoint at x
    outcomes = {_z3.check([*weak, *case, _z3.negate(g)], 30000).status for g, case in queries}
    assert "sat" in outcomes


def test_first_attempt_is_a_subset() -> None:
    """A first attempt's hypotheses are among the full ones (a proof from them is a proof)."""
    phase = PHASES["merge_step"](SMALL, None)
    p = _z3.word("p")
    for inv in SLICES:
        levels = attempts(phase, p, inv)
        full = {f.get_id() for f in levels[-1]}
        assert all(f.get_id() in full for f in levels[0]), inv
