"""The solver evaluator of :class:`rmqueue.specs.check.StepChecker` (``backend="z3"``).

Each formula becomes an SMT-LIB macro once (``define-fun``, from the same dual code as the
fast evaluator, through :class:`rmqueue.specs._codegen.SmtOps`).  Each step becomes
``(push)``, the facts it read (``pg`` words of the pages, the event table), an assertion that
some instance fails, ``(check-sat)``, ``(pop)``.  Steps are sent in batches as one script; a
``sat`` answer is then narrowed to the first failing instance with one query per instance.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rmqueue.model.record import Transition
from rmqueue.model.zone import Zone

from . import transitions as T
from ._codegen import (
    SMT_OPS,
    SmtPageView,
    SmtTerm,
    compile_page_formula,
    lit,
    pack_page,
    smt_page_macro,
)
from ._concrete import DictCounts, page_env
from ._z3 import SmtSession
from .errors import InvariantViolation
from .invariants import PAGE_INVARIANTS, conjunction
from .sorts import PAGE_FIELDS

if TYPE_CHECKING:
    from .check import Scan, StepChecker

_BASE = ""
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


class _SmtEvents:
    """Sorted events as macro parameters ``x<j>``/``w<j>``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def x(self, i: _Idx) -> SmtTerm:
        return SmtTerm(f"x{i.j}")

    def w(self, i: _Idx) -> SmtTerm:
        return SmtTerm(f"w{i.j}")

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


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return lit(v)


# (name, text, details, members): a group's members are tested one by one to name a failure
Conjunct = tuple[str, str, dict[str, Any], list[Any]]


