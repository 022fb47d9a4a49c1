"""A model's Markdown made safe to render in a trusted notebook output.

JupyterLab trusts every output made in the session: Markdown sent as ``text/markdown`` is turned
into HTML *without* its sanitizer, so raw HTML in an answer (``<img onerror=...>``,
``<script>``) and ``javascript:`` links would run. :func:`safe_markdown` keeps the Markdown
(bold, lists, tables, code, links and images with http/https/mailto or relative targets) and
neutralises the rest, before the text becomes Markdown output:

- outside fenced code a zero-width space follows every ``<`` that precedes a letter, ``/``,
  ``!`` or ``?``: no tag, comment, HTML block or ``<scheme:...>`` autolink can start, and the
  reader sees the same ``<`` (in prose, a code span or an indented code block alike; ``a < b``
  is left as it is);
- a link or image target (inline ``](target)`` or a ``[ref]: target`` definition) whose scheme
  is not http, https or mailto (or a ``data:image/``) becomes ``#blocked``;
- fenced code is untouched when every fence of the answer starts at the margin (then every
  renderer reads the fences alike); when one is indented or inside a list or a quote, no line
  is taken for code (a renderer could read those fences otherwise): the answer looks the same,
  only copying its code would carry the zero-width spaces.

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

_OPENER = re.compile(r"(`{3,}|~{3,})(.*)")
_CLOSER = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*\n?\Z")
_NESTED_FENCE = re.compile(r"[ \t>*+\-0-9.)]+(`{3}|~{3})")
_INLINE_DEST = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^\s()\[\]]*)")  # (a prefix of the target: its scheme)
_REF_DEF = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*)(\S*)", re.MULTILINE)
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_LINES = re.compile(r"[^\n]*\n|[^\n]+\Z")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f\\]")


def safe_markdown(text: str) -> str:
    """``text`` with raw HTML shown as text and links that could run code blocked."""
    if "<" not in text and "](" not in text and "]:" not in text:
        return text  # the common case: nothing to look at
    if "\r" in text:  # a lone \r ends a line too (as renderers read it)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = _LINES.findall(text)  # (only \n ends a line here: str.splitlines also cuts at \x1e, \x85...)
    # fences are trusted only when every fence-like line starts at the margin: those are surely
    # top-level, opened and closed alike by every renderer; a fence in a list or a quote, or
    # indented, could be read otherwise, so then no line is kept as code
    trusted = not any(_NESTED_FENCE.match(line) for line in lines)
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        if fence is not None:
            out.append(line)
            marker = _CLOSER.match(line)
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
            continue
        marker = _OPENER.match(line) if trusted else None
        if marker and not (marker.group(1)[0] == "`" and "`" in marker.group(2)):
            out.append(line)
            fence = marker.group(1)
            continue
        out.append(_prose(line))
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
    """A line outside code: what could open a tag made text, link targets checked. A zero-width
    space after a ``<`` that precedes a letter, ``/``, ``!`` or ``?`` (``a < b`` is untouched):
    no tag, comment, HTML block or autolink can start, and it reads the same in prose and in a
    code span or indented code block (where ``&lt;`` would show as such)."""
    return _check_targets(_TAG_START.sub("<\u200b", text))


def _check_targets(text: str) -> str:
    text = _INLINE_DEST.sub(lambda m: m.group(1) + (m.group(2) if safe_target(m.group(2)) else BLOCKED), text)
    return _REF_DEF.sub(lambda m: m.group(1) + (m.group(2) if safe_target(m.group(2)) else BLOCKED), text)
