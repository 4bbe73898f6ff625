"""A Z3 counterexample turned into a model state and replayed: the violation, for real.

:func:`transfer` proves the phase a planted bug breaks (:data:`~rmqueue.proofs.replay.
BUG_SITES`), keeps the failing query (hypotheses, case, negated subgoal), and asks Z3 once
more for a model of that same query plus three groups of facts:

* **a small zone**: the *real* pre-state ``R`` of the operation (see below) spans at most
  ``cap`` pages, every list member is one of its *layout* pfns (the pfns the step touches,
  the invariant's ``p`` and its buddy, plus a few free slots where pinned counts or an exit
  phase need more members), every invariant (registry and requested) holds at the layout
  pfns and every count invariant holds (:func:`rmqueue.proofs.concrete.only_layout`).  Then
  :func:`~rmqueue.proofs.concrete.complete` reads ``R`` at the layout pfns and covers every
  other pfn with blocks in the user's hands: every length, count and counter is then the
  model's own, and the zone satisfies every invariant (the whole-state check confirms it);
* **realizability** (per phase, :data:`rmqueue.proofs.realize.REALIZE`): what it takes
  for one model operation from ``R`` to run through the counterexample's step;
* **pins** to the first counterexample's own values, in tiers: ``exact`` (zone start and
  size, every phase term, the pfns the step touches and their page state, pcp
  count/high/batch, every counter and length), then ``parameters`` (the phase's scalar terms,
  pcp count/high/batch and the page state at the touched pfns, but not where they lie), then
  ``local`` (the same without pcp count/high/batch), then ``none`` (only the obligation and
  the realizability facts: a new counterexample of the same query).  The first tier that
  is satisfiable is used and reported (``Transfer.tier``, ``Transfer.notes``).

``R`` is the phase's own pre-state for the entry phases (``pcp_hit``, ``take_*``,
``free_push``) and ``merge_step`` (the view of the first merge is the state the free starts
from), the pre-state with its in-flight block put back on ``free_area[K].free_list[mt]`` for
``expand_step`` (the first split of an allocation of order ``low``), and, for the exit
phases (``refill_exit``, ``trim_exit``, ``drain_exit``), whose counterexample determines only
the zone, the pcp parameters and counts (and NR_FREE_PAGES, the pages refilled), a second
symbolic state pinned to those values.  The list order the invariants leave open is chosen so
that the pfn the step picks is at the head of its list (``Concrete.heads``).  Then the model
is built from ``R`` (:func:`~rmqueue.proofs.concrete.to_allocator`), checked sound with
:meth:`StepChecker.full_check`, and runs the operation with the bug planted; the same state
and operation without the bug is the control (``Transfer.control``: what the checker said
then, None when it passed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rmqueue.model.errors import RmqueueError
from rmqueue.specs.check import StepChecker
from rmqueue.specs.errors import InvariantViolation

from . import _z3
from ._z3 import BV, OPS, Bool, word
from .concrete import Concrete, complete, only_layout, to_allocator
from .extra import config_axioms
from .obligations import (
    COUNT_INVARIANTS,
    PAGE_INVARIANTS,
    _queries,
    buddy_term,
    describe,
    holds,
    hypotheses,
    summary,
)
from .realize import REALIZE, Realization, slots
from .state import Geometry
from .transitions import PHASES, Phase

o_ = OPS
TIERS = ("exact", "parameters", "local", "none")
# Outside the exact tier the zone is asked to start below this pfn (readable numbers).
LOW_PFNS = 1 << 16
GFP_FOR_MT = {0: ("GFP_KERNEL",), 1: ("GFP_TEMPORARY",), 2: ("GFP_HIGHUSER_MOVABLE",)}


@dataclass(slots=True)
class Transfer:
    """The outcome of one transfer (see the module docstring)."""

    bug: str
    phase: str
    invariant: str
    proof: str
    detail: str = ""
    tier: str = ""
    pages: int = 0
    assumes: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    program: list[str] = field(default_factory=list)
    sound: bool = False
    violation: str | None = None
    control: str | None = None
    message: str = ""
    notes: list[str] = field(default_factory=list)
    witness: dict[str, Any] = field(default_factory=dict)


def counterexample(ph: Phase, invariant: str,
                   timeout_ms: int) -> tuple[str, list[Bool], Any, str]:
    """Run the phase's queries as the runner does; the first ``sat`` one's facts (hypotheses,
    case and negated subgoal), model and description, or the status of the first
    non-proof."""
    p = word("p")
    facts = hypotheses(ph, p, invariant)
    for g, case in _queries(ph, invariant, p):
        q = [*facts, *case, _z3.negate(g)]
        out = _z3.check(q, timeout_ms)
        if out.status == "sat":
            return "counterexample", q, out.model, describe(out.model, ph, invariant, p, g)
        if out.status != "unsat":
            return out.status, [], None, out.reason
    return "proved", [], None, ""


def _pins(ph: Phase, model: Any, tier: str) -> list[Bool]:
    if tier == "none":
        return []
    s = ph.pre
    ev = _z3.eval_int
    touched = list(ph.touched)

    def same(t: BV) -> Bool:
        return o_.eq(t, o_.val(ev(model, t)))

    def same_b(t: Bool) -> Bool:
        return t if _z3.eval_bool(model, t) else o_.not_(t)

    out = [same_b(s.mobility_disabled)]
    if tier != "local":
        out += [same(s.c_high), same(s.c_batch), same(s.c_pcp_count[0])]
    out += [same(t) for _, t in ph.terms if not any(t is u for u in touched)]
    for t in touched:
        out += [same_b(s.on_free(t)), same_b(s.on_pcp(t)), same_b(s.allocated(t)),
                same_b(s.buddy(t))]
        for flag, fields in ((s.on_free, (s.free_order, s.free_mt)), (s.on_pcp, (s.pcp_index,)),
                             (s.allocated, (s.alloc_order,))):
            if _z3.eval_bool(model, flag(t)):
                out += [same(f(t)) for f in fields]
        out.append(same(s.block_mt(t)))
    if tier == "exact":
        out += [same(s.start), same(s.end), *(same(t) for t in touched)]
        out += [same(t) for t in (*s.c_nr_free, *s.c_counters, s.c_allocated_pages,
                                  *(x for row in s.c_free_len for x in row),
                                  *(x for row in s.c_pcp_len for x in row))]
    return out


def _real_zone(real: Realization, layout: list[BV], cap: int) -> list[Bool]:
    """``real.real`` is a zone of at most ``cap`` pages whose lists hold only ``layout``
    pfns, with every invariant at them and every count invariant (the phase's hypotheses
    have most of them already when the real state is the phase's pre-state)."""
    r = real.real
    facts = only_layout(r, layout, cap) + config_axioms(r)
    for q in layout:
        facts += [inv.formula(OPS, r, q) for inv in PAGE_INVARIANTS]
    facts += [holds(inv, r, o_.val(0)) for inv in COUNT_INVARIANTS]
    return facts


# Programs hold the whole Concrete up to this many pages (beyond, see ``Transfer.state``).
PROGRAM_PAGES = 64


def _program(c: Concrete, bug: str, kind: str, args: tuple[Any, ...]) -> list[str]:
    """A replayable program: build the state, check it, run the operation with the bug."""
    state = repr(c) if c.end - c.start <= PROGRAM_PAGES else "...  # see the state summary"
    return ["from rmqueue.proofs.concrete import Concrete, to_allocator",
            "from rmqueue.proofs.replay import planted",
            "from rmqueue.proofs.state import Geometry",
            "from rmqueue.specs.check import StepChecker",
            f"a = to_allocator({state})",
            "checker = StepChecker(a)",
            "checker.full_check()",
            f"with planted({bug!r}):",
            f"    checker.check(a.{kind}{args!r})",
            "    checker.full_check()  # raises InvariantViolation"]


def transfer(transition: str, geo: Geometry, cap: int = 32,
             budget_s: float = 60.0) -> Transfer:
    """Prove the bug's phase, transfer the counterexample to a model state, replay it."""
    from .replay import BUG_SITES, planted
    from .transitions import BUGS

    bug = BUGS[transition][0]
    phase_name, invariant, _ = BUG_SITES[transition]
    ph = PHASES[phase_name](geo, bug)
    status, query, m0, detail = counterexample(ph, invariant, int(budget_s * 1000))
    res = Transfer(bug, phase_name, invariant, status, detail=detail)
    if status != "counterexample":
        return res
    p = word("p")
    res.witness = summary(m0, ph, p)
    real = REALIZE[phase_name](ph)
    res.assumes = real.assumes
    own = [*ph.touched, p, buddy_term(real.real, p)]
    span = _z3.eval_int(m0, ph.pre.end) - _z3.eval_int(m0, ph.pre.start)
    for tier in TIERS:
        if tier == "exact" and span > cap:
            res.notes.append(f"tier exact skipped: the counterexample's zone has {span} pages "
                             f"(cap {cap})")
            continue
        # pinned counts may need list members beyond the step's own pfns: extra slots
        layout = real.layout or (own + slots() if tier in ("exact", "parameters") else own)
        facts = [*query, *real.facts, *_real_zone(real, layout, cap), *_pins(ph, m0, tier)]
        if tier != "exact":
            facts.append(o_.ult(real.real.start, o_.val(LOW_PFNS)))
        # the pinned tiers get a third of the budget each, the last one all of it
        share = budget_s if tier == TIERS[-1] else budget_s / 3
        out = _z3.check(facts, int(share * 1000))
        if out.status != "sat":
            res.notes.append(f"tier {tier}: {out.status} {out.reason}".strip())
            continue
        _replay_model(res, out.model, real, layout, bug, planted)
        res.tier = tier
        if res.violation is not None or not res.sound:
            return res
        res.notes.append(f"tier {tier}: the model showed no violation")
    return res


def _replay_model(res: Transfer, model: Any, real: Realization, layout: list[BV], bug: str,
                  planted: Callable[[str], Any]) -> None:
    r = real.real
    c = complete(model, r, layout)
    res.pages = c.end - c.start
    c.heads = [_z3.eval_int(model, h) for h in real.heads]
    args: tuple[Any, ...]
    vals = {k: _z3.eval_int(model, v) for k, v in real.args.items()}
    if real.kind == "alloc":
        args = (0, vals["order"], GFP_FOR_MT[vals["mt"]])
    elif real.kind == "free":
        args = (0, vals["pfn"], vals["order"])
    else:
        args = (0,)
    res.state = {"zone": [c.start, c.end], "pcp": {"count": c.pcp_count[0], "high": c.high,
                                                    "batch": c.batch},
                 "heads": c.heads, "operation": [real.kind, *args],
                 "pages": {pfn: _describe(c, pfn) for pfn in range(c.start, c.end)
                           if _describe(c, pfn)}}
    res.program = _program(c, bug, real.kind, args)
    try:
        a = to_allocator(c)
        checker = StepChecker(a)
        checker.full_check()
    except (InvariantViolation, RmqueueError) as exc:
        res.sound = False
        res.message = f"the transferred state is not a sound zone: {exc}"
        return
    res.sound = True
    # the control: the same state and operation without the bug
    ctl = to_allocator(c)
    ctl_checker = StepChecker(ctl)
    try:
        ctl_checker.check(getattr(ctl, real.kind)(*args))
        ctl_checker.full_check()
    except (InvariantViolation, RmqueueError) as exc:
        res.control = getattr(exc, "invariant", type(exc).__name__)
    with planted(bug):
        try:
            rec = getattr(a, real.kind)(*args)
            checker.check(rec)
            checker.full_check()
        except InvariantViolation as exc:
            res.violation, res.message = exc.invariant, str(exc)
        except RmqueueError as exc:
            res.message = f"the model refused or broke: {exc}"


def _describe(c: Concrete, pfn: int) -> str:
    p = c.page(pfn)
    if p["on_free"]:
        return f"free o{p['free_order']} mt{p['free_mt']}"
    if p["on_pcp"]:
        return f"pcp cpu{p['pcp_cpu']} list {p['pcp_index']}"
    if p["allocated"]:
        return f"allocated o{p['alloc_order']}"
    return ""


__all__ = ["TIERS", "Transfer", "counterexample", "transfer"]
