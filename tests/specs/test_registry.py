"""The registry itself: names, exports, and non-vacuity on the boot state (STYLE §2)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import z3

import rmqueue.specs as specs
from rmqueue.model import Allocator, ZoneConfig
from rmqueue.model.types import MIGRATE_CMA, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE
from rmqueue.specs._codegen import (
    SmtPageView,
    compile_page_formula,
    lit,
    smt_page_macro,
    zone_word,
)
from rmqueue.specs._concrete import compile_count_formula, full_counts, page_env
from rmqueue.specs._smtcheck import store_chain
from rmqueue.specs._z3 import SmtSession
from rmqueue.specs.check import StepChecker
from rmqueue.specs.invariants import (
    COUNT_INVARIANTS,
    INVARIANTS,
    PAGE_INVARIANTS,
    PAGEBLOCK_INVARIANTS,
    reads_pageblocks,
)
from rmqueue.specs.sorts import PAGE_FIELDS
from rmqueue.specs.transitions import TRANSITION_CHECKS, retype_keeps_cma_isolate

BOOT = ZoneConfig.kernel_default(4096, cma_pageblocks=[4, 5], reserve_pageblocks=2)


def test_exports_exist() -> None:
    for name in specs.__all__:
        assert hasattr(specs, name), name
    from rmqueue.specs.stateful import ModelMachine

    assert ModelMachine.for_config(BOOT).CONFIG is BOOT


def test_registry_holds_the_sixteen_named_invariants() -> None:
    assert len(INVARIANTS) == 16
    assert [i.name for i in PAGEBLOCK_INVARIANTS] == [
        "no_isolated_pageblocks", "cma_pageblocks_whole", "cma_lists_match_pageblocks"]
    from rmqueue.proofs import ALL_INVARIANTS

    assert ALL_INVARIANTS == INVARIANTS  # the proofs prove the registry, nothing besides


def test_registry_table_of_the_docstring_is_the_registry() -> None:
    import rmqueue.specs.invariants as module

    doc = module.__doc__ or ""
    table = doc[doc.index("The registry"):doc.index("Kinds of invariant")]
    rows = re.findall(r"^``(\w+)``\s+(page|count)\s", table, re.M)
    assert rows == [(i.name, i.kind) for i in INVARIANTS]


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
    assert _boot_witness(inv, "(= ((_ extract 6 6) (select m p)) #b1)") == "sat"


def _boot_words() -> tuple[Any, dict[int, int]]:
    z = Allocator(BOOT).zone
    s0 = z.zone_start_pfn
    words = {}
    for i, lid in enumerate(z.list_of):
        if lid >= 0 or z.buddy_order[i] >= 0:
            words[i + s0] = zone_word(z, i)
    return z, words


def _boot_witness(inv: specs.Invariant, premise: str) -> str:
    """Whether some pfn of the boot state satisfies ``premise`` and the invariant."""
    z, words = _boot_words()
    s0 = z.zone_start_pfn
    view = SmtPageView(s0, s0 + z.spanned_pages, len(z.pageset), z.max_order)
    session = SmtSession()
    session.run(smt_page_macro("inv", inv.formula, view))
    script = (
        "(declare-const p (_ BitVec 64))"
        f"(assert (let ((m {store_chain(sorted(words.items()))})) (and (inv m p) "
        f"{premise})))(check-sat)"
    )
    return session.run(script).strip()


@pytest.mark.parametrize("inv", PAGEBLOCK_INVARIANTS, ids=lambda i: i.name)
def test_pageblock_invariant_is_not_vacuous_in_a_cma_pageblock(inv: specs.Invariant) -> None:
    """The CMA side too: a free head in a CMA pageblock (the word's block_mt field) satisfies
    it (the boot words carry both CMA and MOVABLE pageblock types)."""
    lo, width = PAGE_FIELDS["block_mt"]
    field = f"((_ extract {lo + width - 1} {lo}) (select m p))"
    cma = f"#b{MIGRATE_CMA:0{width}b}"
    assert _boot_witness(inv, f"(= ((_ extract 6 6) (select m p)) #b1) (= {field} {cma})") \
        == "sat"
    assert PAGEBLOCK_INVARIANTS == tuple(i for i in PAGE_INVARIANTS if reads_pageblocks(i))
    z, words = _boot_words()
    assert {w >> lo & 7 for w in words.values()} >= {MIGRATE_CMA, MIGRATE_MOVABLE}


def test_retype_predicate_is_satisfiable_on_boot() -> None:
    """The transition guard ``retype_keeps_cma_isolate`` holds for a steal's retype
    (MOVABLE -> UNMOVABLE) and for none that leaves or enters CMA (STYLE §2: non-vacuity)."""
    a = Allocator(BOOT)
    z = a.zone
    env = page_env(z)
    fn = compile_page_formula(retype_keeps_cma_isolate, z.max_order, env,
                              params=("p", "was", "old", "new"))
    index = list(z.pageblock_mt).index(MIGRATE_MOVABLE)
    p = max(z.zone_start_pfn, ((z.zone_start_pfn >> z.pageblock_order) + index)
            << z.pageblock_order)
    z.pageblock_mt[index] = MIGRATE_UNMOVABLE
    assert fn(p, MIGRATE_MOVABLE, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE)
    assert not fn(p, MIGRATE_MOVABLE, MIGRATE_MOVABLE, MIGRATE_MOVABLE)
    z.pageblock_mt[index] = MIGRATE_CMA
    assert not fn(p, MIGRATE_MOVABLE, MIGRATE_MOVABLE, MIGRATE_CMA)


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
