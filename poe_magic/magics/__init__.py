"""``%%poe`` and ``%poe``: thin glue from notebook text to the Python API. May import everything below it.

Options are declared with IPython's ``magic_arguments`` (so ``%%poe?`` lists them and bad
options are a one-line ``UsageError``); settings are traitlets (``%config PoeMagics...``).
The magic itself is :class:`~poe_magic.magics.poe.PoeMagics`; a cell runs in
:mod:`~poe_magic.magics.cell`, and each ``%poe SUBCOMMAND`` lives in the ``*_commands`` module
of its feature, dispatched by :mod:`~poe_magic.magics.commands`.
"""

from __future__ import annotations

from typing import Any

from poe_magic.magics import completion, transformer
from poe_magic.magics.last_result import LastResult
from poe_magic.magics.poe import PoeMagics
from poe_magic.wire.loop import warm_up

_last_results: dict[int, LastResult] = {}


def load(ipython: Any) -> None:
    ipython.register_magics(PoeMagics(shell=ipython))
    transformer.register(ipython)  # `%poe what is 2**10?` asks, not shows help
    completion.register(ipython)  # Tab completes models, options, --param names and choices
    warm_up()  # fastapi_poe, httpx and the loop thread, in the background: a fast first call
    if id(ipython) not in _last_results:
        _last_results[id(ipython)] = LastResult(ipython)
        _last_results[id(ipython)].register()  # `_poe` after a compare(...) from Python


def unload(ipython: Any) -> None:
    transformer.unregister(ipython)
    completion.unregister(ipython)
    last = _last_results.pop(id(ipython), None)
    if last is not None:
        last.unregister()
    magics = ipython.magics_manager.magics
    magics["line"].pop("poe", None)
    magics["cell"].pop("poe", None)
    magics_object = ipython.magics_manager.registry.pop("PoeMagics", None)
    if magics_object is not None:
        magics_object.unlink_settings()
    from poe_magic.prompting.lifecycle import stop_background

    stop_background()  # no poe_magic thread outlives the extension
