"""Tool calling: schemas from signatures and docstrings, and the tool loop end to end
(real kernel, real HTTP, the local ToolBot that really asks for tool calls)."""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import pytest
from harness import Kernel
from protocols import both_protocols

from poe_magic.base import errors as E
from poe_magic.core.accumulator import Accumulator
from poe_magic.core.reply import Reply
from poe_magic.server.launch import LocalServer
from poe_magic.tools.functions import ToolSet, conform, resolve_names, tool_schema


def one_line_error(result: Any, name: str) -> str:
    assert result.error is not None, "the cell should have failed"
    assert result.error["ename"] == name
    assert len(result.error["traceback"]) == 1, result.error["traceback"]
    return result.error["traceback"][0]


# -- schemas (unit) ---------------------------------------------------------------------------

def forecast(city: str, days: int = 3, unit: Literal["C", "F"] = "C", hourly: bool = False,
             threshold: float | None = None, tags: list[str] = [], weights: dict[str, float] = {}) -> str:  # noqa: B006
    """Weather forecast for a city.

    Uses the local model.

    Args:
        city: Name of the city,
            e.g. Paris.
        days (int): How many days ahead.
        unit: Temperature unit.

    Returns:
        str: the forecast.
    """
    return city


def test_schema_from_hints_defaults_and_google_docstring() -> None:
    assert tool_schema(forecast) == {"type": "function", "function": {
        "name": "forecast",
        "description": "Weather forecast for a city.\n\nUses the local model.",
        "parameters": {"type": "object", "required": ["city"], "properties": {
            "city": {"type": "string", "description": "Name of the city, e.g. Paris."},
            "days": {"type": "integer", "description": "How many days ahead.", "default": 3},
            "unit": {"type": "string", "enum": ["C", "F"], "description": "Temperature unit.", "default": "C"},
            "hourly": {"type": "boolean", "default": False},
            "threshold": {"type": ["number", "null"], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "default": []},
            "weights": {"type": "object", "additionalProperties": {"type": "number"}, "default": {}},
        }}}}


def test_numpy_and_rest_docstrings_and_hintless_functions() -> None:
    def scale(x, factor=2, *args, **kwargs):
        """Scale a value.

        Parameters
        ----------
        x : float
            The value.
        factor : int, optional
            Multiplier.
        """

    def shout(text: str, times: int) -> str:
        """Shout.

        :param text: what to shout
        :param int times: how often
        """
        return text

    numpy = tool_schema(scale)["function"]
    assert numpy["description"] == "Scale a value."
    assert numpy["parameters"] == {"type": "object", "required": ["x"], "properties": {
        "x": {"type": "string", "description": "The value."},  # no hints: strings
        "factor": {"type": "string", "description": "Multiplier.", "default": 2}}}
    rest = tool_schema(shout)["function"]["parameters"]["properties"]
    assert rest == {"text": {"type": "string", "description": "what to shout"},
                    "times": {"type": "integer", "description": "how often"}}
    bare = tool_schema(lambda q: q, "lookup")["function"]
    assert bare["description"].startswith("The Python function lookup(q)")


async def _coroutine() -> None: ...


def test_bad_tools_are_one_line_usage_errors() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    for tools, words in [([42], "not callable"), ([lambda x: x], "not usable"), ([add, add], "two tools"),
                         ("add", "not their names"), ([], "no tools"), ([_coroutine], "is async")]:
        with pytest.raises(E.PoeUsageError, match=words):
            ToolSet(tools)
    assert list(ToolSet({"plus": lambda a, b: a + b}).functions) == ["plus"]
    namespace = {"add": add, "x": 3, "np": __import__("math")}
    assert resolve_names("add, np.sqrt", namespace) == {"add": add, "sqrt": namespace["np"].sqrt}
    for spec, words in [("nope", "no variable named 'nope'"), ("x", "is a int, not a function"),
                        ("np.nothing", "does not exist")]:
        with pytest.raises(E.PoeUsageError, match=words):
            resolve_names(spec, namespace)


def test_arguments_are_fitted_to_the_schema() -> None:
    assert conform(2.0, {"type": "integer"}, "a") == 2
    assert conform(5, {"type": "string"}, "a") == "5"
    assert conform(None, {"type": ["number", "null"]}, "a") is None
    for value, schema in [("x", {"type": "integer"}), (True, {"type": "integer"}), ("K", {"enum": ["C", "F"]})]:
        with pytest.raises(TypeError):
            conform(value, schema, "a")


