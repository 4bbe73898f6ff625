"""Whole-record step checks, generated from the same formulas: the fast general path.

:mod:`rmqueue.specs.check`'s general path scans a record into dicts (nets per (pfn, list),
coverage sums, count deltas) and then calls one compiled formula per instance.  For the
``fast`` backend that bookkeeping costs more than the model's own step.  This module generates,
once per op (``alloc``, ``free``, ``drain``) and checker, one Python function that evaluates
exactly the instances the general path instantiates, in one pass over the record's lists,
with every formula inlined (traced on the :mod:`rmqueue.specs._codegen` backend, constants
folded, the entry's own page read once into locals):

* ``list_delta_consistent`` at each entry's (pfn, list), with the entry's net (-1 for a
  ``*_del``, +1 for a ``*_add``; an entry that is in both lists of its kind has net 0 and is
  skipped, as the general path skips it);  where an addition's instance holds, the page is
  on exactly that list, and the page invariants after it are traced with that fact
  substituted (``on_free`` true, ``free_order`` the entry's order, ...), which is the same
  conjunction evaluated in part;
* the page invariants of the entry's site kinds at its pfn (``touched`` for a removal, plus
  ``added`` and ``free_added`` / ``pcp_added`` for an addition; a pfn named by several entries
  is checked once per entry, which is the union the general path checks once);
* the op's predicate (``alloc_result_valid``, ``free_result_valid``, ``drain_empties_pcp``;
  ``alloc_failure_justified`` on the same :class:`_ZoneLists` as the general path);
* ``pages_conserved`` as multiset equality: the coverage difference of
  :mod:`rmqueue.specs.transitions` is 0 at every pfn exactly when the multiset of added-block
  starts and removed-block ends equals the multiset of removed-block starts and added-block
  ends (the sum at ``x`` is the first count at ``x`` minus the second);
* the count groups at the orders and CPUs the record touches, the zone group, the post
  group, on the same difference values (the list side summed from the entries, the stored
  side post minus the checker's shadow).

The function returns True and advances the shadow only when every instance holds.  It
returns False, touching nothing, on any failure and also on records it does not net itself
(an entry repeated within one list, a pfn outside the zone, an order or list index out of
range): the general path then checks the record and names the failure.  So a True here
implies the general path's verdict is True too; tests/specs/test_records.py checks that on
generated and corrupted records.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from types import CodeType
from typing import Any

from rmqueue.model.buddy import INT_OPS
from rmqueue.model.record import Transition
from rmqueue.model.types import MIGRATE_PCPTYPES, MIGRATE_TYPES
from rmqueue.model.vmstat import PGALLOC

from . import transitions as T
from ._codegen import PY_OPS, PyPageView, PyTerm
from ._concrete import CountKey, PyCounts, compile_count_formula
from ._fold import fold
from .invariants import COUNT_INVARIANTS, PAGE_INVARIANTS, Invariant

# site masks (as check.SITE_SETS): 0 touched, 1 added, 2 free_added, 4 pcp_added
SITE_NAMES = ((1, "added"), (2, "free_added"), (4, "pcp_added"))


def site_set(mask: int) -> frozenset[str]:
    """The site kinds of a site mask."""
    return frozenset({"touched"} | {n for b, n in SITE_NAMES if mask & b})


def site_invariants(sites: frozenset[str]) -> tuple[Invariant, ...]:
    """The per-step page invariants instantiated at a pfn of these site kinds."""
    return tuple(i for i in PAGE_INVARIANTS if i.per_step and i.step_sites in sites)


def group_members(dom: str) -> tuple[Invariant, ...]:
    """The count invariants of a group: ``order``/``cpu``/``zone`` (linear, on differences)
    or ``post`` (the others, on the post state)."""
    if dom == "post":
        return tuple(i for i in COUNT_INVARIANTS if not i.linear)
    return tuple(i for i in COUNT_INVARIANTS if i.domain == dom and i.linear)


def vm_items(max_order: int) -> tuple[int, ...]:
    """The vmstat items some count invariant reads (the others are outside the frame)."""
    return tuple(sorted({
        k[1] for inv in COUNT_INVARIANTS
        for i in range(max_order if inv.domain == "order" else 1)
        for k in compile_count_formula(inv.formula, max_order, i)[1]
        if isinstance(k, tuple) and k[0] == "c"
    }))


# the page-array names of rmqueue.specs._codegen and the locals an entry reads them into
_ARRAYS = {"LO": "lo", "BO": "bo", "AO": "ao", "CM": "cm"}


class _EntryPage(PyPageView):
    """The PageView as source where the entry's own pfn is ``p`` at index ``I``: its reads
    become the locals ``lo``/``bo``/``ao``/``cm``; reads at any other pfn stay array reads."""

    def _i(self, p: PyTerm) -> str:
        return "I" if p.s == "p" else f"{p.s} - S0"


class _OnFreeList(_EntryPage):
    """As :class:`_EntryPage`, under the fact that ``p`` is on free_list[o][mt] (its list
    delta instance just held): the list fields of ``p`` are the entry's."""

    def on_free(self, p: PyTerm) -> PyTerm:
        return PyTerm("True") if p.s == "p" else super().on_free(p)

    def free_order(self, p: PyTerm) -> PyTerm:
        return PyTerm("o") if p.s == "p" else super().free_order(p)

    def free_mt(self, p: PyTerm) -> PyTerm:
        return PyTerm("mt") if p.s == "p" else super().free_mt(p)

    def on_pcp(self, p: PyTerm) -> PyTerm:
        return PyTerm("False") if p.s == "p" else super().on_pcp(p)


