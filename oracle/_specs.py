"""The one place the oracle calls rmqueue.specs: state-level invariants and transition
predicates on reported states, and the per-step checker of the model.

The oracle never restates an invariant; if specs/ is not importable yet, the state level
degrades to the black-box checks and ``SPECS_AVAILABLE`` says so (reports mention it).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from rmqueue.model.allocator import Allocator
from rmqueue.model.config import ZoneConfig
from rmqueue.model.record import Transition

from .findings import ConformanceViolation

Json = dict[str, Any]


def _load(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


_check_state = _load("rmqueue.specs.reported", "check_state")
_check_transition = _load("rmqueue.specs.reported", "check_transition")
_ReportedChecker = _load("rmqueue.specs.reported_incremental", "ReportedChecker")
_StepChecker = _load("rmqueue.specs.check", "StepChecker")
SPECS_AVAILABLE = _check_state is not None and _check_transition is not None


def _raise_first(violations: list[Any]) -> None:
    if violations:
        v = violations[0]
        details = dict(getattr(v, "details", {}) or {})
        if len(violations) > 1:
            details["also_broken"] = [getattr(w, "invariant", "?") for w in violations[1:]]
        raise ConformanceViolation(str(v.invariant), str(v.message), details)


def _checker(config: ZoneConfig) -> Any:
    """specs' incremental checker for ``config`` (one per thread): it diffs each reported
    state against the last one it saw, by content, so sharing it between engines only costs
    speed; its verdicts are those of the full check."""
    return _checker_for(config, threading.get_ident())


@lru_cache(maxsize=8)
def _checker_for(config: ZoneConfig, thread: int) -> Any:
    return _ReportedChecker(config) if _ReportedChecker is not None else None


def check_state(config: ZoneConfig, state: Json, allocated: Mapping[int, int]) -> None:
    """Raise ConformanceViolation naming the first invariant of specs/ ``state`` breaks."""
    checker = _checker(config)
    if checker is not None:
        _raise_first(list(checker.check_state(state, allocated)))
    elif _check_state is not None:
        _raise_first(list(_check_state(config, state, allocated)))


def check_transition(
    config: ZoneConfig,
    pre_state: Json,
    pre_allocated: Mapping[int, int],
    request: Json,
    response: Json,
    post_state: Json,
) -> None:
    """Raise ConformanceViolation naming the first transition predicate of specs/ broken."""
    checker = _checker(config)
    if checker is not None:
        _raise_first(
            list(checker.check_transition(pre_state, pre_allocated, request, response,
                                          post_state))
        )
    elif _check_transition is not None:
        _raise_first(
            list(
                _check_transition(
                    config, pre_state, pre_allocated, request, response, post_state
                )
            )
        )


def step_checker(allocator: Allocator) -> Callable[[Transition], None] | None:
    """specs' per-step checker of the model (its ``check(rec)``), or None if not there."""
    if _StepChecker is None:
        return None
    checker = _StepChecker(allocator, backend="fast")
    check: Callable[[Transition], None] = checker.check
    return check
