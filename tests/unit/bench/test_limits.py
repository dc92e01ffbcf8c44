"""The lower bound the API limits allow, and the monthly Intacct forecast (pure arithmetic)."""

from __future__ import annotations

import pytest

from bench.limits import (
    INTACCT_MONTHLY_ALLOWANCE,
    RUNS_PER_MONTH_15_MIN,
    ApiLimits,
    monthly_transactions,
    run_lower_bound,
    system_lower_bound,
)

QBO = ApiLimits(concurrent=10, per_minute=500, batch_per_minute=40)
INTACCT = ApiLimits(concurrent=2)


def test_no_calls_take_no_time() -> None:
    assert system_lower_bound(0, 0.3, QBO) == 0.0
    assert run_lower_bound({}) == 0.0


def test_concurrency_bounds_a_few_calls() -> None:
    # 25 calls, 10 at a time, 300 ms each: three waves
    assert system_lower_bound(25, 0.3, QBO) == pytest.approx(0.9)
    # Intacct: two at a time
    assert system_lower_bound(5, 0.6, INTACCT) == pytest.approx(1.8)


def test_the_rate_limit_bounds_many_fast_calls() -> None:
    # 1,200 calls at 500 a minute: the 1,001st starts after two full minutes
    assert system_lower_bound(1200, 0.3, QBO) == pytest.approx(120.3)
    # exactly 500 fit in the first minute
    assert system_lower_bound(500, 0.01, QBO) == pytest.approx(0.5)
    assert system_lower_bound(501, 0.01, QBO) == pytest.approx(60.01)


def test_batch_requests_have_their_own_rate() -> None:
    # 90 batch requests at 40 a minute: the last starts after two minutes
    assert system_lower_bound(90, 0.3, QBO, batch_calls=90) == pytest.approx(120.3)
    assert system_lower_bound(90, 0.3, QBO, batch_calls=0) == pytest.approx(2.7)


def test_unlimited_concurrency_is_one_latency() -> None:
    assert system_lower_bound(1000, 0.2, ApiLimits()) == pytest.approx(0.2)


def test_the_slower_system_sets_the_run_bound() -> None:
    assert run_lower_bound({"qbo": 3.0, "intacct": 7.5}) == 7.5


def test_limits_read_from_the_sandbox_config_answer() -> None:
    assert ApiLimits.from_config({"concurrent": 10, "per_minute": 500, "batch_per_minute": 40}) == QBO
    assert ApiLimits.from_config({"concurrent": 2, "per_minute": None, "batch_per_minute": None}) == INTACCT


def test_monthly_forecast_adds_every_run_and_every_change() -> None:
    forecast = monthly_transactions(per_unchanged_run=4, per_changed_record=1.5, records=1000, monthly_change_rate=0.1)
    assert forecast.runs == RUNS_PER_MONTH_15_MIN == 2880
    assert forecast.changes == pytest.approx(100)
    assert forecast.transactions == pytest.approx(2880 * 4 + 100 * 1.5)
    assert forecast.share_of_allowance == pytest.approx(forecast.transactions / INTACCT_MONTHLY_ALLOWANCE)
