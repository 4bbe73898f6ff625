"""A Hypothesis state machine over the model, every transition checked (issue 3, item 4).

Use it in your own tests::

    from rmqueue.model import ZoneConfig
    from rmqueue.specs.stateful import ModelMachine

    Machine = ModelMachine.for_config(ZoneConfig.kernel_default(4096, cma_pageblocks=[0, 1]))
    TestMachine = Machine.TestCase          # a unittest.TestCase pytest collects

Rules are named after the kernel entry points (``alloc``, ``free``, ``drain``) plus rule
groups that drive the zone into deep states: ``churn`` (high-order alloc/free bursts that
split and merge), ``exhaust`` (allocate one type until it fails: fallback, stealing, CMA and
RESERVE exhaustion), ``fill_pcp`` (hot/cold order-0 frees up to ``pcp.high`` and past it),
``free_all`` (return everything).  Live blocks live on the instance, not in bundles, so the
invariant can see them.  Each step runs :meth:`StepChecker.check`; every ``full_every``
steps, and at teardown, :meth:`StepChecker.full_check` validates the frame reasoning.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rmqueue.model.allocator import Allocator
from rmqueue.model.config import ZoneConfig
from rmqueue.model.record import Transition

from .check import StepChecker

GFP_CLASSES: tuple[tuple[str, ...], ...] = (
    ("GFP_KERNEL",),
    ("GFP_ATOMIC",),
    ("GFP_NOWAIT",),
    ("GFP_TEMPORARY",),
    ("GFP_USER",),
    ("GFP_HIGHUSER_MOVABLE",),
    ("GFP_TRANSHUGE",),
    ("GFP_KERNEL", "__GFP_COLD"),
    ("GFP_HIGHUSER_MOVABLE", "__GFP_COLD"),
    ("GFP_TEMPORARY", "__GFP_COLD"),
    ("GFP_KERNEL", "__GFP_NOFAIL"),
)
gfp_classes = st.sampled_from(GFP_CLASSES)


class ModelMachine(RuleBasedStateMachine):
    """The model under random alloc/free/drain sequences, each step checked.

    Subclass through :meth:`for_config`; the class attributes are the knobs.
    """

    CONFIG: ClassVar[ZoneConfig] = ZoneConfig.kernel_default(
        4096, cma_pageblocks=[0, 1], reserve_pageblocks=1, pcp={"high": 12, "batch": 3}
    )
    BACKEND: ClassVar[str] = "fast"
    FULL_EVERY: ClassVar[int] = 25

    def __init__(self) -> None:
        super().__init__()
        self.allocator = Allocator(self.CONFIG)
        self.checker = StepChecker(self.allocator, backend=self.BACKEND)
        self.live: list[tuple[int, int]] = []
        self.steps = 0
        self.failures = 0

    @classmethod
    def for_config(
        cls, config: ZoneConfig, *, backend: str = "fast", full_every: int = 25
    ) -> type[ModelMachine]:
        """A machine class over ``config`` (``backend`` "fast" or "z3")."""
        name = f"ModelMachine_{config.pages}"
        attrs: dict[str, Any] = {"CONFIG": config, "BACKEND": backend, "FULL_EVERY": full_every}
        return type(name, (cls,), attrs)

    # -- helpers ---------------------------------------------------------------------------

    @property
    def cpus(self) -> int:
        return self.CONFIG.cpus

    @property
    def orders(self) -> int:
        return self.CONFIG.max_order

    def _step(self, rec: Transition) -> Transition:
        self.checker.check(rec)
        self.steps += 1
        return rec

    def _alloc(self, cpu: int, order: int, gfp: tuple[str, ...]) -> int | None:
        rec = self._step(self.allocator.alloc(cpu % self.cpus, order % self.orders, gfp))
        if rec.pfn is None:
            self.failures += 1
            return None
        self.live.append((rec.pfn, rec.order))
        return rec.pfn

    def _free(self, index: int, cpu: int, cold: bool) -> None:
        pfn, order = self.live.pop(index % len(self.live))
        self._step(self.allocator.free(cpu % self.cpus, pfn, order, cold))

    # -- rules -------------------------------------------------------------------------------

    @initialize()
    def boot_is_sound(self) -> None:
        self.checker.full_check()

    @rule(cpu=st.integers(0, 63), order=st.integers(0, 10), gfp=gfp_classes)
    def alloc(self, cpu: int, order: int, gfp: tuple[str, ...]) -> None:
        self._alloc(cpu, order, gfp)

    @rule(cpu=st.integers(0, 63), gfp=gfp_classes)
    def alloc_order0(self, cpu: int, gfp: tuple[str, ...]) -> None:
        self._alloc(cpu, 0, gfp)

    @precondition(lambda self: bool(self.live))
    @rule(index=st.integers(0, 1 << 16), cpu=st.integers(0, 63), cold=st.booleans())
    def free(self, index: int, cpu: int, cold: bool) -> None:
        self._free(index, cpu, cold)

    @rule(cpu=st.integers(0, 63))
    def drain(self, cpu: int) -> None:
        self._step(self.allocator.drain(cpu % self.cpus))

    @rule(order=st.integers(1, 10), n=st.integers(1, 8), gfp=gfp_classes,
          seed=st.integers(0, 1 << 16))
    def churn(self, order: int, n: int, gfp: tuple[str, ...], seed: int) -> None:
        """High-order bursts: allocate n blocks of mixed orders, free every other one."""
        got = []
        for k in range(n):
            o = (order + k * seed) % self.orders
            if self._alloc(seed + k, o, gfp) is not None:
                got.append(len(self.live) - 1)
        for idx in reversed(got[::2]):
            self._free(idx, seed, bool(seed & 1))

    @rule(order=st.integers(0, 10), gfp=gfp_classes, cpu=st.integers(0, 63))
    def exhaust(self, order: int, gfp: tuple[str, ...], cpu: int) -> None:
        """Allocate one type until it fails (fallback, stealing, CMA, RESERVE, then empty)."""
        for _ in range(4 * (self.CONFIG.pages >> order) + 64):
            if self._alloc(cpu, order, gfp) is None:
                break

    @precondition(lambda self: bool(self.live))
    @rule(cpu=st.integers(0, 63), cold=st.booleans(), n=st.integers(1, 64))
    def fill_pcp(self, cpu: int, cold: bool, n: int) -> None:
        """Order-0 frees on one CPU up to and past pcp.high (trims of one batch)."""
        k = 0
        for i in range(len(self.live) - 1, -1, -1):
            if k >= n:
                break
            if self.live[i][1] == 0:
                self._free(i, cpu, cold)
                k += 1

    @rule(cold=st.booleans())
    def free_all(self, cold: bool) -> None:
        """Return every live block, then drain every CPU: the zone must merge back whole."""
        while self.live:
            self._free(len(self.live) - 1, len(self.live), cold)
        for cpu in range(self.cpus):
            self._step(self.allocator.drain(cpu))

    # -- invariant ---------------------------------------------------------------------------

    @invariant()
    def registry_holds(self) -> None:
        """Every step was checked in its rule; here the whole state, every FULL_EVERY."""
        if self.steps >= self.FULL_EVERY:
            self.steps = 0
            self.checker.full_check()

    def teardown(self) -> None:
        self.checker.full_check()


__all__ = ["GFP_CLASSES", "ModelMachine"]
