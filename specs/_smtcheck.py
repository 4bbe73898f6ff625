"""The solver evaluator of :class:`rmqueue.specs.check.StepChecker` (``backend="z3"``).

Each formula becomes an SMT-LIB macro once (``define-fun``, from the same dual code as the
fast evaluator, through :class:`rmqueue.specs._codegen.SmtOps`).  Each step becomes one term
over the facts it read (``pg`` words of the pages, the event table); a pcp-hit step is one
application of its shape's macro (:mod:`rmqueue.specs._shapes`) over its page's fields and
the counter deltas.  Steps are sent in batches as one script, ``CHUNK`` steps per query
(``(push)``, an assertion that some instance of some step fails, ``(check-sat)``,
``(pop)``); a query not answered ``unsat`` is re-checked step by step, and the first failing
step narrowed to its first failing instance with one query per instance.

The SMT-LIB views and argument helpers are in :mod:`._smtviews`, the narrowing of a failure
to its instance in :mod:`._smtnarrow`.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rmqueue.model.record import Transition
from rmqueue.model.vmstat import PGALLOC
from rmqueue.model.zone import Zone

from . import transitions as T
from ._codegen import (
    SMT_OPS,
    SmtPageView,
    SmtTerm,
    compile_page_formula,
    lit,
    smt_page_macro,
    zone_word,
)
from ._concrete import page_env
from ._retype import PARAMS as RETYPE
from ._retype import Retype
from ._shapes import Shape, delta_values, shape_conjuncts
from ._smtnarrow import culprit
from ._smtviews import (
    _BASE,
    _P_LETS,
    CHECK,
    PAD,
    Conjunct,
    _FieldView,
    _list,
    _NamedCounts,
    _pair_body,
    _pair_params,
    _PairView,
    _ParamCounts,
    _SmtEvents,
    _SmtLists,
    _value,
    field_args,
    pad_events,
    smt_pair_macro,
    store_chain,
    unpack_page,
)
from ._z3 import SmtSession
from .errors import InvariantViolation
from .invariants import PAGE_INVARIANTS, conjunction

if TYPE_CHECKING:
    from .check import Scan, StepChecker


class SmtBatch:
    """Pending steps for the solver, and the session that checks them."""

    def __init__(self, zone: Zone, batch: int) -> None:
        self.zone = zone
        self.batch = batch
        self._chk: StepChecker | None = None
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
        view_start = zone.zone_start_pfn
        view_end = view_start + zone.spanned_pages
        view = SmtPageView(view_start, view_end, len(zone.pageset), mo)
        text = [_BASE]
        for inv in PAGE_INVARIANTS:
            text.append(smt_page_macro(f"inv_{inv.name}", inv.formula, view))
        text.append(smt_page_macro("ldc_free", T.free_list_delta_consistent, view, four))
        text.append(smt_page_macro("ldc_pcp", T.pcp_list_delta_consistent, view, four))
        text.append(smt_page_macro("alloc_ok", T.alloc_result_valid, view, ("p", "k")))
        text.append(smt_page_macro("free_ok", T.free_result_valid, view, ("p", "k")))
        self._rt = compile_page_formula(T.retype_keeps_cma_isolate, mo, env, True, RETYPE)
        text.append(smt_page_macro("retype", T.retype_keeps_cma_isolate, view, RETYPE))
        self._view, self._env = view, env
        self._fview = _FieldView(view_start, view_end, len(zone.pageset), mo)
        pv = self._pview = _PairView(view_start, view_end, len(zone.pageset), mo)
        text.append(smt_pair_macro("ldc_free_f", T.free_list_delta_consistent, pv, four))
        text.append(smt_pair_macro("ldc_pcp_f", T.pcp_list_delta_consistent, pv, four))
        text.append(smt_pair_macro("alloc_ok_f", T.alloc_result_valid, pv, ("p", "k")))
        text.append(smt_pair_macro("free_ok_f", T.free_result_valid, pv, ("p", "k")))
        text.append(smt_pair_macro("retype_f", T.retype_keeps_cma_isolate, pv, RETYPE))
        self._site_macros: dict[frozenset[str], tuple[str, Any, tuple[Any, ...]]] = {}
        # batches alternate between two solver contexts, each solving in a background
        # thread (ctypes releases the GIL during the call), so two batches are solved at once
        # while the model and the text generation run; synchronous checking uses one
        self.sessions = [self.session] + ([SmtSession()] if batch > 1 else [])
        for session in self.sessions:
            session.run("".join(text))
        # definitions made since the last batch; they go first in the next script of each
        # context (``_sent[k]``: how many of ``_all_defs`` context k has)
        self._defs: list[str] = []
        self._all_defs: list[str] = []
        self._sent = [0] * len(self.sessions)
        self._next = 0
        self._pool = ThreadPoolExecutor(max_workers=len(self.sessions),
                                        thread_name_prefix="rmqueue-z3")
        self._inflight: deque[tuple[Future[str], list[Any], SmtSession]] = deque()
        self._macros: dict[tuple[str, int], tuple[str, list[Any]]] = {}
        self._pc_macros: set[int] = set()
        self._shape_macros: dict[Shape, str] = {}
        self._bundles: dict[tuple[frozenset[str], tuple[int, ...]], str] = {}

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
            self._defs.append(smt_pair_macro(name + "_f", formula, self._pview))
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
                w = zone_word(z, i)
                items.append((p, w))
                self._words[p] = w
        return store_chain(items)

    def _pages(self, run: Any, *args: int) -> tuple[str, str, str]:
        """Run a logging evaluator; return the macro suffix and page arguments for the pages
        it read (``_f`` and the pair's fields when at most one page besides ``args[0]``, else
        the store chain), and the store chain (for naming a failure)."""
        m = self._chain(run, *args)
        p = args[0]
        z = self.zone
        start = z.zone_start_pfn
        end = start + z.spanned_pages
        reads = [x for x in self._reads if start <= x < end and x != p]
        if len(reads) > 1:
            return "", m, m
        words = self._words
        q = reads[0] if reads else p
        return "_f", f"{lit(words.get(p, 0))} {lit(q)} {lit(words.get(q, 0))}", m

    def _bundle(
        self, chk: StepChecker, sites: frozenset[str], pfn: int,
        ldcs: list[tuple[int, int, int, int]],
    ) -> Conjunct | None:
        """The list-delta instances and page invariants at ``pfn`` as one application of a
        pair macro, or None when the evaluations read more than one page besides ``pfn``."""
        name, fn, invs = self._site_macro(chk, sites)
        self._reads = reads = set[int]()
        fn(pfn)
        for kind, a, b, net in ldcs:
            self._ldc[kind](pfn, a, b, net)
        z = self.zone
        start = z.zone_start_pfn
        end = start + z.spanned_pages
        others = [x for x in reads if start <= x < end and x != pfn]
        if len(others) > 1:
            return None
        words = self._words
        for x in (pfn, *others):
            if start <= x < end and x not in words:
                i = x - start
                words[x] = zone_word(z, i)
        q = others[0] if others else pfn
        key = (sites, tuple(k for k, _, _, _ in ldcs))
        mac = self._bundles.get(key)
        if mac is None:
            mac = self._bundle_macro(chk, key)
        rest = " ".join(f"{lit(a)} {lit(b)} {lit(net)}" for _, a, b, net in ldcs)
        # a page outside the zone (or not read) holds the word 0, as in the store chain; the
        # store chain itself (for naming a failure) is built from these pages on demand
        return ("bundle", f"({mac} {lit(pfn)} {lit(words.get(pfn, 0))} {lit(q)} "
                f"{lit(words.get(q, 0))} {rest})",
                {"pfns": [pfn], "pages_read": (pfn, *others), "invs": invs, "ldcs": ldcs}, [])

    def _bundle_macro(self, chk: StepChecker, key: tuple[frozenset[str], tuple[int, ...]]) -> str:
        sites, kinds = key
        name = f"bd_{len(self._bundles)}"
        pv = self._pview
        p = SmtTerm("p")
        terms = [conjunction(chk.site_invariants(sites))(SMT_OPS, pv, p)]
        extra = ""
        for j, kind in enumerate(kinds):
            formula = T.pcp_list_delta_consistent if kind else T.free_list_delta_consistent
            terms.append(formula(SMT_OPS, pv, p, SmtTerm(f"a{j}"), SmtTerm(f"b{j}"),
                                 SmtTerm(f"n{j}")))
            extra += "".join(f" ({v}{j} (_ BitVec 64))" for v in "abn")
        # the page invariants are vacuous outside the zone (as in smt_page_macro); pfns a
        # record names are checked to be inside it before the solver sees them
        guard = f"(and (bvule {pv.start.s} p) (bvult p {pv.end.s}))"
        body = f"(and (=> {guard} {terms[0].s}) {' '.join(t.s for t in terms[1:])})"
        self._defs.append(
            f"(define-fun {name} ({_pair_params()}{extra}) Bool {_pair_body(body)})\n")
        self._bundles[key] = name
        return name

    def _page_term(self, macro: str, run: Any, *args: int) -> tuple[str, str]:
        """``(macro pages p args...)`` over the pages ``run`` read, and the store chain."""
        suffix, pages, m = self._pages(run, *args)
        rest = " ".join(lit(a) for a in args[1:])
        if suffix:
            return f"({macro}_f {lit(args[0])} {pages} {rest})", m
        return f"({macro} {pages} {lit(args[0])} {rest})", m

    def add_step(self, chk: StepChecker, rec: Transition, sc: Scan, step: int) -> None:
        self._chk = chk
        self._words = words = dict[int, int]()
        conj: list[Conjunct] = []
        # per pfn: its list-delta instances and its page invariants, one macro application
        # when the evaluations read at most one other page (a bundle), else one each
        ldcs: dict[int, list[tuple[int, int, int, int]]] = {}
        for (pfn, kind, a, b), net in sc.net.items():
            if net:  # with net 0 the instance is true whatever the state (see check.py)
                ldcs.setdefault(pfn, []).append((kind, a, b, net))
        bundles: list[Conjunct] = []
        for pfn in sc.pfns:
            got = self._bundle(chk, sc.sites(pfn), pfn, ldcs.get(pfn, []))
            if got is not None:
                bundles.append(got)
                continue
            for kind, a, b, net in ldcs.get(pfn, []):
                text, _ = self._page_term("ldc_pcp" if kind else "ldc_free", self._ldc[kind],
                                          pfn, a, b, net)
                conj.append(("list_delta_consistent", text,
                             {"pfns": [pfn], "lists": [_list(kind, a, b)], "net": net}, []))
            name, fn, invs = self._site_macro(chk, sc.sites(pfn))
            text, m = self._page_term(name, fn, pfn)
            bundles.append(("page", text, {"pfns": [pfn], "m": m, "invs": invs}, []))
        conj.extend(self._op_conjuncts(rec))
        if sc.events:
            conj.append(self._pages_conserved(sc))
        conj.extend(bundles)
        for dom, i in chk.count_groups(sc):
            values = chk.post_counts() if dom == "post" else sc.D
            name, keys = self._count_macro(chk, dom, i)
            args = " ".join(_value(values.get(k, False if k == "fair" else 0)) for k in keys)
            conj.append(("counts", f"({name} {args})" if keys else f"({name})",
                         {"group": (dom, i), "values": dict(values)}, []))
        self.pending.append((step, f"(and true {' '.join(c[1] for c in conj)})", conj, words))
        if len(self.pending) >= self.batch:
            self.flush(chk, wait=self.batch <= 1)

    def add_retypes(self, chk: StepChecker, insts: list[Retype], step: int) -> None:
        """Queue a step's ``retype_keeps_cma_isolate`` instances (:mod:`._retype`), one
        pending entry of that step besides the one :meth:`add_step` queues."""
        self._chk = chk
        self._words = words = dict[int, int]()
        conj: list[Conjunct] = []
        for r in insts:
            text, _ = self._page_term("retype", self._rt, *r.args)
            conj.append(("retype_keeps_cma_isolate", text,
                         {"pfns": [r.p], "pageblocks": [r.index], "was": r.was,
                          "retype": [r.old, r.new]}, []))
        self.pending.append((step, f"(and true {' '.join(c[1] for c in conj)})", conj, words))
        if len(self.pending) >= self.batch:
            self.flush(chk, wait=self.batch <= 1)

    def add_shape_step(self, chk: StepChecker, shape: Shape, pfn: int, step: int) -> bool:
        """Queue a pcp-hit step (see :mod:`rmqueue.specs._shapes`): one macro over the page's
        word and the stored counters' deltas.  Advances the checker's shadow."""
        self._chk = chk
        z = self.zone
        s0 = z.zone_start_pfn
        if not s0 <= pfn < s0 + z.spanned_pages:
            return False
        name = self._shape_macros.get(shape)
        if name is None:
            name = self._shape_macro(chk, shape)
        i = pfn - s0
        w = zone_word(z, i)
        cpu = shape[1]
        pc = chk.shadow_pc
        cnt = z.pageset[cpu].count
        args = [lit(pfn), lit(w), lit(cnt - pc[cpu])]
        pc[cpu] = cnt
        vm, zvm = chk.shadow_vm, z.vm_stat
        for item in chk.vm_items:
            v = zvm[item]
            args.append(lit(v - vm[item]))
            vm[item] = v
        args.append(lit(zvm[PGALLOC]))
        args.append("true" if z.fair_depleted else "false")
        text = f"({name} {' '.join(args)})"
        self.pending.append((step, text, [("shape", text, {"shape": shape, "args": args,
                                                            "pfns": [pfn]}, [])], {pfn: w}))
        if len(self.pending) >= self.batch:
            self.flush(chk, wait=self.batch <= 1)
        return True

    def _shape_params(self, chk: StepChecker) -> list[str]:
        return ["p", "wp", "dpc",
                *(f"d{i}" for i in chk.vm_items), f"v{PGALLOC}", "fair"]

    def _shape_terms(self, chk: StepChecker, shape: Shape) -> list[tuple[str, SmtTerm]]:
        """The shape's formula instances as SMT-LIB over the macro's parameters."""
        op, cpu, idx = shape
        dnames: dict[Any, str] = {k: lit(v) for k, v in delta_values(shape).items()}
        dnames["pc", cpu] = "dpc"
        for item in chk.vm_items:
            dnames["c", item] = f"d{item}"
        pnames: dict[Any, str] = {k: lit(v) for k, v in chk.constants.items()}
        pnames["c", PGALLOC] = f"v{PGALLOC}"
        pnames["fair"] = "fair"
        mo = self.zone.max_order
        return shape_conjuncts(chk, SMT_OPS, self._fview, _NamedCounts(mo, dnames),
                               _NamedCounts(mo, pnames), SmtTerm("p"), shape)

    def _shape_macro(self, chk: StepChecker, shape: Shape) -> str:
        name = "sh_{}_{}_{}".format(*shape)
        body = SMT_OPS.and_(*(t for _, t in self._shape_terms(chk, shape))).s
        params = " ".join(f"({n} {'Bool' if n == 'fair' else '(_ BitVec 64)'})"
                          for n in self._shape_params(chk))
        self._defs.append(f"(define-fun {name} ({params}) Bool (let ({_P_LETS}) {body}))\n")
        self._shape_macros[shape] = name
        return name

    def _shape_flat(self, chk: StepChecker, c: Conjunct) -> list[Conjunct]:
        """A shape step's instances one by one, over the step's recorded values."""
        shape, args = c[2]["shape"], c[2]["args"]
        binds = " ".join(f"({n} {a})" for n, a in zip(self._shape_params(chk), args,
                                                       strict=True))
        _, cpu, idx = shape
        details = {"pfns": list(c[2]["pfns"]), "orders": [0],
                   "lists": [{"cpu": cpu, "pcp": idx}]}
        return [(name, f"(let ({binds}) (let ({_P_LETS}) {t.s}))", details, [])
                for name, t in self._shape_terms(chk, shape)]

    def _op_conjuncts(self, rec: Transition) -> list[Conjunct]:
        z = self.zone
        if rec.op in ("alloc", "free") and rec.pfn is not None:
            k = 0 if rec.op == "alloc" else 1
            text, _ = self._page_term(("alloc_ok", "free_ok")[k], self._res[k], rec.pfn,
                                      rec.order)
            name = ("alloc_result_valid", "free_result_valid")[k]
            return [(name, text, {"pfns": [rec.pfn], "orders": [rec.order]}, [])]
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
        ev = pad_events(sorted(sc.events))
        n = len(ev)
        if n not in self._pc_macros:
            events = _SmtEvents(n)
            body = events.wrap(T.pages_conserved(SMT_OPS, events).s)
            params = " ".join(f"(x{j} (_ BitVec 64)) (w{j} (_ BitVec 64))" for j in range(n))
            self._defs.append(f"(define-fun pc_{n} ({params}) Bool {body})\n")
            self._pc_macros.add(n)
        args = " ".join(f"{lit(x)} {lit(w)}" for x, w in ev)
        return ("pages_conserved", f"(pc_{n} {args})", {"events": ev}, [])

    def flush(self, chk: StepChecker, wait: bool = True) -> None:
        """Send the pending steps to the solver; with ``wait``, also collect every answer
        (raising for a failing step), else collect only the previous batch's.  The steps go
        as one conjunction per chunk of ``CHUNK`` steps; a chunk not answered ``unsat`` is
        re-checked step by step to find the first failing one."""
        self._collect(len(self.sessions) - 1)
        pending, self.pending = self.pending, []
        if pending:
            k = self._next
            self._next = (k + 1) % len(self.sessions)
            self._all_defs.extend(self._defs)
            self._defs = []
            script = "".join(self._all_defs[self._sent[k]:]) + "".join(
                f"(push)(assert (not (and true {' '.join(e[1] for e in pending[j:j + CHUNK])}"
                f"))){CHECK}(pop)\n"
                for j in range(0, len(pending), CHUNK)
            )
            self._sent[k] = len(self._all_defs)
            session = self.sessions[k]
            self._inflight.append((self._pool.submit(session.run, script), pending, session))
        if wait:
            self._collect(0)

    def _collect(self, keep: int) -> None:
        """Collect the oldest batches in flight until at most ``keep`` remain."""
        while len(self._inflight) > keep:
            self._collect_one()

    def _collect_one(self) -> None:
        future, pending, session = self._inflight.popleft()
        answers = future.result().split()
        chunks = [pending[k:k + CHUNK] for k in range(0, len(pending), CHUNK)]
        if len(answers) != len(chunks):
            raise InvariantViolation("solver_unknown", "", f"z3 answered {answers[:5]}...", {})
        for chunk, ans in zip(chunks, answers, strict=True):
            if ans == "unsat":
                continue
            script = "".join(f"(push)(assert (not {e[1]})){CHECK}(pop)\n" for e in chunk)
            for (step, _, conj, words), a in zip(chunk, session.run(script).split(),
                                                 strict=True):
                if a != "unsat":
                    culprit(self, step, "", conj, a, words, session)
            raise InvariantViolation("solver_unknown", "", f"z3 answered {ans} for a chunk "
                                     "of steps but for none of them alone", {})


# steps per solver query (a query not answered unsat is re-checked step by step)
CHUNK = 64


__all__ = ["PAD", "SmtBatch", "field_args", "pad_events", "store_chain", "unpack_page"]
