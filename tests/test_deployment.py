"""docker-compose.yaml, the Dockerfile and .env.example, checked as files (CI has no Docker engine).

What these catch are the mistakes that only show once the stack is up: containers that generate
their own fernet key or JWT secret (tasks then fail with "Invalid auth token", stored tokens become
unreadable), a missing mount for the workbook or the staging volume, an image on another Airflow
than the one the requirements pin.
"""

from __future__ import annotations

import json
import re
import shutil
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


# --------------------------------------------------------------------------------------------------
# The Celery stack (issue 19): the shape Airflow documents, checked without a Docker engine
# --------------------------------------------------------------------------------------------------

#: What Airflow's own docker-compose.yaml for the CeleryExecutor sets (apache/airflow,
#: airflow-core/docs/howto/docker-compose/docker-compose.yaml), and what ours must agree with.
DOCUMENTED_CELERY = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "AIRFLOW__CELERY__BROKER_URL": "redis://:@redis:6379/0",
    "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://airflow:airflow@postgres/airflow",
}
DOCUMENTED_WORKER_HEALTHCHECK = (
    'celery --app airflow.providers.celery.executors.celery_executor.app inspect ping -d "celery@$${HOSTNAME}"'
)
COMPONENTS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
SANDBOX_SERVICES = {"qbo-sandbox", "intacct-sandbox", "mailpit"}
BUILT_IMAGE = "qbo-intacct-airflow:0.1.0"


def _profiles(name: str) -> list[str]:
    return list(_service(name).get("profiles") or [])


def test_the_stack_has_every_service_of_airflows_celery_shape_and_ours() -> None:
    services = set(COMPOSE["services"])
    assert {"postgres", "redis", "airflow-init", "qbo-webhooks", *COMPONENTS} <= services
    for name, command in COMPONENTS.items():
        assert _service(name)["command"] == command, name
        assert not _profiles(name), f"{name} must start without a profile"
    assert _service("redis")["image"] == "redis:7.2-bookworm"  # Airflow's pin (licence change)
    assert _service("postgres")["image"] == "postgres:16"


