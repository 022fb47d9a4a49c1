"""The notebook's own Python functions as tools a model can call.

:class:`ToolSet` turns callables into OpenAI-style tool definitions (JSON schema from the
signature: type hints -> JSON types, defaults -> optional; description and per-parameter text
from a Google, NumPy or reST docstring) and runs the calls a model asks for, on the caller's
(kernel) thread. Each call becomes a :class:`ToolCall` on ``Reply.tool_calls``. A failing
call never raises: its error text is what the model gets back. The streaming loop that sends
the results back lives in :mod:`poe_magic.tools.loop`.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import time
import typing
from collections.abc import Callable, Iterable
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence as AbcSequence
from collections.abc import Set as AbcSet
from dataclasses import dataclass
from typing import Any, Union

from poe_magic.base import errors as E
from poe_magic.base.secrets import mask_pieces
from poe_magic.tools.docstrings import parse_docstring

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the OpenAI/Poe tool API accepts
MAX_RESULT_CHARS = 20_000  # a tool result longer than this is cut before it goes to the model
DECLINED = "the user declined to run this tool call"

Tools = Iterable[Callable[..., Any]] | AbcMapping[str, Callable[..., Any]]


# -- schema -------------------------------------------------------------------------------

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def type_schema(hint: Any) -> dict[str, Any]:
    """JSON schema of one type hint; anything it cannot express becomes a string."""
    if hint is inspect.Parameter.empty:
        return {"type": "string"}
    if hint is Any:
        return {}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
        return _union_schema(args)
    if origin is typing.Literal:
        kinds = {_SCALARS.get(type(v)) for v in args}
        schema: dict[str, Any] = {"enum": list(args)}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    container = origin or hint
    if container in (dict,) or (isinstance(container, type) and issubclass(container, AbcMapping)):
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = type_schema(args[1])
        return schema
    if container in (list, tuple, set, frozenset) or (
            isinstance(container, type) and issubclass(container, (AbcSequence, AbcSet))
            and not issubclass(container, (str, bytes))):
        schema = {"type": "array"}
        if container is tuple and args and args[-1] is not Ellipsis:
            schema["prefixItems"] = [type_schema(a) for a in args]
        elif args and args[0] is not Any:
            schema["items"] = type_schema(args[0])
        return schema
    return {"type": "string"}  # a class JSON cannot carry (DataFrame, Path, ...): the model sends text


def _union_schema(args: tuple[Any, ...]) -> dict[str, Any]:
    options = [type_schema(a) for a in args if a is not type(None)]
    nullable = len(options) < len(args)
    if len(options) == 1:
        schema = dict(options[0])
        if nullable and isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
        elif nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        return schema
    return {"anyOf": options + ([{"type": "null"}] if nullable else [])}


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable string annotations: treat those parameters as text
        return {}


def tool_schema(func: Callable[..., Any], name: str | None = None) -> dict[str, Any]:
    """The OpenAI-style tool definition of ``func`` (``{"type": "function", "function": ...}``)."""
    name = name or getattr(func, "__name__", "")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        raise E.PoeUsageError(f"cannot read the signature of tool {name!r}; wrap it in a def") from None
    doc = parse_docstring(inspect.getdoc(func) or "")
    hints = _hints(func)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # *args/**kwargs have no JSON shape; the model fills the named ones
        schema = type_schema(hints.get(param.name, param.annotation))
        if param.name in doc.params:
            schema["description"] = doc.params[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif _jsonable(param.default):
            schema["default"] = param.default
        properties[param.name] = schema
    description = doc.description or f"The Python function {name}{signature}."
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


# -- calls ----------------------------------------------------------------------------------

@dataclass
class ToolCall:
    """One call a model asked for, and what came of it."""

    name: str
    arguments: dict[str, Any]
    id: str = ""
    result: Any = None  # what the function returned (the Python object)
    error: str | None = None  # "ValueError: ..." when it raised, or why it did not run
    declined: bool = False  # the user said no at the --confirm prompt
    elapsed: float | None = None  # seconds the function ran
    content: str = ""  # the text sent back to the model

    @property
    def ok(self) -> bool:
        return self.error is None and not self.declined

    def signature(self) -> str:
        """``add(a=2, b=3)``: how the call is shown."""
        args = ", ".join(f"{k}={short_repr(v, 40)}" for k, v in self.arguments.items())
        return mask_pieces(f"{self.name}({args})")

    def outcome(self) -> str:
        """``5``, ``declined`` or ``ValueError: ...``: how the result is shown."""
        if self.declined:
            return "declined"
        if self.error is not None:
            return mask_pieces(self.error)
        return mask_pieces(short_repr(self.result, 80))  # (a key in a result: its follow-up is refused too)

    def __repr__(self) -> str:
        return f"<ToolCall {self.signature()} -> {self.outcome()}>"


def short_repr(value: Any, limit: int) -> str:
    """One line of at most ``limit`` characters."""
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the display
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_content(value: Any) -> str:
    """What the model reads back: text as is, JSON for JSON-shaped values, else the repr."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"… [cut: {len(text):,} characters in all]"
    return text


