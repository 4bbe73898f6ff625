"""Boot sequence (protocol.md), mobility grouping off, accounting, defaults and gfp names."""

from __future__ import annotations

import pytest
from model_helpers import (
    MOVABLE_GFP,
    RES,
    UNMOVABLE_GFP,
    M,
    U,
    bare,
    config,
    nonempty_free_lists,
    put_free,
)

from rmqueue.model import Allocator, RequestError, ZoneConfig
from rmqueue.model.buddy import INT_OPS, can_steal_fallback, claims_pageblock
from rmqueue.model.config import default_pcp, zone_batchsize
from rmqueue.model.snapshot import state_json
from rmqueue.model.types import Gfp, gfpflags_to_migratetype, parse_gfp
from rmqueue.model.vmstat import (
    NR_ALLOC_BATCH,
    NR_FREE_CMA_PAGES,
    NR_FREE_PAGES,
    PGALLOC,
    PGFREE,
)

# -- boot ---------------------------------------------------------------------------------------


def test_boot_unaligned_start() -> None:
    # zone 100..1099.  Largest aligned blocks in pfn order: 100@o2, 104@o3, 112@o4, 128@o7,
    # 256@o8, 512@o9, 1024@o6, 1088@o3, 1096@o2 (= 1000 pages).  No merges (every buddy is
    # outside the zone or not yet free).  Tail tests: all head except 1096@o2, whose parent
    # 1096's o3 buddy 1088 is a free o3 head -> tail: o2 [100, 1096]; o3 [1088, 104].
    a = Allocator(config(start_pfn=100, pages=1000))
    z = a.zone
    assert nonempty_free_lists(a) == {
        (2, M): [100, 1096], (3, M): [1088, 104], (4, M): [112], (6, M): [1024],
        (7, M): [128], (8, M): [256], (9, M): [512],
    }
    assert [fa.nr_free for fa in z.free_area] == [0, 0, 2, 2, 1, 0, 1, 1, 1, 1, 0]
    assert list(z.pageblock_mt) == [M, M, M]
    assert z.vm_stat[NR_FREE_PAGES] == 1000
    assert z.vm_stat[PGFREE] == 1000
    assert z.vm_stat[PGALLOC] == 0


def test_boot_size_not_a_multiple_of_a_pageblock() -> None:
    # 1324 pages: 0@o10, 1024@o8, 1280@o5, 1312@o3, 1320@o2; 3 pageblocks, the last partial.
    a = Allocator(config(pages=1324))
    assert nonempty_free_lists(a) == {
        (10, M): [0], (8, M): [1024], (5, M): [1280], (3, M): [1312], (2, M): [1320],
    }
    assert len(a.zone.pageblock_mt) == 3
    assert a.zone.vm_stat[NR_FREE_PAGES] == 1324


def test_boot_order10_list_is_reverse_pfn_order() -> None:
    # each boot free pushes its order-10 block at the head: [1024, 0] (hence common_setup)
    a = Allocator(config())
    assert nonempty_free_lists(a) == {(10, M): [1024, 0]}
    assert a.zone.vm_stat[NR_ALLOC_BATCH] == 24 - 20


def test_boot_default_reserve_two_pageblocks_of_an_order10_block() -> None:
    # reserve 2 on [1024, 0]: pb0 -> RES moves 0@o10; pb1 -> RES moves nothing.
    a = Allocator(config(reserve_pageblocks=2))
    assert list(a.zone.pageblock_mt) == [RES, RES, M, M]
    assert nonempty_free_lists(a) == {(10, M): [1024], (10, RES): [0]}


# -- mobility grouping off ------------------------------------------------------------------


def test_grouping_off_every_request_is_unmovable_and_pageblocks_remap() -> None:
    # 2048 pages, grouping off.  A MOVABLE gfp maps to UNMOVABLE: pcp U list.  Refill:
    # fallback o10 M head 1024 -> change_pageblock_range sets pb2, pb3 to U; 1024, 1025, 1026.
    a = Allocator(config(mobility_grouping=False))
    rec = a.alloc(0, 0, MOVABLE_GFP)
    assert rec.migratetype == U
    assert rec.pfn == 1024
    assert a.zone.pcp_list(0, U) == [1025, 1026]
    assert list(a.zone.pageblock_mt) == [M, M, U, U]