class SmtBatch:
    """Pending steps for the solver, and the session that checks them."""

    def __init__(self, zone: Zone, batch: int) -> None:
        self.zone = zone
        self.batch = batch
        self.session = SmtSession()
        self.pending: list[tuple[int, str, list[Conjunct], dict[int, int]]] = []
        self._reads: set[int] = set()
        mo = zone.max_order
        env = page_env(zone, self._read)
        four = ("p", "a", "b", "net")
        self._ldc = (
            compile_page_formula(T.free_list_delta_consistent, mo, env, True, four),
            compile_page_formula(T.pcp_list_delta_consistent, mo, env, True, four),
        )
        self._res = (
            compile_page_formula(T.alloc_result_valid, mo, env, True, ("p", "k")),
            compile_page_formula(T.free_result_valid, mo, env, True, ("p", "k")),
        )
        view = SmtPageView(zone.zone_start_pfn, zone.zone_start_pfn + zone.spanned_pages,
                           len(zone.pageset), mo)
        text = [_BASE]
        for inv in PAGE_INVARIANTS:
            text.append(smt_page_macro(f"inv_{inv.name}", inv.formula, view))
        text.append(smt_page_macro("ldc_free", T.free_list_delta_consistent, view, four))
        text.append(smt_page_macro("ldc_pcp", T.pcp_list_delta_consistent, view, four))
        text.append(smt_page_macro("alloc_ok", T.alloc_result_valid, view, ("p", "k")))
        text.append(smt_page_macro("free_ok", T.free_result_valid, view, ("p", "k")))
        self._view, self._env = view, env
        self._site_macros: dict[frozenset[str], tuple[str, Any, tuple[Any, ...]]] = {}
        self.session.run("".join(text))
        # definitions made since the last batch; they go first in the next script
        self._defs: list[str] = []
        # the batch being solved in the background (ctypes releases the GIL during the
        # call, so the solver overlaps with the model and the text generation)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rmqueue-z3")
        self._inflight: tuple[Future[str], list[Any]] | None = None
        self._macros: dict[tuple[str, int], tuple[str, list[Any]]] = {}
        self._pc_macros: set[int] = set()

    def _site_macro(
        self, chk: StepChecker, sites: frozenset[str]
    ) -> tuple[str, Any, tuple[Any, ...]]:
        """The macro, logging evaluator and members of the page invariants for ``sites``."""
        got = self._site_macros.get(sites)
        if got is None:
            invs = chk.site_invariants(sites)
            name = "inv_site_" + "_".join(sorted(sites))
            formula = conjunction(invs)
            self._defs.append(smt_page_macro(name, formula, self._view))
            fn = compile_page_formula(formula, self.zone.max_order, self._env, log=True)
            got = self._site_macros[sites] = (name, fn, invs)
        return got

    def _count_macro(self, chk: StepChecker, dom: str, i: int) -> tuple[str, list[Any]]:
        """The macro of a count group at ``i`` (defined on first use), and its keys."""
        got = self._macros.get((dom, i))
        if got is None:
            view = _ParamCounts(self.zone.max_order)
            body = conjunction(chk.group_members(dom))(SMT_OPS, view, i).s
            name = f"cnt_{dom}_{i}"
            params = " ".join(
                f"(v{j} {'Bool' if k == 'fair' else '(_ BitVec 64)'})"
                for j, k in enumerate(view.keys)
            )
            self._defs.append(f"(define-fun {name} ({params}) Bool {body})\n")
            got = self._macros[(dom, i)] = (name, view.keys)
        return got

    def _read(self, p: int) -> int:
        self._reads.add(p)
        return p

    def _chain(self, run: Any, *args: int) -> str:
        """Run a logging evaluator and return the array of the pages it read (packed)."""
        self._reads = reads = set[int]()
        run(*args)
        z = self.zone
        start = z.zone_start_pfn
        end = start + z.spanned_pages
        items = []
        for p in sorted(reads):
            if start <= p < end:
                i = p - start
                w = pack_page(z.buddy_order[i], z.list_of[i], z.alloc_order[i], z.cached_mt[i],
                              z.nr_free_lists)
                items.append((p, w))
                self._words[p] = w
        return store_chain(items)

    def add_step(self, chk: StepChecker, rec: Transition, sc: Scan, step: int) -> None:
        self._chk = chk
        self._words = words = dict[int, int]()
        conj: list[Conjunct] = []
        for (pfn, kind, a, b), net in sc.net.items():
            if not net:
                continue  # true whatever the state (see check.py)
            m = self._chain(self._ldc[kind], pfn, a, b, net)
            lst = {"cpu": a, "pcp": b} if kind else {"free_area": a, "migratetype": b}
            conj.append(("list_delta_consistent",
                         f"({'ldc_pcp' if kind else 'ldc_free'} {m} {lit(pfn)} {lit(a)} "
                         f"{lit(b)} {lit(net)})", {"pfns": [pfn], "lists": [lst], "net": net},
                         []))
        conj.extend(self._op_conjuncts(rec))
        if sc.events:
            conj.append(self._pages_conserved(sc))
        for pfn in sc.pfns:
            name, fn, invs = self._site_macro(chk, sc.sites(pfn))
            m = self._chain(fn, pfn)
            conj.append(("page", f"({name} {m} {lit(pfn)})",
                         {"pfns": [pfn], "m": m, "invs": invs}, []))
        for dom, i in chk.count_groups(sc):
            values = chk.post_counts() if dom == "post" else sc.D
            name, keys = self._count_macro(chk, dom, i)
            args = " ".join(_value(values.get(k, False if k == "fair" else 0)) for k in keys)
            conj.append(("counts", f"({name} {args})" if keys else f"({name})",
                         {"group": (dom, i), "values": dict(values)}, []))
        self.pending.append((step, "", conj, words))
        if len(self.pending) >= self.batch:
            self.flush(chk, wait=self.batch <= 1)

    def _op_conjuncts(self, rec: Transition) -> list[Conjunct]:
        z = self.zone
        if rec.op in ("alloc", "free") and rec.pfn is not None:
            k = 0 if rec.op == "alloc" else 1
            m = self._chain(self._res[k], rec.pfn, rec.order)
            name = ("alloc_result_valid", "free_result_valid")[k]
            return [(name, f"({('alloc_ok', 'free_ok')[k]} {m} {lit(rec.pfn)} {lit(rec.order)})",
                     {"pfns": [rec.pfn], "orders": [rec.order]}, [])]
        if rec.op == "alloc":
            text = T.alloc_failure_justified(SMT_OPS, _SmtLists(z), rec.order,
                                             rec.migratetype, rec.cpu).s
            return [("alloc_failure_justified", text, {"orders": [rec.order]}, [])]
        if rec.op == "drain":
            count = SmtTerm(lit(z.pageset[rec.cpu].count))
            text = T.drain_empties_pcp(SMT_OPS, _SmtLists(z), count, rec.cpu).s
            return [("drain_empties_pcp", text, {"lists": [{"cpu": rec.cpu}]}, [])]
        return []

    def _pages_conserved(self, sc: Scan) -> Conjunct:
        ev = sorted(sc.events)
        n = len(ev)
        if n not in self._pc_macros:
            body = T.pages_conserved(SMT_OPS, _SmtEvents(n)).s
            params = " ".join(f"(x{j} (_ BitVec 64)) (w{j} (_ BitVec 64))" for j in range(n))
            self._defs.append(f"(define-fun pc_{n} ({params}) Bool {body})\n")
            self._pc_macros.add(n)
        args = " ".join(f"{lit(x)} {lit(w)}" for x, w in ev)
        return ("pages_conserved", f"(pc_{n} {args})", {"events": ev}, [])

    def flush(self, chk: StepChecker, wait: bool = True) -> None:
        """Send the pending steps to the solver; with ``wait``, also collect every answer
        (raising for a failing step), else collect only the previous batch's."""
        self._collect()
        pending, self.pending = self.pending, []
        if pending:
            script = "".join(self._defs) + "".join(
                f"(push)(assert (not (and true {' '.join(c[1] for c in conj)})))"
                f"{CHECK}(pop)\n"
                for _, lets, conj, _ in pending
            )
            self._defs = []
            self._inflight = (self._pool.submit(self.session.run, script), pending)
        if wait:
            self._collect()

    def _collect(self) -> None:
        if self._inflight is None:
            return
        future, pending = self._inflight
        self._inflight = None
        answers = future.result().split()
        if len(answers) != len(pending):
            raise InvariantViolation("solver_unknown", "", f"z3 answered {answers[:5]}...", {})
        for (step, lets, conj, words), ans in zip(pending, answers, strict=True):
            if ans != "unsat":
                self._culprit(step, lets, conj, ans, words)

    def _culprit(
        self, step: int, lets: str, conj: list[Conjunct], ans: str, words: dict[int, int]
    ) -> None:
        flat: list[Conjunct] = []
        for c in conj:
            if c[0] == "counts":
                dom, i = c[2]["group"]
                dc = DictCounts(c[2]["values"], self.zone.max_order, lambda v: SmtTerm(lit(v)),
                                lambda b: SmtTerm("true" if b else "false"))
                flat.extend((inv.name, inv.formula(SMT_OPS, dc, i).s,
                             {"index": i, "values": {repr(k): v for k, v in
                                                     c[2]["values"].items()}}, [])
                            for inv in self._chk.group_members(dom))
            elif c[0] == "page":
                pfn = c[2]["pfns"][0]
                m = c[2]["m"]
                flat.extend((inv.name, f"(inv_{inv.name} {m} {lit(pfn)})", {"pfns": [pfn]}, [])
                            for inv in c[2]["invs"])
            else:
                flat.append(c)
        script = "".join(
            f"(push)(assert (not {c[1]})){CHECK}(pop)\n" for c in flat
        )
        answers = self.session.run(script).split()
        from .check import kernel_ref

        for (name, _, details, _), a in zip(flat, answers, strict=False):
            if a != "unsat":
                details = dict(details)
                for p in details.get("pfns", []):
                    if p in words:
                        details.setdefault("pages", {})[p] = unpack_page(words[p])
                raise InvariantViolation(name, kernel_ref(name), f"z3 answered {a}: the "
                                         f"{name} instance does not hold", details, step)
        raise InvariantViolation("solver_unknown", "", f"z3 answered {ans} for the step "
                                 "but no single instance fails", {}, step)


CHECK = "(check-sat)"


__all__ = ["SmtBatch", "unpack_page"]
