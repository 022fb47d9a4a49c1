"""An immediate cost estimate per answer (issue 24 row 6): ``Reply.estimated_points`` from the
catalogue's prices x tokens as soon as the answer ends (footer ``≈ N points``), the billed cost
replacing it when the history lists it, and ``estimate()`` reporting how far the estimates
were from the billed costs. (The footer in a kernel, with a lagging history:
tests/test_costs_real_api.py::test_footer_shows_the_estimate_then_the_billed_cost_in_place.)"""

from __future__ import annotations

import pytest

import poe_magic
from poe_magic.core.reply import Reply
from poe_magic.server.launch import LocalServer
from poe_magic.spending.ledger import wait_for_costs


def test_footer_estimate_then_billed() -> None:
    reply = Reply(model="M", prompt="p", text="answer", elapsed=1.0, points_pending=True, estimated_points=1234)
    assert reply.footer().endswith("· ≈ 1,234 points")
    reply.set_points(1300)
    assert reply.footer().endswith("· 1,300 points") and "≈" not in reply.footer()
    assert Reply(model="M", prompt="p", points_pending=True).footer().endswith("points pending")


def test_estimates_land_at_once_and_are_calibrated_against_billed(activated: LocalServer) -> None:
    echo = poe_magic.send("hello", "EchoBot", stream=False)
    assert echo.estimated_points == 10  # a per-request price of 10 points: exact
    haiku = poe_magic.send("hello there", "Claude-Haiku-3.5", stream=False)
    # per-token prices ($0.80 / $4 per million): prompt and answer tokens at 4 characters each
    tokens_in, tokens_out = len("hello there") // 4, len(haiku.text) // 4
    expected = round((0.8e-6 * tokens_in + 4e-6 * tokens_out) / 0.00003)
    assert haiku.estimated_points == max(1, expected)
    assert wait_for_costs(30)
    assert (echo.points, haiku.points) == (10, 60)  # billed: the footer's figure now
    calibration = poe_magic.estimate("hello", "EchoBot").attrs["calibration"]
    assert calibration["calls"] == 2 and calibration["median_error"] == pytest.approx(
        (0 + abs(haiku.estimated_points - 60) / 60) / 2)


def test_a_refused_call_has_no_estimate(activated: LocalServer) -> None:
    activated.fail_next("/bot/EchoBot", 402)
    reply = poe_magic.send("hello", "EchoBot", stream=False)
    assert reply.error is not None and reply.estimated_points is None
