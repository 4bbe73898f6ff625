"""Long runs of the state machine (``-m slow``; pair with HYPOTHESIS_PROFILE=deep)."""

from __future__ import annotations

import pytest
from hypothesis import settings

from rmqueue.model import ZoneConfig
from rmqueue.specs.stateful import ModelMachine

_BIG = ModelMachine.for_config(
    ZoneConfig.kernel_default(65536, cma_pageblocks=[8, 9, 10, 11], reserve_pageblocks=2),
    full_every=200,
)
_Z3 = ModelMachine.for_config(
    ZoneConfig.kernel_default(8192, cma_pageblocks=[4, 5], pcp={"high": 18, "batch": 3}),
    backend="z3",
    full_every=100,
)


@pytest.mark.slow
def test_big_zone_long_runs() -> None:
    _BIG.TestCase.settings = settings(_BIG.TestCase.settings, max_examples=50,
                                      stateful_step_count=200)
    _BIG.TestCase("runTest").runTest()


@pytest.mark.slow
def test_z3_backend_long_runs() -> None:
    _Z3.TestCase.settings = settings(_Z3.TestCase.settings, max_examples=30,
                                     stateful_step_count=200)
    _Z3.TestCase("runTest").runTest()
