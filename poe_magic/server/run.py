"""Serve the local app with uvicorn on 127.0.0.1 and announce the URL when ready."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Callable, Optional

from .app import build_app
from .ratelimit import DEFAULT_RPM, KeyRateLimiter
from .state import ServerState
from .usage import seed_history

READY_PREFIX = "POE_LOCAL_SERVER_READY "


async def _serve(state: ServerState, port: int, announce: Callable[[str], None],
                 parent_pid: Optional[int]) -> None:
    import uvicorn

    # Let uvicorn bind the port itself: a pre-bound socket keeps Nagle on (40 ms stalls).
    config = uvicorn.Config(build_app(state), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
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


def serve(port: int = 0, key: str = "", *, parent_pid: Optional[int] = None,
          announce: Optional[Callable[[str], None]] = None, history_entries: int = 500,
          rate_limit: float = DEFAULT_RPM, rate_burst: Optional[int] = None) -> None:
    """Run the server until interrupted. ``port=0`` picks a free port; ``rate_limit`` is
    requests per minute per key (0: no limit)."""
    state = ServerState(api_key=key)
    state.rate_limiter = KeyRateLimiter(rate_limit, rate_burst) if rate_limit > 0 else None
    seed_history(state, history_entries)  # a month of past spending to analyse offline

    def default_announce(url: str) -> None:
        print(READY_PREFIX + url, flush=True)

    asyncio.run(_serve(state, port, announce or default_announce, parent_pid))


def main(argv: Optional[list[str]] = None) -> int:
    import argparse
    import secrets

    parser = argparse.ArgumentParser(prog="python -m poe_magic.server", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--key", default=None,
                        help="API key clients must send (default: $POE_LOCAL_SERVER_KEY, else a random one, printed)")
    parser.add_argument("--history-entries", type=int, default=500, metavar="N",
                        help="seed the points history with N past calls spread over 30 days (default 500)")
    parser.add_argument("--rate-limit", type=float, default=DEFAULT_RPM, metavar="RPM",
                        help=f"requests per minute per key before 429 (default {DEFAULT_RPM:g}, as the real API; 0: off)")
    parser.add_argument("--rate-burst", type=int, default=None, metavar="N",
                        help="requests allowed back to back (default RPM/10)")
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
              rate_limit=args.rate_limit, rate_burst=args.rate_burst)
    except KeyboardInterrupt:
        pass
    return 0
