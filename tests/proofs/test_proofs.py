"""The proof registry at a small zone geometry: rows prove, hypotheses are satisfiable, and
planted bugs make proofs fail (STYLE §7: tests/proofs/)."""

from __future__ import annotations

import pytest

from rmqueue.proofs.obligations import ALL_INVARIANTS, LIST_DELTA, Obligation, rows
from rmqueue.proofs.runner import Job, run_job
from rmqueue.proofs.state import SMALL
from rmqueue.proofs.transitions import BUGS, PHASES, TRANSITION_PHASES, TRANSITIONS

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


# (transition, the phase and invariant its planted bug breaks)
SENSITIVE = [
    ("pcp_hit", "pcp_hit", "pcp_count_matches"),
    ("pcp_refill", "refill_exit", "free_pages_conserved"),
    ("rmqueue_smallest", "expand_step", LIST_DELTA),
    ("rmqueue_fallback", "take_fallback", "free_pages_conserved"),
    ("rmqueue_cma_fallback", "take_cma", "free_cma_pages_conserved"),
    ("rmqueue_reserve", "take_reserve", "buddy_flag_on_free_heads"),
    ("free_hot_cold_page", "free_push", "pcp_count_matches"),
    ("free_pcppages_bulk", "trim_exit", "pcp_count_matches"),
    ("free_pages_ok", "merge_step", "block_aligned"),
    ("drain_pages_zone", "drain_exit", "pcp_count_matches"),
]


@pytest.mark.parametrize(("transition", "phase", "invariant"), SENSITIVE)
def test_planted_bug_fails(transition: str, phase: str, invariant: str) -> None:
    bug = BUGS[transition][0]
    broken = run_job(_job(phase, invariant, bug), BUDGET)
    assert broken.status == "counterexample", broken.detail
    assert "failing clause" in broken.detail
    fixed = run_job(_job(phase, invariant), BUDGET)
    assert fixed.status == "proved", fixed.detail


@pytest.mark.slow
@pytest.mark.parametrize("ob", rows((SMALL,)), ids=lambda ob: ob.id)
def test_every_row_small(ob: Obligation) -> None:
    for phase in TRANSITION_PHASES[ob.transition]:
        r = run_job(_job(phase, ob.invariant), BUDGET)
        assert r.status == "proved", f"{phase}: {r.status}\n{r.detail}"
