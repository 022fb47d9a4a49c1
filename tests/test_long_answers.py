"""Long answers stay light (issue 19): Markdown split into finished blocks and an open tail,
and (kernel tests) the traffic of a long slow stream to the frontend stays linear in the answer."""

from __future__ import annotations

import json
import random
import re
from datetime import datetime
from typing import Any

import pytest
from harness import Kernel

from poe_magic.core.markdown_blocks import MarkdownBlocks, split_blocks
from poe_magic.core.markdown_html import markdown_to_html
from poe_magic.server.bots.long import long_markdown

LONG = """# Heading one

A first paragraph with **bold** text
that wraps over two lines.

- item one
- item two

- item three, after a blank line (a loose list stays one block)
  with a continuation line

    indented code inside the list

1. first
2. second

| a | b |
|---|---|
| 1 | 2 |

```python
def f():

    return 1  # a blank line above, inside the fence

x = 2
```

~~~
tilde fence

not a block
~~~

$$
a = b

c = d
$$

<pre>
raw

html
</pre>

## Heading two

    indented code

    more indented code

Last paragraph.
"""


def _blocks(text: str) -> list[str]:
    blocks, tail = split_blocks(text)
    return blocks + ([tail] if tail else [])


def test_blocks_join_to_the_exact_text_and_cut_nowhere_inside_a_container() -> None:
    blocks = _blocks(LONG)
    assert "".join(blocks) == LONG
    starts = [b.splitlines()[0] for b in blocks]
    # (a list right after a list stays in its block: cutting there is never needed)
    assert starts == ["# Heading one", "A first paragraph with **bold** text", "- item one", "| a | b |", "```python", "~~~", "$$", "<pre>", "## Heading two", "Last paragraph."]
    for block in blocks:  # every fence opened in a block is closed in it
        assert block.count("```") % 2 == 0 and block.count("~~~") % 2 == 0 and block.count("$$") % 2 == 0
    assert "indented code inside the list" in blocks[2]  # the list keeps its indented children


def test_feeding_in_random_pieces_gives_the_same_blocks_as_one_call() -> None:
    whole = _blocks(LONG)
    rng = random.Random(19)
    for _ in range(200):
        splitter, text, found = MarkdownBlocks(), "", []
        while len(text) < len(LONG):
            text = LONG[:len(text) + rng.randint(1, 40)]
            split = splitter.feed(text)
            assert not split.reset
            found.extend(split.new_blocks)
            assert "".join(found) + split.tail == text and split.done == len(text) - len(split.tail)
        assert found + [split.tail] == whole


def test_each_block_renders_as_its_part_of_the_whole() -> None:
    """Rendered one by one, the blocks give the same HTML as the whole (what a reader sees)."""
    pytest.importorskip("mistune")
    text = LONG.replace("\n- item three", "\n\nPara.\n\n- item three")  # (a loose list renders <p>s)
    parts = "".join(markdown_to_html(b) for b in _blocks(text))
    assert parts.replace("\n", "") == markdown_to_html(text).replace("\n", "")


def test_a_replaced_text_starts_over() -> None:
    splitter = MarkdownBlocks()
    first = splitter.feed("one\n\ntwo\n\nthree")
    assert first.new_blocks == ["one\n\n"] and first.tail == "two\n\nthree"  # "three" may still grow
    assert splitter.feed("one\n\ntwo\n\nthree\n").new_blocks == ["two\n\n"]
    again = splitter.feed("ONE\n\ntwo\n\n")
    assert again.reset and again.new_blocks == ["ONE\n\n"] and again.tail == "two\n\n"
    assert splitter.blocks == ["ONE\n\n"]


def test_the_work_per_call_is_the_new_text_only() -> None:
    """A 400 KB answer fed in 20-byte steps: each call scans only the new lines (a quadratic
    scan would take minutes, this takes well under a second of work per 100 KB)."""
    text = ("A sentence of an ordinary paragraph that goes on. " * 4 + "\n\n") * 2000
    splitter, scanned = MarkdownBlocks(), 0
    calls = 0
    for end in range(20, len(text) + 20, 20):
        before = splitter._pos
        splitter.feed(text[:end])
        scanned += splitter._pos - before
        calls += 1
    assert scanned == len(text) and len(splitter.blocks) == 1999 and calls > 20_000


@pytest.mark.parametrize("text", ["", "no newline yet", "\n\n\n", "```\nopen fence\n\nstill open\n",
                                  "- a\n\n- b\n\n  c\n\n- d\n", "nan\n\ninf\n\n" + "x" * 100_000])
