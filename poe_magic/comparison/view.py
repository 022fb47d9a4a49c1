"""Side-by-side columns for a :class:`~poe_magic.comparison.result.Comparison`.

In a kernel, one display is updated in place (throttled by the caller) with an HTML grid:
one column per model with a header, at most four per row (more wrap to the next row), each
showing its model's answer as rendered Markdown, or its one-line error. The last update is a
static rendering (every final answer, inline styles and one scoped ``<style>`` for heading
sizes, no script), followed by the summary table as its own output (the only one a cost found
later, or a judge's grade, updates),
so a saved notebook shows the comparison in nbviewer, on GitHub or after nbconvert.

Markdown to HTML: no package of the runtime set converts Markdown, so ``mistune`` is used when
it can be imported (it ships with nbconvert, which jupyter_server requires: any environment
that serves notebooks has it) and each answer falls back to escaped ``<pre>`` text otherwise.
Model output is never trusted as HTML: raw HTML in an answer is escaped and unsafe links are
neutralised (``mistune``'s ``escape=True``). While streaming, each column shows only the latest
blocks of its answer (:class:`GridNotebookSink`), so an update costs and sends a bounded amount,
not the answers so far; the final grid shows them whole.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any, Protocol, TextIO

from poe_magic.core.display import NotebookSink, TerminalSink, choose_sink
from poe_magic.core.markdown_blocks import MarkdownBlocks
from poe_magic.core.markdown_html import markdown_to_html, pre_html
from poe_magic.core.reply import Reply, closed_markdown
from poe_magic.wire.loop import Later, shared_loop


class Comparison(Protocol):
    """What the view reads of a :class:`~poe_magic.comparison.result.Comparison` (a protocol,
    so the result can render itself with this module without an import cycle)."""

    prompt: str
    models: list[str]
    runs: int
    format: str
    interrupted: bool

    @property
    def replies(self) -> dict[str, Reply]: ...

    @property
    def rounds_done(self) -> int: ...

    @property
    def all_runs(self) -> dict[str, list[Reply]]: ...

    def rows(self) -> list[dict[str, Any]]: ...

    def output_metadata(self) -> dict[str, Any]: ...

Bundle = dict[str, Any]

# -- Markdown -> HTML ---------------------------------------------------------------------------


# -- HTML pieces -------------------------------------------------------------------------------


def _themed(prop: str, value: str, fallback: str) -> str:
    """A plain declaration, then the themed one (JupyterLab variables). JupyterLab's sanitizer
    (an untrusted notebook, e.g. one received from a colleague) drops values with var(); the
    plain declaration is then what remains, where otherwise the last one wins."""
    return f"{prop}:{fallback};{prop}:{value}"


_BORDER = "1px solid var(--jp-border-color2, #d0d7de)"
_GRID = ("display:grid;gap:12px;align-items:start;"
         # at most 4 columns per row, fewer on a narrow page; more models wrap to new rows
         "grid-template-columns:repeat(auto-fit,minmax(max(220px,calc(25% - 9px)),1fr))")
_COLUMN = _themed("border", _BORDER, "1px solid #d0d7de") + ";border-radius:6px;min-width:0;overflow:hidden"
_HEADER = ("display:flex;flex-wrap:wrap;justify-content:space-between;column-gap:8px;padding:4px 8px;"
           + _themed("background", "var(--jp-layout-color2, rgba(127,127,127,.12))", "rgba(127,127,127,.12)")
           + ";" + _themed("border-bottom", _BORDER, "1px solid #d0d7de"))
_BODY = "padding:2px 10px;overflow-x:auto;overflow-wrap:break-word;overflow-wrap:anywhere"
# Headings sized for a ~250 px column (a page-sized h1 wraps every other word). A scoped <style>
# because an inline style would change the answer's own <h1>; a renderer that drops <style>
# (GitHub) shows the usual sizes, nothing else changes.
_HEADINGS = ("<style>.poe-compare .poe-answer h1{font-size:1.3em}.poe-compare .poe-answer h2{font-size:1.15em}"
             ".poe-compare .poe-answer h3,.poe-compare .poe-answer h4{font-size:1.05em}"
             ".poe-compare .poe-answer :is(h1,h2,h3,h4){margin:.6em 0 .3em}</style>")
_ERROR = "margin:6px 10px;padding:4px 6px;border-radius:4px;color:#b42318;background:rgba(180,35,24,.08)"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} s"


def column_status(reply: Reply, notice: str = "") -> str:
    """The right-hand side of a column header: what the model is doing or how it went."""
    if reply.elapsed is None:
        if notice:
            return notice
        if reply.time_to_first_token is None:
            return "waiting for the first token…"
        return f"streaming… {len(reply.text):,} chars"
    if reply.cached:
        return "✓ from cache · 0 points"
    if reply.interrupted:
        return f"⏹ interrupted · {_seconds(reply.elapsed)}"
    if reply.error is not None:
        return f"⚠ failed · {_seconds(reply.elapsed)}"
    return f"✓ {_seconds(reply.elapsed)}"


def column_html(model: str, body: str, status: str, error: BaseException | None = None) -> str:
    """One model's column: header (name, status), rendered answer, one-line error if any."""
    error_line = (f'<div style="{_ERROR}">⚠ {html.escape(type(error).__name__)}: {html.escape(str(error))}</div>'
                  if error is not None else "")
    return (f'<div style="{_COLUMN}"><div style="{_HEADER}"><b>{html.escape(model)}</b>'
            f'<span style="opacity:.75">{html.escape(status)}</span></div>'  # wraps below the name when narrow
            f'<div class="poe-answer" style="{_BODY}">{body}</div>{error_line}</div>')


