"""The one module that imports z3 (STYLE §3): a bit-vector ``Ops`` backend and an SMT-LIB runner.

z3-solver ships no type information, so everything z3 hands back is typed ``Any`` here and
nowhere else.
"""

from __future__ import annotations

from typing import Any

import z3

from .sorts import WORD_BITS

BV = Any  # z3.BitVecRef
BoolT = Any  # z3.BoolRef


class BitVecOps:
    """The Z3 backend of :class:`rmqueue.model.buddy.Ops`: 64-bit words, unsigned compares."""

    def val(self, x: int) -> BV:
        return z3.BitVecVal(x % (1 << WORD_BITS), WORD_BITS)

    def eq(self, a: BV, b: BV) -> BoolT:
        return a == b

    def ult(self, a: BV, b: BV) -> BoolT:
        return z3.ULT(a, b)

    def ule(self, a: BV, b: BV) -> BoolT:
        return z3.ULE(a, b)

    def lshr(self, a: BV, b: BV) -> BV:
        return z3.LShR(a, b)

    def ite(self, c: BoolT, a: BV, b: BV) -> BV:
        return z3.If(c, a, b)

    def and_(self, *bs: BoolT) -> BoolT:
        return z3.And(*bs) if bs else z3.BoolVal(True)

    def or_(self, *bs: BoolT) -> BoolT:
        return z3.Or(*bs) if bs else z3.BoolVal(False)

    def not_(self, b: BoolT) -> BoolT:
        return z3.Not(b)

    def bool_(self, b: bool) -> BoolT:
        return z3.BoolVal(b)


BV_OPS = BitVecOps()


def bitvec(name: str) -> BV:
    return z3.BitVec(name, WORD_BITS)


def bool_const(name: str) -> BoolT:
    return z3.Bool(name)


def word_function(name: str, arity: int = 1) -> Any:
    """An uninterpreted function from ``arity`` words to a word."""
    sorts = [z3.BitVecSort(WORD_BITS)] * (arity + 1)
    return z3.Function(name, *sorts)


def bool_function(name: str, arity: int = 1) -> Any:
    """An uninterpreted predicate over ``arity`` words."""
    return z3.Function(name, *([z3.BitVecSort(WORD_BITS)] * arity), z3.BoolSort())


def prove(claim: BoolT, *assumptions: BoolT, timeout_ms: int = 20000) -> tuple[str, Any]:
    """("proved", None), ("counterexample", model) or ("unknown", reason) for ``claim``."""
    s = z3.Solver()
    s.set("timeout", timeout_ms)
    s.add(*assumptions)
    s.add(z3.Not(claim))
    r = s.check()
    if r == z3.unsat:
        return "proved", None
    if r == z3.sat:
        return "counterexample", s.model()
    return "unknown", s.reason_unknown()


def evaluate(term: Any) -> Any:
    """Simplify a ground term to a Python bool or int."""
    v = z3.simplify(term)
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    return v.as_long()


class SmtSession:
    """A persistent z3 context fed SMT-LIB scripts as text (``Z3_eval_smtlib2_string``).

    Definitions made at the base level (``define-fun``, ``declare-fun``) persist from one
    :meth:`run` to the next; per-check facts go inside ``(push)``/``(pop)``.  This is the
    fast route: building terms through the Python API costs milliseconds per transition.
    """

    def __init__(self) -> None:
        self._ctx = z3.Context()

    def run(self, script: str) -> str:
        out: str = z3.Z3_eval_smtlib2_string(self._ctx.ref(), script)
        return out


__all__ = [
    "BV_OPS",
    "BitVecOps",
    "SmtSession",
    "bitvec",
    "bool_const",
    "bool_function",
    "evaluate",
    "prove",
    "word_function",
]
