"""Python expressions of the fast paths translated to C (the C evaluator's expression layer).

The formulas are traced on the Python backend of :mod:`rmqueue.specs._codegen` and folded by
:mod:`rmqueue.specs._fold` exactly as for the Python evaluator; :func:`py_to_c` then prints
the folded expression as C over 64-bit signed integers.  The translation keeps Python's
values for every input the model can produce (pfns below 2^40, orders below 32):

* ``and``/``or``/``not``/``x if c else y`` become ``&&``/``||``/``!``/``?:`` (the formulas
  use them in boolean context only, so Python's operand-returning ``and`` never matters);
* a chained comparison ``a < b < c`` becomes ``(a < b) && (b < c)`` (operands are pure);
* ``//`` and ``%`` keep Python's floor semantics (``FDIV``/``FMOD``);
* ``<<`` and ``>>`` go through ``SHL``/``SHR``, which set the call's ``bad`` flag for a shift
  count outside 0..62 (Python would raise, or grow past 64 bits);
* a page-array read ``LO[i]`` goes through ``RLO(i)`` (``PBM[i]``, the pageblock types,
  through ``RPB(i)``), which sets ``bad`` for an index outside the array (Python would
  raise, or wrap a negative index).

A check that sets ``bad`` reports failure, so the general path decides: the C evaluator is
never more lenient than the Python one.
"""

from __future__ import annotations

import ast

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.BitAnd: "&", ast.BitOr: "|",
           ast.BitXor: "^"}
_CALLOPS = {ast.LShift: "SHL", ast.RShift: "SHR", ast.FloorDiv: "FDIV", ast.Mod: "FMOD"}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
           ast.GtE: ">="}
_ARRAYS = {"LO": "RLO", "BO": "RBO", "AO": "RAO", "CM": "RCM", "PBM": "RPB"}


class CTranslationError(ValueError):
    """An expression outside the subset the C evaluator handles."""


def py_to_c(src: str, names: dict[str, str] | None = None) -> str:
    """The C expression of the Python expression ``src``; ``names`` renames identifiers
    (and attribute chains such as ``Z.fair_depleted``) to C ones."""
    return _Printer(names or {}).visit(ast.parse(src, mode="eval").body)


class _Printer:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit(self, node: ast.AST) -> str:
        meth = getattr(self, "v_" + type(node).__name__, None)
        if meth is None:
            raise CTranslationError(f"no C form for {ast.unparse(node)!r}")
        out: str = meth(node)
        return out

    def v_Constant(self, node: ast.Constant) -> str:
        v = node.value
        if isinstance(v, bool):
            return "1" if v else "0"
        if isinstance(v, int):
            if not -(1 << 62) <= v < (1 << 62):
                raise CTranslationError(f"constant {v} does not fit a 63-bit word")
            return f"{v}LL"
        raise CTranslationError(f"no C form for constant {v!r}")

    def v_Name(self, node: ast.Name) -> str:
        return self.names.get(node.id, node.id)

    def v_Attribute(self, node: ast.Attribute) -> str:
        text = ast.unparse(node)
        if text not in self.names:
            raise CTranslationError(f"no C name for {text!r}")
        return self.names[text]

    def v_Subscript(self, node: ast.Subscript) -> str:
        if not isinstance(node.value, ast.Name):
            raise CTranslationError(f"no C form for {ast.unparse(node)!r}")
        arr = node.value.id
        idx = self.visit(node.slice)
        if arr in _ARRAYS:
            return f"{_ARRAYS[arr]}({idx})"
        return f"{self.names.get(arr, arr)}[{idx}]"

    def v_BoolOp(self, node: ast.BoolOp) -> str:
        op = " && " if isinstance(node.op, ast.And) else " || "
        return "(" + op.join(self.visit(v) for v in node.values) + ")"

    def v_UnaryOp(self, node: ast.UnaryOp) -> str:
        x = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return f"(!{x})"
        if isinstance(node.op, ast.USub):
            return f"(-{x})"
        if isinstance(node.op, ast.Invert):
            return f"(~{x})"
        raise CTranslationError(f"no C form for {ast.unparse(node)!r}")

    def v_BinOp(self, node: ast.BinOp) -> str:
        a, b = self.visit(node.left), self.visit(node.right)
        t = type(node.op)
        if t in _BINOPS:
            return f"({a} {_BINOPS[t]} {b})"
        if t in _CALLOPS:
            return f"{_CALLOPS[t]}({a}, {b})"
        raise CTranslationError(f"no C form for {ast.unparse(node)!r}")

    def v_Compare(self, node: ast.Compare) -> str:
        terms = [node.left, *node.comparators]
        links = []
        for i, op in enumerate(node.ops):
            t = type(op)
            if t not in _CMPOPS:
                raise CTranslationError(f"no C form for {ast.unparse(node)!r}")
            links.append(f"({self.visit(terms[i])} {_CMPOPS[t]} {self.visit(terms[i + 1])})")
        return links[0] if len(links) == 1 else "(" + " && ".join(links) + ")"

    def v_IfExp(self, node: ast.IfExp) -> str:
        return (f"({self.visit(node.test)} ? {self.visit(node.body)} : "
                f"{self.visit(node.orelse)})")


__all__ = ["CTranslationError", "py_to_c"]