def test_grouping_off_always_steals_and_claims() -> None:
    # Only M o0 at 100 (pb0 M).  Request (UNMOVABLE) -> fallback o0 -> steal: moved 1 < 256,
    # but grouping is off -> claim: pb0 becomes U.
    a = bare(mobility_grouping=False, pcp_high=6, pcp_batch=1)
    put_free(a, 100, 0, M)
    assert a.alloc(0, 0, MOVABLE_GFP).pfn == 100
    assert a.zone.pageblock_mt[0] == U
    assert can_steal_fallback(INT_OPS, 0, M, 9, True)
    assert not can_steal_fallback(INT_OPS, 3, M, 9, False)
    assert claims_pageblock(INT_OPS, 1, 9, True)
    assert not claims_pageblock(INT_OPS, 255, 9, False)
    assert claims_pageblock(INT_OPS, 256, 9, False)


def test_grouping_default_follows_zone_size() -> None:
    # disabled below pageblock_nr_pages * MIGRATE_TYPES = 512 * 6 = 3072 pages
    assert not ZoneConfig.kernel_default(3071).mobility_grouping
    assert ZoneConfig.kernel_default(3072).mobility_grouping


# -- accounting -------------------------------------------------------------------------------


def test_alloc_batch_and_fair_depleted() -> None:
    # NR_ALLOC_BATCH starts at high - low = 4.  o1 -> 2; o1 -> 0 (<= 0: set the flag, once);
    # o0 -> -1 (flag already set).  PGALLOC 2 + 2 + 1.  Order>0 allocations charge NR_FREE.
    a = common_cfg_allocator()
    r1 = a.alloc(0, 1, UNMOVABLE_GFP)
    assert a.zone.vm_stat[NR_ALLOC_BATCH] == 2 and not r1.fair_depleted_set
    assert not a.zone.fair_depleted
    r2 = a.alloc(0, 1, UNMOVABLE_GFP)
    assert a.zone.vm_stat[NR_ALLOC_BATCH] == 0 and r2.fair_depleted_set
    r3 = a.alloc(0, 0, UNMOVABLE_GFP)
    assert a.zone.vm_stat[NR_ALLOC_BATCH] == -1 and not r3.fair_depleted_set
    assert a.zone.fair_depleted
    assert a.zone.vm_stat[PGALLOC] == 5
    # 2 + 2 (order 1) + 3 (order-0 refill of batch 3)
    assert a.zone.vm_stat[NR_FREE_PAGES] == 2048 - 7
    counters = state_json(a.zone)["counters"]
    assert counters == {
        "NR_FREE_PAGES": 2041, "NR_FREE_CMA_PAGES": 0, "NR_ALLOC_BATCH": -1,
        "PGALLOC": 5, "PGFREE": 2048,
    }
    assert state_json(a.zone, detail=True)["flags"] == {"ZONE_FAIR_DEPLETED": True}


def common_cfg_allocator() -> Allocator:
    return Allocator(config())


def test_order_gt0_free_accounting() -> None:
    # free of an order-2 block: PGFREE +4, NR_FREE +4 (it goes straight to the buddy lists)
    a = common_cfg_allocator()
    pfn = a.alloc(0, 2, MOVABLE_GFP).pfn
    assert pfn == 1024
    before = a.zone.vm_stat[PGFREE], a.zone.vm_stat[NR_FREE_PAGES]
    rec = a.free(0, pfn, 2)
    assert a.zone.vm_stat[PGFREE] == before[0] + 4
    assert a.zone.vm_stat[NR_FREE_PAGES] == before[1] + 4
    assert rec.pcp_add == []
    assert nonempty_free_lists(a) == {(10, M): [1024, 0]}
    assert a.zone.vm_stat[NR_FREE_CMA_PAGES] == 0


