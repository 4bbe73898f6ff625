"""What the proofs need from z3 beyond :mod:`rmqueue.specs._z3`: arrays, solvers, models.

The per-page state of a symbolic zone is a set of :class:`Map` s over 64-bit pfns
(Hyperkernel's ``Map``): uninterpreted functions, updated point-wise or, for range updates
(``move_freepages_block``, ``change_pageblock_range``), by a predicate.  z3 has no type
information, so its values are ``Any`` here; the word operations themselves are the specs'
:data:`~rmqueue.specs._z3.BV_OPS`, which the model's dual kernels run on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import z3

from rmqueue.specs._z3 import BV_OPS, BitVecOps
from rmqueue.specs.sorts import WORD_BITS

BV = Any
Bool = Any

OPS: BitVecOps = BV_OPS


def word(name: str) -> BV:
    return z3.BitVec(name, WORD_BITS)


def boolean(name: str) -> Bool:
    return z3.Bool(name)


class Map:
    """A per-page map from pfns to words or booleans, as a function (Hyperkernel's ``Map``).

    A fresh map is an uninterpreted function; an update is a new map that answers the new
    value where it applies and asks the old map elsewhere.  So the proofs stay in QF_UFBV,
    which Z3 ackermannizes and bit-blasts, instead of the array theory.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[BV], Any]) -> None:
        self.fn = fn

    def __call__(self, p: BV) -> Any:
        return self.fn(p)

    def store(self, x: BV, v: Any, cond: Bool | None = None) -> Map:
        """The map with ``x -> v`` (when ``cond``)."""
        old = self.fn

        def hit(t: BV) -> Bool:
            return t == x if cond is None else z3.And(cond, t == x)

        return Map(lambda t: z3.If(hit(t), v, old(t)))

    def update(self, where: Callable[[BV], Bool], v: Callable[[BV], Any]) -> Map:
        """The map with ``t -> v(t)`` wherever ``where(t)`` (a range update)."""
        old = self.fn
        return Map(lambda t: z3.If(where(t), v(t), old(t)))


def word_map(name: str, bits: int = WORD_BITS) -> Map:
    """A fresh per-page map from pfns to words whose values fit in ``bits`` bits (a field of
    the packed page word, :data:`rmqueue.specs.sorts.PAGE_FIELDS`)."""
    f = z3.Function(name, z3.BitVecSort(WORD_BITS), z3.BitVecSort(bits))
    if bits == WORD_BITS:
        return Map(f)
    return Map(lambda t: z3.ZeroExt(WORD_BITS - bits, f(t)))


def bool_map(name: str) -> Map:
    """A fresh per-page map from pfns to booleans."""
    f = z3.Function(name, z3.BitVecSort(WORD_BITS), z3.BoolSort())
    return Map(f)


def ite(c: Bool, a: Any, b: Any) -> Any:
    """``If`` on words, booleans or maps."""
    if isinstance(a, Map):
        fa, fb = a.fn, b.fn
        return Map(lambda t: z3.If(c, fa(t), fb(t)))
    return z3.If(c, a, b)


def sle(a: BV, b: BV) -> Bool:
    """Signed ``a <= b`` (the kernel's ``long`` compare of NR_ALLOC_BATCH with 0)."""
    return a <= b


def bool_val(b: bool) -> Bool:
    return z3.BoolVal(b)


class Outcome:
    """The answer of one solver query: ``unsat``, ``sat`` (with a model) or ``unknown``."""

    __slots__ = ("model", "reason", "status")

    def __init__(self, status: str, model: Any = None, reason: str = "") -> None:
        self.status = status
        self.model = model
        self.reason = reason


def check(facts: Sequence[Bool], timeout_ms: int) -> Outcome:
    """Are ``facts`` satisfiable together?  Bit-vector logic with arrays and lambdas."""
    s = z3.SolverFor("QF_UFBV")
    s.set("timeout", timeout_ms)
    s.add(*facts)
    r = s.check()
    if r == z3.unsat:
        return Outcome("unsat")
    if r == z3.sat:
        return Outcome("sat", s.model())
    return Outcome("unknown", reason=str(s.reason_unknown()))


def eval_int(model: Any, term: BV) -> int:
    """The value of a word in ``model`` (0 when the model leaves it free)."""
    v = model.eval(term, model_completion=True)
    return int(v.as_long())


def eval_bool(model: Any, term: Bool) -> bool:
    v = model.eval(term, model_completion=True)
    return bool(z3.is_true(v))


def negate(b: Bool) -> Bool:
    return z3.Not(b)


def conj(bs: Sequence[Bool]) -> Bool:
    return z3.And(*bs) if bs else z3.BoolVal(True)


def split(goal: Bool) -> list[Bool]:
    """The conjuncts of ``goal``, also under an implication (``Or(Not(a), And(...))``), so
    that each is proved by its own query: much faster on bit-blasted ancestor clauses, and a
    counterexample names its clause at once."""
    if z3.is_and(goal):
        return [c for k in goal.children() for c in split(k)]
    if z3.is_or(goal):
        kids = goal.children()
        rest = [k for k in kids if not z3.is_not(k)]
        if len(rest) == 1 and z3.is_and(rest[0]):
            nots = [k for k in kids if z3.is_not(k)]
            return [z3.Or(*nots, c) for c in split(rest[0])]
    return [goal]


def smallest_false(model: Any, e: Bool, limit: int = 400) -> str:
    """The innermost conjunct of ``e`` that is false in ``model`` (descending through
    ``And`` and through ``Or(Not(a), b)``, the shape of an implication)."""
    while True:
        kids = e.children()
        if z3.is_and(e):
            bad = [k for k in kids if not eval_bool(model, k)]
            if bad:
                e = bad[0]
                continue
        if z3.is_or(e):
            rest = [k for k in kids if not z3.is_not(k)]
            if len(rest) == 1:
                e = rest[0]
                continue
        break
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def substitute_words(term: Any, pairs: Sequence[tuple[BV, BV]]) -> Any:
    return z3.substitute(term, *pairs)


__all__ = [
    "OPS",
    "Map",
    "Outcome",
    "bool_map",
    "bool_val",
    "boolean",
    "check",
    "conj",
    "eval_bool",
    "eval_int",
    "ite",
    "negate",
    "sle",
    "smallest_false",
    "split",
    "word",
    "word_map",
]
