"""What the extension starts, and stopping it: the request loop thread, the cost reconciler's
loop thread, the call log's writer thread.

They start on first use. :func:`stop_background` ends them (``%unload_ext poe_magic``, and at
interpreter exit, after the call log's queue is written); a later request starts them again.
"""

from __future__ import annotations

import atexit

from poe_magic.core.session import current
from poe_magic.spending import calllog
from poe_magic.spending.reconciler import stop_costs_loop
from poe_magic.wire.loop import shared_loop, wait_warm_up


def stop_background() -> None:
    """End the session's reconciler, write the queued log rows, stop every poe_magic thread."""
    wait_warm_up()
    current().close()
    calllog.close()
    stop_costs_loop()
    shared_loop().stop()


atexit.register(stop_background)

__all__ = ["stop_background"]
