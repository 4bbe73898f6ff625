"""The exception hierarchy shared by every part of rmqueue.

User mistakes (a bad config, a bad request) subclass ``ValueError`` as well, so callers that
only know the builtins still catch them.  Findings of the checker and the oracle subclass
``AssertionError``.  ``InternalError`` marks a bug in rmqueue itself: the CLI prints a
traceback only for that one.
"""

from __future__ import annotations


class RmqueueError(Exception):
    """Root of every error rmqueue raises on purpose."""


class ConfigError(RmqueueError, ValueError):
    """A zone configuration that Linux 4.3 could not have (or that the model refuses)."""


class RequestError(RmqueueError, ValueError):
    """An operation that breaks the allocator's contract (bad free, bad order, bad cpu...).

    The model's state is unchanged when this is raised.
    """


class InternalError(RmqueueError):
    """A bug in rmqueue: an internal consistency check failed."""