@pytest.mark.parametrize("setting", sorted(DOCUMENTED_CELERY))
def test_celery_settings_agree_with_airflows_documented_ones(setting: str) -> None:
    for name in AIRFLOW_SERVICES:
        assert _service(name)["environment"][setting] == DOCUMENTED_CELERY[setting], name
    # the result backend is the metadata database, the broker the redis service of this file
    metadata = _service("airflow-scheduler")["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    backend = _service("airflow-scheduler")["environment"]["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend.removeprefix("db+postgresql://") == metadata.removeprefix("postgresql+psycopg2://")


def test_workers_scale_and_shut_down_warm() -> None:
    worker = _service("airflow-worker")
    # `--scale airflow-worker=N` needs no fixed container name and no published port
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"
    assert worker["healthcheck"]["test"] == ["CMD-SHELL", DOCUMENTED_WORKER_HEALTHCHECK]
    # tasks reach the execution API on the API server: workers wait for it
    assert worker["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert "import airflow.providers.celery.executors.celery_executor" in (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize("service", [*COMPONENTS, "qbo-webhooks", "postgres", "redis", *sorted(SANDBOX_SERVICES)])
def test_every_long_running_service_has_a_healthcheck(service: str) -> None:
    check = _service(service)["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert check.get("retries", 0) >= 5


@pytest.mark.parametrize("service", [*AIRFLOW_SERVICES, "qbo-webhooks", "qbo-sandbox", "intacct-sandbox"])
def test_our_services_run_the_image_built_from_the_dockerfile(service: str) -> None:
    spec = _service(service)
    assert spec["build"] == "."
    assert spec["image"] == BUILT_IMAGE
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in spec.get("environment", {})
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r /opt/qbo_intacct/requirements.txt" in dockerfile
    assert "pip install --no-cache-dir --no-deps /opt/qbo_intacct" in dockerfile


def test_init_migrates_creates_the_ledger_imports_pools_and_writes_api_users() -> None:
    init = _service("airflow-init")
    script = init["command"][1]
    assert init["command"][0] == "-c"
    steps = ["airflow db migrate", "airflow pools import", "CREATE DATABASE qbo_intacct", "passwords.json"]
    positions = [script.index(step) for step in steps]
    assert positions == sorted(positions)
    assert script.startswith("set -e")  # a failed step fails the service, and nothing starts after it
    for name in COMPONENTS:
        assert _service(name)["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    pools = json.loads((ROOT / "include" / "pools.json").read_text())
    assert pools["intacct_api"]["slots"] == 2  # Intacct's default concurrency per company
    assert pools["qbo_api"]["slots"] <= 10  # Intuit: 10 concurrent requests per realm
    users = dict(
        u.split(":")
        for u in _service("airflow-scheduler")["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")
    )
    assert users == {"admin": "admin", "qbo_webhooks": "user"}  # the receiver may start runs, no more


def test_connections_and_variables_come_from_env_file() -> None:
    for name in AIRFLOW_SERVICES:
        assert _service(name)["env_file"] == ".env"
    example = _env_example()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "docker-compose.yaml").read_text()))
    assert required <= set(example), f"not named in .env.example: {required - set(example)}"


def _env_example() -> dict[str, str]:
    """Every variable .env.example names, commented out or not, with its value."""
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"#?\s?([A-Z][A-Z0-9_]+)=(.*)", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def test_sandbox_profile_adds_both_sandboxes_seeded_and_mailpit_wired_through_env_example() -> None:
    in_profile = {name for name in COMPOSE["services"] if "sandbox" in _profiles(name)}
    assert in_profile == SANDBOX_SERVICES
    # .env.example's sandbox block, as a new user uncomments it
    sandbox_lines = (ROOT / ".env.example").read_text().split("`sandbox` profile", 1)[1]
    conns = {
        m.group(1): json.loads(m.group(2))
        for m in re.finditer(r"^# (AIRFLOW_CONN_[A-Z_]+|QBO_INTACCT_SANDBOX_CREDENTIALS)=(.*)$", sandbox_lines, re.M)
    }
    creds = conns["QBO_INTACCT_SANDBOX_CREDENTIALS"]
    quickbooks = conns["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"]
    assert quickbooks["login"] == creds["qbo"]["client_id"]
    assert quickbooks["password"] == creds["qbo"]["client_secret"]
    realm = quickbooks["extra"]["realm_id"]
    assert quickbooks["extra"]["refresh_token"] == creds["qbo"]["realms"][realm]["refresh_token"]
    assert quickbooks["extra"]["base_url"] == "http://qbo-sandbox:8765/v3"
    from include.sandbox.books.intacct_adapter import COMPANY_ID
    from include.sandbox.books.qbo_adapter import REALM_ID

    assert realm == REALM_ID  # the seeded demo company
    intacct = conns["AIRFLOW_CONN_INTACCT_DEFAULT"]
    assert intacct["extra"]["company_id"] == COMPANY_ID
    assert intacct["extra"]["endpoint_url"].startswith("http://intacct-sandbox:8766/")
    assert (intacct["login"], intacct["password"]) == (creds["intacct"]["user_id"], creds["intacct"]["user_password"])
    assert intacct["extra"]["sender_password"] == creds["intacct"]["sender_password"]
    smtp = conns["AIRFLOW_CONN_SMTP_FINANCE"]
    assert (smtp["host"], smtp["port"]) == ("mailpit", 1025)
    assert "8025:8025" in _service("mailpit")["ports"]  # its web UI
    for name, port in (("qbo-sandbox", 8765), ("intacct-sandbox", 8766)):
        script = "\n".join(_service(name)["command"])
        assert "python -m include.sandbox seed --seed 42 --scale demo --out /tmp/books" in script
        assert f"--{name.split('-')[0]}-port {port}" in script
        assert "--books /tmp/books" in script
        assert f"{port}:{port}" in _service(name)["ports"]
        env = _service(name)["environment"]
        assert env["QBO_INTACCT_SANDBOX_CREDENTIALS"] == "${QBO_INTACCT_SANDBOX_CREDENTIALS:-}"
    # the QuickBooks sandbox sends its webhooks to the receiver, signed with the receiver's token
    qbo_env = _service("qbo-sandbox")["environment"]
    assert qbo_env["QBO_SANDBOX_WEBHOOK_URL"] == "http://qbo-webhooks:8081/webhooks/quickbooks"
    assert qbo_env["QBO_SANDBOX_WEBHOOK_VERIFIER_TOKEN"] == "${QBO_WEBHOOK_VERIFIER_TOKEN:-}"


def test_webhook_receiver_service_signs_in_to_the_api_server_and_is_published() -> None:
    receiver = _service("qbo-webhooks")
    assert receiver["command"][:3] == ["python", "-m", "qbo_intacct.webhooks"]
    env = receiver["environment"]
    assert env["QBO_WEBHOOK_AIRFLOW_URL"] == "http://airflow-apiserver:8080"
    assert env["QBO_WEBHOOK_AIRFLOW_USER"] == "qbo_webhooks"
    assert env["QBO_WEBHOOK_VERIFIER_TOKEN"].startswith("${QBO_WEBHOOK_VERIFIER_TOKEN:?")
    assert receiver["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert any(str(p).endswith(":8081") for p in receiver["ports"])


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return ["docker", "compose"]
    return None


@pytest.mark.skipif(_compose_cli() is None, reason="no docker-compose here (Debian: apt-get install docker-compose)")
def test_compose_config_with_the_sandbox_profile_lists_every_service(tmp_path: Path) -> None:
    """What `docker compose --profile sandbox config` says, with an .env made from .env.example."""
    example = _env_example()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "docker-compose.yaml").read_text()))
    (tmp_path / ".env").write_text("".join(f"{name}=test-{name.lower()}\n" for name in sorted(required)))
    assert required <= set(example)
    cli = [*_compose_cli(), "-f", str(ROOT / "docker-compose.yaml"), "--project-directory", str(tmp_path)]
    listed = subprocess.run(
        [*cli, "--profile", "sandbox", "config", "--services"], capture_output=True, text=True, check=False, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    # every service, the sandbox profile's included (Debian's docker-compose 1.29 lists all profiles)
    assert (
        set(listed.stdout.split()) >= {name for name in COMPOSE["services"] if not _profiles(name)} | SANDBOX_SERVICES
    )
    rendered = subprocess.run(
        [*cli, "--profile", "sandbox", "config"], capture_output=True, text=True, check=False, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    resolved = yaml.safe_load(rendered.stdout)["services"]
    assert resolved["airflow-worker"]["environment"]["AIRFLOW__CORE__FERNET_KEY"] == "test-airflow_fernet_key"
    assert resolved["qbo-webhooks"]["environment"]["QBO_WEBHOOK_VERIFIER_TOKEN"] == "test-qbo_webhook_verifier_token"
    (tmp_path / ".env").write_text("")
    refused = subprocess.run([*cli, "config", "--services"], capture_output=True, text=True, check=False, timeout=60)
    assert refused.returncode != 0
    assert "set AIRFLOW_FERNET_KEY in .env" in refused.stderr
