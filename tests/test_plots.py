"""plot_spending: the artists on the Axes (bars, lines, labels), never pixels."""

from __future__ import annotations

from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from poe_magic.base import errors as E  # noqa: E402
from poe_magic.server.launch import LocalServer  # noqa: E402
from poe_magic.spending.history import to_frame  # noqa: E402
from poe_magic.spending.plots import OTHER, plot_spending  # noqa: E402

DAY = 86_400 * 1_000_000
START = int(datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)

#: (day offset, hour, bot, points): 3 days with spending, one day (index 2) without
ROWS = [
    (0, 9, "A", 100), (0, 10, "B", 50), (0, 23, "C", 7), (1, 9, "A", 200), (1, 14, "D", 5),
    (1, 14, "E", 3), (3, 9, "B", 60), (3, 20, "A", 40), (3, 20, "F", 1),
]


@pytest.fixture
def frame():
    rows = sorted(ROWS, key=lambda r: -(r[0] * DAY + r[1] * 3_600_000_000))
    return to_frame({
        "creation_time": [START + d * DAY + h * 3_600_000_000 for d, h, _, _ in rows],
        "bot_name": [b for _, _, b, _ in rows],
        "query_id": [f"q{i}" for i in range(len(rows))],
        "usage_type": ["API" if b != "F" else "Chat" for _, _, b, _ in rows],
        "cost_points": [p for _, _, _, p in rows],
    })


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_daily_bars_are_stacked_by_top_bots_with_the_rest_as_other(frame) -> None:
    ax = plot_spending(frame, by="day", top=3)
    labels = [c.get_label() for c in ax.containers]
    assert labels == ["A", "B", "C", OTHER]  # top 3 by total (A 340, B 110, C 7), then the rest
    heights = np.array([[bar.get_height() for bar in c] for c in ax.containers])
    assert heights.shape == (4, 4)  # 4 days, the empty one included
    assert list(heights.sum(axis=0)) == [157, 208, 0, 101]
    assert list(heights[3]) == [0, 8, 0, 1]  # D + E on day 1, F on day 3
    bottoms = [bar.get_y() for bar in ax.containers[1]]
    assert bottoms == list(heights[0])  # B sits on A
    assert ax.get_ylabel() == "points" and "per day" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == labels


def test_bars_per_bot_and_per_type(frame) -> None:
    ax = plot_spending(frame, by="bot")
    (bars,) = ax.containers
    widths = {label.get_text(): bar.get_width() for label, bar in zip(ax.get_yticklabels(), bars)}
    assert widths == {"A": 340, "B": 110, "C": 7, "D": 5, "E": 3, "F": 1}
    assert [label.get_text() for label in ax.get_yticklabels()][-1] == "A"  # largest on top
    assert ax.get_xlabel() == "points" and "466 points" in ax.get_title()
    assert [t.get_text().strip() for t in ax.texts] == ["1", "3", "5", "7", "110", "340"]
    types = plot_spending(frame, by="type")
    assert sorted(bar.get_width() for bar in types.containers[0]) == [1, 465]


def test_cumulative_line_and_hours(frame) -> None:
    ax = plot_spending(frame, by="cumulative")
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [100, 150, 157, 357, 362, 365, 425, 465, 466]
    assert ax.get_ylabel() == "points, cumulative"
    hours = plot_spending(frame, by="hour")
    (bars,) = hours.containers
    per_hour = [bar.get_height() for bar in bars]
    assert len(per_hour) == 24 and per_hour[9] == 360 and per_hour[20] == 41 and sum(per_hour) == 466
    assert "hour of day" in hours.get_xlabel()


def test_given_axes_empty_frames_and_bad_input(frame) -> None:
    fig, axes = plt.subplots(1, 2)
    assert plot_spending(frame, by="hour", ax=axes[1]) is axes[1]
    assert len(axes[1].containers) == 1 and not axes[0].containers
    empty = plot_spending(frame.iloc[:0], by="day")
    assert not empty.containers and "nothing" in empty.get_title()
    with pytest.raises(E.PoeUsageError, match="by must be one of"):
        plot_spending(frame, by="week")
    with pytest.raises(E.PoeUsageError, match="missing"):
        plot_spending(frame[["creation_time"]])


def test_without_a_frame_it_reads_the_history(activated: LocalServer) -> None:
    ax = plot_spending(by="bot")
    total = sum(bar.get_width() for bar in ax.containers[0])
    assert total > 0 and f"{int(total):,} points in all" in ax.get_title()
