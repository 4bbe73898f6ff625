"""The per-step check of pageblock retypes (``Transition.retyped``) for
:class:`rmqueue.specs.check.StepChecker`.

A retype changes ``block_mt`` at every pfn of a pageblock, none of which the record names.
Instead of instantiating the pageblock invariants there, the checker judges each retyped
pageblock with the transition predicate ``retype_keeps_cma_isolate``
(:mod:`rmqueue.specs.transitions`), O(1) per entry.  The predicate compares the record's old
type with the type the pageblock had before the step, which the checker keeps in a shadow of
``zone.pageblock_mt`` (advanced by the checked retypes, compared with the zone by
``full_check``: the frame assumption, as for the counters).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

from rmqueue.model.record import Transition
from rmqueue.model.zone import Zone

from . import transitions as T
from ._codegen import compile_page_formula
from ._concrete import page_env

PARAMS = ("p", "was", "old", "new")


@dataclass(frozen=True, slots=True)
class Retype:
    """One instance of ``retype_keeps_cma_isolate``: the pageblock ``index``, the pfn ``p``
    its type is read at (its first pfn inside the zone; outside for an index outside the
    zone), the type it ``was`` before, and the record's ``old -> new``."""

    index: int
    p: int
    was: int
    old: int
    new: int

    @property
    def args(self) -> tuple[int, int, int, int]:
        return self.p, self.was, self.old, self.new


class RetypeShadow:
    """The shadow of ``zone.pageblock_mt`` and the compiled predicate."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.types = array("b", zone.pageblock_mt)
        self.fn: Callable[..., bool] = compile_page_formula(
            T.retype_keeps_cma_isolate, zone.max_order, page_env(zone), params=PARAMS)

    def sync(self) -> None:
        self.types[:] = self.zone.pageblock_mt

    def stale(self) -> list[int]:
        """The pageblocks whose type changed without a checked retype."""
        return [i for i, (a, b) in enumerate(zip(self.types, self.zone.pageblock_mt,
                                                 strict=True)) if a != b]

    def instances(self, rec: Transition) -> list[Retype]:
        """The step's instances, one per retyped pageblock (a pageblock retyped more than
        once is judged by its first old and last new type when the entries chain, else by
        the first entry that does not), and advance the shadow."""
        z = self.zone
        pbo = z.pageblock_order
        first = z.zone_start_pfn >> pbo
        types = self.types
        n = len(types)
        out: list[Retype] = []
        open_: dict[int, int] = {}  # pageblock -> position in ``out`` of its last instance
        for index, old, new in rec.retyped:
            k = open_.get(index)
            if k is not None and out[k].new == old:  # the entry chains on: one instance
                r = out[k]
                out[k] = Retype(index, r.p, r.was, r.old, new)
                continue
            if k is not None:
                was = out[k].new
            else:
                was = types[index] if 0 <= index < n else -1
            p = z.zone_start_pfn if index == 0 else (first + index) << pbo
            open_[index] = len(out)
            out.append(Retype(index, p, was, old, new))
        for r in out:
            if 0 <= r.index < n:
                types[r.index] = r.new
        return out

    def first_failing(self, insts: list[Retype]) -> Retype | None:
        fn = self.fn
        for r in insts:
            if not fn(*r.args):
                return r
        return None


__all__ = ["PARAMS", "Retype", "RetypeShadow"]