def grid_html(columns: list[str], caption: str = "") -> str:
    head = f'<div style="margin:0 0 6px;opacity:.75">{html.escape(caption)}</div>' if caption else ""
    return f'<div class="poe-compare">{_HEADINGS}{head}<div style="{_GRID}">{"".join(columns)}</div></div>'


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "s":
        return _seconds(value)
    return f"{value:,}" if kind == "n" else html.escape(str(value))


def summary_html(comparison: Comparison) -> str:
    """The summary table: per model first token, total time, chars, tokens/points when
    known, status (with median and spread when there were several runs), and a judge's score
    and reason when the comparison was graded."""
    rows = [{**r, "status": f"{r['status']} (from cache)"} if r["cached"] else r for r in comparison.rows()]
    runs = comparison.runs > 1
    cols: list[tuple[str, str, str]] = [("model", "model", "t"), ("status", "status", "t"),
                                        ("time_to_first_token", "first token", "s"), ("elapsed", "total", "s"),
                                        ("chars", "chars", "n")]
    cols += [(key, label, "n") for key, label in (("tokens", "tokens"), ("points", "points"))
             if any(r[key] is not None for r in rows)]
    if runs:
        cols += [("runs", "runs", "n"), ("time_to_first_token_spread", "first token spread", "s"),
                 ("elapsed_spread", "total spread", "s")]
    if any(r.get("score") is not None for r in rows):  # graded by a judge (--judge)
        cols += [("score", "score", "n"), ("reason", "reason", "w")]
    align = {"t": "left", "s": "right", "n": "right", "w": "left"}  # text left, numbers right
    wrap = {"w": "normal"}  # only a judge's reason wraps; names and numbers never do
    cell = 'style="white-space:{};text-align:{}"'
    head = "".join(f"<th {cell.format(wrap.get(kind, 'nowrap'), align[kind])}>{html.escape(label)}</th>"
                   for _, label, kind in cols)
    body = "".join("<tr>" + "".join(f"<td {cell.format(wrap.get(kind, 'nowrap'), align[kind])}>"
                                    f"{_cell(r.get(key), kind)}</td>" for key, _, kind in cols) + "</tr>" for r in rows)
    note = (f'<caption style="caption-side:bottom;text-align:left;opacity:.7">times are medians over '
            f'{comparison.runs} runs; spread = slowest − fastest</caption>' if runs else "")
    return f'<table style="margin-top:10px">{note}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _caption(comparison: Comparison, round_no: int | None = None) -> str:
    bits = [f"{len(comparison.models)} models"]
    if comparison.runs > 1:
        shown = comparison.rounds_done if round_no is None else round_no + 1
        bits.append(f"run {shown} of {comparison.runs}" + (" (last run shown)" if round_no is None else ""))
    if comparison.interrupted:
        bits.append("interrupted: partial answers kept")
    return " · ".join(bits)


def files_html(reply: Reply) -> str:
    """Files the model returned as attachments: images shown, other files linked (Markdown
    image links in the text are already rendered where they stand)."""
    shown = []
    for f in reply.attachments:
        url, name = str(getattr(f, "url", "") or ""), str(getattr(f, "name", "") or "file")
        if getattr(f, "source", "attachment") != "attachment" or not url.startswith(("https://", "http://")) \
                or url in reply.text:  # shown where the text links it
            continue
        kind = str(getattr(f, "content_type", "") or "")
        link = html.escape(url, quote=True)
        shown.append(f'<img src="{link}" alt="{html.escape(name)}" style="max-width:100%">' if kind.startswith("image/")
                     else f'<p>📎 <a href="{link}">{html.escape(name)}</a> ({html.escape(kind or "file")})</p>')
    return "".join(shown)


