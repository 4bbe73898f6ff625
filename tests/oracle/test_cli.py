"""rmqueue fuzz / replay end to end: exit codes 0/1/2, JUnit, JSON summary, replay verdicts
and --emit-pytest."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import buddy_cmd

from rmqueue.oracle.cli import main

FAST = ["--max-examples", "20", "--steps", "40", "--database", "", "--seed", "1", "--quiet"]


def test_model_through_serve_passes_exact(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fuzz", "--impl", "serve", "--report", str(tmp_path), "--json", *FAST[2:],
                 "--max-examples", "6"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["verdict"]["kind"] == "pass" and summary["steps"] > 50


def test_correct_example_passes_buddy_level(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    code = main(["fuzz", "--impl", buddy_cmd(), "--report", str(tmp_path),
                 "--junit", str(junit), *FAST])
    assert code == 0
    case = ET.parse(junit).getroot().find(".//testcase")
    assert case is not None and case.find("failure") is None


def test_bug_found_exit_1_junit_replay_and_emit(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "j.xml"
    code = main(["fuzz", "--impl", buddy_cmd("--bug", "lost_remainder"),
                 "--report", str(tmp_path), "--junit", str(junit), "--json", *FAST])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1
    name = summary["verdict"]["name"]
    failure = ET.parse(junit).getroot().find(".//testcase/failure")
    assert failure is not None and failure.get("type") == name
    trace = tmp_path / "trace.json"
    assert json.loads(trace.read_text())["format"] == "rmqueue-trace"
    assert "## Operations" in (tmp_path / "report.md").read_text()
    # replay: the same verdict, twice (deterministic)
    for _ in range(2):
        assert main(["replay", str(trace), "--json"]) == 1
        out = json.loads(capsys.readouterr().out)
        assert out["same_as_recorded"] and out["verdict"]["name"] == name
    # the trace on the fixed allocator passes
    assert main(["replay", str(trace), "--impl", buddy_cmd()]) == 0
    # --emit-pytest: a standalone test, failing on the buggy allocator, passing on the fixed
    test_file = tmp_path / "test_regression.py"
    assert main(["replay", str(trace), "--emit-pytest", str(test_file)]) == 1
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)]
    failing = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert failing.returncode == 1 and name in failing.stdout
    fixed = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path,
                           env={**__import__("os").environ, "RMQUEUE_IMPL": buddy_cmd()})
    assert fixed.returncode == 0, fixed.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["fuzz", "--impl", "serve", "--max-examples", "0"],
        ["fuzz", "--impl", "serve", "--timeout", "0"],
        ["fuzz", "--impl", "serve", "--config", "/nonexistent.json"],
        ["fuzz", "--impl", "python:no_such_module:X"],
        ["fuzz", "--impl", "'unbalanced"],
        ["replay", "/nonexistent/trace.json", "--impl", "serve"],
    ],
)
def test_usage_errors_exit_2_one_line(argv: list[str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--report", str(tmp_path)] if argv[0] == "fuzz" else argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rmqueue ")


def test_bad_config_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"zone": {"pages": 0}}))
    assert main(["fuzz", "--impl", "serve", "--config", str(cfg), "--report",
                 str(tmp_path)]) == 2
    assert "zone.pages" in capsys.readouterr().err


def test_malformed_trace_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"format": "rmqueue-trace", "version": 1, "config": {},
                               "ops": [{"op": "free", "block": 0, "cpu": 0}]}))
    assert main(["replay", str(bad), "--impl", "serve"]) == 2
    assert "op 0" in capsys.readouterr().err


def test_workers_share_the_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fuzz", "--impl", buddy_cmd("--bug", "lost_remainder"), "--workers", "2",
                 "--report", str(tmp_path), "--json", "--max-examples", "10", "--steps", "20",
                 "--database", str(tmp_path / "db"), "--seed", "1", "--quiet"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1 and summary["workers"] == 2
    assert json.loads((tmp_path / "trace.json").read_text())["verdict"]["kind"] == "violation"
    assert main(["replay", str(tmp_path / "trace.json")]) == 1


def test_redis_without_client_is_usage_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("hypothesis")
    try:
        import redis  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("redis is installed")
    assert main(["fuzz", "--impl", "serve", "--redis", "redis://localhost:1",
                 "--report", str(tmp_path)]) == 2
    assert "redis" in capsys.readouterr().err
