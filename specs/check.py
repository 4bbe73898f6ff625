"""The per-step checker: every transition of a model allocator, O(size of its record).

:class:`StepChecker` keeps a shadow of the scalar state (``nr_free``, pcp counts, vmstat) and,
for each :class:`Transition`, checks with frame reasoning (see
:mod:`rmqueue.specs.transitions`):

1. ``list_delta_consistent`` at every (pfn, list) the record names;
2. the op's predicate (``alloc_result_valid``, ``free_result_valid``,
   ``alloc_failure_justified``, ``drain_empties_pcp``), and ``retype_keeps_cma_isolate`` for
   each pageblock the record retypes (:mod:`rmqueue.specs._retype`);
3. ``pages_conserved`` over the blocks the record moved;
4. every page invariant at every pfn the record names;
5. the linear count invariants on the difference accessor (post minus shadow, for the orders
   and CPUs the record touches), and the others on the post state.

A pcp-hit step (an order-0 alloc from, or free to, a pcp list) is checked by a function
partially evaluated per record shape from the same formulas (:mod:`rmqueue.specs._shapes`):
the same instances, a handful of bytecodes; if it fails, the general path names the failure.

Two evaluators run the same formulas: ``backend="fast"`` runs Python compiled from them
(:mod:`rmqueue.specs._codegen`); ``backend="z3"`` sends them, as SMT-LIB text over the facts
the step read, to Z3 in batches (``flush()`` forces the pending ones).  ``full_check()`` runs
every instance over the whole state, O(zone), and validates the frame assumption.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from rmqueue.model.allocator import Allocator
from rmqueue.model.buddy import INT_OPS
from rmqueue.model.record import Transition
from rmqueue.model.vmstat import PGALLOC, VmItem

from . import transitions as T
from ._cbuild import load as load_native
from ._codegen import compile_page_formula
from ._concrete import (
    CountKey,
    compile_count_formula,
    constants,
    describe_page,
    full_counts,
    page_env,
)
from ._records import (
    compile_record,
    drain_check,
    failure_check,
    group_members,
    site_invariants,
    vm_items,
)
from ._retype import RetypeShadow
from ._scan import (
    SITE_SETS,
    Scan,
    ZoneLists,
    coverage_mismatch,
    first_uncovered,
    nonempty_lists,
    scan,
)
from ._shapes import Shape, compile_shape, shape_of
from ._smtcheck import SmtBatch
from .errors import InvariantViolation
from .invariants import BY_NAME, COUNT_INVARIANTS, PAGE_INVARIANTS, Invariant, conjunction

_REF = {c.name: c.kernel_ref for c in T.TRANSITION_CHECKS}


def summary(doc: str) -> str:
    """The first sentence of a docstring, on one line."""
    text = " ".join(doc.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def kernel_ref(name: str) -> str:
    inv = BY_NAME.get(name)
    return inv.kernel_ref if inv is not None else _REF.get(name, "")


class StepChecker:
    """Checks every transition of ``allocator`` (see the module docstring).

    ``check(rec)`` must be called once per operation, right after it, in order.
    """

    def __init__(self, allocator: Allocator, *, backend: str = "fast", batch: int = 512,
                 native: bool | None = None):
        if backend not in ("fast", "z3"):
            raise ValueError(f"backend must be 'fast' or 'z3' (got {backend!r})")
        self.allocator = allocator
        self.zone = zone = allocator.zone
        self.backend = backend
        self.steps = 0
        mo = zone.max_order
        env = page_env(zone)
        self._page = [(inv, compile_page_formula(inv.formula, mo, env)) for inv in PAGE_INVARIANTS]
        self._step_page = [(inv, fn) for inv, fn in self._page if inv.per_step]
        self._env = env
        self._site_fns: dict[frozenset[str], tuple[Callable[..., bool], list[Any]]] = {}
        self._mask_fns = [self.site_fn(SITE_SETS[m]) for m in range(8)]
        self._ldc_free = compile_page_formula(
            T.free_list_delta_consistent, mo, env, params=("p", "a", "b", "net"))
        self._ldc_pcp = compile_page_formula(
            T.pcp_list_delta_consistent, mo, env, params=("p", "a", "b", "net"))
        self._alloc_ok = compile_page_formula(T.alloc_result_valid, mo, env, params=("p", "k"))
        self._free_ok = compile_page_formula(T.free_result_valid, mo, env, params=("p", "k"))
        self._count_fns: dict[tuple[str, int], tuple[Callable[..., bool], tuple[Any, ...]]] = {}
        self._group_fns: dict[tuple[str, int], tuple[Callable[..., bool], tuple[Any, ...]]] = {}
        self._const = constants(zone)
        # the vmstat items some count invariant reads (the frame: the others are not checked
        # per step; full_check compares them all)
        self._vm_items = list(vm_items(zone.max_order))
        self._post: defaultdict[CountKey, Any] = defaultdict(int, self._const)
        self._smt = SmtBatch(zone, batch) if backend == "z3" else None
        self._nf: list[int] = []
        self._pc: list[int] = []
        self._vm: list[int] = []
        self._retype = RetypeShadow(zone)
        self._sync()
        # pcp-hit steps: per-shape checks partially evaluated from the same formulas
        self._shape_fns: dict[Shape, Callable[[int], bool]] = {}
        self._ncpu = len(zone.pageset)
        # every other step (fast backend): whole-record checks generated per op, in C where
        # a compiler is at hand (native=None: if it builds; True: required; False: Python)
        self._record_fns: dict[str, Callable[[Transition], bool]] = {}
        self._native: Any = None
        self._native_state: Any = None
        lists = ZoneLists(zone)
        # the op predicates that read list emptiness (alloc_failure_justified,
        # drain_empties_pcp), shared by the generated checks
        self._pred_fail = failure_check(lists)
        self._pred_drain = drain_check(zone, lists)
        if self._smt is None:
            if native is not False:
                self._native, self._native_state = self._load_native(native is True)
            if self._native is None:
                self._record_fns = {op: self.record_fn(op) for op in ("alloc", "free", "drain")}
        # records the generated check handed to the general path (it does not net repeated
        # entries itself) that then passed
        self.record_fallbacks = 0

    # names the shape checks of rmqueue.specs._shapes bind
    @property
    def vm_items(self) -> list[int]:
        return self._vm_items

    @property
    def constants(self) -> dict[CountKey, Any]:
        return self._const

    @property
    def page_env(self) -> dict[str, Any]:
        return self._env

    @property
    def shadow_pc(self) -> list[int]:
        return self._pc

    @property
    def shadow_vm(self) -> list[int]:
        return self._vm

    # -- shadow ---------------------------------------------------------------------------

    def _sync(self) -> None:
        # in place: the shape checks hold these lists
        z = self.zone
        self._nf[:] = [a.nr_free for a in z.free_area]
        self._pc[:] = [p.count for p in z.pageset]
        self._vm[:] = z.vm_stat
        self._retype.sync()

    def site_invariants(self, sites: frozenset[str]) -> tuple[Invariant, ...]:
        """The per-step page invariants instantiated at a pfn of these site kinds."""
        return site_invariants(sites)

    def site_fn(self, sites: frozenset[str]) -> tuple[Callable[..., bool], list[Any]]:
        """The compiled conjunction of the page invariants for these site kinds."""
        got = self._site_fns.get(sites)
        if got is None:
            invs = self.site_invariants(sites)
            fn = compile_page_formula(conjunction(invs), self.zone.max_order, self._env)
            got = self._site_fns[sites] = (
                fn, [(inv, f) for inv, f in self._step_page if inv in invs])
        return got

    def group_fn(self, dom: str, i: int) -> tuple[Callable[..., bool], tuple[Any, ...]]:
        """The compiled conjunction of the count invariants of ``dom`` at ``i``."""
        key = (dom, i)
        got = self._group_fns.get(key)
        if got is None:
            invs = group_members(dom)
            got = self._group_fns[key] = compile_count_formula(
                conjunction(invs), self.zone.max_order, i)
        return got

    def group_members(self, dom: str) -> tuple[Invariant, ...]:
        return group_members(dom)

    def _count_fn(self, inv: Invariant, i: int) -> tuple[Callable[..., bool], tuple[Any, ...]]:
        key = (inv.name, i)
        got = self._count_fns.get(key)
        if got is None:
            got = self._count_fns[key] = compile_count_formula(
                inv.formula, self.zone.max_order, i)
        return got

    # -- the step check -------------------------------------------------------------------

    @property
    def native(self) -> bool:
        """Whether the fast backend runs the C record checks (:mod:`._crecords`)."""
        return self._native is not None

    def _load_native(self, required: bool) -> tuple[Any, Any]:
        mod = load_native(self.zone.max_order)
        if mod is None:
            if required:
                raise RuntimeError("the C record checks could not be built (no C compiler, "
                                   "or RMQUEUE_NO_C is set)")
            return None, None
        z = self.zone
        state = mod.make(z.list_of, z.buddy_order, z.alloc_order, z.cached_mt,
                         z.pageblock_mt, z.zone_start_pfn,
                         z.zone_start_pfn + z.spanned_pages, z.nr_free_lists, len(z.pageset),
                         self._const["zp"], self._const["abi"], z.pageblock_order,
                         z.free_area, z.pageset, z.vm_stat, self._nf, self._pc, self._vm, z)
        return mod.check, state

    def _pred(self, rec: Transition) -> bool:
        """The op predicates that read list emptiness, for the C record check (which does
        the rest): ``drain_empties_pcp``, ``alloc_failure_justified``; True otherwise."""
        if rec.op == "drain":
            return self._pred_drain(rec)
        if rec.pfn is None:
            return self._pred_fail(rec)
        return True

    def check(self, rec: Transition) -> None:
        """Check one transition; raise :class:`InvariantViolation` naming the first failure
        (with the z3 backend, possibly at a later ``check``/``flush`` of its batch)."""
        if self._smt is None:
            if self.fast_check(rec):
                self.steps += 1
                return
            # a failure to name, or a record the fast check does not net itself
            self._check_general(rec)
            self.record_fallbacks += 1
            return
        got = shape_of(rec, self._ncpu)
        if got is not None and self._smt.add_shape_step(self, got[0], got[1], self.steps):
            self.steps += 1
            return
        self._check_general(rec)

    def fast_check(self, rec: Transition) -> bool:
        """The fast backend's check of one record: True when every instance holds (the
        shadow then advanced), False touching nothing (the general path then decides).
        Pcp hits run their shape check (Python evaluator) or the C record check; other
        records the generated record check; a retyping record also its
        ``retype_keeps_cma_isolate`` instances."""
        undo: list[tuple[int, int]] = []
        if rec.retyped:
            shadow = self._retype.types
            undo = [(i, shadow[i]) for i, _, _ in rec.retyped if 0 <= i < len(shadow)]
            if self._retype.first_failing(self._retype.instances(rec)) is not None:
                self._undo_retype(undo)
                return False
        native = self._native
        if native is not None:
            ok = bool(native(self._native_state, rec, self._pred(rec)))
        else:
            got = None if rec.retyped else shape_of(rec, self._ncpu)
            if got is not None:
                shape, pfn = got
                fn = self._shape_fns.get(shape)
                if fn is None:
                    fn = self._shape_fns[shape] = compile_shape(self, shape)
                ok = fn(pfn)
            else:
                ok = self._record_fns[rec.op](rec)
        if not ok and undo:
            self._undo_retype(undo)
        return ok

    def _undo_retype(self, undo: list[tuple[int, int]]) -> None:
        shadow = self._retype.types
        for i, t in reversed(undo):
            shadow[i] = t

    def record_fn(self, op: str) -> Callable[[Transition], bool]:
        """The generated whole-record check of ``op`` records (:mod:`._records`)."""
        env = dict(self._env)
        env.update(SNF=self._nf, SPC=self._pc, SV=self._vm, ZP=self._const["zp"],
                   ABI=self._const["abi"], FAIL=self._pred_fail, DRAIN=self._pred_drain)
        return compile_record(self.zone, op, env)

    def _check_general(self, rec: Transition) -> None:
        z = self.zone
        step = self.steps
        self.steps += 1
        sc = scan(rec)
        D = sc.D
        s0 = z.zone_start_pfn
        se = s0 + z.spanned_pages
        pfns = sc.pfns
        # the loop (which names the first pfn out of range) runs only when one is
        if pfns and (min(pfns) < s0 or max(pfns) >= se):
            for pfn in pfns:
                if not s0 <= pfn < se:
                    self._fail("block_aligned", step, f"the record names pfn {pfn}, outside "
                               f"the zone's pfns {s0}..{se - 1}", {"pfns": [pfn]})
        # stored side of the counts: post minus shadow, where the record touches
        nf, pc, vm = self._nf, self._pc, self._vm
        for o in sc.orders:
            if not 0 <= o < z.max_order:
                self._fail("block_aligned", step, f"the record names order {o}",
                           {"orders": [o]})
            D["nf", o] = z.free_area[o].nr_free - nf[o]
        for cpu in sc.cpus:
            D["pc", cpu] = z.pageset[cpu].count - pc[cpu]
        zvm = z.vm_stat
        for item in self._vm_items:
            d = zvm[item] - vm[item]
            if d:
                D["c", item] = d
        if rec.retyped:
            self._check_retyped(rec, step)
        if self._smt is not None:
            self._smt.add_step(self, rec, sc, step)
        else:
            self._check_fast(rec, sc, step)
        for o in sc.orders:
            nf[o] = z.free_area[o].nr_free
        for cpu in sc.cpus:
            pc[cpu] = z.pageset[cpu].count
        for item in self._vm_items:
            vm[item] = zvm[item]

    def _check_fast(self, rec: Transition, sc: Scan, step: int) -> None:
        z = self.zone
        ldc_free, ldc_pcp = self._ldc_free, self._ldc_pcp
        for (pfn, kind, a, b), net in sc.net.items():
            # with net 0 the formula is true whatever the state (0 or 1 minus 0): skipped
            if net and not (ldc_pcp if kind else ldc_free)(pfn, a, b, net):
                lst = {"cpu": a, "pcp": b} if kind else {"free_area": a, "migratetype": b}
                self._fail("list_delta_consistent", step,
                           f"pfn {pfn}: the record's net change {net:+d} to list {lst} does "
                           "not match the post state's membership",
                           {"pfns": [pfn], "lists": [lst], "net": net,
                            "page": describe_page(z, pfn)})
        self._op_predicate(rec, step)
        bad = first_uncovered(sc.cov)
        if bad is not None:
            self._fail("pages_conserved", step,
                       f"the pages the step removed and added differ at pfn {bad} (a page "
                       "lost or doubled)", {"pfns": [bad], "events": sorted(sc.events)})
        mask_fns = self._mask_fns
        added, free_added, pcp_added = sc.added, sc.free_added, sc.pcp_added
        untouched = mask_fns[0]
        for pfn in sc.pfns:
            # free_added and pcp_added are subsets of added (scan), so a pfn not in added
            # has mask 0
            if pfn in added:
                fn_all, members = mask_fns[1 | ((pfn in free_added) << 1)
                                           | ((pfn in pcp_added) << 2)]
            else:
                fn_all, members = untouched
            if not fn_all(pfn):
                for inv, fn in members:
                    if not fn(pfn):
                        self._fail_page(inv, pfn, step)
        self._counts_fast(sc, step)

    def _check_retyped(self, rec: Transition, step: int) -> None:
        """``retype_keeps_cma_isolate`` for each pageblock the record retypes (specs/_retype.py;
        the shadow of the pageblock types advances)."""
        insts = self._retype.instances(rec)
        if self._smt is not None:
            self._smt.add_retypes(self, insts, step)
            return
        bad = self._retype.first_failing(insts)
        if bad is not None:
            self._fail("retype_keeps_cma_isolate", step,
                       f"pageblock {bad.index} retyped {bad.old} -> {bad.new} (type before the "
                       f"step {bad.was}, after {describe_page(self.zone, bad.p).get('block_mt')})"
                       ": a CMA pageblock must stay CMA, no other may become CMA, and none "
                       "ISOLATE", {"pfns": [bad.p], "pageblocks": [bad.index],
                                   "was": bad.was, "retype": [bad.old, bad.new]})

    def _op_predicate(self, rec: Transition, step: int) -> None:
        z = self.zone
        if rec.op == "alloc":
            if rec.pfn is not None:
                if not self._alloc_ok(rec.pfn, rec.order):
                    self._fail("alloc_result_valid", step,
                               f"alloc returned pfn {rec.pfn} at order {rec.order}, which is "
                               "not an aligned in-zone block now in the user's hands",
                               {"pfns": [rec.pfn], "orders": [rec.order],
                                "page": describe_page(z, rec.pfn)})
            elif not T.alloc_failure_justified(INT_OPS, ZoneLists(z), rec.order,
                                               rec.migratetype, rec.cpu):
                self._fail("alloc_failure_justified", step,
                           f"alloc of order {rec.order} type {rec.migratetype} failed while "
                           "a usable list holds a large enough block",
                           {"orders": [rec.order], "lists": nonempty_lists(z, rec)})
        elif rec.op == "free" and rec.pfn is not None:
            if not self._free_ok(rec.pfn, rec.order):
                self._fail("free_result_valid", step, f"pfn {rec.pfn} is still allocated "
                           "after its free", {"pfns": [rec.pfn], "orders": [rec.order]})
        elif rec.op == "drain":
            count = z.pageset[rec.cpu].count
            if not T.drain_empties_pcp(INT_OPS, ZoneLists(z), count, rec.cpu):
                self._fail("drain_empties_pcp", step, f"cpu {rec.cpu} still has pcp pages "
                           f"(count {count}) after drain", {"lists": [{"cpu": rec.cpu}]})

    def count_groups(self, sc: Scan) -> list[tuple[str, int]]:
        """The count-invariant groups a step instantiates: the orders and CPUs it touched,
        the zone-wide ones, and the non-linear ones on the post state."""
        out = [("order", o) for o in sc.orders]
        out.extend(("cpu", c) for c in sc.cpus)
        out.append(("zone", 0))
        out.append(("post", 0))
        return out

    def _counts_fast(self, sc: Scan, step: int) -> None:
        D = sc.D
        gf = self._group_fns
        for o in sc.orders:
            fn = gf.get(("order", o)) or self.group_fn("order", o)
            if not fn[0](D):
                self._name_count_failure("order", o, D, "delta", step)
        for c in sc.cpus:
            fn = gf.get(("cpu", c)) or self.group_fn("cpu", c)
            if not fn[0](D):
                self._name_count_failure("cpu", c, D, "delta", step)
        fn = gf.get(("zone", 0)) or self.group_fn("zone", 0)
        if not fn[0](D):
            self._name_count_failure("zone", 0, D, "delta", step)
        post = self.post_counts()
        fn = gf.get(("post", 0)) or self.group_fn("post", 0)
        if not fn[0](post):
            self._name_count_failure("post", 0, post, "post", step)

    def _name_count_failure(
        self, dom: str, i: int, values: dict[CountKey, Any], label: str, step: int
    ) -> None:
        for inv in self.group_members(dom):
            f1, reads = self._count_fn(inv, i)
            if not f1(values):
                self._fail_count(inv, i, step, {label: {repr(k): values.get(k, 0)
                                                        for k in reads}})

    def post_counts(self) -> defaultdict[CountKey, Any]:
        """The O(1) post-state counts the non-linear count invariants read."""
        z = self.zone
        d = self._post
        d["c", PGALLOC] = z.vm_stat[PGALLOC]
        d["fair"] = z.fair_depleted
        return d

    # -- failures -------------------------------------------------------------------------

    def _fail(self, name: str, step: int | None, msg: str, details: dict[str, Any]) -> None:
        raise InvariantViolation(name, kernel_ref(name), msg, details, step)

    def _fail_page(self, inv: Invariant, pfn: int, step: int | None) -> None:
        z = self.zone
        page = describe_page(z, pfn)
        pfns = [pfn]
        orders: list[int] = []
        if z.zone_spans_pfn(pfn):
            lid = z.list_of[pfn - z.zone_start_pfn]
            if 0 <= lid < z.nr_free_lists:
                o = lid // 6
                orders.append(o)
                buddy = pfn ^ (1 << o)
                pfns.append(buddy)
                page["buddy"] = describe_page(z, buddy)
            ao = z.alloc_order[pfn - z.zone_start_pfn]
            if ao >= 0:
                orders.append(ao)
        lists = [page["list"]] if "list" in page else []
        self._fail(inv.name, step, f"at pfn {pfn}: {summary(inv.doc)}",
                   {"pfns": pfns, "orders": orders, "lists": lists, "page": page})

    def _fail_count(self, inv: Invariant, i: int, step: int | None,
                    values: dict[str, Any]) -> None:
        where = {"order": "order", "cpu": "cpu"}.get(inv.domain)
        details: dict[str, Any] = dict(values)
        if where == "order":
            details["orders"] = [i]
        elif where == "cpu":
            details["lists"] = [{"cpu": i}]
        at = f" ({where} {i})" if where else ""
        self._fail(inv.name, step, f"{summary(inv.doc)}{at}; values read: {values}",
                   details)

    # -- batches and the full check -------------------------------------------------------

    def flush(self) -> None:
        """Check every transition still pending in the solver's batch."""
        if self._smt is not None:
            self._smt.flush(self)

    def full_check(self) -> None:
        """Every invariant instance over the whole state (O(zone)); also re-syncs the shadow
        and checks it against the state (the frame assumption)."""
        self.flush()
        z = self.zone
        s0 = z.zone_start_pfn
        for inv, fn in self._page:
            for i in range(z.spanned_pages):
                if not fn(i + s0):
                    self._fail_page(inv, i + s0, None)
        events: list[tuple[int, int]] = [(s0, -1), (s0 + z.spanned_pages, 1)]
        nfl = z.nr_free_lists
        for i, lid in enumerate(z.list_of):
            if lid >= 0:
                size = 1 << (lid // 6) if lid < nfl else 1
                events.append((i + s0, 1))
                events.append((i + s0 + size, -1))
        for i, ao in enumerate(z.alloc_order):
            if ao >= 0:
                events.append((i + s0, 1))
                events.append((i + s0 + (1 << ao), -1))
        bad = coverage_mismatch(events)
        if bad is not None:
            run = sum(w for x, w in events if x <= bad)
            name = "blocks_disjoint" if run > 0 else "zone_pages_conserved"
            what = "more than one block" if run > 0 else "no block (a lost page)"
            self._fail(name, None, f"pfn {bad} is covered by {what} (free, pcp or allocated)",
                       {"pfns": [bad]})
        full = full_counts(z)
        for inv in COUNT_INVARIANTS:
            dom = {"order": range(z.max_order), "cpu": range(len(z.pageset))}.get(
                inv.domain, range(1))
            for i in dom:
                fn, reads = self._count_fn(inv, i)
                if not fn(full):
                    self._fail_count(inv, i, None, {"state": {repr(k): full.get(k, 0)
                                                              for k in reads}})
        stale = [o for o in range(z.max_order) if self._nf[o] != z.free_area[o].nr_free]
        stale_pc = [p.cpu for p in z.pageset if self._pc[p.cpu] != p.count]
        stale_vm = [VmItem(i).name for i in self._vm_items if self._vm[i] != z.vm_stat[i]]
        stale_pb = self._retype.stale()
        if stale or stale_pc or stale_vm or stale_pb:
            self._fail("frame", None, "a counter changed without the checked steps seeing it "
                       f"(nr_free orders {stale}, pcp cpus {stale_pc}, vmstat {stale_vm}, "
                       f"pageblock types {stale_pb})",
                       {"orders": stale, "lists": [{"cpu": c} for c in stale_pc],
                        "counters": stale_vm, "pageblocks": stale_pb})
        self._sync()


__all__ = ["SITE_SETS", "InvariantViolation", "Scan", "StepChecker", "coverage_mismatch",
           "first_uncovered", "kernel_ref", "scan"]
