"""The registry itself: names, exports, and non-vacuity on the boot state (STYLE §2)."""

from __future__ import annotations

import re

import pytest
import z3

import rmqueue.specs as specs
from rmqueue.model import Allocator, ZoneConfig
from rmqueue.specs._codegen import SmtPageView, lit, pack_page, smt_page_macro
from rmqueue.specs._concrete import compile_count_formula, full_counts
from rmqueue.specs._smtcheck import store_chain
from rmqueue.specs._z3 import SmtSession
from rmqueue.specs.check import StepChecker
from rmqueue.specs.invariants import COUNT_INVARIANTS, INVARIANTS, PAGE_INVARIANTS
from rmqueue.specs.transitions import TRANSITION_CHECKS

BOOT = ZoneConfig.kernel_default(4096, cma_pageblocks=[4, 5], reserve_pageblocks=2)


def test_exports_exist() -> None:
    for name in specs.__all__:
        assert hasattr(specs, name), name
    from rmqueue.specs.stateful import ModelMachine

    assert ModelMachine.for_config(BOOT).CONFIG is BOOT


def test_names_are_unique_snake_case_with_refs_and_docs() -> None:
    names = [i.name for i in INVARIANTS] + [t.name for t in TRANSITION_CHECKS]
    assert len(names) == len(set(names))
    for inv in INVARIANTS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", inv.name)
        assert inv.kernel_ref and inv.doc.strip()


def test_boot_state_satisfies_everything() -> None:
    a = Allocator(BOOT)
    StepChecker(a).full_check()
    StepChecker(a, backend="z3").full_check()


@pytest.mark.parametrize("inv", PAGE_INVARIANTS, ids=lambda i: i.name)
def test_page_invariant_is_not_vacuous_on_boot(inv: specs.Invariant) -> None:
    """Some in-zone free head of the boot state makes the invariant's premise true and the
    invariant hold: z3 finds it with p left symbolic."""
    z = Allocator(BOOT).zone
    s0 = z.zone_start_pfn
    words = {}
    for i, lid in enumerate(z.list_of):
        if lid >= 0 or z.buddy_order[i] >= 0:
            words[i + s0] = pack_page(z.buddy_order[i], lid, z.alloc_order[i], z.cached_mt[i],
                                      z.nr_free_lists)
    view = SmtPageView(s0, s0 + z.spanned_pages, len(z.pageset), z.max_order)
    session = SmtSession()
    session.run(smt_page_macro("inv", inv.formula, view))
    script = (
        "(declare-const p (_ BitVec 64))"
        f"(assert (let ((m {store_chain(sorted(words.items()))})) (and (inv m p) "
        "(= ((_ extract 6 6) (select m p)) #b1))))(check-sat)"
    )
    assert session.run(script).strip() == "sat"


@pytest.mark.parametrize("inv", COUNT_INVARIANTS, ids=lambda i: i.name)
def test_count_invariant_holds_on_boot(inv: specs.Invariant) -> None:
    z = Allocator(BOOT).zone
    counts = full_counts(z)
    for i in {"order": range(z.max_order), "cpu": range(len(z.pageset))}.get(inv.domain,
                                                                            range(1)):
        fn, reads = compile_count_formula(inv.formula, z.max_order, i)
        assert fn(counts)
        assert reads


def test_z3_module_is_the_only_z3_import() -> None:
    import pathlib

    root = pathlib.Path(specs.__file__).resolve().parent
    users = [p.name for p in root.glob("*.py") if re.search(r"^\s*import z3", p.read_text(),
                                                            re.M)]
    assert users == ["_z3.py"]
    assert z3 is not None and lit(1) == "#x0000000000000001"