class _OnPcpList(_EntryPage):
    """As :class:`_EntryPage`, under the fact that ``p`` is on pcp[cpu].lists[idx]."""

    def on_free(self, p: PyTerm) -> PyTerm:
        return PyTerm("False") if p.s == "p" else super().on_free(p)

    def on_pcp(self, p: PyTerm) -> PyTerm:
        return PyTerm("True") if p.s == "p" else super().on_pcp(p)

    def pcp_cpu(self, p: PyTerm) -> PyTerm:
        return PyTerm("cpu") if p.s == "p" else super().pcp_cpu(p)

    def pcp_index(self, p: PyTerm) -> PyTerm:
        return PyTerm("idx") if p.s == "p" else super().pcp_index(p)


def _own_reads(src: str) -> tuple[str, list[str]]:
    """``src`` with the entry's own-pfn array reads replaced by locals, and the locals used."""
    used = []
    for arr, local in _ARRAYS.items():
        if f"{arr}[I]" in src:
            src = src.replace(f"{arr}[I]", local)
            used.append(local)
    return src, used


def _reads(used: list[str], have: set[str]) -> list[str]:
    """Statements reading the entry's own page into the locals not read yet."""
    rev = {v: k for k, v in _ARRAYS.items()}
    out = [f"{u} = {rev[u]}[I]" for u in dict.fromkeys(used) if u not in have]
    have.update(used)
    return out


# what the generated code's range guard has established before a page expression runs
IN_ZONE = frozenset({"S0 <= p", "p < SE"})


def _page(view: PyPageView, mask: int, known: frozenset[str] = IN_ZONE
          ) -> tuple[str, list[str]]:
    """The page invariants of the site mask at ``p`` on ``view``, folded (``known``: the
    comparisons the code has established before the expression runs)."""
    invs = site_invariants(site_set(mask))
    return _own_reads(fold(PY_OPS.and_(*(i.formula(PY_OPS, view, PyTerm("p"))
                                         for i in invs)).s, known))


def _ldc(view: PyPageView, kind: str, net: int) -> tuple[str, list[str]]:
    p = PyTerm("p")
    if kind == "free":
        t = T.free_list_delta_consistent(PY_OPS, view, p, PyTerm("o"), PyTerm("mt"),
                                         PY_OPS.val(net))
    else:
        t = T.pcp_list_delta_consistent(PY_OPS, view, p, PyTerm("cpu"), PyTerm("idx"),
                                        PY_OPS.val(net))
    return _own_reads(fold(t.s, IN_ZONE))


def _indent(lines: list[str], n: int) -> str:
    return "\n".join(" " * n + ln for ln in lines)


