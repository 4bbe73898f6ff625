"""Hand-worked tests of the allocation, fallback and free paths (semantics note §5-§6)."""

from __future__ import annotations

from model_helpers import (
    CMA,
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
)

from rmqueue.model import Allocator
from rmqueue.model.free import free_pcppages_bulk
from rmqueue.model.vmstat import NR_FREE_CMA_PAGES, NR_FREE_PAGES

COLD_MOVABLE = [*MOVABLE_GFP, "__GFP_COLD"]


# -- rmqueue_bulk's moving cursor (§5.2) ---------------------------------------------------------


def test_bulk_hot_refill_order_and_first_page() -> None:
    # p1..p3 = 0, 1, 2 (trace A).  Hot: list_add after the cursor -> [0, 1, 2]; first = 0.
    a = common_setup()
    assert a.alloc(0, 0, MOVABLE_GFP).pfn == 0
    assert a.zone.pcp_list(0, M) == [1, 2]


def test_bulk_cold_refill_order_and_last_page() -> None:
    # Cold: list_add_tail before the cursor -> [2, 1, 0]; last = 0 = p1.
    a = common_setup()
    rec = a.alloc(0, 0, COLD_MOVABLE)
    assert rec.pfn == 0
    assert a.zone.pcp_list(0, M) == [2, 1]
    assert rec.pcp_add == [(0, M, 0), (0, M, 1), (0, M, 2)]


def test_cold_request_after_hot_refill_gets_pn() -> None:
    # hot refill [0, 1, 2], hot alloc takes 0 -> [1, 2]; a cold alloc takes last = 2 = pn.
    a = common_setup()
    a.alloc(0, 0, MOVABLE_GFP)
    assert a.alloc(0, 0, COLD_MOVABLE).pfn == 2
    assert a.zone.pcp_list(0, M) == [1]


def test_refill_fills_only_the_requested_list_per_cpu() -> None:
    # two CPUs: cpu 1's refill (head 0 of [0, 1024]) leaves cpu 0's lists empty.
    a = common_setup(cpus=2)
    assert a.alloc(1, 0, MOVABLE_GFP).pfn == 0
    assert a.zone.pcp_list(1, M) == [1, 2]
    assert a.zone.pageset[0].count == 0 and a.zone.pageset[1].count == 2
    # cpu 0 refills on its own from what is left: 3 (o0), 4 (o2 -> 6@o1, 5@o0), 5
    assert a.alloc(0, 0, MOVABLE_GFP).pfn == 3
    assert a.zone.pcp_list(0, M) == [4, 5]


# -- CMA (§5.3) ---------------------------------------------------------------------------------


def cma_zone() -> Allocator:
    # cma_pageblocks [2, 3] = pfns 1024..2047.  Boot: 0@o10 -> M; 1024@o9 (CMA, +512 CMA),
    # 1536@o9 merges with it -> 1024@o10 on the CMA list.  NR_FREE 2048, NR_FREE_CMA 1024.
    return Allocator(config(cma_pageblocks=(2, 3)))


def test_boot_cma_pageblocks_freed_last_and_merged() -> None:
    a = cma_zone()
    z = a.zone
    assert nonempty_free_lists(a) == {(10, M): [0], (10, CMA): [1024]}
    assert list(z.pageblock_mt) == [M, M, CMA, CMA]
    assert z.vm_stat[NR_FREE_PAGES] == 2048
    assert z.vm_stat[NR_FREE_CMA_PAGES] == 1024


def test_cma_used_by_movable_after_own_lists() -> None:
    # MOVABLE o10: own list 0 first; next MOVABLE o10: own empty -> CMA 1024, cached CMA.
    a = cma_zone()
    assert a.alloc(0, 10, MOVABLE_GFP).pfn == 0
    rec = a.alloc(0, 10, MOVABLE_GFP)
    assert rec.pfn == 1024
    assert a.zone.cached_mt[1024] == CMA
    assert a.zone.vm_stat[NR_FREE_CMA_PAGES] == 0
    assert a.zone.vm_stat[NR_FREE_PAGES] == 0
    assert rec.vm_delta[NR_FREE_CMA_PAGES] == -1024


