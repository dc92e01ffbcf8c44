"""The fleet-wide API budget (``_budget.SharedBudget``) over a real SQLite state database, on a fake clock.

Several ``SharedBudget`` objects on one database stand for several worker processes: they share
nothing but the database, exactly like Celery workers on one state database.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qbo_intacct.hooks._budget import FleetRateLimiter, SharedBudget
from qbo_intacct.hooks._transport import RateLimit
from qbo_intacct.state_db import state_engine


class FakeClock:
    """Wall-clock seconds that only move when someone sleeps (no test waits for real)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _workers(tmp_path: Path, clock: FakeClock, n: int, *limits: RateLimit) -> list[SharedBudget]:
    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}", fast_commits=True)
    return [
        SharedBudget(engine, scope="quickbooks:9130", limits=limits, clock=clock, sleep=clock.sleep) for _ in range(n)
    ]


def test_a_second_worker_waits_for_the_window_the_first_one_spent(tmp_path: Path, clock: FakeClock) -> None:
    first, second = _workers(tmp_path, clock, 2, RateLimit(5, 10))
    for _ in range(5):
        assert first.acquire(["requests"]) == 0.0
    waited = second.acquire(["requests"])
    assert 60.0 <= waited <= 62.0  # the oldest start leaves the window (its lease ended <= 1 s later)


def test_no_minute_ever_holds_more_starts_than_the_limit_across_workers(tmp_path: Path, clock: FakeClock) -> None:
    workers = _workers(tmp_path, clock, 4, RateLimit(20, 10), RateLimit(5, 10, name="per_second", window_seconds=1.0))
    rng = random.Random(7)
    starts: list[float] = []
    for _ in range(120):
        worker = rng.choice(workers)
        worker.acquire(["requests", "per_second"])
        starts.append(clock.now)
        clock.sleep(rng.choice([0.0, 0.01, 0.2, 3.0]))
    for window, limit in ((60.0, 20), (1.0, 5)):
        busiest = max(sum(1 for t in starts if s <= t < s + window) for s in starts)
        assert busiest <= limit, (window, busiest)


def test_a_429_seen_by_one_worker_pauses_every_worker(tmp_path: Path, clock: FakeClock) -> None:
    told, other = _workers(tmp_path, clock, 2, RateLimit(100, 10))
    told.penalise(30.0)
    assert other.acquire(["requests"]) == pytest.approx(30.0)


def test_starts_a_lease_did_not_use_are_handed_back(tmp_path: Path, clock: FakeClock) -> None:
    [worker] = _workers(tmp_path, clock, 1, RateLimit(1000, 10))
    for _ in range(40):  # leases grow with demand: 1, 2, 4, ... starts
        worker.acquire(["requests"])
    assert worker.leases_taken < 10  # not one database round trip per request
    unused = worker._leases[("requests",)].left
    assert unused > 0
    clock.sleep(2.0)  # that lease expires part-used
    worker.acquire(["requests"])
    fresh = worker._leases[("requests",)]
    assert worker.starts_in_window("requests") == 40 + fresh.granted  # the unused ones no longer count


def test_the_process_limiter_counts_its_windows_in_the_shared_budget(tmp_path: Path, clock: FakeClock) -> None:
    limits = [RateLimit(3, 10)]
    one, two = (FleetRateLimiter(limits, budget) for budget in _workers(tmp_path, clock, 2, *limits))
    started = clock.now
    for _ in range(3):
        with one.slot():
            pass
    with two.slot():  # the other "process" has no history of its own, yet must wait for the window
        pass
    assert clock.now - started >= 60.0


def test_a_replaced_state_database_is_set_up_again_not_a_failed_task(tmp_path: Path, clock: FakeClock) -> None:
    from qbo_intacct.state_db import dispose_engines

    [worker] = _workers(tmp_path, clock, 1, RateLimit(100, 10))
    worker.acquire(["requests"])
    dispose_engines()
    (tmp_path / "state.db").unlink()  # e.g. an operator starts the ledger afresh
    clock.sleep(5.0)
    assert worker.acquire(["requests"]) == 0.0
    worker.penalise(1.0)
    assert worker.starts_in_window("requests") >= 1


def test_a_pause_hands_back_what_is_left_of_the_lease(tmp_path: Path, clock: FakeClock) -> None:
    [worker] = _workers(tmp_path, clock, 1, RateLimit(1000, 10))
    for _ in range(10):  # leases of 1, 2, 4, 8: the last one part-used
        worker.acquire(["requests"])
    assert worker._leases[("requests",)].left > 0
    worker.penalise(0.5)
    assert worker.starts_in_window("requests") == 10  # a 429 must not burn starts nobody sent
