"""Spending charts from a points-history DataFrame (matplotlib imported on first use).

``plot_spending(by=...)`` draws one view on one Axes and returns it:

- ``"day"``: points per day (UTC) as bars stacked by bot (the top bots, the rest as "other");
- ``"bot"``: total points per bot, horizontal bars, largest on top, values printed;
- ``"type"``: the same per usage type (API, Chat, ...);
- ``"cumulative"``: running total of points over time, one line;
- ``"hour"``: points per hour of day (UTC), 24 bars, to see when the money goes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.spending.history import points_history

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

VIEWS = ("day", "bot", "cumulative", "hour", "type")
OTHER = "other"


def plot_spending(df: pd.DataFrame | None = None, by: str = "day", ax: Axes | None = None, *,
                  top: int = 6) -> Axes:
    """Plot spending from ``df`` (default: :func:`~poe_magic.points_history`) on ``ax`` (default:
    a new figure); ``top`` bots get their own colour in the daily view. Returns the Axes (as
    pandas' ``.plot()`` does: end the line with ``;`` to leave out its ``<Axes ...>`` line)."""
    if by not in VIEWS:
        raise E.PoeUsageError(f"by must be one of {', '.join(VIEWS)}, got {by!r}")
    if not isinstance(top, int) or top < 1:
        raise E.PoeUsageError(f"top must be a positive whole number, got {top!r}")
    if df is None:

        df = points_history()
    missing = {"creation_time", "bot_name", "cost_points", "usage_type"} - set(df.columns)
    if missing:
        raise E.PoeUsageError(f"plot_spending needs a points_history() DataFrame; missing {', '.join(sorted(missing))}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    if df.empty:
        ax.set_title("Points spent: nothing in this period")
        ax.text(0.5, 0.5, "no spending", ha="center", va="center", transform=ax.transAxes, color="grey")
        return ax
    draw: dict[str, Callable[..., None]] = {"day": _by_day, "bot": _by_group, "type": _by_group,
                                            "cumulative": _cumulative, "hour": _by_hour}
    draw[by](df, ax, by=by, top=top)
    return ax


def _points_axis(axis: Any, label: str = "points") -> None:
    """Label an axis in points with thousands separators (12,000 rather than 12000)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.set_label_text(label)


def _dates_axis(ax: Axes, label: str, days: int | None = None) -> None:
    """Short, unambiguous date ticks (no overlapping labels, no hiding other subplots' ticks);
    ``days``: a daily chart of that many days, ticked on whole days only (never "12:00")."""
    import matplotlib.dates as mdates

    locator: Any = (mdates.DayLocator(interval=max(1, -(-days // 10))) if days is not None
                    else mdates.AutoDateLocator(maxticks=10))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(label)


def _period(df: pd.DataFrame) -> str:
    first, last = df["creation_time"].min(), df["creation_time"].max()
    return f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"


def _by_day(df: pd.DataFrame, ax: Axes, *, top: int, **_: Any) -> None:
    import pandas as pd

    totals = df.groupby(df["bot_name"].astype(str), observed=True)["cost_points"].sum().sort_values(ascending=False)
    leaders = list(totals.index[:top])
    bots = df["bot_name"].astype(str).where(df["bot_name"].astype(str).isin(leaders), OTHER)
    day = df["creation_time"].dt.floor("D").dt.tz_localize(None)
    table = df["cost_points"].groupby([day, bots]).sum().unstack(fill_value=0)
    days = pd.date_range(day.min(), day.max(), freq="D")  # days without spending show as gaps
    table = table.reindex(days, fill_value=0)
    order = leaders + ([OTHER] if OTHER in table.columns else [])
    bottom = None
    for bot in order:
        heights = table[bot].to_numpy()
        ax.bar(table.index, heights, width=0.8, bottom=bottom, label=bot)
        bottom = heights if bottom is None else bottom + heights
    ax.set_title(f"Points spent per day, by bot ({_period(df)})")
    _dates_axis(ax, "day (UTC)", days=len(days))
    _points_axis(ax.yaxis)
    ax.legend(title="bot", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _by_group(df: pd.DataFrame, ax: Axes, *, by: str, **_: Any) -> None:
    column, noun = ("bot_name", "bot") if by == "bot" else ("usage_type", "usage type")
    totals = df.groupby(df[column].astype(str))["cost_points"].sum().sort_values()
    bars = ax.barh(totals.index, totals.to_numpy(), color="tab:blue")
    ax.bar_label(bars, labels=[f" {v:,}" for v in totals.to_numpy()], fontsize="small")
    ax.margins(x=0.15)
    ax.set_title(f"Points spent per {noun} ({_period(df)}, {int(totals.sum()):,} points in all)")
    _points_axis(ax.xaxis)
    ax.set_ylabel(noun)


def _cumulative(df: pd.DataFrame, ax: Axes, **_: Any) -> None:
    ordered = df.sort_values("creation_time", kind="stable")
    times = ordered["creation_time"].dt.tz_localize(None)
    running = ordered["cost_points"].cumsum().to_numpy()
    ax.plot(times, running, drawstyle="steps-post", label="all bots")
    ax.set_title(f"Cumulative points spent ({_period(df)}, {int(running[-1]):,} points)")
    _dates_axis(ax, "time (UTC)")
    _points_axis(ax.yaxis, "points, cumulative")


def _by_hour(df: pd.DataFrame, ax: Axes, **_: Any) -> None:
    hours = df["creation_time"].dt.hour
    per_hour = df["cost_points"].groupby(hours).sum().reindex(range(24), fill_value=0)
    ax.bar(per_hour.index, per_hour.to_numpy(), width=0.8, color="tab:orange")
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}:00" for h in range(0, 24, 2)])
    ax.set_xlim(-0.6, 23.6)
    ax.set_title(f"Points spent by hour of day ({_period(df)})")
    ax.set_xlabel("hour of day (UTC)")
    _points_axis(ax.yaxis)
