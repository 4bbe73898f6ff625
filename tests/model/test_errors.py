"""Every bad input is refused with a clear error and leaves the model's state unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from model_helpers import MOVABLE_GFP, common_setup, snap

from rmqueue.model import Allocator, ConfigError, RequestError, ZoneConfig

# -- invalid configs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"zone": {"pages": 0}}, r"zone\.pages must be at least 1"),
        ({"zone": {"pages": -5}}, r"zone\.pages must be at least 1"),
        ({"pageblock_order": 11},
         r"pageblock_order must be in 1\.\.max_order-1 = 1\.\.10 \(got 11\)"),
        ({"max_order": 5, "pageblock_order": 5}, r"pageblock_order .* \(got 5\)"),
        ({"pcp": {"high": 4, "batch": 5}}, r"pcp\.batch must be <= max\(pcp\.high, 1\) = 4"),
        ({"pcp": {"high": 0, "batch": 2}}, r"pcp\.batch must be <= max\(pcp\.high, 1\) = 1"),
        ({"pcp": {"batch": 0}}, r"pcp\.batch must be >= 1"),
        ({"zone": {"pages": 2048}, "cma_pageblocks": [1]}, r"cma_pageblocks must form whole"),
        ({"zone": {"pages": 2048}, "cma_pageblocks": [2]}, r"pageblock 2 .* not wholly listed"),
        ({"zone": {"pages": 1500}, "cma_pageblocks": [2]}, r"not wholly inside the zone"),
        ({"zone": {"pages": 2048}, "cma_pageblocks": [7]}, r"index 7 is outside"),
        ({"zone": {"pages": 2048}, "cma_pageblocks": [2, 2, 3]}, r"lists a pageblock twice"),
        ({"bogus": 1}, r"unknown config key\(s\) bogus"),
        ({"zone": {"size": 4}}, r"unknown config key\(s\) zone\.size"),
        ({"pcp": {"hi": 4}}, r"unknown config key\(s\) pcp\.hi"),
        ({"cpus": "2"}, r"cpus must be an integer \(got '2'\)"),
        ({"cpus": 0}, r"cpus must be in 1\.\.4096"),
        ({"cpus": True}, r"cpus must be an integer"),
        ({"zone": 5}, r"zone must be an object"),
        ({"zone": {"name": 3}}, r"zone\.name must be a string"),
        ({"zone": {"pages": 1.5}}, r"zone\.pages must be an integer"),
        ({"mobility_grouping": "yes"}, r"mobility_grouping must be true or false"),
        ({"cma_pageblocks": "0"}, r"cma_pageblocks must be a list"),
        ({"watermarks": {"min": 10, "low": 5}}, r"watermarks must satisfy"),
        ({"reserve_pageblocks": -1}, r"reserve_pageblocks must be >= 0"),
        ({"zone": {"start_pfn": -1}}, r"zone\.start_pfn must be >= 0"),
        ([1, 2], r"config must be a JSON object"),
    ],
)
def test_invalid_config(cfg: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ZoneConfig.from_json(cfg)


def test_invalid_config_direct_construction() -> None:
    with pytest.raises(ConfigError, match="zone.pages must be at least 1"):
        ZoneConfig(pages=0)
    with pytest.raises(ConfigError, match="pageblock_order"):
        ZoneConfig(pages=2048, pageblock_order=11)


def test_valid_cma_config_accepted() -> None:
    assert ZoneConfig.from_json({"zone": {"pages": 2048}, "cma_pageblocks": [2, 3]}).cma_pageblocks


# -- invalid requests: error AND state unchanged -----------------------------------------------


def _prepared() -> tuple[Allocator, int, int]:
    """A zone with an order-0 page (on the pcp's side) and an order-2 block in use."""
    a = common_setup(cpus=2)
    p0 = a.alloc(0, 0, MOVABLE_GFP).pfn
    p2 = a.alloc(1, 2, MOVABLE_GFP).pfn
    assert p0 is not None and p2 is not None
    return a, p0, p2


BAD_REQUESTS: list[tuple[str, str, Any]] = [
    ("unknown gfp", "unknown gfp flag 'GFP_NOPE'", lambda a, p0, p2: a.alloc(0, 0, ["GFP_NOPE"])),
    ("gfp not strings", "gfp flags must be strings",
     lambda a, p0, p2: a.alloc(0, 0, [3])),
    ("gfp None", "gfp must be a list of Linux 4.3 gfp flag names",
     lambda a, p0, p2: a.alloc(0, 0, None)),
    ("gfp bool", "gfp must be a list", lambda a, p0, p2: a.alloc(0, 0, True)),
    ("gfp negative mask", "a gfp mask must be >= 0", lambda a, p0, p2: a.alloc(0, 0, -1)),
    ("gfp spelt as letters", "unknown gfp flag 'G'",
     lambda a, p0, p2: a.alloc(0, 0, list("GFP_KERNEL"))),
    ("both mobility bits", "both __GFP_MOVABLE and __GFP_RECLAIMABLE",
     lambda a, p0, p2: a.alloc(0, 0, ["__GFP_MOVABLE", "__GFP_RECLAIMABLE"])),
    ("alloc cpu out of range", "cpu 2 is out of range", lambda a, p0, p2: a.alloc(2, 0)),
    ("alloc cpu negative", "cpu -1 is out of range", lambda a, p0, p2: a.alloc(-1, 0)),
    ("alloc cpu not int", "cpu must be an integer", lambda a, p0, p2: a.alloc("0", 0)),
    ("alloc order too big", "order 11 is out of range", lambda a, p0, p2: a.alloc(0, 11)),
    ("alloc order negative", "order -1 is out of range", lambda a, p0, p2: a.alloc(0, -1)),
    ("alloc order bool", "order must be an integer", lambda a, p0, p2: a.alloc(0, True)),
    ("free cpu out of range", "cpu 5 is out of range", lambda a, p0, p2: a.free(5, p0, 0)),
    ("free not allocated", "pfn 1500 is not an allocated block",
     lambda a, p0, p2: a.free(0, 1500, 0)),
    ("free pcp page", "is not an allocated block", lambda a, p0, p2: a.free(0, p0 + 1, 0)),
    ("free inside a block", "is not an allocated block", lambda a, p0, p2: a.free(0, p2 + 1, 0)),
    ("free wrong order", "was allocated with order 2, not order 0",
     lambda a, p0, p2: a.free(0, p2, 0)),
    ("free wrong order 2", "was allocated with order 0, not order 1",
     lambda a, p0, p2: a.free(0, p0, 1)),
    ("free outside zone", "pfn 4096 is outside the zone", lambda a, p0, p2: a.free(0, 4096, 0)),
    ("free negative pfn", "pfn -1 is outside the zone", lambda a, p0, p2: a.free(0, -1, 0)),
    ("free order too big", "order 11 is out of range", lambda a, p0, p2: a.free(0, p0, 11)),
    ("free pfn not int", "pfn must be an integer", lambda a, p0, p2: a.free(0, "3", 0)),
    ("free cold not bool", "cold must be true or false",
     lambda a, p0, p2: a.free(0, p0, 0, cold=1)),
    ("drain cpu out of range", "cpu 2 is out of range", lambda a, p0, p2: a.drain(2)),
]


@pytest.mark.parametrize(("what", "match", "call"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_refused_and_state_unchanged(what: str, match: str, call: Any) -> None:
    a, p0, p2 = _prepared()
    before = snap(a)
    held = a.allocated_blocks()
    with pytest.raises(RequestError, match=match):
        call(a, p0, p2)
    assert snap(a) == before, what
    assert a.allocated_blocks() == held


def test_double_free_refused() -> None:
    a, p0, p2 = _prepared()
    a.free(1, p2, 2)
    before = snap(a)
    with pytest.raises(RequestError, match=f"pfn {p2} is not an allocated block"):
        a.free(1, p2, 2)
    assert snap(a) == before


def test_gfp_forms_accepted() -> None:
    # a single name, a tuple, a generator and a raw mask all mean the same request
    a = common_setup()
    assert a.alloc(0, 1, "GFP_KERNEL").migratetype == 0
    assert a.alloc(0, 1, ("GFP_HIGHUSER_MOVABLE",)).migratetype == 2
    assert a.alloc(0, 1, (n for n in ["GFP_TEMPORARY"])).migratetype == 1
    assert a.alloc(0, 1, (n for n in ["GFP_TEMPORARY"])).migratetype == 1
    assert a.alloc(0, 1, 0x08).migratetype == 2