def _del_loop(mo: int, kind: str) -> str:
    """The loop body over ``free_del`` or ``pcp_del``."""
    view = _EntryPage(mo)
    ldc, lused = _ldc(view, kind, -1)
    page, pused = _page(view, 0)
    have: set[str] = set()
    if kind == "free":
        guard = f"S0 <= p < SE and 0 <= o < {mo} and 0 <= mt < {MIGRATE_TYPES}"
        key, both = "(p, o, mt)", "BF"
        tail = [f"FL[o * {MIGRATE_TYPES} + mt] -= 1", "FP[mt] -= 1 << o", "ORD(o)"]
    else:
        guard = f"S0 <= p < SE and 0 <= cpu < NCPU and 0 <= idx < {MIGRATE_PCPTYPES}"
        key, both = "(cpu, idx, p)", "BP"
        tail = [f"PL[cpu * {MIGRATE_PCPTYPES} + idx] -= 1", "CPUS(cpu)"]
    lines = [f"if not ({guard}):", "    return False", "I = p - S0",
             *_reads(lused, have),
             f"if ({fold(f'not ({ldc})')}) and {key} not in {both}:", "    return False",
             *_reads(pused, have),
             f"if not ({page}):", "    return False", *tail]
    return _indent(lines, 8)


def _add_loop(mo: int, kind: str) -> str:
    """The loop body over ``free_add`` or ``pcp_add``: where the list delta instance holds,
    the page invariants with the entry's list substituted; for a net-0 entry (also removed
    in this record), the plain ones."""
    plain = _EntryPage(mo)
    ldc, lused = _ldc(plain, kind, 1)
    on: _EntryPage
    if kind == "free":
        mask, on = 1 | 2, _OnFreeList(mo)
        key, both = "(p, o, mt)", "BF"
        rng = f"0 <= o < {mo} and 0 <= mt < {MIGRATE_TYPES}"
        tail = [f"FL[o * {MIGRATE_TYPES} + mt] += 1", "FP[mt] += 1 << o", "ORD(o)"]
    else:
        mask, on = 1 | 4, _OnPcpList(mo)
        key, both = "(cpu, idx, p)", "BP"
        rng = f"0 <= cpu < NCPU and 0 <= idx < {MIGRATE_PCPTYPES}"
        tail = [f"PL[cpu * {MIGRATE_PCPTYPES} + idx] += 1", "CPUS(cpu)"]
    fact, fused = _page(on, mask)
    page, pused = _page(plain, mask)
    have: set[str] = set()
    lines = ["if not (S0 <= p < SE):", "    return False", "I = p - S0",
             *_reads(lused, have), f"if {ldc}:"]
    h1 = set(have)
    lines += ["    " + ln for ln in _reads(fused, h1)]
    lines += [f"    if not ({fact}):", "        return False"]
    lines += [f"elif {key} not in {both} or not ({rng}):", "    return False", "else:"]
    h2 = set(have)
    lines += ["    " + ln for ln in _reads(pused, h2)]
    lines += [f"    if not ({page}):", "        return False", *tail]
    return _indent(lines, 8)


def _op_block(mo: int, op: str) -> str:
    """The op's own block: its predicate, its page invariants, its coverage events."""
    OP_KNOWN = IN_ZONE | {"0 <= k", f"k < {mo}"}
    view = _EntryPage(mo)
    have: set[str] = set()
    if op == "alloc":
        res, rused = _own_reads(fold(T.alloc_result_valid(
            PY_OPS, view, PyTerm("p"), PyTerm("k")).s, OP_KNOWN))
        page, pused = _page(view, 1, OP_KNOWN)
        rd = _indent(_reads(rused + pused, have), 8)
        return f"""
    p = rec.pfn
    if p is None:
        ap = 0
        if not FAIL(rec):
            return False
    else:
        k = rec.order
        if not (S0 <= p < SE and 0 <= k < {mo}):
            return False
        I = p - S0
{rd}
        if not (({res}) and ({page})):
            return False
        AL.append(p)
        RL.append(p + (1 << k))
        ap = 1 << k
"""
    if op == "free":
        res, rused = _own_reads(fold(T.free_result_valid(
            PY_OPS, view, PyTerm("p"), PyTerm("k")).s, OP_KNOWN))
        page, pused = _page(view, 0, OP_KNOWN)
        rd = _indent(_reads(rused + pused, have), 4)
        return f"""
    p = rec.pfn
    k = rec.order
    if p is None or not (S0 <= p < SE and 0 <= k < {mo}):
        return False
    I = p - S0
{rd}
    if not (({res}) and ({page})):
        return False
    RL.append(p)
    AL.append(p + (1 << k))
    ap = -(1 << k)
"""
    if op == "drain":
        return """
    ap = 0
    if not DRAIN(rec):
        return False
"""
    raise ValueError(f"no record check for op {op!r}")


