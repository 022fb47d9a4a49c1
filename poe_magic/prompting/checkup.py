"""``poe_magic.doctor()`` / ``%poe doctor [MODEL]``: a self-check to run with a real key and
paste into a bug report.

One table, one row per check, each ✓ (fine), ⚠ (works, but see the advice) or ✗ (broken),
with one line of advice: the server root and the masked key, whether the key is accepted, the
balance, the catalogue's size and age, the clock skew the ``Date`` headers show, one small
test call, how long the points history took to list it and what it cost, the rate-limit
headers seen, and package versions. The key itself is never shown (only ``mask_key``), and
every message passes through ``scrub``. Offline it runs against the local server like the rest.

The test call goes through the one runner like every request (the budget may refuse it; it
is in the session ledger and the call log); it costs what one short answer costs.
"""

from __future__ import annotations

import html
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.base.secrets import mask_key, scrub
from poe_magic.base.text import ago
from poe_magic.base.version import __version__
from poe_magic.catalog import store
from poe_magic.catalog.listing import is_test_bot
from poe_magic.core.display import SilentSink
from poe_magic.prompting import confirm, pipeline
from poe_magic.spending.calls import Call
from poe_magic.spending.history import current_balance, history_page
from poe_magic.spending.matching import assign, is_provisional
from poe_magic.wire.observed import clock_skew, rate_limit_headers
from poe_magic.wire.request import build_request

OK, WARN, FAIL = "✓", "⚠", "✗"
PROMPT = "Reply with the single word OK."
LISTING_WAIT_S = 90.0  # how long the check waits for the history to list the test call (and its final cost)
SLOW_LISTING_S = 10.0
LOW_BALANCE = 10_000
CALL_TIMEOUT_S = 120.0
PACKAGES = ("fastapi_poe", "httpx", "ipykernel", "ipython", "pandas")


@dataclass
class Row:
    check: str
    status: str  # OK, WARN or FAIL
    detail: str
    advice: str = ""


class DoctorReport:
    """The checks' table: text in a terminal, HTML in a notebook; ``rows`` for code."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    @property
    def ok(self) -> bool:
        return all(row.status != FAIL for row in self.rows)

    def row(self, check: str) -> Row:
        return next(r for r in self.rows if r.check == check)

    def __str__(self) -> str:
        width = max(len(r.check) for r in self.rows)
        lines = [f"{r.status} {r.check:<{width}}  {r.detail}" + (f"  → {r.advice}" if r.advice else "")
                 for r in self.rows]
        return "poe_magic doctor\n" + "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><td>{r.status}</td><td>{html.escape(r.check)}</td><td>{html.escape(r.detail)}</td>"
                       f"<td>{html.escape(r.advice)}</td></tr>" for r in self.rows)
        return ("<table><thead><tr><th></th><th>check</th><th>result</th><th>advice</th></tr></thead>"
                f"<tbody>{body}</tbody></table>")


def doctor(model: str | None = None, *, wait: float = LISTING_WAIT_S) -> DoctorReport:
    """Run the self-check (one small test call to ``model``, default: the default model, else
    a cheap text model from the catalogue) and return its table; never raises for what it finds."""
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise E.PoeUsageError(f"doctor(model=...) takes a model name, got {model!r}")
    rows: list[Row] = []
    root = settings.root
    try:
        key = settings.api_key()
    except E.PoeMagicError as exc:
        rows.append(Row("server", FAIL, root, _said(exc)))
        return DoctorReport(rows + [_versions()])
    rows.append(Row("server", OK, f"{root} (key {mask_key(key)})",
                    "" if root.startswith("https://") or "127.0.0.1" in root or "localhost" in root
                    else "not https: the key travels in clear"))
    try:
        balance = current_balance()
        rows.append(Row("key", OK, "accepted"))
        rows.append(Row("balance", OK if balance >= LOW_BALANCE else WARN, f"{balance:,} points",
                        "" if balance >= LOW_BALANCE else "low: calls may soon fail with InsufficientPointsError"))
    except (E.PoeConnectionError, E.PoeTimeoutError) as exc:  # nothing answers: the other checks cannot run
        rows[0] = Row("server", FAIL, f"{root}: not answering", _said(exc))
        return DoctorReport(rows + [_versions()])
    except E.PoeMagicError as exc:
        rows.append(Row("key", FAIL, "not accepted" if isinstance(exc, E.AuthError) else "could not check",
                        _said(exc)))
    rows.append(_catalogue())
    chosen = model.strip() if model else _default_model()
    if chosen is None:
        rows.append(Row("test call", FAIL, "no model to try", "name one: %poe doctor MODEL"))
    else:
        rows += _test_call(chosen, wait)
    _sharpen_skew()
    rows.append(_skew())
    rows.append(_rate_limit())
    rows.append(_versions())
    return DoctorReport(rows)


def _said(exc: BaseException) -> str:
    return scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]


def _catalogue() -> Row:
    try:
        snapshot = store.catalog()
    except E.PoeMagicError as exc:
        return Row("catalogue", FAIL, "could not be read", _said(exc))
    age = snapshot.age
    return Row("catalogue", OK if snapshot.ids else WARN, f"{len(snapshot.ids):,} models, fetched {ago(age)}",
               "" if snapshot.ids else "the server listed no models: names cannot be checked before sending")


def _default_model() -> str | None:
    """The default model, else the cheapest text model the catalogue lists (test bots aside)."""
    if settings.default_model:
        return str(settings.default_model)
    snapshot = store.cached()
    if snapshot is None:
        return None
    best: tuple[float, str] | None = None
    for raw in snapshot.entries:
        record = store.parse_entry(raw)
        if record is None or is_test_bot(record) or record["output_modalities"] not in ("text", ""):
            continue
        price = sum(p for p in (record.get("request_price"), record.get("prompt_price"),
                                record.get("completion_price")) if isinstance(p, float) and p == p and p >= 0)
        if price > 0 and (best is None or price < best[0]):
            best = (price, record["id"])
    return best[1] if best else (snapshot.ids[0] if snapshot.ids else None)


def _newest_id() -> str | None:
    try:
        page, _ = history_page(limit=1, timeout=10, retry=False)
    except E.PoeMagicError:
        return None
    return page[0]["query_id"] if page and isinstance(page[0], dict) else None


def _ask(model: str) -> str:
    """The test call, through the runner (asked for by the user: not asked about again)."""
    with confirm.approved():
        reply = pipeline.run(build_request(PROMPT, model), SilentSink(), prompt=PROMPT, timeout=CALL_TIMEOUT_S)
    if reply.error is not None:
        raise reply.error
    if reply.interrupted:
        raise KeyboardInterrupt
    return reply.text


def _test_call(model: str, wait: float) -> list[Row]:
    """The test call's row, and the row of its points-history entry."""
    after = _newest_id()
    started = time.time()
    try:
        answer = _ask(model)
    except E.PoeTimeoutError:
        return [Row("test call", FAIL, f"{model}: no answer in {CALL_TIMEOUT_S:.0f} s", "try another model")]
    except E.PoeMagicError as exc:
        return [Row("test call", FAIL, f"{model}: failed", _said(exc))]
    ended = time.time()
    said = " ".join(answer.split())[:40]
    rows = [Row("test call", OK, f"{model} answered in {ended - started:.2f} s ({said!r})")]
    call = Call(time=datetime.fromtimestamp(started, timezone.utc), model=model, points=None, chars=len(answer),
                elapsed=ended - started, status="ok", ended_us=int(ended * 1e6), after_id=after)
    return rows + [_listing(call, ended, wait)]


