"""The reconciliation story's machinery, shared by its fast and its slow (SIGKILL) test modules.

:class:`Mailbox` is a real SMTP server (aiosmtpd) on 127.0.0.1 with a port the OS picks;
:func:`reconciliation_story` loads the demo group's books (seed 42, tiny scale) with the Intacct side
as a finished sync leaves it and the planted differences (``reconciliation_books``), opens the review
items the invoices flow would hold, and sets the environment the DAG's tasks read.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any

from conftest import ROOT, airflow_cli_env, environ, private_token_store
from flow_story import DEMO_WORKBOOK
from reconciliation_books import PERIOD, Plant, mirror_books

DAG_ID = "qbo_intacct_period_end_reconciliation"
RECIPIENTS = "controller@example.com, ap-lead@example.com"
CONF = {"period": f"{PERIOD[0]:%Y-%m}"}


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, port chosen by the OS; keeps every message.

    ``hold_connections`` makes it hold each new client before its greeting until released, and sets
    ``connected``: the kill test uses that moment (the send task is connecting; nothing is sent yet)."""

    def __init__(self) -> None:
        from aiosmtpd.smtp import SMTP

        self.messages: list[Message] = []
        self.hold_connections = False
        self.connected = threading.Event()
        self.release = threading.Event()
        self.loop = asyncio.new_event_loop()
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                mailbox.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
                return "250 Message accepted for delivery"

        class HoldingSMTP(SMTP):
            async def _handle_client(self) -> None:
                if mailbox.hold_connections:
                    mailbox.connected.set()
                    while not mailbox.release.is_set():
                        await asyncio.sleep(0.05)
                await super()._handle_client()

        handler = Handler()
        self.server = self.loop.run_until_complete(
            self.loop.create_server(lambda: HoldingSMTP(handler, hostname="finance-mail.test"), "127.0.0.1", 0)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def connection(self) -> dict[str, Any]:
        return {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": self.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "sync@example.com", "timeout": 30},
        }


class Story:
    def __init__(self, home: Path, sandboxes: dict[str, Any]) -> None:
        self.home = home
        self.books = home / "books"
        self.staging = home / "staging"
        self.state_db = home / "state.db"
        self.workbook = home / "mappings.xlsx"
        self.qbo = sandboxes["qbo"]
        self.intacct = sandboxes["intacct"]
        self.plants: list[Plant] = []
        self.mailbox = Mailbox()
        self.runs: dict[str, dict[str, Any]] = {}
        self.mail_count: dict[str, int] = {}
        self.env: dict[str, str] = {}


def seed(story: Story) -> None:
    subprocess.run(
        [sys.executable, "-m", "include.sandbox", "seed", "--seed", "42", "--scale", "tiny", "--out", str(story.books)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    story.plants = mirror_books(story.books)
    story.qbo.reset(story.books / "qbo.json")
    story.intacct.reset(story.books / "intacct.json")


def open_review_items(story: Story) -> None:
    """What the invoices flow leaves open for the documents it holds (the ledger's public API)."""
    from qbo_intacct.ledger.repository import Ledger, ReviewDraft

    manifest = json.loads((story.books / "manifest.json").read_text())
    ledger = Ledger.from_connection()
    reasons = {
        "unmapped_account_invoice": "An invoice line's income account has no Intacct account on the Accounts sheet.",
        "unused_currency_document": "Its currency (CHF) is not enabled on the Currencies sheet.",
        "closed_period_invoice": "The Intacct period of its date is closed.",
    }
    for p in manifest["planted"]:
        if p["tag"] in reasons:
            ledger.open_review_item(
                ReviewDraft(
                    "invoices",
                    "qbo",
                    f"Invoice:{p['id']}",
                    p["tag"],
                    reasons[p["tag"]],
                    context={
                        "noun": "invoice",
                        "record": {"system": "qbo", "id": p["id"], "name": f"invoice {p['doc_number']}", "fields": []},
                        "reason": reasons[p["tag"]],
                        "fix": "Fix the mapping workbook, then the invoices flow posts it.",
                    },
                )
            )


def run_in_process(story: Story, name: str, **conf: Any) -> dict[str, Any]:
    """Run the DAG with ``dag.test()``; keep its state, summary and how many mails arrived."""
    from airflow.dag_processing.dagbag import DagBag

    before = len(story.mailbox.messages)
    dag = DagBag(dag_folder=str(ROOT / "dags" / f"{DAG_ID}.py")).dags[DAG_ID]
    dagrun = dag.test(run_conf={**CONF, **conf})
    summary_path = story.staging / "summaries" / DAG_ID / "latest.json"
    result = {
        "state": str(dagrun.state),
        "summary": json.loads(summary_path.read_text()) if summary_path.exists() else {},
    }
    story.runs[name] = result
    story.mail_count[name] = len(story.mailbox.messages) - before
    return result


def killed_run(story: Story, env: dict[str, str]) -> dict[str, Any]:
    """``airflow dags test`` in its own process group, SIGKILLed when the send task reaches the server."""
    story.mailbox.hold_connections = True
    log = (story.home / "killed.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", DAG_ID, "-c", json.dumps(CONF)],
        env=airflow_cli_env(**env),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not story.mailbox.connected.wait(timeout=0.2) and proc.poll() is None and time.monotonic() < deadline:
            pass
        reached = story.mailbox.connected.is_set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        log.close()
        story.mailbox.hold_connections = False
        story.mailbox.release.set()
    workbooks = sorted((story.staging / "reconciliation").glob("*/*.xlsx"))
    result = {
        "reached_send": reached,
        "workbooks": workbooks,
        "mails": len(story.mailbox.messages),
        "log": (story.home / "killed.log").read_text(errors="replace"),
    }
    story.runs["killed"] = result
    return result


@contextmanager
def reconciliation_story(sandboxes: dict[str, Any], home: Path) -> Iterator[Story]:
    story = Story(home, sandboxes)
    shutil.copy(DEMO_WORKBOOK, story.workbook)
    env = {
        "AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT": f"file://{story.staging}",
        "AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK": str(story.workbook),
        "AIRFLOW_VAR_QBO_INTACCT_RECONCILIATION_RECIPIENTS": RECIPIENTS,
        "AIRFLOW_CONN_SMTP_FINANCE": json.dumps(story.mailbox.connection()),
        **private_token_store(sandboxes, story.state_db),
    }
    story.env = env
    try:
        with environ(env):
            seed(story)
            open_review_items(story)
            yield story
    finally:
        story.mailbox.close()
        from qbo_intacct.ledger.db import dispose_engines

        dispose_engines()


def attachment_of(mail: Message, folder: Path) -> Path:
    """The mail's one attachment, saved under ``folder``."""
    parts = [p for p in mail.walk() if p.get_filename()]
    assert len(parts) == 1
    path = folder / parts[0].get_filename()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(parts[0].get_payload(decode=True))
    return path
