"""The per-shape step checks (rmqueue.specs._shapes) agree with the general step check.

The shape checks are partial evaluations of the same formulas (STYLE §2: a derived fast path
is cross-checked).  On a mixed workload, before each pcp-hit step, the post state is broken
at random (the step's page, the pcp count, a vmstat counter, the fair flag) or left sound, and
the shape check's verdict is compared with the general path's on the same state, for the
fast evaluator and for the solver's shape macro.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from specs_helpers import BACKENDS, SMALL, make_checker
from test_crosscheck import IntEvents

from rmqueue.model import Allocator
from rmqueue.model.buddy import INT_OPS
from rmqueue.specs import InvariantViolation
from rmqueue.specs import transitions as T
from rmqueue.specs._codegen import lit
from rmqueue.specs._shapes import compile_shape, fold, shape_events, shape_of
from rmqueue.specs._smtcheck import PAD, pad_events
from rmqueue.specs.check import StepChecker, coverage_mismatch


def test_shape_records_conserve_pages() -> None:
    for op in ("alloc", "free"):
        for pfn in (0, 1, 77, 2047):
            ev = shape_events(op, pfn)
            assert coverage_mismatch(list(ev)) is None
            assert T.pages_conserved(INT_OPS, IntEvents(ev))


def test_fold_keeps_values() -> None:
    rnd = random.Random(0)
    for _ in range(300):
        x = rnd.randrange(-3, 4)
        src = rnd.choice([
            "(x == ((-1 + 0) + 0)) and (1 < 2)",
            "((1 if x >= 0 else 0) - -1 == 0 or (1 if 2 > 3 else 0) - 1 == 1)",
            "(not (0 == 0) or x + 0 - 1 == 2) and (False or x > 1)",
            "(True and (x & 0 == 0)) or (x if 1 < 0 else 2) == x",
        ])
        assert eval(fold(src), {"x": x}) == eval(src, {"x": x}), src  # noqa: S307


def _break(rnd: random.Random, a: Allocator, pfn: int, cpu: int) -> Any:
    """Corrupt one piece of the post state a shape check reads; return an undo."""
    z = a.zone
    i = pfn - z.zone_start_pfn
    what = rnd.randrange(9)
    if what == 8:  # the type of the page's pageblock (cma_lists_match_pageblocks reads it)
        pb = z.pageblock_index(pfn)
        old = z.pageblock_mt[pb]
        z.pageblock_mt[pb] = rnd.choice([0, 2, 3, 4, 5])

        def undo() -> None:
            z.pageblock_mt[pb] = old
    elif what < 4:
        arr = (z.list_of, z.buddy_order, z.alloc_order, z.cached_mt)[what]
        old = arr[i]
        arr[i] = rnd.choice([-1, 0, 1, 2, 3, 4, 5, 6, old + 1, z.nr_free_lists,
                             z.nr_free_lists + 1, z.nr_free_lists + 4])

        def undo() -> None:
            arr[i] = old
    elif what == 4:
        p = z.pageset[cpu]
        old = p.count
        p.count += rnd.choice([-1, 1])

        def undo() -> None:
            p.count = old
    elif what == 5:
        old_f = z.fair_depleted
        z.fair_depleted = not old_f

        def undo() -> None:
            z.fair_depleted = old_f
    else:
        item = rnd.randrange(len(z.vm_stat))
        old = z.vm_stat[item]
        z.vm_stat[item] += rnd.choice([-1, 1])

        def undo() -> None:
            z.vm_stat[item] = old
    return undo


def _general_ok(chk: StepChecker, rec: Any) -> bool:
    shadow = (list(chk.shadow_pc), list(chk.shadow_vm))
    try:
        chk._check_general(rec)
        ok = True
    except InvariantViolation:
        ok = False
    chk.shadow_pc[:], chk.shadow_vm[:] = shadow
    chk.steps -= 1
    return ok


def _run(seed: int, n: int, backend: str) -> tuple[int, int]:
    rnd = random.Random(seed)
    a = Allocator(SMALL)
    chk = make_checker(a, backend, batch=1)
    fast = StepChecker(a) if backend == "z3" else chk
    live: list[tuple[int, int]] = []
    gfps = (["GFP_KERNEL"], ["GFP_HIGHUSER_MOVABLE"], ["GFP_TEMPORARY"])
    seen = [0, 0]
    for _ in range(n):
        if rnd.random() < 0.55 or not live:
            rec = a.alloc(rnd.randrange(SMALL.cpus), 0, rnd.choice(gfps))
            if rec.pfn is not None:
                live.append((rec.pfn, 0))
        else:
            p, o = live.pop(rnd.randrange(len(live)))
            rec = a.free(rnd.randrange(SMALL.cpus), p, o, rnd.random() < 0.3)
        got = shape_of(rec, len(a.zone.pageset))
        if got is None or rnd.random() < 0.5:
            chk.check(rec)
            if fast is not chk:
                fast.check(rec)
            continue
        shape, pfn = got
        undo = _break(rnd, a, pfn, shape[1])
        # the general path of the same evaluator (the solver reads the packed page word)
        want = _general_ok(chk, rec)
        if backend == "z3" and want != _general_ok(fast, rec):
            undo()
            chk.check(rec)
            fast.check(rec)
            continue  # a broken value the packed word cannot hold: the encodings differ
        seen[want] += 1
        if backend == "fast":
            shadow = (list(chk.shadow_pc), list(chk.shadow_vm))
            assert compile_shape(chk, shape)(pfn) == want, (shape, pfn)
            chk.shadow_pc[:], chk.shadow_vm[:] = shadow
        else:
            shadow = (list(chk.shadow_pc), list(chk.shadow_vm))
            try:
                chk.check(rec)
                ok = True
            except InvariantViolation:
                ok = False
            assert ok == want, (shape, pfn)
            chk.shadow_pc[:], chk.shadow_vm[:] = shadow
            chk.steps -= 1
        undo()
        chk.check(rec)
        if fast is not chk:
            fast.check(rec)
    return seen[0], seen[1]


@pytest.mark.parametrize("seed", range(4))
def test_fast_shape_check_matches_general_path(seed: int) -> None:
    bad, good = _run(seed, 1500, "fast")
    assert bad > 20 and good > 20


@pytest.mark.parametrize("seed", range(2))
def test_solver_shape_macro_matches_general_path(seed: int) -> None:
    bad, good = _run(seed, 300, "z3")
    assert bad > 5 and good > 5


def test_shape_failure_names_the_invariant() -> None:
    for backend in BACKENDS:
        a = Allocator(SMALL)
        chk = make_checker(a, backend, batch=1)
        chk.check(a.alloc(0, 0, ["GFP_KERNEL"]))  # a refill; the next alloc is a pcp hit
        rec = a.alloc(0, 0, ["GFP_KERNEL"])
        assert shape_of(rec, len(a.zone.pageset)) is not None
        a.zone.pageset[0].count += 1
        with pytest.raises(InvariantViolation) as ei:
            chk.check(rec)
        assert ei.value.invariant == "pcp_count_matches", backend
        assert ei.value.step == 1


@pytest.mark.parametrize("seed", range(2))
def test_solver_pair_macros_match_array_macros(seed: int) -> None:
    """The ``_f`` macros (page fields as parameters) answer as the store-chain macros do."""
    rnd = random.Random(seed)
    a = Allocator(SMALL)
    chk = StepChecker(a, backend="z3", batch=1)
    live: list[tuple[int, int]] = []
    for _ in range(300):
        if rnd.random() < 0.6 or not live:
            rec = a.alloc(rnd.randrange(2), rnd.choice([0, 0, 1, 3]), ["GFP_KERNEL"])
            if rec.pfn is not None:
                live.append((rec.pfn, rec.order))
        else:
            p, o = live.pop(rnd.randrange(len(live)))
            rec = a.free(rnd.randrange(2), p, o, False)
        chk.check(rec)
    smt = chk._smt
    assert smt is not None
    z = a.zone
    sites = [frozenset({"touched", "added", "free_added", "pcp_added"}),
             frozenset({"touched", "added", "free_added"})]
    answers = [0, 0]
    for _ in range(150):
        pfn = rnd.randrange(z.spanned_pages)
        for arr in rnd.sample([z.list_of, z.buddy_order, z.alloc_order, z.cached_mt], 2):
            arr[pfn ^ rnd.choice([0, 0, 1, 2, 4])] = rnd.choice([-1, 0, 1, 2, 3, 5, 7, 30])
        z.pageblock_mt[z.pageblock_index(pfn + z.zone_start_pfn)] = rnd.choice([0, 2, 4, 5])
        smt._words = {}
        calls: list[tuple[str, Any, tuple[int, ...]]] = []
        for s in sites:
            name, fn, _ = smt._site_macro(chk, s)
            calls.append((name, fn, (pfn,)))
        for kind, mac in ((0, "ldc_free"), (1, "ldc_pcp")):
            calls.append((mac, smt._ldc[kind], (pfn, rnd.randrange(3), rnd.randrange(3),
                                                rnd.choice([-1, 1]))))
        calls.append(("alloc_ok", smt._res[0], (pfn, rnd.randrange(3))))
        calls.append(("free_ok", smt._res[1], (pfn, 0)))
        calls.append(("retype", smt._rt, (pfn, *(rnd.choice([0, 2, 4, 5]) for _ in "won"))))
        pair, array = "".join(smt._defs), ""
        smt._defs = []
        for mac, fn, args in calls:
            text, m = smt._page_term(mac, fn, *args)
            assert text.startswith(f"({mac}_f ")
            rest = " ".join(lit(x) for x in args)
            pair += f"(push)(assert (not {text}))(check-sat)(pop)\n"
            array += f"(push)(assert (not ({mac} {m} {rest})))(check-sat)(pop)\n"
        # a bundle: the page invariants and two list-delta instances in one application
        ldcs = [(0, rnd.randrange(3), rnd.randrange(3), rnd.choice([-1, 1])),
                 (1, rnd.randrange(2), rnd.randrange(3), rnd.choice([-1, 1]))]
        bundle = smt._bundle(chk, sites[0], pfn, ldcs)
        assert bundle is not None
        name, fn, _ = smt._site_macro(chk, sites[0])
        m = smt._chain(fn, pfn)
        parts = [f"({name} {m} {lit(pfn)})"]
        for kind, x, y, net in ldcs:
            mac = ("ldc_free", "ldc_pcp")[kind]
            parts.append(f"({mac} {smt._chain(smt._ldc[kind], pfn, x, y, net)} {lit(pfn)} "
                         f"{lit(x)} {lit(y)} {lit(net)})")
        pair = "".join(smt._defs) + pair + f"(push)(assert (not {bundle[1]}))(check-sat)(pop)\n"
        smt._defs = []
        array += f"(push)(assert (not (and {' '.join(parts)})))(check-sat)(pop)\n"
        got = smt.session.run(pair).split()
        assert got == smt.session.run(array).split()
        answers[got[0] == "unsat"] += 1
    assert answers[0] and answers[1]


@pytest.mark.parametrize("seed", range(3))
def test_padded_events_keep_pages_conserved(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(300):
        ev = sorted((rnd.randrange(0, 40), rnd.choice([-1, 1]))
                    for _ in range(rnd.randrange(1, 12)))
        if rnd.random() < 0.5:  # a conserving list: every event cancelled
            ev = sorted(ev + [(x, -w) for x, w in ev])
        padded = pad_events(list(ev))
        assert len(padded) % PAD == 0
        assert bool(T.pages_conserved(INT_OPS, IntEvents(padded))) == bool(
            T.pages_conserved(INT_OPS, IntEvents(ev))), ev
