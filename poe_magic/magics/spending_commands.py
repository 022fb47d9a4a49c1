"""``%poe balance / history / session / budget / doctor``: thin parsers over usage, plots, ledger and checkup."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from poe_magic.base import errors as E
from poe_magic.magics.parsing import LineParser
from poe_magic.prompting.checkup import doctor
from poe_magic.spending.history import current_balance, points_history, spending_summary
from poe_magic.spending.ledger import budget, budget_status, session_ledger, set_budget
from poe_magic.spending.plots import plot_spending
from poe_magic.spending.tables import LedgerTable, readable_summary


def _history_parser() -> LineParser:
    parser = LineParser(prog="%poe history", add_help=False)
    parser.add_argument("--days", type=float, metavar="N", help="only the last N days (default: all cached, ~30)")
    parser.add_argument("--by", choices=["bot", "day", "type"], default="bot", help="how to group the table")
    parser.add_argument("--refresh", action="store_true", help="rebuild the local cache from the server")
    return parser


def balance_command(magics: Any, arg: str) -> None:
    """``%poe balance``: the account's points balance."""

    if arg:
        raise E.PoeUsageError("%poe balance takes no argument")
    print(f"Balance: {current_balance():,} points")


def history_command(magics: Any, arg: str) -> None:
    """``%poe history [--days N] [--by bot|day|type] [--refresh]``: a summary table and a plot
    (in a terminal: the same as text, without the plot)."""
    from IPython.display import Markdown, display

    from poe_magic.core.display import in_kernel

    rich = in_kernel()  # a terminal prints reprs of Markdown/Image objects: give it text

    args = _history_parser().parse_line(arg)
    if args.days is not None and not 0 < args.days <= 36_500:  # also refuses nan and inf
        raise E.PoeUsageError(f"--days must be a positive number of days up to 36,500, got {args.days:g}")
    since = timedelta(days=args.days) if args.days is not None else None
    frame = points_history(since=since, refresh=args.refresh)
    period = f"last {args.days:g} days" if args.days is not None else "all history"
    if frame.empty:
        heading = f"**Points history** ({period}): no spending."
        display(Markdown(heading)) if rich else print(heading.replace("**", ""))
        return
    first, last = frame["creation_time"].iloc[-1], frame["creation_time"].iloc[0]
    heading = (f"**Points history** ({period}): {int(frame['cost_points'].sum()):,} points in "
               f"{len(frame):,} calls, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC")
    table = readable_summary(spending_summary(frame, by=args.by))
    if not rich:
        print(heading.replace("**", ""), table.to_string(), sep="\n\n")
        print("\n(The daily chart shows in a notebook; here: poe_magic.plot_spending(poe_magic.points_history()) "
              "with a matplotlib window.)")
        return
    display(Markdown(heading))
    display(table)
    display(_figure_png(frame, "type" if args.by == "type" else "day"))  # daily bars stacked by bot


def _figure_png(frame: Any, by: str) -> Any:
    """The plot as a PNG image, drawn on a figure outside pyplot: it shows whatever the
    matplotlib backend (inline, Agg, a GUI one), and never a second time at the cell's end."""
    import io

    from IPython.display import Image
    from matplotlib.figure import Figure


    figure = Figure(figsize=(9, 4.5), layout="constrained")
    plot_spending(frame, by=by, ax=figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return Image(data=buffer.getvalue(), format="png")


def session_command(magics: Any, arg: str) -> Any:
    """``%poe session``: this kernel's calls (time, model, points, chars, elapsed), the
    :func:`~poe_magic.session_ledger` frame shown readably, with a total row."""

    if arg:
        raise E.PoeUsageError("%poe session takes no argument")
    frame = session_ledger()
    print(frame.attrs["summary"])
    return LedgerTable(frame)


def budget_command(magics: Any, arg: str) -> None:
    """``%poe budget N`` sets the session budget, ``%poe budget off`` removes it,
    ``%poe budget`` shows it."""

    word = arg.strip().replace(",", "").replace("_", "")
    if word in ("off", "none"):
        had = budget() is not None
        set_budget(None)
        print("Budget removed: calls are no longer capped." if had else "No budget was set.")
    elif word:
        if not word.isdigit():
            raise E.PoeUsageError(f"%poe budget takes a whole number of points (or off), got {arg.strip()!r}")
        set_budget(int(word))
    print(budget_status())


def doctor_command(magics: Any, arg: str) -> Any:
    """``%poe doctor [MODEL]``: the self-check table (one small test call to MODEL)."""
    words = arg.split()
    if len(words) > 1:
        raise E.PoeUsageError("%poe doctor takes at most one model name")
    print("poe_magic doctor: checking (one small test call; waits for the points history to list it)...", flush=True)
    return doctor(words[0] if words else None)
