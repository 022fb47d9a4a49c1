"""Markdown to safe HTML for views that render it themselves (the comparison grid): mistune when installed, escaped text otherwise."""

from __future__ import annotations

import html
from collections.abc import Callable

_converter: Callable[[str], str] | None = None


def pre_html(text: str) -> str:
    """The answer as escaped, wrapped preformatted text (format "text", or no mistune)."""
    return f'<pre style="white-space:pre-wrap;margin:6px 0">{html.escape(text)}</pre>'


def markdown_to_html(text: str) -> str:
    """Markdown answer -> HTML with raw HTML escaped (mistune), or escaped ``<pre>`` text."""
    global _converter
    if _converter is None:
        try:
            _converter = _mistune_converter()
        except Exception:  # not installed (or an API we do not know): plain text still reads well
            _converter = pre_html
    return _converter(text)


def _mistune_converter() -> Callable[[str], str]:
    import mistune
    from mistune.util import striptags

    class Renderer(mistune.HTMLRenderer):
        def image(self, text: str, url: str, title: str | None = None) -> str:
            # image models often answer with an inline SVG; an <img> never runs an SVG's scripts
            if url.startswith("data:image/svg+xml;base64,"):
                return "<img" + self.render_attrs({"src": url, "alt": striptags(text)}) + " />"
            return str(super().image(text, url, title))

        def block_code(self, code: str, info: str | None = None) -> str:
            # a narrow column scrolls a code block sideways instead of breaking JSON mid-word
            return str(super().block_code(code, info)).replace("<pre>", f'<pre style="{_PRE}">', 1)

    plugins = ["table", "strikethrough"]
    try:
        markdown = mistune.create_markdown(renderer=Renderer(escape=True), plugins=plugins)
    except TypeError:  # mistune 2: its renderer API differs; keep its safe defaults
        markdown = mistune.create_markdown(escape=True, plugins=plugins)
    return lambda text: str(markdown(text))  # (mistune's type says str or AST tokens; HTML here)


_PRE = "white-space:pre;overflow-x:auto;overflow-wrap:normal;word-wrap:normal;word-break:normal"
