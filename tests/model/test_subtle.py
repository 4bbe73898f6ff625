"""Semantics note §11, items 1-12: one hand-worked test (or a few) per subtle behaviour."""

from __future__ import annotations

import pytest
from model_helpers import (
    MOVABLE_GFP,
    RECLAIMABLE_GFP,
    RES,
    UNMOVABLE_GFP,
    M,
    R,
    U,
    bare,
    common_setup,
    config,
    hand_out,
    new_rec,
    nonempty_free_lists,
    put_free,
    put_pcp,
    snap,
)

from rmqueue.model import Allocator, RequestError
from rmqueue.model.fallback import (
    find_suitable_fallback,
    move_freepages_block,
    set_pageblock_migratetype,
)
from rmqueue.model.free import free_one_page_locked
from rmqueue.model.types import Gfp, gfpflags_to_migratetype
from rmqueue.model.vmstat import NR_FREE_PAGES, PGALLOC

# -- 1. list ends -------------------------------------------------------------------------


def test_1_pcp_free_hot_head_cold_tail_and_alloc_ends() -> None:
    # pcp M holds [1, 2] after trace A.  Hot free of 0 -> head [0, 1, 2]; then a cold
    # alloc takes the tail (2) and a hot alloc the head (0).
    a = common_setup()
    a.alloc(0, 0, MOVABLE_GFP)
    a.free(0, 0, 0)
    assert a.zone.pcp_list(0, M) == [0, 1, 2]
    assert a.alloc(0, 0, [*MOVABLE_GFP, "__GFP_COLD"]).pfn == 2
    assert a.alloc(0, 0, MOVABLE_GFP).pfn == 0
    assert a.zone.pcp_list(0, M) == [1]
    # cold free of 0 goes to the tail: [1, 0]
    a.free(0, 0, 0, cold=True)
    assert a.zone.pcp_list(0, M) == [1, 0]


def test_1_smallest_takes_head_and_expand_pushes_head() -> None:
    # o3 M list [40, 48] (48 pushed to the tail).  MOVABLE order 2 takes head 40, pushes
    # 44@o2 at the head of the (empty) o2 list.
    a = bare()
    put_free(a, 40, 3, M)
    put_free(a, 48, 3, M, tail=True)
    put_free(a, 96, 2, M)
    rec = a.alloc(0, 2, MOVABLE_GFP)
    # own list at o2 is non-empty (96): smallest order wins before o3
    assert rec.pfn == 96
    rec = a.alloc(0, 2, MOVABLE_GFP)
    assert rec.pfn == 40
    assert a.zone.free_list(2, M) == [44]
    assert a.zone.free_list(3, M) == [48]


# -- 2. pcp pages count as allocated --------------------------------------------------------


def test_2_pcp_pages_block_merges_and_nr_free_is_charged_at_refill() -> None:
    # After trace A: pcp [1, 2], free o0 list [3], NR_FREE 2045.  A hot alloc from the pcp
    # hands out 1 and NR_FREE stays 2045; freeing it back to the pcp keeps 2045 too.
    a = common_setup()
    a.alloc(0, 0, MOVABLE_GFP)
    assert a.alloc(0, 0, MOVABLE_GFP).pfn == 1
    assert a.zone.vm_stat[NR_FREE_PAGES] == 2045
    a.free(0, 1, 0)
    assert a.zone.vm_stat[NR_FREE_PAGES] == 2045
    assert not a.zone.page_buddy(1)
    # __free_one_page(0, o0): buddy 1 is on the pcp (not PageBuddy) -> no merge;
    # parent 0's o1 buddy 2 is on the pcp too -> head of o0 M: [0, 3].
    free_one_page_locked(a.zone, new_rec(), 0, 0, M)
    assert a.zone.free_list(0, M) == [0, 3]
    assert a.zone.free_list(1, M) == []


# -- 3. three migratetypes per page -----------------------------------------------------------


