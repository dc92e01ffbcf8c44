"""``qbo_intacct_review``: the open items are listed, an answer from the UI is recorded, decisions are final."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, environ

from qbo_intacct.flows.review_queue import ReviewAnswerError, apply_answer, open_items_markdown
from qbo_intacct.ledger.db import engine_for_url
from qbo_intacct.ledger.repository import Ledger, ReviewDraft, ReviewStatus


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(engine_for_url(f"sqlite:///{tmp_path / 'state.db'}"))
    ledger.open_review_item(
        ReviewDraft("customers", "qbo", "31", "duplicate_in_source", "held", candidates=["qbo:32"]), run_id="r1"
    )
    return ledger


def _answer(choice: str, item: int = 1, target: str = "") -> dict[str, Any]:
    return {
        "chosen_options": [choice],
        "params_input": {"review_item": item, "target_id": target},
        "responded_by_user": {"id": "ana", "name": "Ana Finance"},
    }


def test_open_items_are_listed_with_reason_and_candidates(ledger: Ledger) -> None:
    text = open_items_markdown(ledger)
    assert "| 1 | customers | QuickBooks 31 | duplicate_in_source | qbo:32 |" in text


def test_answer_is_recorded_with_who_decided(ledger: Ledger) -> None:
    apply_answer(ledger, _answer("Create new"))
    (item,) = ledger.review_items("customers")
    assert (item.status, item.decision.value, item.resolved_by) == (ReviewStatus.RESOLVED, "create", "Ana Finance")


def test_link_without_a_target_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ReviewAnswerError, match="Link needs the id"):
        apply_answer(ledger, _answer("Link"))


def test_a_different_second_answer_is_refused(ledger: Ledger) -> None:
    apply_answer(ledger, _answer("Ignore"))
    with pytest.raises(ReviewAnswerError, match="decisions are final"):
        apply_answer(ledger, _answer("Link", target="C-10021"))


def test_no_answer_changes_nothing(ledger: Ledger) -> None:
    assert apply_answer(ledger, None) == "No answer was given; nothing changed."
    assert ledger.review_items("customers")[0].status is ReviewStatus.OPEN


@pytest.fixture
def review_env(tmp_path: Path, ledger: Ledger) -> Iterator[Path]:
    env = {
        "AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT": f"file://{tmp_path / 'staging'}",
        "AIRFLOW_CONN_QBO_INTACCT_STATE": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "state.db")}),
    }
    with environ(env):
        yield tmp_path


@pytest.mark.dag
def test_review_dag_runs_with_the_decision_step_marked_and_leaves_items_open(
    airflow_db, review_env: Path, ledger: Ledger
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags" / "qbo_intacct_review.py")).dags["qbo_intacct_review"]
    dagrun = dag.test(mark_success_pattern="review_.*")
    assert str(dagrun.state) == "success"
    assert ledger.review_items("customers")[0].status is ReviewStatus.OPEN
