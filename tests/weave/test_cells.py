"""Compiling cells and finding a decorated function's source in them."""

import pytest

from appliance.weave.cells import compile_cell, function_source


def define(source: str, name: str, filename: str = "<cell 99>"):
    cell = compile_cell(source, filename)
    namespace = {"deco": lambda *a: (lambda f: f)}
    exec(cell.body, namespace)
    return namespace[name]


def test_source_without_decorators():
    fn = define("x = 1\n@deco(4)\n@deco(2)\ndef pulse(event):\n    return event + x\n\ny = 2", "pulse")
    assert function_source(fn) == "def pulse(event):\n    return event + x\n"


def test_async_function_source():
    fn = define("async def later():\n    return 1\n", "later", "<cell 100>")
    assert function_source(fn).startswith("async def later():")


def test_nested_function_is_refused():
    outer = define("def outer():\n    def inner():\n        pass\n    return inner\n", "outer", "<cell 101>")
    with pytest.raises(ValueError, match="top level"):
        function_source(outer())


def test_function_from_a_module_is_refused():
    with pytest.raises(ValueError, match="not defined in a cell"):
        function_source(pytest.fixture)


def test_last_expression_split():
    cell = compile_cell("a = 1\na + 1", "<cell 102>")
    assert cell.body is not None and cell.last_expression is not None
    assert compile_cell("a = 1", "<cell 103>").last_expression is None
    assert compile_cell("", "<cell 104>").body is None
