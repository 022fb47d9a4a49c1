"""One answer in the chat panel's log, drawn so that a long streamed answer stays light.

Through the widget channel, setting an Output's ``outputs`` re-sends all of them: re-drawing the
whole answer on each update sent about 80x the answer's size for a 30 KB answer. Here finished
Markdown blocks (:mod:`poe_magic.core.markdown_blocks`) are frozen, a group at a time, into
their own small Output widgets that are sent once; only the open tail (plus the footer) is
re-sent on each update, and a huge open tail (one long code block) only once it grew enough.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from poe_magic.core.answer_display import markdown_bundle
from poe_magic.core.markdown_blocks import MarkdownBlocks

#: finished blocks are frozen once they add up to this many characters (a short answer stays one
#: output, a long one is not cut into hundreds of widgets)
MIN_PART = 400
#: an open tail longer than this (one huge code block) is re-sent only once it grew by 1/TAIL_GROWTH
TAIL_FREE, TAIL_GROWTH = 4096, 8


#: frozen parts per group: the log's children list (re-sent whole when it changes) stays short
GROUP = 16


def markdown_output(text: str, footer: str = "", plain: bool = True) -> dict[str, Any]:
    """An Output-widget entry showing ``text`` as Markdown (with an optional small footer);
    ``plain=False`` leaves out the text/plain copy (live parts: every frontend with widgets
    renders Markdown, and the copy would double the traffic)."""
    data = markdown_bundle(text, footer)
    if not plain:
        data.pop("text/plain", None)
    return {"output_type": "display_data", "data": data, "metadata": {}}


class TurnView:
    """The answer's widgets: ``box`` (bordered) holds the frozen parts, then the open tail."""

    def __init__(self) -> None:
        self.frozen = w.VBox()
        self.tail = w.Output()
        self.box = w.VBox([self.frozen, self.tail], layout=w.Layout(
            border_left="3px solid #5d5cde", padding="0 0 0 10px", margin="0 0 10px 0"))
        self.box.add_class("poe-chat-answer")
        self._blocks = MarkdownBlocks()
        self._pending = ""  # finished blocks not frozen yet (they wait for MIN_PART characters)
        self._sent_tail = 0  # length of the tail last sent

    def show_whole(self, text: str, footer: str = "") -> None:
        """A finished answer drawn at once (an earlier turn of the thread)."""
        self.tail.outputs = (markdown_output(text, footer),)

    def render(self, text: str, footer: str, final: bool = False) -> None:
        """Show ``text`` (the whole answer so far): new finished blocks once, then the tail."""
        split = self._blocks.feed(text)
        if split.reset:  # the answer was replaced: start over (the split already did)
            self.frozen.children, self._pending, self._sent_tail = (), "", 0
        self._pending += "".join(split.new_blocks)
        if len(self._pending) >= MIN_PART or (final and self._pending):
            self._freeze(w.Output(outputs=(markdown_output(self._pending, plain=False),)))
            self._pending, self._sent_tail = "", 0
        tail = self._pending + split.tail
        if not final and len(tail) > TAIL_FREE and len(tail) < self._sent_tail * (1 + 1 / TAIL_GROWTH):
            return  # one long block still growing: wait until it grew by a good part
        self._sent_tail = len(tail)
        self.tail.outputs = (markdown_output(tail, footer, plain=final),)

    def _freeze(self, part: Any) -> None:
        """Add a frozen part: to the newest group, or to a new group once that one is full."""
        groups = self.frozen.children
        if not groups or len(groups[-1].children) >= GROUP:
            self.frozen.children = (*groups, w.VBox([part]))
        else:
            groups[-1].children = (*groups[-1].children, part)