def _listing(call: Call, ended: float, wait: float) -> Row:
    """Poll the newest history page until the call's entry shows a final cost (or ``wait`` runs out)."""
    listed_after: float | None = None
    deadline = ended + wait
    problem = ""
    while time.time() < deadline:
        try:
            page, _ = history_page(limit=100, timeout=10, retry=False)
        except E.PoeMagicError as exc:
            problem = _said(exc)
            time.sleep(2.0)
            continue
        entries = [e for e in page if isinstance(e, dict) and isinstance(e.get("query_id"), str)
                   and isinstance(e.get("creation_time"), int)]
        found = assign([call], entries, set(), clock_skew()).get(0)
        if found:
            if listed_after is None:
                listed_after = time.time() - ended
            skew = clock_skew()
            if not is_provisional(found[0], skew[0] if skew else 0.0):
                cost = found[0].get("cost_points")
                took = time.time() - ended
                slow = took > SLOW_LISTING_S
                return Row("points history", WARN if slow else OK,
                           f"listed {listed_after:.1f} s after the answer, final cost after {took:.1f} s: {cost:,} points",
                           "costs arrive late: footers say 'points pending' meanwhile, the budget counts estimates"
                           if slow else "")
        time.sleep(1.0)
    if listed_after is not None:
        return Row("points history", WARN, f"listed after {listed_after:.1f} s, but its cost stayed a provisional 0 "
                   f"for {wait:.0f} s", "costs keep being looked for in the background for 10 minutes")
    return Row("points history", FAIL, f"did not list the test call within {wait:.0f} s",
               problem or "costs will stay pending; the budget counts estimates (report this with the table)")


def _sharpen_skew(times: int = 4) -> None:
    """A few quick requests at different fractions of a second: ``Date`` has whole seconds,
    so together they bound the skew more tightly than one answer does."""
    for _ in range(times):
        try:
            current_balance()
        except E.PoeMagicError:
            return
        time.sleep(0.37)


def _skew() -> Row:
    found = clock_skew()
    if found is None:
        return Row("clock skew", WARN, "no Date header seen", "entries are matched within ±5 s of each call")
    skew, unsure = found
    fine = abs(skew) - unsure <= 2.0
    return Row("clock skew", OK if fine else WARN, f"server {skew:+.1f} s (±{unsure:.1f} s) from this machine",
               "" if fine else "costs still match (the window follows the skew); check this machine's clock (NTP)")


def _rate_limit() -> Row:
    seen = rate_limit_headers()
    if not seen:
        return Row("rate limit", WARN, "no x-ratelimit-* headers seen", "the client keeps its own limit (~500/min)")
    parts = [f"{name.removeprefix('x-ratelimit-').removesuffix('-requests')} {value}" for name, value in seen.items()]
    return Row("rate limit", OK, ", ".join(parts))


def _versions() -> Row:
    found = [f"poe_magic {__version__}", f"python {platform.python_version()}"]
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return Row("versions", OK, ", ".join(found))
