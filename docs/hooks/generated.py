"""mkdocs hook: the parts of the docs that are generated from the code, not retyped.

Markers in a page's Markdown are replaced before rendering:

- ``<!-- poe_magic:error-tree -->``: the exception tree under ``PoeMagicError``, walked from
  the classes themselves, each with the first line of its docstring.
- ``<!-- poe_magic:error-table -->``: one row per error class: parent, HTTP status, whether
  it is retried by default, docstring.
- ``<!-- poe_magic:settings-table -->``: every setting with its default and help text.
- ``<!-- poe_magic:layer-diagram -->``: a Mermaid diagram of the layers, read from the
  import-linter layers contract in ``pyproject.toml`` (the one CI enforces).
- ``<!-- poe_magic:module-map -->``: per layer, the subpackage's docstring and each module's
  first docstring line.
- ``<!-- poe_magic:public-api -->``: one mkdocstrings ``:::`` block per public name of
  ``poe_magic.__all__`` (error classes aside: they have their own page), pointing at the
  module that defines it, so the reference follows the code when modules move.

If poe_magic (or its error module) cannot be imported, the build fails: a docs site whose
error tree silently went missing would be worse than none.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import warnings
from pathlib import Path
from typing import Any

import tomllib
from mkdocs.exceptions import PluginError

ERROR_TREE = "<!-- poe_magic:error-tree -->"
ERROR_TABLE = "<!-- poe_magic:error-table -->"
SETTINGS_TABLE = "<!-- poe_magic:settings-table -->"
PUBLIC_API = "<!-- poe_magic:public-api -->"
LAYER_DIAGRAM = "<!-- poe_magic:layer-diagram -->"
MODULE_MAP = "<!-- poe_magic:module-map -->"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _import(name: str) -> Any:
    try:
        with warnings.catch_warnings():  # e.g. pydantic deprecations inside fastapi_poe: not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(name)
    except Exception as exc:  # any failure to import is a broken build
        raise PluginError(f"docs/hooks/generated.py: cannot import {name}: {type(exc).__name__}: {exc}") from exc


def _base_error() -> type:
    package = _import("poe_magic")
    base = getattr(package, "PoeMagicError", None)
    if not isinstance(base, type):
        raise PluginError("docs/hooks/generated.py: poe_magic.PoeMagicError is missing")
    _import(base.__module__)  # the error module itself must import on its own
    return base


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    # the first sentence-ish line, reST double backticks made Markdown-friendly
    return " ".join(doc.split("\n\n")[0].split()).replace("``", "`")


def _walk(cls: type, depth: int = 0) -> list[tuple[int, type]]:
    rows = [(depth, cls)]
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("poe_magic"):
            rows += _walk(sub, depth + 1)
    return rows


def error_tree() -> str:
    rows = _walk(_base_error())
    lines: list[str] = []
    for i, (depth, cls) in enumerate(rows):
        if depth == 0:
            prefix = ""
        else:
            # is there a later sibling at this depth (before the tree climbs above it)?
            def more_at(level: int, start: int) -> bool:
                for d, _ in rows[start + 1:]:
                    if d < level:
                        return False
                    if d == level:
                        return True
                return False

            prefix = "".join("│   " if more_at(level, i) else "    " for level in range(1, depth))
            prefix += "├── " if more_at(depth, i) else "└── "
        lines.append(f"{prefix}{cls.__name__}")
    width = max(len(line) for line in lines) + 2
    def summary(cls: type) -> str:  # the first sentence, plain text (the block is not Markdown)
        first = _first_line(cls).replace("`", "")
        return first.split(". ")[0].rstrip(".") + "."

    text = "\n".join(f"{line:<{width}}{summary(cls)}" for line, (_, cls) in zip(lines, rows))
    return f"```text\n{text}\n```"


def error_table() -> str:
    out = ["| error | subclass of | HTTP status | retried by default | meaning |", "|---|---|---|---|---|"]
    for _, cls in _walk(_base_error()):
        parent = cls.__bases__[0].__name__
        status = getattr(cls, "status", None)
        out.append(
            f"| `{cls.__name__}` | `{parent}` | {status if status is not None else ''} "
            f"| {'yes' if getattr(cls, 'retryable', False) else 'no'} | {_first_line(cls)} |"
        )
    return "\n".join(out)


def settings_table() -> str:
    package = _import("poe_magic")
    settings = package.settings
    rows: list[tuple[str, Any, str]] = []
    traits = getattr(settings, "traits", None)
    if callable(traits):  # traitlets.HasTraits
        found = traits(config=True) or traits()
        order = getattr(settings, "setting_names", None)
        names = [n for n in order() if n in found] if callable(order) else sorted(found)
        for name in names:
            if not name.startswith("_"):
                rows.append((name, found[name].default(), found[name].help or ""))
    elif dataclasses.is_dataclass(settings):
        helps: dict[str, str] = {}
        try:  # the magics' traits carry the help text
            magics = _import("poe_magic.magics")
            cls = next(
                (c for c in vars(magics).values() if isinstance(c, type) and c.__name__ == "PoeMagics"), None
            )
            if cls is not None:
                helps = {n: t.help for n, t in cls.class_traits(config=True).items()}
        except PluginError:
            pass
        for f in dataclasses.fields(settings):
            if f.name.startswith("_"):
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            rows.append((f.name, default, helps.get(f.name, "")))
    else:
        raise PluginError("docs/hooks/generated.py: poe_magic.settings is neither traitlets nor a dataclass")
    out = ["| setting | default | what it does |", "|---|---|---|"]
    for name, default, help_text in rows:
        text = " ".join(help_text.split()).replace("|", "\\|")
        out.append(f"| `{name}` | `{default!r}` | {text} |")
    return "\n".join(out)


#: the order of the groups on the public API page (a user's order, not the layers'); others follow
GROUP_ORDER = ["prompting", "core", "comparison", "catalog", "widgets", "spending", "tools", "batches",
               "server", "base"]


def public_api() -> str:
    package = _import("poe_magic")
    base = _base_error()
    groups: dict[str, list[str]] = {}
    seen: set[str] = set()
    for name in package.__all__:
        obj = getattr(package, name)
        if isinstance(obj, type) and issubclass(obj, base):
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            obj = type(obj)  # e.g. ``settings``: document its class
        module, qualname = getattr(obj, "__module__", ""), getattr(obj, "__qualname__", "")
        if not module.startswith("poe_magic") or "<" in qualname or f"{module}.{qualname}" in seen:
            continue
        seen.add(f"{module}.{qualname}")
        group = ".".join(module.split(".")[:2])
        groups.setdefault(group, []).append(
            f"::: {module}.{qualname}\n    options:\n      show_root_full_path: false\n      heading_level: 3\n"
        )
    if not groups:
        raise PluginError("docs/hooks/generated.py: poe_magic.__all__ gave no public API to document")
    rank = {g: i for i, g in enumerate(f"poe_magic.{g}" for g in GROUP_ORDER)}
    ordered = sorted(groups.items(), key=lambda item: rank.get(item[0], len(rank)))
    return "\n".join(f"## `{group}`\n\n" + "\n".join(blocks) for group, blocks in ordered)


def _layers() -> list[str]:
    """The layers contract of import-linter, top layer first (short names: ``magics``, ...)."""
    try:
        config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
        contracts = config["tool"]["importlinter"]["contracts"]
        layers = next(c["layers"] for c in contracts if c.get("type") == "layers")
    except (OSError, KeyError, StopIteration, tomllib.TOMLDecodeError) as exc:
        raise PluginError(f"docs/hooks/generated.py: no import-linter layers contract in {PYPROJECT}: {exc!r}") from None
    return [layer.removeprefix("poe_magic.") for layer in layers]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _doc_paragraph(module: Any) -> str:
    doc = inspect.getdoc(module) or ""
    return " ".join(doc.split("\n\n")[0].split()).replace("``", "`")


def layer_diagram() -> str:
    layers = _layers()
    lines = ["```mermaid", "flowchart TB", '    api["poe_magic (public API, lazily re-exported)"]']
    lines += [f'    {name}["{name}"]' for name in layers]
    lines += ['    server["server (the local Poe-compatible server)"]']
    lines.append(f"    api -.-> {layers[0]}")
    lines.append("    " + " --> ".join(layers))
    lines.append(f"    server --> {layers[-1]}")
    lines.append("    wire -. HTTP only .-> server" if "wire" in layers else "")
    lines.append("```")
    return "\n".join(line for line in lines if line)


def module_map() -> str:
    out: list[str] = []
    for name in [*_layers(), "server"]:
        package = _import(f"poe_magic.{name}")
        out.append(f"### `poe_magic.{name}`\n\n{_doc_paragraph(package)}\n")
        out.append("| module | what it holds |\n|---|---|")
        folder = Path(package.__file__).parent
        for path in sorted(folder.glob("*.py")):
            if path.stem == "__init__":
                continue
            if path.stem == "__main__":
                out.append(f"| `{name}/__main__.py` | `python -m poe_magic.{name}` |")
                continue
            module = _import(f"poe_magic.{name}.{path.stem}")
            out.append(f"| `{name}/{path.name}` | {_cell(_doc_paragraph(module))} |")
        subpackages = sorted(p.name for p in folder.iterdir() if (p / "__init__.py").exists())
        for sub in subpackages:
            module = _import(f"poe_magic.{name}.{sub}")
            out.append(f"| `{name}/{sub}/` | {_cell(_doc_paragraph(module))} |")
        out.append("")
    return "\n".join(out)


_GENERATORS = {
    LAYER_DIAGRAM: layer_diagram,
    MODULE_MAP: module_map,
    ERROR_TREE: error_tree,
    ERROR_TABLE: error_table,
    SETTINGS_TABLE: settings_table,
    PUBLIC_API: public_api,
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for marker, generate in _GENERATORS.items():
        if marker in markdown:
            with warnings.catch_warnings():  # lazy imports of third-party code: its warnings are not ours
                warnings.simplefilter("ignore", DeprecationWarning)
                markdown = markdown.replace(marker, generate())
    return markdown


# Docstrings in poe_magic use reST roles (:func:`ask`); mkdocstrings renders Markdown, where
# the role name would show up as literal text before the code span. Drop the role name.
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|exc|obj|const):(<code>)~?")


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return _ROLE.sub(r"\1", html)


def on_config(config: Any) -> Any:
    _base_error()  # fail early, before any page is built
    return config
