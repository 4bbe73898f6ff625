"""rmqueue.specs: the buddy invariants and transition predicates, and their checkers.

* :mod:`.invariants`: the registry of named invariants (one dual formula each).
* :mod:`.transitions`: what one alloc/free/drain step may do.
* :mod:`.check`: :class:`StepChecker`, every model transition checked in O(record).
* :mod:`.reported`: the same formulas over an implementation's reported protocol state.
* :mod:`.reported_incremental`: :class:`ReportedChecker`, the same verdicts state after
  state, re-checking only what changed.
* :mod:`.stateful`: :class:`ModelMachine`, a Hypothesis state machine over the model.
"""

from .check import StepChecker
from .errors import InvariantViolation, Violation
from .invariants import INVARIANTS, Invariant
from .reported import check_state, check_transition
from .reported_incremental import ReportedChecker
from .transitions import TRANSITION_CHECKS

__all__ = [
    "INVARIANTS",
    "TRANSITION_CHECKS",
    "Invariant",
    "InvariantViolation",
    "ReportedChecker",
    "StepChecker",
    "Violation",
    "check_state",
    "check_transition",
]
