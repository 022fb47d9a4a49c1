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

MAX_RATIO = 8  # bytes sent to the frontend per byte of answers, at most (a comparison)
ANSWER_RATIO = 4  # the same for one answer (issue 26: ~3x; the benchmark has the figures)


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


def final_answer(outputs: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """The answer as the saved outputs show it: every output's Markdown but the footer's, in order."""
    return "".join(data.get("text/markdown", "") for data, _ in outputs[:-1])


def test_a_long_slow_answer_costs_a_few_times_its_size_and_ends_exact(kernel: Kernel) -> None:
    expected = tokens_text(30)
    result = kernel.run_ok("%%poe LongBot -o long_reply\nkb=30 seconds=10", timeout=180)
    assert kernel.value("long_reply.text") == expected  # Reply.text is exact
    sent = traffic(result)
    assert sent <= ANSWER_RATIO * len(expected), f"{sent} bytes for a {len(expected)}-byte answer"
    outputs = answer_outputs(result)
    assert 10 < len(outputs) < 40  # the answer was shown block by block, in few outputs...
    # ...and in the end reads as one answer: the frozen parts then the tail, Markdown alone, then
    # the footer with the metadata as its own output (so a late cost re-sends only the footer)
    assert final_answer(outputs) == expected
    assert all(set(data) == {"text/markdown"} for data, _ in outputs)  # the footer too
    assert not any(meta for _, meta in outputs[:-1])
    foot, foot_meta = outputs[-1]
    assert foot["text/markdown"].startswith("<sub>LongBot ·")
    assert foot_meta["poe_magic"]["model"] == "LongBot" and foot_meta["poe_magic"]["status"] == "ok"
    times = update_times(result)
    gaps = [b - a for a, b in zip(times[1:], times[2:])]  # (from the first text on)
    assert len(times) / (times[-1] - times[0]) >= 1 and max(gaps) < 1.5, "live updates stalled"


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


def test_frozen_parts_stay_few_are_sent_once_and_join_to_the_text() -> None:
    """However long the answer, it needs few outputs (JupyterLab hides a cell's outputs past 50);
    each frozen part is sent once, and the parts then the tail are always the text, exactly."""
    from poe_magic.core.frozen_parts import MIN_PART, LivePlan

    text = long_markdown(300 * 1024)
    plan, shown, frozen_sent = LivePlan(), [""], 0  # shown: what each output shows
    for end in range(0, len(text) + 300, 300):  # one update per 300 characters
        step = plan.step(text[:end], end / 300)
        for i, part in step.parts:
            assert i == len(shown) - 1  # a new part takes the tail's place: parts are never re-sent
            shown[i] = part
            frozen_sent += len(part)
        del shown[step.tail_index:]
        shown.append(step.tail)
        assert "".join(shown) == text[:end]
    assert len(shown) <= 45 and frozen_sent == len("".join(shown[:-1]))
    assert LivePlan().step("x" * (MIN_PART - 10) + "\n\ny\n", 0).parts == []  # a short answer: one output


def test_updates_are_paced_by_their_worth_and_at_least_every_floor() -> None:
    """An update waits until the new text is worth its bytes, never longer than FLOOR while the
    tail is small; nothing is due once the text is shown; the first display waits FIRST_HOLD."""
    from poe_magic.core.frozen_parts import FIRST_HOLD, FLOOR, LivePlan

    plan = LivePlan()
    assert plan.due("Hello", 10.0) == pytest.approx(FIRST_HOLD)
    plan.step("Hello", 10.0 + FIRST_HOLD)
    assert plan.due("Hello", 11.0) is None
    assert plan.due("Hello, world", 10.1) == pytest.approx(FLOOR - FIRST_HOLD - 0.1 + 0.1, abs=0.2)
    assert plan.due("Hello" + " word" * 400, 10.1) == 0  # 2 KB new: worth sending at once


def test_a_replaced_long_answer_ends_as_the_replacement_only(kernel: Kernel) -> None:
    """``is_replace_response`` halfway through a long answer: the frozen blocks of the first
    half go, and the final output is exactly the replacement and what followed it."""
    from poe_magic.server.bots.long import REPLACED, tokens

    pieces = tokens(tokens_text(8))
    expected = REPLACED + "".join(pieces[len(pieces) // 2:])
    result = kernel.run_ok("%%poe LongBot -o replaced\nkb=8 seconds=3 replace=1", timeout=120)
    assert kernel.value("replaced.text") == expected
    outputs = answer_outputs(result)
    assert final_answer(outputs) == expected  # the parts of the first half emptied, the rest exact
    assert "Part 1:" not in final_answer(outputs)  # the first half is gone
    assert outputs[-1][0]["text/markdown"].startswith("<sub>LongBot ·")  # the footer, its own output


def test_the_saved_notebook_renders_one_answer_in_nbconvert_html(kernel: Kernel) -> None:
    """The cell's final outputs, saved as a notebook and exported by nbconvert (what GitHub and
    nbviewer do too): the answer once, whole and in order, with its footer."""
    import nbformat
    from nbconvert import HTMLExporter, MarkdownExporter

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
    assert [h for h in headings if html.count(f">{h}<") != 1] == []  # every heading once...
    assert [html.index(f">{h}<") for h in headings] == sorted(html.index(f">{h}<") for h in headings)  # in order
    assert html.count("<h2") == len(headings) and "LongBot ·" in html and "```" not in html
    markdown, _ = MarkdownExporter().from_notebook_node(nb)  # (what GitHub-like readers get as text)
    squashed = re.sub(r"\n{3,}", "\n\n", markdown)  # (nbconvert puts blank lines between outputs)
    assert re.sub(r"\n{3,}", "\n\n", expected.strip()) in squashed and "LongBot ·" in markdown


def test_text_held_back_shows_during_a_pause_and_the_first_text_at_once(kernel: Kernel) -> None:
    """An update may be held back until enough text is new; when the model then pauses (here
    3 s, halfway), a timer shows it within FLOOR: nothing that arrived stays hidden."""
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
