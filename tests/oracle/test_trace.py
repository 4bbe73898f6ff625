"""The trace format: versioned, validated on read, round-trips, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import ConfigError
from rmqueue.oracle.trace import FORMAT, VERSION, Trace, Verdict

CFG = ZoneConfig.from_json({"zone": {"pages": 64}, "max_order": 4, "pageblock_order": 2})
OPS = [{"op": "alloc", "cpu": 0, "order": 1, "gfp": ["GFP_KERNEL"]},
       {"op": "free", "block": 0, "cpu": 1, "cold": True},
       {"op": "drain", "cpu": 0},
       {"op": "bad", "kind": "double_free", "block": 0}]


def test_round_trip(tmp_path: Path) -> None:
    t = Trace(CFG, OPS, Verdict("violation", "no_overlap", "msg", 3, {"pfn": 4}), impl="x")
    path = t.write(tmp_path / "sub" / "t.json")
    obj = json.loads(path.read_text())
    assert obj["format"] == FORMAT and obj["version"] == VERSION
    back = Trace.read(path)
    assert back.ops == OPS and back.config == CFG and back.impl == "x"
    assert back.verdict is not None and back.verdict.same_as(t.verdict)  # type: ignore[arg-type]
    assert back.verdict.exit_code == 1
    assert not list(path.parent.glob(".trace-*"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version"),
        ({"format": "hypothesis"}, "not an rmqueue trace"),
        ({"ops": [{"op": "alloc", "cpu": 9, "order": 0, "gfp": []}]}, "cpu"),
        ({"ops": [{"op": "alloc", "cpu": 0, "order": 4, "gfp": []}]}, "order"),
        ({"ops": [{"op": "free", "block": 0, "cpu": 0}]}, "block"),
        ({"ops": [{"op": "bad", "kind": "nonsense"}]}, "bad kind"),
        ({"ops": [{"op": "steal"}]}, "op must be"),
        ({"config": {"zone": {"pages": -1}}}, "zone.pages"),
    ],
)
def test_malformed_traces_are_config_errors(change: dict[str, object], message: str) -> None:
    obj = {**Trace(CFG, OPS).to_json(), **change}
    with pytest.raises(ConfigError, match=message):
        Trace.from_json(obj)


def test_verdict_exit_codes() -> None:
    assert Verdict("pass").exit_code == 0
    assert Verdict("divergence", "result_differs").exit_code == 1
    assert Verdict("implementation-error", "timeout").exit_code == 3
