"""The catalogue at the real size (362 models, ``POE_LOCAL_SERVER_CATALOG=real``): parse time, Tab completion.

The payload is the local server's own ``/v1/models`` body at the real size, built in this
process (no HTTP: the figure is the client's work). Measured: ``catalog.parse_models`` (the
flat records behind ``models()``), the :class:`~poe_magic.catalog.store.Snapshot` index (what
name resolution, parameter checks and completion read), and checking one ``--param`` against
a model's schema. Baseline: ``json.loads`` of the same body (the least any client does).
Tab completion (``magics.completion.complete_line``, what the IPython matcher runs) on that
catalogue held in memory: the first completion (which builds the index) and the next ones;
goal < 20 ms.
"""

from __future__ import annotations

import json
import os
import time

from .common import Row, median, row, spread

REPEATS = 30


def payload() -> dict:
    from poe_magic.server.bots import make_bots
    from poe_magic.server.catalog import catalog_payload
    from poe_magic.server.catalog_bulk import ENV, bulk_bots
    from poe_magic.server.state import ServerState

    saved = os.environ.get(ENV)
    os.environ[ENV] = "real"
    try:
        state = ServerState(api_key="bench")
        bots = make_bots(state)
        bots += bulk_bots(state, {b.name: b for b in bots})
        state.bots = {b.name: b for b in bots}
        return catalog_payload(state)
    finally:
        os.environ.pop(ENV) if saved is None else os.environ.__setitem__(ENV, saved)


def _time(fn, repeats: int = REPEATS) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run() -> list[Row]:
    from poe_magic.catalog.parameters import check_params
    from poe_magic.catalog.store import Snapshot, parse_models

    body = payload()
    text = json.dumps(body)
    n = len(body["data"])
    loads = _time(lambda: json.loads(text))
    parse = _time(lambda: parse_models(json.loads(text)))
    index = _time(lambda: Snapshot("bench", time.time(), json.loads(text)["data"]))
    snapshot = Snapshot("bench", time.time(), body["data"])
    check = _time(lambda: check_params("Claude-Sonnet-4.5", {"thinking_budget": "2000"},
                                       snapshot.entry("claude-sonnet-4.5")), repeats=1000)
    from poe_magic.base.config import settings
    from poe_magic.catalog import store
    from poe_magic.magics import completion

    store._mem().snapshots[settings.root] = snapshot
    completion._index = None
    first = _time(lambda: completion.complete_line("%%poe cla"), repeats=1)
    lines = ["%%poe cla", "%%poe Claude-Opus-4.6 --param output_effort=h", "%poe us", "%%poe GPT-5 --par", "%%poe g"]
    later = _time(lambda: [completion.complete_line(line) for line in lines], repeats=200)
    later = [t / len(lines) for t in later]
    store.clear_cache()
    note = f"{n} models, {len(text) / 1024:.0f} KB of JSON; baseline: json.loads of the same body"
    return [
        row("catalog", f"parse {n} models (json + parse_models)", median(parse), baseline=median(loads),
            goal="<= 50 ms", notes=f"{spread(parse)}; {note}"),
        row("catalog", f"index {n} models (json + Snapshot)", median(index), baseline=median(loads),
            notes=f"{spread(index)}; {note}"),
        row("catalog", "check one --param against its schema", median(check),
            notes=f"{spread(check)}; Snapshot.entry + check_params"),
        row("catalog", f"Tab completion, first (builds the index of {n} models)", first[0], goal="< 20 ms",
            notes="complete_line('%%poe cla') on the cached catalogue; no request"),
        row("catalog", "Tab completion, later", median(later), goal="< 20 ms",
            notes=f"{spread(later)}; mean of {len(lines)} lines (models, --param choices, subcommands, options)"),
    ]
