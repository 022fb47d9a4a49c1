"""When a streaming answer's display sends what: frozen parts sent once, the open tail paced.

An answer is shown by a run of outputs of its cell: finished Markdown blocks
(:mod:`poe_magic.core.markdown_blocks`) frozen into *parts*, each an output sent once and never
again (not even at the end: the parts, then the tail, are the saved answer), and the *open tail*
after them, sent again as it grows. What each update costs the frontend is the tail plus a
message envelope (several hundred bytes with the Jupyter header), so :class:`LivePlan` budgets
them (issue 26: at most ~3x the answer in all):

- an update is sent when the text grew by 1/:data:`GROWTH` of what it would send, and at least
  every :data:`FLOOR` s while text arrives (it still reads live at 100 tokens/s; a tail past
  :data:`TAIL_FREE` characters, late in a very long answer, waits longer in proportion);
- finished blocks are frozen once they add up to :data:`MIN_PART` characters, or a
  1/:data:`FAN` of what is frozen already: parts grow geometrically, so a long answer needs few
  outputs (JupyterLab hides those past its ``maxNumberOutputs``, 50 by default: ~30 for 100 KB,
  ~42 for 300 KB) while the tail stays small for most of it;
- the first display waits :data:`FIRST_HOLD` s: a short answer done by then is one message.

Once the answer ended (:meth:`LivePlan.release`) the plan keeps offsets and hashes, no text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from poe_magic.core.markdown_blocks import MarkdownBlocks

#: finished blocks are frozen once they add up to this many characters (and 1/FAN of the frozen)
MIN_PART, FAN = 1200, 10
#: an update goes out once the new text is worth 1/GROWTH of its bytes (tail + ENVELOPE)...
GROWTH, ENVELOPE = 2.2, 600  # 2.5 let a 1 KB answer at 600 tokens/s reach 3.1x when an update fell just before its end
#: ...or FLOOR s after the last one while text arrives (longer for a tail past TAIL_FREE
#: characters: late in a very long answer, or one huge code block)
FLOOR, TAIL_FREE = 1.0, 1200  # 1500 sent 3.2x for 100 KB at 100 tokens/s (benchmarks traffic), 1200: 2.8x
#: seconds the first display waits for more (a short answer finished by then: one message)
FIRST_HOLD = 0.05


@dataclass
class Step:
    """What to send now: ``parts`` (output index, text) newly frozen, outputs from ``blank_from``
    on emptied (a replaced answer needs fewer), then the ``tail`` as output ``len(frozen)``."""

    parts: list[tuple[int, str]] = field(default_factory=list)
    blank_from: int | None = None
    tail: str = ""
    tail_index: int = 0


class LivePlan:
    """Feed it the whole text so far with the time; it says what to send, if anything."""

    def __init__(self, blockwise: bool = True) -> None:
        self.blockwise = blockwise
        self._splitter = MarkdownBlocks()
        self.ends: list[int] = []  # where each frozen part ends in the text
        self._hashes: list[int] = []  # each part's hash: a replaced answer voids the parts it changed
        self.sent_len = -1  # length of the text last shown (-1: nothing shown)
        self.sent_at = 0.0
        self.first_at: float | None = None  # when text first came (the first display waits a little)

    @property
    def frozen(self) -> int:
        return self.ends[-1] if self.ends else 0

    def due(self, text: str, now: float) -> float | None:
        """Seconds until ``text`` must be shown (0: now), None when it is already shown."""
        if len(text) == self.sent_len and self.sent_len >= 0:
            return None
        if self.sent_len <= 0:  # none of the answer shown yet (at most "waiting for the first token")
            if self.first_at is None:
                self.first_at = now
            return max(0.0, self.first_at + FIRST_HOLD - now)
        if len(text) < self.sent_len:
            return 0.0
        tail = len(text) - self._freeze_at(text)  # what the update would send
        if (len(text) - self.sent_len) * GROWTH >= tail + ENVELOPE:
            return 0.0
        return max(0.0, self.sent_at + FLOOR * max(1.0, tail / TAIL_FREE) - now)

    def _freeze_at(self, text: str) -> int:
        """Where the frozen parts would end if ``text`` were shown now."""
        start = self.frozen
        if not self.blockwise:
            return start
        split = self._splitter.feed(text)
        if split.reset:
            return 0
        return split.done if split.done - start >= max(MIN_PART, start // FAN) else start

    def step(self, text: str, now: float, final: bool = False) -> Step:
        """What to send for ``text`` (call when :meth:`due` says 0, or with ``final``)."""
        out = Step()
        split = self._splitter.feed(text) if self.blockwise else None
        if split is None or split.reset:  # the answer was replaced: the parts it changed are void
            kept = self._kept(text)
            if kept < len(self.ends):
                del self.ends[kept:], self._hashes[kept:]
                out.blank_from = kept + 1
        start = self.frozen
        done = split.done if split is not None else start
        if not final and done - start >= max(MIN_PART, start // FAN):
            out.parts.append((len(self.ends), text[start:done]))
            self.ends.append(done)
            self._hashes.append(hash(text[start:done]))
        out.tail, out.tail_index = text[self.frozen:], len(self.ends)
        self.sent_len, self.sent_at = len(text), now
        return out

    def release(self) -> None:
        """Forget the text seen (the answer ended; the parts' offsets and hashes stay, for a redraw)."""
        self._splitter = MarkdownBlocks()

    def _kept(self, text: str) -> int:
        """How many frozen parts ``text`` still starts with."""
        start = 0
        for i, (end, digest) in enumerate(zip(self.ends, self._hashes)):
            if end > len(text) or hash(text[start:end]) != digest:
                return i
            start = end
        return len(self.ends)


__all__ = ["ENVELOPE", "FAN", "FIRST_HOLD", "FLOOR", "GROWTH", "MIN_PART", "LivePlan", "Step"]
