"""Serve the local app with uvicorn on 127.0.0.1 and announce the URL when ready."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any

from poe_magic.server.app import build_app
from poe_magic.server.errors import code_style
from poe_magic.server.ratelimit import DEFAULT_RPM, KeyRateLimiter
from poe_magic.server.state import ServerState
from poe_magic.server.usage import seed_history

READY_PREFIX = "POE_LOCAL_SERVER_READY "

CLI_DESCRIPTION = """\
A local, offline stand-in for the Poe API (https://api.poe.com) on 127.0.0.1: the same routes,
payloads, Bearer-key auth and error shapes, answered by deterministic local bots. No points are
spent and nothing leaves the machine."""

CLI_EPILOG = """\
routes (see the README):
  POST /bot/{name}              the bot protocol (fastapi_poe.stream_request / get_bot_response)
  POST /v1/chat/completions     OpenAI-compatible chat, same models (stream: true for SSE)
  GET  /v1/models               the model catalogue (no key needed)
  GET  /usage/current_balance   the account's points
  GET  /usage/points_history    ?limit=1..100&starting_after=<query_id>, newest first
  POST /_local/usage_modes      change --history-lag etc. while running: {"history_lag": 3, ...}
  POST /_local/faults           plan failures: {"path": "/bot/EchoBot", "status": 500, "count": 2}
  GET  /_local/faults           the planned failures not used up yet
  POST /_local/restore          back to the server as launched (no faults, its own modes, fresh rate limits)
  POST /poe_api/file_upload_3RD_PARTY_POST   file uploads (fastapi_poe.upload_file)

models: offline stand-ins for real names (Claude-Sonnet-4, GPT-5, Gemini-2.5-Pro, ...) and
test bots (EchoBot, SlowBot, ChunkBot, FailingBot, ToolBot, ImageBot, ...); GET /v1/models
lists them all.

point poe_magic (or any Poe / OpenAI client) at it:
  export POE_BASE_URL=http://127.0.0.1:8765  POE_API_KEY=<the key>
  (OpenAI SDK: base_url=http://127.0.0.1:8765/v1)"""


async def _serve(state: ServerState, port: int, announce: Callable[[str], None],
                 parent_pid: int | None) -> None:
    import uvicorn

    # Let uvicorn bind the port itself: a pre-bound socket keeps Nagle on (40 ms stalls).
    config = uvicorn.Config(build_app(state), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", access_log=False, date_header=False)  # ApiHeaders sends Date
    server = uvicorn.Server(config)

    async def run() -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits when it cannot bind (it has logged why): a plain error instead
            raise OSError(f"cannot listen on 127.0.0.1:{port} (in use? --port 0 picks a free port)") from None

    task = asyncio.ensure_future(run())
    while not server.started:
        if task.done():
            task.result()  # re-raises why it could not start (port in use, ...)
            return
        await asyncio.sleep(0.01)
    host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
    announce(f"http://{host}:{bound_port}")
    while not task.done():
        if parent_pid is not None and os.getppid() != parent_pid:
            server.should_exit = True  # our parent died: do not linger as an orphan
        await asyncio.sleep(0.5)
    task.result()


def serve(port: int = 0, key: str = "", *, parent_pid: int | None = None,
          announce: Callable[[str], None] | None = None, history_entries: int = 500,
          rate_limit: float = DEFAULT_RPM, rate_burst: int | None = None,
          modes: dict[str, Any] | None = None) -> None:
    """Run the server until interrupted. ``port=0`` picks a free port; ``rate_limit`` is
    requests per minute per key (0: no limit); ``modes`` are :class:`UsageModes` fields."""
    state = ServerState(api_key=key)
    state.modes.update(modes or {})
    state.started_modes = dict(vars(state.modes))
    code_style["codes"] = state.modes.error_codes
    state.rate_limiter = KeyRateLimiter(rate_limit, rate_burst) if rate_limit > 0 else None
    seed_history(state, history_entries)  # a month of past spending to analyse offline

    def default_announce(url: str) -> None:
        print(READY_PREFIX + url, flush=True)

    asyncio.run(_serve(state, port, announce or default_announce, parent_pid))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import secrets

    parser = argparse.ArgumentParser(prog="python -m poe_magic.server", description=CLI_DESCRIPTION,
                                     epilog=CLI_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free port)")
    parser.add_argument("--key", default=None,
                        help="API key clients must send (default: $POE_LOCAL_SERVER_KEY, else a random throwaway "
                             "key, printed; prefer the variable: a --key shows in ps)")
    parser.add_argument("--history-entries", type=int, default=500, metavar="N",
                        help="seed the points history with N past calls spread over 30 days (default 500)")
    parser.add_argument("--rate-limit", type=float, default=DEFAULT_RPM, metavar="RPM",
                        help=f"requests per minute per key before 429 (default {DEFAULT_RPM:g}, as the real API; 0: off)")
    parser.add_argument("--rate-burst", type=int, default=None, metavar="N",
                        help="requests allowed back to back (default RPM/10)")
    parser.add_argument("--history-lag", type=float, default=0.0, metavar="S",
                        help="list each points-history entry S seconds after its call (the real API lists late)")
    parser.add_argument("--provisional-zero", type=float, default=0.0, metavar="S",
                        help="entries show cost_points 0 (empty breakdown) for S seconds once listed")
    parser.add_argument("--history-names", choices=("display", "lower"), default="display",
                        help="bot_name in the history: the display name (default) or lower-cased")
    parser.add_argument("--clock-skew", type=float, default=0.0, metavar="S",
                        help="this server's clock runs S seconds ahead (negative: behind): entries and Date")
    parser.add_argument("--usage-latency", type=float, default=0.0, metavar="S",
                        help="the /usage/ routes answer S seconds late")
    parser.add_argument("--cost-fields", action="store_true",
                        help="history entries carry cost_usd and cost_breakdown_in_points")
    parser.add_argument("--error-codes", choices=("status", "string"), default="status",
                        help="error.code: the HTTP status (default) or the real API's strings (invalid_api_key, ...)")
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    modes = {"history_lag": args.history_lag, "provisional_zero": args.provisional_zero,
             "history_names": args.history_names, "clock_skew": args.clock_skew,
             "usage_latency": args.usage_latency, "cost_fields": args.cost_fields, "error_codes": args.error_codes}
    key = args.key or os.environ.get("POE_LOCAL_SERVER_KEY") or "local-" + secrets.token_hex(8)
    show_key = args.key is None and not os.environ.get("POE_LOCAL_SERVER_KEY")

    def announce(url: str) -> None:
        print(READY_PREFIX + url, flush=True)
        if sys.stdout.isatty() or show_key:
            print(f"poe_magic local server at {url}\n  export POE_BASE_URL={url}", flush=True)
            if show_key:
                print(f"  export POE_API_KEY={key}   # a throwaway key for this local server only", flush=True)

    try:
        serve(args.port, key, parent_pid=args.parent_pid, announce=announce, history_entries=args.history_entries,
              rate_limit=args.rate_limit, rate_burst=args.rate_burst, modes=modes)
    except KeyboardInterrupt:
        pass
    except ValueError as exc:  # a bad mode value: one line
        print(f"python -m poe_magic.server: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # could not start: one line, no traceback
        print(f"python -m poe_magic.server: {exc}", file=sys.stderr)
        return 1
    return 0
