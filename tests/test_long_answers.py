"""Long answers stay light (issue 19): Markdown split into finished blocks and an open tail,
and (kernel tests) the traffic of a long slow stream to the frontend stays linear in the answer."""

from __future__ import annotations

import random

import pytest

from poe_magic.core.markdown_blocks import MarkdownBlocks, split_blocks
from poe_magic.core.markdown_html import markdown_to_html

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
