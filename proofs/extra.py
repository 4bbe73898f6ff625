"""Facts the proofs need beyond the registry: the config axioms.

:func:`config_axioms` are what :func:`rmqueue.model.config.validate` guarantees of every zone
(span below 2^40, ``1 <= batch <= max(high, 1)``, at least one CPU) plus the counter bounds
that make 64-bit words exact (semantics §7.2: counters stay far below 2^40).  (The pageblock
invariants the proofs once kept here, ``no_isolated_pageblocks``, ``cma_pageblocks_whole``
and ``cma_lists_match_pageblocks``, are in the registry, :mod:`rmqueue.specs.invariants`.)
"""

from __future__ import annotations

from rmqueue.model.vmstat import PGALLOC, PGFREE
from rmqueue.specs.sorts import PFN_LIMIT

from ._z3 import OPS, Bool
from .state import SymState


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


__all__ = ["config_axioms"]
