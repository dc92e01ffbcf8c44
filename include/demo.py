"""``make demo`` and ``make airflow``: the whole product against the local sandboxes.

``run``: seed the demo books, start both sandboxes on loopback, point Airflow connections and pools
at them, run every product DAG with ``airflow dags test`` in dependency order, print each DAG's
summary, and stop everything it started (also on failure or Ctrl-C).

``airflow``: the same set-up, then ``airflow standalone`` (UI on http://localhost:8080) until Ctrl-C.

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
]
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
        while not info_path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandboxes did not start; see {LOGS / 'sandbox.log'}")
            time.sleep(0.1)
        yield json.loads(info_path.read_text())
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


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


def run_dag(dag_id: str, env: dict[str, str]) -> bool:
    """``airflow dags test`` one DAG; its full log goes to .run/logs, the summary to the terminal."""
    log_path = LOGS / f"{dag_id}.log"
    started = time.monotonic()
    summary_path = STAGING / "summaries" / dag_id / "latest.json"
    summary_path.unlink(missing_ok=True)
    with open(log_path, "w") as log:
        result = subprocess.run(
            [_venv_bin("airflow"), "dags", "test", dag_id, "--mark-success-pattern", MARK_SUCCESS_PATTERN],
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
        results = {dag_id: run_dag(dag_id, env) for dag_id in dag_ids}
    failed = [d for d, ok in results.items() if not ok]
    _say(f"\nDemo finished: {len(results) - len(failed)} of {len(results)} DAGs succeeded.")
    _say(f"The demo's copy of finance's workbook, as the DAGs left it: {_shown(DEMO_WORKBOOK)}")
    if failed:
        _say(f"Failed: {', '.join(failed)}")
        return 1
    return 0


def standalone(args: argparse.Namespace) -> int:
    _say("Seeding the demo books and starting the sandboxes ...")
    seed_books(args.seed, args.scale)
    with sandboxes(BOOKS) as info:
        env = airflow_env(info)
        prepare_airflow(env)
        _say("Airflow UI: http://localhost:8080 (local demo: every user is admin). Ctrl-C stops everything.")
        proc = subprocess.Popen([_venv_bin("airflow"), "standalone"], env=env, cwd=ROOT, start_new_session=True)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            _stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.demo")
    parser.add_argument("command", choices=("run", "airflow"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--dags", nargs="*", help="only these DAG ids (default: all, in dependency order)")
    args = parser.parse_args(argv)
    try:
        return run(args) if args.command == "run" else standalone(args)
    except KeyboardInterrupt:
        _say("\nInterrupted; every process the demo started has been stopped.")
        return 130
    except RuntimeError as exc:
        _say(f"\nDemo stopped: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