def test_cma_never_used_by_unmovable_or_reclaimable() -> None:
    # UNMOVABLE o10: fallback steals 0 (M).  Again: fallback o10 sees nr_free 1 (the CMA
    # block) but R and M are empty -> no RESERVE either -> failure.  Same for RECLAIMABLE.
    a = cma_zone()
    assert a.alloc(0, 10, UNMOVABLE_GFP).pfn == 0
    assert a.alloc(0, 10, UNMOVABLE_GFP).pfn is None
    assert a.alloc(0, 3, RECLAIMABLE_GFP).pfn is None
    assert a.zone.free_list(10, CMA) == [1024]


def test_cma_pcp_refill_charges_free_cma_per_page() -> None:
    # After MOVABLE o10 took 0, an order-0 MOVABLE refill (batch 3) comes from CMA:
    # 1024, 1025, 1026 cached CMA -> NR_FREE_CMA -3, NR_FREE -3 (one lump).
    a = cma_zone()
    a.alloc(0, 10, MOVABLE_GFP)
    rec = a.alloc(0, 0, MOVABLE_GFP)
    assert rec.pfn == 1024
    assert a.zone.vm_stat[NR_FREE_CMA_PAGES] == 1024 - 3
    assert a.zone.vm_stat[NR_FREE_PAGES] == 1024 - 3
    # a CMA page freed to the pcp sits on the MOVABLE list with cached type CMA; a drain
    # puts it (and the other two) back on CMA lists and credits NR_FREE_CMA again.
    a.free(0, 1024, 0)
    assert a.zone.cached_mt[1024] == CMA
    assert a.zone.pcp_list(0, M) == [1024, 1025, 1026]
    a.drain(0)
    assert a.zone.vm_stat[NR_FREE_CMA_PAGES] == 1024
    assert a.zone.free_list(10, CMA) == [1024]


# -- steal thresholds (§5.8-§5.10) -----------------------------------------------------------


def test_movable_steals_only_from_order_4_up() -> None:
    # pageblock 0 U.  Free: U block B (o3 or o4) at 16 and U o0 at 100.  MOVABLE order 0,
    # batch 1.  Fallback finds B first (largest order).  o4: can_steal -> move_freepages_block
    # moves 16@o4 and 100@o0 to M lists (moved 17 < 256: no claim).  o3: no steal, 100 stays.
    # Either way expand pushes 17@o0 (the last remainder) to the head of the M o0 list.
    for order, steals in ((4, True), (3, False)):
        a = bare(pcp_high=6, pcp_batch=1)
        a.zone.pageblock_mt[0] = U
        put_free(a, 16, order, U)
        put_free(a, 100, 0, U)
        rec = a.alloc(0, 0, MOVABLE_GFP)
        assert rec.pfn == 16
        assert a.zone.pageblock_mt[0] == U
        assert a.zone.free_list(0, M) == ([17, 100] if steals else [17])
        assert (a.zone.free_list(0, U) == [100]) is not steals
        assert (rec.free_add[:2] == [(16, order, M), (100, 0, M)]) is steals


def test_unmovable_and_reclaimable_always_steal() -> None:
    # M o1 at 2 and M o0 at 100 in pageblock 0; UNMOVABLE order 1: fallback o1 -> can_steal
    # (UNMOVABLE) -> both move to U lists (3 pages, no claim); 2 is handed out.
    for gfp, mt in ((UNMOVABLE_GFP, U), (RECLAIMABLE_GFP, R)):
        a = bare()
        put_free(a, 2, 1, M)
        put_free(a, 100, 0, M)
        assert a.alloc(0, 1, gfp).pfn == 2
        assert nonempty_free_lists(a) == {(0, mt): [100]}
        assert a.zone.pageblock_mt[0] == M


def test_order_9_block_retypes_without_moving() -> None:
    # M o9 at 512 (pageblock 1) and M o0 at 100 (pageblock 0).  UNMOVABLE order 9: fallback
    # o9: 9 >= 9 -> change_pageblock_range retypes pageblock 1 only; 100 is not moved.
    a = bare()
    put_free(a, 512, 9, M)
    put_free(a, 100, 0, M)
    rec = a.alloc(0, 9, UNMOVABLE_GFP)
    assert rec.pfn == 512
    assert rec.retyped == [(1, M, U)]
    assert list(a.zone.pageblock_mt) == [M, U, M, M]
    assert nonempty_free_lists(a) == {(0, M): [100]}
    assert rec.free_del == [(512, 9, M)] and rec.free_add == []


