"""The proofs' symbolic transitions agree with the executable model, on concrete states.

The phases of :mod:`rmqueue.proofs.transitions` are the proofs' own encoding of list
handling and loop structure (only the scalar kernels are the model's).  This module checks
them against the model: for one model operation, :func:`plan` reads from its
:class:`Transition` record the phases the operation runs through and the choices the model
made (the list heads it took, the blocks it moved, the buddies it merged); :func:`agree` then
runs those very :class:`~rmqueue.proofs.transitions.Phase` objects one after the other with
Z3, each from a pre-state pinned to concrete values (:func:`rmqueue.proofs.concrete.pin`):
the first from the model's state before the operation, each next one from the state the
previous phase computed.  Each phase must

* admit the model's choices (its guards and the pinned choices are satisfiable together),
* keep its list side conditions (:attr:`Phase.side`),
* determine its post-state (no second post-state satisfies the same facts),

and the last phase's post-state must equal the model's state after the operation, at every
pfn of the zone, every pageblock, list length, pcp count and counter (checked by Z3: the
facts and "some field differs" are unsatisfiable).  A failure raises :class:`Disagreement`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rmqueue.model.record import FreeOp, Transition
from rmqueue.model.types import MIGRATE_CMA, MIGRATE_MOVABLE, MIGRATE_RESERVE, MIGRATE_TYPES

from . import _z3
from ._z3 import OPS, word
from .concrete import MASK, Concrete, differences, pin, read
from .state import Geometry
from .transitions import PHASES


class Disagreement(AssertionError):
    """The symbolic transition and the model disagree at ``phase``."""

    def __init__(self, phase: str, what: str, details: list[str] | None = None) -> None:
        self.phase = phase
        self.what = what
        self.details = details or []
        super().__init__(f"{phase}: {what}" + "".join(f"\n  {d}" for d in self.details))


@dataclass(frozen=True, slots=True)
class PhaseRun:
    """One phase to run and the values of its free words (list heads, orders, ghosts)."""

    phase: str
    pins: tuple[tuple[str, int], ...]


def _run(phase: str, **pins: int) -> PhaseRun:
    return PhaseRun(phase, tuple(pins.items()))


def _takes(rec: Transition, req: int, order: int, pages: list[int],
           max_order: int) -> list[tuple[str, dict[str, int], FreeOp]]:
    """Each ``__rmqueue()`` of the record: its path, the take phase's pins and the block.
    ``move_freepages`` logs a block as a ``free_del`` followed by a ``free_add`` of the same
    block; the block taken is the first ``free_del`` of the page that is not such a move."""
    out = []
    d = a = 0
    for page in pages:
        moves: list[FreeOp] = []
        while True:
            e = rec.free_del[d]
            d += 1
            k = a + len(moves)
            if k < len(rec.free_add) and rec.free_add[k][:2] == e[:2]:
                moves.append(e)
                continue
            break
        if e[0] != page:
            raise Disagreement("plan", f"the record's block {e} is not the page {page} handed on")
        a += len(moves) + e[1] - order
        if moves:
            case = "fallback"
        elif e[2] == req:
            case = "smallest"
        elif e[2] == MIGRATE_CMA and req == MIGRATE_MOVABLE:
            case = "cma"
        elif e[2] == MIGRATE_RESERVE:
            case = "reserve"
        else:
            case = "fallback"
        pins = {"migratetype": req, "order": order, "page": e[0], "current_order": e[1]}
        if case == "fallback":
            for k in range(max_order):
                for t in range(MIGRATE_TYPES):
                    pins[f"moved[{k}][{t}]"] = sum(1 for m in moves if m[1:] == (k, t))
        out.append((case, pins, e))
    return out


def _as_mt(case: str, req: int) -> int:
    return {"cma": MIGRATE_CMA, "reserve": MIGRATE_RESERVE}.get(case, req)


def _alloc_plan(rec: Transition, geo: Geometry) -> list[PhaseRun]:
    req, order = rec.migratetype, rec.order
    runs: list[PhaseRun] = []
    if order == 0:
        got = [p for _, _, p in rec.pcp_add]
        for case, pins, blk in _takes(rec, req, 0, got, geo.max_order):
            mt = _as_mt(case, req)
            runs.append(PhaseRun(f"take_{case}", tuple(pins.items())))
            runs += [_run("expand_step", m=blk[0], K=h, mt=mt, low=0, request_mt=req)
                     for h in range(blk[1], 0, -1)]
            runs.append(_run("finish_refill", m=blk[0], K=0, mt=mt, request_migratetype=req))
        if got:
            runs.append(_run("refill_exit", i=len(got)))
        runs.append(_run("pcp_hit", migratetype=req, page=rec.pcp_del[-1][2]))
        return runs
    assert rec.pfn is not None
    ((case, pins, blk),) = _takes(rec, req, order, [rec.pfn], geo.max_order)
    mt = _as_mt(case, req)
    runs.append(PhaseRun(f"take_{case}", tuple(pins.items())))
    runs += [_run("expand_step", m=blk[0], K=h, mt=mt, low=order, request_mt=req)
             for h in range(blk[1], order, -1)]
    runs.append(_run("finish_alloc", m=blk[0], K=order, mt=mt))
    return runs


def _merges(rec: Transition, m: int, k: int, final: FreeOp, d: int) -> tuple[list[PhaseRun], int]:
    """The merge loop of one freed block, from the record's buddies (``free_del``) and the
    block it put on a list (``final``)."""
    runs = []
    mt = final[2]
    while k < final[1]:
        runs.append(_run("merge_step", m=m, K=k, mt=mt))
        m &= rec.free_del[d][0]
        d += 1
        k += 1
    if m != final[0]:
        raise Disagreement("plan", f"merging ends at pfn {m}, the record's block is {final}")
    runs.append(_run("merge_exit", m=m, K=k, mt=mt))
    return runs, d


def _bulk(rec: Transition) -> list[PhaseRun]:
    runs: list[PhaseRun] = []
    d = 0
    for j, (_cpu, _idx, x) in enumerate(rec.pcp_del):
        runs.append(_run("bulk_entry", page=x))
        more, d = _merges(rec, x, 0, rec.free_add[j], d)
        runs += more
    return runs


def plan(rec: Transition, geo: Geometry) -> list[PhaseRun] | None:
    """The phases one model operation runs through, with the model's choices; ``None`` for
    what no phase covers (a failed allocation, which changes nothing, or an operation on a
    CPU other than 0)."""
    if rec.cpu != 0 or rec.failed:
        return None
    if rec.op == "alloc":
        return _alloc_plan(rec, geo)
    if rec.op == "free":
        assert rec.pfn is not None
        if rec.order == 0:
            runs = [_run("free_push", page=rec.pfn)]
            if rec.pcp_del:
                runs += [*_bulk(rec), _run("trim_exit")]
            return runs
        more, _ = _merges(rec, rec.pfn, rec.order, rec.free_add[0], 0)
        return [_run("free_entry", page=rec.pfn, order=rec.order), *more]
    if rec.op == "drain":
        return [*_bulk(rec), _run("drain_exit")] if rec.pcp_del else []
    return None


def run_phase(geo: Geometry, run: PhaseRun, pre: Concrete, expect: Concrete | None = None,
              timeout_ms: int = 60000) -> Concrete:
    """Run one phase from ``pre`` with ``run``'s pins (see the module docstring); returns
    its post-state (``expect``, when given, is what it must be)."""
    ph = PHASES[run.phase](geo, None)
    o = OPS
    facts = [*pin(ph.pre, pre), *ph.guards,
             *(o.eq(word(n), o.val(v & MASK)) for n, v in run.pins)]
    out = _z3.check(facts, timeout_ms)
    if out.status != "sat":
        raise Disagreement(run.phase, f"the phase does not admit the model's step ({out.status})",
                           [f"{n} = {v}" for n, v in run.pins])
    bad = [name for name, f in ph.side if not _z3.eval_bool(out.model, f)]
    if bad:
        raise Disagreement(run.phase, "a list side condition fails on the model's step", bad)
    post = read(out.model, ph.post, pre.start, pre.end)
    target = post if expect is None else expect
    other = _z3.check([*facts, _z3.negate(_z3.conj(pin(ph.post, target, meaningful_only=True)))],
                      timeout_ms)
    if other.status == "sat":
        if expect is not None:
            raise Disagreement(run.phase, "the symbolic post-state differs from the model's",
                               differences(post, expect))
        alt = read(other.model, ph.post, pre.start, pre.end)
        raise Disagreement(run.phase, "the post-state is not determined by the pre-state and "
                           "the model's choices", differences(post, alt))
    if other.status != "unsat":
        raise Disagreement(run.phase, f"the solver gave no answer ({other.status})")
    return target


def agree(geo: Geometry, before: Concrete, rec: Transition, after: Concrete,
          timeout_ms: int = 60000) -> list[str] | None:
    """Check that the phases of ``rec``'s operation take ``before`` to ``after``; returns the
    phases run, or ``None`` when no phase covers the operation."""
    runs = plan(rec, geo)
    if runs is None:
        return None
    if not runs:
        diffs = differences(before, after)
        if diffs:
            raise Disagreement("(no phase)", "the model changed a state no phase changes", diffs)
        return []
    state = before
    for j, run in enumerate(runs):
        state = run_phase(geo, run, state, after if j == len(runs) - 1 else None, timeout_ms)
    return [r.phase for r in runs]


__all__ = ["Disagreement", "PhaseRun", "agree", "plan", "run_phase"]
