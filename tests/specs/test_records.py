"""The whole-record fast checks (Python, specs/_records.py, and C, specs/_crecords.py)
against the general path they shortcut.

Soundness: whenever a fast check accepts a record, the general path accepts it too (a fast
check may only hand a record over, never pass one the general path rejects).  Checked on
the model's own records and on corrupted copies of them: entries dropped, doubled, moved
between lists, with another order, type, pfn, CPU or list index, bogus entries, net-zero
pairs.  Completeness on the model: the fast checks accept every record of a correct run
(no fallback to the general path).
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from specs_helpers import SMALL, workload

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.model.record import Transition
from rmqueue.specs._c import py_to_c
from rmqueue.specs._cbuild import load
from rmqueue.specs.check import StepChecker
from rmqueue.specs.errors import InvariantViolation

HAVE_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None

CONFIGS = [
    SMALL,
    ZoneConfig.kernel_default(3000, zone={"pages": 3000, "start_pfn": 40}, cpus=3,
                              pcp={"high": 6, "batch": 2}),
    ZoneConfig(start_pfn=64, pages=256, max_order=5, pageblock_order=2, cpus=2, pcp_high=4,
               pcp_batch=2, mobility_grouping=True, reserve_pageblocks=1,
               cma_pageblocks=(8, 9, 10, 11)),
]


def copy_record(rec: Transition) -> Transition:
    out = Transition(rec.op, rec.cpu, rec.order, rec.migratetype, rec.cold, rec.pfn)
    out.free_del = list(rec.free_del)
    out.free_add = list(rec.free_add)
    out.pcp_del = list(rec.pcp_del)
    out.pcp_add = list(rec.pcp_add)
    out.retyped = list(rec.retyped)
    out.vm_delta = list(rec.vm_delta)
    return out


LISTS = ("free_del", "free_add", "pcp_del", "pcp_add")


def corruptions(rec: Transition, rnd: random.Random, zone: Any) -> list[Transition]:
    """Corrupted copies of ``rec`` of every kind the fast paths handle themselves."""
    out = []
    full = [n for n in LISTS if getattr(rec, n)]
    s0, se = zone.zone_start_pfn, zone.zone_start_pfn + zone.spanned_pages
    for name in full:
        lst = getattr(rec, name)
        i = rnd.randrange(len(lst))
        e = lst[i]
        # dropped
        c = copy_record(rec)
        del getattr(c, name)[i]
        out.append(c)
        # doubled
        c = copy_record(rec)
        getattr(c, name).append(e)
        out.append(c)
        # moved to the other list of its kind
        other = {"free_del": "free_add", "free_add": "free_del", "pcp_del": "pcp_add",
                 "pcp_add": "pcp_del"}[name]
        c = copy_record(rec)
        getattr(c, name).pop(i)
        getattr(c, other).append(e)
        out.append(c)
        # one field changed
        for f in range(3):
            for d in (-1, 1, 5):
                c = copy_record(rec)
                e2 = list(e)
                e2[f] += d
                getattr(c, name)[i] = tuple(e2)
                out.append(c)
    # a net-zero pair at a random pfn (benign where that pfn's invariants hold)
    p = rnd.randrange(s0, se)
    c = copy_record(rec)
    c.free_add.append((p, 0, 0))
    c.free_del.append((p, 0, 0))
    out.append(c)
    c = copy_record(rec)
    c.pcp_add.append((0, 1, p))
    c.pcp_del.append((0, 1, p))
    out.append(c)
    # bogus entries
    for bogus in ((se + 3, 0, 0), (s0 - 1, 0, 0), (s0, 40, 0), (s0, 0, 9)):
        c = copy_record(rec)
        c.free_del.append(bogus)
        out.append(c)
    # the op's own block
    if rec.pfn is not None:
        for d in (-1, 1):
            c = copy_record(rec)
            c.pfn = rec.pfn + d
            out.append(c)
        c = copy_record(rec)
        c.order = rec.order + 1
        out.append(c)
    return out


Shadow = tuple[list[int], list[int], list[int], Any, int]


def _shadow(chk: StepChecker) -> Shadow:
    return (list(chk._nf), list(chk._pc), list(chk._vm), chk._retype.types[:], chk.steps)


def _restore(chk: StepChecker, snap: Shadow) -> None:
    chk._nf[:], chk._pc[:], chk._vm[:], chk._retype.types[:], chk.steps = snap


def general_accepts(chk: StepChecker, rec: Transition) -> bool:
    snap = _shadow(chk)
    try:
        chk._check_general(rec)
    except (InvariantViolation, IndexError, ValueError, TypeError):
        return False
    finally:
        _restore(chk, snap)
    return True


def fast_verdicts(checkers: dict[str, StepChecker], rec: Transition) -> dict[str, bool]:
    """Each checker's fast verdict on ``rec`` (``StepChecker.fast_check``), its shadow left
    as it was; a fast check that fails must also leave it as it was."""
    out = {}
    for name, chk in checkers.items():
        snap = _shadow(chk)
        out[name] = chk.fast_check(rec)
        if not out[name]:
            assert _shadow(chk) == snap, f"the {name} fast check moved the shadow and failed"
        _restore(chk, snap)
    return out


def run_and_probe(cfg: ZoneConfig, seed: int, steps: int) -> tuple[int, int]:
    """Drive the model; at every step compare the fast verdicts with the general path on
    the record and on its corruptions.  Returns (records, corruptions) probed."""
    a = Allocator(cfg)
    checkers = {"python": StepChecker(a, native=False)}
    if HAVE_CC:
        checkers["c"] = StepChecker(a, native=True)
    chk = checkers["python"]
    rnd = random.Random(seed)
    live: list[tuple[int, int]] = []
    gfps = (["GFP_KERNEL"], ["GFP_HIGHUSER_MOVABLE"], ["GFP_TEMPORARY"], ["GFP_ATOMIC"],
            ["GFP_KERNEL", "__GFP_COLD"])
    probed = 0
    for _ in range(steps):
        r = rnd.random()
        if r < 0.55 or not live:
            o = 0 if rnd.random() < 0.6 else rnd.randrange(1, cfg.max_order)
            rec = a.alloc(rnd.randrange(cfg.cpus), o, rnd.choice(gfps))
            if rec.pfn is not None:
                live.append((rec.pfn, o))
        elif r < 0.96:
            p, o = live.pop(rnd.randrange(len(live)))
            rec = a.free(rnd.randrange(cfg.cpus), p, o, rnd.random() < 0.3)
        else:
            rec = a.drain(rnd.randrange(cfg.cpus))
        got = fast_verdicts(checkers, rec)
        assert all(got.values()), (got, rec)
        for bad in corruptions(rec, rnd, a.zone):
            verdicts = fast_verdicts(checkers, bad)
            if any(verdicts.values()):
                assert general_accepts(chk, bad), (
                    f"a fast check accepted a record the general path rejects: {verdicts}; "
                    f"free_del={bad.free_del} free_add={bad.free_add} pcp_del={bad.pcp_del} "
                    f"pcp_add={bad.pcp_add} pfn={bad.pfn} order={bad.order}")
            probed += 1
        for c in checkers.values():
            c.check(rec)
    for c in checkers.values():
        c.full_check()
        assert c.record_fallbacks == 0
    return steps, probed


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(CONFIGS) - 1))
def test_fast_checks_never_pass_what_the_general_path_rejects(seed: int, which: int) -> None:
    steps, probed = run_and_probe(CONFIGS[which], seed, 150)
    assert probed > steps


@pytest.mark.slow
@pytest.mark.parametrize("which", range(len(CONFIGS)))
def test_fast_checks_sound_long(which: int) -> None:
    run_and_probe(CONFIGS[which], which + 11, 3000)


@pytest.mark.parametrize("native", [False, True])
def test_no_fallback_on_a_correct_run(native: bool) -> None:
    """Every record of a correct run is accepted by the fast check itself."""
    if native and not HAVE_CC:
        pytest.skip("no C compiler")
    for cfg in CONFIGS:
        a = Allocator(cfg)
        chk = StepChecker(a, native=native)
        assert chk.native == native
        workload(a, chk, 800, 5, pressure=True)
        chk.full_check()
        assert chk.record_fallbacks == 0


def test_c_checks_build_here() -> None:
    """Where a C compiler exists (CI's machines have one), the C evaluator is built: the
    benchmark's figures depend on it."""
    if not HAVE_CC:
        pytest.skip("no C compiler")
    for mo in (4, 11):
        assert load(mo) is not None


@pytest.mark.parametrize("native", [False, True])
def test_fast_check_rejects_planted_corruptions(native: bool) -> None:
    """Sensitivity: each kind of corruption of a real record is rejected by the fast check
    (the general path then names it), not only handed over when harmless."""
    if native and not HAVE_CC:
        pytest.skip("no C compiler")
    a = Allocator(SMALL)
    chk = StepChecker(a, native=native)
    workload(a, chk, 200, 9)
    rec = a.alloc(0, 3, ["GFP_KERNEL"])
    assert rec.free_del and rec.pfn is not None
    plants: list[Callable[[Transition], None]] = [
        lambda r: r.free_del.pop(),                                   # a lost block
        lambda r: r.free_add.append(r.free_del[0]),                   # left on a list
        lambda r: setattr(r, "pfn", r.pfn + 8),                       # wrong block
        lambda r: r.free_del.__setitem__(0, (r.free_del[0][0], r.free_del[0][1] + 1,
                                             r.free_del[0][2])),      # wrong order
    ]
    snap = _shadow(chk)
    for plant in plants:
        bad = copy_record(rec)
        plant(bad)
        assert not fast_verdicts({"it": chk}, bad)["it"]
        assert not general_accepts(chk, bad)
    _restore(chk, snap)
    chk.check(rec)


@pytest.mark.parametrize(("src", "want"), [
    ("a and (b or not c)", "(a && (b || (!c)))"),
    ("0 <= lo < NFL", "((0LL <= lo) && (lo < NFL))"),
    ("p & (1 << o) - 1 == 0", "((p & (SHL(1LL, o) - 1LL)) == 0LL)"),
    ("lo // 6 if x else lo % 6", "(x ? FDIV(lo, 6LL) : FMOD(lo, 6LL))"),
    ("LO[(p ^ 1 << o) - S0] == o", "(RLO(((p ^ SHL(1LL, o)) - S0)) == o)"),
])
def test_py_to_c(src: str, want: str) -> None:
    assert py_to_c(src) == want
