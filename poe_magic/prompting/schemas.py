"""Structured answers: a schema told to the model, its JSON found in the answer and validated.

A schema is a pydantic model class, a dataclass, a TypedDict, a JSON-schema dict, or a simple
mapping ``{"label": Literal["spam", "ham"], "score": float}``. :func:`as_schema` turns any of
them into a :class:`Schema`: the JSON schema told to the model (:func:`instruction`, added to
the system prompt), :meth:`Schema.parse` (answer text -> validated data, or the first
problem), and the pandas dtype of each field (batch and comparison columns).

pydantic is imported only when a schema is used (it is already installed with fastapi-poe).
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from poe_magic.base import errors as E

#: the system-prompt addition that tells the model the schema (stated once, in docs/prompting.md)
INSTRUCTION = ("Answer with a single JSON object and nothing else. It must match this JSON schema:\n"
               "{schema}")
MAX_SCAN = 200  # '{' positions tried when the JSON is somewhere inside prose (hostile answers stay cheap)
_JSON_MARKS = re.compile(r'\\.|[{}"]', re.DOTALL)  # a backslash and what it escapes, braces, quotes
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


@dataclass
class Schema:
    """A schema in every form the package needs; make one with :func:`as_schema`."""

    name: str
    json_schema: dict[str, Any]
    kind: str  # pydantic | dataclass | typeddict | mapping | jsonschema
    _adapter: Any = None  # pydantic TypeAdapter (None for a JSON-schema dict)
    _target: Any = None  # the user's class (pydantic model, dataclass)

    @property
    def fields(self) -> list[str]:
        """The top-level fields, in declaration order."""
        return list(self.json_schema.get("properties", {}))

    def dtypes(self) -> dict[str, str]:
        """field -> pandas dtype: ``Int64``, ``Float64``, ``boolean``, ``string``, ``category``
        (a Literal / enum) or ``object`` (lists, nested objects, anything mixed)."""
        return {name: _dtype(self._resolve(spec)) for name, spec in self.json_schema.get("properties", {}).items()}

    def _resolve(self, spec: dict[str, Any]) -> dict[str, Any]:
        ref = spec.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return dict(self.json_schema.get("$defs", {}).get(ref.rsplit("/", 1)[1], {}))
        return spec

    def validate(self, value: Any) -> Any:
        """``value`` (parsed JSON) as the schema's data; raises ValueError(first problem)."""
        if self._adapter is None:
            problem = check_json_schema(value, self.json_schema) or _full_check(value, self.json_schema)
            if problem:
                raise ValueError(problem)
            return value
        from pydantic import ValidationError

        try:
            data = self._adapter.validate_python(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "the answer"
            raise ValueError(f"{where}: {first.get('msg', 'invalid')}") from None
        if self.kind == "dataclass":
            return dataclasses.asdict(data)
        if self.kind in ("mapping", "typeddict"):
            return data.model_dump()
        return data

    def parse(self, text: str) -> tuple[Any, str | None]:
        """(data, None) when ``text`` holds JSON that fits, else (None, the first problem)."""
        found = find_json(text)
        if found is None:
            return None, "no JSON object found in the answer"
        try:
            return self.validate(found), None
        except ValueError as exc:
            return None, str(exc)

    def row(self, data: Any) -> dict[str, Any]:
        """The top-level fields of validated ``data`` as a plain dict (for frame columns)."""
        if data is None:
            return {}
        if hasattr(data, "model_dump"):
            data = data.model_dump()
        return {name: data.get(name) for name in self.fields} if isinstance(data, dict) else {}

    def __repr__(self) -> str:
        return f"<Schema {self.name} ({self.kind}): {', '.join(self.fields)}>"


def as_schema(spec: Any) -> Schema:
    """Any supported schema form as a :class:`Schema`; a one-line PoeUsageError otherwise."""
    if isinstance(spec, Schema):
        return spec
    try:
        import pydantic
    except ImportError as exc:  # pragma: no cover - installed with fastapi-poe
        raise E.PoeUsageError(f"schema= needs pydantic ({exc})") from None
    try:
        if isinstance(spec, type) and issubclass(spec, pydantic.BaseModel):
            adapter = pydantic.TypeAdapter(spec)
            return Schema(spec.__name__, spec.model_json_schema(), "pydantic", adapter, spec)
        if isinstance(spec, type) and dataclasses.is_dataclass(spec):
            adapter = pydantic.TypeAdapter(spec)
            return Schema(spec.__name__, adapter.json_schema(), "dataclass", adapter, spec)
        if isinstance(spec, type) and issubclass(spec, dict) and hasattr(spec, "__required_keys__"):
            # a TypedDict (pydantic takes typing.TypedDict only from Python 3.12): as a model of its fields
            hints = typing.get_type_hints(spec)
            required = getattr(spec, "__required_keys__", set(hints))
            model = pydantic.create_model(spec.__name__, **{  # type: ignore[call-overload]
                k: (v, ...) if k in required else (v, None) for k, v in hints.items()})
            return Schema(spec.__name__, model.model_json_schema(), "typeddict", pydantic.TypeAdapter(model), model)
        if isinstance(spec, dict) and spec and _is_json_schema(spec):
            check_json_schema_itself(spec)
            return Schema(str(spec.get("title") or "schema"), dict(spec), "jsonschema")
        if isinstance(spec, dict) and spec and all(isinstance(k, str) and k.isidentifier() for k in spec):
            model = pydantic.create_model("Answer", **{k: (v, ...) for k, v in spec.items()})  # type: ignore[call-overload]
            return Schema("Answer", model.model_json_schema(), "mapping", pydantic.TypeAdapter(model), model)
    except E.PoeUsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydantic refuses an unknown type: say which, one line
        raise E.PoeUsageError(f"schema= could not be used: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    raise E.PoeUsageError(
        f"schema= takes a pydantic model, a dataclass, a TypedDict, a JSON-schema dict or a mapping "
        f"like {{'label': str, 'score': float}}, got {type(spec).__name__} (nothing was sent)")


def instruction(schema: Schema) -> str:
    """The text added to the system prompt: the schema as one line of JSON."""
    return INSTRUCTION.format(schema=json.dumps(schema.json_schema, separators=(",", ":"), sort_keys=False))


def with_instruction(system: str | None, schema: Schema) -> str:
    """``system`` with the schema's instruction appended (or the instruction alone)."""
    told = instruction(schema)
    return f"{system}\n\n{told}" if system else told


def repair_prompt(problem: str) -> str:
    """The follow-up turn of the one repair round."""
    return (f"That answer did not match the schema: {problem}. Reply again with only the corrected JSON "
            "object, matching the schema exactly.")


def schema_error(problem: str) -> E.SchemaError:
    return E.SchemaError(f"the answer did not match the schema: {problem}")


# -- finding the JSON ----------------------------------------------------------------------------

def find_json(text: str) -> Any:
    """The JSON object of an answer: the whole text, else a ```json fence, else the first
    ``{...}`` that parses after some prose. None when there is none (or it nests too deep to
    parse: a hostile answer is a misfit, not a crash)."""
    try:
        return _find_json(text)
    except RecursionError:
        return None


def _not_json(name: str) -> Any:
    """NaN and Infinity are Python's, not JSON's: a model's ``{"p": NaN}`` is not data."""
    raise ValueError(f"{name} is not a JSON number")


def _find_json(text: str) -> Any:
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return json.loads(stripped, parse_constant=_not_json)
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            return json.loads(block, parse_constant=_not_json)
        except ValueError:
            continue
    first = text.find("{")
    try:  # the usual case, prose then the object: one parse from its first brace
        return json.JSONDecoder(parse_constant=_not_json).raw_decode(text, first)[0] if first >= 0 else None
    except ValueError:
        pass
    for span in candidates(text):
        try:
            return json.loads(span, parse_constant=_not_json)
        except ValueError:
            continue
    return None


def candidates(text: str) -> Iterator[str]:
    """The balanced ``{...}`` spans of ``text`` worth parsing, leftmost first: found in one pass
    reading strings inside braces (and one that does not, for prose with a stray quote), at most
    :data:`MAX_SCAN` of them and 3x the text's length in all: linear in the text however it is
    built (2 MB of objects never closed cost one pass, not one parse per ``{``)."""
    spans = sorted(_balanced(text, strings=True) | _balanced(text, strings=False))
    budget = 3 * len(text)
    for start, end in spans[:MAX_SCAN]:
        budget -= end - start
        if budget < 0:
            return
        yield text[start:end]


def _balanced(text: str, *, strings: bool) -> set[tuple[int, int]]:
    """(start, end) of every ``{...}`` whose braces match (outside JSON strings when ``strings``)."""
    found: set[tuple[int, int]] = set()
    opened: list[int] = []
    quoted = False
    for mark in _JSON_MARKS.finditer(text):  # (only the characters that matter: fast on prose)
        ch = mark.group()
        if quoted:
            quoted = ch != '"'  # (an escaped quote is matched with its backslash, as "\\x")
        elif ch == "{":
            opened.append(mark.start())
        elif ch == "}" and opened:
            found.add((opened.pop(), mark.end()))
        elif ch == '"' and strings and opened:
            quoted = True
    return found


# -- JSON-schema dicts (a small validator: the keywords a model's answer needs) --------------------

_TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
                                       "integer": (int,), "number": (int, float), "null": (type(None),)}
