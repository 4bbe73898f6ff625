"""The lockstep engine: runs a sequence of trace operations against an implementation (and,
at the exact level, the model) and checks every transition at the strongest level the
implementation's hello answer allows.

Operations are the trace's (see :mod:`rmqueue.oracle.trace`): ``alloc``, ``free`` (of an
earlier alloc, named by its index in the trace, so a trace replays on any implementation),
``drain``, and ``bad`` (a request that breaks the contract, sent only to implementations
that say ``validates: true``).  ``submit`` queues; ``flush`` sends the queue in waves: every
request whose pfn is already known goes out before any answer is read (the ``batch``
extension when offered), then the answers are checked in order.

At the state level the transition predicates of specs/ judge every step; the invariants of
specs/ (a walk over the whole reported state) are checked on every ``invariant_every``-th
state fetched (on every one when ``state_every`` > 1, and always under Hypothesis) and by
``finish()`` on the last state (the end of every example and of every replay), so a
broken invariant is always caught, at worst a few steps late (and shrinking then cuts the
trace right after the step that broke it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rmqueue.model.allocator import Allocator
from rmqueue.model.config import ZoneConfig
from rmqueue.model.errors import InternalError, RmqueueError
from rmqueue.model.record import Transition
from rmqueue.model.snapshot import state_json
from rmqueue.model.types import PROC_NAMES

from . import _specs
from .adapters import Adapter
from .findings import ConformanceViolation, Divergence, Finding, ImplementationError
from .protocol import Hello, Level, check_response, hello_request, parse_hello

Json = dict[str, Any]
WAVE = 256
MT_INDEX = {name: i for i, name in enumerate(PROC_NAMES)}
# the state-detail extension's fields (PROTOCOL.md), compared when both sides report them
DETAIL_FIELDS = ("nr_free", "pcp_sets", "pageblocks", "numa", "flags")


def normalise_state(state: Json) -> Json:
    """A reported state in a canonical form: empty lists dropped, lists keyed by (order,
    migratetype) and (cpu, migratetype) in sorted key order, pfn order kept as reported."""
    free: dict[str, list[int]] = {}
    for e in state.get("free_area", []):
        if e["pfns"]:
            free.setdefault(f"{e['order']}/{e['migratetype']}", []).extend(e["pfns"])
    pcp: dict[str, list[int]] = {}
    for e in state.get("pcp", []):
        if e["pfns"]:
            pcp.setdefault(f"{e['cpu']}/{e['migratetype']}", []).extend(e["pfns"])
    return {
        "free_area": dict(sorted(free.items())),
        "pcp": dict(sorted(pcp.items())),
        "counters": dict(sorted(state.get("counters", {}).items())),
        "detail": {k: state[k] for k in DETAIL_FIELDS if k in state},
    }


def state_difference(model: Json, impl: Json) -> dict[str, Any] | None:
    """The first difference between the model's state and the implementation's (both
    normalised), or None.  Counters are compared where the implementation reports them."""
    for part in ("free_area", "pcp"):
        m, i = model[part], impl[part]
        for key in sorted(set(m) | set(i)):
            if m.get(key, []) != i.get(key, []):
                where = "free_area[order/migratetype]" if part == "free_area" else "pcp[cpu/mt]"
                return {"where": f"{where} {key}", "model": m.get(key, []),
                        "implementation": i.get(key, [])}
    for key, value in impl["detail"].items():
        if key in model["detail"] and model["detail"][key] != value:
            return {"where": key, "model": model["detail"][key], "implementation": value}
    for name, value in impl["counters"].items():
        if name in model["counters"] and model["counters"][name] != value:
            return {"where": f"counters.{name}", "model": model["counters"][name],
                    "implementation": value}
    return None


@dataclass(slots=True)
class StepRecord:
    """What one operation did, kept when ``capture`` is on (for reports)."""

    index: int
    op: Json
    request: Json | None
    response: object = None
    model_response: object = None
    impl_state: Json | None = None
    model_state: Json | None = None


@dataclass(slots=True)
class _Item:
    index: int
    op: Json
    request: Json | None
    state_after: bool


@dataclass(eq=False)
class Lockstep:
    """One checked session with an implementation."""

    adapter: Adapter
    config: ZoneConfig
    state_every: int = 1
    invariant_every: int = 8
    capture: bool = False
    check_model: bool = True
    on_step: Callable[[int], None] | None = None
    ops: list[Json] = field(default_factory=list)
    observed: list[object] = field(default_factory=list)
    records: list[StepRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        cfg = self.config
        request = hello_request(cfg)
        (answer,) = self.adapter.exchange([request])
        self.hello: Hello = parse_hello(request, answer)
        if "batch" in self.hello.extensions:
            self.adapter.enable_batch()
        self.level = self.hello.level
        # With the state-detail extension the state also carries nr_free, pcp counts,
        # pageblock types and flags: compared at the exact level, read by specs/ otherwise.
        self.detail = "state-detail" in self.hello.extensions
        self.state_request: Json = {"op": "state", "detail": True} if self.detail else {
            "op": "state"}
        self.observes_state = self.hello.observes_state
        self.executed = 0
        self.start = cfg.start_pfn
        self.owner = bytearray(cfg.pages)
        self.live: dict[int, tuple[int, int]] = {}
        self.heads: dict[int, int] = {}
        self.freed: dict[int, tuple[int, int]] = {}
        self.model: Allocator | None = None
        self.model_live: dict[int, int] = {}
        self._model_check: Callable[[Transition], None] | None = None
        if self.level is Level.EXACT:
            self.model = Allocator(cfg)
            if self.check_model:
                self._model_check = _specs.step_checker(self.model)
        self.check_states = self.observes_state and (
            self.level is not Level.BLACK_BOX or self.capture
        )
        self.state: Json | None = None
        self.model_boot_state = state_json(self.model.zone) if self.model and self.capture else None
        self.state_step = -1
        self.allocated_at_state: dict[int, int] = {}
        self.initial_state: Json | None = None
        self.checked_step = -1
        self._since_state = 0
        self._states_seen = 0
        if self.check_states:
            self.state = self._fetch_state()
            self.initial_state = self.state
            self._check_state(-1)

    # -- public -------------------------------------------------------------------------

    def submit(self, op: Json) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def run(self, ops: Iterable[Json]) -> None:
        """Submit ``ops``, run them all, and check the invariants on the final state."""
        for op in ops:
            self.ops.append(op)
        self.flush()
        self.finish()

    def finish(self) -> None:
        """Check the invariants on the last state fetched, unless already done."""
        if self.state is not None and self.checked_step != self.state_step:
            try:
                self._check_state(self.state_step)
            except Finding as exc:
                exc.step = self.state_step
                raise
            self.checked_step = self.state_step

    def flush(self) -> None:
        while self.executed < len(self.ops):
            try:
                if self.ops[self.executed]["op"] == "bad":
                    self._run_bad(self.executed)
                    self.executed += 1
                else:
                    self._run_wave(self._build_wave())
            except (Finding, ImplementationError) as exc:
                if exc.step is None:
                    exc.step = self.executed
                raise
            except RmqueueError as exc:
                raise InternalError(f"oracle step {self.executed}: {exc}") from exc

    def close(self) -> None:
        self.adapter.close()

    @property
    def allocated(self) -> dict[int, int]:
        """pfn -> order of every block the implementation gave out and has not got back."""
        return dict(self.heads)

    # -- waves ----------------------------------------------------------------------------

    def _state_due(self) -> bool:
        """Fetch the state after every ``state_every``-th request sent."""
        if not self.check_states:
            return False
        self._since_state += 1
        if self._since_state < self.state_every:
            return False
        self._since_state = 0
        return True

    def _build_wave(self) -> list[_Item]:
        items: list[_Item] = []
        pending: set[int] = set()
        used: set[int] = set()
        i = self.executed
        ops = self.ops
        while i < len(ops) and len(items) < WAVE:
            op = ops[i]
            kind = op["op"]
            if kind == "alloc":
                request: Json | None = {"op": "alloc", "cpu": op["cpu"], "order": op["order"],
                                        "gfp": op["gfp"]}
                pending.add(i)
            elif kind == "free":
                block = op["block"]
                if block in pending or block in used:
                    break
                used.add(block)
                entry = self.live.get(block)
                request = None if entry is None else {
                    "op": "free", "cpu": op["cpu"], "pfn": entry[0], "order": entry[1],
                    "cold": op.get("cold", False)}
            elif kind == "drain":
                request = {"op": "drain", "cpu": op["cpu"]}
            elif kind == "bad":
                break
            else:
                raise InternalError(f"unknown trace op {kind!r} at step {i}")
            items.append(_Item(i, op, request, request is not None and self._state_due()))
            i += 1
        return items

    def _run_wave(self, items: list[_Item]) -> None:
        requests: list[Json] = []
        for item in items:
            if item.request is not None:
                requests.append(item.request)
                if item.state_after:
                    requests.append(self.state_request)
        try:
            responses = self.adapter.exchange(requests) if requests else []
        except ImplementationError as exc:
            exc.step = self._failing_op(items, exc.answered)
            raise
        k = 0
        for item in items:
            self.executed = item.index
            response: object = None
            state: object = None
            if item.request is not None:
                response = responses[k]
                k += 1
                if item.state_after:
                    state = responses[k]
                    k += 1
            self._check_step(item, response, state)
        self.executed = items[-1].index + 1 if items else self.executed

    @staticmethod
    def _failing_op(items: list[_Item], answered: int) -> int:
        """The op whose request (or state request) was number ``answered`` of the wave."""
        k = 0
        for item in items:
            if item.request is not None:
                k += 2 if item.state_after else 1
            if k > answered:
                return item.index
        return items[-1].index

    # -- checks -------------------------------------------------------------------------

    def _protocol(self, request: Json, response: object) -> Json:
        try:
            check_response(request, response, self.config)
        except ImplementationError as exc:
            exc.stderr_tail = self.adapter.stderr_tail()
            raise
        assert isinstance(response, dict)
        return response

    def _check_step(self, item: _Item, response: object, state: object) -> None:
        index, op, request = item.index, item.op, item.request
        self.observed.append(response)
        rec = StepRecord(index, op, request, response) if self.capture else None
        if rec is not None:
            self.records.append(rec)
        if request is None:  # a free of a block whose alloc failed: nothing to do
            if self.state_step == index - 1:
                self.state_step = index
            if self.on_step is not None:
                self.on_step(index)
            return
        pre_state, pre_alloc = self.state, self.allocated_at_state
        answer = self._protocol(request, response)
        if "error" in answer:
            raise ConformanceViolation(
                "valid_request_refused",
                f"the implementation refused a valid {request['op']} request: "
                f"{answer['error']!r}",
                {"request": request, "response": answer},
            )
        kind = op["op"]
        if kind == "alloc":
            self._check_alloc(index, op, answer)
        elif kind == "free":
            self._check_free(index, op, request, answer)
        else:
            self._check_drain(op, answer)
        if rec is not None and self.model is not None:
            rec.model_state = state_json(self.model.zone)
        if state is not None:
            self.state = self._state_answer(state)
            if rec is not None:
                rec.impl_state = self.state
            previous = self.state_step
            self.state_step = index
            consecutive = previous == index - 1 or (previous == -1 and index == 0)
            if consecutive and pre_state is not None and self.level is Level.STATE:
                _specs.check_transition(self.config, pre_state, pre_alloc, request, answer,
                                        self.state)
            self.allocated_at_state = self.allocated
            self._states_seen += 1
            if (self.level is Level.EXACT or self.state_every > 1
                    or self._states_seen % self.invariant_every == 0):
                self._check_state(index)
                self.checked_step = index
        if self.on_step is not None:
            self.on_step(index)

    def _model_step(self, rec: Transition) -> None:
        if self._model_check is not None:
            try:
                self._model_check(rec)
            except AssertionError as exc:
                raise InternalError(f"the model broke an invariant of specs/: {exc}") from exc

    def _check_alloc(self, index: int, op: Json, answer: Json) -> None:
        order = op["order"]
        pfn = answer["pfn"]
        if pfn is not None:
            self._check_block(pfn, order)
        elif self.hello.complete:
            self._check_complete(order)
        if self.model is not None:
            rec = self.model.alloc(op["cpu"], order, op["gfp"])
            self._model_step(rec)
            if self.capture:
                self.records[-1].model_response = {"pfn": rec.pfn}
            if rec.pfn != pfn:
                raise Divergence(
                    "result_differs",
                    f"alloc(cpu={op['cpu']}, order={order}, gfp={op['gfp']}) gave pfn "
                    f"{pfn}; Linux 4.3 gives {rec.pfn}",
                    {"model": rec.pfn, "implementation": pfn},
                )
            if rec.pfn is not None:
                self.model_live[index] = rec.pfn
        if pfn is not None:
            s = pfn - self.start
            self.owner[s : s + (1 << order)] = b"\x01" * (1 << order)
            self.live[index] = (pfn, order)
            self.heads[pfn] = order

    def _check_block(self, pfn: int, order: int) -> None:
        size = 1 << order
        if pfn & (size - 1):
            raise ConformanceViolation(
                "block_aligned",
                f"an order-{order} block must start at a multiple of {size}; got pfn {pfn}",
                {"pfn": pfn, "order": order},
            )
        if pfn + size > self.config.end_pfn:
            raise ConformanceViolation(
                "block_in_zone",
                f"the order-{order} block at pfn {pfn} ends at {pfn + size - 1}, past the "
                f"zone's last pfn {self.config.end_pfn - 1}",
                {"pfn": pfn, "order": order},
            )
        s = pfn - self.start
        hit = self.owner.find(1, s, s + size)
        if hit >= 0:
            other = next(
                ((p, o) for p, o in self.heads.items() if p <= hit + self.start < p + (1 << o)),
                None,
            )
            raise ConformanceViolation(
                "no_overlap",
                f"the order-{order} block at pfn {pfn} overlaps the live block "
                f"{other} (pfn, order) given out earlier and not freed",
                {"pfn": pfn, "order": order, "live_block": other},
            )

    def _check_complete(self, order: int) -> None:
        size = 1 << order
        cfg = self.config
        first = (cfg.start_pfn + size - 1) & ~(size - 1)
        for a in range(first, cfg.end_pfn - size + 1, size):
            s = a - self.start
            if self.owner.find(1, s, s + size) < 0:
                raise ConformanceViolation(
                    "complete_alloc_failed",
                    f"an order-{order} alloc failed, yet the aligned run of {size} pages at "
                    f"pfn {a} is free (the implementation claims complete: true)",
                    {"order": order, "free_run": a},
                )

    def _check_free(self, index: int, op: Json, request: Json, answer: Json) -> None:
        if answer.get("ok") is not True:
            raise ConformanceViolation(
                "free_accepted", f"a valid free was not accepted: {answer!r}",
                {"request": request, "response": answer},
            )
        block = op["block"]
        pfn, order = self.live.pop(block)
        del self.heads[pfn]
        self.freed[block] = (pfn, order)
        s = pfn - self.start
        self.owner[s : s + (1 << order)] = bytes(1 << order)
        if self.model is not None:
            mpfn = self.model_live.pop(block)
            rec = self.model.free(op["cpu"], mpfn, order, op.get("cold", False))
            self._model_step(rec)
            if self.capture:
                self.records[-1].model_response = {"ok": True}

    def _check_drain(self, op: Json, answer: Json) -> None:
        if answer.get("ok") is not True:
            raise ConformanceViolation("drain_accepted", f"a drain was not accepted: {answer!r}",
                                       {"response": answer})
        if self.model is not None:
            self._model_step(self.model.drain(op["cpu"]))
            if self.capture:
                self.records[-1].model_response = {"ok": True}

    # -- states ---------------------------------------------------------------------------

    def _fetch_state(self) -> Json:
        (answer,) = self.adapter.exchange([self.state_request])
        return self._state_answer(answer)

    def _state_answer(self, answer: object) -> Json:
        state = self._protocol({"op": "state"}, answer)
        if "error" in state:
            raise ImplementationError(
                "state_refused",
                f"the implementation observes state but refused a state request: "
                f"{state['error']!r}",
                request={"op": "state"}, stderr_tail=self.adapter.stderr_tail(),
            )
        return state

    def _check_state(self, index: int) -> None:
        state = self.state
        assert state is not None
        if self.level is Level.EXACT:
            assert self.model is not None
            model = normalise_state(state_json(self.model.zone, detail=self.detail))
            diff = state_difference(model, normalise_state(state))
            if diff is not None:
                raise Divergence(
                    "state_differs",
                    f"after step {index} the state differs at {diff['where']}: Linux 4.3 has "
                    f"{diff['model']}, the implementation reports {diff['implementation']}",
                    diff,
                )
        elif self.level is Level.STATE:
            _specs.check_state(self.config, state, self.allocated_at_state)

    # -- bad requests ---------------------------------------------------------------------

    def bad_request(self, op: Json) -> Json | None:
        """The contract-breaking request a ``bad`` op names now, or None if it would not be
        bad any more (e.g. its block was never given out)."""
        cfg = self.config
        kind = op["kind"]
        if kind == "order_too_big":
            return {"op": "alloc", "cpu": op.get("cpu", 0) % cfg.cpus, "order": cfg.max_order,
                    "gfp": ["GFP_KERNEL"]}
        if kind == "cpu_out_of_range":
            return {"op": "drain", "cpu": cfg.cpus + op.get("cpu", 0) % 4}
        if kind == "free_unallocated":
            pfn = cfg.start_pfn + op.get("page", 0) % cfg.pages
            if pfn in self.heads:
                return None
            return {"op": "free", "cpu": 0, "pfn": pfn, "order": 0, "cold": False}
        if kind == "free_wrong_order":
            entry = self.live.get(op.get("block", -1))
            if entry is None:
                return None
            pfn, order = entry
            wrong = order + 1 if order + 1 < cfg.max_order else order - 1
            return {"op": "free", "cpu": 0, "pfn": pfn, "order": wrong, "cold": False}
        if kind == "double_free":
            entry = self.freed.get(op.get("block", -1))
            if entry is None or entry[0] in self.heads:
                return None
            return {"op": "free", "cpu": 0, "pfn": entry[0], "order": entry[1], "cold": False}
        raise InternalError(f"unknown bad request kind {kind!r}")

    def _run_bad(self, index: int) -> None:
        op = self.ops[index]
        request = self.bad_request(op) if self.hello.validates else None
        rec = StepRecord(index, op, request) if self.capture else None
        if rec is not None:
            self.records.append(rec)
        if request is None:
            self.observed.append(None)
            if self.state_step == index - 1:
                self.state_step = index
            return
        want_state = self.observes_state
        requests = [request] + ([self.state_request] if want_state else [])
        before = self.state if self.check_states and self.state_step == index - 1 else None
        if want_state and before is None:
            before = self._fetch_state()
        responses = self.adapter.exchange(requests)
        self.observed.append(responses[0])
        if rec is not None:
            rec.response = responses[0]
        answer = self._protocol(request, responses[0])
        if "error" not in answer:
            raise ConformanceViolation(
                "bad_request_refused",
                f"the implementation says validates: true but accepted {request} "
                f"({op['kind']}), answering {answer}",
                {"request": request, "response": answer},
            )
        if want_state:
            after = self._state_answer(responses[1])
            assert before is not None
            diff = state_difference(normalise_state(before), normalise_state(after))
            if diff is not None:
                raise ConformanceViolation(
                    "bad_request_unchanged",
                    f"refusing {request} ({op['kind']}) changed the state at {diff['where']}: "
                    f"{diff['model']} before, {diff['implementation']} after",
                    diff,
                )
            if self.check_states:
                self.state, self.state_step = after, index
        if self.on_step is not None:
            self.on_step(index)
