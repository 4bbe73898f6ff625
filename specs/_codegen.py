"""Mechanical translation of the invariant formulas into Python source and SMT-LIB text.

The formulas of :mod:`rmqueue.specs.invariants` are run once on a *tracing* backend whose
words are source fragments.  The result is a Python expression over the zone's per-page
arrays (compiled with ``compile``: the fast evaluator) or an SMT-LIB term over an
per-page array ``m`` of packed words (the solver's input).  No formula is written twice.

Python terms use short-circuit ``and``/``or``/``if``; the formulas put their range guards
first, so an unevaluated read never matters (and a short-circuited value cannot depend on
it, which is why feeding the solver only the pages actually read is enough).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .sorts import PAGE_FIELDS, WORD_BITS

MASK = (1 << WORD_BITS) - 1


class PyTerm:
    """A Python expression; the operators both ints and bit-vectors share build bigger ones."""

    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def __add__(self, o: PyTerm) -> PyTerm:
        return PyTerm(f"({self.s} + {o.s})")

    def __sub__(self, o: PyTerm) -> PyTerm:
        return PyTerm(f"({self.s} - {o.s})")

    def __and__(self, o: PyTerm) -> PyTerm:
        return PyTerm(f"({self.s} & {o.s})")

    def __or__(self, o: PyTerm) -> PyTerm:
        return PyTerm(f"({self.s} | {o.s})")

    def __xor__(self, o: PyTerm) -> PyTerm:
        return PyTerm(f"({self.s} ^ {o.s})")

    def __lshift__(self, o: PyTerm) -> PyTerm:
        return PyTerm(f"({self.s} << {o.s})")

    def __invert__(self) -> PyTerm:
        return PyTerm(f"(~{self.s})")


class PyOps:
    """Tracing backend producing Python source (values are exact ints, as in ``INT_OPS``)."""

    def val(self, x: int) -> PyTerm:
        return PyTerm(str(x))

    def eq(self, a: PyTerm, b: PyTerm) -> PyTerm:
        return PyTerm(f"({a.s} == {b.s})")

    def ult(self, a: PyTerm, b: PyTerm) -> PyTerm:
        return PyTerm(f"({a.s} < {b.s})")

    def ule(self, a: PyTerm, b: PyTerm) -> PyTerm:
        return PyTerm(f"({a.s} <= {b.s})")

    def lshr(self, a: PyTerm, b: PyTerm) -> PyTerm:
        return PyTerm(f"({a.s} >> {b.s})")

    def ite(self, c: PyTerm, a: PyTerm, b: PyTerm) -> PyTerm:
        return PyTerm(f"({a.s} if {c.s} else {b.s})")

    def and_(self, *bs: PyTerm) -> PyTerm:
        return PyTerm("(" + " and ".join(b.s for b in bs) + ")" if bs else "True")

    def or_(self, *bs: PyTerm) -> PyTerm:
        return PyTerm("(" + " or ".join(b.s for b in bs) + ")" if bs else "False")

    def not_(self, b: PyTerm) -> PyTerm:
        return PyTerm(f"(not {b.s})")

    def bool_(self, b: bool) -> PyTerm:
        return PyTerm("True" if b else "False")


PY_OPS = PyOps()


class PyPageView:
    """The PageView over the model's arrays, as source.  Names bound at compile time:
    ``LO`` list_of, ``BO`` buddy_order, ``AO`` alloc_order, ``CM`` cached_mt, ``S0`` start,
    ``NFL`` number of free lists, ``RD`` a read hook (identity unless logging), ``PBM``
    pageblock_mt, ``PBO`` pageblock_order, ``PB0`` the first pageblock's number
    (``zone_start_pfn >> pageblock_order``)."""

    def __init__(self, max_order: int, log: bool = False) -> None:
        self.start = PyTerm("S0")
        self.end = PyTerm("SE")
        self.cpus = PyTerm("NCPU")
        self.max_order = max_order
        self._log = log

    def _i(self, p: PyTerm) -> str:
        return f"RD({p.s}) - S0" if self._log else f"{p.s} - S0"

    def buddy(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"(BO[{self._i(p)}] >= 0)")

    def buddy_order(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"BO[{self._i(p)}]")

    def on_free(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"(0 <= LO[{self._i(p)}] < NFL)")

    def free_order(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"(LO[{self._i(p)}] // 6)")

    def free_mt(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"(LO[{self._i(p)}] % 6)")

    def on_pcp(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"(LO[{self._i(p)}] >= NFL)")

    def pcp_cpu(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"((LO[{self._i(p)}] - NFL) // 3)")

    def pcp_index(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"((LO[{self._i(p)}] - NFL) % 3)")

    def allocated(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"(AO[{self._i(p)}] >= 0)")

    def alloc_order(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"AO[{self._i(p)}]")

    def cached_mt(self, p: PyTerm) -> PyTerm:
        return PyTerm(f"CM[{self._i(p)}]")

    def block_mt(self, p: PyTerm) -> PyTerm:
        # 0 outside the zone, as the packed word of a page the zone does not hold
        q = f"RD({p.s})" if self._log else p.s
        return PyTerm(f"(PBM[({q} >> PBO) - PB0] if S0 <= {p.s} < SE else 0)")


def compile_page_formula(
    formula: Callable[..., Any],
    max_order: int,
    env: dict[str, Any],
    log: bool = False,
    params: tuple[str, ...] = ("p",),
) -> Callable[..., bool]:
    """``formula(ops, S, p, *rest)`` as a Python function of ``(p, *rest)`` over the arrays
    in ``env``.

    A pfn outside ``[S0, SE)`` holds nothing in the abstract state, so a page invariant is
    vacuously true there; other formulas are only called on pfns inside the zone."""
    args = [PyTerm(n) for n in params]
    body = formula(PY_OPS, PyPageView(max_order, log), *args).s
    guard = "    if not (S0 <= p < SE):\n        return True\n" if params == ("p",) else ""
    src = f"def _f({', '.join(params)}):\n{guard}    return {body}\n"
    ns: dict[str, Any] = dict(env)
    exec(compile(src, f"<formula {formula.__name__}>", "exec"), ns)
    fn: Callable[..., bool] = ns["_f"]
    return fn


# -- SMT-LIB ------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def lit(x: int) -> str:
    # hexadecimal: Z3 parses ``#x...`` faster than ``(_ bvN 64)``
    return f"#x{x & MASK:016x}"


class SmtTerm:
    """An SMT-LIB term of sort (_ BitVec 64) or Bool."""

    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def __add__(self, o: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvadd {self.s} {o.s})")

    def __sub__(self, o: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvsub {self.s} {o.s})")

    def __and__(self, o: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvand {self.s} {o.s})")

    def __or__(self, o: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvor {self.s} {o.s})")

    def __xor__(self, o: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvxor {self.s} {o.s})")

    def __lshift__(self, o: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvshl {self.s} {o.s})")

    def __invert__(self) -> SmtTerm:
        return SmtTerm(f"(bvnot {self.s})")


class SmtOps:
    """Tracing backend producing SMT-LIB text (unsigned compares, logical shift)."""

    def val(self, x: int) -> SmtTerm:
        return SmtTerm(lit(x))

    def eq(self, a: SmtTerm, b: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(= {a.s} {b.s})")

    def ult(self, a: SmtTerm, b: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvult {a.s} {b.s})")

    def ule(self, a: SmtTerm, b: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvule {a.s} {b.s})")

    def lshr(self, a: SmtTerm, b: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(bvlshr {a.s} {b.s})")

    def ite(self, c: SmtTerm, a: SmtTerm, b: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(ite {c.s} {a.s} {b.s})")

    def and_(self, *bs: SmtTerm) -> SmtTerm:
        if not bs:
            return SmtTerm("true")
        return bs[0] if len(bs) == 1 else SmtTerm("(and " + " ".join(b.s for b in bs) + ")")

    def or_(self, *bs: SmtTerm) -> SmtTerm:
        if not bs:
            return SmtTerm("false")
        return bs[0] if len(bs) == 1 else SmtTerm("(or " + " ".join(b.s for b in bs) + ")")

    def not_(self, b: SmtTerm) -> SmtTerm:
        return SmtTerm(f"(not {b.s})")

    def bool_(self, b: bool) -> SmtTerm:
        return SmtTerm("true" if b else "false")


SMT_OPS = SmtOps()


def _field(p: SmtTerm, name: str) -> str:
    lo, width = PAGE_FIELDS[name]
    return f"((_ extract {lo + width - 1} {lo}) (select m {p.s}))"


def _flag(p: SmtTerm, name: str) -> SmtTerm:
    return SmtTerm(f"(= {_field(p, name)} #b1)")


def _word(p: SmtTerm, name: str) -> SmtTerm:
    width = PAGE_FIELDS[name][1]
    return SmtTerm(f"((_ zero_extend {WORD_BITS - width}) {_field(p, name)})")


class SmtPageView:
    """The PageView as SMT-LIB over ``(select m p)``: ``m`` maps each page to one packed word
    (:data:`rmqueue.specs.sorts.PAGE_FIELDS`); the zone's span and cpus are literals."""

    def __init__(self, start: int, end: int, cpus: int, max_order: int) -> None:
        self.start = SmtTerm(lit(start))
        self.end = SmtTerm(lit(end))
        self.cpus = SmtTerm(lit(cpus))
        self.max_order = max_order

    def buddy(self, p: SmtTerm) -> SmtTerm:
        return _flag(p, "buddy")

    def buddy_order(self, p: SmtTerm) -> SmtTerm:
        return _word(p, "buddy_order")

    def on_free(self, p: SmtTerm) -> SmtTerm:
        return _flag(p, "on_free")

    def free_order(self, p: SmtTerm) -> SmtTerm:
        return _word(p, "free_order")

    def free_mt(self, p: SmtTerm) -> SmtTerm:
        return _word(p, "free_mt")

    def on_pcp(self, p: SmtTerm) -> SmtTerm:
        return _flag(p, "on_pcp")

    def pcp_cpu(self, p: SmtTerm) -> SmtTerm:
        return _word(p, "pcp_cpu")

    def pcp_index(self, p: SmtTerm) -> SmtTerm:
        return _word(p, "pcp_index")

    def allocated(self, p: SmtTerm) -> SmtTerm:
        return _flag(p, "allocated")

    def alloc_order(self, p: SmtTerm) -> SmtTerm:
        return _word(p, "alloc_order")

    def cached_mt(self, p: SmtTerm) -> SmtTerm:
        return _word(p, "cached_mt")

    def block_mt(self, p: SmtTerm) -> SmtTerm:
        return _word(p, "block_mt")


