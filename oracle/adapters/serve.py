"""The model as an implementation, through ``rmqueue serve`` in a child process: the same
path any other implementation takes, so the oracle fuzzes its own reference."""

from __future__ import annotations

import sys

from .process import ProcessAdapter


def serve_command() -> list[str]:
    return [sys.executable, "-m", "rmqueue.oracle.cli", "serve"]


def serve_adapter(timeout: float = 10.0) -> ProcessAdapter:
    return ProcessAdapter(serve_command(), timeout=timeout, description="rmqueue serve")