# -- kernel-computed defaults (§7.1) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("managed", "high", "batch"),
    [
        (1024, 0, 1), (8191, 0, 1),          # formula gives 0 -> stored batch 1, high 0
        (8192, 6, 1), (12287, 6, 1),         # 8//4 = 2 -> rounddown_pow2(3) - 1 = 1
        (12288, 18, 3), (24575, 18, 3),      # 3 -> pow2(4) - 1 = 3; 5 -> pow2(7) - 1 = 3
        (24576, 42, 7), (45055, 42, 7),      # 6 -> pow2(9) - 1 = 7; 10 -> pow2(15) - 1 = 7
        (45056, 90, 15), (90111, 90, 15),    # 11 -> pow2(16) - 1 = 15; 21 -> pow2(31) - 1
        (90112, 186, 31), (1 << 22, 186, 31),  # 22 -> pow2(33) - 1 = 31; capped 128//4 = 32
    ],
)
def test_zone_batchsize_table(managed: int, high: int, batch: int) -> None:
    assert default_pcp(managed) == (high, batch)
    assert ZoneConfig.kernel_default(managed).pcp_high == high
    assert ZoneConfig.kernel_default(managed).pcp_batch == batch


def test_zone_batchsize_raw_value_for_small_zone_is_zero() -> None:
    assert zone_batchsize(4096) == 0


def test_kernel_default_one_gib_zone() -> None:
    # 262144 pages = 1 GiB: min_free_kbytes = isqrt(1048576 * 16) = 4096 -> min 1024 pages,
    # low 1280, high 1536; reserve min(2, roundup(1024, 512) / 512) = 2; grouping on.
    c = ZoneConfig.kernel_default(262144)
    assert (c.wmark_min, c.wmark_low, c.wmark_high) == (1024, 1280, 1536)
    assert c.reserve_pageblocks == 2
    assert c.mobility_grouping
    assert (c.pcp_high, c.pcp_batch) == (186, 31)


def test_kernel_default_small_zone() -> None:
    # 2048 pages: isqrt(8192 * 16) = 362 KiB -> min 90, low 112, high 135; reserve 1.
    c = ZoneConfig.kernel_default(2048)
    assert (c.wmark_min, c.wmark_low, c.wmark_high) == (90, 112, 135)
    assert c.reserve_pageblocks == 1 and not c.mobility_grouping
    assert Allocator(c).zone.vm_stat[NR_ALLOC_BATCH] == 135 - 112


# -- gfp names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "value", "mt"),
    [
        (["GFP_KERNEL"], 0xD0, U),                    # WAIT|IO|FS
        (["GFP_HIGHUSER_MOVABLE"], 0x200DA, M),       # KERNEL|HARDWALL|HIGHMEM|MOVABLE
        (["GFP_TEMPORARY"], 0x800D0, 1),              # KERNEL|RECLAIMABLE
        (["GFP_ATOMIC"], 0x20, U),                    # 4.3: __GFP_HIGH only
        (["GFP_NOFS"], 0x50, U),
        (["GFP_NOWAIT"], 0, U),
        (["GFP_KERNEL", "__GFP_COLD"], 0x1D0, U),
        (["__GFP_MOVABLE", "__GFP_COLD"], 0x108, M),
        ([], 0, U),
    ],
)
def test_gfp_names(names: list[str], value: int, mt: int) -> None:
    mask = parse_gfp(names)
    assert int(mask) == value
    assert gfpflags_to_migratetype(mask, True) == mt
    assert gfpflags_to_migratetype(mask, False) == U


def test_gfp_cold_flag_selects_cold_path() -> None:
    a = common_cfg_allocator()
    assert a.alloc(0, 0, ["GFP_KERNEL", "__GFP_COLD"]).cold
    assert not a.alloc(0, 0, ["GFP_KERNEL"]).cold
    assert bool(parse_gfp(["__GFP_COLD"]) & Gfp.COLD)


def test_unknown_gfp_name() -> None:
    with pytest.raises(RequestError, match="unknown gfp flag 'GFP_BOGUS'"):
        parse_gfp(["GFP_BOGUS"])
