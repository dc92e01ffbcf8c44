"""``make airflow`` as a new user meets it, and the review queue as finance answers it in the UI.

One ``make airflow`` is started from a fresh environment (nothing activated, the virtual
environment not on PATH) on a free port. Through Airflow's REST API (the calls the UI makes) the
tests run the customers flow, answer its held records in the review DAG's human-in-the-loop forms,
run the flow again and check it applied the answers; the run's task logs are read back through the
API too. The last test stops ``make`` with SIGTERM and checks that no process and no port is left.

Generous waits (a loaded 2-core CI machine), free ports, and a SIGKILL of everything that is left
when a test fails, so a failure never leaves servers behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from include.sandbox.connections import airflow_connections
from qbo_intacct.ledger.db import engine_for_url
from qbo_intacct.ledger.repository import Ledger, ReviewStatus

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 420  # first start: seed books, migrate the DB, parse DAGs, on a busy 2-core machine
RUN_SECONDS = 600
BURST = 12  # QuickBooks edits in the webhook test, one API call each
COALESCE_SECONDS = 10  # the receiver gathers this long after the first change (as compose)

pytestmark = [pytest.mark.dag, pytest.mark.timeout(1800)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (sandboxes and Airflow run in sessions of their own, still below it)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(what: str, check: Callable[[], Any], timeout: float, every: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class AirflowUI:
    proc: subprocess.Popen[bytes]
    port: int
    demo_dir: Path
    output: Path
    seen: set[int] = field(default_factory=set)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    def call(self, method: str, path: str, **kw: Any) -> Any:
        response = requests.request(method, f"{self.api}{path}", timeout=60, **kw)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def trigger(self, dag_id: str) -> str:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str) -> None:
        state = _wait(
            f"{dag_id} {run_id} to finish",
            lambda: (s := self.run_state(dag_id, run_id)) in ("success", "failed") and s,
            RUN_SECONDS,
        )
        assert state == "success", f"{dag_id} {run_id} {state}; logs in {self.demo_dir / 'airflow-home' / 'logs'}"

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        body = self.call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/1",
            headers={"Accept": "application/json"},
        )
        content = body.get("content")
        if isinstance(content, list):
            return "\n".join(str(c.get("event", "")) if isinstance(c, dict) else str(c) for c in content)
        return str(content)

    def ledger(self) -> Ledger:
        return Ledger(engine_for_url(f"sqlite:///{self.demo_dir / 'qbo_intacct_state.db'}"))

    def remember_processes(self) -> None:
        self.seen |= _descendants(self.proc.pid)


def _fresh_env(demo_dir: Path) -> dict[str, str]:
    """What a new shell has: no virtual environment, no AIRFLOW_* from the test session."""
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "TERM")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["QBO_INTACCT_DEMO_DIR"] = str(demo_dir)  # never disturbs a `make airflow` of the developer's
    env["QBO_INTACCT_CUSTOMERS_SCHEDULE"] = "none"  # runs only when the test triggers them
    env["QBO_INTACCT_REFRESH_MAPPINGS_SCHEDULE"] = "none"
    return env


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowUI]:
    demo_dir = tmp_path_factory.mktemp("make_airflow")
    port = _free_port()
    output = demo_dir / "make-airflow.out"
    with open(output, "wb") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "airflow", f"PORT={port}"],
            cwd=ROOT,
            env=_fresh_env(demo_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ui = AirflowUI(proc, port, demo_dir, output)
    try:

        def healthy() -> bool:
            assert proc.poll() is None, f"make airflow exited:\n{output.read_text()[-3000:]}"
            ui.remember_processes()
            try:
                body = requests.get(f"{ui.api}/monitor/health", timeout=5).json()
            except (requests.RequestException, ValueError):
                return False
            return body["metadatabase"]["status"] == "healthy" and body["scheduler"]["status"] == "healthy"

        _wait("the UI's health endpoint", healthy, READY_SECONDS)
        _wait(
            "the DAGs to be parsed",
            lambda: (
                {"qbo_intacct_customers", "qbo_intacct_review"}
                <= {d["dag_id"] for d in ui.call("GET", "/dags?dag_id_pattern=qbo_intacct")["dags"]}
            ),
            READY_SECONDS,
        )
        ui.remember_processes()
        yield ui
    finally:
        ui.remember_processes()
        if proc.poll() is None:  # a test failed before the stop test: stop it the same way
            os.kill(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=120)
        for pid in ui.seen | {proc.pid}:  # whatever is still there after a failure: gone
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_make_airflow_serves_the_ui_from_a_fresh_shell(ui: AirflowUI) -> None:
    text = ui.output.read_text()
    assert f"Airflow UI: http://localhost:{ui.port}" in text
    assert "FileNotFoundError" not in text
    dags = {d["dag_id"]: d for d in ui.call("GET", "/dags?dag_id_pattern=qbo_intacct")["dags"]}
    assert all(d["description"] for d in dags.values()), "every DAG has a description in the list"


def test_review_items_answered_through_the_rest_api_are_applied_by_the_next_flow_run(ui: AirflowUI) -> None:
    first = ui.trigger("qbo_intacct_customers")
    ui.wait_for_run("qbo_intacct_customers", first)
    ledger = ui.ledger()
    held = ledger.review_items("customers", ReviewStatus.OPEN)
    assert len(held) >= 3, held

    # The customers run's logs: held customers named, no Great Expectations internals.
    validate_log = ui.task_log("qbo_intacct_customers", first, "validate")
    assert "great_expectations" not in validate_log
    assert "Calculating Metrics" not in validate_log
    assert "Loading 'datasources'" not in validate_log
    record_log = ui.task_log("qbo_intacct_customers", first, "record")
    for item in held:
        assert f'customer {item.record_id} "{item.context["record"]["name"]}"' in record_log

    review = ui.trigger("qbo_intacct_review")
    run_path = f"/dags/qbo_intacct_review/dagRuns/{quote(review, safe='')}"

    def forms() -> list[dict[str, Any]] | None:
        details = ui.call("GET", f"{run_path}/hitlDetails")["hitl_details"]
        return details if len(details) == len(held) else None

    details = _wait("one review form per held record", forms, RUN_SECONDS)
    by_item = {}
    for detail in details:
        map_index = detail["task_instance"]["map_index"]
        item = next(i for i in held if f"review item {i.id}," in detail["body"])
        by_item[item.id] = (map_index, detail)
        assert item.context["record"]["name"] in detail["subject"]  # named, not an id
        assert "Decide later" in detail["options"]
        assert detail["defaults"] == ["Decide later"]

    duplicates = [i for i in held if i.reason_code == "duplicate_in_source"]
    create, ignore = duplicates[0], duplicates[1]
    answers = {create.id: "Create new in Intacct", ignore.id: "Ignore: do not sync this customer"}
    for item in held:
        map_index, detail = by_item[item.id]
        choice = answers.get(item.id, "Decide later")
        assert choice in detail["options"]
        ui.call(
            "PATCH",
            f"{run_path}/taskInstances/review_decision/{map_index}/hitlDetails",
            json={
                "chosen_options": [choice],
                "params_input": {"note": "checked with sales" if item.id == create.id else None},
            },
        )
    ui.wait_for_run("qbo_intacct_review", review)

    decided = {i.id: i for i in ledger.review_items("customers")}
    assert decided[create.id].decision.value == "create"
    assert decided[create.id].resolution_note == "checked with sales"
    assert decided[ignore.id].status is ReviewStatus.IGNORED
    assert all(decided[i.id].status is ReviewStatus.OPEN for i in held if i.id not in answers)

    second = ui.trigger("qbo_intacct_customers")
    ui.wait_for_run("qbo_intacct_customers", second)
    applied = {i.id: i for i in ledger.review_items("customers")}
    assert applied[create.id].applied_run_id == second
    assert applied[ignore.id].applied_run_id == second
    linked = {link.source_id: link for link in ledger.links("customers")}
    assert create.record_id in linked
    assert linked[create.record_id].run_id == second
    assert ignore.record_id not in linked  # ignored: nothing created
    summary = json.loads((ui.demo_dir / "staging" / "summaries" / "qbo_intacct_customers" / "latest.json").read_text())
    assert summary["run_id"] == second
    for item in held:
        if item.id not in answers:
            assert item.context["record"]["name"] in summary["text"]  # still held, named in the summary


@dataclass
class Receiver:
    """The webhook receiver (``python -m qbo_intacct.webhooks``) started as its compose service runs it."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    token: str

    def status(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/status", timeout=10).json()


@pytest.fixture(scope="module")
def receiver(ui: AirflowUI) -> Iterator[Receiver]:
    log = ui.demo_dir / "webhooks.log"
    token = secrets.token_urlsafe(24)
    env = _fresh_env(ui.demo_dir) | {
        "PYTHONPATH": str(ROOT / "plugins"),
        "QBO_WEBHOOK_VERIFIER_TOKEN": token,
        "QBO_WEBHOOK_AIRFLOW_URL": f"http://127.0.0.1:{ui.port}",  # make airflow: all admins, no sign-in
        "QBO_WEBHOOK_COALESCE_SECONDS": str(COALESCE_SECONDS),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "python"), "-m", "qbo_intacct.webhooks", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        line = _wait(
            "the receiver to listen", lambda: re.search(r"listening on (http://\S+)", log.read_text()), 120, 0.2
        )
        yield Receiver(proc, line.group(1), log, token)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        if proc.poll() is None:
            proc.kill()


# One more flow run (one incremental customers run plus the receiver's 10 s window); run alone
# (`pytest -k webhooks`), the module's `make airflow` starts for it and a first sync links the customers.
def test_quickbooks_edits_reach_intacct_through_webhooks_in_one_run_and_forgeries_are_refused(
    ui: AirflowUI, receiver: Receiver
) -> None:
    """Webhook path end to end: QuickBooks sandbox -> signed webhooks -> receiver -> REST API -> one run.

    The customers DAG has no schedule here (QBO_INTACCT_CUSTOMERS_SCHEDULE=none), so only the
    webhook can start it. One burst of edits, each its own API call (several notifications), must
    start exactly one run, and that run must carry every edit to Intacct.
    """
    from include.sandbox.qbo.testing import QboClient
    from include.sandbox.qbo.webhooks import sign

    info = json.loads((ui.demo_dir / "sandbox" / "sandbox.json").read_text())
    qbo_admin = info["qbo"]["admin_url"]

    # A notification signed with another token: refused (401), logged, and no run.
    body = json.dumps([{"type": "qbo.customer.updated.v1", "intuitentityid": "1", "intuitaccountid": "1"}]).encode()
    forged = requests.post(
        f"{receiver.url}/webhooks/quickbooks",
        data=body,
        headers={"intuit-signature": sign(body, "not-the-verifier-token"), "content-type": "application/json"},
        timeout=10,
    )
    assert forged.status_code == 401
    assert receiver.status()["refused"] == 1
    assert (
        "refused a QuickBooks webhook from 127.0.0.1: the intuit-signature header is wrong" in receiver.log.read_text()
    )

    ui.call("PATCH", "/dags/qbo_intacct_customers", json={"is_paused": False})  # switched on, no schedule
    if not ui.ledger().links("customers"):  # run alone: a first sync links the customers (else done above)
        ui.wait_for_run("qbo_intacct_customers", ui.trigger("qbo_intacct_customers"))
    before = {r["dag_run_id"] for r in ui.call("GET", "/dags/qbo_intacct_customers/dagRuns")["dag_runs"]}
    requests.put(
        f"{qbo_admin}/qbo/webhooks",
        json={"url": f"{receiver.url}/webhooks/quickbooks", "verifier_token": receiver.token, "delay_seconds": 0.05},
        timeout=10,
    ).raise_for_status()

    linked = sorted(ui.ledger().links("customers"), key=lambda link: link.source_id.zfill(12))[:BURST]
    assert len(linked) == BURST
    client = QboClient(info["qbo"]).authorize()
    phones = {}

    def delivered() -> int:
        return len(requests.get(f"{qbo_admin}/qbo/webhooks", timeout=10).json()["deliveries"])

    for n, link in enumerate(linked):  # one API call per edit, as people and apps make them ...
        customer = client.get("Customer", link.source_id)
        phones[link.target_id] = f"+1 415 555 {1000 + n:04d}"
        client.ok(
            "POST",
            "customer",
            body={
                "Id": customer["Id"],
                "SyncToken": customer["SyncToken"],
                "sparse": True,
                "PrimaryPhone": {"FreeFormNumber": phones[link.target_id]},
            },
        )
        # ... and each its own notification (the sandbox would gather edits this fast into one)
        _wait("the sandbox's notification", lambda n=n: delivered() > n or None, 60, every=0.05)

    def webhook_runs() -> list[dict[str, Any]]:
        runs = ui.call("GET", "/dags/qbo_intacct_customers/dagRuns")["dag_runs"]
        return [r for r in runs if r["dag_run_id"] not in before]

    runs = _wait("the webhook run", lambda: webhook_runs() or None, RUN_SECONDS)
    ui.wait_for_run("qbo_intacct_customers", runs[0]["dag_run_id"])
    runs = webhook_runs()
    assert [r["dag_run_id"].split("__")[0] for r in runs] == ["webhook"], runs  # one run, started by the webhook
    assert runs[0]["run_type"] == "manual"  # through the REST API; no schedule fired
    assert f"{BURST} change(s)" in (runs[0].get("note") or "")

    deliveries = requests.get(f"{qbo_admin}/qbo/webhooks", timeout=10).json()["deliveries"]
    assert [d["status"] for d in deliveries] == [200] * BURST  # a burst of notifications ...
    status = receiver.status()
    assert status["notifications"] == BURST
    assert status["changes"] == BURST
    assert status["runs_started"] == {"qbo_intacct_customers": 1}  # ... started one run

    from conftest import environ

    from qbo_intacct.hooks.intacct import Filter, IntacctHook

    conns = airflow_connections(info)
    with environ({f"AIRFLOW_CONN_{k.upper()}": json.dumps(v) for k, v in conns.items()}):
        rows = list(
            IntacctHook().iter_query(
                "CUSTOMER",
                ["CUSTOMERID", "DISPLAYCONTACT.PHONE1"],
                Filter.one_of("CUSTOMERID", list(phones)),
                entity_id="",
                show_private=True,
            )
        )
    assert {r["CUSTOMERID"]: r["DISPLAYCONTACT.PHONE1"] for r in rows} == phones
    requests.delete(f"{qbo_admin}/qbo/webhooks", timeout=10).raise_for_status()


def test_sigterm_stops_make_airflow_and_everything_it_started(ui: AirflowUI) -> None:
    ui.remember_processes()
    info = json.loads((ui.demo_dir / "sandbox" / "sandbox.json").read_text())
    ports = [ui.port] + [int(info[s]["admin_url"].split(":")[2].split("/")[0]) for s in ("qbo", "intacct")]
    assert all(_port_in_use(p) for p in ports)
    assert len(ui.seen) >= 6  # python, sandboxes, scheduler, dag processor, triggerer, API server, ...

    ui.proc.send_signal(signal.SIGTERM)  # to make alone, as `kill <pid>` or a service manager does
    ui.proc.wait(timeout=180)

    # make passes SIGTERM on to its recipe, waits for it, then ends itself by the same signal.
    assert ui.proc.returncode in (0, -signal.SIGTERM), ui.output.read_text()[-2000:]
    assert "Airflow stopped." in ui.output.read_text()
    left = _wait("every process to exit", lambda: not [p for p in ui.seen if _alive(p)] or None, 60, every=1)
    assert left is True
    assert not [p for p in ports if _port_in_use(p)], "a port is still held"
