"""The kernel on its own: cells, capture, tracebacks, interrupts, reset."""

import asyncio

import pytest

from appliance.weave.kernel import Kernel


@pytest.fixture
async def kernel():
    k = Kernel(cell_timeout=0.5)
    k.start()
    k.inject({"helper": lambda: "api"}, {"view": "fresh"})
    yield k
    k.close()


async def test_globals_persist_and_last_expression_is_the_result(kernel):
    first = await kernel.execute("x = 41\ndef bump(v):\n    return v + 1")
    assert first.success and first.result is None and first.execution_count == 1
    second = await kernel.execute("bump(x)")
    assert second.result == "42" and second.execution_count == 2
    assert (await kernel.execute("None")).result is None
    assert (await kernel.execute("'text'")).result == "'text'"


async def test_top_level_await(kernel):
    out = await kernel.execute("import asyncio\nawait asyncio.sleep(0)\nvalue = await asyncio.sleep(0, 'done')\nvalue")
    assert out.success, out.error
    assert out.result == "'done'"
    assert (await kernel.execute("await asyncio.gather(asyncio.sleep(0, 1), asyncio.sleep(0, 2))")).result == "[1, 2]"


async def test_stdout_and_stderr_are_captured_per_cell(kernel):
    out = await kernel.execute("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n7")
    assert (out.stdout, out.stderr, out.result) == ("to out\n", "to err\n", "7")


async def test_output_of_background_tasks_stays_out_of_later_cells(kernel):
    await kernel.execute(
        "import asyncio\nasync def chatter():\n    while True:\n        print('noise')\n        await asyncio.sleep(0)\n"
        "noisy = asyncio.ensure_future(chatter())")
    out = await kernel.execute("for i in range(3):\n    print('mine', i)\n    await asyncio.sleep(0.01)")
    assert out.stdout == "mine 0\nmine 1\nmine 2\n"
    await kernel.execute("noisy.cancel()")


async def test_concurrent_work_captures_separately(kernel):
    async def rule():
        for _ in range(5):
            print("rule says hi")
            await asyncio.sleep(0.005)

    cell = asyncio.ensure_future(kernel.execute(
        "import asyncio\nfor i in range(5):\n    print('cell', i)\n    await asyncio.sleep(0.005)"))
    rule_outcome = await kernel.run(rule, 5, "rule")
    cell_outcome = await cell
    assert cell_outcome.success, cell_outcome.error
    assert rule_outcome.stdout == "rule says hi\n" * 5
    assert cell_outcome.stdout == "".join(f"cell {i}\n" for i in range(5))


async def test_traceback_shows_only_the_cells_own_lines(kernel):
    await kernel.execute("def divide(a, b):\n    return a / b")
    out = await kernel.execute("y = 1\ndivide(y, 0)")
    assert not out.success
    assert 'File "<cell 2>", line 2, in <module>' in out.error
    assert 'File "<cell 1>", line 2, in divide' in out.error
    assert "return a / b" in out.error and "divide(y, 0)" in out.error
    assert "ZeroDivisionError: division by zero" in out.error
    assert "appliance" not in out.error and "asyncio" not in out.error


async def test_syntax_error_points_at_the_line(kernel):
    out = await kernel.execute("a = 1\nb = (")
    assert not out.success
    assert "<cell 1>" in out.error and "line 2" in out.error and "SyntaxError" in out.error


async def test_endless_cpu_loop_is_interrupted_and_globals_survive(kernel):
    await kernel.execute("kept = 'still here'")
    out = await kernel.execute("n = 0\nwhile True:\n    n += 1")
    assert not out.success and out.error.startswith("Interrupted")
    after = await kernel.execute("kept, n > 0")
    assert after.result == "('still here', True)"


async def test_loop_that_swallows_exceptions_is_interrupted_too(kernel):
    out = await kernel.execute("while True:\n    try:\n        sum(range(100))\n    except Exception:\n        pass")
    assert out.error.startswith("Interrupted")
    assert (await kernel.execute("1 + 1")).result == "2"


async def test_awaiting_cell_is_interrupted(kernel):
    out = await kernel.execute("import asyncio\nawait asyncio.sleep(3600)")
    assert out.error.startswith("Interrupted")
    assert (await kernel.execute("'alive'")).result == "'alive'"


async def test_sys_exit_does_not_end_the_kernel(kernel):
    out = await kernel.execute("import sys\nsys.exit(3)")
    assert not out.success and "SystemExit" in out.error
    assert (await kernel.execute("2 * 21")).result == "42"


async def test_reset_keeps_builtins_and_api(kernel):
    await kernel.execute("mine = 1\nview = 'changed'")
    await kernel.reset()
    out = await kernel.execute("mine")
    assert "NameError" in out.error
    assert (await kernel.execute("helper(), view, len('abc')")).result == "('api', 'fresh', 3)"


async def test_views_are_restored_before_each_cell(kernel):
    await kernel.execute("view = 'overwritten'")
    assert (await kernel.execute("view")).result == "'fresh'"


async def test_dataclasses_and_classes_work_in_cells(kernel):
    out = await kernel.execute("from dataclasses import dataclass\n@dataclass\nclass Note:\n    pitch: int\nNote(60)")
    assert out.result == "Note(pitch=60)", out.error
