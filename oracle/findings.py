"""What the oracle can find: a broken conformance check, a divergence from the model, or an
implementation that does not speak the protocol.

The first two are findings about the allocator (exit code 1, ``AssertionError`` subclasses so
Hypothesis shrinks them); ``ImplementationError`` means the implementation could not be
driven at all (it crashed, hung, or broke the protocol: exit code 3).
"""

from __future__ import annotations

from typing import Any

from rmqueue.model.errors import RmqueueError


class Finding(RmqueueError, AssertionError):
    """A check the implementation failed.  ``name`` is the check's short snake_case id."""

    kind = "violation"

    def __init__(self, name: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.step: int | None = None


class ConformanceViolation(Finding):
    """A black-box or state-level check failed (an invariant of specs/, or one of the
    black-box checks: ``block_aligned``, ``block_in_zone``, ``no_overlap``, ...)."""

    kind = "violation"


class Divergence(Finding):
    """An implementation claiming ``semantics: linux-4.3`` answered or reported otherwise
    than the model (``result_differs``, ``state_differs``)."""

    kind = "divergence"


class ImplementationError(RmqueueError):
    """The implementation could not be driven: crash, hang, or a protocol violation."""

    kind = "implementation-error"

    def __init__(
        self,
        name: str,
        message: str,
        *,
        request: object = None,
        raw: str | None = None,
        stderr_tail: str = "",
    ) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.request = request
        self.raw = raw
        self.stderr_tail = stderr_tail
        self.step: int | None = None
        # how many requests of the failing exchange were answered before it failed
        self.answered = 0


class ProtocolError(ImplementationError):
    """A response that is not what protocol v1 allows (bad JSON, field, type or range)."""


EXIT_PASSED = 0
EXIT_FOUND = 1
EXIT_USAGE = 2
EXIT_IMPLEMENTATION = 3
