"""Structured answers, the call log and grading (issue 17).

Client in this process, the local server in its own (:func:`benchmarks.common.server`), a
private ``POE_MAGIC_HOME``.

1. Schema parse + validate per answer (a pydantic model with a Literal, a float and a bool;
   the JSON after a sentence, as a chatty model writes it), µs, vs the median time of the
   answer itself (``ask(..., "JsonChattyBot", schema=...)``) measured in the same run.
2. The call log's cost on the caller's thread per call (``calllog.record``: a row queued, the
   writer thread does the disk), µs; the writer's throughput (rows written per second); and
   ``ask()`` with the log on vs off (median of 40 calls each, ratio: goal <= 1.05x).
3. ``poe_magic.log(search=...)`` over 100,000 logged calls: a rare word (FTS5), a common word
   (limit 1,000), and the newest 1,000 without a search.
4. Grading throughput vs batch throughput: 200 answers graded by ``JudgeBot`` vs 200 prompts
   batched to ``JsonBot`` (both concurrency 16, no rate limit, fresh journal), requests/s.
5. ``find_json`` on a hostile 2 MB answer (objects never closed), seconds (goal: well under the
   time a 2 MB answer takes to stream), next to a 2 MB JSON answer after prose (issue 23).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from typing import Any, Literal

from .common import Row, row, server, spread

LOG_ROWS = 100_000
GRADE_ROWS = 200
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


def _schema_overhead(rows: list[Row]) -> None:
    import pydantic

    import poe_magic
    from poe_magic.prompting.schemas import as_schema

    class Label(pydantic.BaseModel):
        label: Literal["spam", "ham"]
        score: float
        flagged: bool

    schema = as_schema(Label)
    text = 'Here is the answer you asked for: {"label": "spam", "score": 0.9, "flagged": true}'
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        schema.parse(text)
    per = (time.perf_counter() - start) / n
    answers = []
    for i in range(30):
        reply = poe_magic.ask(f"is this spam {i}", "JsonChattyBot", schema=Label, stream=False)
        answers.append(reply.elapsed or 0.0)
    answer = statistics.median(answers)
    rows.append(row("structured", "schema parse + validate per answer", per * 1e6, unit="µs",
                    notes=f"pydantic model, JSON after a sentence; {n:,} parses"))
    rows.append(row("structured", "schema parse + validate / the answer's own time", per, baseline=answer,
                    goal="<= 0.01x", notes=f"answer median {answer * 1000:.1f} ms ({spread(answers)})"))


def _log_costs(rows: list[Row]) -> None:
    import poe_magic
    from poe_magic.base.config import settings
    from poe_magic.core.reply import Reply
    from poe_magic.spending import calllog

    reply = Reply("EchoBot", "a prompt " * 20, text="an answer " * 80, elapsed=0.5, time_to_first_token=0.1, points=10)
    n = 5_000
    calllog.flush()
    start = time.perf_counter()
    for _ in range(n):
        calllog.record(reply)
    queued = (time.perf_counter() - start) / n
    start = time.perf_counter()
    calllog.flush(120)
    written = time.perf_counter() - start
    rows.append(row("structured", "log write on the caller's thread per call", queued * 1e6, unit="µs",
                    notes="calllog.record: the row is queued; the log's own thread writes it"))
    rows.append(row("structured", "log writer throughput", n / max(written + queued * n, 1e-9), unit="rows/s",
                    notes=f"{n:,} rows of ~1 KB, WAL, batched transactions, FTS5 index"))
    timings: dict[bool, list[float]] = {True: [], False: []}
    for i in range(80):  # interleaved: load on the machine hits both alike
        on = i % 2 == 0
        settings.log = on
        started = time.perf_counter()
        poe_magic.ask(f"log me {i}", "EchoBot", stream=False)
        timings[on].append(time.perf_counter() - started)
    settings.log = True
    on_med, off_med = statistics.median(timings[True]), statistics.median(timings[False])
    rows.append(row("structured", "ask() with the call log on vs off", on_med, baseline=off_med, goal="<= 1.05x",
                    notes=f"median of 40 each: on {on_med * 1000:.2f} ms, off {off_med * 1000:.2f} ms"))


def _log_search(rows: list[Row]) -> None:
    import poe_magic
    from poe_magic.spending import calllog

    db = calllog.connect(calllog.path())
    now = time.time()
    batch: list[tuple[Any, ...]] = []
    for i in range(LOG_ROWS):
        words = " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7))
        rare = " zanzibar" if i % 10_000 == 0 else ""
        batch.append((f"bench{i}", "2026-01-01T00:00:00", now - LOG_ROWS + i, "ask", f"Model-{i % 5}",
                      f"question {i} about {words}{rare}", None, "{}", None, f"answer {i}: {words} " * 8, None,
                      "ok", None, 0.1, 0.5, 10, None, "", "", 0, 0, None))
        if len(batch) == 10_000:
            with db:
                db.executemany(f"INSERT INTO calls ({', '.join(calllog.COLUMNS)}) VALUES "
                               f"({', '.join('?' * len(calllog.COLUMNS))})", batch)
            batch = []
    db.close()
    for label, call in (("rare word (10 hits)", lambda: poe_magic.log("zanzibar")),
                        ("common word, limit 1,000", lambda: poe_magic.log("alpha", limit=1000)),
                        ("newest 1,000, no search", lambda: poe_magic.log(limit=1000))):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        rows.append(row("structured", f"log(search) over {LOG_ROWS:,} calls: {label}", statistics.median(times),
                        goal="<= 0.5 s", notes=spread(times)))


def _grading_vs_batch(rows: list[Row]) -> None:
    import pandas as pd

    import poe_magic

    prompts = [f"prompt number {i} about {WORDS[i % len(WORDS)]}" for i in range(GRADE_ROWS)]
    started = time.perf_counter()
    frame = poe_magic.batch(prompts, "{text}", "JsonBot", concurrency=16, max_rpm=0, progress=False, cache=False)
    batch_s = time.perf_counter() - started
    assert isinstance(frame, pd.DataFrame)
    started = time.perf_counter()
    graded = poe_magic.grade(frame, judge="JudgeBot", rubric="length", concurrency=16, max_rpm=0, progress=False,
                             cache=False)
    grade_s = time.perf_counter() - started
    assert graded["score"].notna().all()
    rows.append(row("structured", "batch throughput", GRADE_ROWS / batch_s, unit="req/s",
                    notes=f"{GRADE_ROWS} prompts to JsonBot, concurrency 16: {batch_s:.2f} s"))
    rows.append(row("structured", "grading throughput", GRADE_ROWS / grade_s, unit="req/s",
                    notes=f"{GRADE_ROWS} answers graded by JudgeBot (schema parsed per row): {grade_s:.2f} s"))
    rows.append(row("structured", "grading time vs batch time", grade_s, baseline=batch_s, goal="<= 1.5x",
                    notes="same engine; grading sends a longer prompt (rubric, question, answer) and parses a schema"))


def _hostile_json(rows: list[Row]) -> None:
    """Issue 23 row 10: a 2 MB answer of 200 objects never closed vs a 2 MB JSON answer after prose."""
    from poe_magic.prompting.schemas import find_json

    almost = "".join(f'{{"k{i}": "{"x" * 10_000}", "n": ' for i in range(200))
    plain = "Here is the answer: " + '{"a": 1, "b": "' + "y" * len(almost) + '"}'

    def best(text: str) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            find_json(text)
            times.append(time.perf_counter() - start)
        return min(times)

    hostile, normal = best(almost), best(plain)
    rows.append(row("structured", "find_json: 2 MB almost-JSON vs a 2 MB JSON answer", hostile, baseline=normal,
                    goal="<= 0.5 s", notes=f"{hostile * 1000:.0f} ms vs {normal * 1000:.1f} ms (before: one parse "
                                         "per '{', up to 200 rescans of the text)"))


def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="poe_bench_structured_") as home, server() as srv:
        saved = {name: os.environ.get(name) for name in ["POE_MAGIC_HOME", *srv.env]}
        os.environ["POE_MAGIC_HOME"] = home
        os.environ.update(srv.env)
        try:
            _schema_overhead(rows)
            _hostile_json(rows)
            _log_costs(rows)
            _grading_vs_batch(rows)
            _log_search(rows)
        finally:
            from poe_magic.spending import calllog

            calllog.flush()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    return rows
