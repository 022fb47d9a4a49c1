"""The client rate limiter (issue 18 item 10, issue 14 item 5 client side): a sliding one-minute
window that lets a small batch run at full concurrency and holds ``max_rpm`` over a long one,
and follows the server's ``x-ratelimit-*`` headers."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Kernel, loaded_kernel

from poe_magic.server.launch import LocalServer, local_server
from poe_magic.wire.ratelimit import RateLimiter, _seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def most_in_any_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    best, low = 0, 0
    for high, t in enumerate(starts):
        while t - starts[low] >= window - 1e-9:
            low += 1
        best = max(best, high - low + 1)
    return best


def test_long_run_never_exceeds_the_allowance_in_any_minute_and_keeps_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(450, clock=clock)
    rng = random.Random(7)
    starts = []
    for _ in range(2_000):  # callers arrive in bursts and lulls, as workers finish
        clock.now += rng.choice([0.0, 0.0, 0.01, 0.05, 0.3])
        wait = limiter.reserve()
        assert wait >= 0
        starts.append(clock.now + wait)
    assert most_in_any_window(starts, 60.0) == 450
    span = max(starts) - min(starts)
    # 2,000 starts need at least 4 whole windows after the first; no more than one window of slack
    assert 4 * 60 <= span <= 5 * 60 + 5
    assert starts[:450] == sorted(starts[:450]) and max(starts[:450]) - starts[0] < 60  # the first minute: a burst


def test_headers_cap_the_allowance_and_pause_until_the_reset() -> None:
    clock = FakeClock()
    limiter = RateLimiter(450, clock=clock)
    limiter.follow({"x-ratelimit-limit-requests": "120", "x-ratelimit-remaining-requests": "2",
                    "x-ratelimit-reset-requests": "20s"})
    assert limiter.server_limit == 120 and limiter.allowance == 120
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, pytest.approx(20.0)]  # 2 left, then the reset
    # seen 5 s ago: the reset is 5 s nearer
    limiter.follow({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}, age=5.0)
    assert limiter.reserve() == pytest.approx(355.0)
    # a 429's retry waits for the server's reset, not only Retry-After
    clock.now += 400.0
    limiter.follow({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30"})
    limiter.pause(1.0)
    assert limiter.reserve() == pytest.approx(30.0)


@pytest.mark.parametrize("bad", ["", "-1", "nan", "inf", "1e9", "12 s; drop table", "9" * 50, "1h1h1h"])
def test_hostile_headers_are_ignored(bad: str) -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock)
    limiter.follow({"x-ratelimit-limit-requests": bad, "x-ratelimit-remaining-requests": bad,
                    "x-ratelimit-reset-requests": bad})
    assert limiter.server_limit is None and limiter.reserve() == 0.0
    assert _seconds(bad) is None or 0 <= _seconds(bad) <= 3600  # type: ignore[operator]


# -- real HTTP, real kernel -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def rk(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    with loaded_kernel(server, tmp_path_factory.mktemp("rate_home"), "import poe_magic") as k:
        yield k


def test_batch_holds_the_window_over_real_http(rk: Kernel, server: LocalServer, tmp_path: Path) -> None:
    """The shared limiter with a 2 s window (so the test is short): 120/min = 4 starts per 2 s;
    12 requests arrive at the server in three bursts of 4, never 5 within a window."""
    rk.run_ok("from poe_magic.wire.ratelimit import limiter_for\n"
              "limiter_for(poe_magic.settings, 120).window = 2.0")
    server.reset()
    rk.run_ok("out = poe_magic.batch([f'w{i}' for i in range(12)], '{text}', models='EchoBot', concurrency=8, "
              "max_rpm=120, cache=False, progress=False)")
    times = sorted(r["time"] for r in server.requests("/bot/EchoBot"))
    assert len(times) == 12
    assert most_in_any_window(times, 2.0) <= 4  # counted at the server, by arrival
    assert times[-1] - times[0] >= 3.9
    assert times[3] - times[0] < 1.0  # the first four at once: a burst, not a pace


@pytest.mark.kernel
@pytest.mark.http
def test_the_limiter_follows_the_headers_the_local_server_sends(tmp_path: Path) -> None:
    """A server whose limit (120/min) is below max_rpm: after a small batch the shared limiter
    has taken the limit from the x-ratelimit-* headers of real responses."""
    with local_server(args=["--rate-limit", "120", "--rate-burst", "120"]) as srv:
        k = Kernel(env={**srv.env, "POE_MAGIC_HOME": str(tmp_path / "home")})
        try:
            k.run_ok("import poe_magic\nout = poe_magic.batch([f'h{i}' for i in range(6)], '{text}', "
                     "models='EchoBot', concurrency=3, progress=False)")
            assert k.value("out.error.isna().all().item()") is True
            got = k.value("(lambda l: [l.server_limit, l.allowance, l._server_left is not None])"
                          "(__import__('poe_magic.wire.ratelimit', fromlist=['x']).limiter_for(poe_magic.settings, None))")
            assert got == [120, 120, True]
        finally:
            k.shutdown()


@pytest.mark.http
def test_single_calls_book_on_the_window_they_share_with_a_batch(activated: LocalServer) -> None:
    """Every streamed request books a start on its server and key's limiter (``max_rpm``, default
    500/min), the very one batches drive: with a 2 s window at 120/min (4 starts per window), 8
    asks from 8 threads at once and then 6 asks beside a 6-row batch arrive at the server never 5
    within a window. The real API sends no rate-limit headers: this count is the only guard."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import poe_magic
    from poe_magic.base.config import settings
    from poe_magic.wire import ratelimit

    settings.max_rpm = 120
    ratelimit._limiters.clear()  # an earlier batch of this process may have made this key's limiter
    limiter = ratelimit.shared(settings)
    assert limiter is not None and limiter.configured_rpm == 120
    limiter.window = 2.0
    try:
        activated.reset()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: poe_magic.ask(f"s{i}", "EchoBot").text, range(8)))
        assert all(f"last message**: s{i}\n" in answers[i] for i in range(8))
        times = sorted(r["time"] for r in activated.requests("/bot/EchoBot"))
        assert len(times) == 8 and most_in_any_window(times, 2.0) <= 4
        assert times[-1] - times[0] >= 1.9  # the second four waited for the window

        activated.reset()
        beside = threading.Thread(target=lambda: [poe_magic.ask(f"b{i}", "EchoBot") for i in range(6)])
        beside.start()
        poe_magic.batch([f"r{i}" for i in range(6)], "{text}", models="EchoBot", concurrency=6, max_rpm=120,
                        cache=False, progress=False)
        beside.join()
        times = sorted(r["time"] for r in activated.requests("/bot/EchoBot"))
        assert len(times) == 12 and most_in_any_window(times, 2.0) <= 4
    finally:
        ratelimit._limiters.clear()  # the next test's limiters start with the one-minute window


def test_max_rpm_is_checked_where_it_is_set() -> None:
    from poe_magic.base.config import settings
    from poe_magic.base.errors import ConfigError

    for bad in (-1, float("nan"), float("inf"), 2e6):
        with pytest.raises(ConfigError, match="max_rpm must be 0"):
            settings.max_rpm = bad
    settings.max_rpm = 0  # no client-side limit
    assert settings.max_rpm == 0.0


def test_a_request_held_back_by_the_window_says_so_in_its_footer() -> None:
    from poe_magic.base.errors import RateLimitError
    from poe_magic.wire.transport import Retrying

    held = Retrying(0, 12.34, None, 3, held="500 requests a minute on this key reached (PoeMagics.max_rpm)")
    assert held.notice() == "500 requests a minute on this key reached (PoeMagics.max_rpm) · sending in 12.3 s"
    retry = Retrying(1, 2, RateLimitError("rate limited (429) asking GPT-5"), 3)
    assert retry.notice() == "rate limited (429) asking GPT-5 · retrying in 2 s (retry 1 of 3)"