class _NamedCounts(PyCounts):
    """The Counts accessor as source, each key mapped by ``names`` to an expression (or to
    0).  A group is traced once for all its orders (CPUs) by passing the index as the name
    ``o`` (``cpu``): the keys read are then ``("fl", "o", t)`` and so on."""

    def __init__(self, max_order: int, names: Callable[[CountKey], str | None]) -> None:
        super().__init__(max_order)
        self.names = names

    def _g(self, key: CountKey) -> PyTerm:
        self.reads.append(key)
        got = self.names(key)
        return PyTerm(got if got is not None else "0")

    def fair_depleted(self) -> PyTerm:
        return self._g("fair")


# how the count keys are spelt in the generated code: the fairness flag, an order's free-list
# delta of type t, a CPU's pcp-list delta of index t (Python indexes the whole array; C takes
# the order's or CPU's row first)
SPELLING = {
    "py": ("Z.fair_depleted", f"FL[o * {MIGRATE_TYPES} + {{t}}]",
           f"PL[cpu * {MIGRATE_PCPTYPES} + {{t}}]"),
    "c": ("fair", "FLO[{t}]", "PLC[{t}]"),
}


def _count_name(key: CountKey, style: str = "py") -> str | None:
    fair, fl, pl = SPELLING[style]
    if key == ("nf", "o"):
        return "dnf"
    if key == ("pc", "cpu"):
        return "dpc"
    if key == "zp":
        return "ZP"
    if key == "abi":
        return "ABI"
    if key == "fair":
        return fair
    if key in ("pp", "ap"):
        return str(key)
    if isinstance(key, tuple):
        if key[0] == "fl" and key[1] == "o":
            return fl.format(t=key[2])
        if key[0] == "pl" and key[1] == "cpu":
            return pl.format(t=key[2])
        if key[0] == "fp":
            return f"FP[{key[1]}]"
    return None


def _group(mo: int, dom: str, index: Any, names: Callable[[CountKey], str | None]) -> str:
    view = _NamedCounts(mo, names)
    return fold(PY_OPS.and_(*(i.formula(PY_OPS, view, index)
                             for i in group_members(dom))).s)


def _delta_names(key: CountKey, style: str = "py") -> str | None:
    """The difference accessor: vmstat counters post minus shadow, constants 0."""
    if isinstance(key, tuple) and key[0] == "c":
        return f"d{key[1]}"
    if key in ("zp", "abi", "fair"):
        return None
    return _count_name(key, style)


def _post_names(key: CountKey, style: str = "py") -> str | None:
    """The post accessor of the non-linear group: constants, PGALLOC, the flag."""
    if key == ("c", PGALLOC):
        return f"v{PGALLOC}"
    if key in ("zp", "abi", "fair"):
        return _count_name(key, style)
    return None