class ToolSet:
    """Named callables offered to a model, with their schemas; runs the calls it asks for."""

    def __init__(self, tools: Tools) -> None:
        if isinstance(tools, str):
            raise E.PoeUsageError("tools= takes the functions themselves, not their names (the magic's --tools takes names)")
        if callable(tools):
            tools = [tools]
        pairs = list(tools.items()) if isinstance(tools, AbcMapping) else [(None, f) for f in tools]
        self.functions: dict[str, Callable[..., Any]] = {}
        for name, func in pairs:
            if not callable(func):
                raise E.PoeUsageError(f"tool {name or short_repr(func, 40)} is not callable "
                                      f"({type(func).__name__}); pass functions")
            if inspect.iscoroutinefunction(func):
                raise E.PoeUsageError(f"tool {name or func.__name__!r} is async; tools run in the kernel thread, "
                                      "so pass a plain function (e.g. one that calls asyncio.run)")
            name = name or getattr(func, "__name__", None)
            if not name or not _NAME.match(name):
                raise E.PoeUsageError(
                    f"tool name {name!r} is not usable (letters, digits, _ and - only); "
                    "pass tools={'name': function} to name it")
            if name in self.functions:
                raise E.PoeUsageError(f"two tools are named {name!r}; pass tools={{'name': function}}")
            self.functions[name] = func
        if not self.functions:
            raise E.PoeUsageError("no tools given")
        self.schemas = {n: tool_schema(f, n) for n, f in self.functions.items()}
        self.definitions = list(self.schemas.values())

    def __repr__(self) -> str:
        return f"<ToolSet {', '.join(self.functions)}>"

    def parse(self, request: dict[str, Any]) -> ToolCall:
        """A model's tool call (OpenAI shape) as a ToolCall; bad JSON is kept as an error."""
        function = request.get("function") or {}
        call = ToolCall(name=str(function.get("name", "")), arguments={}, id=str(request.get("id", "")))
        raw = function.get("arguments") or "{}"
        try:
            arguments = json.loads(raw)
        except ValueError:
            call.error = f"the arguments are not valid JSON: {raw[:200]!r}"
            return call
        if not isinstance(arguments, dict):
            call.error = f"the arguments must be a JSON object, got {raw[:200]!r}"
        else:
            call.arguments = arguments
        return call

    def problem(self, call: ToolCall) -> str | None:
        """Why ``call`` cannot run (unknown tool, arguments that do not fit), or None."""
        if call.error:
            return call.error
        func = self.functions.get(call.name)
        if func is None:
            return f"there is no tool named {call.name!r}; the tools are {', '.join(self.functions)}"
        properties = self.schemas[call.name]["function"]["parameters"]["properties"]
        try:
            call.arguments = {k: conform(v, properties.get(k, {}), k) for k, v in call.arguments.items()}
            _bind(func, call.arguments)
        except TypeError as exc:
            return f"bad arguments for {call.name}: {exc}"
        return None

    def execute(self, call: ToolCall) -> ToolCall:
        """Run ``call`` here (the caller's thread); record result or error, fill ``content``.
        KeyboardInterrupt propagates (the user stopped everything)."""
        call.error = self.problem(call)
        if call.error is None:
            args, kwargs = _bind(self.functions[call.name], call.arguments)
            started = time.perf_counter()
            try:
                call.result = self.functions[call.name](*args, **kwargs)
            except Exception as exc:  # the model hears about it; the cell goes on
                call.error = f"{type(exc).__name__}: {exc}"
            finally:
                call.elapsed = time.perf_counter() - started
        return self.finish(call)

    @staticmethod
    def finish(call: ToolCall) -> ToolCall:
        if call.declined:
            call.content = DECLINED
        elif call.error is not None:
            call.content = f"error: {call.error}"
        else:
            call.content = result_content(call.result)
        return call


