"""Choosing models for the session: use() sets the default model or comparison set, alias() names a model."""

from __future__ import annotations

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.catalog.aliases import _NAME, set_alias
from poe_magic.catalog.resolve import resolve_name
from poe_magic.catalog.store import cached

#: called with ``(default_model, compare_models)`` after :func:`use` changes them (pickers follow)


def alias(name: str, model: str, settings: Settings = default_settings) -> str:
    """Define ``name`` as a short name for ``model`` (checked against the catalogue) and save it
    in the config file. Returns the model id it now stands for."""

    if not _NAME.match(name or ""):
        raise E.PoeUsageError(f"invalid alias {name!r}: use letters, digits, '.', '_' or '-' (no spaces)")
    target = resolve_name(_check_model(model), settings)  # unknown models fail here, with suggestions
    known = cached(settings)
    if target == name or (known is not None and known.case_matches(name)):
        raise E.PoeUsageError(f"{name!r} is already a model name; choose another alias")
    set_alias(name, target, settings)  # under the config file's lock: no kernel's alias is lost
    return target


def _check_model(model: str) -> str:
    model = (model or "").strip()
    if not model or any(c.isspace() for c in model) or "/" in model:
        raise E.PoeUsageError(f"invalid model name {model!r}: model names have no spaces or slashes")
    return model


def use(*names: str, settings: Settings = default_settings) -> list[str]:
    """Choose models for the session: one name sets the default model (used when a cell names
    none); several set the default comparison set (``%%poe --compare``, ``compare(prompt)``).
    Names are resolved (aliases, case, unknown-name suggestions). Returns the exact ids."""

    if not names:
        raise E.PoeUsageError("name a model: use('Claude-Sonnet-4'), or several to compare")
    chosen = [resolve_name(_check_model(n), settings) for n in names]
    if len(chosen) == 1:
        set_choice(default_model=chosen[0], settings=settings)
    else:
        set_choice(compare_models=list(dict.fromkeys(chosen)), settings=settings)
    return chosen


def set_choice(*, default_model: str | None = None, compare_models: list[str] | None = None,
               settings: Settings = default_settings) -> None:
    """Set the default model and/or comparison set (exact ids, no checks); pickers and the
    magic's traits follow (they observe the settings)."""
    if default_model is not None:
        settings.default_model = default_model
    if compare_models is not None:
        settings.compare_models = list(compare_models)

