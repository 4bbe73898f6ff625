"""Item 7: a child that crashes, hangs, prints garbage, answers with wrong types or
out-of-range pfns, or dies mid-trace gets exit 3 and its trace so far is saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import misbehave_cmd

from rmqueue.oracle.cli import main

CASES = [
    ("crash", "child_exited"),
    ("hang", "timeout"),
    ("garbage", "not_json"),
    ("wrong_type", "wrong_type"),
    ("out_of_range", "pfn_out_of_range"),
    ("die", "child_exited"),
    ("partial", "timeout"),
]


@pytest.mark.parametrize(("mode", "name"), CASES, ids=[c[0] for c in CASES])
def test_misbehaving_child_exit_3_with_trace(tmp_path: Path, mode: str, name: str) -> None:
    after = 6  # hello + 5 answers, then misbehave
    code = main(["fuzz", "--impl", misbehave_cmd(mode, after), "--max-examples", "5",
                 "--steps", "30", "--timeout", "0.5", "--report", str(tmp_path),
                 "--database", "", "--seed", "3", "--quiet"])
    assert code == 3
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert trace["verdict"]["kind"] == "implementation-error"
    assert trace["verdict"]["name"] == name
    # the trace so far: the five answered operations and the one that got no good answer
    assert len(trace["ops"]) == after
    report = (tmp_path / "report.md").read_text()
    assert name in report
    if mode == "crash":
        assert "planted crash" in report  # the child's stderr is in the report


def test_hang_at_hello(tmp_path: Path) -> None:
    code = main(["fuzz", "--impl", misbehave_cmd("hang", 0), "--timeout", "0.5",
                 "--report", str(tmp_path), "--database", "", "--quiet"])
    assert code == 3
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert trace["ops"] == [] and trace["verdict"]["name"] == "timeout"


def test_control_the_same_child_behaving_passes(tmp_path: Path) -> None:
    code = main(["fuzz", "--impl", misbehave_cmd("ok", 0), "--max-examples", "5",
                 "--steps", "30", "--report", str(tmp_path), "--database", "", "--quiet"])
    assert code == 0
    assert not (tmp_path / "trace.json").exists()


def test_command_not_found_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    code = main(["fuzz", "--impl", "/nonexistent/allocator", "--report", str(tmp_path),
                 "--database", ""])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be started" in err[0]


def test_replay_of_an_implementation_error_gives_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fuzz", "--impl", misbehave_cmd("garbage", 4), "--timeout", "0.5",
                 "--report", str(tmp_path), "--database", "", "--quiet"]) == 3
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "trace.json"), "--json", "--timeout", "0.5"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["same_as_recorded"] and out["verdict"]["name"] == "not_json"
