"""A cell: source text compiled so top-level `await` works and the last expression's value comes back.

Each cell gets its own file name (`<cell 3>`) registered with `linecache`, so
tracebacks show the cell's own lines, and decorators can find the source of
a function defined in it (`inspect.getsource` cannot read cell code).
"""

from __future__ import annotations

import ast
import linecache
import traceback
from dataclasses import dataclass
from types import CodeType, FunctionType

FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
CODE_FILE_PREFIXES = ("<cell ", "<rule ")


@dataclass(frozen=True, slots=True)
class CompiledCell:
    body: CodeType | None
    last_expression: CodeType | None


def register_source(filename: str, source: str) -> None:
    """Make `source` readable by linecache (tracebacks) under `filename`, for the life of the process."""
    # mtime None: linecache.checkcache never evicts it.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)


def compile_cell(source: str, filename: str) -> CompiledCell:
    """Compile `source`; raise SyntaxError pointing at the cell's own line."""
    register_source(filename, source)
    tree = ast.parse(source, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(body=tree.body[-1].value)
        tree.body.pop()
    body = compile(tree, filename, "exec", flags=FLAGS, dont_inherit=True) if tree.body else None
    expr = compile(last, filename, "eval", flags=FLAGS, dont_inherit=True) if last is not None else None
    return CompiledCell(body, expr)


def cell_traceback(exc: BaseException) -> str:
    """The traceback of `exc` keeping only frames in cell or rule code, with their source lines."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(CODE_FILE_PREFIXES)]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip("\n")


def function_source(fn: FunctionType) -> str:
    """The `def` text of a function defined at the top level of a cell, without its decorators.

    Raises ValueError when `fn` was not defined at the top level of a cell or rule.
    """
    code = fn.__code__
    lines = linecache.getlines(code.co_filename)
    if not code.co_filename.startswith(CODE_FILE_PREFIXES) or not lines:
        raise ValueError(f"{fn.__name__} was not defined in a cell; define it at the top level of a cell")
    source = "".join(lines)
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name != fn.__name__:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        if first <= code.co_firstlineno <= (node.end_lineno or node.lineno):
            return "".join(lines[node.lineno - 1 : node.end_lineno])
    raise ValueError(f"{fn.__name__} is not defined at the top level of its cell; rules need a top-level def")
