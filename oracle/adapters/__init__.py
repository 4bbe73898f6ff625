"""Ways to drive an implementation: a child process speaking protocol v1
(:class:`ProcessAdapter`), a Python object in-process (:class:`InProcessAdapter`), and the
model itself through ``rmqueue serve`` (:func:`serve_adapter`).

Every adapter offers ``exchange(requests) -> responses``: it may pipeline the requests, but
answers them in order, one response per request, and raises
:class:`~rmqueue.oracle.findings.ImplementationError` (never hangs) when the implementation
cannot answer.
"""

from __future__ import annotations

from ._base import Adapter, Target, open_target, parse_target
from .inprocess import InProcessAdapter, PageAllocator
from .process import ProcessAdapter
from .serve import serve_adapter, serve_command

__all__ = [
    "Adapter",
    "InProcessAdapter",
    "PageAllocator",
    "ProcessAdapter",
    "Target",
    "open_target",
    "parse_target",
    "serve_adapter",
    "serve_command",
]
