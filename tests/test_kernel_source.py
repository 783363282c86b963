"""Source rules of the compiled cycle loop that the type system cannot check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import waferscale.fabric._issue as issue
import waferscale.fabric._kernel as kernel
import waferscale.fabric._memaccess as memaccess
import waferscale.fabric._memops as memops
import waferscale.fabric._script as script
import waferscale.fabric._stream as stream

COMPILED_MODULES = (kernel, memaccess, memops, issue, script, stream)


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
        if isinstance(node.value, ast.Name) and node.value.id == "scratch":
            continue  # a typed list (the fast path's scratch): signed, it checks bounds itself
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for e in elts:
            constant = isinstance(e, ast.Constant) or (isinstance(e, ast.Name) and e.id.isupper())
            unsigned = (
                isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "_u"
            )
            if not (constant or unsigned or isinstance(e, ast.Slice)):
                found.append(f"{fn.name}, line {e.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("module", COMPILED_MODULES, ids=lambda m: m.__name__.split(".")[-1])
def test_every_variable_index_of_compiled_code_is_unsigned(module):
    functions = _jitted_functions(ast.parse(Path(module.__file__).read_text()))
    assert functions, f"{module.__name__} has no compiled functions"
    offenders = [s for f in functions for s in _signed_indices(f)]
    assert offenders == [], "wrap these indices in _u(...):\n" + "\n".join(offenders)


def test_the_kernel_functions_are_checked():
    functions = _jitted_functions(ast.parse(Path(kernel.__file__).read_text()))
    names = {f.name for f in functions}
    assert {"run_cycles", "_pop", "_ctz", "_filter_pass"} <= names
    for module, expected in ((script, {"replay_script", "can_replay"}),
                             (stream, {"stream_window", "_commit_component"})):  # fmt: skip
        found = {f.name for f in _jitted_functions(ast.parse(Path(module.__file__).read_text()))}
        assert expected <= found


def test_the_rule_catches_a_signed_index():
    fn = ast.parse("@nb.njit\ndef f(a, i):\n    return a[i, 0] + a[_u(i), K]\n").body[0]
    assert _signed_indices(fn) == ["f, line 3: a[i, 0]"]
