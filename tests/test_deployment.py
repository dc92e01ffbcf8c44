"""docker-compose.yaml and the Dockerfile, checked as files (this machine has no Docker engine).

What these catch are the mistakes that only show once the stack is up: containers that generate
their own fernet key or JWT secret (tasks then fail with "Invalid auth token", stored tokens become
unreadable), a missing mount for the workbook or the staging volume, an image on another Airflow
than the one the requirements pin.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
AIRFLOW_SERVICES = [name for name in COMPOSE["services"] if name.startswith("airflow-")]
SHARED_KEYS = {
    "AIRFLOW__CORE__FERNET_KEY": "AIRFLOW_FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET": "AIRFLOW_JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY": "AIRFLOW_API_SECRET_KEY",
}


def _service(name: str) -> dict[str, Any]:
    return COMPOSE["services"][name]


def test_every_airflow_component_runs() -> None:
    commands = {str(_service(name).get("command")) for name in AIRFLOW_SERVICES}
    assert {"api-server", "scheduler", "dag-processor", "triggerer"} <= commands


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_shared_keys_come_from_env_and_are_required(service: str) -> None:
    env = _service(service)["environment"]
    for setting, variable in SHARED_KEYS.items():
        assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", str(env.get(setting, ""))), (service, setting)


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_dags_plugins_include_and_staging_are_mounted(service: str) -> None:
    targets = {volume.split(":")[1] for volume in _service(service)["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include", "/opt/airflow/staging"} <= targets
    env = _service(service)["environment"]
    assert env["AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT"] == "file:///opt/airflow/staging"
    workbook = Path(env["AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK"]).relative_to("/opt/airflow")
    assert (ROOT / workbook).is_file()
    # the mounted package, not the image's installed copy, is the code that runs
    assert env["PYTHONPATH"].split(":")[0] == "/opt/airflow/plugins"


def test_ledger_lives_in_the_postgres_database_that_init_creates() -> None:
    state = json.loads(_service("airflow-scheduler")["environment"]["AIRFLOW_CONN_QBO_INTACCT_STATE"])
    assert (state["conn_type"], state["host"], state["schema"]) == ("postgres", "postgres", "qbo_intacct")
    init = "\n".join(_service("airflow-init")["command"])
    assert "CREATE DATABASE qbo_intacct" in init
    assert "airflow pools import /opt/airflow/include/pools.json" in init
    assert (ROOT / "include" / "pools.json").is_file()


def test_no_quickbooks_or_intacct_credentials_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yaml").read_text()
    for conn in ("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", "AIRFLOW_CONN_INTACCT_DEFAULT", "AIRFLOW_CONN_SMTP_FINANCE"):
        assert f"{conn}:" not in text  # they come from .env, which git ignores
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0


def test_image_runs_the_airflow_the_requirements_pin() -> None:
    pinned = re.search(r"^apache-airflow==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned
    base = re.search(r"^FROM apache/airflow:([\d.]+)-python3\.11$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert base
    assert base.group(1) == pinned.group(1)