def test_3_reserve_pages_on_movable_pcp_return_to_reserve_lists() -> None:
    # reserve 1: boot list M o10 [1024, 0]; pageblock 0 -> RESERVE, block 0 moves to RES o10.
    # MOVABLE o10 alloc takes 1024.  MOVABLE o0 refill: own/CMA/fallback all empty (the
    # fallback sees nr_free[10] = 1 but R and U are empty) -> RESERVE retry each time:
    # 0 (splitting 512@9..1@0 onto RES lists), then 1, then 2 (3@o0 RES).  All three sit
    # on the MOVABLE pcp list with cached type RESERVE.
    a = Allocator(config(reserve_pageblocks=1))
    z = a.zone
    assert z.free_list(10, RES) == [0] and z.free_list(10, M) == [1024]
    assert a.alloc(0, 10, MOVABLE_GFP).pfn == 1024
    rec = a.alloc(0, 0, MOVABLE_GFP)
    assert rec.pfn == 0
    assert z.pcp_list(0, M) == [1, 2]
    assert [z.cached_mt[p] for p in (0, 1, 2)] == [RES, RES, RES]
    assert list(z.pageblock_mt) == [RES, M, M, M]
    # drain(count 2): R empty, M found (bf 2): tail 2 (cached RES) merges with 3@o0 -> 2@o1;
    # its o1 buddy 0 is in use; tail test: parent 0's o2 buddy 4 is free -> RES o1 tail.
    # Then 1: buddy 0 in use -> o0; parent 0's o1 buddy 2 is a free o1 head -> tail.
    a.drain(0)
    assert z.free_list(1, RES) == [2]
    assert z.free_list(0, RES) == [1]
    assert z.free_list(0, M) == [] and z.free_list(1, M) == []
    assert z.vm_stat[NR_FREE_PAGES] == 2048 - 1024 - 3 + 2
    # a pcp free of 0 re-reads the pageblock: cached RESERVE, MOVABLE pcp list
    a.free(0, 0, 0)
    assert z.pcp_list(0, M) == [0]
    assert z.cached_mt[0] == RES


# -- 4. the RESERVE retry comes last ----------------------------------------------------------


def test_4_reserve_is_never_a_fallback_source() -> None:
    # Lists: RES o10 [0], M o10 [1024].  UNMOVABLE order 1 (no pcp): own lists empty,
    # fallback o10: R empty, M has 1024 -> takes it; RESERVE untouched.
    a = Allocator(config(reserve_pageblocks=1))
    rec = a.alloc(0, 1, UNMOVABLE_GFP)
    assert rec.pfn == 1024
    assert a.zone.free_list(10, RES) == [0]
    # Second UNMOVABLE order 1: own U o1 list has 1026 (remainder) -> 1026.
    assert a.alloc(0, 1, UNMOVABLE_GFP).pfn == 1026


def test_4_reserve_retry_after_everything_else_ascending() -> None:
    # Free: RES o3 at 0, RES o5 at 32, and a U o2 block at 64.  A MOVABLE order-3 request:
    # own lists empty, CMA empty, fallback o10..o3: nr_free[5] = 1 and nr_free[3] = 1 but
    # their R/U lists are empty (the U block is o2 < 3) -> RESERVE retry, ascending: o3 head 0.
    a = bare()
    put_free(a, 0, 3, RES)
    put_free(a, 32, 5, RES)
    put_free(a, 64, 2, U)
    rec = a.alloc(0, 3, MOVABLE_GFP)
    assert rec.pfn == 0
    assert a.zone.cached_mt[0] == RES
    assert rec.free_del == [(0, 3, RES)]
    # a MOVABLE order-2 request now: fallback finds U o2 at 64 before any RESERVE retry
    assert a.alloc(0, 2, MOVABLE_GFP).pfn == 64


# -- 5. fallback scans the largest order first --------------------------------------------------


def test_5_fallback_largest_order_beats_first_choice_type() -> None:
    # UNMOVABLE order 0 (pcp batch 1): R o2 at 16 (first choice), M o5 at 64 (second
    # choice).  Scan from o10 down: o5 has M -> 64 wins over the smaller R block.
    a = bare(pcp_high=6, pcp_batch=1)
    put_free(a, 16, 2, R)
    put_free(a, 64, 5, M)
    assert a.alloc(0, 0, UNMOVABLE_GFP).pfn == 64
    # same order: table order decides.  R o5 at 128 and M o5 at 192 -> R first.
    b = bare(pcp_high=6, pcp_batch=1)
    put_free(b, 192, 5, M)
    put_free(b, 128, 5, R)
    assert b.alloc(0, 0, UNMOVABLE_GFP).pfn == 128


# -- 6. steal thresholds: see test_paths.py (one test per threshold) ---------------------------


