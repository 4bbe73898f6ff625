"""The pytest plugin (entry point ``rmqueue``): the fixture passes a correct allocator,
fails the test on a buggy one, and the state machine is importable as a TestCase."""

from __future__ import annotations

from functools import partial
from importlib.metadata import entry_points
from typing import Any

import buddy
import pytest

from rmqueue.oracle.machine import make_machine


def test_entry_point_registered() -> None:
    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "rmqueue.oracle.pytest_plugin" in names


def test_fixture_passes_correct_allocator(rmqueue_oracle: Any) -> None:
    result = rmqueue_oracle(buddy.BuddyAllocator, max_examples=10, steps=30, seed=0)
    assert result.verdict.kind == "pass" and result.steps > 0


def test_fixture_fails_on_a_bug(rmqueue_oracle: Any) -> None:
    with pytest.raises(pytest.fail.Exception, match="rmqueue oracle: violation"):
        rmqueue_oracle(partial(buddy.BuddyAllocator, "block_left_on_list"), max_examples=20,
                       steps=30, seed=0)


def test_fixture_without_impl_skips(rmqueue_oracle: Any) -> None:
    with pytest.raises(pytest.skip.Exception):
        rmqueue_oracle()


TestCorrectBuddyMachine = make_machine(buddy.BuddyAllocator).TestCase
TestCorrectBuddyMachine.settings = __import__("hypothesis").settings(
    max_examples=5, stateful_step_count=20, deadline=None, database=None)
