"""The model under the importable state machine, on zones that reach different corners."""

from __future__ import annotations

from rmqueue.model import ZoneConfig
from rmqueue.specs.stateful import ModelMachine

# default: CMA, one RESERVE pageblock, small pcp (high 12, batch 3), 2 cpus
TestDefault = ModelMachine.TestCase

# pcp boundaries: high 0 / batch 1 (pass-through) on 3 cpus, unaligned zone start
TestPassThrough = ModelMachine.for_config(
    ZoneConfig.kernel_default(3000, pcp={"high": 0, "batch": 1}, cpus=3,
                              zone={"pages": 3000, "start_pfn": 96})
).TestCase

# mobility grouping off (small zone), two RESERVE pageblocks
TestNoMobility = ModelMachine.for_config(
    ZoneConfig.kernel_default(2048, mobility_grouping=False, reserve_pageblocks=2,
                              pcp={"high": 6, "batch": 2})
).TestCase

# the solver evaluator on every transition
TestZ3Backend = ModelMachine.for_config(
    ZoneConfig.kernel_default(2048, cma_pageblocks=[2, 3], pcp={"high": 6, "batch": 2}),
    backend="z3",
).TestCase
