"""SMT-LIB text views of the solver evaluator (:mod:`rmqueue.specs._smtcheck`).

The accessors the formulas are traced through when a step is turned into SMT-LIB text: the
events of ``pages_conserved`` as macro parameters, the post-state's list emptiness as
literals, the ``Counts`` accessor as macro parameters or named values, and the ``PageView``
of the per-page macros whose pages are packed word parameters (one page, or a pair); plus
the helpers that build the macros' arguments (store chains, field literals, padded events).
"""

from __future__ import annotations

from typing import Any

from rmqueue.model.zone import Zone

from ._codegen import SMT_OPS, SmtPageView, SmtTerm, lit
from .sorts import PAGE_FIELDS

_BASE = ""
CHECK = "(check-sat)"
_ARR = "((as const (Array (_ BitVec 64) (_ BitVec 64))) (_ bv0 64))"


def store_chain(items: list[tuple[int, int]]) -> str:
    """An array term mapping each key to its value (0 elsewhere)."""
    out = _ARR
    for k, v in items:
        out = f"(store {out} {lit(k)} {lit(v)})"
    return out


def unpack_page(w: int) -> dict[str, int]:
    return {k: (w >> lo) & ((1 << width) - 1) for k, (lo, width) in PAGE_FIELDS.items()}


class _Idx(SmtTerm):
    """An event index the solver sees as a literal; the events are handed over sorted, so
    the permutation witness is the identity."""

    __slots__ = ("j",)

    def __init__(self, j: int) -> None:
        super().__init__(lit(j))
        self.j = j


class _Shared(SmtTerm):
    """A weight whose sums are bound with ``let`` (``r<k>``), so the running sum of
    ``pages_conserved`` is not copied into every clause (quadratic text otherwise)."""

    __slots__ = ("binds",)

    def __init__(self, s: str, binds: list[str]) -> None:
        super().__init__(s)
        self.binds = binds

    def _bind(self, text: str) -> _Shared:
        self.binds.append(text)
        return _Shared(f"r{len(self.binds) - 1}", self.binds)

    def __add__(self, o: SmtTerm) -> _Shared:
        return self._bind(f"(bvadd {self.s} {o.s})")

    def __radd__(self, o: SmtTerm) -> _Shared:
        return self._bind(f"(bvadd {o.s} {self.s})")