def test_odd_texts_split_losslessly(text: str) -> None:
    assert "".join(_blocks(text)) == text
    if text.startswith("```"):
        assert split_blocks(text)[0] == []  # an open fence is never cut


# --- kernel tests: the traffic of a long slow stream (issue 19) ---------------------------------

MAX_RATIO = 8  # bytes sent to the frontend per byte of answer, at most


def traffic(result: Any) -> int:
    """Bytes of every display message's content (data, metadata, display id) the cell sent:
    what the frontend receives and renders, envelopes aside."""
    return sum(len(json.dumps(m["content"])) for m in result.of_type("display_data", "update_display_data"))


def answer_outputs(result: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(final data, final metadata) of each display, in the order they were first shown."""
    shown: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for m in result.of_type("display_data", "update_display_data"):
        content = m["content"]
        key = content.get("transient", {}).get("display_id") or str(len(shown))
        shown[key] = (content["data"], content.get("metadata") or {})
    return list(shown.values())


def update_times(result: Any) -> list[float]:
    """Arrival times (s, kernel clock) of the cell's display messages."""
    return [m["header"]["date"].timestamp() if hasattr(m["header"]["date"], "timestamp")
            else datetime.fromisoformat(str(m["header"]["date"])).timestamp()
            for m in result.of_type("display_data", "update_display_data")]


def test_a_long_slow_answer_costs_a_few_times_its_size_and_ends_exact(kernel: Kernel) -> None:
    expected = tokens_text(30)
    result = kernel.run_ok("%%poe LongBot -o long_reply\nkb=30 seconds=10", timeout=180)
    assert kernel.value("long_reply.text") == expected  # Reply.text is exact
    sent = traffic(result)
    assert sent <= MAX_RATIO * len(expected), f"{sent} bytes for a {len(expected)}-byte answer"
    outputs = answer_outputs(result)
    assert len(outputs) > 10  # the answer was shown block by block while it streamed...
    (data, meta), blanks, (foot, foot_meta) = outputs[0], outputs[1:-1], outputs[-1]
    # ...and in the end reads as one answer: one output with the exact answer, then the footer
    # with the metadata as its own output (so a late cost re-sends only the footer: issue 26)
    assert data["text/markdown"].rstrip() == expected.rstrip() and data["text/plain"] == expected and not meta
    assert foot["text/plain"].startswith("LongBot ·") and "LongBot ·" in foot["text/markdown"]
    assert foot_meta["poe_magic"]["model"] == "LongBot" and foot_meta["poe_magic"]["status"] == "ok"
    assert all(d == {"text/plain": ""} and not m for d, m in blanks)  # the block outputs emptied
    times = update_times(result)
    gaps = [b - a for a, b in zip(times[1:], times[2:])]  # (from the first text on)
    assert len(times) / (times[-1] - times[0]) >= 2 and max(gaps) < 1.5, "live updates stalled"


def tokens_text(kb: float, seed: int = 19) -> str:
    return long_markdown(int(kb * 1024), seed)


def test_a_long_slow_comparison_costs_a_few_times_its_answers(kernel: Kernel) -> None:
    expected = {"LongBot": tokens_text(15), "LongBot-B": tokens_text(15, seed=20)}
    result = kernel.run_ok("%%poe LongBot LongBot-B -o long_cmp\nkb=15 seconds=10", timeout=180)
    assert kernel.value("{m: r.text for m, r in long_cmp.replies.items()}") == expected
    size = sum(map(len, expected.values()))
    sent = traffic(result)
    assert sent <= MAX_RATIO * size, f"{sent} bytes for {size} bytes of answers"
    (final, _), (table, meta) = answer_outputs(result)  # the static grid, then the summary table
    assert "<table" in table["text/html"] and "LongBot-B" in table["text/plain"]
    plain = final["text/plain"]
    assert all(f"== {m} ==\n{text}\n-- " in plain for m, text in expected.items())  # the exact answers
    assert final["text/html"].count("<pre") >= expected["LongBot"].count("```python") * 2
    assert "characters above" not in final["text/html"]  # the live windows are gone: answers whole
    assert meta["poe_magic"]
    times = update_times(result)
    gaps = [b - a for a, b in zip(times[1:], times[2:])]
    assert len(times) / (times[-1] - times[0]) >= 2 and max(gaps) < 1.5, "live updates stalled"


def test_frozen_parts_stay_few_and_join_to_the_text() -> None:
    """However many blocks a long answer has, it needs few outputs (JupyterLab hides a cell's
    outputs past 50), and the parts shown are always the text's finished part, exactly."""
    from poe_magic.core.frozen_parts import MIN_PART, FrozenParts

    text = long_markdown(300 * 1024)
    frozen, most, sent = FrozenParts(), 0, 0
    for end in range(0, len(text) + 300, 300):  # one update per 300 characters
        parts, levels, tail = frozen.layout(text[:end])
        assert "".join(parts) + tail == text[:end]
        sent += sum(len(p) for i, p in enumerate(parts) if i >= len(frozen.parts) or p != frozen.parts[i])
        frozen.accept(parts, levels)
        most = max(most, len(parts) + 1)
    assert most <= 30 and len(frozen.parts) > 3
    assert sent <= 4 * len(text)  # each character re-sent once per merge level at most
    assert FrozenParts().layout("x" * (MIN_PART - 10) + "\n\ny\n")[0] == []  # a short answer: one output


def test_a_replaced_long_answer_ends_as_the_replacement_only(kernel: Kernel) -> None:
    """``is_replace_response`` halfway through a long answer: the frozen blocks of the first
    half go, and the final output is exactly the replacement and what followed it."""
    from poe_magic.server.bots.long import REPLACED, tokens

    pieces = tokens(tokens_text(8))
    expected = REPLACED + "".join(pieces[len(pieces) // 2:])
    result = kernel.run_ok("%%poe LongBot -o replaced\nkb=8 seconds=3 replace=1", timeout=120)
    assert kernel.value("replaced.text") == expected
    (data, meta), *rest, (foot, _) = answer_outputs(result)
    assert data["text/plain"] == expected and data["text/markdown"].startswith(expected)
    assert "Part 1:" not in data["text/markdown"]  # the first half is gone
    assert rest and all(d == {"text/plain": ""} for d, _ in rest)
    assert foot["text/plain"].startswith("LongBot ·")  # the footer, its own output


def test_the_saved_notebook_renders_one_answer_in_nbconvert_html(kernel: Kernel) -> None:
    """The cell's final outputs, saved as a notebook and exported by nbconvert (what GitHub and
    nbviewer do too): the answer once, whole, with its footer; the emptied outputs add nothing."""
    import nbformat
    from nbconvert import HTMLExporter

    expected = tokens_text(8)
    result = kernel.run_ok("%%poe LongBot\nkb=8 seconds=3", timeout=120)
    outputs = answer_outputs(result)
    assert len(outputs) > 2
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%%poe LongBot\nkb=8 seconds=3", outputs=[
        nbformat.v4.new_output("display_data", data=data, metadata=meta) for data, meta in outputs])]
    nbformat.validate(nb)
    html, _ = HTMLExporter().from_notebook_node(nb)
    headings = re.findall(r"^## (.+)$", expected, re.M)
    assert [h for h in headings if html.count(f">{h}<") != 1] == []  # every heading once
    assert html.count("<h2") == len(headings) and "LongBot ·" in html and "```" not in html


