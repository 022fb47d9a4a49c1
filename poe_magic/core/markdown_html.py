"""Markdown to safe HTML for views that render it themselves (the comparison grid): mistune when installed, escaped text otherwise; LiveMarkdown re-renders only a stream's unfinished last block."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from poe_magic.core.reply import closed_markdown

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


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


class LiveMarkdown:
    """Renders a growing answer, caching the HTML of its finished blocks.

    A block is finished once a later non-indented line follows a blank line outside a code
    fence; only the text after the last finished block is rendered again on each call. The
    result can differ from a full render in rare cases (e.g. a loose list split in two), which
    is why the final display renders the whole answer once.
    """

    def __init__(self, render: Callable[[str], str] = markdown_to_html) -> None:
        self.render = render
        self._done = ""  # finished text, rendered into _html
        self._html: list[str] = []

    def __call__(self, text: str) -> str:
        if not text.startswith(self._done):  # the model replaced its answer
            self._done, self._html = "", []
        cut = self._boundary(text)
        if cut > len(self._done):
            self._html.append(self.render(text[len(self._done):cut]))
            self._done = text[:cut]
        tail = text[len(self._done):]
        return "".join(self._html) + (self.render(closed_markdown(tail)) if tail.strip() else "")

    def _boundary(self, text: str) -> int:
        """Offset of the last block start after ``_done`` (``len(_done)`` when none)."""
        pos = cut = len(self._done)
        fence: str | None = None
        after_blank = False
        for line in text[pos:].splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # the last line is still growing
            marker = _FENCE.match(line)
            if fence is not None:
                if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence) \
                        and not line.strip().strip(fence[0]):
                    fence = None
            elif not line.strip():
                after_blank = True
            else:
                if after_blank and not line[0].isspace():
                    cut = pos
                after_blank = False
                if marker:
                    fence = marker.group(1)
            pos += len(line)
        return cut


_PRE = "white-space:pre;overflow-x:auto;overflow-wrap:normal;word-wrap:normal;word-break:normal"
