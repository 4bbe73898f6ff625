"""Step checks specialised per record *shape*, by partial evaluation of the same formulas.

Most steps are pcp hits: an order-0 alloc served from ``pcp[cpu].lists[idx]`` (its record is
one ``pcp_del`` of the returned pfn) or an order-0 free put on a pcp list without a trim (one
``pcp_add`` of the freed pfn).  For such a record, with shape key ``(op, cpu, idx)``, the
general step check of :mod:`rmqueue.specs.check` instantiates exactly the formula instances
listed by :func:`shape_conjuncts`:

* ``pcp_list_delta_consistent(p, cpu, idx, net)`` with ``net`` = -1 (alloc) or +1 (free);
* ``alloc_result_valid(p, 0)`` or ``free_result_valid(p, 0)``;
* the page invariants of the pfn's site kinds (``added``, plus ``pcp_added`` for a free);
* the ``cpu`` group at ``cpu``, the ``zone`` group and the ``post`` group of count
  invariants, on the difference accessor whose list side is fixed by the shape
  (``pcp_len(cpu, idx)`` = ``pcp_pages`` = net, ``allocated_pages`` = -net, every other list
  count 0) and whose stored side (``pcp_count(cpu)``, the vmstat counters) is read from
  the state;
* ``pages_conserved``: the record's four boundary events cancel pairwise (same pfn, one
  page removed and added), so it holds for every state; ``shape_of`` only accepts records
  of that form (tests/specs/test_shapes.py evaluates the formula on them).

A record that retypes a pageblock is never a shape (its ``retype_keeps_cma_isolate``
instances are the general path's).

The formulas are traced once per shape (Python source, folded with the shape's constants;
SMT-LIB for the solver), so a common step costs a handful of bytecodes.  A shape check that
returns False is re-run through the general path, which names the failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rmqueue.model.record import Transition
from rmqueue.model.types import MIGRATE_PCPTYPES
from rmqueue.model.vmstat import PGALLOC

from . import transitions as T
from ._codegen import PY_OPS, PyPageView, PyTerm
from ._concrete import CountKey, PyCounts
from ._fold import fold

if TYPE_CHECKING:
    from .check import StepChecker

Shape = tuple[str, int, int]
# site masks of the pfn (see check.SITE_SETS): alloc -> added; free -> added | pcp_added
SITE_MASK = {"alloc": 1, "free": 5}


def shape_of(rec: Transition, ncpu: int) -> tuple[Shape, int] | None:
    """The shape key and pfn of a pcp-hit record, or None (the general path checks it)."""
    pfn = rec.pfn
    if pfn is None or rec.order or rec.free_del or rec.free_add or rec.retyped:
        return None
    if rec.op == "alloc":
        one, other = rec.pcp_del, rec.pcp_add
    elif rec.op == "free":
        one, other = rec.pcp_add, rec.pcp_del
    else:
        return None
    if len(one) != 1 or other:
        return None
    cpu, idx, p = one[0]
    if p != pfn or cpu != rec.cpu or not 0 <= idx < MIGRATE_PCPTYPES or not 0 <= cpu < ncpu:
        return None
    return (rec.op, cpu, idx), pfn


def shape_events(op: str, pfn: int) -> list[tuple[int, int]]:
    """The boundary events the general path builds for a record of this shape."""
    net = -1 if op == "alloc" else 1
    return [(pfn, net), (pfn + 1, -net), (pfn, -net), (pfn + 1, net)]


def shape_conjuncts(
    chk: StepChecker, ops: Any, S: Any, D: Any, P: Any, p: Any, shape: Shape
) -> list[tuple[str, Any]]:
    """Every formula instance the general step check instantiates for ``shape`` (see the
    module docstring), as (name, term) on the backend ``ops``; ``D`` is the difference
    accessor, ``P`` the post accessor."""
    op, cpu, idx = shape
    net = -1 if op == "alloc" else 1
    out = [("list_delta_consistent", T.pcp_list_delta_consistent(
        ops, S, p, ops.val(cpu), ops.val(idx), ops.val(net)))]
    if op == "alloc":
        out.append(("alloc_result_valid", T.alloc_result_valid(ops, S, p, ops.val(0))))
    else:
        out.append(("free_result_valid", T.free_result_valid(ops, S, p, ops.val(0))))
    from ._scan import SITE_SETS

    for inv in chk.site_invariants(SITE_SETS[SITE_MASK[op]]):
        out.append((inv.name, inv.formula(ops, S, p)))
    for inv in chk.group_members("cpu"):
        out.append((inv.name, inv.formula(ops, D, cpu)))
    for inv in chk.group_members("zone"):
        out.append((inv.name, inv.formula(ops, D, 0)))
    for inv in chk.group_members("post"):
        out.append((inv.name, inv.formula(ops, P, 0)))
    return out


def delta_values(shape: Shape) -> dict[CountKey, int]:
    """The list side of the difference accessor, fixed by the shape (other keys read 0)."""
    op, cpu, idx = shape
    net = -1 if op == "alloc" else 1
    return {("pl", cpu, idx): net, "pp": net, "ap": -net}


class _MapCounts(PyCounts):
    """The Counts accessor as source: constants inlined, state reads named, the rest 0."""

    def __init__(self, max_order: int, names: dict[CountKey, str]) -> None:
        super().__init__(max_order)
        self.names = names

    def _g(self, key: CountKey) -> PyTerm:
        self.reads.append(key)
        return PyTerm(self.names.get(key, "0"))

    def fair_depleted(self) -> PyTerm:
        return self._g("fair")


class _OnePage(PyPageView):
    """The PageView as source for a shape check: the only page read is ``pfn``, at ``I``
    (and its pageblock's type; the shape function returns early for a pfn outside the zone,
    where the general view reads type 0)."""

    def _i(self, p: PyTerm) -> str:
        if p.s != "pfn":
            raise ValueError(f"a shape check reads only its own pfn (got {p.s})")
        return "I"

    def block_mt(self, p: PyTerm) -> PyTerm:
        self._i(p)
        return PyTerm("PBM[(pfn >> PBO) - PB0]")


def compile_shape(chk: StepChecker, shape: Shape) -> Callable[[int], bool]:
    """The fast shape check of ``shape``: a function of the pfn that evaluates every instance
    of :func:`shape_conjuncts` on the state and, when all hold, advances the checker's shadow
    counters (it returns False, touching nothing, otherwise)."""
    z = chk.zone
    key = (shape, z.max_order, tuple(chk.vm_items), tuple(sorted(chk.constants.items())))
    code = _CODE.get(key)
    if code is None:
        code = _CODE[key] = compile(shape_source(chk, shape), f"<shape {shape}>", "exec")
    ns: dict[str, Any] = dict(chk.page_env)
    ns.update(PCP=z.pageset[shape[1]], PC=chk.shadow_pc, CPU=shape[1], VM=z.vm_stat,
              SV=chk.shadow_vm, Z=z)
    exec(code, ns)
    fn: Callable[[int], bool] = ns["_shape"]
    return fn


_CODE: dict[Any, Any] = {}


def shape_source(chk: StepChecker, shape: Shape) -> str:
    """The Python source of :func:`compile_shape`'s function (the traced formulas, folded)."""
    z = chk.zone
    op, cpu, idx = shape
    items = chk.vm_items
    dnames: dict[CountKey, str] = {k: repr(v) for k, v in delta_values(shape).items()}
    dnames["pc", cpu] = "dpc"
    pnames: dict[CountKey, str] = {k: repr(v) for k, v in chk.constants.items()}
    for item in items:
        dnames["c", item] = f"d{item}"
    # the post accessor of the general path: the constants, PGALLOC and the flag
    if PGALLOC not in items:
        raise ValueError("the post group reads PGALLOC, which no count invariant reads")
    pnames["c", PGALLOC] = f"v{PGALLOC}"
    pnames["fair"] = "Z.fair_depleted"
    mo = z.max_order
    conj = shape_conjuncts(chk, PY_OPS, _OnePage(mo), _MapCounts(mo, dnames),
                           _MapCounts(mo, pnames), PyTerm("pfn"), shape)
    body = fold(PY_OPS.and_(*(t for _, t in conj)).s)
    # each array is read once (the page's own slot)
    for arr in ("LO", "BO", "AO", "CM"):
        body = body.replace(f"{arr}[I]", arr.lower())
    reads = "".join(f"    v{i} = VM[{i}]\n    d{i} = v{i} - SV[{i}]\n" for i in items)
    writes = "".join(f"        SV[{i}] = v{i}\n" for i in items)
    return (
        "def _shape(pfn):\n"
        "    if not (S0 <= pfn < SE):\n        return False\n"
        "    I = pfn - S0\n    lo = LO[I]\n    bo = BO[I]\n    ao = AO[I]\n    cm = CM[I]\n"
        "    cnt = PCP.count\n    dpc = cnt - PC[CPU]\n"
        f"{reads}"
        f"    if {body}:\n"
        f"        PC[CPU] = cnt\n{writes}        return True\n"
        "    return False\n"
    )


__all__ = ["SITE_MASK", "Shape", "compile_shape", "delta_values", "fold", "shape_conjuncts",
           "shape_events", "shape_of", "shape_source"]
