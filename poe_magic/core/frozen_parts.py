"""How a streaming answer is laid out over a few outputs: frozen parts, then the open tail.

Finished Markdown blocks (:mod:`poe_magic.core.markdown_blocks`) are frozen into parts, each
shown by an output of its own and sent once; only the open tail is sent again. JupyterLab hides a
cell's outputs past its ``maxNumberOutputs`` (50 by default) behind "Show more outputs", so the
parts are kept few the way a log-structured merge keeps files few: when :data:`FAN` parts of one
level follow each other at the end they are merged into one part of the next level (re-sent once
as a whole). Each character is then re-sent once per level, ``log_FAN(parts)`` times at most
(a 100 KB answer frozen in ~100 parts: once or twice), and an answer needs at most
``levels * (FAN - 1) + 2`` outputs (24 up to ~1,700 parts, 35 up to ~20,000).
"""

from __future__ import annotations

from poe_magic.core.markdown_blocks import MarkdownBlocks

#: finished blocks are frozen once they add up to this many characters: a short answer stays one
#: output, and fewer, larger parts mean fewer messages (each costs ~0.5 KB of envelope) and merges
MIN_PART = 1000
#: parts of one level merged into one of the next
FAN = 12


class FrozenParts:
    """Feed it the whole text so far; it says which parts to show and what the tail is."""

    def __init__(self) -> None:
        self._splitter = MarkdownBlocks()
        self.parts: list[str] = []  # what the frozen outputs show, in order (after accept())
        self.levels: list[int] = []

    def layout(self, text: str) -> tuple[list[str], list[int], str]:
        """(parts, their levels, the open tail) for ``text``; :meth:`accept` them once shown.

        Parts already shown that ``text`` still starts with are kept; the blocks finished since
        become one new part (when ``text`` replaced part of the answer, the rest becomes one)."""
        done = self._splitter.feed(text).done
        kept, pos = 0, 0
        for part in self.parts:
            if pos + len(part) > done or not text.startswith(part, pos):
                break
            kept, pos = kept + 1, pos + len(part)
        parts, levels = self.parts[:kept], self.levels[:kept]
        if done - pos >= MIN_PART or (done > pos and kept < len(self.parts)):
            parts.append(text[pos:done])
            levels.append(0)
            _merge(parts, levels)
        else:
            done = pos  # nothing (new) to freeze yet: it stays in the tail
        return parts, levels, text[done:]

    def accept(self, parts: list[str], levels: list[int]) -> None:
        self.parts, self.levels = parts, levels

    def whole(self, text: str) -> None:
        """The answer is shown whole, as one part (the final state)."""
        self.parts, self.levels = [text], [99]


def _merge(parts: list[str], levels: list[int]) -> None:
    """Merge runs of :data:`FAN` trailing parts of one level into one part of the next."""
    while len(levels) >= FAN and len(set(levels[-FAN:])) == 1:
        level = levels[-1]
        parts[-FAN:] = ["".join(parts[-FAN:])]
        levels[-FAN:] = [level + 1]


__all__ = ["FAN", "MIN_PART", "FrozenParts"]
