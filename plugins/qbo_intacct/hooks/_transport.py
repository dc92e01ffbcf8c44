"""Shared HTTP transport helpers for the API hooks: backoff, client-side rate limiting, secret masking.

Generic on purpose: nothing here knows QuickBooks or Intacct. Each hook decides which responses are
retryable and what its limits are; this module supplies the mechanics so both hooks behave alike.

Why a client-side limiter at all: both APIs throttle per tenant (QuickBooks per realm, Intacct per
company), and every Airflow worker that runs a hook in the same process spends the same budget. A
limiter that stays under the published numbers means the server never has to say 429, so a burst of
reads finishes without the caller ever seeing a throttle. A 429 that still arrives (another process,
another app) is handled by the hook with :func:`backoff_delays` and the server's ``Retry-After``.

Public API
----------
``backoff_delays(*, max_attempts, base=0.5, cap=30.0, max_total=120.0, rng=None) -> Iterator[float]``
    The sleeps *between* attempts, "full jitter" (AWS architecture blog): attempt n waits a uniform
    draw in ``[0, min(cap, base * 2**n)]``. Yields at most ``max_attempts - 1`` delays and stops early
    once the sum of delays would exceed ``max_total`` seconds, so a retry loop is bounded both in
    attempts and in wall time.

``RetryPolicy(max_attempts=5, base=0.5, cap=30.0, max_total=120.0)`` (frozen dataclass)
    The same knobs as a value; ``policy.delays(rng=None)`` returns the iterator above, and
    ``policy.delay_for(retry_after, planned)`` picks the wait for one retry: the server's
    ``Retry-After`` wins when present (capped by ``max_total``), else the planned jittered delay.

``parse_retry_after(value) -> float | None``
    Reads a ``Retry-After`` header: delta-seconds or an HTTP date. ``None`` if absent or unreadable.

``RateLimit(requests_per_minute, max_concurrent, name="requests", window_seconds=60.0)`` (frozen dataclass)
    One budget: at most ``requests_per_minute`` starts in any sliding window of ``window_seconds``
    (60 s unless you model e.g. a per-second limit) and at most ``max_concurrent`` in flight.

``RateLimiter(limits: Sequence[RateLimit], *, clock=time.monotonic, sleep=time.sleep)``
    Thread-safe. ``with limiter.slot(): ...`` blocks until every budget has room, counts the start,
    holds a concurrency slot for the body. ``limiter.slot(("requests", "batch"))`` draws on a subset
    of named budgets (e.g. a batch call counts against both the request and the batch budget).
    ``limiter.acquire(names)`` / ``limiter.release(names)`` are the two halves. ``limiter.penalise(s)``
    makes every waiter pause ``s`` seconds (used after a 429 so the whole process backs off together).

``limiter_for(key, limits) -> RateLimiter``
    Process-wide registry: the first call for ``key`` (e.g. ``("qbo", realm_id)``) creates the
    limiter; later calls, from any hook instance or thread, get the same one. Limits given later are
    ignored; ``reset_limiters()`` clears the registry (tests).

``mask_secret(value) -> None``
    Registers a secret with Airflow's log masker (``airflow.sdk.log.mask_secret``) so it is redacted
    from task logs; a no-op outside Airflow or for empty values.

``ApiError(message, *, record_key=None)``
    Base class for the hooks' typed errors; ``record_key`` names the caller's record (e.g.
    ``"invoice:1042"``) so an operator can say which row failed without logging the payload.

``is_retryable_exception(exc) -> bool`` and ``is_retryable_status(status) -> bool``
    Transient transport failures worth retrying: timeouts, connection errors (reset, aborted, refused,
    remote closed without reply), chunked-encoding errors, and HTTP 5xx / 429. Anything else (4xx,
    invalid URL, SSL verification) is not retried: repeating it cannot help.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

__all__ = [
    "ApiError",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "backoff_delays",
    "is_retryable_exception",
    "is_retryable_status",
    "limiter_for",
    "mask_secret",
    "parse_retry_after",
    "reset_limiters",
]

_WINDOW_SECONDS = 60.0


class ApiError(Exception):
    """Base for the hooks' typed errors. ``record_key`` says which caller record the call was about."""

    def __init__(self, message: str, *, record_key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.record_key = record_key

    def __str__(self) -> str:
        if self.record_key:
            return f"{self.message} (record {self.record_key})"
        return self.message


# --------------------------------------------------------------------------------------------------
# Backoff
# --------------------------------------------------------------------------------------------------


def backoff_delays(
    *,
    max_attempts: int,
    base: float = 0.5,
    cap: float = 30.0,
    max_total: float = 120.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield full-jitter delays between attempts, bounded by attempt count and total sleep time.

    Full jitter spreads retries from many workers across the window instead of having them all
    return at the same instant (which would re-trigger the throttle they are backing off from).
    """
    draw = rng.uniform if rng is not None else random.uniform
    spent = 0.0
    for retry_number in range(max(0, max_attempts - 1)):
        ceiling = min(cap, base * (2**retry_number))
        delay = draw(0.0, ceiling)
        if spent + delay > max_total:
            return
        spent += delay
        yield delay


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a hook retries a transient failure. ``max_attempts`` counts the first try."""

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_total: float = 120.0

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        return backoff_delays(
            max_attempts=self.max_attempts, base=self.base, cap=self.cap, max_total=self.max_total, rng=rng
        )

    def delay_for(self, retry_after: float | None, planned: float) -> float:
        """The server's Retry-After, when given, beats our own guess: it knows when the window reopens."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_total))
        return planned


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or ``None``."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# --------------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """One budget: starts per sliding minute and requests in flight."""

    requests_per_minute: int
    max_concurrent: int
    name: str = "requests"
    window_seconds: float = _WINDOW_SECONDS

    def __post_init__(self) -> None:
        if self.requests_per_minute < 1 or self.max_concurrent < 1 or self.window_seconds <= 0:
            raise ValueError(f"rate limit {self.name!r} needs positive requests_per_minute and max_concurrent")


class _Budget:
    """Mutable state for one :class:`RateLimit`; guarded by the owning limiter's condition."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.starts: deque[float] = deque()
        self.in_flight = 0

    def wait_needed(self, now: float) -> float | None:
        """0 if a start is allowed now; seconds until the window frees a start; None if only concurrency blocks."""
        window = self.limit.window_seconds
        while self.starts and now - self.starts[0] >= window:
            self.starts.popleft()
        if len(self.starts) >= self.limit.requests_per_minute:
            return window - (now - self.starts[0])
        if self.in_flight >= self.limit.max_concurrent:
            return None
        return 0.0


class RateLimiter:
    """Sliding-window requests-per-minute plus max-concurrency, across threads of one process.

    A sliding window (not a fixed one) matters: a fixed window lets 2x the limit through around a
    window edge, and a limiter that resets every minute makes every worker sleep for the rest of the
    window after a burst (airbytehq/airbyte PR #85216).
    """

    def __init__(
        self,
        limits: Sequence[RateLimit],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not limits:
            raise ValueError("a RateLimiter needs at least one RateLimit")
        names = [limit.name for limit in limits]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate rate limit names: {names}")
        self._budgets = {limit.name: _Budget(limit) for limit in limits}
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._paused_until = 0.0

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return tuple(budget.limit for budget in self._budgets.values())

    def _select(self, names: Sequence[str] | None) -> list[_Budget]:
        if names is None:
            return [next(iter(self._budgets.values()))]
        try:
            return [self._budgets[name] for name in names]
        except KeyError as missing:
            raise ValueError(f"unknown rate limit {missing.args[0]!r}; have {list(self._budgets)}") from None

    def _wait(self, seconds: float | None) -> None:
        # With an injected sleep (tests) we release the lock to sleep; otherwise wait on the condition
        # so a release() wakes us as soon as a concurrency slot frees.
        if self._sleep is not None and seconds is not None:
            self._cond.release()
            try:
                self._sleep(seconds)
            finally:
                self._cond.acquire()
        else:
            self._cond.wait(timeout=seconds)

    def acquire(self, names: Sequence[str] | None = None) -> float:
        """Block until every named budget (default: the first) allows a start. Returns seconds waited."""
        budgets = self._select(names)
        started = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    self._wait(self._paused_until - now)
                    continue
                waits = [budget.wait_needed(now) for budget in budgets]
                if all(wait == 0.0 for wait in waits):
                    for budget in budgets:
                        budget.starts.append(now)
                        budget.in_flight += 1
                    return self._clock() - started
                timed = [wait for wait in waits if wait]
                self._wait(max(timed) if timed else None)

    def release(self, names: Sequence[str] | None = None) -> None:
        """Give back the concurrency slots taken by :meth:`acquire` with the same names."""
        with self._cond:
            for budget in self._select(names):
                budget.in_flight = max(0, budget.in_flight - 1)
            self._cond.notify_all()

    @contextlib.contextmanager
    def slot(self, names: Sequence[str] | None = None) -> Iterator[float]:
        """``with limiter.slot(("requests",)) as waited:`` — hold a slot for the duration of one request."""
        waited = self.acquire(names)
        try:
            yield waited
        finally:
            self.release(names)

    def penalise(self, seconds: float) -> None:
        """Pause every new start in this process for ``seconds`` (after a 429: the server knows best)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
            self._cond.notify_all()

    def in_flight(self, name: str | None = None) -> int:
        with self._cond:
            return self._select([name] if name else None)[0].in_flight

    def starts_in_window(self, name: str | None = None) -> int:
        with self._cond:
            budget = self._select([name] if name else None)[0]
            budget.wait_needed(self._clock())
            return len(budget.starts)


_REGISTRY: dict[Hashable, RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for(key: Hashable, limits: Sequence[RateLimit]) -> RateLimiter:
    """The process-wide limiter for a tenant key; created on first use, shared by every hook instance."""
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(key)
        if limiter is None:
            limiter = RateLimiter(limits)
            _REGISTRY[key] = limiter
        return limiter


def reset_limiters() -> None:
    """Forget every registered limiter (tests that change limits between cases)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()


# --------------------------------------------------------------------------------------------------
# Secrets and retryability
# --------------------------------------------------------------------------------------------------


def mask_secret(value: str | None) -> None:
    """Tell Airflow's log redactor about a secret; harmless outside a task or without Airflow."""
    if not value:
        return
    try:
        from airflow.sdk.log import mask_secret as airflow_mask_secret
    except ImportError:  # pragma: no cover - Airflow is a hard dependency, but keep the helper generic
        return
    with contextlib.suppress(Exception):
        airflow_mask_secret(value)


def is_retryable_status(status: int) -> bool:
    """429 and 5xx are transient by HTTP's own definition; every other 4xx is the caller's problem."""
    return status == 429 or 500 <= status <= 599


def is_retryable_exception(exc: BaseException) -> bool:
    """Timeouts, resets, aborted or refused connections and truncated bodies are worth another try.

    ``requests`` wraps most of these as ConnectionError/Timeout/ChunkedEncodingError; an HTTPError
    carries its response, so its status decides. SSL and invalid-URL errors are configuration, not
    weather: retrying them only delays the real error.
    """
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.InvalidURL):
        return False
    if isinstance(exc, requests.exceptions.HTTPError):
        response = exc.response
        return response is not None and is_retryable_status(response.status_code)
    if isinstance(
        exc,
        requests.exceptions.Timeout | requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError,
    ):
        return True
    return isinstance(exc, ConnectionResetError | ConnectionAbortedError | TimeoutError | BrokenPipeError)
