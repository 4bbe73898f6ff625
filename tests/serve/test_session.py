"""The model behind the wire protocol: `ModelSession` and `rmqueue serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from rmqueue.oracle.session import ModelSession

SMALL = {"zone": {"pages": 4096}, "cpus": 2, "pcp": {"high": 6, "batch": 2}}


def hello(config: dict[str, Any] | None = None) -> ModelSession:
    s = ModelSession()
    answer = s.handle({"op": "hello", "protocol": 1, "config": config or SMALL})
    assert answer["ok"] is True, answer
    return s


def detail(s: ModelSession) -> dict[str, Any]:
    return s.handle({"op": "state", "detail": True})


def test_hello_claims_exact_semantics_and_echoes_resolved_defaults() -> None:
    s = ModelSession()
    answer = s.handle({"op": "hello", "protocol": 1, "config": {"zone": {"pages": 262144}}})
    assert answer["semantics"] == "linux-4.3"
    assert answer["observes"] == ["state"]
    assert answer["validates"] is True
    assert "batch" in answer["extensions"]
    cfg = answer["config"]
    # zone_batchsize(262144): 262144/1024 = 256 -> capped at 128 -> /4 = 32 ->
    # rounddown_pow2(32 + 16) - 1 = 31; high = 6 * 31 = 186 (semantics §7.1 table).
    assert cfg["pcp"] == {"high": 186, "batch": 31}
    # 1 GiB = 1048576 KiB; isqrt(16 * 1048576) = 4096 KiB -> 1024 pages min,
    # low = 1024 + 256, high = 1024 + 512.
    assert cfg["watermarks"] == {"min": 1024, "low": 1280, "high": 1536}
    # min(2, ceil(1024 / 512)) = 2 reserve pageblocks; 512 pageblocks >= 6: grouping on.
    assert cfg["reserve_pageblocks"] == 2
    assert cfg["mobility_grouping"] is True
    assert cfg["cpus"] == 2


def test_requests_before_hello_are_refused() -> None:
    s = ModelSession()
    assert "error" in s.handle({"op": "alloc", "cpu": 0, "order": 0})
    assert "error" in s.handle({"op": "state"})


def test_alloc_free_drain_round_trip_restores_free_pages() -> None:
    s = hello()
    before = detail(s)["counters"]["NR_FREE_PAGES"]
    got = s.handle({"op": "alloc", "cpu": 1, "order": 0, "gfp": ["GFP_KERNEL"]})
    assert isinstance(got["pfn"], int)
    assert s.handle({"op": "free", "cpu": 1, "pfn": got["pfn"], "order": 0}) == {"ok": True}
    assert s.handle({"op": "drain", "cpu": 1}) == {"ok": True}
    after = detail(s)
    assert after["counters"]["NR_FREE_PAGES"] == before
    assert after["pcp"] == []
    assert after["counters"]["PGALLOC"] == 1


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        ({"op": "alloc", "cpu": 2, "order": 0}, "cpu 2 is out of range"),
        ({"op": "alloc", "cpu": -1, "order": 0}, "out of range"),
        ({"op": "alloc", "cpu": 0, "order": 11}, "order 11 is out of range"),
        ({"op": "alloc", "cpu": 0, "order": 0, "gfp": ["GFP_BOGUS"]}, "unknown gfp flag"),
        (
            {"op": "alloc", "cpu": 0, "order": 0, "gfp": ["__GFP_MOVABLE", "__GFP_RECLAIMABLE"]},
            "both __GFP_MOVABLE and __GFP_RECLAIMABLE",
        ),
        ({"op": "alloc", "cpu": 0, "order": "0"}, "order must be an integer"),
        ({"op": "alloc", "cpu": 0, "order": 0, "gfp": "GFP_KERNEL"}, "list of gfp"),
        ({"op": "alloc", "order": 0}, "needs the field 'cpu'"),
        ({"op": "free", "cpu": 0, "pfn": 5, "order": 0}, "not an allocated block"),
        ({"op": "free", "cpu": 0, "pfn": 10**9, "order": 0}, "outside the zone"),
        ({"op": "free", "cpu": 0, "pfn": "x", "order": 0}, "pfn must be an integer"),
        ({"op": "drain", "cpu": 9}, "out of range"),
        ({"op": "frobnicate"}, "unknown op"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(request_: Any, needle: str) -> None:
    s = hello()
    live = s.handle({"op": "alloc", "cpu": 0, "order": 2, "gfp": ["GFP_KERNEL"]})["pfn"]
    s.handle({"op": "alloc", "cpu": 0, "order": 0, "gfp": ["GFP_KERNEL"]})
    before = detail(s)
    answer = s.handle(request_)
    assert set(answer) == {"error"}
    assert needle in answer["error"]
    assert detail(s) == before
    assert s.handle({"op": "free", "cpu": 0, "pfn": live, "order": 2}) == {"ok": True}


def test_free_with_another_order_is_refused_and_changes_nothing() -> None:
    s = hello()
    pfn = s.handle({"op": "alloc", "cpu": 0, "order": 3, "gfp": ["GFP_KERNEL"]})["pfn"]
    before = detail(s)
    answer = s.handle({"op": "free", "cpu": 0, "pfn": pfn, "order": 2})
    assert "allocated with order 3, not order 2" in answer["error"]
    assert detail(s) == before
    # A double free is refused the same way.
    assert s.handle({"op": "free", "cpu": 0, "pfn": pfn, "order": 3}) == {"ok": True}
    assert "not an allocated block" in s.handle(
        {"op": "free", "cpu": 0, "pfn": pfn, "order": 3}
    )["error"]


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"zone": {"pages": 0}}, "zone.pages must be at least 1"),
        ({"pageblock_order": 11}, "pageblock_order must be in 1..max_order-1"),
        ({"pcp": {"high": 0, "batch": 2}}, "pcp.batch must be <= max(pcp.high, 1)"),
        ({"zone": {"pages": 4096}, "cma_pageblocks": [1]}, "whole max-order blocks"),
        ({"cpus": "two"}, "cpus must be an integer"),
    ],
)
def test_invalid_configs_are_refused_by_hello(config: dict[str, Any], needle: str) -> None:
    s = ModelSession()
    answer = s.handle({"op": "hello", "protocol": 1, "config": config})
    assert needle in answer["error"]
    assert "error" in s.handle({"op": "state"})  # still no zone


def test_hello_refuses_other_protocol_versions() -> None:
    assert "protocol 1" in ModelSession().handle({"op": "hello", "protocol": 2})["error"]


def test_batch_answers_in_order_with_errors_in_place() -> None:
    s = hello()
    answer = s.handle(
        {
            "op": "batch",
            "requests": [
                {"op": "alloc", "cpu": 0, "order": 1, "gfp": ["GFP_KERNEL"]},
                {"op": "free", "cpu": 0, "pfn": 12345, "order": 0},
                {"op": "batch", "requests": []},
                {"op": "drain", "cpu": 0},
            ],
        }
    )
    first, second, third, fourth = answer["responses"]
    assert isinstance(first["pfn"], int)
    assert "error" in second
    assert "cannot nest" in third["error"]
    assert fourth == {"ok": True}


def test_state_detail_reports_pcp_sets_and_pageblocks() -> None:
    s = hello()
    s.handle({"op": "alloc", "cpu": 0, "order": 0, "gfp": ["GFP_HIGHUSER_MOVABLE"]})
    d = detail(s)
    # The refill fetched batch = 2 pages and one was handed out.
    assert d["pcp_sets"][0] == {"cpu": 0, "count": 1, "high": 6, "batch": 2}
    assert len(d["pageblocks"]) == 8
    assert d["numa"]["NUMA_HIT"] == 1 and d["numa"]["NUMA_LOCAL"] == 1
    plain = s.handle({"op": "state"})
    assert set(plain) == {"free_area", "pcp", "counters"}


def test_serve_subprocess_answers_line_by_line_and_survives_garbage() -> None:
    lines = [
        json.dumps({"op": "hello", "protocol": 1, "config": SMALL}),
        "this is not json",
        json.dumps({"op": "alloc", "cpu": 0, "order": 0, "gfp": ["GFP_KERNEL"]}),
        "",
        json.dumps({"op": "bye"}),
        json.dumps({"op": "state"}),  # after bye: never answered
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "rmqueue.oracle.cli", "serve"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(answers) == 4
    assert answers[0]["ok"] is True
    assert "not a JSON object" in answers[1]["error"]
    assert isinstance(answers[2]["pfn"], int)
    assert answers[3] == {"ok": True}


def test_serve_warns_on_unknown_config_keys_and_strict_refuses() -> None:
    hello_line = json.dumps({"op": "hello", "protocol": 1, "config": {"bogus": 1}}) + "\n"
    lax = subprocess.run(
        [sys.executable, "-m", "rmqueue.oracle.cli", "serve"],
        input=hello_line, capture_output=True, text=True, timeout=60,
    )
    assert json.loads(lax.stdout)["ok"] is True
    assert "unknown config key(s) bogus" in lax.stderr
    strict = subprocess.run(
        [sys.executable, "-m", "rmqueue.oracle.cli", "serve", "--strict-config"],
        input=hello_line, capture_output=True, text=True, timeout=60,
    )
    assert "unknown config key(s) bogus" in json.loads(strict.stdout)["error"]