_SCHEMA_WORDS = {"type", "properties", "items", "enum", "$schema", "anyOf", "required", "$defs"}


def _is_json_schema(spec: dict[str, Any]) -> bool:
    return bool(_SCHEMA_WORDS & set(spec)) and not any(isinstance(v, type) for v in spec.values())


def check_json_schema_itself(spec: dict[str, Any]) -> None:
    """Refuse a JSON-schema dict that is not about an object with properties (nothing to fill in)."""
    if spec.get("type") != "object" or not isinstance(spec.get("properties"), dict):
        raise E.PoeUsageError('a JSON-schema dict for schema= must be {"type": "object", "properties": {...}}')


def _is_type(value: Any, name: str) -> bool:
    kinds = _TYPES.get(name)
    if kinds is None:
        return True
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, kinds)


def check_json_schema(value: Any, schema: dict[str, Any], where: str = "") -> str | None:
    """The first problem of ``value`` against ``schema`` (type, enum, required, properties,
    additionalProperties false, items, minimum/maximum, anyOf), or None."""
    at = where or "the answer"
    if "anyOf" in schema:
        if not any(check_json_schema(value, s, where) is None for s in schema["anyOf"]):
            return f"{at}: matches none of the allowed forms"
        return None
    kind = schema.get("type")
    names = kind if isinstance(kind, list) else [kind] if kind else []
    if names and not any(_is_type(value, n) for n in names):
        return f"{at}: expected {' or '.join(names)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{at}: must be one of {', '.join(map(repr, schema['enum']))}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{at}: must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{at}: must be at most {schema['maximum']}"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                return f"{where + '.' if where else ''}{name}: field required"
        for name, sub in props.items():
            if name in value:
                problem = check_json_schema(value[name], sub, f"{where + '.' if where else ''}{name}")
                if problem:
                    return problem
        if schema.get("additionalProperties") is False:
            extra = [k for k in value if k not in props]
            if extra:
                return f"{extra[0]}: extra field not allowed"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = check_json_schema(item, schema["items"], f"{where}[{i}]" if where else f"[{i}]")
            if problem:
                return problem
    return None


