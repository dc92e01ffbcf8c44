"""The QuickBooks sandbox as docker-compose's ``sandbox`` profile runs it: fixed demo credentials from
the environment, and signed webhooks to the configured URL (CloudEvents, or the legacy format)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import ROOT

from include.sandbox.qbo.testing import QboClient
from qbo_intacct.webhooks.intuit import EntityChange, parse_notifications, signature_ok

TOKEN = "demo-verifier-token"
CREDENTIALS = {
    "qbo": {"client_id": "demo-client-id", "client_secret": "demo-client-secret"},
    "intacct": {"sender_id": "demo_sender", "sender_password": "demo-sender-pw", "user_password": "demo-user-pw"},
}


class _Inbox(HTTPServer):
    """Where the sandbox delivers: records each POST's body and signature header."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Deliver)
        self.received: list[tuple[bytes, str | None]] = []
        self.arrived = threading.Condition()


class _Deliver(BaseHTTPRequestHandler):
    server: _Inbox

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        with self.server.arrived:
            self.server.received.append((body, self.headers.get("intuit-signature")))
            self.server.arrived.notify_all()
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def inbox() -> Iterator[_Inbox]:
    server = _Inbox()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def served(inbox: _Inbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("container_sandbox")
    env = os.environ | {
        "QBO_INTACCT_SANDBOX_CREDENTIALS": json.dumps(CREDENTIALS),
        "QBO_SANDBOX_WEBHOOK_URL": f"http://127.0.0.1:{inbox.server_address[1]}/webhooks/quickbooks",
        "QBO_SANDBOX_WEBHOOK_VERIFIER_TOKEN": TOKEN,
    }
    cmd = [sys.executable, "-m", "include.sandbox", "serve", "--system", "both", "--state-dir", str(state)]
    proc = subprocess.Popen([*cmd, "--container"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert "sandboxes ready" in line, line
        yield json.loads((state / "sandbox.json").read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_for(inbox: _Inbox, count: int) -> list[tuple[bytes, str | None]]:
    with inbox.arrived:
        assert inbox.arrived.wait_for(lambda: len(inbox.received) >= count, timeout=30), inbox.received
        return list(inbox.received)


def test_demo_credentials_come_from_the_environment(served: dict[str, Any]) -> None:
    assert (served["qbo"]["client_id"], served["qbo"]["client_secret"]) == ("demo-client-id", "demo-client-secret")
    assert served["intacct"]["sender_password"] == "demo-sender-pw"
    assert served["intacct"]["user_password"] == "demo-user-pw"


def test_serving_beyond_loopback_needs_container(tmp_path: Path) -> None:
    refused = subprocess.run(
        # refused before anything is bound
        [sys.executable, "-m", "include.sandbox", "serve", "--host", "0.0.0.0", "--state-dir", str(tmp_path)],  # noqa: S104
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "loopback only" in refused.stderr


def test_writes_are_notified_signed_in_both_formats(served: dict[str, Any], inbox: _Inbox) -> None:
    client = QboClient(served["qbo"]).authorize()
    realm_id = client.realm_id
    created = client.customer("Webhook Test Customer")
    body, signature = _wait_for(inbox, 1)[-1]
    assert signature_ok(body, signature, TOKEN)
    assert not signature_ok(body, signature, "another token")
    assert isinstance(json.loads(body), list)  # CloudEvents: the format Intuit requires since 2026
    assert EntityChange(realm_id, "customer", created["Id"], "created") in parse_notifications(body)

    admin = served["qbo"]["admin_url"]
    requests.put(
        f"{admin}/qbo/webhooks",
        json={"url": f"http://127.0.0.1:{inbox.server_address[1]}/x", "verifier_token": TOKEN, "format": "legacy"},
        timeout=10,
    ).raise_for_status()
    client.ok(
        "POST",
        "customer",
        body={"Id": created["Id"], "SyncToken": created["SyncToken"], "sparse": True, "Notes": "edited"},
    )
    body, signature = _wait_for(inbox, 2)[-1]
    assert signature_ok(body, signature, TOKEN)
    assert "eventNotifications" in json.loads(body)
    assert parse_notifications(body) == [EntityChange(realm_id, "customer", created["Id"], "updated")]
    report = requests.get(f"{admin}/qbo/webhooks", timeout=10).json()
    assert TOKEN not in json.dumps(report)  # the verifier token is never shown
    assert [d["status"] for d in report["deliveries"]] == [200]
