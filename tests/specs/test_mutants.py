"""Bugs of the kinds real kernels have had, planted in the model's source: the step checker
(both evaluators) must stop each one, naming an invariant that the bug breaks."""

from __future__ import annotations

import inspect
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from specs_helpers import BACKENDS, SMALL, make_checker, workload

from rmqueue.model import Allocator, ZoneConfig
from rmqueue.specs import InvariantViolation


@contextmanager
def mutant(module: str, func: str, old: str, new: str) -> Iterator[None]:
    """Replace ``func`` of ``module`` by a copy whose source has ``old`` replaced by ``new``,
    everywhere the model imported it."""
    mod = sys.modules[module]
    orig = getattr(mod, func)
    src = textwrap.dedent(inspect.getsource(orig))
    assert old in src, f"{old!r} not in {func}"
    ns = dict(vars(mod))
    exec(compile(src.replace(old, new), f"<mutant {func}>", "exec"), ns)
    fn = ns[func]
    patched = [m for m in list(sys.modules.values())
               if m is not None and m.__name__.startswith("rmqueue.model")
               and getattr(m, func, None) is orig]
    for m in patched:
        setattr(m, func, fn)
    try:
        yield
    finally:
        for m in patched:
            setattr(m, func, orig)


MUTANTS = [
    # (id, module, function, old, new, invariants that may report it)
    ("merge_wrong_neighbour", "rmqueue.model.free", "free_one_page_locked",
     "buddy = pfn ^ (1 << order)",
     "buddy = pfn ^ (2 << order) if order == 1 else pfn ^ (1 << order)",
     {"pages_conserved", "block_aligned", "list_delta_consistent", "buddies_merged"}),
    ("merge_forgets_buddy", "rmqueue.model.free", "free_one_page_locked",
     "        zone.list_del(bidx)\n", "        pass\n",
     {"list_delta_consistent", "pages_conserved", "nr_free_matches_lists"}),
    ("refill_count_off_by_batch", "rmqueue.model.rmqueue", "buffered_rmqueue",
     "pcp.count += got", "pcp.count += got + pcp.batch",
     {"pcp_count_matches"}),
    ("trim_count_off_by_batch", "rmqueue.model.free", "free_hot_cold_page",
     "pcp.count -= batch", "pcp.count -= batch - 1",
     {"pcp_count_matches"}),
    ("block_left_on_list", "rmqueue.model.rmqueue", "rmqueue_smallest",
     "        zone.list_del(idx)\n", "        pass\n",
     {"list_delta_consistent", "alloc_result_valid"}),
    ("expand_loses_half", "rmqueue.model.expand", "expand",
     "        rec.free_add.append((half, high, mt))\n",
     "        if high:\n            rec.free_add.append((half, high, mt))\n"
     "        else:\n            zone.list_del(half - start)\n"
     "            zone.free_area[0].nr_free -= 1\n"
     "            buddy_order[half - start] = -1\n",
     {"pages_conserved"}),
    ("bulk_free_pages_off", "rmqueue.model.rmqueue", "rmqueue_bulk",
     "zone.vm_stat[NR_FREE_PAGES] -= i << order",
     "zone.vm_stat[NR_FREE_PAGES] -= (i - 1) << order",
     {"free_pages_conserved"}),
    ("cma_accounting_skipped", "rmqueue.model.free", "mod_zone_freepage_state",
     "if mt == MIGRATE_CMA:", "if mt == MIGRATE_CMA and nr_pages > 1:",
     {"free_cma_pages_conserved"}),
    ("pgfree_not_counted", "rmqueue.model.free", "free_hot_cold_page",
     "zone.vm_stat[PGFREE] += 1", "zone.vm_stat[PGFREE] += 0",
     {"vm_events_balance"}),
    ("page_buddy_left_set", "rmqueue.model.rmqueue", "rmqueue_smallest",
     "zone.buddy_order[idx] = -1  # rmv_page_order()", "pass",
     {"buddy_flag_on_free_heads"}),
    ("cached_mt_wrong", "rmqueue.model.rmqueue", "rmqueue_smallest",
     "zone.cached_mt[idx] = mt  # set_pcppage_migratetype()", "zone.cached_mt[idx] = (mt + 1) % 3",
     {"pcp_list_matches_cached_mt", "free_cma_pages_conserved", "free_pages_conserved"}),
    ("drain_keeps_count", "rmqueue.model.drain", "drain_pages_zone",
     "pcp.count = 0", "pcp.count = 0 if count < 5 else 1",
     {"pcp_count_matches", "drain_empties_pcp"}),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mid,module,func,old,new,names", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_step_checker_stops_mutant(
    mid: str, module: str, func: str, old: str, new: str, names: set[str], backend: str
) -> None:
    with mutant(module, func, old, new):
        a = Allocator(SMALL)
        # batch 1: a broken model may crash on its own before a bigger batch is flushed
        chk = make_checker(a, backend, batch=1)
        with pytest.raises(InvariantViolation) as exc:
            workload(a, chk, 1000, 3, pressure=True)
            chk.flush()
            chk.full_check()
    assert exc.value.invariant in names, str(exc.value)
    assert exc.value.step is not None or mid == "cached_mt_wrong", str(exc.value)


def test_correct_model_passes_both_backends() -> None:
    """No false alarm: the unmutated model over the same runs."""
    for backend in BACKENDS:
        for cfg in (SMALL, ZoneConfig.kernel_default(3000, zone={"pages": 3000,
                                                                "start_pfn": 40})):
            a = Allocator(cfg)
            chk = make_checker(a, backend, batch=64)
            workload(a, chk, 1000, 3, pressure=True)
            chk.flush()
            chk.full_check()
