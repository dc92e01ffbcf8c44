"""Shared test fixtures: a private Airflow home, and both sandboxes over real HTTP on loopback.

The sandboxes run once per test session in a subprocess (``python -m include.sandbox serve``) on
free ports; each test that asks for ``qbo_sandbox`` or ``intacct_sandbox`` gets them reset to an
empty (or seeded) state, with faults cleared and counters zeroed. Connections reach the hooks as
``AIRFLOW_CONN_*`` environment values, exactly as in a deployment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ``make test`` runs the suite on pytest-xdist workers (gw0, gw1, ...): each gets an Airflow home, a
# metadata DB and a PostgreSQL database of its own, so no two workers ever share state.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_TEST_HOME = ROOT / ".airflow" / (f"pytest-{_WORKER}" if _WORKER else "pytest")
os.environ.setdefault("AIRFLOW_HOME", str(_TEST_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# One fernet key for the whole session and every subprocess it starts. Without it the first process
# runs keyless, ``airflow db migrate`` later writes a random key into airflow.cfg, and processes
# started after that cannot read QuickBooks tokens stored before. A test-only key, not a secret.
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMhISE=")
for _p in (str(ROOT), str(ROOT / "plugins")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import requests  # noqa: E402


def _own_postgres_database(url: str, worker: str) -> str:
    """The throwaway PostgreSQL of ``.ci/run`` is one server for the whole suite; give each xdist
    worker a database of its own on it (the ledger tests drop and create tables freely)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


if _WORKER and os.environ.get("QBO_INTACCT_TEST_PG_URL"):
    os.environ["QBO_INTACCT_TEST_PG_URL"] = _own_postgres_database(os.environ["QBO_INTACCT_TEST_PG_URL"], _WORKER)

from include.sandbox.connections import airflow_connections  # noqa: E402


@dataclass
class Sandbox:
    """A running sandbox: its ``sandbox.json`` section plus admin helpers."""

    system: str
    info: dict[str, Any]

    @property
    def admin(self) -> str:
        return self.info["admin_url"]

    def reset(self, snapshot: Path | None = None) -> None:
        r = requests.post(f"{self.admin}/reset", json={"snapshot": str(snapshot) if snapshot else None}, timeout=120)
        r.raise_for_status()

    def faults(self, *rules: dict[str, Any]) -> None:
        requests.put(f"{self.admin}/faults", json={"rules": list(rules)}, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.admin}/faults", timeout=10).raise_for_status()

    def counters(self) -> dict[str, Any]:
        return requests.get(f"{self.admin}/counters", timeout=10).json()

    def reset_counters(self) -> None:
        requests.post(f"{self.admin}/counters/reset", timeout=10).raise_for_status()

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        return requests.get(f"{self.admin}/log", params={"since": since}, timeout=10).json()

    def advance_clock(self, seconds: float) -> None:
        requests.post(f"{self.admin}/clock", json={"advance_seconds": seconds}, timeout=10).raise_for_status()

    def configure(self, **changes: Any) -> dict[str, Any]:
        r = requests.patch(f"{self.admin}/config", json=changes, timeout=10)
        r.raise_for_status()
        return r.json()


def _start_sandboxes(state_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    state_dir.mkdir(parents=True, exist_ok=True)
    info_path = state_dir / "sandbox.json"
    info_path.unlink(missing_ok=True)
    log = open(state_dir / "sandbox.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "include.sandbox", "serve", "--system", "both", "--state-dir", str(state_dir)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not info_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"sandboxes did not start; see {state_dir / 'sandbox.log'}")
        time.sleep(0.05)
    time.sleep(0.05)  # the file is complete once it exists (written before serving); let sockets accept
    return proc, json.loads(info_path.read_text())


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Sandbox]]:
    proc, info = _start_sandboxes(tmp_path_factory.mktemp("sandbox"))
    conns = airflow_connections(
        _with_own_refresh_token(info), state_db=tmp_path_factory.mktemp("state") / "qbo_intacct_state.db"
    )
    try:
        with environ({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()}):
            yield {name: Sandbox(name, section) for name, section in info.items()}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _with_own_refresh_token(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with a refresh token the sandbox's authorize route just issued for the default realm.

    Every token store spends its own chain, as a deployment's single store does. Two stores that
    start from one refresh token fork its chain: once one of them rotates it, the other's token is
    refused (``invalid_grant``) after the sandbox's grace, so tests would depend on their timing."""
    qbo = dict(info["qbo"])
    realm_id = next(iter(qbo["realms"]))
    r = requests.post(f"{qbo['admin_url']}/qbo/authorize", json={"realm_id": realm_id}, timeout=30)
    r.raise_for_status()
    qbo["realms"] = {**qbo["realms"], realm_id: {**qbo["realms"][realm_id], "refresh_token": r.json()["refresh_token"]}}
    return {**info, "qbo": qbo}


def private_token_store(sandboxes: Mapping[str, Sandbox], state_db: Path) -> dict[str, str]:
    """Environment for a test with a token store (and ledger) of its own at ``state_db``: that
    connection plus a QuickBooks connection whose refresh token starts a chain of its own."""
    info = _with_own_refresh_token({"qbo": sandboxes["qbo"].info})
    conns = airflow_connections(info, state_db=state_db)
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()}


@pytest.fixture
def qbo_sandbox(sandboxes: dict[str, Sandbox]) -> Sandbox:
    sb = sandboxes["qbo"]
    sb.reset()
    return sb


@pytest.fixture
def intacct_sandbox(sandboxes: dict[str, Sandbox]) -> Sandbox:
    sb = sandboxes["intacct"]
    sb.reset()
    return sb


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite) in the git-ignored test home, for ``dag.test()``."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return home


@contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a block, then put back what was there. For session- and
    module-scoped fixtures, which cannot use ``monkeypatch``."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_demo_books(sandboxes: Mapping[str, Sandbox], folder: Path) -> Path:
    """Seed the demo group's books (seed 42, the books ``make demo`` uses) into ``folder`` through the
    seed command, and load them into both sandboxes. Returns the books folder."""
    subprocess.run(
        [sys.executable, "-m", "include.sandbox", "seed", "--seed", "42", "--scale", "demo", "--out", str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    sandboxes["qbo"].reset(folder / "qbo.json")
    sandboxes["intacct"].reset(folder / "intacct.json")
    return folder


def airflow_cli_env(**overrides: str) -> dict[str, str]:
    """Environment for an ``airflow`` CLI subprocess: the test home, our folders, current connections."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")])
    env.update(overrides)
    return env
