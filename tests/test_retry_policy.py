"""The one retry policy (issue 22): what every request waits before trying again. Milliseconds."""

from __future__ import annotations

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.wire.retry import MAX_RATE_LIMITED, RetryPolicy


def limited(after: float | None = None) -> E.RateLimitError:
    return E.RateLimitError("rate limited (429) asking X", retry_after=after)


def test_a_single_answer_waits_out_429s_max_retries_times_then_says_so() -> None:
    policy = RetryPolicy.of(Settings(max_retries=3, retry_backoff=1.0))
    waits = [policy.next_delay(limited(0.5)) for _ in range(4)]
    assert waits == [0.5, 0.5, 0.5, None]
    error = limited(0.5)
    assert RetryPolicy(3, 1.0, 3, throttled=3).next_delay(error) is None
    assert "gave up after 3 retries" in str(error)


def test_a_bulk_request_is_patient_with_429s_but_not_with_5xx() -> None:
    policy = RetryPolicy.of(Settings(max_retries=2, retry_backoff=1.0), bulk=True)
    assert all(policy.next_delay(limited(0.1)) == 0.1 for _ in range(MAX_RATE_LIMITED))
    assert policy.next_delay(limited(0.1)) is None
    server = RetryPolicy.of(Settings(max_retries=2, retry_backoff=1.0), bulk=True)
    assert [server.next_delay(E.ServerError("500", retryable=True)) for _ in range(3)] == [1.0, 2.0, None]


def test_backoff_doubles_and_a_long_retry_after_is_a_quota() -> None:
    policy = RetryPolicy.of(Settings(max_retries=5, retry_backoff=0.5))
    assert [policy.next_delay(limited()) for _ in range(3)] == [0.5, 1.0, 2.0]
    quota = limited(3600)
    assert RetryPolicy.of(Settings()).next_delay(quota) is None
    assert "the server asks to wait 3600 s" in str(quota)


def test_nothing_is_retried_after_content_and_never_what_cannot_change() -> None:
    policy = RetryPolicy.of(Settings(max_retries=3))
    assert policy.next_delay(E.ServerError("500", retryable=True), may_retry=False) is None
    assert policy.next_delay(E.AuthError("401", retryable=False)) is None
    assert RetryPolicy.of(Settings(), retry=False).next_delay(limited(0.1)) is None
