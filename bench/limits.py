"""The fastest the APIs allow for a given set of calls, and the monthly Intacct transaction forecast.

Both are plain arithmetic over measured counts, kept apart from the harness so they are unit tested.

Lower bound. A system's calls cannot finish sooner than any of:
- its concurrency: ``ceil(calls / concurrent) * latency`` (at most ``concurrent`` in flight, each
  taking the configured latency);
- its rate: the k-th call (0-based) cannot start before ``floor(k / per_minute) * 60`` seconds in a
  rolling minute, so the last ends at ``floor((calls - 1) / per_minute) * 60 + latency``;
- its batch rate, the same with batch requests and ``batch_per_minute``.
The two systems are independent services, so a run's bound is the larger of the two systems'
bounds (their calls could overlap). The sandboxes' own service time is not in the bound: the
configured latency stands for the whole time a real call takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Intacct Performance Tier 1: 100,000 API transactions a month; overage is billed, not blocked (api-facts.md).
INTACCT_MONTHLY_ALLOWANCE = 100_000
#: The default schedule of every flow DAG: every 15 minutes, a 30-day month.
RUNS_PER_MONTH_15_MIN = 30 * 24 * 4


@dataclass(frozen=True)
class ApiLimits:
    """One system's limits per company; ``None`` = no such limit."""

    concurrent: int | None = None
    per_minute: int | None = None
    batch_per_minute: int | None = None

    @classmethod
    def from_config(cls, limits: dict[str, Any]) -> ApiLimits:
        """From the ``limits`` a sandbox's ``PATCH /_sandbox/config`` answers."""
        return cls(limits.get("concurrent"), limits.get("per_minute"), limits.get("batch_per_minute"))


def _rate_seconds(calls: int, per_minute: int | None, latency_s: float) -> float:
    if calls <= 0 or not per_minute:
        return 0.0
    return ((calls - 1) // per_minute) * 60.0 + latency_s


def system_lower_bound(calls: int, latency_s: float, limits: ApiLimits, *, batch_calls: int = 0) -> float:
    """Seconds one system needs at least for ``calls`` requests (``batch_calls`` of them batches)."""
    if calls <= 0:
        return 0.0
    concurrency = limits.concurrent or calls  # no concurrency limit: everything at once
    return max(
        math.ceil(calls / concurrency) * latency_s,
        _rate_seconds(calls, limits.per_minute, latency_s),
        _rate_seconds(batch_calls, limits.batch_per_minute, latency_s),
    )


def run_lower_bound(per_system: dict[str, float]) -> float:
    """A run's bound: the systems are independent, so the slower system sets it."""
    return max(per_system.values(), default=0.0)


@dataclass(frozen=True)
class MonthlyForecast:
    """Intacct API transactions a flow spends in a month on its default schedule."""

    runs: int
    per_run: float
    changes: float
    per_change: float
    transactions: float
    share_of_allowance: float


def monthly_transactions(
    *,
    per_unchanged_run: float,
    per_changed_record: float,
    records: int,
    monthly_change_rate: float,
    runs_per_month: int = RUNS_PER_MONTH_15_MIN,
    allowance: int = INTACCT_MONTHLY_ALLOWANCE,
) -> MonthlyForecast:
    """Every scheduled run pays the unchanged-run cost; each changed record adds its own on top.

    ``per_unchanged_run`` is measured (Intacct transactions of a rerun with nothing changed);
    ``per_changed_record`` is the measured extra of the 1% rerun over the unchanged one, per
    record changed; ``records * monthly_change_rate`` records change in a month (both sides)."""
    changes = records * monthly_change_rate
    total = runs_per_month * per_unchanged_run + changes * per_changed_record
    return MonthlyForecast(
        runs=runs_per_month,
        per_run=per_unchanged_run,
        changes=changes,
        per_change=per_changed_record,
        transactions=total,
        share_of_allowance=total / allowance,
    )