def test_6_remainder_goes_to_requester_lists_without_steal() -> None:
    # MOVABLE order 1 from a U o3 block at 8: can_steal(3, M) false; remainders 12@o2 and
    # 10@o1 go on the MOVABLE lists anyway.
    a = bare()
    put_free(a, 8, 3, U)
    rec = a.alloc(0, 1, MOVABLE_GFP)
    assert rec.pfn == 8
    assert nonempty_free_lists(a) == {(2, M): [12], (1, M): [10]}


# -- 7. nr_free covers every type -------------------------------------------------------------


def test_7_nr_free_counts_all_types_and_move_keeps_it() -> None:
    # Boot with reserve 1: o10 holds RES [0] and M [1024] -> nr_free[10] == 2.
    a = Allocator(config(reserve_pageblocks=1))
    z = a.zone
    assert z.free_area[10].nr_free == 2
    # find_suitable_fallback at o10 for U: nr_free != 0, R empty, M non-empty -> (M, True)
    assert find_suitable_fallback(z, 10, U, False) == (M, True)
    # with only the RES block left, nr_free 1 does not help: R and M empty -> -1
    a.alloc(0, 10, MOVABLE_GFP)
    assert find_suitable_fallback(z, 10, U, False)[0] == -1
    # moving the RES o10 block to the U lists leaves nr_free as it is
    moved = move_freepages_block(z, new_rec(), 0, U)
    assert moved == 1024  # the whole block, overhang included
    assert z.free_list(10, U) == [0]
    assert z.free_area[10].nr_free == 1


# -- 8. merging ignores migratetypes ----------------------------------------------------------


def test_8_merge_absorbs_buddy_from_another_type_and_counts_once() -> None:
    # 9@o0 on the U list, 10@o1 on the R list.  Free 8 (o0, M): buddy 9 free o0 -> 8@o1;
    # buddy 10 free o1 -> 8@o2; buddy 12 not free -> stop.  8@o2 on the M list.
    # NR_FREE += 1 (the original order only); nr_free: o0 -1, o1 -1, o2 +1.
    a = bare()
    put_free(a, 9, 0, U)
    put_free(a, 10, 1, R)
    z = a.zone
    before = z.vm_stat[NR_FREE_PAGES]
    rec = new_rec()
    free_one_page_locked(z, rec, 8, 0, M)
    assert nonempty_free_lists(a) == {(2, M): [8]}
    assert [fa.nr_free for fa in z.free_area[:3]] == [0, 0, 1]
    assert z.vm_stat[NR_FREE_PAGES] == before + 1
    assert rec.free_del == [(9, 0, U), (10, 1, R)]
    assert rec.free_add == [(8, 2, M)]


def test_8_isolate_free_capped_below_pageblock_order_plus_one() -> None:
    # An ISOLATE free of 0@o9 with 512@o9 free: max_order = min(11, 9+1) = 10, the loop runs
    # while order < 9 -> no merge at o9; NR_FREE unchanged (isolate frees add nothing).
    # A MOVABLE free of 512@o9 next to an isolated 0@o9 merges anyway (the 4.3 bug).
    a = bare()
    z = a.zone
    before = z.vm_stat[NR_FREE_PAGES]
    free_one_page_locked(z, new_rec(), 0, 9, 5)
    assert z.free_list(9, 5) == [0]
    assert z.vm_stat[NR_FREE_PAGES] == before
    free_one_page_locked(z, new_rec(), 512, 9, M)
    assert z.free_list(10, M) == [0]
    assert z.free_list(9, 5) == []
    assert z.vm_stat[NR_FREE_PAGES] == before + 512


# -- 9. the pcp high-water mark is enforced only on free ----------------------------------------


def test_9_refill_may_exceed_high() -> None:
    # high 4 batch 4: three hot frees of M pages -> count 3 (< 4, no trim).  Then an
    # UNMOVABLE order-0 alloc: U list empty -> refill 4 -> count 7, hand out 1 -> 6 > 4.
    a = bare(pcp_high=4, pcp_batch=4)
    put_free(a, 64, 6, U)
    for pfn in (1, 3, 5):
        hand_out(a, pfn)
        a.free(0, pfn, 0)
    assert a.zone.pageset[0].count == 3
    rec = a.alloc(0, 0, UNMOVABLE_GFP)
    assert rec.pfn == 64
    assert a.zone.pageset[0].count == 6
    assert a.zone.pcp_list(0, U) == [65, 66, 67]


