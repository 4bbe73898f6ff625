"""Fixtures of tests/specs."""

from __future__ import annotations

import pytest
from specs_helpers import SMALL, workload

from rmqueue.model import Allocator
from rmqueue.specs.check import StepChecker


@pytest.fixture
def busy() -> tuple[Allocator, StepChecker, list[tuple[int, int]]]:
    """A zone after a few hundred checked steps (pcp lists, split blocks, CMA in use)."""
    a = Allocator(SMALL)
    chk = StepChecker(a)
    live = workload(a, chk, 300, 7)
    chk.full_check()
    return a, chk, live
