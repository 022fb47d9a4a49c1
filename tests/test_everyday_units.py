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