def test_9_small_zone_pass_through() -> None:
    # high 0 batch 1: a refill fetches one page, and every order-0 free trims 1 at once.
    # Alloc: boot head 1024@o10 splits, 1024 handed out, pcp empty.  Free: count 1 >= 0 ->
    # trim 1: R empty, M -> 1024 merges all the way back to 1024@o10 (head: [1024, 0]).
    a = Allocator(config(pcp_high=0, pcp_batch=1))
    rec = a.alloc(0, 0, MOVABLE_GFP)
    assert rec.pfn == 1024 and a.zone.pageset[0].count == 0
    a.free(0, 1024, 0)
    assert a.zone.pageset[0].count == 0
    assert nonempty_free_lists(a) == {(10, M): [1024, 0]}
    assert a.zone.vm_stat[NR_FREE_PAGES] == 2048


# -- 10. expand keeps the lowest piece -----------------------------------------------------


def test_10_consecutive_order0_allocations_ascend() -> None:
    # pcp batch 1 -> each alloc is one __rmqueue: 0 (from 0@o10), then 1 (o0 head), 2 (o1
    # head, 3 pushed), 3, 4 (o2 head: 4, pushes 6@o1 then 5@o0), 5, 6, 7.
    a = common_setup(pcp_high=6, pcp_batch=1)
    got = [a.alloc(0, 0, MOVABLE_GFP).pfn for _ in range(8)]
    assert got == [0, 1, 2, 3, 4, 5, 6, 7]


# -- 11. a failed order-0 refill changes nothing ------------------------------------------------


def test_11_failed_refill_returns_none_and_touches_no_counter() -> None:
    a = bare()
    before = snap(a)
    rec = a.alloc(0, 0, MOVABLE_GFP)
    assert rec.pfn is None and rec.failed
    assert snap(a) == before


def test_11_partial_refill_is_not_a_failure() -> None:
    # one free page at 100: batch 3 refill gets 1 page, it is handed out; PGALLOC +1.
    a = bare()
    put_free(a, 100, 0, M)
    rec = a.alloc(0, 0, MOVABLE_GFP)
    assert rec.pfn == 100
    assert a.zone.pageset[0].count == 0
    assert a.zone.vm_stat[PGALLOC] == 1
    assert a.zone.vm_stat[NR_FREE_PAGES] == 0


# -- 12. set_pageblock_migratetype remaps; both mobility bits are refused ------------------------


def test_12_remap_when_grouping_is_off() -> None:
    a = Allocator(config(mobility_grouping=False))
    z = a.zone
    set_pageblock_migratetype(z, new_rec(), 0, M)
    set_pageblock_migratetype(z, new_rec(), 512, R)
    set_pageblock_migratetype(z, new_rec(), 1024, RES)
    assert list(z.pageblock_mt) == [U, U, RES, M]


def test_12_both_mobility_bits_rejected() -> None:
    with pytest.raises(RequestError, match="both __GFP_MOVABLE and __GFP_RECLAIMABLE"):
        gfpflags_to_migratetype(Gfp.MOVABLE | Gfp.RECLAIMABLE, True)
    a = common_setup()
    before = snap(a)
    with pytest.raises(RequestError, match="both"):
        a.alloc(0, 0, [*RECLAIMABLE_GFP, "__GFP_MOVABLE"])
    assert snap(a) == before


def test_12_both_mobility_bits_with_grouping_off_are_unmovable() -> None:
    # gfpflags_to_migratetype() tests page_group_by_mobility_disabled before it looks at the
    # bits: with grouping off both bits only warn, and the request is UNMOVABLE (0).
    assert gfpflags_to_migratetype(Gfp.MOVABLE | Gfp.RECLAIMABLE, False) == U
    a = Allocator(config(mobility_grouping=False))
    rec = a.alloc(0, 0, ["__GFP_MOVABLE", "__GFP_RECLAIMABLE"])
    assert rec.pfn is not None and rec.migratetype == U


def test_put_pcp_helper_builds_counted_lists() -> None:
    # guards the helper the trace-C test relies on
    a = bare()
    put_pcp(a, 0, U, [5, 6], U)
    assert a.zone.pcp_list(0, U) == [5, 6] and a.zone.pageset[0].count == 2
