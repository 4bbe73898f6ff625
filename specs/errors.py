"""Findings of the checkers: an invariant or transition predicate that does not hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rmqueue.model.errors import RmqueueError


class InvariantViolation(RmqueueError, AssertionError):
    """A named invariant (or transition predicate) fails.

    ``invariant`` is its registry name, ``kernel_ref`` where the kernel keeps it, and
    ``details`` the evidence: ``pfns``, ``orders``, ``lists`` and whatever values the failing
    instance read.  ``step`` is the index of the checked transition (None for a state check).
    """

    def __init__(
        self,
        invariant: str,
        kernel_ref: str,
        message: str,
        details: dict[str, Any],
        step: int | None = None,
    ) -> None:
        self.invariant = invariant
        self.kernel_ref = kernel_ref
        self.details = details
        self.step = step
        where = f" at step {step}" if step is not None else ""
        super().__init__(f"invariant {invariant} fails{where}: {message} [{kernel_ref}]")


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed check of a reported state or transition (not raised: collected)."""

    invariant: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


__all__ = ["InvariantViolation", "Violation"]
