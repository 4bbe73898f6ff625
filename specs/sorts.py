"""Widths of the abstract state's sorts (as Hyperkernel's ``datatypes.py``).

Every pfn, order, count and counter is a 64-bit word.  The model keeps pfns below 2^40
(``ZoneConfig`` refuses more), orders below 32 and counts below 2^40, so no sum or shift the
formulas form (``pfn + 2^order``, a sum of page counts) can wrap: 2^40 + 2^31 < 2^64.
Counters that Linux keeps signed (``NR_ALLOC_BATCH``) are two's complement words; the formulas
only compare them for equality or through a non-negative difference.
"""

from __future__ import annotations

WORD_BITS = 64
PFN_LIMIT = 1 << 40
ORDER_LIMIT = 32

# Packing of one page's abstract state into one word (the ``pg`` function of the SMT-LIB
# encoding, see specs/_smt.py).  (low bit, width) per field.
PAGE_FIELDS: dict[str, tuple[int, int]] = {
    "buddy": (0, 1),
    "buddy_order": (1, 5),
    "on_free": (6, 1),
    "free_order": (7, 5),
    "free_mt": (12, 3),
    "on_pcp": (15, 1),
    "pcp_index": (16, 2),
    "pcp_cpu": (18, 16),
    "allocated": (34, 1),
    "alloc_order": (35, 5),
    "cached_mt": (40, 3),
    "block_mt": (43, 3),  # the type of the page's pageblock (``get_pageblock_migratetype``)
}

__all__ = ["ORDER_LIMIT", "PAGE_FIELDS", "PFN_LIMIT", "WORD_BITS"]
