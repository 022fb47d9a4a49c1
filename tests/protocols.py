"""Running the shared suites over both wire protocols (issue 24 row 8).

The fixture is registered in ``conftest.py``; a test module opts in by marking the tests that should run over both: ``@both_protocols`` (or a
``protocol`` argument, for a test that needs :class:`Protocol`), or ``pytestmark =
both_protocols`` for a whole module. Only fast, in-process tests are marked: the kernel tests
stay on the default protocol (one kernel test sets ``openai`` by ``%config``). Each such test runs twice, once
per protocol; the fixture sets ``settings.protocol`` and the autouse isolation fixture puts it
back after the test. :class:`Protocol` names where each protocol's requests land on the local
server, so request-log checks and planted faults read the same on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from poe_magic.base.config import PROTOCOLS, settings
from poe_magic.server.launch import LocalServer

CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class Protocol:
    """One protocol, as a test sees it on the local server."""

    name: str

    def path(self, model: str = "") -> str:
        """Where a request for ``model`` goes (to plant a fault on)."""
        return f"/bot/{model}" if self.name == "poe" else CHAT

    def sent(self, server: LocalServer, model: str | None = None) -> list[dict[str, Any]]:
        """The requests that asked a model (``model`` only, when given), in the server's log. On
        the openai path a request refused before its route ran (a planted fault) names no model."""
        if self.name == "poe":
            return server.requests("/bot/" + (model or ""))
        return [r for r in server.requests(CHAT) if model is None or r.get("bot") in (model, None)]


#: the mark that runs a test once per protocol
both_protocols = pytest.mark.usefixtures("protocol")


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> Protocol:
    """Runs the test once per protocol, with ``settings.protocol`` set to it."""
    settings.protocol = request.param
    return Protocol(request.param)
