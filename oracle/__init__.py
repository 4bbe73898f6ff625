"""The oracle: fuzz any page allocator against the Linux 4.3 model (``rmqueue fuzz``).

The names below load on first use, so ``rmqueue serve`` (which lives in this package) does
not pay for Hypothesis at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FuzzResult",
    "Lockstep",
    "PageAllocator",
    "Trace",
    "Verdict",
    "fuzz",
    "make_machine",
    "replay",
]

_WHERE = {
    "FuzzResult": "fuzz",
    "fuzz": "fuzz",
    "Lockstep": "lockstep",
    "PageAllocator": "adapters",
    "Trace": "trace",
    "Verdict": "trace",
    "make_machine": "machine",
    "replay": "replay",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
