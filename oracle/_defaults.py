"""Defaults shared by the CLI modules (kept free of heavy imports: ``rmqueue serve`` loads
every subcommand's parser at start-up)."""

from __future__ import annotations

from typing import Any

# Small, so that exhausting the zone (where lost pages and missed merges show) takes a few
# operations, yet with every feature: 4 max-order blocks, pcp lists, RESERVE pageblocks.
DEFAULT_CONFIG: dict[str, Any] = {
    "zone": {"name": "Normal", "start_pfn": 0, "pages": 128},
    "max_order": 6,
    "pageblock_order": 4,
    "cpus": 2,
    "pcp": {"high": 6, "batch": 2},
}

DEFAULT_DATABASE = ".rmqueue/examples"
