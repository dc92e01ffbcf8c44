"""``make demo`` and ``make airflow``: the whole product against the local sandboxes.

``run``: seed the demo books, start both sandboxes on loopback, point Airflow connections and pools
at them, run every product DAG with ``airflow dags test`` in dependency order, print each DAG's
summary, and stop everything it started (also on failure or Ctrl-C).

``airflow``: the same set-up, then Airflow's scheduler, DAG processor, triggerer and API server (the UI
on http://localhost:8080, or ``--port``) until Ctrl-C or SIGTERM, which stop everything it started.

Every file it writes stays in the checkout: ``.run/`` (books, sandbox state, staging, logs) and
``.airflow/`` (Airflow home with SQLite). Secrets (the sandboxes' generated credentials) go only into
the child processes' environment, never to the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from include.sandbox.connections import airflow_connections

ROOT = Path(__file__).resolve().parent.parent
# QBO_INTACCT_DEMO_DIR moves everything a demo writes elsewhere (the test suite runs the demo in a
# temporary folder, so it never disturbs a `make demo` running at the same time).
_DEMO_DIR = os.environ.get("QBO_INTACCT_DEMO_DIR")
RUN = Path(_DEMO_DIR) if _DEMO_DIR else ROOT / ".run"
AIRFLOW_HOME = RUN / "airflow-home" if _DEMO_DIR else ROOT / ".airflow" / "demo"
BOOKS = RUN / "books"
STAGING = RUN / "staging"
LOGS = RUN / "logs"
# The demo edits a copy of finance's workbook (the refresh DAG appends rows), never the committed file.
SHIPPED_WORKBOOK = ROOT / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
DEMO_WORKBOOK = RUN / "mappings" / "qbo_intacct_mappings.xlsx"

# Dependency order: the health check first, then master data, documents, journals, reconciliation.
# Each issue that adds a flow appends its DAG here.
DEMO_DAGS: list[str] = [
    "qbo_intacct_healthcheck",
    "qbo_intacct_refresh_mappings",
    "qbo_intacct_customers",
    "qbo_intacct_vendors",
    "qbo_intacct_bills",
    "qbo_intacct_bill_payments",
    "qbo_intacct_invoices",
    "qbo_intacct_payments",
    "qbo_intacct_journal_entries",
    "qbo_intacct_period_end_reconciliation",
]
RECONCILIATION_DAG = "qbo_intacct_period_end_reconciliation"
MAIL = RUN / "mail"
DEMO_RECIPIENTS = "controller@northstar.example"
# HITL steps that `airflow dags test` cannot answer; the demo approves them (see airflow-notes §2.5).
MARK_SUCCESS_PATTERN = r"review_.*|approve_.*"


def _shown(path: Path) -> Path:
    """A path as the user should read it: relative to the checkout when inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _say(message: str) -> None:
    print(message, flush=True)


def _venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def seed_books(seed: int, scale: str) -> dict[str, Any]:
    """Write the demo group's books (deterministic), copy finance's workbook, return the manifest."""
    for folder in (BOOKS, STAGING):
        if folder.exists():
            shutil.rmtree(folder)
    (RUN / "qbo_intacct_state.db").unlink(missing_ok=True)  # each demo starts from a fresh ledger
    DEMO_WORKBOOK.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIPPED_WORKBOOK, DEMO_WORKBOOK)
    from include.sandbox.books.generate import generate_books

    return generate_books(seed=seed, scale=scale, out=BOOKS)


