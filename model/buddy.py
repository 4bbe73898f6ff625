"""Pure pfn/order arithmetic and decisions, written once for ints and for Z3 bit-vectors.

Each function takes an ``ops`` backend first.  :data:`INT_OPS` runs it on Python ints (the
model uses that); ``rmqueue.specs`` supplies a bit-vector backend, so the proofs reason about
these very functions (the Yggdrasil approach).  Inside them only operators on which ints and
bit-vectors agree are used (``+ - & | ^ ~ <<``); comparisons, shifts right, choices and boolean
connectives go through ``ops``.  Nothing here may wrap: the callers keep pfns below 2^40 and
orders below 32, and the bit-vector widths leave room above that.
"""

from __future__ import annotations

from typing import Generic, Protocol, Self, TypeVar


class Word(Protocol):
    """What ints and Z3 bit-vectors both offer, with the same meaning on both."""

    def __add__(self, other: Self, /) -> Self: ...
    def __sub__(self, other: Self, /) -> Self: ...
    def __and__(self, other: Self, /) -> Self: ...
    def __or__(self, other: Self, /) -> Self: ...
    def __xor__(self, other: Self, /) -> Self: ...
    def __lshift__(self, other: Self, /) -> Self: ...
    def __invert__(self) -> Self: ...


W = TypeVar("W", bound=Word)
B = TypeVar("B")


class Ops(Protocol, Generic[W, B]):
    """The vocabulary dual code may use beyond the shared operators."""

    def val(self, x: int) -> W: ...
    def eq(self, a: W, b: W) -> B: ...
    def ult(self, a: W, b: W) -> B: ...
    def ule(self, a: W, b: W) -> B: ...
    def lshr(self, a: W, b: W) -> W: ...
    def ite(self, c: B, a: W, b: W) -> W: ...
    def and_(self, *bs: B) -> B: ...
    def or_(self, *bs: B) -> B: ...
    def not_(self, b: B) -> B: ...
    def bool_(self, b: bool) -> B: ...


class IntOps:
    """The concrete backend: Python ints and bools."""

    def val(self, x: int) -> int:
        return x

    def eq(self, a: int, b: int) -> bool:
        return a == b

    def ult(self, a: int, b: int) -> bool:
        return a < b

    def ule(self, a: int, b: int) -> bool:
        return a <= b

    def lshr(self, a: int, b: int) -> int:
        return a >> b

    def ite(self, c: bool, a: int, b: int) -> int:
        return a if c else b

    def and_(self, *bs: bool) -> bool:
        return all(bs)

    def or_(self, *bs: bool) -> bool:
        return any(bs)

    def not_(self, b: bool) -> bool:
        return not b

    def bool_(self, b: bool) -> bool:
        return b


INT_OPS = IntOps()


def find_buddy_index(ops: Ops[W, B], page_idx: W, order: W) -> W:
    """Mirror of ``__find_buddy_index()``, mm/internal.h v4.3: the buddy of a block."""
    return page_idx ^ (ops.val(1) << order)


def combined_index(ops: Ops[W, B], page_idx: W, buddy_idx: W) -> W:
    """The parent block of a block and its buddy (``buddy_idx & page_idx``)."""
    return page_idx & buddy_idx


def is_aligned(ops: Ops[W, B], pfn: W, order: W) -> B:
    """True when ``pfn`` is a multiple of ``2^order``."""
    return ops.eq(pfn & ((ops.val(1) << order) - ops.val(1)), ops.val(0))


def block_end(ops: Ops[W, B], pfn: W, order: W) -> W:
    """One past the last pfn of the block of ``order`` at ``pfn``."""
    return pfn + (ops.val(1) << order)


def pageblock_start(ops: Ops[W, B], pfn: W, pageblock_order: W) -> W:
    """The first pfn of the pageblock holding ``pfn``."""
    return pfn & ~((ops.val(1) << pageblock_order) - ops.val(1))


def block_inside(ops: Ops[W, B], pfn: W, order: W, start: W, end: W) -> B:
    """The block ``[pfn, pfn + 2^order)`` lies inside ``[start, end)``."""
    return ops.and_(ops.ule(start, pfn), ops.ule(block_end(ops, pfn, order), end))


def can_steal_fallback(
    ops: Ops[W, B], order: W, start_mt: W, pageblock_order: W, mobility_disabled: B
) -> B:
    """Mirror of ``can_steal_fallback()``, mm/page_alloc.c v4.3.

    ``order`` is the order of the free block found, not the requested one.
    """
    return ops.or_(
        ops.ule(pageblock_order, order),
        ops.ule(ops.lshr(pageblock_order, ops.val(1)), order),
        ops.eq(start_mt, ops.val(1)),  # MIGRATE_RECLAIMABLE
        ops.eq(start_mt, ops.val(0)),  # MIGRATE_UNMOVABLE
        mobility_disabled,
    )


def claims_pageblock(
    ops: Ops[W, B], pages_moved: W, pageblock_order: W, mobility_disabled: B
) -> B:
    """``steal_suitable_fallback()``'s test for retyping the pageblock it moved pages from."""
    half = ops.val(1) << (pageblock_order - ops.val(1))
    return ops.or_(ops.ule(half, pages_moved), mobility_disabled)


def merge_stops_at(ops: Ops[W, B], mt: W, max_order: W, pageblock_order: W) -> W:
    """``__free_one_page()``'s merge bound: orders below it may merge (max_order - 1)."""
    isolate_bound = ops.ite(
        ops.ult(pageblock_order + ops.val(1), max_order), pageblock_order + ops.val(1), max_order
    )
    return ops.ite(ops.eq(mt, ops.val(5)), isolate_bound, max_order) - ops.val(1)
