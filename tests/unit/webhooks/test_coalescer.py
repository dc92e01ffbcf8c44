"""The receiver's rules for starting runs, on an in-process stand-in for Airflow's REST API.

The end-to-end test (tests/test_make_airflow.py, slow) proves them against a real API server; these
pin each rule on its own: one run per burst, none while a run is still queued, another one behind a
running run, nothing for a DAG that does not exist, and changes kept when Airflow cannot be reached.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from qbo_intacct.webhooks.airflow_api import AirflowApiError, DagState
from qbo_intacct.webhooks.intuit import EntityChange
from qbo_intacct.webhooks.receiver import Coalescer, Stats

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)


@dataclass
class Airflow:
    """What the coalescer asks of Airflow, answered from a list of runs."""

    dags: set[str] = field(default_factory=lambda: {"qbo_intacct_customers"})
    runs: list[tuple[str, str, str]] = field(default_factory=list)  # (dag id, run id, state)
    reachable: bool = True
    notes: list[str] = field(default_factory=list)

    def dag(self, dag_id: str) -> DagState:
        self._reach()
        return DagState(exists=dag_id in self.dags)

    def has_queued_run(self, dag_id: str) -> bool:
        self._reach()
        return any(d == dag_id and state == "queued" for d, _, state in self.runs)

    def trigger(self, dag_id: str, *, run_id: str, note: str) -> str:
        self._reach()
        self.runs.append((dag_id, run_id, "queued"))
        self.notes.append(note)
        return run_id

    def _reach(self) -> None:
        if not self.reachable:
            raise AirflowApiError("cannot reach Airflow at http://airflow:8080: ConnectionError")


def _coalescer(airflow: Airflow) -> Coalescer:
    return Coalescer(airflow, 3600, Stats(), clock=lambda: NOW)  # type: ignore[arg-type]  # flushed by hand


def _changes(*ids: int) -> list[EntityChange]:
    return [EntityChange("9341", "customer", str(i), "updated") for i in ids]


def _cancel(coalescer: Coalescer) -> None:
    if coalescer._timer is not None:
        coalescer._timer.cancel()


def test_a_burst_starts_one_run_naming_its_changes() -> None:
    airflow = Airflow()
    coalescer = _coalescer(airflow)
    for i in range(100):
        coalescer.add("qbo_intacct_customers", _changes(i, i))  # Intuit may repeat a change
    _cancel(coalescer)
    coalescer.flush()
    assert [(d, r) for d, r, _ in airflow.runs] == [("qbo_intacct_customers", "webhook__2026-11-28T10:00:00.000+00:00")]
    assert airflow.notes == [
        "Started by QuickBooks webhooks: 100 change(s) (customer 0 updated, customer 1 updated, customer 2 updated, "
        "customer 3 updated, customer 4 updated and 95 more)."
    ]
    assert coalescer.stats.runs_started == {"qbo_intacct_customers": 1}
    assert coalescer.pending() == {}


def test_no_new_run_while_one_is_queued_but_one_behind_a_running_run() -> None:
    airflow = Airflow(runs=[("qbo_intacct_customers", "scheduled__1", "queued")])
    coalescer = _coalescer(airflow)
    coalescer.add("qbo_intacct_customers", _changes(1))
    _cancel(coalescer)
    coalescer.flush()
    assert len(airflow.runs) == 1  # the queued run reads the change when it starts
    assert coalescer.stats.left_to_queued_run == {"qbo_intacct_customers": 1}

    airflow.runs = [("qbo_intacct_customers", "scheduled__1", "running")]  # it may have read its window already
    coalescer.add("qbo_intacct_customers", _changes(2))
    _cancel(coalescer)
    coalescer.flush()
    assert [state for _, _, state in airflow.runs] == ["running", "queued"]


def test_a_dag_that_does_not_exist_is_skipped() -> None:
    airflow = Airflow()
    coalescer = _coalescer(airflow)
    coalescer.add("qbo_intacct_bills", [EntityChange("9341", "bill", "7", "created")])
    _cancel(coalescer)
    coalescer.flush()
    assert airflow.runs == []
    assert coalescer.pending() == {}


def test_changes_are_kept_while_airflow_cannot_be_reached() -> None:
    airflow = Airflow(reachable=False)
    coalescer = _coalescer(airflow)
    coalescer.add("qbo_intacct_customers", _changes(1, 2))
    _cancel(coalescer)
    coalescer.flush()
    assert coalescer.pending() == {"qbo_intacct_customers": 2}
    assert "cannot reach Airflow" in (coalescer.stats.last_error or "")
    airflow.reachable = True
    _cancel(coalescer)  # the retry was armed; run it now
    coalescer.flush()
    assert len(airflow.runs) == 1
    assert "2 change(s)" in airflow.notes[0]
