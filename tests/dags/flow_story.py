"""One flow's story told with ``dag.test()``: the harness every flow's DAG story test shares.

A story loads the demo books once, copies finance's workbook, gives the flow a staging root and a
ledger and token store of its own, then runs the DAG in-process as often as the tests need, keeping
each named run's result: state, summary, records written and write requests per system (sandbox
counters and request log) and every log line the tasks wrote.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import ROOT, Sandbox, environ, load_demo_books, private_token_store

DEMO_WORKBOOK = ROOT / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
_READS = {"query", "read", "readByQuery", "readByName", "getAPISession", "token", "refresh", "readMore",
          "get_trialbalance", "get_accountbalances"}  # fmt: skip


@dataclass
class RunResult:
    state: str
    summary: dict[str, Any]
    writes: dict[str, int]
    log: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # the write requests, per system
    counters: dict[str, dict[str, Any]] = field(default_factory=dict)  # each sandbox's counters after the run

    @property
    def write_requests(self) -> dict[str, int]:
        return {system: len(rows) for system, rows in self.log.items()}


class _Collect(logging.Handler):
    """Every log line any task writes during the story (the task logs, as Airflow would keep them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # a log line that cannot format is not this test's concern
            self.lines.append(str(record.msg))


def records_written(sandbox: Sandbox) -> int:
    counters = sandbox.counters()
    return int(counters.get("writes") or counters.get("records_written") or 0)


def _write_rows(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [row for row in sandbox.log() if row.get("operation") not in _READS and row.get("method") == "POST"]


class FlowStory:
    """Runs one flow's DAG in-process and keeps each named run's result for the tests."""

    def __init__(self, dag_id: str, home: Path, sandboxes: dict[str, Sandbox]) -> None:
        self.dag_id = dag_id
        self.home = home
        self.books = home / "books"
        self.qbo = sandboxes["qbo"]
        self.intacct = sandboxes["intacct"]
        self.workbook = home / "mappings.xlsx"
        self.staging = home / "staging"
        self.state_db = home / "state.db"
        self.runs: dict[str, RunResult] = {}
        self.logs = _Collect()

    def run(self, name: str, *, mark_success_pattern: str | None = None, **conf: Any) -> RunResult:
        """Run the DAG once; ``mark_success_pattern`` marks matching tasks done without running them
        (a run killed after its load: what the load posted is in the target, nothing was recorded)."""
        from airflow.dag_processing.dagbag import DagBag

        for sandbox in (self.qbo, self.intacct):
            sandbox.reset_counters()
        dag = DagBag(dag_folder=str(ROOT / "dags" / f"{self.dag_id}.py")).dags[self.dag_id]
        root = logging.getLogger()
        root.addHandler(self.logs)
        try:
            dagrun = dag.test(run_conf=conf or None, mark_success_pattern=mark_success_pattern)
        finally:
            root.removeHandler(self.logs)
        summary_path = self.staging / "summaries" / self.dag_id / "latest.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        result = RunResult(
            state=str(dagrun.state),
            summary=summary.get("summary", {}),
            writes={"qbo": records_written(self.qbo), "intacct": records_written(self.intacct)},
            log={"qbo": _write_rows(self.qbo), "intacct": _write_rows(self.intacct)},
            counters={"qbo": self.qbo.counters(), "intacct": self.intacct.counters()},
        )
        self.runs[name] = result
        return result


@contextmanager
def flow_story(dag_id: str, sandboxes: dict[str, Sandbox], home: Path) -> Iterator[FlowStory]:
    """The demo books in both sandboxes, a copy of finance's workbook, and the environment the
    flow's tasks read (staging root, workbook, a private ledger and token store), for one story."""
    load_demo_books(sandboxes, home / "books")
    story = FlowStory(dag_id, home, sandboxes)
    shutil.copy(DEMO_WORKBOOK, story.workbook)
    env = {
        "AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT": f"file://{story.staging}",
        "AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK": str(story.workbook),
        **private_token_store(sandboxes, story.state_db),
    }
    with environ(env):
        try:
            yield story
        finally:
            from qbo_intacct.ledger.db import dispose_engines

            dispose_engines()


def ledger() -> Any:
    """The story's ledger (the connection ``flow_story`` set up)."""
    from qbo_intacct.ledger.repository import Ledger

    return Ledger.from_connection()


def qbo_hook() -> Any:
    """A QuickBooks hook on the story's sandbox, for reading what the flow wrote."""
    from qbo_intacct.hooks.quickbooks import QuickBooksHook

    return QuickBooksHook()


def intacct_hook() -> Any:
    """An Intacct hook on the story's sandbox, for reading what the flow wrote."""
    from qbo_intacct.hooks.intacct import IntacctHook

    return IntacctHook()
