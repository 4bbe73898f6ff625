"""rmqueue.proofs: Z3 proofs that every transition of the Linux 4.3 allocator keeps the
invariants of :mod:`rmqueue.specs`, for a symbolic zone (``rmqueue prove``).

Rows are data (:func:`~rmqueue.proofs.obligations.rows`); transitions are split into
inductive phases (:mod:`rmqueue.proofs.transitions`, loops carried by the loop invariants of
:mod:`rmqueue.proofs.loops`); every decision the proofs reason about is the model's own dual
kernel run on bit-vectors; planted bugs are caught, and their counterexamples moved into
the model and replayed there (:mod:`rmqueue.proofs.concretize`, :mod:`rmqueue.proofs.replay`);
the phases agree with the model on concrete states (:mod:`rmqueue.proofs.agreement`); the
frame lemma is :mod:`rmqueue.proofs.frame`.
"""

from .obligations import ALL_INVARIANTS, Obligation, rows
from .state import LINUX, SMALL, Geometry
from .transitions import BUGS, TRANSITIONS

__all__ = ["ALL_INVARIANTS", "BUGS", "LINUX", "SMALL", "TRANSITIONS", "Geometry", "Obligation",
           "rows"]