def final_grid_html(comparison: Comparison) -> str:
    """The finished comparison's columns: every final answer whole (no summary table)."""
    render = pre_html if comparison.format == "text" else markdown_to_html
    columns = [column_html(m, render(closed_markdown(r.text)) + files_html(r), column_status(r), r.error)
               for m, r in comparison.replies.items()]
    return grid_html(columns, _caption(comparison))


def static_html(comparison: Comparison) -> str:
    """The finished comparison: every final answer in its column, then the summary table."""
    return final_grid_html(comparison) + summary_html(comparison)


def plain_text(comparison: Comparison) -> str:
    """The finished comparison as text (terminals, text-only frontends)."""
    parts = []
    for model, reply in comparison.replies.items():
        parts.append(f"== {model} ==\n{reply.text}\n-- {reply.footer()}")
    return "\n\n".join(parts)


# -- views -------------------------------------------------------------------------------------

#: source characters of each answer the live grid shows (its latest blocks); the rest shows when done
WINDOW = 1200
#: a live update is sent once the answers grew by 1/GROWTH of its size, or MAX_WAIT s after the
#: last one while text arrives: traffic linear in the answers, at least 2 updates a second
GROWTH, MAX_WAIT = 3, 0.5
#: seconds a cost found late waits for the others before the summary table shows them all
SUMMARY_WAIT = 0.3


class GridNotebookSink(NotebookSink):
    """The live side-by-side display: one output updated in place, static at the end, then the
    summary table as its own small output (updated alone when costs arrive).

    Live, each column shows the latest blocks of its answer (about :data:`WINDOW` characters,
    finished blocks whole: never cut inside a fence or a table) under a note of how much is
    above; the final, static grid shows every answer whole. An update is sent when the answers
    grew enough to pay for it (:data:`GROWTH`) or :data:`MAX_WAIT` after the last, so the bytes
    sent stay a few times the answers' size however long they stream (issue 19); ``behind``
    says text is waiting, so the caller calls again.
    """

    def __init__(self, fmt: str = "markdown", budget: float = 0.02) -> None:
        super().__init__()
        self.fmt = fmt
        self.budget = budget
        self.busy: list[float] = []  # kernel seconds spent per update (render + send), wall clock
        self.busy_cpu: list[float] = []  # the same in CPU time of the kernel thread (no preemption, no GIL waits)
        self._blocks: dict[str, MarkdownBlocks] = {}
        self._started: set[str] = set()
        self._columns: dict[str, str] = {}
        self._stale: dict[str, str] = {}  # model -> its notice, oldest change first
        self._caption = ""
        self._sent_chars = 0  # the answers' total length at the last update sent
        self._sent_at = 0.0
        self._sent_bytes = 0
        self.summary: NotebookSink | None = None  # the summary table's own output, once finished
        self._summary_sent: tuple[str, dict[str, Any]] | None = None
        self._summary_lock = threading.RLock()
        self._summary_timer: Later | None = None  # on the loop's thread (see LoopThread.call_later)

    @property
    def behind(self) -> bool:
        return bool(self._stale)

    def _window(self, model: str, text: str) -> str:
        """The latest blocks of ``text`` as HTML, under a note of what is above."""
        split = self._blocks[model].feed(text)
        blocks, start, i = split.blocks, split.done, len(split.blocks)  # (start: where the open tail starts)
        while i > 0 and len(text) - start + len(blocks[i - 1]) <= WINDOW:
            i -= 1
            start -= len(blocks[i])
        if len(text) - start > WINDOW:  # one huge open block (a long code fence): its last lines
            cut = text.find("\n", len(text) - WINDOW)
            start = cut + 1 if 0 <= cut < len(text) - 1 else len(text) - WINDOW
            body = pre_html(text[start:])
        else:
            body = (pre_html if self.fmt == "text" else markdown_to_html)(closed_markdown(text[start:]))
        note = f'<div style="opacity:.6;font-size:.85em">⋯ {start:,} characters above (all shown when done)</div>'
        return (note if start else "") + body

    def _column(self, model: str, reply: Reply, notice: str = "") -> None:
        self._columns[model] = column_html(model, self._window(model, reply.text), column_status(reply, notice),
                                           reply.error)

    def _send(self, data: str, plain: str) -> None:
        self.publish({"text/html": data, "text/plain": plain})
        self._sent_bytes, self._sent_at = len(data) + len(plain), time.monotonic()

    def start_round(self, comparison: Comparison, round_no: int) -> None:
        self._caption = _caption(comparison, round_no)
        self._blocks = {m: MarkdownBlocks() for m in comparison.models}
        self._started = set()  # models whose text has been shown
        self._stale = {}
        for model in comparison.models:
            self._columns[model] = column_html(model, "", "waiting for the first token…")
        self._sent_chars = 0
        self._show(comparison)

    def update(self, comparison: Comparison, changed: set[str], notices: dict[str, str]) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        replies = comparison.replies
        # a notice, a first text or a finished answer shows at once
        urgent = bool(notices) or any(replies[m].elapsed is not None or m not in self._started for m in changed)
        self._started.update(m for m in changed if replies[m].text)
        for model in changed | set(notices):
            self._stale[model] = notices.get(model, "")  # an older change keeps its place
        chars = sum(len(r.text) for r in replies.values())
        if not urgent and (chars - self._sent_chars) * GROWTH < self._sent_bytes \
                and time.monotonic() - self._sent_at < MAX_WAIT:
            return  # not worth its bytes yet: ``behind`` brings the caller back
        for model in list(self._stale):
            self._column(model, replies[model], self._stale.pop(model))
            if time.perf_counter() - started > self.budget:
                break
        self._sent_chars = chars
        self._show(comparison)
        self.busy.append(time.perf_counter() - started)
        self.busy_cpu.append(time.thread_time() - cpu)

    def _show(self, comparison: Comparison) -> None:
        self._send(grid_html(list(self._columns.values()), self._caption),
                   f"Comparing {', '.join(comparison.models)}… (the live view needs an HTML frontend)")

    def finish(self, comparison: Comparison) -> None:
        """The exact final state, last: the static grid (sent once), then the summary table
        with the metadata as its own output. Costs found later (often after the cell ended)
        and a judge's grades update that table alone, never the answers (issue 26); a second
        call (after grading) updates only the table."""
        if not self.shown:
            return
        if self.summary is None:
            self.publish({"text/html": final_grid_html(comparison), "text/plain": plain_text(comparison)})
            self.summary = NotebookSink(like=self)
            for runs in comparison.all_runs.values():
                for reply in runs:
                    if reply.points is None:
                        reply.watch_points(lambda _r: self._summary_soon(comparison))
        self._show_summary(comparison)

    def _summary_soon(self, comparison: Comparison) -> None:
        """Costs arrive one by one, often together: one table update per SUMMARY_WAIT at most,
        showing the state when it is sent (so the last state is always shown)."""
        with self._summary_lock:
            if self._summary_timer is not None:
                return
            self._summary_timer = shared_loop().call_later(SUMMARY_WAIT, self._show_summary, comparison)

    def _show_summary(self, comparison: Comparison) -> None:
        with self._summary_lock:
            self._summary_timer = None
            table, metadata = summary_html(comparison), {"poe_magic": comparison.output_metadata()}
            if self.summary is None or (table, metadata) == self._summary_sent:
                return
            self._summary_sent = (table, metadata)
            self.summary.publish({"text/html": table, "text/plain": summary_text(comparison)}, metadata)


