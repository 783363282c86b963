"""Source rules of the compiled cycle loop that the type system cannot check."""

from __future__ import annotations

import ast
from pathlib import Path

import waferscale.fabric._kernel as kernel

KERNEL_SOURCE = Path(kernel.__file__).read_text()


def _jitted_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    def is_njit(d: ast.expr) -> bool:
        target = d.func if isinstance(d, ast.Call) else d
        return isinstance(target, ast.Attribute) and target.attr == "njit"

    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any(is_njit(d) for d in node.decorator_list)
    ]


def _signed_indices(fn: ast.FunctionDef) -> list[str]:
    """Index elements of ``fn`` that numba would treat as signed (and wrap around)."""
    found = []
    for node in ast.walk(fn):
        if not isinstance(node, ast.Subscript):
            continue
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for e in elts:
            constant = isinstance(e, ast.Constant) or (isinstance(e, ast.Name) and e.id.isupper())
            unsigned = (
                isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "_u"
            )
            if not (constant or unsigned or isinstance(e, ast.Slice)):
                found.append(f"{fn.name}, line {e.lineno}: {ast.unparse(node)}")
    return found


def test_every_variable_kernel_index_is_unsigned():
    functions = _jitted_functions(ast.parse(KERNEL_SOURCE))
    assert {"run_cycles", "_pop", "_ctz", "_filter_pass"} <= {f.name for f in functions}
    offenders = [s for f in functions for s in _signed_indices(f)]
    assert offenders == [], "wrap these indices in _u(...):\n" + "\n".join(offenders)


def test_the_rule_catches_a_signed_index():
    fn = ast.parse("@nb.njit\ndef f(a, i):\n    return a[i, 0] + a[_u(i), K]\n").body[0]
    assert _signed_indices(fn) == ["f, line 3: a[i, 0]"]
