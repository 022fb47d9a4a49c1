"""Issue 18 polish that needs no kernel: daily charts ticked on whole days, help tables with
escaped pipes, the `?` transformer's rewrite, the batch bar's wording."""

from __future__ import annotations

from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from poe_magic.batches.progress import BatchProgress  # noqa: E402
from poe_magic.magics.transformer import keep_question_marks  # noqa: E402
from poe_magic.spending.history import to_frame  # noqa: E402
from poe_magic.spending.plots import plot_spending  # noqa: E402

DAY = 86_400 * 1_000_000


@pytest.mark.parametrize("days", [2, 3, 9, 40])
def test_daily_chart_ticks_whole_days_only(days: int) -> None:
    start = int(datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)
    frame = to_frame({"creation_time": [start + d * DAY + 9 * 3_600_000_000 for d in reversed(range(days))],
                      "bot_name": ["A"] * days, "query_id": [f"q{d}" for d in range(days)],
                      "usage_type": ["API"] * days, "cost_points": [10] * days})
    ax = plot_spending(frame, by="day")
    ax.figure.canvas.draw()
    ticks = [mdates.num2date(t) for t in ax.get_xticks()]
    assert ticks and all((t.hour, t.minute) == (0, 0) for t in ticks), ticks
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert not any(":" in text for text in labels), labels  # never "12:00" under a daily bar
    assert len(ticks) <= 11
    plt.close("all")


def test_question_mark_transformer_rewrites_only_poe_questions() -> None:
    rewritten = keep_question_marks(["%poe what is a 'closure'?\n"])
    assert rewritten == ['get_ipython().run_line_magic(\'poe\', "what is a \'closure\'?")\n']
    assert keep_question_marks(["%poe?\n"]) == ["%poe?\n"]
    assert keep_question_marks(["%poe models?\n"]) == ["%poe models?\n"]
    assert keep_question_marks(["x?\n"]) == ["x?\n"]
    assert keep_question_marks(["%%poe EchoBot\n", "%poe inside a cell body?\n"])[1] == "%poe inside a cell body?\n"
    assert keep_question_marks(["%poe no question mark\n"]) == ["%poe no question mark\n"]


def test_stopped_batch_bar_never_reads_as_all_done() -> None:
    bar = BatchProgress("batch", 8, 0, 0, 0, 0, 3.0, None, state="cancelled", not_sent=6, interrupted=2)
    assert bar.text().startswith("batch: 0/8 done · 2 interrupted · 6 not sent")
    assert 'title="not sent: 6"' in bar.html() and 'title="failed' not in bar.html()
    running = BatchProgress("batch", 8, 0, 3, 1, 2, 3.0, None)
    assert running.text().startswith("batch: 4/8 · 1 failed · 2 running")


# -- issue 25 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "kept"), [
    ("use GPT-5             # the default model; %poe alias sonnet X", "use GPT-5"),
    ("# only a note", ""),
    ("GPT-5 -s 'a # inside quotes' -o x  # note", "GPT-5 -s 'a # inside quotes' -o x"),
    ('-s "C# and #42" --chat', '-s "C# and #42" --chat'),
    ("what is C#", "what is C#"),
    ("issue#42 stays", "issue#42 stays"),
])
def test_a_hash_that_starts_a_word_outside_quotes_ends_the_line(line: str, kept: str) -> None:
    from poe_magic.magics.parsing import strip_comment

    assert strip_comment(line) == kept


@pytest.mark.parametrize(("text", "code"), [
    ("Here:\n```python\nprint(1)\n```\nDone.", True),
    ("def f():\n    return 1\n", True),
    ("x = 1", True),
    ("Paris", False),
    ("42", False),
    ("The capital of France is Paris.", False),
    ("word0 word1 word2 ", False),
])
def test_format_code_finds_code_only_where_there_is_some(text: str, code: bool) -> None:
    from poe_magic.prompting.formats import has_code

    assert has_code(text) is code


@pytest.mark.parametrize(("root", "loopback"), [
    ("http://127.0.0.1:8765", True), ("http://localhost:8000/v1", True), ("http://[::1]:9", True),
    ("https://api.poe.com", False), ("http://10.0.0.5:8000", False), ("http://127.example.com", False),
])
def test_only_a_server_on_this_machine_counts_as_the_local_server(root: str, loopback: bool) -> None:
    import httpx

    from poe_magic.wire.failures import network_error

    error = network_error(httpx.ConnectError("refused"), _subject(), root)
    assert ("is not running" in str(error)) is loopback and error.retryable is not loopback


def _subject() -> object:
    from poe_magic.wire.failures import asking

    return asking("EchoBot")


def test_the_docs_tables_are_the_parsers_tables() -> None:
    from pathlib import Path

    from poe_magic.magics.reference_tables import refreshed

    root = Path(__file__).resolve().parent.parent
    for page in ("docs/prompting.md", "docs/configuration.md"):
        text = (root / page).read_text(encoding="utf-8")
        assert "<!-- generated: " in text, page
        assert refreshed(text) == text, f"{page}: run python -m poe_magic.magics.reference_tables {page}"
    options = (root / "docs/prompting.md").read_text(encoding="utf-8")
    for option in ("--schema", "--yes", "--judge", "--rubric"):
        assert f"`{option}" in options
    commands = (root / "docs/configuration.md").read_text(encoding="utf-8")
    assert "`%poe doctor`" in commands and "`%poe log`" in commands and "\\|" not in commands


def test_docs_example_blocks_are_found_and_can_be_marked_not_run(tmp_path: object) -> None:
    from pathlib import Path

    import docs_examples

    page = Path(str(tmp_path)) / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```\n%poe help\n```\n\n```bash\nls\n```\n\n"
                    "<!-- example: not run (needs a real key) -->\n```python\n%poe login\n```\n\n"
                    "```\nplain output\n```\n", encoding="utf-8")
    found = [b for b in docs_examples.blocks(page) if b.runnable]
    assert [(b.number, b.line, b.skipped) for b in found] == [(1, 1, None), (2, 5, None), (4, 14, "needs a real key")]