@contextmanager
def sandboxes(books: Path | None) -> Iterator[dict[str, Any]]:
    """Run both sandboxes for the duration of the block; always stop them."""
    state_dir = RUN / "sandbox"
    state_dir.mkdir(parents=True, exist_ok=True)
    info_path = state_dir / "sandbox.json"
    info_path.unlink(missing_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "include.sandbox", "serve", "--system", "both", "--state-dir", str(state_dir)]
    if books is not None:
        cmd += ["--books", str(books)]
    with open(LOGS / "sandbox.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        info: dict[str, Any] | None = None
        while info is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandboxes did not start; see {LOGS / 'sandbox.log'}")
            with suppress(FileNotFoundError, ValueError):  # absent, or still being written
                info = json.loads(info_path.read_text())
            time.sleep(0.1)
        yield info
    finally:
        _stop(proc)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a reused id owned by someone else
        return False
    return True


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a child started with ``start_new_session`` and everything it forked (its process group)."""
    pgid = proc.pid
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.poll() is None or _group_alive(pgid):
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def airflow_env(info: dict[str, Any]) -> dict[str, str]:
    """Environment for Airflow child processes: private home, our folders, connections, variables."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT": f"file://{STAGING}",
            # A copy (made by seed_books): the refresh DAG writes to the workbook, and the demo must
            # leave finance's committed workbook as it found it.
            "AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK": str(DEMO_WORKBOOK),
            "GX_ANALYTICS_ENABLED": "False",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]),
        }
    )
    conns = airflow_connections(info, state_db=RUN / "qbo_intacct_state.db")
    for conn_id, conn in conns.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def prepare_airflow(env: dict[str, str]) -> None:
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    airflow = _venv_bin("airflow")
    for args in (["db", "migrate"], ["pools", "import", str(ROOT / "include" / "pools.json")]):
        result = subprocess.run([airflow, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            (LOGS / "airflow-setup.log").write_text(result.stdout + result.stderr)
            raise RuntimeError(f"`airflow {' '.join(args)}` failed; see {LOGS / 'airflow-setup.log'}")


def latest_summary(dag_id: str) -> dict[str, Any] | None:
    """The summary the DAG's last task wrote (``<staging>/summaries/<dag_id>/latest.json``)."""
    path = STAGING / "summaries" / dag_id / "latest.json"
    return json.loads(path.read_text()) if path.exists() else None


@contextmanager
def mail_sink() -> Iterator[dict[str, str]]:
    """A local SMTP server on loopback (aiosmtpd, a port the OS picks) that writes every message it
    receives to ``.run/mail/<n>.eml``; yields the environment that points ``smtp_finance`` at it."""
    import asyncio
    import threading

    from aiosmtpd.smtp import SMTP

    if MAIL.exists():
        shutil.rmtree(MAIL)
    MAIL.mkdir(parents=True)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
            n = len(list(MAIL.glob("*.eml"))) + 1
            (MAIL / f"{n:03d}.eml").write_bytes(envelope.original_content or envelope.content)
            return "250 Message accepted for delivery"

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": {"disable_ssl": True, "disable_tls": True}}
    try:
        yield {
            "AIRFLOW_CONN_SMTP_FINANCE": json.dumps(conn),
            "AIRFLOW_VAR_QBO_INTACCT_RECONCILIATION_RECIPIENTS": DEMO_RECIPIENTS,
        }
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def run_dag(dag_id: str, env: dict[str, str], conf: dict[str, Any] | None = None) -> bool:
    """``airflow dags test`` one DAG; its full log goes to .run/logs, the summary to the terminal."""
    log_path = LOGS / f"{dag_id}.log"
    started = time.monotonic()
    summary_path = STAGING / "summaries" / dag_id / "latest.json"
    summary_path.unlink(missing_ok=True)
    with open(log_path, "w") as log:
        result = subprocess.run(
            [_venv_bin("airflow"), "dags", "test", dag_id, "--mark-success-pattern", MARK_SUCCESS_PATTERN]
            + (["-c", json.dumps(conf)] if conf else []),
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.monotonic() - started
    ok = result.returncode == 0
    _say(f"\n== {dag_id}: {'succeeded' if ok else 'FAILED'} in {seconds:.1f} s (log: {_shown(log_path)})")
    summary = latest_summary(dag_id)
    if summary and summary.get("text"):
        for line in summary["text"].splitlines():
            _say(f"   {line}")
    elif not ok:
        _say("   no summary was written; the last lines of the log:")
        for line in log_path.read_text().splitlines()[-15:]:
            _say(f"   | {line}")
    return ok


def run(args: argparse.Namespace) -> int:
    _say(f"Seeding the demo group's books (seed {args.seed}, scale {args.scale}) ...")
    manifest = seed_books(args.seed, args.scale)
    for system, label in (("qbo", "QuickBooks Online"), ("intacct", "Sage Intacct")):
        by_object = manifest.get("counts", {}).get(system, {}).get("by_object", {})
        shown = ", ".join(f"{n} {obj}" for obj, n in sorted(by_object.items(), key=lambda kv: -kv[1])[:8])
        _say(f"   {label}: {shown}")
    _say(f"   planted trouble cases: {len(manifest.get('planted', []))} (see {_shown(BOOKS)}/manifest.json)")
    _say("Starting the QuickBooks Online and Sage Intacct sandboxes on loopback ...")
    with sandboxes(BOOKS) as info:
        env = airflow_env(info)
        _say("Preparing Airflow (database, pools, connections) ...")
        prepare_airflow(env)
        dag_ids = args.dags or DEMO_DAGS
        # The reconciliation closes the books' last month and mails finance through a local SMTP sink.
        period = {"period": str(manifest.get("as_of", ""))[:7]} if manifest.get("as_of") else None
        with mail_sink() as mail_env:
            env.update(mail_env)
            results = {
                dag_id: run_dag(dag_id, env, period if dag_id == RECONCILIATION_DAG else None) for dag_id in dag_ids
            }
    failed = [d for d, ok in results.items() if not ok]
    _say(f"\nDemo finished: {len(results) - len(failed)} of {len(results)} DAGs succeeded.")
    _say(f"The demo's copy of finance's workbook, as the DAGs left it: {_shown(DEMO_WORKBOOK)}")
    reconciliation = latest_summary(RECONCILIATION_DAG) if RECONCILIATION_DAG in results else None
    if reconciliation and reconciliation.get("summary", {}).get("workbook"):
        _say(f"The period-end reconciliation workbook: {_shown(Path(reconciliation['summary']['workbook']))}")
    mails = sorted(MAIL.glob("*.eml")) if MAIL.exists() else []
    if mails:
        _say(f"The message finance received (with the workbook attached): {_shown(mails[-1])}")
    if failed:
        _say(f"Failed: {', '.join(failed)}")
        return 1
    return 0


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    """SIGTERM (a service manager, ``kill``, ``make`` passing on its own SIGTERM): stop as on Ctrl-C."""


def _stop_on_sigterm() -> None:
    stopping = False

    def handler(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:  # a second SIGTERM must not interrupt the clean-up the first one started
            stopping = True
            raise StopRequested

    signal.signal(signal.SIGTERM, handler)


# The Airflow components `make airflow` runs (what `airflow standalone` runs, minus its need for
# `airflow` on PATH): each in its own session so a stop reaches every process it forked.
AIRFLOW_COMPONENTS: tuple[str, ...] = ("scheduler", "dag-processor", "triggerer", "api-server")
DEFAULT_PORT = 8080
# SQLite's default 5 s busy wait is too short once the scheduler, its workers and the API server all
# write (an answer to a review form resumes a task while the scheduler is busy): the UI got HTTP 500
# "database is locked". A demo-sized wait; a deployment uses PostgreSQL (docker-compose.yaml).
SQLITE_CONNECT_ARGS: dict[str, float] = {"timeout": 60.0}
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ui_env(env: dict[str, str], port: int) -> dict[str, str]:
    """The demo environment plus what the UI needs: the chosen port, the local executor, the venv on PATH."""
    env = dict(env)
    env.update(
        {
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "include.demo.SQLITE_CONNECT_ARGS",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": "include.demo.SQLITE_CONNECT_ARGS",
            # A laptop demo: a few workers, not one per parallelism slot (32 idle processes by default).
            "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW__CORE__PARALLELISM", "4"),
            # The log servers default to fixed ports (8793, 8794); two checkouts side by side would collide.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            # Whatever launched us (a fresh shell, make, an IDE), Airflow's own subprocesses find `airflow`.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        }
    )
    return env


def start_airflow(env: dict[str, str], port: int) -> dict[str, subprocess.Popen[bytes]]:
    """Start scheduler, DAG processor, triggerer and API server; their logs go to ``.run/logs``."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in AIRFLOW_COMPONENTS:
        args = [_venv_bin("airflow"), name] + (
            ["--host", "127.0.0.1", "--port", str(port)] if name == "api-server" else []
        )
        with open(LOGS / f"airflow-{name}.log", "wb") as log:
            procs[name] = subprocess.Popen(
                args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
    return procs


def wait_until_healthy(port: int, procs: dict[str, subprocess.Popen[bytes]], timeout: float = 600) -> None:
    """Wait for the UI's health endpoint to report the metadatabase and scheduler healthy."""
    import requests

    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited; see {_shown(LOGS / f'airflow-{name}.log')}")
        try:
            body = requests.get(url, timeout=5).json()
            if body.get("metadatabase", {}).get("status") == "healthy" and (
                body.get("scheduler", {}).get("status") == "healthy"
            ):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(1)
    raise RuntimeError(f"the Airflow UI did not become healthy within {timeout:.0f} s; see {_shown(LOGS)}")


def standalone(args: argparse.Namespace) -> int:
    port = args.port or int(os.environ.get("QBO_INTACCT_AIRFLOW_PORT") or DEFAULT_PORT)
    if not _port_free(port):
        raise RuntimeError(f"port {port} is in use; choose another: make airflow PORT=8090")
    _say("Seeding the demo books and starting the sandboxes ...")
    seed_books(args.seed, args.scale)
    with sandboxes(BOOKS) as info:
        env = ui_env(airflow_env(info), port)
        _say("Preparing Airflow (database, pools, connections) ...")
        prepare_airflow(env)
        procs = start_airflow(env, port)
        try:
            _say(f"Starting Airflow (logs in {_shown(LOGS)}) ...")
            wait_until_healthy(port, procs)
            _say(
                f"Airflow UI: http://localhost:{port} (local demo: every user is admin). The DAGs start paused: "
                "switch one on, or trigger it with the play button. Ctrl-C (or SIGTERM) stops everything."
            )
            while all(p.poll() is None for p in procs.values()):
                time.sleep(1)
            dead = [n for n, p in procs.items() if p.poll() is not None]
            _say(f"airflow {', '.join(dead)} stopped; stopping the rest (see {_shown(LOGS)})")
            return 1
        finally:
            for proc in procs.values():
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs.values():
                _stop(proc)
            _say("Airflow stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.demo")
    parser.add_argument("command", choices=("run", "airflow"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--dags", nargs="*", help="only these DAG ids (default: all, in dependency order)")
    parser.add_argument("--port", type=int, default=None, help="airflow: the UI's port (default 8080)")
    args = parser.parse_args(argv)
    _stop_on_sigterm()
    try:
        return run(args) if args.command == "run" else standalone(args)
    except (KeyboardInterrupt, StopRequested):
        _say("\nStopped; every process the demo started has been stopped.")
        # Ctrl-C or SIGTERM is how the UI is meant to be stopped; an interrupted `run` did not finish.
        return 0 if args.command == "airflow" else 130
    except RuntimeError as exc:
        _say(f"\nDemo stopped: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
