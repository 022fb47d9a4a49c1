"""A model's Markdown made safe to render in a trusted notebook output.

JupyterLab trusts every output made in the session: Markdown sent as ``text/markdown`` is turned
into HTML *without* its sanitizer, so raw HTML in an answer (``<img onerror=...>``,
``<script>``) and ``javascript:`` links would run. :func:`safe_markdown` keeps the Markdown
(bold, lists, tables, code, links and images with http/https/mailto or relative targets) and
neutralises the rest, before the text becomes Markdown output:

- outside code (fenced blocks and code spans) every ``<`` becomes ``&lt;``: no tag, comment,
  HTML block or ``<scheme:...>`` autolink is left, and the reader still sees the ``<``;
- a link or image target (inline ``](target)`` or a ``[ref]: target`` definition) whose scheme
  is not http, https or mailto (or a ``data:image/``) becomes ``#blocked``;
- code is untouched (a ``<script>`` in a code block shows as text there anyway).

Indented code blocks are not recognised (a ``<`` there shows as ``&lt;``): whether four spaces
make code depends on the list around them, and guessing wrong would let a tag through.
Text without ``<`` and without links comes back unchanged. A user who wants a model's raw
HTML rendered asks for it per call with ``-f html`` or for the session with the
``answer_html`` setting (``%poe config answer_html=True``).
"""

from __future__ import annotations

import html
import re

#: the schemes a link or image in an answer may use (anything without a scheme is relative)
ALLOWED = ("http", "https", "mailto")
BLOCKED = "#blocked"

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_TICKS = re.compile(r"(?<!\\)(?:\\\\)*(`+)")
_INLINE_DEST = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^\s)]*)")
_REF_DEF = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*)(\S*)", re.MULTILINE)
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f\\]")


def safe_markdown(text: str) -> str:
    """``text`` with raw HTML shown as text and links that could run code blocked."""
    if "<" not in text and "](" not in text and "]:" not in text:
        return text  # the common case: nothing to look at
    out: list[str] = []
    prose: list[str] = []  # lines outside fences, handled together (code spans may span lines)
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        if fence is not None:
            out.append(line)
            marker = _FENCE.match(line)
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence) \
                    and not marker.group(2).strip():
                fence = None
            continue
        marker = _FENCE.match(line)
        if marker and not (marker.group(1)[0] == "`" and "`" in marker.group(2)):
            out.append(_prose("".join(prose)))
            prose = []
            out.append(line)
            fence = marker.group(1)
            continue
        prose.append(line)
    out.append(_prose("".join(prose)))
    return "".join(out)


def safe_target(target: str) -> bool:
    """Whether a link or image ``target`` is relative or uses an allowed scheme (entities,
    backslashes and the blanks browsers ignore are looked through, as a browser would)."""
    plain = _INVISIBLE.sub("", html.unescape(target).strip("<>")).lower()
    scheme = _SCHEME.match(plain)
    if scheme is None:
        return ":" not in plain.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return scheme.group(1) in ALLOWED or plain.startswith("data:image/")  # (browsers open no data: page)


def _prose(text: str) -> str:
    """Text outside code fences: code spans kept, the rest escaped and its links checked."""
    if not text:
        return text
    pieces: list[str] = []
    pos = 0
    while True:
        opener = _TICKS.search(text, pos)
        if opener is None:
            break
        run = opener.group(1)
        closer = re.compile(rf"(?<!`){run}(?!`)").search(text, opener.end())
        if closer is None or "\n\n" in text[opener.end():closer.start()].replace(" ", "").replace("\t", ""):
            pieces.append(_escape(text[pos:opener.end()]))  # no code span: literal backticks
            pos = opener.end()
            continue
        pieces.append(_escape(text[pos:opener.start(1)]))
        pieces.append(text[opener.start(1):closer.end()])  # the code span, untouched
        pos = closer.end()
    pieces.append(_escape(text[pos:]))
    return "".join(pieces)


def _escape(text: str) -> str:
    text = text.replace("<", "&lt;")
    text = _INLINE_DEST.sub(lambda m: m.group(1) + (m.group(2) if safe_target(m.group(2)) else BLOCKED), text)
    return _REF_DEF.sub(lambda m: m.group(1) + (m.group(2) if safe_target(m.group(2)) else BLOCKED), text)
