"""Unit tests of the shared transport helpers (no server needed: these are pure mechanics).

The backoff is tenacity's now (``RetryPolicy.retrying``); ``backoff_delays`` below reads the waits
it takes between the attempts of a call that always fails, so the policy's tests stay as they were.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from qbo_intacct.hooks._transport import (
    ApiError,
    RateLimit,
    RateLimiter,
    RetryPolicy,
    is_retryable_exception,
    is_retryable_status,
    limiter_for,
    mask_secret,
    parse_retry_after,
    reset_limiters,
)


def backoff_delays(
    *,
    max_attempts: int,
    base: float = 0.5,
    cap: float = 30.0,
    max_total: float = 120.0,
    rng: random.Random | None = None,
) -> list[float]:
    """The sleeps between attempts when every attempt fails (``rng`` is unused: tenacity draws the jitter)."""
    slept: list[float] = []

    def always_fails() -> None:
        raise requests.exceptions.ConnectionError("down")

    retrying = RetryPolicy(max_attempts=max_attempts, base=base, cap=cap, max_total=max_total).retrying(
        retry_on=lambda exc: True, sleep=slept.append
    )
    with pytest.raises(requests.exceptions.ConnectionError):
        retrying(always_fails)
    return slept


class FakeClock:
    """A monotonic clock the limiter can 'sleep' on without wall time passing."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_backoff_yields_at_most_attempts_minus_one_delays() -> None:
    delays = list(backoff_delays(max_attempts=4, base=0.01, cap=1.0, max_total=100.0, rng=random.Random(1)))
    assert len(delays) == 3


def test_backoff_delays_stay_within_exponential_ceiling() -> None:
    delays = list(backoff_delays(max_attempts=8, base=1.0, cap=5.0, max_total=1000.0, rng=random.Random(7)))
    ceilings = [min(5.0, 2**n) for n in range(7)]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))


def test_backoff_stops_before_total_time_budget_is_exceeded() -> None:
    delays = list(backoff_delays(max_attempts=100, base=10.0, cap=10.0, max_total=25.0, rng=random.Random(3)))
    assert sum(delays) <= 25.0
    assert len(delays) < 99


def test_backoff_is_jittered_not_fixed() -> None:
    delays = list(backoff_delays(max_attempts=6, base=1.0, cap=1.0, max_total=100.0, rng=random.Random(5)))
    assert len(set(delays)) == len(delays)


def test_retry_policy_prefers_server_retry_after() -> None:
    assert RetryPolicy(max_total=120).delay_for(7.0, planned=0.3) == 7.0


def test_retry_policy_caps_retry_after_at_total_budget() -> None:
    assert RetryPolicy(max_total=10).delay_for(600.0, planned=0.3) == 10.0


def test_retry_policy_uses_planned_delay_without_retry_after() -> None:
    assert RetryPolicy().delay_for(None, planned=0.3) == 0.3


def test_parse_retry_after_reads_delta_seconds() -> None:
    assert parse_retry_after(" 12 ") == 12.0


def test_parse_retry_after_reads_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after(when)
    assert seconds is not None
    assert 25.0 <= seconds <= 31.0


@pytest.mark.parametrize("value", [None, "", "soon"])
def test_parse_retry_after_returns_none_for_missing_or_garbage(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_limiter_blocks_the_request_over_the_per_minute_budget_until_window_slides() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit(3, 10)], clock=clock, sleep=clock.sleep)
    for _ in range(3):
        with limiter.slot():
            pass
    assert clock.slept == []
    with limiter.slot() as waited:
        pass
    assert waited == pytest.approx(60.0)


def test_limiter_window_slides_rather_than_resetting() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit(2, 10)], clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.release()
    clock.now += 40
    limiter.acquire()
    limiter.release()
    clock.now += 25  # the first start is now 65 s old, the second 25 s: one start is free
    assert limiter.acquire() == 0.0
    limiter.release()


def test_limiter_counts_a_call_against_every_named_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        [RateLimit(100, 10, name="requests"), RateLimit(1, 10, name="batch")], clock=clock, sleep=clock.sleep
    )
    with limiter.slot(("requests", "batch")):
        pass
    assert limiter.starts_in_window("requests") == 1
    assert limiter.starts_in_window("batch") == 1
    with limiter.slot(("requests",)) as waited:
        pass
    assert waited == 0.0


def test_limiter_rejects_unknown_budget_name() -> None:
    limiter = RateLimiter([RateLimit(10, 1)])
    with pytest.raises(ValueError, match="unknown rate limit"):
        limiter.acquire(("nope",))


def test_limiter_never_exceeds_max_concurrency_across_threads() -> None:
    limiter = RateLimiter([RateLimit(10_000, 3)])
    peak = 0
    current = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal peak, current
        with limiter.slot():
            with guard:
                current += 1
                peak = max(peak, current)
            time.sleep(0.005)
            with guard:
                current -= 1

    threads = [threading.Thread(target=work) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 3
    assert limiter.in_flight() == 0


def test_limiter_penalty_delays_next_start() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit(100, 10)], clock=clock, sleep=clock.sleep)
    limiter.penalise(5.0)
    assert limiter.acquire() == pytest.approx(5.0)


def test_limiter_registry_shares_one_limiter_per_key() -> None:
    reset_limiters()
    first = limiter_for(("svc", "tenant-1"), [RateLimit(10, 1)])
    again = limiter_for(("svc", "tenant-1"), [RateLimit(999, 9)])
    other = limiter_for(("svc", "tenant-2"), [RateLimit(10, 1)])
    assert first is again
    assert first is not other
    reset_limiters()


def test_rate_limit_rejects_non_positive_values() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimit(0, 1)


def test_mask_secret_registers_value_with_airflow_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    import airflow.sdk.log

    monkeypatch.setattr(airflow.sdk.log, "mask_secret", seen.append)
    mask_secret("s3cr3t-value")
    mask_secret("")
    assert seen == ["s3cr3t-value"]


def test_api_error_carries_record_key() -> None:
    error = ApiError("rejected", record_key="invoice:1042")
    assert error.record_key == "invoice:1042"
    assert "invoice:1042" in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout(),
        requests.exceptions.ConnectTimeout(),
        requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer")),
        requests.exceptions.ChunkedEncodingError(),
        ConnectionAbortedError(),
    ],
)
def test_transient_transport_failures_are_retryable(exc: BaseException) -> None:
    assert is_retryable_exception(exc)


@pytest.mark.parametrize(
    "exc", [requests.exceptions.SSLError(), requests.exceptions.InvalidURL(), ValueError("bad json")]
)
def test_configuration_failures_are_not_retryable(exc: BaseException) -> None:
    assert not is_retryable_exception(exc)


def _http_error(status: int) -> requests.exceptions.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.exceptions.HTTPError(response=response)


def test_http_error_retryability_follows_status() -> None:
    assert is_retryable_exception(_http_error(503))
    assert not is_retryable_exception(_http_error(400))


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (504, True), (400, False), (401, False)])
def test_status_retryability(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_limiter_honours_a_short_window_for_per_second_budgets() -> None:
    clock = FakeClock()
    limiter = RateLimiter([RateLimit(2, 10, name="per_second", window_seconds=1.0)], clock=clock, sleep=clock.sleep)
    for _ in range(2):
        limiter.acquire(("per_second",))
        limiter.release(("per_second",))
    assert limiter.acquire(("per_second",)) == pytest.approx(1.0)