def _full_check(value: Any, schema: dict[str, Any]) -> str | None:
    """What the small validator above does not know (pattern, lengths, $ref, formats...), by
    ``jsonschema`` (a dependency; skipped if it is missing): its first problem, or None."""
    try:
        import jsonschema
    except ImportError:
        return None
    try:
        checker = jsonschema.validators.validator_for(schema)(schema)
        error = jsonschema.exceptions.best_match(checker.iter_errors(value))
    except jsonschema.exceptions.SchemaError:  # (the schema itself was checked when it was given)
        return None
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "the answer"
    return f"{where}: {error.message[:200]}"


def _dtype(spec: dict[str, Any]) -> str:
    if "enum" in spec or "const" in spec:
        return "category"
    kinds = spec.get("type")
    if "anyOf" in spec:  # Optional[X]: X's dtype (the nullable pandas dtypes hold the missing ones)
        kinds = [s.get("type") for s in spec["anyOf"] if s.get("type") != "null"]
        enums = [s for s in spec["anyOf"] if "enum" in s or "const" in s]
        if enums:
            return "category"
    names = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k and k != "null"]
    if len(names) != 1:
        return "object"
    return {"integer": "Int64", "number": "Float64", "boolean": "boolean", "string": "string"}.get(names[0], "object")


def data_table(schema: Schema, data: Any) -> dict[str, str]:
    """A structured answer as a small two-column table (HTML, and plain text)."""
    import html

    row = schema.row(data) if schema.fields else {}
    shown = {k: json.dumps(_plain(v), ensure_ascii=False, default=str) if not isinstance(v, str) else v
             for k, v in row.items()}
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                    f"{html.escape(v[:2000])}</td></tr>" for k, v in shown.items())
    return {"text/html": f"<table class='poe-magic-data'>{cells}</table>",
            "text/plain": "\n".join(f"{k}: {v[:2000]}" for k, v in shown.items())}


def show_data(schema: Schema, data: Any, sink: Any) -> None:
    """Under a notebook answer: its structured data as a small table (a separate output)."""
    from poe_magic.core.display import NotebookSink

    if not isinstance(sink, NotebookSink):
        return
    from IPython.display import display

    display(data_table(schema, data), raw=True)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def column(values: list[Any], dtype: str) -> Any:
    """A pandas column of ``dtype`` (``object`` kept as is); values that do not convert
    (a model's "3.5" for an Int64 field) become missing rather than failing the frame."""
    import pandas as pd

    if dtype == "object":
        return pd.Series(values, dtype="object")
    try:
        return pd.Series(values, dtype=dtype)
    except (TypeError, ValueError):
        return pd.Series([_convert(v, dtype) for v in values], dtype=dtype)


def _convert(value: Any, dtype: str) -> Any:
    try:
        import pandas as pd

        pd.Series([value], dtype=dtype)
        return value
    except (TypeError, ValueError):
        return None
