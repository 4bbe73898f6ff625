"""The lockstep state machine: Hypothesis generates operations, the lockstep engine runs them
on the implementation (and the model) and checks every transition.

Use :func:`make_machine` to get a ``RuleBasedStateMachine`` subclass bound to an
implementation and a zone; its ``TestCase`` runs under pytest or unittest::

    from rmqueue.oracle.machine import make_machine
    TestMyAllocator = make_machine("./my-allocator --fast").TestCase

Rules are named after the kernel entry points (``alloc``, ``free``, ``drain``), plus
``bad_request`` for implementations that validate.  Each rule's operation is checked at once
(``flush_every`` > 1 would pipeline, but Hypothesis's own cost per step dwarfs a round trip,
and a failure must be raised by the same step on every run of an example, or Hypothesis
calls the test flaky).  The invariants of specs/ are walked every ``invariant_every`` steps
and at the end of every example; the transition predicates every step.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from rmqueue.model.config import ZoneConfig

from ._defaults import DEFAULT_CONFIG
from .adapters import Target, parse_target
from .findings import Finding, ImplementationError
from .lockstep import Lockstep
from .trace import BAD_KINDS, Trace, Verdict

Json = dict[str, Any]

# One gfp list per (migratetype, hot/cold) class the model distinguishes, spelt only with
# the names protocol.md lists, so that any v1 implementation knows them.
GFP_CLASSES: tuple[tuple[str, ...], ...] = (
    ("GFP_KERNEL",),
    ("GFP_HIGHUSER_MOVABLE",),
    ("GFP_KERNEL", "__GFP_RECLAIMABLE"),
    ("__GFP_MOVABLE",),
    ("GFP_KERNEL", "__GFP_COLD"),
    ("GFP_HIGHUSER_MOVABLE", "__GFP_COLD"),
    ("GFP_KERNEL", "__GFP_RECLAIMABLE", "__GFP_COLD"),
)



class ShrinkBudgetSpent(BaseException):  # noqa: N818 - control flow, not an error type
    """Stops Hypothesis when shrinking has used its time budget; the smallest failing trace
    seen so far (already on disk) is the result."""


class ImplementationAbort(BaseException):  # noqa: N818 - control flow, not an error type
    """Stops Hypothesis at once (it catches only ``Exception``): an implementation that
    crashes or hangs is not shrunk, its trace so far is already saved."""

    def __init__(self, error: ImplementationError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(eq=False)
class Recorder:
    """Keeps (and writes first) the smallest failing trace seen, and counts examples."""

    trace_path: Path | None = None
    best: Trace | None = None
    last: Trace | None = None
    last_error: Finding | ImplementationError | None = None
    examples: int = 0
    steps: int = 0
    on_example: Callable[[Recorder], None] | None = None
    started: float = field(default_factory=time.monotonic)
    found_at: float | None = None
    best_error: Finding | ImplementationError | None = None

    @property
    def shrinking(self) -> bool:
        return self.found_at is not None

    def failed(self, trace: Trace, error: Finding | ImplementationError) -> None:
        self.last, self.last_error = trace, error
        if self.found_at is None:
            self.found_at = time.monotonic()
        if self.best is None or len(trace.ops) <= len(self.best.ops):
            self.best_error = error
            self.best = trace
            if self.trace_path is not None:
                trace.write(self.trace_path)

    def example_done(self, steps: int) -> None:
        self.steps += steps
        if self.on_example is not None:
            self.on_example(self)


@dataclass(frozen=True)
class Options:
    target: Target
    config: ZoneConfig
    timeout: float = 5.0
    state_every: int = 1
    flush_every: int = 1
    invariant_every: int = 1
    bad_requests: bool = True
    shrink_budget: float = 60.0
    recorder: Recorder = field(default_factory=Recorder)




class OracleMachine(RuleBasedStateMachine):
    """Base class; :func:`make_machine` binds ``options`` and the rule strategies."""

    options: ClassVar[Options]

    def __init__(self) -> None:
        super().__init__()
        opts = self.options
        self.handles: list[int] = []
        self.freed: list[int] = []
        self.engine: Lockstep | None = None
        rec = opts.recorder
        if rec.found_at is not None and time.monotonic() - rec.found_at > opts.shrink_budget:
            raise ShrinkBudgetSpent()
        rec.examples += 1
        self.engine = self._start(opts)

    def _start(self, opts: Options) -> Lockstep:
        adapter = opts.target.open(opts.timeout)
        try:
            return Lockstep(adapter, opts.config, state_every=opts.state_every,
                            invariant_every=opts.invariant_every)
        except (Finding, ImplementationError) as exc:
            adapter.close()
            exc.step = -1
            trace = Trace(opts.config, [], Verdict.of(exc), impl=opts.target.spec)
            opts.recorder.failed(trace, exc)
            if isinstance(exc, ImplementationError):
                raise ImplementationAbort(exc) from None
            raise

    def _submit(self, op: Json) -> int:
        assert self.engine is not None
        index = self.engine.submit(op)
        if (index + 1) % self.options.flush_every == 0:
            self._flush()
        return index

    def _flush(self, final: bool = False) -> None:
        engine = self.engine
        assert engine is not None
        try:
            engine.flush()
            if final:
                engine.finish()
        except (Finding, ImplementationError) as exc:
            self._record(exc)
            path = self.options.recorder.trace_path
            exc.add_note(f"rmqueue oracle: {exc.kind} {exc.name} at step {exc.step}"
                         + (f"; smallest failing trace so far: {path}" if path else ""))
            engine.close()
            self.engine = None
            if isinstance(exc, ImplementationError):
                raise ImplementationAbort(exc) from None
            raise
        live = engine.live
        self.handles = [h for h in self.handles if h in live or h >= engine.executed]

    def _record(self, exc: Finding | ImplementationError) -> None:
        engine = self.engine
        assert engine is not None
        step = exc.step if exc.step is not None else len(engine.ops) - 1
        trace = Trace(
            self.options.config,
            engine.ops[: step + 1],
            Verdict.of(exc),
            impl=self.options.target.spec,
            hello=dict(engine.hello.raw),
            level=engine.level.value,
            observed=engine.observed[: step + 1],
        )
        self.options.recorder.failed(trace, exc)

    @rule(cpu=st.integers(0, 4095), order=st.integers(0, 63), gfp=st.sampled_from(GFP_CLASSES))
    def alloc(self, cpu: int, order: int, gfp: tuple[str, ...]) -> None:
        """Half the drawn ``order`` values map to orders 0-2 (the pcp path, splits), half to
        any order below max_order (exhaustion, merging); 0 is what a shrunk trace shows."""
        cfg = self.options.config
        cpu %= cfg.cpus
        if order >= 64:  # from alloc_large
            order = max(order - 64, 0)
        else:
            order = order % 3 if order < 32 else order % cfg.max_order
        order = min(order, cfg.max_order - 1)
        index = self._submit({"op": "alloc", "cpu": cpu, "order": order, "gfp": list(gfp)})
        self.handles.append(index)

    @rule(cpu=st.integers(0, 4095), top=st.booleans(), gfp=st.sampled_from(GFP_CLASSES))
    def alloc_large(self, cpu: int, top: bool, gfp: tuple[str, ...]) -> None:
        """An alloc of order max_order-1 or max_order-2: a second alloc rule, so that the
        zone fills up (where lost pages and missed merges show) in a few steps."""
        cfg = self.options.config
        self.alloc(cpu, cfg.max_order - 1 - (0 if top else 1) + 64, gfp)

    @precondition(lambda self: bool(self.handles))
    @rule(which=st.integers(0, 1 << 16), cpu=st.integers(0, 4095), cold=st.booleans())
    def free(self, which: int, cpu: int, cold: bool) -> None:
        """Free the ``which``-th live block (mod their number: 0 is the oldest)."""
        cpu %= self.options.config.cpus
        block = self.handles[which % len(self.handles)]
        self.handles.remove(block)
        self.freed.append(block)
        self._submit({"op": "free", "block": block, "cpu": cpu, "cold": cold})

    @rule(cpu=st.integers(0, 4095))
    def drain(self, cpu: int) -> None:
        cpu %= self.options.config.cpus
        self._submit({"op": "drain", "cpu": cpu})

    @precondition(
        lambda self: self.options.bad_requests
        and self.engine is not None
        and self.engine.hello.validates
    )
    @rule(data=st.data())
    def bad_request(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(BAD_KINDS), label="kind")
        op: Json = {"op": "bad", "kind": kind}
        if kind in ("free_wrong_order", "double_free"):
            pool = self.handles if kind == "free_wrong_order" else self.freed
            if not pool:
                return
            op["block"] = data.draw(st.sampled_from(pool), label="block")
        elif kind == "free_unallocated":
            op["page"] = data.draw(st.integers(0, self.options.config.pages - 1), label="page")
        else:
            op["cpu"] = data.draw(st.integers(0, 3), label="cpu")
        self._submit(op)

    def teardown(self) -> None:
        if self.engine is None:
            return
        try:
            self._flush(final=True)
        finally:
            if self.engine is not None:
                self.options.recorder.example_done(len(self.engine.ops))
                self.engine.close()
                self.engine = None


def make_machine(
    impl: str | Target | Callable[[], object],
    config: ZoneConfig | None = None,
    *,
    timeout: float = 5.0,
    state_every: int = 1,
    flush_every: int = 1,
    invariant_every: int = 1,
    recorder: Recorder | None = None,
    shrink_budget: float = 60.0,
) -> type[OracleMachine]:
    """A state machine class that fuzzes ``impl`` (a ``--impl`` string, a Target, or a
    factory of an in-process allocator) against the model on ``config``."""
    target = impl if isinstance(impl, Target) else parse_target(impl)
    cfg = config if config is not None else ZoneConfig.from_json(DEFAULT_CONFIG)
    opts = Options(target, cfg, timeout, state_every, flush_every, invariant_every,
                   recorder=recorder or Recorder(), shrink_budget=shrink_budget)
    digest = hashlib.sha384(
        json.dumps([target.spec, cfg.to_json()], sort_keys=True).encode()
    ).digest()
    cls = type("OracleMachine_" + hashlib.sha1(digest).hexdigest()[:8], (OracleMachine,),
               {"options": opts, "__module__": __name__})
    # Hypothesis keys the example database on this: one key per implementation and zone.
    cls._hypothesis_internal_add_digest = digest  # type: ignore[attr-defined, unused-ignore]
    return cls
