"""``qbo_intacct_refresh_mappings``: live lists into the workbook, unmapped values appended, finance's rows kept."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, environ, load_demo_books, private_token_store

pytestmark = pytest.mark.dag

DEMO_WORKBOOK = ROOT / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
NEW_ACCOUNT = "Consulting Fees Received"


@pytest.fixture(scope="module")
def refreshed(sandboxes, airflow_db, tmp_path_factory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("refresh")
    load_demo_books(sandboxes, home / "books")
    workbook = home / "mappings.xlsx"
    shutil.copy(DEMO_WORKBOOK, workbook)
    env = {
        "AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT": f"file://{home / 'staging'}",
        "AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK": str(workbook),
        **private_token_store(sandboxes, home / "state.db"),
    }
    with environ(env):
        from airflow.dag_processing.dagbag import DagBag

        from qbo_intacct.hooks.quickbooks import QuickBooksHook

        QuickBooksHook().create(
            "Account", {"Name": NEW_ACCOUNT, "AccountType": "Income"}, request_id="test-refresh-new-account"
        )
        before = _rows(workbook, "Accounts")
        dag = DagBag(dag_folder=str(ROOT / "dags" / "qbo_intacct_refresh_mappings.py")).dags[
            "qbo_intacct_refresh_mappings"
        ]
        dagrun = dag.test()
        summary = json.loads(
            (home / "staging" / "summaries" / "qbo_intacct_refresh_mappings" / "latest.json").read_text()
        )
        yield {"state": str(dagrun.state), "workbook": workbook, "before": before, "summary": summary}


def _rows(path: Path, sheet: str) -> list[tuple[Any, ...]]:
    from openpyxl import load_workbook

    wb = load_workbook(path)
    return [tuple(c.value for c in row) for row in wb[sheet].iter_rows()]


def test_refresh_succeeds(refreshed: dict[str, Any]) -> None:
    assert refreshed["state"] == "success"


def test_new_quickbooks_account_is_appended_without_a_target(refreshed: dict[str, Any]) -> None:
    from qbo_intacct.mappings.loader import load_mappings

    mappings = load_mappings(refreshed["workbook"])
    assert NEW_ACCOUNT in mappings.unmapped["AccountMap"]
    assert mappings.gl_account(NEW_ACCOUNT) is None


def test_rows_finance_typed_are_unchanged(refreshed: dict[str, Any]) -> None:
    after = _rows(refreshed["workbook"], "Accounts")
    assert after[: len(refreshed["before"])] == refreshed["before"]


def test_lists_sheet_holds_the_live_quickbooks_accounts(refreshed: dict[str, Any]) -> None:
    from openpyxl import load_workbook

    from qbo_intacct.mappings.workbook import read_list_sheets

    lists = read_list_sheets(load_workbook(refreshed["workbook"]))
    assert NEW_ACCOUNT in {entry.value for entry in lists["QboAccounts"]}
    assert len(lists["IntacctGLAccounts"]) == 28


def test_summary_names_the_rows_to_fill_in(refreshed: dict[str, Any]) -> None:
    assert f"new rows to fill in on AccountMap: 1 ({NEW_ACCOUNT})" in refreshed["summary"]["text"]
