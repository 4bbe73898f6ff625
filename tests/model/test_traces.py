"""The worked traces A-F of semantics note §12, expected values worked out by hand."""

from __future__ import annotations

from model_helpers import (
    MOVABLE_GFP,
    UNMOVABLE_GFP,
    M,
    U,
    bare,
    common_setup,
    new_rec,
    nonempty_free_lists,
    put_free,
    put_pcp,
)

from rmqueue.model.free import free_one_page_locked, free_pcppages_bulk
from rmqueue.model.vmstat import NR_ALLOC_BATCH, NR_FREE_PAGES, PGALLOC, PGFREE


def test_trace_a_hot_order0_movable() -> None:
    # pcp MOVABLE empty -> rmqueue_bulk(count=3).  1st __rmqueue: smallest MOVABLE is 0@o10
    # (head); expand pushes 512@9 256@8 ... 2@1 1@0, returns 0.  2nd: o0 head is 1 -> 1.
    # 3rd: o0 empty, o1 head 2, expand pushes 3@o0, returns 2.  Hot cursor: [0, 1, 2].
    # Hand out first = 0 -> pcp [1, 2], count 2.  NR_FREE 2048-3, PGALLOC 1, batch 4-1.
    a = common_setup()
    rec = a.alloc(0, 0, MOVABLE_GFP)
    z = a.zone
    assert rec.pfn == 0
    assert z.pcp_list(0, M) == [1, 2]
    assert z.pageset[0].count == 2
    assert nonempty_free_lists(a) == {
        (10, M): [1024], (9, M): [512], (8, M): [256], (7, M): [128], (6, M): [64],
        (5, M): [32], (4, M): [16], (3, M): [8], (2, M): [4], (0, M): [3],
    }
    assert [fa.nr_free for fa in z.free_area] == [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert z.vm_stat[NR_FREE_PAGES] == 2045
    assert z.vm_stat[PGALLOC] == 1
    assert z.vm_stat[NR_ALLOC_BATCH] == (24 - 20) - 1
    # the record: three blocks off the zone lists, three pages onto pcp, one off pcp
    assert rec.free_del == [(0, 10, M), (1, 0, M), (2, 1, M)]
    assert rec.pcp_add == [(0, M, 0), (0, M, 1), (0, M, 2)]
    assert rec.pcp_del == [(0, M, 0)]
    assert rec.vm_delta[NR_FREE_PAGES] == -3
    assert rec.pcp_count_delta == 2
    assert z.cached_mt[0] == M


def test_trace_b_free_hot_after_a() -> None:
    # pfn 0 pushed at the pcp head -> [0, 1, 2], count 3 < high 18: no trim.
    # NR_FREE_PAGES unchanged (2045); PGFREE 2048 (boot) + 1.
    a = common_setup()
    a.alloc(0, 0, MOVABLE_GFP)
    rec = a.free(0, 0, 0)
    z = a.zone
    assert z.pcp_list(0, M) == [0, 1, 2]
    assert z.pageset[0].count == 3
    assert z.vm_stat[NR_FREE_PAGES] == 2045
    assert z.vm_stat[PGFREE] == 2048 + 1
    assert rec.free_add == [] and rec.free_del == []
    assert z.cached_mt[0] == M


def test_trace_c_trim_order() -> None:
    # U=[a,b] R=[] M=[c,d,e], trim 3.  Search: R empty (bf 1), M (bf 2): frees e, d.
    # Next search: U (bf 1): frees b; to_free 0.  Order e, d, b.
    # The pages are 1024..1028 of an order-3 block allocated from 1024 (boot list head),
    # whose remainders are 1032@3, 1040@4 ... 1536@9.  e=1028: buddy 1029 in user hands ->
    # o0; tail test parent 1028, its o1 buddy 1030 not free -> head.  d=1027: buddy 1026 on
    # pcp -> o0 head (parent 1026's o1 buddy 1024 not free).  b=1025 cached U: buddy 1024
    # on pcp -> o0 U list.
    a2 = bare()
    put_free(a2, 1032, 3, M)
    pa, pb, pc, pd, pe = 1024, 1025, 1026, 1027, 1028
    put_pcp(a2, 0, U, [pa, pb], U)
    put_pcp(a2, 0, M, [pc, pd, pe], M)
    z = a2.zone
    rec = new_rec()
    free_pcppages_bulk(z, rec, 3, z.pageset[0])
    assert [pfn for (_, _, pfn) in rec.pcp_del] == [pe, pd, pb]
    assert rec.pcp_del == [(0, M, pe), (0, M, pd), (0, U, pb)]
    assert z.pcp_list(0, U) == [pa]
    assert z.pcp_list(0, M) == [pc]
    assert z.free_list(0, M) == [pd, pe]
    assert z.free_list(0, U) == [pb]
    assert rec.vm_delta[NR_FREE_PAGES] == 3


def test_trace_d_tail_insert_heuristic() -> None:
    # 8 freed at order 0, 9 in use: no merge.  Parent of 8 is 8; its order-1 buddy is 10.
    # (a) 10 not free -> head of o0;  (b) 10..11 free at o1 -> tail of o0.
    # pfn 100 is freed first (buddy 101 in use; parent 100's o1 buddy 102 in use -> head),
    # so the list shows which end 8 went to.
    for ten_free, expected in ((False, [8, 100]), (True, [100, 8])):
        a = bare()
        z = a.zone
        if ten_free:
            put_free(a, 10, 1, M)
        free_one_page_locked(z, new_rec(), 100, 0, M)
        assert z.free_list(0, M) == [100]
        free_one_page_locked(z, new_rec(), 8, 0, M)
        assert z.free_list(0, M) == expected


def test_trace_e_steal_unmovable_from_order10() -> None:
    # UNMOVABLE order 0, pcp batch 3.  1st __rmqueue: no U lists, no CMA step (not
    # MOVABLE); fallback o10: R empty, M head = 0.  can_steal (UNMOVABLE).  10 >= 9 ->
    # change_pageblock_range retypes pageblocks 0, 1 to U; nothing moves.  expand -> U
    # lists 512@9 ... 1@0; returns 0 cached U.  2nd: U o0 -> 1.  3rd: U o1 2, 3@o0 -> 2.
    a = common_setup()
    rec = a.alloc(0, 0, UNMOVABLE_GFP)
    z = a.zone
    assert rec.pfn == 0
    assert z.cached_mt[0] == U
    assert list(z.pageblock_mt) == [U, U, M, M]
    assert rec.retyped == [(0, M, U), (1, M, U)]
    assert z.pcp_list(0, U) == [1, 2]
    assert nonempty_free_lists(a) == {
        (10, M): [1024], (9, U): [512], (8, U): [256], (7, U): [128], (6, U): [64],
        (5, U): [32], (4, U): [16], (3, U): [8], (2, U): [4], (0, U): [3],
    }
    # no move_freepages: the only free_del of the order-10 block is the unlink itself
    assert rec.free_del[0] == (0, 10, M)
    assert all(o < 10 for (_, o, _) in rec.free_add)


def test_trace_f_movable_from_small_unmovable_block() -> None:
    # Only free block: X=64 @o3 on the U list, pageblock 0 U.  MOVABLE order 0, batch 3.
    # own lists empty, CMA empty; fallback scans o10..o4 (nr_free 0), o3: R empty, U has X.
    # can_steal(3, MOVABLE) = 3 >= 9 no, 3 >= 4 no -> False: no move, no retype.
    # expand to MOVABLE: 68@o2, 66@o1, 65@o0; returns 64 cached M.  2nd: 65.  3rd: 66 (67@o0).
    a = bare()
    z = a.zone
    z.pageblock_mt[0] = U
    put_free(a, 64, 3, U)
    rec = a.alloc(0, 0, MOVABLE_GFP)
    assert rec.pfn == 64
    assert z.cached_mt[64] == M
    assert z.pageblock_mt[0] == U
    assert rec.retyped == []
    assert z.pcp_list(0, M) == [65, 66]
    assert nonempty_free_lists(a) == {(2, M): [68], (0, M): [67]}
    assert z.alloc_order[64] == 0