def test_claim_threshold_counts_the_allocated_block() -> None:
    # (a) only M o8 at 0: moved = 256 (the block being allocated) >= 256 -> claim.
    a = bare()
    put_free(a, 0, 8, M)
    rec = a.alloc(0, 1, UNMOVABLE_GFP)
    assert rec.pfn == 0 and a.zone.pageblock_mt[0] == U
    # (b) M o7 at 0 and M o6 at 128: fallback takes o7 (largest); moved 128 + 64 = 192 < 256
    # -> both moved to U lists, pageblock stays M.  Remainders of 0@o7 down to o1 go to U:
    # o6 list gets 64 pushed in front of the moved 128 -> [64, 128].
    b = bare()
    put_free(b, 0, 7, M)
    put_free(b, 128, 6, M)
    rec = b.alloc(0, 1, UNMOVABLE_GFP)
    assert rec.pfn == 0 and b.zone.pageblock_mt[0] == M
    assert b.zone.free_list(6, U) == [64, 128]
    assert b.zone.free_list(6, M) == []


def test_partial_tail_pageblock_moves_nothing() -> None:
    # zone 0..1323: pageblock 2 (1024..1535) runs past the end.  Only M o8 at 1024 and M o2
    # at 1280 free.  UNMOVABLE order 0 (batch 1): fallback o8 -> steal -> end 1535 outside
    # -> 0 moved, no claim; 1280 stays M; remainders of 1024 go to U lists.
    a = bare(pages=1324, pcp_high=6, pcp_batch=1)
    put_free(a, 1024, 8, M)
    put_free(a, 1280, 2, M)
    rec = a.alloc(0, 0, UNMOVABLE_GFP)
    assert rec.pfn == 1024
    assert a.zone.pageblock_mt[2] == M
    assert a.zone.free_list(2, M) == [1280]
    assert a.zone.free_list(7, U) == [1152]
    assert rec.free_del[0] == (1024, 8, M)


def test_unaligned_zone_start_scans_from_the_page() -> None:
    # zone 100..2099: pageblock 0 (0..511) starts before the zone, so move_freepages_block
    # scans from the found page.  M o4 at 256 (found first), M o2 at 104 (below it: not
    # scanned, stays M) and M o2 at 300 (above: moved to U).  moved 16 + 4 < 256.
    a = bare(start_pfn=100, pages=2000, pcp_high=6, pcp_batch=1)
    put_free(a, 104, 2, M)
    put_free(a, 300, 2, M)
    put_free(a, 256, 4, M)
    assert a.alloc(0, 0, UNMOVABLE_GFP).pfn == 256
    assert a.zone.free_list(2, M) == [104]
    # 300 moved to the U o2 head first, then expand pushed 260@o2 in front of it
    assert a.zone.free_list(2, U) == [260, 300]
    assert a.zone.pageblock_mt[0] == M


# -- free_pcppages_bulk (§6.3) ------------------------------------------------------------------


def test_bulk_free_batch_free_carry_over() -> None:
    # U=[u1,u2,u3] R=[] M=[m1], count 4.  Search 1: R empty (bf 1), M (bf 2): m1; bf 1 left,
    # M empty -> break.  Search 2: U with bf 1+1 = 2: u3, u2.  Search 3: R, M empty, U: bf 3
    # -> bf := to_free = 1: u1.  Order m1, u3, u2, u1.
    a = bare()
    u1, u2, u3, m1 = 40, 42, 44, 46
    put_pcp(a, 0, U, [u1, u2, u3], U)
    put_pcp(a, 0, M, [m1], M)
    rec = new_rec()
    free_pcppages_bulk(a.zone, rec, 4, a.zone.pageset[0])
    assert [p for (_, _, p) in rec.pcp_del] == [m1, u3, u2, u1]


def test_bulk_free_each_page_returns_with_its_cached_type() -> None:
    # a page on the MOVABLE pcp list with cached type R goes back to the R free list.
    a = bare()
    put_pcp(a, 0, M, [40], R)
    free_pcppages_bulk(a.zone, new_rec(), 1, a.zone.pageset[0])
    assert nonempty_free_lists(a) == {(0, R): [40]}


