"""Facts the proofs need beyond the registry: config axioms and requested invariants.

* :func:`config_axioms` are what :func:`rmqueue.model.config.validate` guarantees of every
  zone (span below 2^40, ``1 <= batch <= max(high, 1)``, at least one CPU) plus the counter
  bounds that make 64-bit words exact (semantics §7.2: counters stay far below 2^40).
* :data:`REQUESTED` are page invariants about pageblock types, which the registry's
  ``PageView`` cannot state (it has no ``block_mt``).  They hold in the model (it never
  isolates a pageblock, and CMA pageblocks come in whole max-order blocks) and the proofs of
  ``free_pages_conserved`` / ``free_cma_pages_conserved`` need them.  They are written once,
  against the dual backend, and are proved preserved like the registry's: they belong in
  ``specs/invariants.py`` (see the change request in the proofs' report) and live here only
  until ``PageView`` grows ``block_mt``.
"""

from __future__ import annotations

from typing import Any

from rmqueue.model.buddy import Ops
from rmqueue.model.types import MIGRATE_CMA, MIGRATE_ISOLATE
from rmqueue.model.vmstat import PGALLOC, PGFREE
from rmqueue.specs.invariants import Invariant, iff, implies
from rmqueue.specs.sorts import PFN_LIMIT

from ._z3 import OPS, Bool
from .state import SymState


def no_isolated_pageblocks(ops: Ops[Any, Any], S: Any, p: Any) -> Any:
    """No pageblock is MIGRATE_ISOLATE and no free block sits on an ISOLATE list: the model
    has no isolation request (so ``nr_isolate_pageblock`` stays 0)."""
    iso = ops.val(MIGRATE_ISOLATE)
    return ops.and_(
        ops.ult(S.block_mt(p), iso),
        implies(ops, S.on_free(p), ops.ult(S.free_mt(p), iso)),
    )


def cma_pageblocks_whole(ops: Ops[Any, Any], S: Any, p: Any) -> Any:
    """A pageblock is CMA exactly when the first pageblock of its max-order block is."""
    window = p & ~((ops.val(1) << ops.val(S.max_order - 1)) - ops.val(1))
    cma = ops.val(MIGRATE_CMA)
    return iff(ops, ops.eq(S.block_mt(p), cma), ops.eq(S.block_mt(window), cma))


def cma_lists_match_pageblocks(ops: Ops[Any, Any], S: Any, p: Any) -> Any:
    """A free block is on a CMA list, and a pcp page caches the CMA type, exactly when its
    pageblock is CMA."""
    cma = ops.val(MIGRATE_CMA)
    in_cma = ops.eq(S.block_mt(p), cma)
    return ops.and_(
        implies(ops, S.on_free(p), iff(ops, ops.eq(S.free_mt(p), cma), in_cma)),
        implies(ops, S.on_pcp(p), iff(ops, ops.eq(S.cached_mt(p), cma), in_cma)),
    )


REQUESTED: tuple[Invariant, ...] = (
    Invariant("no_isolated_pageblocks", "nr_isolate_pageblock == 0; semantics §2.2",
              no_isolated_pageblocks.__doc__ or "", "page", no_isolated_pageblocks),
    Invariant("cma_pageblocks_whole", "init_cma_reserved_pageblock; protocol.md boot",
              cma_pageblocks_whole.__doc__ or "", "page", cma_pageblocks_whole),
    Invariant("cma_lists_match_pageblocks", "__free_one_page/free_hot_cold_page; §7.3",
              cma_lists_match_pageblocks.__doc__ or "", "page", cma_lists_match_pageblocks),
)


def config_axioms(s: SymState) -> list[Bool]:
    """What ``ZoneConfig`` validation and the counters' ranges guarantee of any state."""
    o = OPS
    limit = o.val(PFN_LIMIT)
    return [
        o.ult(s.start, s.end),
        o.ule(s.end, limit),
        o.ule(o.val(1), s.cpus),
        o.ule(s.cpus, o.val(4096)),
        o.ule(o.val(1), s.c_batch),
        o.ule(s.c_batch, o.ite(o.eq(s.c_high, o.val(0)), o.val(1), s.c_high)),
        o.ult(s.c_high, limit),
        o.ult(s.c_alloc_batch_init, limit),
        o.ult(s.counter(PGALLOC), limit),
        o.ult(s.counter(PGFREE), limit),
        o.ult(s.c_allocated_pages, limit),
        o.ult(s.c_pcp_count[0], limit),
    ]


__all__ = ["REQUESTED", "config_axioms"]
