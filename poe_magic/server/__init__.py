"""A local, offline, Poe-compatible server: same routes, payloads, auth and errors.

Run it with ``python -m poe_magic.server [--port P] [--key K]``, or from Python with
:func:`poe_magic.testing.local_server` / :func:`poe_magic.start_local_server`.
"""

from .app import build_app
from .state import ServerState
from .run import serve

__all__ = ["build_app", "ServerState", "serve"]
