"""An immediate cost estimate per answer (issue 24 row 6): ``Reply.estimated_points`` from the
catalogue's prices x tokens as soon as the answer ends (footer ``≈ N points``), the billed cost
replacing it when the history lists it, and ``estimate()`` reporting how far the estimates
were from the billed costs. (The footer in a kernel, with a lagging history:
tests/test_costs_real_api.py::test_footer_shows_the_estimate_then_the_billed_cost_in_place.)"""

from __future__ import annotations

import pytest
from protocols import Protocol, both_protocols

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


@both_protocols
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


def test_a_refused_call_has_no_estimate(activated: LocalServer, protocol: Protocol) -> None:
    activated.fail_next(protocol.path("EchoBot"), 402)
    reply = poe_magic.send("hello", "EchoBot", stream=False)
    assert reply.error is not None and reply.estimated_points is None


def test_points_per_usd_is_learned_from_cost_usd_entries() -> None:
    from poe_magic.spending.estimator import rate_from_columns

    columns = {"cost_points": [300, 0, 150, "x", 90, 10], "cost_usd": ["0.010000", "0.5", "0.005", "1", None, "oops"]}
    assert rate_from_columns(columns) == pytest.approx(30_000)  # 300/0.01 and 150/0.005; the rest unusable
    assert rate_from_columns({"cost_points": [5], "cost_usd": ["0"]}) is None
    assert rate_from_columns({}) is None


def test_the_rate_comes_from_this_accounts_history(activated: LocalServer) -> None:
    import httpx

    from poe_magic.spending.estimator import points_per_usd

    assert points_per_usd() == (pytest.approx(1 / 0.00003), "documented")
    changed = httpx.post(activated.url + "/_local/usage_modes", json={"cost_fields": True},
                         headers={"Authorization": f"Bearer {activated.key}"}, timeout=10)
    assert changed.status_code == 200
    poe_magic.send("hello", "EchoBot", stream=False)
    poe_magic.points_history(refresh=True)  # the history cache now holds entries with cost_usd
    from poe_magic.core.session import current
    from poe_magic.spending.estimator import _Rate

    current().state(_Rate).read_at = float("-inf")  # read again now, not a minute later
    rate, source = points_per_usd()
    assert source == "history" and rate == pytest.approx(1 / 0.00003, rel=0.01)