def test_trim_at_high_frees_batch_from_tails() -> None:
    # high 6 batch 2.  An order-3 MOVABLE alloc takes 0 (common setup head); its 8 pages are
    # split for the test.  Hot frees 0..5 -> M [5,4,3,2,1,0]; the 6th makes count 6 >= 6 ->
    # trim 2: R empty (bf 1), M (bf 2): tail 0 (buddy 1 on pcp -> o0 head), then 1 (buddy 0
    # free -> 0@o1; its o1 buddy 2 on pcp; parent 0's o2 buddy 4 on pcp -> head).  count 4.
    a = common_setup(pcp_high=6, pcp_batch=2)
    assert a.alloc(0, 3, MOVABLE_GFP).pfn == 0
    for pfn in range(8):
        hand_out(a, pfn)
    recs = [a.free(0, pfn, 0) for pfn in range(6)]
    z = a.zone
    assert [r.pcp_del for r in recs[:5]] == [[]] * 5
    assert recs[5].pcp_del == [(0, M, 0), (0, M, 1)]
    assert z.pcp_list(0, M) == [5, 4, 3, 2]
    assert z.pageset[0].count == 4
    assert z.free_list(1, M) == [0]
    assert z.free_list(0, M) == []
    assert z.vm_stat[NR_FREE_PAGES] == 2048 - 8 + 2


# -- reserve pageblocks at boot (§8) ------------------------------------------------------------


def test_reserve_includes_partial_tail_pageblock_but_moves_nothing_there() -> None:
    # 1324 pages, reserve 3.  Boot frees 0@o10, 1024@o8, 1280@o5, 1312@o3, 1320@o2.
    # pb0 -> RESERVE, 0@o10 moves to RES; pb1 -> RESERVE, nothing to move (tail pages);
    # pb2 (partial) -> RESERVE, move_freepages_block returns 0: its blocks stay M.
    a = Allocator(config(pages=1324, reserve_pageblocks=3))
    assert list(a.zone.pageblock_mt) == [RES, RES, RES]
    assert nonempty_free_lists(a) == {
        (10, RES): [0], (8, M): [1024], (5, M): [1280], (3, M): [1312], (2, M): [1320],
    }


def test_reserve_walk_starts_at_first_aligned_pageblock() -> None:
    # zone 100..1099, reserve 1: first aligned pfn 512 -> pb1 becomes RESERVE and its 512@o9
    # moves; pb0 (partial head) keeps M.
    a = Allocator(config(start_pfn=100, pages=1000, reserve_pageblocks=1))
    assert list(a.zone.pageblock_mt) == [M, RES, M]
    assert a.zone.free_list(9, RES) == [512]


def test_grouping_off_partial_tail_pageblock_is_claimed_though_nothing_moved() -> None:
    # §5.9: claim when moved >= 256 OR grouping is off.  Zone 0..1323, grouping off, only M
    # o8 at 1024 (partial pb2).  Fallback o8 -> steal -> move_freepages_block returns 0 (end
    # 1535 outside the zone) -> claimed anyway: pb2 becomes UNMOVABLE.  (§11.6's "never
    # claimed" holds only with grouping on.)
    a = bare(pages=1324, mobility_grouping=False, pcp_high=6, pcp_batch=1)
    put_free(a, 1024, 8, M)
    put_free(a, 1280, 2, M)
    rec = a.alloc(0, 0, MOVABLE_GFP)
    assert rec.pfn == 1024
    assert rec.retyped == [(2, M, U)]
    assert a.zone.free_list(2, M) == [1280]


def test_nofail_above_order_1_warns_once_and_changes_nothing_else() -> None:
    a = common_setup()
    r1 = a.alloc(0, 2, ["GFP_KERNEL", "__GFP_NOFAIL"])
    r2 = a.alloc(0, 2, ["GFP_KERNEL", "__GFP_NOFAIL"])
    r3 = a.alloc(0, 1, ["GFP_KERNEL", "__GFP_NOFAIL"])
    assert len(r1.warnings) == 1 and "NOFAIL" in r1.warnings[0]
    assert r2.warnings == [] and r3.warnings == []
    # UNMOVABLE o2 from the o10 head 0 (E-style steal), then 4 (o2 remainder), then 8 (o3
    # split, o1 piece)
    assert (r1.pfn, r2.pfn, r3.pfn) == (0, 4, 8)
