"""Naming a failure of the solver evaluator (:mod:`rmqueue.specs._smtcheck`).

A step whose conjunction the solver did not answer ``unsat`` for is split into its formula
instances (a shape step's, a count group's members, a page bundle's list-delta instances and
invariants), each asked on its own; the first that fails is raised, with the page words the
step read unpacked into the details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from ._codegen import SMT_OPS, SmtTerm, lit
from ._concrete import DictCounts
from ._smtviews import CHECK, Conjunct, _list, store_chain, unpack_page
from ._z3 import SmtSession
from .errors import InvariantViolation

if TYPE_CHECKING:
    from ._smtcheck import SmtBatch


def culprit(
    batch: SmtBatch, step: int, lets: str, conj: list[Conjunct], ans: str, words: dict[int, int],
    session: SmtSession,
) -> NoReturn:
    """Name the first failing instance of a step the solver did not answer ``unsat`` for
    (one query per instance: the list-delta instances first, as in the fast path), and raise
    it as an :class:`InvariantViolation`."""
    flat: list[Conjunct] = []
    ldc_flat: list[Conjunct] = []
    chk = batch._chk
    assert chk is not None
    for c in conj:
        if c[0] == "shape":
            flat.extend(batch._shape_flat(chk, c))
        elif c[0] == "counts":
            dom, i = c[2]["group"]
            dc = DictCounts(c[2]["values"], batch.zone.max_order, lambda v: SmtTerm(lit(v)),
                            lambda b: SmtTerm("true" if b else "false"))
            flat.extend((inv.name, inv.formula(SMT_OPS, dc, i).s,
                         {"index": i, "values": {repr(k): v for k, v in
                                                 c[2]["values"].items()}}, [])
                        for inv in chk.group_members(dom))
        elif c[0] in ("page", "bundle"):
            pfn = c[2]["pfns"][0]
            m = c[2]["m"] if "m" in c[2] else store_chain(
                sorted((x, words[x]) for x in c[2]["pages_read"] if x in words))
            # the list-delta instances go first, as in the fast path's order
            ldc_flat.extend(
                ("list_delta_consistent", f"({'ldc_pcp' if kind else 'ldc_free'} {m} "
                 f"{lit(pfn)} {lit(a)} {lit(b)} {lit(net)})",
                 {"pfns": [pfn], "lists": [_list(kind, a, b)], "net": net}, [])
                for kind, a, b, net in c[2].get("ldcs", []))
            flat.extend((inv.name, f"(inv_{inv.name} {m} {lit(pfn)})", {"pfns": [pfn]}, [])
                        for inv in c[2]["invs"])
        else:
            flat.append(c)
    flat = ldc_flat + flat
    script = "".join(
        f"(push)(assert (not {c[1]})){CHECK}(pop)\n" for c in flat
    )
    answers = session.run(script).split()
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


__all__ = ["culprit"]