def pack_page(
    buddy_order: int, list_id: int, alloc_order: int, cached_mt: int, nfl: int, block_mt: int
) -> int:
    """The packed ``pg`` word of one page from the model's per-page arrays and the type of
    the page's pageblock."""
    w = 0
    if buddy_order >= 0:
        w |= 1 | (buddy_order << 1)
    if 0 <= list_id < nfl:
        w |= (1 << 6) | ((list_id // 6) << 7) | ((list_id % 6) << 12)
    elif list_id >= nfl:
        rel = list_id - nfl
        w |= (1 << 15) | ((rel % 3) << 16) | ((rel // 3) << 18)
    if alloc_order >= 0:
        w |= (1 << 34) | (alloc_order << 35)
    return w | ((cached_mt & 7) << 40) | ((block_mt & 7) << 43)


def zone_word(zone: Any, i: int) -> int:
    """The packed word of the page at index ``i`` of a model zone (pfn ``zone_start_pfn + i``)."""
    s0, pbo = zone.zone_start_pfn, zone.pageblock_order
    return pack_page(zone.buddy_order[i], zone.list_of[i], zone.alloc_order[i],
                     zone.cached_mt[i], zone.nr_free_lists,
                     zone.pageblock_mt[((s0 + i) >> pbo) - (s0 >> pbo)])


def smt_page_macro(
    name: str, formula: Callable[..., Any], view: SmtPageView, params: tuple[str, ...] = ("p",)
) -> str:
    """``(define-fun <name> ((p (_ BitVec 64)) ...) Bool ...)`` for a formula over the page
    view.  A one-parameter (page invariant) macro is vacuous outside the zone."""
    body = formula(SMT_OPS, view, *(SmtTerm(n) for n in params)).s
    if params == ("p",):
        body = f"(=> (and (bvule {view.start.s} p) (bvult p {view.end.s})) {body})"
    decl = "(m (Array (_ BitVec 64) (_ BitVec 64))) " + " ".join(
        f"({n} (_ BitVec 64))" for n in params)
    return f"(define-fun {name} ({decl}) Bool {body})\n"


__all__ = [
    "PY_OPS",
    "SMT_OPS",
    "PyOps",
    "PyPageView",
    "PyTerm",
    "SmtOps",
    "SmtPageView",
    "SmtTerm",
    "compile_page_formula",
    "lit",
    "pack_page",
    "smt_page_macro",
    "zone_word",
]
