"""Item 6: every planted bug of examples/buddy is found; the correct allocator passes.

The full table (child processes, as CI runs it) is behind the ``slow`` marker; the default
suite runs a few bugs in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial

import buddy
import pytest
from conftest import EXAMPLES

from rmqueue.oracle.fuzz import fuzz


@pytest.mark.parametrize("bug", ["lost_remainder", "remainder_wrong_order",
                                 "accepts_double_free", "state_omits_order0"])
def test_some_planted_bugs_in_process(bug: str) -> None:
    result = fuzz(partial(buddy.BuddyAllocator, bug), max_examples=100, steps=40, seed=0,
                  shrink_budget=10)
    assert result.verdict.kind == "violation", result.verdict
    assert result.trace is not None and len(result.trace.ops) <= 8


@pytest.mark.slow
@pytest.mark.parametrize("level", ["state", "black-box"])
def test_planted_bug_table(level: str) -> None:
    argv = [sys.executable, str(EXAMPLES / "planted_bugs.py"), "--json"]
    if level == "black-box":
        argv += ["--black-box", "--inprocess",
                 "--bugs", *[b for b in buddy.BUGS
                             if b not in ("count_off_by_block", "state_omits_order0")]]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    table = json.loads(out.stdout)
    assert table["correct_passes"]
    assert table["found"] == table["planted"], table["rows"]
    if level == "state":
        assert table["median_trace_length"] <= 8
