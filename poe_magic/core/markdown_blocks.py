"""Split growing Markdown into finished blocks and the open tail, incrementally.

A live view of a streamed answer re-renders only its *open tail* and shows each *finished block*
once: that keeps the traffic to a frontend, and the rendering work in it, linear in the answer.
A block is finished once a later block has started, i.e. when, outside a code fence, a math
block (``$$``) or a raw HTML block that may contain blank lines (``<pre>``, ``<!--``...), a
complete line that is not indented follows a blank line. A list stays one block (a blank line
followed by another item continues it), and a table always ends at a blank line, so no block
is cut inside a fence, a table or a list item; rendered block by block, the text reads as the
whole would (reference-style links defined in a later block are the rare exception).

Each :meth:`MarkdownBlocks.feed` scans only the complete lines added since the previous call,
so a growing answer costs O(new text) per call (plus a memcmp that the text still extends what
was seen; when it does not, e.g. a bot replaced its answer, the split starts over).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r" {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
_MATH = re.compile(r" {0,3}\$\$")
# raw HTML blocks that may contain blank lines, and what ends them (CommonMark block types 1-2)
_HTML_OPEN = re.compile(r" {0,3}<(pre|script|style|textarea|!--)", re.IGNORECASE)
_HTML_END = {"pre": "</pre>", "script": "</script>", "style": "</style>", "textarea": "</textarea>", "!--": "-->"}


@dataclass
class Split:
    """What one :meth:`MarkdownBlocks.feed` found."""

    new_blocks: list[str]  # blocks finished since the previous call, in order
    tail: str  # the open text after the last finished block ('' when none)
    done: int  # offset in the text where the finished blocks end
    reset: bool = False  # the text no longer extends the previous one: earlier blocks are void
    blocks: list[str] = field(default_factory=list)  # every finished block so far (shared list)


class MarkdownBlocks:
    """Feed it the whole text so far, as it grows; it tells which blocks are finished."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.blocks: list[str] = []  # finished blocks, their concatenation = text[:done]
        self.done = 0  # end of the finished blocks
        self._seen = ""  # text[:_pos], to check that the next text extends it
        self._pos = 0  # scanned up to here (always a line start)
        self._closer: str | None = None  # what ends the open fence / math / HTML block
        self._fence = ""  # the open fence's marker (a closing fence is at least as long)
        self._after_blank = False
        self._in_list = False  # the open block holds a list item: a later item continues it

    def feed(self, text: str) -> Split:
        """Split ``text`` (the whole answer so far)."""
        reset = not text.startswith(self._seen)
        if reset:
            self.reset()
        start = len(self.blocks)
        pos, cut = self._pos, self.done
        while True:
            end = text.find("\n", pos)
            if end < 0:
                break  # the last line is still growing
            if self._starts_block(text, pos, end + 1) and pos > cut:
                self.blocks.append(text[cut:pos])
                cut = pos
            pos = end + 1
        self.done, self._pos = cut, pos
        self._seen = text[:pos]
        return Split(self.blocks[start:], text[cut:], cut, reset, self.blocks)

    def _starts_block(self, text: str, start: int, end: int) -> bool:
        """Scan one complete line; True when a new block starts at it."""
        line = text[start:end]
        if self._closer is not None:  # inside a fence, math or HTML block: only its end matters
            if self._closer == "fence":
                if (m := _FENCE.match(line)) and m.group(1)[0] == self._fence[0] \
                        and len(m.group(1)) >= len(self._fence) and not line[m.end():].strip():
                    self._closer = None
            elif self._closer in line:
                self._closer = None
            return False
        if not line.strip():
            self._after_blank = True
            return False
        item = bool(_LIST_ITEM.match(line))
        new = self._after_blank and line[0] not in " \t" and not (item and self._in_list)
        self._after_blank = False
        if new:
            self._in_list = False
        self._in_list = self._in_list or item
        self._open_container(line)
        return new

    def _open_container(self, line: str) -> None:
        if m := _FENCE.match(line):
            self._closer, self._fence = "fence", m.group(1)
        elif m := _MATH.match(line):
            if "$$" not in line[m.end():]:
                self._closer = "$$"
        elif m := _HTML_OPEN.match(line):
            closer = _HTML_END[m.group(1).lower()]
            if closer not in line[m.end():]:
                self._closer = closer


def split_blocks(text: str) -> tuple[list[str], str]:
    """The finished blocks of a whole ``text`` and its open tail (``"".join(blocks) + tail == text``)."""
    split = MarkdownBlocks().feed(text)
    return split.blocks, split.tail


__all__ = ["MarkdownBlocks", "Split", "split_blocks"]
