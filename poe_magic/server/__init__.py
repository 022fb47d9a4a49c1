"""A local, offline, Poe-compatible server: same routes, payloads, auth and errors.

Run it with ``python -m poe_magic.server [--port P] [--key K]``, or from Python with
:func:`poe_magic.server.launch.local_server` / :func:`poe_magic.start_local_server`.
"""

from poe_magic.server.app import build_app
from poe_magic.server.run import serve
from poe_magic.server.state import ServerState

__all__ = ["build_app", "ServerState", "serve"]