class _SmtEvents:
    """Sorted events as macro parameters ``x<j>``/``w<j>``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.binds: list[str] = []

    def x(self, i: _Idx) -> SmtTerm:
        return SmtTerm(f"x{i.j}")

    def w(self, i: _Idx) -> SmtTerm:
        return _Shared(f"w{i.j}", self.binds)

    def wrap(self, body: str) -> str:
        """``body`` inside the lets of the sums it names."""
        for k in reversed(range(len(self.binds))):
            body = f"(let ((r{k} {self.binds[k]})) {body})"
        return body

    def perm(self, j: int) -> _Idx:
        return _Idx(j)

    def inv(self, i: _Idx) -> SmtTerm:
        return SmtTerm(lit(i.j))


class _SmtLists:
    def __init__(self, zone: Zone) -> None:
        self.z = zone
        self.max_order = zone.max_order

    def free_empty(self, o: int, t: int) -> SmtTerm:
        return SmtTerm("true" if self.z.list_empty(o * 6 + t) else "false")

    def pcp_empty(self, cpu: int, t: int) -> SmtTerm:
        return SmtTerm("true" if self.z.list_empty(self.z.pageset[cpu].list_ids[t]) else "false")


class _ParamCounts:
    """The Counts accessor with every value a macro parameter (``v0``, ``v1``...)."""

    def __init__(self, max_order: int) -> None:
        self.max_order = max_order
        self.keys: list[Any] = []

    def _v(self, key: Any) -> SmtTerm:
        if key not in self.keys:
            self.keys.append(key)
        return SmtTerm(f"v{self.keys.index(key)}")

    def nr_free(self, o: int) -> SmtTerm:
        return self._v(("nf", o))

    def free_len(self, o: int, t: int) -> SmtTerm:
        return self._v(("fl", o, t))

    def free_pages(self, t: int) -> SmtTerm:
        return self._v(("fp", t))

    def pcp_count(self, cpu: int) -> SmtTerm:
        return self._v(("pc", cpu))

    def pcp_len(self, cpu: int, t: int) -> SmtTerm:
        return self._v(("pl", cpu, t))

    def pcp_pages(self) -> SmtTerm:
        return self._v("pp")

    def allocated_pages(self) -> SmtTerm:
        return self._v("ap")

    def zone_pages(self) -> SmtTerm:
        return self._v("zp")

    def alloc_batch_init(self) -> SmtTerm:
        return self._v("abi")

    def counter(self, item: int) -> SmtTerm:
        return self._v(("c", item))

    def fair_depleted(self) -> SmtTerm:
        return self._v("fair")


_FLAGS = ("buddy", "on_free", "on_pcp", "allocated")


def _field_param(name: str) -> str:
    return ("b_" if name in _FLAGS else "f_") + name


class _FieldView(SmtPageView):
    """The PageView of a shape macro: the fields of its one page ``p`` are names bound (by
    ``let``, :func:`_field_lets`) to the fields of the page's packed word, a parameter, so
    no array is built."""

    def _f(self, p: SmtTerm, name: str) -> SmtTerm:
        if p.s != "p":
            raise ValueError(f"a shape macro reads only its own page (got {p.s})")
        return SmtTerm(_field_param(name))

    def buddy(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "buddy")

    def buddy_order(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "buddy_order")

    def on_free(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "on_free")

    def free_order(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "free_order")

    def free_mt(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "free_mt")

    def on_pcp(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "on_pcp")

    def pcp_cpu(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "pcp_cpu")

    def pcp_index(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "pcp_index")

    def allocated(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "allocated")

    def alloc_order(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "alloc_order")

    def cached_mt(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "cached_mt")

    def block_mt(self, p: SmtTerm) -> SmtTerm:
        return self._f(p, "block_mt")


_FIELDS = tuple((name, lo, (1 << width) - 1) for name, (lo, width) in PAGE_FIELDS.items())


class _PairView(_FieldView):
    """The PageView of a pair macro: the fields of ``p`` (``f_*``) and of one more page ``q``
    (``g_*``) are bound to the fields of the word parameters ``wp``/``wq``; any other page
    reads as the array encoding's default, 0.  Used
    when an evaluation read at most one page besides ``p`` (``buddies_merged`` reads the
    buddy); it then agrees with ``(select m x)`` over the store chain of the pages read."""

    def _f(self, p: SmtTerm, name: str) -> SmtTerm:
        f = _field_param(name)
        if p.s == "p":
            return SmtTerm(f)
        zero = "false" if name in _FLAGS else lit(0)
        return SmtTerm(f"(ite (= {p.s} p) {f} (ite (= {p.s} q) g{f[1:]} {zero}))")


def _field_lets(word: str, pre: str) -> str:
    """``let`` bindings of the field names (``f_*``/``b_*``, or ``g_*`` with ``pre="g"``)
    to the fields of the packed word ``word``, as :mod:`rmqueue.specs._codegen` extracts
    them from ``(select m p)``.  One word parameter parses faster than eleven fields."""
    out = []
    for name, (lo, width) in PAGE_FIELDS.items():
        f = _field_param(name)
        f = f if pre == "f" else "g" + f[1:]
        ext = f"((_ extract {lo + width - 1} {lo}) {word})"
        expr = f"(= {ext} #b1)" if name in _FLAGS else f"((_ zero_extend {64 - width}) {ext})"
        out.append(f"({f} {expr})")
    return " ".join(out)


_P_LETS = _field_lets("wp", "f")
_PQ_LETS = _P_LETS + " " + _field_lets("wq", "g")


def _pair_params() -> str:
    return "(p (_ BitVec 64)) (wp (_ BitVec 64)) (q (_ BitVec 64)) (wq (_ BitVec 64))"


def _pair_body(body: str) -> str:
    return f"(let ({_PQ_LETS}) {body})"


def smt_pair_macro(
    name: str, formula: Any, view: _PairView, params: tuple[str, ...] = ("p",)
) -> str:
    """``smt_page_macro``'s formula over :class:`_PairView` (the same tracing, other view)."""
    body = formula(SMT_OPS, view, *(SmtTerm(n) for n in params)).s
    if params == ("p",):
        body = f"(=> (and (bvule {view.start.s} p) (bvult p {view.end.s})) {body})"
    extra = "".join(f" ({n} (_ BitVec 64))" for n in params[1:])
    return f"(define-fun {name} ({_pair_params()}{extra}) Bool {_pair_body(body)})\n"


def pad_events(ev: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted events padded to a multiple of ``PAD`` with weight-0 events at the last pfn, so
    fewer ``pc_<n>`` macros are defined.  ``pages_conserved`` is unchanged by the padding:
    the clause after the last real event compares equal pfns, and the final running sum is
    the same (tests/specs/test_shapes.py checks this on ints)."""
    extra = -len(ev) % PAD
    return ev + [(ev[-1][0], 0)] * extra if ev and extra else ev


PAD = 8


def field_args(w: int) -> list[str]:
    """The packed word ``w``'s fields as SMT-LIB literals, in ``PAGE_FIELDS`` order (the
    same values ``(select m p)`` and ``extract`` give in the array encoding)."""
    out = []
    for name, lo, mask in _FIELDS:
        v = (w >> lo) & mask
        out.append(("true" if v else "false") if name in _FLAGS else lit(v))
    return out


class _NamedCounts(_ParamCounts):
    """The Counts accessor as SMT-LIB: constants inlined, named parameters, the rest 0."""

    def __init__(self, max_order: int, names: dict[Any, str]) -> None:
        super().__init__(max_order)
        self.names = names

    def _v(self, key: Any) -> SmtTerm:
        return SmtTerm(self.names.get(key, "false" if key == "fair" else lit(0)))


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return lit(v)


# (name, text, details, members): a group's members are tested one by one to name a failure
Conjunct = tuple[str, str, dict[str, Any], list[Any]]


def _list(kind: int, a: int, b: int) -> dict[str, int]:
    return {"cpu": a, "pcp": b} if kind else {"free_area": a, "migratetype": b}


__all__ = [
    "CHECK",
    "Conjunct",
    "PAD",
    "_BASE",
    "_FieldView",
    "_NamedCounts",
    "_P_LETS",
    "_PairView",
    "_ParamCounts",
    "_SmtEvents",
    "_SmtLists",
    "_list",
    "_pair_body",
    "_pair_params",
    "_value",
    "field_args",
    "pad_events",
    "smt_pair_macro",
    "store_chain",
    "unpack_page",
]
