"""Real error bodies as one line with what to do (issue 24 row 7): the recorded 400s
(``unsupported_feature_for_model``, "Unsupported value ..."), ``model_not_found`` as a 400,
``invalid_api_key``, and a 402 whose line shows the balance; each planted on the local server
with the real body, answered through the real client path."""

from __future__ import annotations

from typing import Any

import pytest
from faultkit import one_line
from harness import Kernel
from protocols import Protocol, both_protocols

import poe_magic
from poe_magic.base import errors as E
from poe_magic.server.launch import LocalServer


def body(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    err = {"message": message, "type": kind, "param": param, "code": code}
    return {"error": {k: v for k, v in err.items() if v is not None}}


NO_TOOLS = body("Model gpt-4o-mini does not support tool calling. Use a tool-capable model or remove tools "
                "from the request.", "invalid_request_error", "unsupported_feature_for_model", "model")
UNSUPPORTED_VALUE = body("Unsupported value: 'high' is not supported with the 'gpt-5.2-chat-latest' model. "
                         "Supported values are: 'medium'.", "invalid_request_error")
CASES = [
    (400, NO_TOOLS, E.UnsupportedFeatureError,
     "GPT-4o-mini does not support tool calling; pick a tool-capable model (%poe models tools lists them) or drop --tools"),
    (400, UNSUPPORTED_VALUE, E.PoeAPIError,
     "GPT-4o-mini refused the request (400): Unsupported value: 'high' is not supported with the "
     "'gpt-5.2-chat-latest' model. Supported values are: 'medium'; check the options and --param values"),
    (400, body("Model gpt-4o-mini does not exist", "invalid_request_error", "model_not_found", "model"),
     E.UnknownModelError, "unknown model 'GPT-4o-mini' (400); check the spelling"),
    (403, body("Invalid API key", "authentication_error", "invalid_api_key"), E.AuthError,
     "the server rejected the API key (403) asking GPT-4o-mini; check POE_API_KEY or run %poe login"),
    (402, body("You've used up your points! Visit https://poe.com/api/keys to get more.", "insufficient_quota",
               "insufficient_points"), E.InsufficientPointsError,
     "not enough points to ask GPT-4o-mini (402): You've used up your points! Visit https://poe.com/api/keys to get "
     "more.; balance "),
]


@both_protocols
@pytest.mark.parametrize("status,error_body,cls,line", CASES, ids=[c[2].__name__ + str(c[0]) for c in CASES])
def test_real_bodies_read_as_one_line(activated: LocalServer, status: int, error_body: dict[str, Any],
                                      cls: type[E.PoeMagicError], line: str, protocol: Protocol) -> None:
    activated.reset()
    activated.fail_next(protocol.path("GPT-4o-mini"), status, body=error_body)
    with pytest.raises(E.PoeMagicError) as caught:
        poe_magic.ask("hi", "GPT-4o-mini", stream=False)
    assert type(caught.value) is cls
    assert line in str(caught.value) and "\n" not in str(caught.value)
    assert len(protocol.sent(activated, "GPT-4o-mini")) == 1  # none of these is retried


def test_a_402_in_the_notebook_shows_the_balance(kernel: Kernel, server: LocalServer) -> None:
    server.fail_next("/bot/GPT-4o-mini", 402, body=CASES[-1][1])
    result = kernel.run("%%poe GPT-4o-mini\nhello")
    line = one_line(result, "InsufficientPointsError")
    assert "You've used up your points!" in line and "; balance " in line and line.endswith(
        "points; top up at poe.com/api_key or pick a cheaper model")
