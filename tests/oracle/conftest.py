"""Shared helpers for the oracle tests: the example buddy allocator and misbehaving fakes."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BUDDY = EXAMPLES / "buddy" / "buddy.py"
MISBEHAVE = Path(__file__).resolve().parent / "children" / "misbehave.py"
sys.path.insert(0, str(EXAMPLES / "buddy"))


def buddy_cmd(*flags: str) -> str:
    return " ".join([sys.executable, str(BUDDY), *flags])


def misbehave_cmd(mode: str, after: int) -> str:
    return f"{sys.executable} {MISBEHAVE} {mode} {after}"
