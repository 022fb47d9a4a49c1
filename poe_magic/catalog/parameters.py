"""A model's own parameters (the catalogue's ``parameters`` list), checked before anything is sent.

The real catalogue lists, for most models, the options they take as JSON schemas, e.g.
``{"name": "thinking_budget", "schema": {"type": "number", "minimum": 0, "maximum": 31999}}``
or ``{"name": "output_effort", "schema": {"enum": ["max", "high", "medium", "low", "none"]},
"default_value": "high"}``. :func:`check_params` holds ``--param`` values (and ``params=``)
against them: an unknown name (with the closest names), a number out of range, a value not
among the choices or of the wrong type is refused in one line naming what is allowed, and
nothing is sent. Values are typed per schema (``"2000"`` becomes ``2000`` for a number).
A model whose entry lists no parameters (or no catalogue at all) gets its values as given.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from poe_magic.base import errors as E


def parameters_of(entry: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The well-formed ``parameters`` of a raw catalogue entry (name and a dict schema)."""
    listed = entry.get("parameters") if isinstance(entry, dict) else None
    out = []
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip():
            schema = item.get("schema") if isinstance(item.get("schema"), dict) else {}
            out.append({**item, "name": item["name"].strip(), "schema": schema})
    return out


def describe(schema: dict[str, Any]) -> str:
    """``number 0 to 31999``, ``one of max, high, medium``, ``true or false``, ``text``."""
    if isinstance(schema.get("enum"), list):
        return "one of " + ", ".join(_show(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "boolean":
        return "true or false"
    if kind in ("number", "integer"):
        low, high = schema.get("minimum"), schema.get("maximum")
        word = "a whole number" if kind == "integer" else "a number"
        if low is not None and high is not None:
            return f"{word} from {_show(low)} to {_show(high)}"
        if low is not None:
            return f"{word} of at least {_show(low)}"
        if high is not None:
            return f"{word} of at most {_show(high)}"
        return word
    if kind == "string":
        return "text"
    return "any value"


def check_params(model: str, params: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any]:
    """``params`` typed per the model's schema; :class:`~poe_magic.PoeUsageError` (nothing sent)
    when one does not fit. No entry, or an entry listing no parameters: returned as given."""
    listed = {p["name"]: p for p in parameters_of(entry)}
    if not params or not listed:
        return dict(params)
    if _takes_effort(entry) and "reasoning_effort" not in listed:  # said under ``reasoning``, not listed
        listed["reasoning_effort"] = {"name": "reasoning_effort", "schema": {"type": "string"}}
    typed = {}
    for name, value in params.items():
        if name not in listed:
            near = difflib.get_close_matches(name, list(listed), n=1, cutoff=0.6)
            guess = f"did you mean {near[0]}? " if near else ""
            raise _refuse(f"--param {name}: {model} has no such parameter; {guess}"
                          f"it takes {', '.join(listed)}")
        typed[name] = _typed(model, name, value, listed[name]["schema"])
    return typed


def _takes_effort(entry: dict[str, Any] | None) -> bool:
    """The entry's ``reasoning`` says the model takes ``reasoning_effort`` (the real catalogue
    says so there, and lists it among ``parameters`` only for some models)."""
    reasoning = entry.get("reasoning") if isinstance(entry, dict) else None
    return isinstance(reasoning, dict) and reasoning.get("supports_reasoning_effort") is True


def _typed(model: str, name: str, value: Any, schema: dict[str, Any]) -> Any:
    allowed = describe(schema)
    bad = _refuse(f"--param {name}={_show(value)}: {model} takes {allowed}")
    choices = schema.get("enum")
    if isinstance(choices, list):
        for choice in choices:
            if choice == value or (isinstance(value, str) and _show(choice) == value.strip()):
                return choice
        raise bad
    kind = schema.get("type")
    if kind in ("number", "integer"):
        number = _number(value)
        if number is None or (kind == "integer" and number != int(number)):
            raise bad
        low, high = schema.get("minimum"), schema.get("maximum")
        if (isinstance(low, (int, float)) and number < low) or (isinstance(high, (int, float)) and number > high):
            raise bad
        return int(number) if number == int(number) else number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise bad
    if kind == "string":
        if isinstance(value, (dict, list)):
            raise bad
        return value if isinstance(value, str) else _show(value)
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _refuse(message: str) -> E.PoeUsageError:
    return E.PoeUsageError(message + " (nothing was sent)")
