"""What both API hooks need and no library gives them: the rate limiter, the retry bounds, typed errors.

HTTP is the HTTP provider's (``HttpHook``) and the retry loop tenacity's; here remain the pieces that
are ours: :class:`RetryPolicy` (full-jitter backoff bounded in attempts *and* total wait, as a
``tenacity.Retrying``), :class:`RateLimiter` (sliding windows and concurrency per process; a sliding
window because a fixed one lets twice the limit through around its edge, airbytehq/airbyte PR
#85216), :func:`limiter_for` (one per tenant per process), what is retryable (weather, not
configuration), :func:`mask_secret` and :class:`ApiError`. The fleet-wide budget is ``_budget``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import requests
import tenacity
from urllib3.exceptions import NameResolutionError
from urllib3.util.retry import Retry

__all__ = [
    "ApiError",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "is_retryable_exception",
    "is_retryable_status",
    "limiter_for",
    "mask_secret",
    "parse_retry_after",
    "reset_limiters",
]


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
# Retries (the loop is tenacity's)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a hook retries a transient failure. ``max_attempts`` counts the first try.

    Waits are "full jitter" (AWS architecture blog): retry n waits a uniform draw in
    ``[0, min(cap, base * 2**n)]``, so workers backing off from the same throttle do not all return
    in the same instant. A retry loop stops after ``max_attempts`` or once the next wait would take
    the total waited past ``max_total`` seconds, whichever comes first.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_total: float = 120.0

    def planned(self, retry_state: tenacity.RetryCallState) -> float:
        """The jittered wait before the next attempt (tenacity's ``wait_random_exponential``)."""
        return tenacity.wait_random_exponential(multiplier=self.base, max=self.cap)(retry_state)

    def delay_for(self, retry_after: float | None, planned: float) -> float:
        """The server's Retry-After, when given, beats our own guess: it knows when the window reopens."""
        return planned if retry_after is None else max(0.0, min(retry_after, self.max_total))

    def _exhausted(self, retry_state: tenacity.RetryCallState) -> bool:
        waited = retry_state.idle_for + (retry_state.upcoming_sleep or 0.0)
        return retry_state.attempt_number >= self.max_attempts or waited > self.max_total

    def retrying(
        self,
        *,
        retry_on: Callable[[BaseException], bool],
        wait: Callable[[tenacity.RetryCallState], float] | None = None,
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> tenacity.Retrying:
        """A ``tenacity.Retrying`` with these bounds; the last error is re-raised when they are spent.

        :param retry_on: which exceptions are worth another attempt (anything else is raised at once).
        :param wait: the wait before the next attempt; default :meth:`planned`.
        """
        return tenacity.Retrying(
            stop=self._exhausted,
            wait=wait or self.planned,
            retry=tenacity.retry_if_exception(retry_on),
            before_sleep=before_sleep,
            sleep=sleep,
            reraise=True,
        )


_RETRY_AFTER = Retry()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date, via urllib3), or ``None``."""
    try:
        return _RETRY_AFTER.parse_retry_after(value.strip()) if value and value.strip() else None
    except Exception:  # urllib3 raises InvalidHeader for anything unreadable; treat as absent
        return None


def is_retryable_status(status: int) -> bool:
    """429 and 5xx are transient by HTTP's own definition; every other 4xx is the caller's problem."""
    return status == 429 or 500 <= status <= 599


def _root_cause(exc: BaseException) -> BaseException | None:
    reason = exc.args[0] if exc.args else None
    return getattr(reason, "reason", reason) if isinstance(reason, BaseException) else None


_WEATHER = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    ConnectionResetError,
    ConnectionAbortedError,
    TimeoutError,
    BrokenPipeError,
)


def is_retryable_exception(exc: BaseException) -> bool:
    """Timeouts, resets, aborted or refused connections and truncated bodies are worth another try.

    SSL errors, invalid URLs and host names that do not resolve are configuration, not weather:
    retrying them only delays the real error. An ``HTTPError`` goes by its status.
    """
    if isinstance(exc, requests.exceptions.HTTPError):
        return exc.response is not None and is_retryable_status(exc.response.status_code)
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.InvalidURL):
        return False
    return isinstance(exc, _WEATHER) and not isinstance(_root_cause(exc), NameResolutionError)


def mask_secret(value: str | None) -> None:
    """Tell Airflow's log redactor about a secret; harmless outside a task."""
    if not value:
        return
    from airflow.sdk.log import mask_secret as airflow_mask_secret

    with contextlib.suppress(Exception):
        airflow_mask_secret(value)


# --------------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """One budget: starts per sliding window (a minute unless given) and requests in flight."""

    requests_per_minute: int
    max_concurrent: int
    name: str = "requests"
    window_seconds: float = 60.0

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
    """Starts per sliding window plus max-concurrency for one tenant, across the threads of a process.

    ``with limiter.slot(("requests", "batch")):`` blocks until every named budget (default: the first)
    has room, counts the start and holds a concurrency slot for the body. ``_budget.FleetRateLimiter``
    adds the same windows counted across every process.
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

    def _names(self, names: Sequence[str] | None) -> list[str]:
        return [next(iter(self._budgets))] if names is None else list(names)

    def _select(self, names: Sequence[str] | None) -> list[_Budget]:
        try:
            return [self._budgets[name] for name in self._names(names)]
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
        """Block until every named budget allows a start. Returns seconds waited."""
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


def limiter_for(
    key: Hashable, limits: Sequence[RateLimit], *, build: Callable[[], RateLimiter] | None = None
) -> RateLimiter:
    """The process-wide limiter for a tenant key; created on first use (by ``build``, if given), then shared."""
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(key)
        if limiter is None:
            limiter = _REGISTRY[key] = build() if build is not None else RateLimiter(limits)
        return limiter


def reset_limiters() -> None:
    """Forget every registered limiter (tests that change limits between cases)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()


def describe_failure(exc: BaseException) -> str:
    """A short, secret-free name for a transport failure, e.g. ``ConnectTimeout`` or ``ConnectionError (refused)``."""
    cause: Any = _root_cause(exc)
    if isinstance(cause, NameResolutionError):
        return f"{type(exc).__name__} (host name does not resolve)"
    return f"{type(exc).__name__} (connection refused)" if "refused" in str(cause).lower() else type(exc).__name__
