"""``qbo_intacct_review``: one form per held record with only the choices it needs; answers are recorded,
"Decide later" keeps an item open, decisions are final. The path through Airflow's API server and
REST API (what the UI does) is in ``tests/test_make_airflow.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import ROOT, environ

from qbo_intacct.flows.review import RecordBook, describe_drafts, item_line
from qbo_intacct.flows.review_queue import (
    DECIDE_LATER,
    ReviewAnswerError,
    apply_answers,
    choices_for,
    item_markdown,
    review_forms,
)
from qbo_intacct.ledger.db import engine_for_url
from qbo_intacct.ledger.repository import Ledger, ReviewDraft, ReviewStatus


def _book() -> RecordBook:
    source = pd.DataFrame(
        [
            {"source_id": "31", "name": "Linden Travel Corporation", "email": "billing@linden.example",
             "tax_id": "33-1139029", "currency": "USD", "credit_limit": Decimal("12500.00")},
            {"source_id": "32", "name": "Linden Travel Corp.", "email": "billing@linden.example",
             "tax_id": "33-1139029", "currency": "USD", "credit_limit": None},
            {"source_id": "37", "name": "Alpenblick AG", "email": None, "tax_id": None, "currency": "CHF",
             "credit_limit": None},
            {"source_id": "40", "name": "Acme Ltd", "email": "ap@acme.example", "tax_id": None, "currency": "USD",
             "credit_limit": None},
        ]
    )  # fmt: skip
    target = pd.DataFrame([{"target_id": "C-100", "name": "ACME Limited", "email": None, "currency": "USD"}])
    return RecordBook.from_frames(source, target, noun="customer")


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(engine_for_url(f"sqlite:///{tmp_path / 'state.db'}"))
    drafts = describe_drafts(
        [
            ReviewDraft("customers", "qbo", "31", "duplicate_in_source", "held", candidates=["qbo:32"]),
            ReviewDraft("customers", "qbo", "37", "validation:currency enabled", "currency enabled: currency is 'CHF'",
                        fingerprint="expect_column_values_to_be_in_set:currency"),
            ReviewDraft("customers", "qbo", "40", "name_only", "held", candidates=["C-100"]),
        ],
        _book(),
    )  # fmt: skip
    for draft in drafts:
        ledger.open_review_item(draft, run_id="r1")
    return ledger


def _answer(choice: str, note: str | None = None) -> dict[str, Any]:
    return {
        "chosen_options": [choice],
        "params_input": {"note": note},
        "responded_by_user": {"id": "ana", "name": "Ana Finance"},
    }


def test_a_form_names_the_record_and_candidates_with_reason_and_fix(ledger: Ledger) -> None:
    item = ledger.review_items("customers")[0]
    body = item_markdown(item)
    assert 'QuickBooks customer 31 "Linden Travel Corporation"' in body
    assert 'QuickBooks customer 32 "Linden Travel Corp."' in body  # the candidate, by name
    assert "Credit limit: 12,500.00" in body  # an amount as finance reads it
    assert "same tax ID or email" in body
    assert "merge them in QuickBooks" in body
    assert "duplicate_in_source" not in body
    assert "qbo:32" not in body


def test_the_currency_item_says_which_currency_and_which_sheet(ledger: Ledger) -> None:
    item = ledger.review_items("customers")[1]
    line = item_line(item)
    assert "Alpenblick AG" in line
    assert "currency CHF is not enabled" in line
    assert "'Currencies' sheet" in line


def test_each_item_offers_only_the_choices_that_make_sense(ledger: Ledger) -> None:
    duplicate, currency, name_only = ledger.review_items("customers")
    # Candidates in the same system cannot be linked to: no Link button, no id to type.
    assert list(choices_for(duplicate)) == [
        "Create new in Intacct", "Ignore: do not sync this customer", DECIDE_LATER
    ]  # fmt: skip
    assert list(choices_for(currency)) == ["Ignore: do not sync this customer", DECIDE_LATER]
    assert choices_for(name_only)['Link to Intacct customer C-100 "ACME Limited"'] == ("link", "C-100")


def test_several_answers_in_one_run_and_decide_later_keeps_an_item_open(ledger: Ledger) -> None:
    forms = review_forms(ledger)
    assert [f["defaults"] for f in forms["forms"]] == [[DECIDE_LATER]] * 3
    lines = apply_answers(
        ledger,
        forms["choices"],
        [_answer("Create new in Intacct", "different branch"), _answer(DECIDE_LATER),
         _answer('Link to Intacct customer C-100 "ACME Limited"')],
    )  # fmt: skip
    assert len(lines) == 3
    duplicate, currency, name_only = ledger.review_items("customers")
    assert (duplicate.status, duplicate.decision.value, duplicate.resolved_by) == (
        ReviewStatus.RESOLVED, "create", "Ana Finance"
    )  # fmt: skip
    assert duplicate.resolution_note == "different branch"
    assert currency.status is ReviewStatus.OPEN
    assert (name_only.decision.value, name_only.decision_target_id) == ("link", "C-100")


def test_a_form_nobody_answered_leaves_the_item_open(ledger: Ledger) -> None:
    forms = review_forms(ledger)
    apply_answers(ledger, forms["choices"], [None, None, None])
    assert {i.status for i in ledger.review_items("customers")} == {ReviewStatus.OPEN}


def test_a_different_second_answer_is_refused(ledger: Ledger) -> None:
    choices = review_forms(ledger)["choices"][:1]
    apply_answers(ledger, choices, [_answer("Ignore: do not sync this customer")])
    with pytest.raises(ReviewAnswerError, match="decisions are final"):
        apply_answers(ledger, choices, [_answer("Create new in Intacct")])


def test_items_stored_without_context_still_read_in_plain_words(tmp_path: Path) -> None:
    ledger = Ledger(engine_for_url(f"sqlite:///{tmp_path / 'old.db'}"))
    ledger.open_review_item(ReviewDraft("customers", "qbo", "9", "unmapped_term:Net 45", "held"), run_id="r0")
    line = item_line(ledger.review_items("customers")[0])
    assert "payment terms 'Net 45' have no row on the workbook's 'Terms' sheet" in line


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
    assert {i.status for i in ledger.review_items("customers")} == {ReviewStatus.OPEN}


def test_the_workbook_review_sheet_lists_items_in_the_same_words(ledger: Ledger, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from qbo_intacct.flows.review_queue import review_rows
    from qbo_intacct.mappings.refresh import refresh_review_sheet
    from qbo_intacct.mappings.workbook import REVIEW_SHEET, build_template

    path = build_template(tmp_path / "mappings.xlsx")
    assert refresh_review_sheet(path, review_rows(ledger)) == 3
    ws = load_workbook(path)[REVIEW_SHEET]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    duplicate = next(r for r in rows if r[3] == "31")
    item = ledger.review_items("customers")[0]
    assert duplicate[4] == 'QuickBooks customer 31 "Linden Travel Corporation"'
    assert duplicate[5] == item.context["reason"]
    assert duplicate[6] == item.context["fix"]
    assert f"{duplicate[4]}: {duplicate[5]} Fix: {duplicate[6]}" in item_line(item)  # as in the run summary
