"""A refused sign-in fails the task at once (no Airflow retries), naming the connection and what to do."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("sandboxes")


@pytest.fixture
def bad_intacct(intacct_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = json.loads(os.environ["AIRFLOW_CONN_INTACCT_DEFAULT"])
    conn["password"] = "definitely-not-the-password"
    monkeypatch.setenv("AIRFLOW_CONN_INTACCT_WRONG", json.dumps(conn))
    return "intacct_wrong"


@pytest.fixture
def bad_qbo(qbo_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = json.loads(os.environ["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    conn["password"] = "definitely-not-the-secret"
    conn["extra"]["refresh_token"] = "revoked-refresh-token"
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_WRONG", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": "/tmp/x.db"}))
    return "quickbooks_wrong"


def test_intacct_extract_with_refused_credentials_fails_without_retry_naming_the_connection(
    bad_intacct: str, intacct_sandbox: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from qbo_intacct.operators.extract import IntacctExtractOperator

    monkeypatch.setenv("AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT", f"file://{tmp_path}")
    op = IntacctExtractOperator(task_id="extract_intacct_customers", flow="customers", object_name="CUSTOMER",
                                fields=["CUSTOMERID"], id_field="CUSTOMERID", intacct_conn_id=bad_intacct)  # fmt: skip
    with pytest.raises(AirflowFailException, match="intacct_wrong") as caught:
        op.execute({"run_id": "manual__auth"})
    assert "definitely-not-the-password" not in str(caught.value)
    assert "Not retried" in str(caught.value)
    assert [r["operation"] for r in intacct_sandbox.log()] == ["getAPISession"]


def test_quickbooks_load_with_refused_credentials_fails_without_retry_naming_the_connection(
    bad_qbo: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decimal import Decimal

    from airflow.sdk.exceptions import AirflowFailException

    from qbo_intacct.flows.runtime import stage, writes_frame
    from qbo_intacct.operators.load import QuickBooksUpsertOperator

    monkeypatch.setenv("AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT", f"file://{tmp_path}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "s.db")})
    )
    writes = stage(
        writes_frame([{"write_key": "0", "operation": "create", "object": "Customer", "record_key": "C-1", "entity": "",
                       "body": {"DisplayName": "A", "CreditLimit": Decimal("1")}, "idempotency_key": "k"}]),
        flow="customers", run_id="manual__auth", name="qbo_writes",
    )  # fmt: skip
    op = QuickBooksUpsertOperator(task_id="load_qbo", flow="customers", writes=writes, quickbooks_conn_id=bad_qbo)
    with pytest.raises(AirflowFailException, match="quickbooks_wrong") as caught:
        op.execute({"run_id": "manual__auth"})
    assert "definitely-not-the-secret" not in str(caught.value)
