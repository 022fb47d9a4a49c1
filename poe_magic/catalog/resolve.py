"""Model names to exact ids: aliases expanded, case corrected, unknown names refused with the closest matches."""

from __future__ import annotations

import difflib

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.base.config import settings as default_settings
from poe_magic.base.conventions import TEST_OWNER
from poe_magic.catalog.aliases import expand
from poe_magic.catalog.store import MAX_AGE, RECHECK_AFTER, Snapshot, _quick
from poe_magic.core.session import current
from poe_magic.wire import transport


def resolve_model(model: str | None, settings: Settings = default_settings) -> str:
    """The model to use: the one named, else the default; one-line error when neither."""
    name = (model or settings.default_model or "").strip()
    if not name:
        raise E.PoeUsageError(
            "no model given and no default set: write %%poe MODEL, or %poe use MODEL, "
            "or %config PoeMagics.default_model = 'Claude-Sonnet-4'"
        )
    transport.check_model_name(name)  # spaces, slashes, '?' ... would make a malformed URL

    return resolve_name(name, settings)


class _Noted(set[tuple[str, str]]):
    """(typed, corrected) names already noted this session: each correction is said once."""


def resolve_name(name: str, settings: Settings = default_settings) -> str:
    """The exact model id for ``name``: alias expanded, case corrected (with a note, once per
    name), or :class:`~poe_magic.UnknownModelError` with the closest matches. When the
    catalogue cannot be fetched the name is returned as typed."""

    name = expand(name, settings)
    snapshot, trusted = _quick(settings, MAX_AGE)
    if snapshot is None:
        return name
    found = _match(name, snapshot)
    if found is None and trusted and snapshot.age > RECHECK_AFTER:
        snapshot, trusted = _quick(settings, RECHECK_AFTER)  # a model may have appeared since
        found = _match(name, snapshot) if snapshot is not None else None
    if found is not None:
        noted = current().state(_Noted)
        if found != name and (snapshot is None or name not in snapshot.api_ids) and (name, found) not in noted:
            noted.add((name, found))
            # stdout: a note, not a warning (JupyterLab shows stderr as an error-coloured band)
            print(f"note: using model '{found}' for '{name}' (model names are case-sensitive)")
        return found
    if not trusted or snapshot is None:
        return name  # cannot confirm either way: let the server decide
    test_bots = sum(1 for e in snapshot.entries if isinstance(e, dict) and e.get("owned_by") == TEST_OWNER)
    raise unknown_model_error(name, snapshot.ids, ambiguous=snapshot.case_matches(name), test_bots=test_bots)


def _match(name: str, snapshot: Snapshot) -> str | None:
    if name in snapshot.ids:
        return name
    if name in snapshot.api_ids:  # the catalogue's lowercase id: asked by the model's name, no note
        return snapshot.api_ids[name]
    same = snapshot.case_matches(name)
    return same[0] if len(same) == 1 else None


def closest(name: str, ids: list[str], n: int = 3) -> list[str]:
    """The ids most like ``name``: close spellings first, then ids containing it."""
    lowered = {i.lower(): i for i in ids}
    near = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)]
    contains = [i for i in ids if len(name) >= 3 and name.lower() in i.lower() and i not in near]
    return (near + contains)[:n]


def unknown_model_error(name: str, ids: list[str], ambiguous: list[str] | None = None,
                        test_bots: int = 0) -> E.UnknownModelError:
    """``unknown model 'claude-sonet-4'; did you mean Claude-Sonnet-4?`` (one line). Counts are
    worded as ``%poe models`` words them: N models, M test bots hidden."""
    options = ambiguous or closest(name, ids)
    if ambiguous:
        message = f"model name '{name}' is ambiguous; did you mean {_either(options)}?"
    elif options:
        message = f"unknown model '{name}'; did you mean {_either(options)}?"
    else:
        listed = f"the {len(ids) - test_bots} models" + (f" ({test_bots} test bots hidden: --all)" if test_bots else "")
        message = f"unknown model '{name}'; %poe models lists {listed}"
    return E.UnknownModelError(message, model=name)


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
