"""``rmqueue simulate`` through the CLI entry point, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rmqueue.model.workload import WORKLOADS
from rmqueue.oracle.cli import main

SMALL = ["--pages", "4096", "--ops", "1500", "-q"]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["simulate", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object, one line
    result: dict[str, Any] = json.loads(out)
    return result


def assert_bad(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("rmqueue simulate: error: ")
    assert match in err
    assert "Traceback" not in err


def test_text_output_has_proc_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "/proc/buddyinfo:" in out and "Node 0, zone   Normal" in out
    assert "Free pages count per migrate type at order" in out
    assert "Number of blocks type" in out
    assert "per-CPU pages:" in out
    for name in ("NR_FREE_PAGES", "NR_FREE_CMA_PAGES", "NR_ALLOC_BATCH", "PGALLOC", "PGFREE"):
        assert name in out


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_every_workload_runs_and_conserves_pages(
    capsys: pytest.CaptureFixture[str], workload: str
) -> None:
    r = run_json(capsys, workload, *SMALL)
    assert r["workload"] == workload and r["ops"] == 1500
    # free pages on the buddy lists + pages on pcp lists + pages in use = the zone
    free = sum(
        n << order
        for name, counts in r["pagetypeinfo"]["free_blocks"].items()
        if name != "Isolate"
        for order, n in enumerate(counts)
    )
    assert free == r["counters"]["NR_FREE_PAGES"]
    on_pcp = sum(p["count"] for p in r["pcp"])
    assert free + on_pcp + r["summary"]["pages_in_use"] == 4096
    assert r["buddyinfo"] == [
        sum(counts[o] for counts in r["pagetypeinfo"]["free_blocks"].values())
        for o in range(11)
    ]


def test_same_seed_same_result(capsys: pytest.CaptureFixture[str]) -> None:
    a = run_json(capsys, "mixed", *SMALL, "--seed", "5")
    b = run_json(capsys, "mixed", *SMALL, "--seed", "5")
    c = run_json(capsys, "mixed", *SMALL, "--seed", "6")
    for r in (a, b, c):
        del r["elapsed_s"]
    assert a == b
    assert a != c


def test_default_zone_is_one_gib_two_cpus(capsys: pytest.CaptureFixture[str]) -> None:
    r = run_json(capsys, "pcp-churn", "--ops", "200", "-q")
    cfg = r["config"]
    assert cfg["zone"]["pages"] == 262144 and cfg["cpus"] == 2
    assert cfg["pcp"] == {"high": 186, "batch": 31}
    assert cfg["watermarks"] == {"min": 1024, "low": 1280, "high": 1536}
    assert cfg["reserve_pageblocks"] == 2 and cfg["mobility_grouping"] is True


def test_cma_workload_adds_cma_pageblocks(capsys: pytest.CaptureFixture[str]) -> None:
    # 8192 pages = 8 max-order blocks; the last eighth is block 7 = pageblocks 14 and 15
    r = run_json(capsys, "cma", "--pages", "8192", "--ops", "100", "-q")
    assert r["config"]["cma_pageblocks"] == [14, 15]
    assert r["pagetypeinfo"]["pageblocks"]["CMA"] == 2


def test_config_file_and_overrides(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "zone.json"
    f.write_text(json.dumps({"zone": {"pages": 3000, "start_pfn": 100}, "cpus": 1}))
    r = run_json(capsys, "random", "--config", str(f), "--ops", "300", "-q")
    assert r["config"]["zone"] == {"name": "Normal", "start_pfn": 100, "pages": 3000}
    assert r["config"]["cpus"] == 1
    r = run_json(capsys, "random", "--config", str(f), "--cpus", "3", "--pages", "5000",
                 "--ops", "300", "-q")
    assert r["config"]["cpus"] == 3 and r["config"]["zone"]["pages"] == 5000


def test_list_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in WORKLOADS)
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "rmqueue simulate pcp-churn" in out


def test_bad_workload(capsys: pytest.CaptureFixture[str]) -> None:
    assert_bad(capsys, ["nosuch", "-q"], "unknown workload 'nosuch'")


def test_unreadable_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert_bad(capsys, ["--config", str(tmp_path / "missing.json")], "cannot read config file")
    assert_bad(capsys, ["--config", str(tmp_path)], "cannot read config file")


def test_invalid_json_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text('{"zone": {"pages": 4096},}')
    assert_bad(capsys, ["--config", str(f)], "is not valid JSON")
    f.write_bytes(b"\xff\xfe{}")
    assert_bad(capsys, ["--config", str(f)], "is not UTF-8 text")
    f.write_text("[1, 2]")
    assert_bad(capsys, ["--config", str(f)], "must hold one JSON object")


def test_bad_config_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "zone.json"
    f.write_text(json.dumps({"zone": {"pages": 4096}, "pcp": {"high": 2, "batch": 9}}))
    assert_bad(capsys, ["--config", str(f)], "pcp.batch must be <= max(pcp.high, 1)")
    f.write_text(json.dumps({"zone": {"pages": 4096}, "colour": "blue"}))
    assert_bad(capsys, ["--config", str(f)], "unknown config key(s) colour")
    assert_bad(capsys, ["--cpus", "0", "-q"], "cpus must be in 1..4096")
    assert_bad(capsys, ["--pages", "0", "-q"], "zone.pages must be at least 1")
    assert_bad(capsys, ["--ops", "-1", "-q"], "--ops must be >= 0")
