"""Constant folding of traced Python expressions (the partial evaluator of the fast paths).

The code generators of :mod:`rmqueue.specs._shapes` and :mod:`rmqueue.specs._records` trace
the invariant formulas with some inputs known (a shape's list, an entry's net change) and
fold what is then constant.  Every rewrite here preserves the value of the expression for
every binding of its names (the traced formulas are pure: no calls, no side effects), so the
folded expression is the formula, evaluated in part:

* a subtree without names is evaluated;
* ``and``/``or`` drop constant operands that cannot decide them and stop at one that does;
* ``x if c else y`` with a constant ``c`` is the chosen branch; with constant branches of
  one value it is that value (``c`` has no effect); ``False if c else True`` is ``not c``;
  ``True if c else False`` is ``c`` when ``c`` is itself a bool (a comparison, ``not``, or
  ``and``/``or`` of bools);
* an arithmetic or comparison operator whose other operands are constants is distributed
  into an ``if`` with constant branches (``(1 if c else 0) - 1 == 0`` is
  ``(0 if c else -1) == 0``, then ``True if c else False``, then ``c``);
* ``not not c`` is ``c`` for a bool ``c``; in ``a and ...``, a disjunct ``not a`` of a later
  ``or`` operand is false and dropped (absorption: ``a and (not a or b)`` is ``a and b``);
* a comparison listed in ``known`` (its source text) is True: the caller passes only facts
  that the code it generates has established before the expression runs (a range guard).
"""

from __future__ import annotations

import ast
from typing import Any

_FOLDABLE = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp)


def _const(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant)


def _is_bool(node: ast.AST) -> bool:
    """Whether ``node`` always evaluates to a bool."""
    if isinstance(node, ast.Compare):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return True
    if isinstance(node, ast.BoolOp):
        return all(_is_bool(v) for v in node.values)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    if isinstance(node, ast.IfExp):
        return _is_bool(node.body) and _is_bool(node.orelse)
    return False


def _eval(node: ast.AST) -> Any:
    assert isinstance(node, ast.expr)
    tree = ast.fix_missing_locations(ast.Expression(node))
    return eval(compile(tree, "<fold>", "eval"))  # noqa: S307


def _const_if(node: ast.AST) -> bool:
    return isinstance(node, ast.IfExp) and _const(node.body) and _const(node.orelse)


class _Fold(ast.NodeTransformer):
    def __init__(self, known: frozenset[str] = frozenset()) -> None:
        self.known = known

    def generic_visit(self, node: ast.AST) -> ast.AST:
        node = super().generic_visit(node)
        if self.known and isinstance(node, ast.Compare):
            # a chained comparison is the conjunction of its links
            links = [ast.Compare(a, [op], [b]) for a, op, b in zip(
                [node.left, *node.comparators[:-1]], node.ops, node.comparators, strict=True)]
            rest: list[ast.expr] = [ln for ln in links if ast.unparse(ln) not in self.known]
            if not rest:
                return ast.copy_location(ast.Constant(True), node)
            if len(rest) < len(links):
                out: ast.expr = rest[0] if len(rest) == 1 else ast.BoolOp(ast.And(), list(rest))
                return ast.copy_location(out, node)
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
                and isinstance(node.operand, ast.UnaryOp)
                and isinstance(node.operand.op, ast.Not) and _is_bool(node.operand.operand)):
            return node.operand.operand
        if isinstance(node, _FOLDABLE) and all(
            _const(c) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)
        ):
            value = _eval(node)
            return ast.copy_location(ast.Constant(value), node)
        if isinstance(node, (ast.BinOp, ast.Compare)):
            dist = self._distribute(node)
            if dist is not None:
                return dist
        if isinstance(node, ast.BoolOp):
            stop = isinstance(node.op, ast.Or)
            vals = []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    if bool(v.value) == stop:
                        return ast.copy_location(ast.Constant(stop), node)
                    continue
                vals.append(v)
            if not vals:
                return ast.copy_location(ast.Constant(not stop), node)
            if isinstance(node.op, ast.And):
                vals = _absorb(vals)
            if len(vals) == 1:
                return vals[0]
            node.values = vals
        if isinstance(node, ast.IfExp):
            return self._ifexp(node)
        return node

    def _ifexp(self, node: ast.IfExp) -> ast.AST:
        if isinstance(node.test, ast.Constant):
            return node.body if node.test.value else node.orelse
        if _const(node.body) and _const(node.orelse):
            b, e = node.body.value, node.orelse.value  # type: ignore[attr-defined]
            if type(b) is type(e) and b == e:
                return node.body
            if b is False and e is True:
                return ast.copy_location(ast.UnaryOp(ast.Not(), node.test), node)
            if b is True and e is False and _is_bool(node.test):
                return node.test
        return node

    def _distribute(self, node: ast.BinOp | ast.Compare) -> ast.AST | None:
        """``op(..., (a if c else b), ...)`` with every other operand constant, as
        ``op(..., a, ...) if c else op(..., b, ...)`` folded."""
        kids = [node.left, node.right] if isinstance(node, ast.BinOp) else [
            node.left, *node.comparators]
        ifs = [i for i, k in enumerate(kids) if _const_if(k)]
        if len(ifs) != 1 or not all(_const(k) for i, k in enumerate(kids) if i != ifs[0]):
            return None
        at = ifs[0]
        cond = kids[at]
        assert isinstance(cond, ast.IfExp)
        branches = []
        for branch in (cond.body, cond.orelse):
            new = list(kids)
            new[at] = branch
            if isinstance(node, ast.BinOp):
                expr: ast.expr = ast.BinOp(new[0], node.op, new[1])
            else:
                expr = ast.Compare(new[0], node.ops, new[1:])
            branches.append(ast.Constant(_eval(ast.fix_missing_locations(
                ast.copy_location(expr, node)))))
        out = ast.IfExp(cond.test, branches[0], branches[1])
        return self._ifexp(ast.copy_location(out, node))


def _absorb(vals: list[ast.expr]) -> list[ast.expr]:
    """In a conjunction, drop the disjuncts ``not a`` of an ``or`` operand that follows an
    operand ``a`` (there ``not a`` is false)."""
    seen: set[str] = set()
    out: list[ast.expr] = []
    for v in vals:
        if isinstance(v, ast.BoolOp) and isinstance(v.op, ast.Or):
            keep = [d for d in v.values if not (
                isinstance(d, ast.UnaryOp) and isinstance(d.op, ast.Not)
                and ast.unparse(d.operand) in seen)]
            if not keep:
                return [ast.Constant(False)]
            if len(keep) < len(v.values):
                v = keep[0] if len(keep) == 1 else ast.BoolOp(ast.Or(), keep)
        out.append(v)
        seen.add(ast.unparse(v))
    return out


def fold(src: str, known: frozenset[str] = frozenset()) -> str:
    """``src`` (a Python expression) with its constant parts evaluated; the comparisons in
    ``known`` (source text, e.g. ``"S0 <= p"``) are taken as True."""
    tree = _Fold(known).visit(ast.parse(src, mode="eval"))
    return ast.unparse(ast.fix_missing_locations(tree))


__all__ = ["fold"]
