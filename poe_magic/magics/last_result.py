"""``_poe``: the last answer or comparison of any poe_magic call, from a magic or from Python.

The magics set it themselves (:func:`~poe_magic.magics.parsing.store`); ``ask``/``send``/
``stream`` publish their Reply as it ends (:func:`poe_magic.prompting.asking.publish_last`
writes ``_poe`` while the extension is loaded); a ``compare(...)`` from Python becomes ``_poe``
when its cell ends, unless an answer started after it (``ask`` in the same cell, later).
"""

from __future__ import annotations

from typing import Any


class LastResult:
    """The ``pre_run_cell`` / ``post_run_cell`` pair that keeps ``_poe`` on Python comparisons."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.before: Any = None

    def pre(self, *_: Any) -> None:
        self.before = _last_comparison()

    def post(self, *_: Any) -> None:
        comparison = _last_comparison()
        current = self.shell.user_ns.get("_poe")
        if comparison is None or comparison is self.before or current is comparison:
            return
        replies = [reply for runs in comparison.all_runs.values() for reply in runs]
        started = getattr(current, "started_at", None)
        if started is not None and all(current is not r for r in replies) and \
                all(started > r.started_at for r in replies):
            return  # an answer asked after the comparison, in the same cell: it is the last
        self.shell.user_ns["_poe"] = comparison

    def register(self) -> None:
        self.shell.events.register("pre_run_cell", self.pre)
        self.shell.events.register("post_run_cell", self.post)

    def unregister(self) -> None:
        for event, callback in (("pre_run_cell", self.pre), ("post_run_cell", self.post)):
            try:
                self.shell.events.unregister(event, callback)
            except ValueError:
                pass


def _last_comparison() -> Any:
    import sys

    run = sys.modules.get("poe_magic.comparison.run")  # not imported: no comparison yet
    return None if run is None else run.last_comparison()