def test_accumulator_folds_streamed_tool_call_deltas() -> None:
    import fastapi_poe as fp

    def event(delta: dict[str, Any], finish: str | None = None) -> Any:
        return fp.PartialResponse(text="", data={"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    acc = Accumulator(Reply(model="m", prompt="p"))
    for delta in [{"role": "assistant", "content": None},
                  {"tool_calls": [{"index": 0, "id": "c0", "type": "function", "function": {"name": "f", "arguments": ""}}]},
                  {"tool_calls": [{"index": 1, "id": "c1", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
                  {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]},
                  {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
                  {"content": "thinking"}]:
        acc.apply(event(delta))
    acc.apply(event({}, finish="tool_calls"))
    assert acc.requested_tool_calls() == [
        {"id": "c0", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "c1", "type": "function", "function": {"name": "g", "arguments": "{}"}}]
    assert acc.text() == "thinking"


# -- the loop, in this process (Python API) --------------------------------------------------

@both_protocols
def test_ask_runs_tools_on_the_calling_thread(activated: LocalServer) -> None:
    from poe_magic import ask

    threads = []

    def add(a: int, b: int) -> int:
        threads.append(threading.current_thread())
        return a + b

    def shout(text: str) -> str:
        return text.upper()

    reply = ask("call add a=2 b=40 and call shout text=hi and call nosuch q=1", "ToolBot",
                tools=[add, shout], stream=False)
    assert threads == [threading.current_thread()]
    assert [(c.name, c.arguments, c.result, c.ok) for c in reply.tool_calls] == [
        ("add", {"a": 2, "b": 40}, 42, True), ("shout", {"text": "hi"}, "HI", True), ("nosuch", {"q": "1"}, None, False)]
    assert "no tool named 'nosuch'" in reply.tool_calls[2].error
    assert "add (call_r1_0) returned: 42" in reply.text and "shout (call_r1_1) returned: HI" in reply.text
    with pytest.raises(E.PoeUsageError, match="--confirm only applies"):
        ask("hi", "ToolBot", confirm=True)


# -- the magic in a real kernel --------------------------------------------------------------

SETUP = '''
import threading
calls = []
def add(a: int, b: int = 0) -> int:
    """Add two integers.

    Args:
        a: first number
        b: second number
    """
    calls.append((a, b, type(a).__name__, threading.current_thread() is threading.main_thread()))
    return a + b

def explode(reason: str) -> None:
    raise RuntimeError(f"kaboom: {reason}")
'''


@pytest.fixture
def tools_kernel(kernel: Kernel, server: LocalServer) -> Kernel:
    kernel.run_ok(SETUP)
    server.reset()
    return kernel


def test_typed_function_is_called_and_its_result_reaches_the_answer(tools_kernel: Kernel, server: LocalServer) -> None:
    result = tools_kernel.run_ok("%%poe ToolBot --tools add -o r\ncall add a=2 b=3")
    assert tools_kernel.value("calls") == [[2, 3, "int", True]]  # typed, on the kernel's main thread
    (shown, _footer) = result.markdown()
    assert "- 🔧 `add(a=2, b=3)` → `5`" in shown  # the call, inline, before the answer
    assert shown.index("🔧") < shown.index("Answer: 5")
    assert tools_kernel.value("r.text").endswith("Answer: 5")
    assert tools_kernel.value("[(c.name, c.arguments, c.result, c.elapsed >= 0) for c in r.tool_calls]") == [
        ["add", {"a": 2, "b": 3}, 5, True]]
    assert len(server.requests("/bot/ToolBot")) == 2  # the call, then the follow-up with its result


def test_a_raising_tool_sends_its_error_to_the_model(tools_kernel: Kernel) -> None:
    result = tools_kernel.run_ok("%%poe ToolBot --tools add,explode -o r\ncall explode reason=fuse")
    (shown, _footer) = result.markdown()
    assert "⚠ `RuntimeError: kaboom: fuse`" in shown
    assert "Answer: error: RuntimeError: kaboom: fuse" in shown
    assert tools_kernel.value("r.tool_calls[0].error") == "RuntimeError: kaboom: fuse"


def test_the_round_cap_stops_a_looping_model(tools_kernel: Kernel, server: LocalServer) -> None:
    tools_kernel.run_ok("%config PoeMagics.max_tool_rounds = 2")
    try:
        result = tools_kernel.run("%%poe ToolBot --tools add\ncall add a=1 b=1 rounds=50")
    finally:
        tools_kernel.run_ok("%config PoeMagics.max_tool_rounds = 5")
    line = one_line_error(result, "ToolRoundsExceeded")
    assert "stopped after 2 tool round(s)" in line and "max_tool_rounds" in line
    assert tools_kernel.value("[len(calls), len(_poe.tool_calls)]") == [2, 2]
    assert len(server.requests("/bot/ToolBot")) == 3
    assert "ToolRoundsExceeded" in result.markdown()[-1]  # the footer says why it stopped


def test_confirm_declining_and_accepting(tools_kernel: Kernel) -> None:
    declined = tools_kernel.run_with_input("%%poe ToolBot --tools add --confirm\ncall add a=2 b=3", ["n"])
    assert declined.error is None
    assert declined.prompts == ["poe_magic: run add(a=2, b=3)? [y/N] "]
    assert tools_kernel.value("calls") == []
    (shown, _footer) = declined.markdown()
    assert "→ declined" in shown and "returned: the user declined to run this tool call" in shown
    accepted = tools_kernel.run_with_input("%%poe ToolBot --tools add --confirm\ncall add a=2 b=3", ["y"])
    assert len(accepted.prompts) == 1 and tools_kernel.value("len(calls)") == 1
    assert "Answer: 5" in accepted.markdown()[0]
    no_stdin = tools_kernel.run_ok("%%poe ToolBot --tools add --confirm\ncall add a=2 b=3")
    assert "could not ask for confirmation" in no_stdin.markdown()[0]
    assert tools_kernel.value("len(calls)") == 1


def test_bad_tool_names_are_one_line_and_send_nothing(tools_kernel: Kernel, server: LocalServer) -> None:
    tools_kernel.run_ok("not_a_function = 3")
    assert "no variable named 'nope'" in one_line_error(
        tools_kernel.run("%%poe ToolBot --tools add,nope\ncall add a=1"), "PoeUsageError")
    assert "not a function" in one_line_error(
        tools_kernel.run("%%poe ToolBot --tools not_a_function\nhi"), "PoeUsageError")
    assert "--confirm only applies" in one_line_error(
        tools_kernel.run("%%poe ToolBot --confirm\nhi"), "PoeUsageError")
    assert server.requests("/bot/") == []


def test_tools_in_a_chat_thread(tools_kernel: Kernel) -> None:
    tools_kernel.run_ok("%%poe ToolBot --tools add --chat tooltalk\ncall add a=1 b=2")
    second = tools_kernel.run_ok("%%poe --tools add --chat tooltalk\ncall add a=10 b=20")  # model from the thread
    assert "Answer: 30" in second.markdown()[0]
    assert "saw 3 message(s)" in second.markdown()[0]  # the first turn went along as history
    assert tools_kernel.value("[c[:2] for c in calls]") == [[1, 2], [10, 20]]
    turns = "__import__('poe_magic.prompting.threads', fromlist=['_']).get_thread('tooltalk').turns"
    assert tools_kernel.value(f"[t.answer.rsplit(chr(10), 1)[-1] for t in {turns}]") == ["Answer: 3", "Answer: 30"]


def test_ctrl_c_during_a_tool_call_stops_the_loop_and_keeps_what_ran(tools_kernel: Kernel, server: LocalServer) -> None:
    tools_kernel.run_ok("import time\ndef nap(seconds: float) -> str:\n    time.sleep(seconds)\n    return 'rested'")
    msg_id = tools_kernel.submit("%%poe ToolBot --tools add,nap\ncall add a=1 b=1 call nap seconds=60")
    time.sleep(2.0)  # ToolBot answers in milliseconds: by now nap is sleeping in the kernel thread
    tools_kernel.interrupt()
    result = tools_kernel.collect(msg_id, timeout=30)  # far less than the 60 s nap
    assert "stopped by you after" in one_line_error(result, "StreamInterrupted")
    assert tools_kernel.value("[(c.name, c.ok) for c in _poe.tool_calls]") == [["add", True], ["nap", False]]
    assert tools_kernel.value("_poe.interrupted")
    assert "`add(a=1, b=1)` → `2`" in result.markdown()[0]
    assert len(server.requests("/bot/ToolBot")) == 1  # nothing was sent after the interrupt