def test_text_held_back_shows_during_a_pause_and_the_first_text_at_once(kernel: Kernel) -> None:
    """An update may be held back until enough text is new; when the model then pauses (here
    3 s, halfway), a timer shows it within MAX_WAIT: nothing that arrived stays hidden."""
    from poe_magic.server.bots.long import tokens

    pieces = tokens(tokens_text(6))
    before_pause = "".join(pieces[:len(pieces) // 2])
    result = kernel.run_ok("%%poe LongBot\nkb=6 seconds=2 pause=3", timeout=120)
    messages = result.of_type("display_data", "update_display_data")
    times = update_times(result)
    gap = max(range(1, len(times)), key=lambda i: times[i] - times[i - 1])
    assert times[gap] - times[gap - 1] > 1.5  # the pause...
    shown = {}  # display id -> what it showed just before the pause ended
    for m in messages[:gap]:
        shown[m["content"]["transient"]["display_id"]] = m["content"]["data"]
    text = "".join(d.get("text/markdown", "").split("\n\n<sub>")[0] for d in shown.values())
    assert text.removesuffix("\n```") == before_pause  # ...came after all the text before it was shown
    first = next(i for i, m in enumerate(messages) if m["content"]["data"].get("text/markdown", "").strip()
                 and not m["content"]["data"]["text/markdown"].startswith("\n\n<sub>"))
    assert times[first] - times[0] < 1.5  # the first text did not wait for more (its chunk comes at once)
