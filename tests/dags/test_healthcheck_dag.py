"""``qbo_intacct_healthcheck`` runs end to end with ``airflow dags test`` against both sandboxes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Sandbox, airflow_cli_env, private_token_store

pytestmark = pytest.mark.dag


@pytest.fixture
def mapping_workbook(tmp_path: Path) -> Path:
    from qbo_intacct.mappings.workbook import build_template

    return build_template(tmp_path / "mappings.xlsx")


def _run_healthcheck(
    sandboxes: dict[str, Sandbox], tmp_path: Path, workbook: Path, **conn_overrides: dict[str, Any]
) -> tuple[int, str, Path]:
    staging = tmp_path / "staging"
    env = airflow_cli_env(
        AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT=f"file://{staging}",
        AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK=str(workbook),
        # a private token store, so a wrong client secret cannot be hidden by a cached access token
        **private_token_store(sandboxes, tmp_path / "state.db"),
    )
    for conn_id, conn in conn_overrides.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    airflow = str(Path(sys.executable).parent / "airflow")
    result = subprocess.run(
        [airflow, "dags", "test", "qbo_intacct_healthcheck"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, staging


def _conn(conn_id: str) -> dict[str, Any]:
    return json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])


def _secrets(*conns: dict[str, Any]) -> list[str]:
    values = []
    for conn in conns:
        values.append(conn["password"])
        values += [v for k, v in conn["extra"].items() if "password" in k or "token" in k or "secret" in k]
    return [v for v in values if v]


def test_healthcheck_succeeds_and_writes_its_summary(sandboxes, airflow_db, tmp_path, mapping_workbook) -> None:
    code, output, staging = _run_healthcheck(sandboxes, tmp_path, mapping_workbook)
    assert code == 0, output[-3000:]
    summary = json.loads((staging / "summaries" / "qbo_intacct_healthcheck" / "latest.json").read_text())
    text = summary["text"]
    assert "QuickBooks Online (quickbooks_default): OK" in text
    assert "Sage Intacct (intacct_default): OK" in text
    assert "Mapping workbook (mappings.xlsx): OK" in text
    for secret in _secrets(_conn("quickbooks_default"), _conn("intacct_default")):
        assert secret not in output


def test_wrong_quickbooks_secret_fails_naming_connection_without_printing_it(
    sandboxes, airflow_db, tmp_path, mapping_workbook
) -> None:
    wrong = _conn("quickbooks_default")
    wrong["password"] = "not-the-client-secret-0000"
    code, output, _ = _run_healthcheck(sandboxes, tmp_path, mapping_workbook, quickbooks_default=wrong)
    assert code != 0
    assert "QuickBooks connection 'quickbooks_default'" in output
    assert "invalid_client" in output or "client" in output.lower()
    for secret in [*_secrets(wrong), _conn("quickbooks_default")["password"]]:
        assert secret not in output


def test_wrong_intacct_password_fails_naming_connection_without_printing_it(
    sandboxes, airflow_db, tmp_path, mapping_workbook
) -> None:
    wrong = _conn("intacct_default")
    wrong["password"] = "not-the-user-password-0000"
    code, output, _ = _run_healthcheck(sandboxes, tmp_path, mapping_workbook, intacct_default=wrong)
    assert code != 0
    assert "Intacct connection 'intacct_default'" in output
    assert "Sign-in information is incorrect" in output or "password" in output.lower()
    for secret in [*_secrets(wrong), _conn("intacct_default")["password"]]:
        assert secret not in output