def summary_text(comparison: Comparison) -> str:
    """The summary table as one line per model (text-only frontends)."""
    return "\n".join(f"{r['model']}: {r['status']}, {_cell(r['elapsed'], 's')}"
                     + (f", {r['points']:,} points" if r.get("points") is not None else "")
                     for r in comparison.rows())


class GridTerminalSink(TerminalSink):
    """Outside a notebook: prints each answer when its model finishes, then a summary."""

    behind = False

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)
        self._printed: set[str] = set()

    def start_round(self, comparison: Comparison, round_no: int) -> None:
        self._printed = set()
        run = f" (run {round_no + 1} of {comparison.runs})" if comparison.runs > 1 else ""
        self.out.write(f"Comparing {', '.join(comparison.models)}{run}…\n")
        self.out.flush()

    def update(self, comparison: Comparison, changed: set[str], notices: dict[str, str]) -> None:
        for model, reply in comparison.replies.items():
            if reply.elapsed is not None and model not in self._printed:
                self._printed.add(model)
                self.out.write(f"\n== {model} ==\n{reply.text}\n-- {reply.footer()}\n")
        self.out.flush()

    def finish(self, comparison: Comparison) -> None:
        self.update(comparison, set(), {})
        for row in comparison.rows():
            self.out.write(f"{row['model']}: {row['status']}, first token {_cell(row['time_to_first_token'], 's')}, "
                           f"total {_cell(row['elapsed'], 's')}, {row['chars']:,} chars\n")
        self.out.flush()


def grid_sink(stream: bool = True, fmt: str = "markdown", throttle: float = 0.05) -> Any:
    """The comparison's sink for where we run (a notebook update may render for 40 % of ``throttle``)."""
    return choose_sink(stream, lambda: GridNotebookSink(fmt, budget=0.4 * throttle), GridTerminalSink)