def conform(value: Any, schema: dict[str, Any], name: str) -> Any:
    """``value`` fitted to its JSON schema type (2.0 -> 2 for integers, 5 -> "5" for
    strings); TypeError, worded for the model, when it does not fit."""
    if "enum" in schema and value not in schema["enum"]:
        raise TypeError(f"{name} must be one of {schema['enum']}, got {short_repr(value, 40)}")
    kinds = schema.get("type")
    if kinds is None:
        return value
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind == "null" and value is None or kind == "boolean" and isinstance(value, bool):
            return value
        if isinstance(value, bool) or value is None:
            continue
        if kind == "integer" and isinstance(value, (int, float)) and float(value).is_integer():
            return int(value)
        if (kind == "number" and isinstance(value, (int, float)) or kind == "array" and isinstance(value, list)
                or kind == "object" and isinstance(value, dict) or kind == "string" and isinstance(value, str)):
            return value
        if kind == "string" and isinstance(value, (int, float)):
            return str(value)
    raise TypeError(f"{name} should be {' or '.join(kinds) if isinstance(kinds, list) else kinds}, "
                    f"got {short_repr(value, 40)}")


def _bind(func: Callable[..., Any], arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional-only parameters by position, the rest by name; TypeError when they do not fit."""
    signature = inspect.signature(func)
    args: list[Any] = []
    kwargs = dict(arguments)
    for param in signature.parameters.values():
        if param.kind is param.POSITIONAL_ONLY and param.name in kwargs:
            args.append(kwargs.pop(param.name))
    signature.bind(*args, **kwargs)
    return args, kwargs


def resolve_names(spec: str, namespace: AbcMapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """``"f, g, obj.method"`` -> callables from ``namespace`` (the notebook's variables),
    named by their last dotted part; a one-line error for unknown names or non-callables."""
    found: dict[str, Callable[..., Any]] = {}
    for dotted in [part.strip() for part in spec.split(",") if part.strip()]:
        head, *rest = dotted.split(".")
        if head not in namespace:
            raise E.PoeUsageError(f"--tools: no variable named {head!r} in the notebook (nothing was sent)")
        value = namespace[head]
        for attr in rest:
            if not hasattr(value, attr):
                raise E.PoeUsageError(f"--tools: {dotted!r} does not exist (nothing was sent)")
            value = getattr(value, attr)
        if not callable(value):
            raise E.PoeUsageError(f"--tools: {dotted!r} is a {type(value).__name__}, not a function (nothing was sent)")
        name = dotted.rsplit(".", 1)[-1]
        if name in found:
            raise E.PoeUsageError(f"--tools: two tools would be named {name!r}")
        found[name] = value
    if not found:
        raise E.PoeUsageError("--tools needs function names, e.g. --tools add,lookup")
    return found