def record_source(op: str, max_order: int) -> str:
    """The Python source of the whole-record check of ``op`` records (module docstring)."""
    mo = max_order
    nt, np_ = MIGRATE_TYPES, MIGRATE_PCPTYPES
    items = vm_items(mo)
    if PGALLOC not in items:
        raise ValueError("the post group reads PGALLOC, which no count invariant reads")
    order_chk = _group(mo, "order", "o", _delta_names)
    cpu_chk = _group(mo, "cpu", "cpu", _delta_names)
    zone_chk = _group(mo, "zone", 0, _delta_names)
    post_chk = _group(mo, "post", 0, _post_names)
    reads = "".join(f"    v{i} = VM[{i}]\n    d{i} = v{i} - SV[{i}]\n" for i in items)
    # every item the frame reads is in SV; the others are never compared
    writes = "    SV[:] = VM\n"
    dedup = """
    if {a} and {b}:
        sd = set({a})
        sa = set({b})
        if len(sd) != len({a}) or len(sa) != len({b}):
            return False
        {both} = sd & sa
    elif len({a}) > 1 and len(set({a})) != len({a}):
        return False
    elif len({b}) > 1 and len(set({b})) != len({b}):
        return False"""
    return f"""def _record(rec):
    fd = rec.free_del
    fa = rec.free_add
    pd = rec.pcp_del
    pa = rec.pcp_add
    BF = BP = NONE
    # an entry repeated within one list: the general path nets it{dedup.format(
        a="fd", b="fa", both="BF")}{dedup.format(a="pd", b="pa", both="BP")}
    ords = set()
    ORD = ords.add
    cpus = {{rec.cpu}}
    CPUS = cpus.add
    FP = FP0
    if fd or fa:
        FL = [0] * {mo * nt}
        FP = [0] * {nt}
    PL = PL0
    if pd or pa:
        PL = [0] * (NCPU * {np_})
    for p, o, mt in fd:
{_del_loop(mo, "free")}
    for p, o, mt in fa:
{_add_loop(mo, "free")}
    for cpu, idx, p in pd:
{_del_loop(mo, "pcp")}
    for cpu, idx, p in pa:
{_add_loop(mo, "pcp")}
    # pages_conserved: AL holds added starts and removed ends, RL removed starts and added
    # ends (comprehensions for long records, plain loops for short ones)
    if len(fd) + len(fa) + len(pd) + len(pa) > 8:
        AL = [p for p, o, mt in fa]
        AL += [p + (1 << o) for p, o, mt in fd]
        RL = [p for p, o, mt in fd]
        RL += [p + (1 << o) for p, o, mt in fa]
        if pd or pa:
            AL += [p for cpu, idx, p in pa]
            AL += [p + 1 for cpu, idx, p in pd]
            RL += [p for cpu, idx, p in pd]
            RL += [p + 1 for cpu, idx, p in pa]
    else:
        AL = []
        RL = []
        for p, o, mt in fa:
            AL.append(p)
            RL.append(p + (1 << o))
        for p, o, mt in fd:
            RL.append(p)
            AL.append(p + (1 << o))
        for cpu, idx, p in pa:
            AL.append(p)
            RL.append(p + 1)
        for cpu, idx, p in pd:
            RL.append(p)
            AL.append(p + 1)
{_op_block(mo, op)}
    if len(AL) > 1:
        AL.sort()
        RL.sort()
    if AL != RL:
        return False
    pp = len(pa) - len(pd)
{reads}    for o in ords:
        dnf = NFA[o].nr_free - SNF[o]
        if not ({order_chk}):
            return False
    for cpu in cpus:
        dpc = PS[cpu].count - SPC[cpu]
        if not ({cpu_chk}):
            return False
    if not (({zone_chk}) and ({post_chk})):
        return False
    for o in ords:
        SNF[o] = NFA[o].nr_free
    for cpu in cpus:
        SPC[cpu] = PS[cpu].count
{writes}    return True
"""


@lru_cache(maxsize=32)
def record_code(op: str, max_order: int) -> CodeType:
    """:func:`record_source` compiled (a pure function of its arguments, memoised: every
    checker of one geometry shares the code object and binds its own names)."""
    return compile(record_source(op, max_order), f"<record check {op}>", "exec")


def compile_record(zone: Any, op: str, env: dict[str, Any]) -> Callable[[Transition], bool]:
    """The whole-record check of ``op`` records on ``zone`` (see :func:`record_source`);
    ``env`` binds the page arrays and the checker's shadows (``SNF``, ``SPC``, ``SV``) and the
    op predicates ``FAIL`` and ``DRAIN``."""
    ns: dict[str, Any] = dict(env)
    nlists = len(zone.pageset) * MIGRATE_PCPTYPES
    ns.update(NONE=frozenset(), FP0=[0] * MIGRATE_TYPES, PL0=[0] * nlists,
              NFA=zone.free_area, PS=zone.pageset, VM=zone.vm_stat, Z=zone)
    exec(record_code(op, zone.max_order), ns)
    fn: Callable[[Transition], bool] = ns["_record"]
    return fn


def failure_check(zone_lists: Any) -> Callable[[Transition], bool]:
    """``alloc_failure_justified`` of a failed alloc record, on the post state's lists."""

    def fail(rec: Transition) -> bool:
        return bool(T.alloc_failure_justified(INT_OPS, zone_lists, rec.order,
                                              rec.migratetype, rec.cpu))

    return fail


def drain_check(zone: Any, zone_lists: Any) -> Callable[[Transition], bool]:
    """``drain_empties_pcp`` of a drain record."""

    def drain(rec: Transition) -> bool:
        count = zone.pageset[rec.cpu].count
        return bool(T.drain_empties_pcp(INT_OPS, zone_lists, count, rec.cpu))

    return drain


__all__ = ["compile_record", "drain_check", "failure_check", "group_members",
           "record_code", "record_source", "site_invariants", "site_set", "vm_items"]
