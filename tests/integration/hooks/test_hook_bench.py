"""Hook-level benchmark (``make bench``): requests per second through both hooks against the sandboxes.

What it measures is the hooks' own cost per request (limiter, token store, retries, XML/JSON), with
the sandboxes' limits raised so nothing waits on a throttle: wall time, and the CPU time of this
process alone (the client side; the sandbox is another process), which a loaded machine disturbs
far less. Numbers are printed, not asserted: a timed assertion on a shared 2-core machine only
measures the neighbours.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from qbo_intacct.hooks.intacct import IntacctHook
from qbo_intacct.hooks.quickbooks import QboBatchItem, QuickBooksHook

READS = 300
WRITES = 300


def _fresh_qbo(qbo_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    authorised = requests.post(f"{qbo_sandbox.admin}/qbo/authorize", json={}, timeout=10)
    authorised.raise_for_status()
    conn = json.loads(os.environ["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    conn["extra"]["refresh_token"] = authorised.json()["refresh_token"]
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", json.dumps(conn))
    state = {"conn_type": "sqlite", "host": str(tmp_path / "qbo_intacct_state.db")}
    monkeypatch.setenv("AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps(state))


@pytest.mark.slow
def test_quickbooks_hook_throughput(qbo_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh_qbo(qbo_sandbox, tmp_path, monkeypatch)
    before = qbo_sandbox.configure()["limits"]
    qbo_sandbox.configure(limits={"per_minute": 100_000, "batch_per_minute": 10_000})
    try:
        hook = QuickBooksHook(requests_per_minute=90_000, requests_per_second=100_000, batch_per_minute=9_000)
        hook.company_info()  # token refresh outside the measured part
        items = [
            QboBatchItem("create", "Customer", {"DisplayName": f"Bench {n}"}, record_key=f"c{n}") for n in range(WRITES)
        ]
        started = time.perf_counter()
        results = hook.batch(items, request_id_prefix="bench")
        writes = time.perf_counter() - started
        assert all(r.ok for r in results)
        ids = [r.object["Id"] for r in results if r.object]
        started, cpu = time.perf_counter(), time.process_time()
        for entity_id in ids[:READS]:
            hook.get("Customer", entity_id)
        reads, reads_cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        paged = sum(1 for _ in hook.iter_query("Customer", page_size=10))
        paging = time.perf_counter() - started
        assert paged == WRITES
        print(
            f"\nQBO hook: batch {WRITES} creates {writes:.2f} s; {READS} single reads {reads:.2f} s "
            f"({READS / reads:.0f}/s), client CPU {reads_cpu * 1000 / READS:.2f} ms/request; "
            f"{WRITES // 10} query pages {paging:.2f} s ({WRITES / 10 / paging:.0f}/s)"
        )
    finally:
        qbo_sandbox.configure(limits=before)


@pytest.mark.slow
def test_intacct_hook_throughput(intacct_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = {"conn_type": "sqlite", "host": str(tmp_path / "qbo_intacct_state.db")}
    monkeypatch.setenv("AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps(state))
    hook = IntacctHook()
    records = [{"CUSTOMERID": f"B{n:04d}", "NAME": f"Bench {n}"} for n in range(WRITES)]
    started = time.perf_counter()
    results = hook.create("CUSTOMER", records, keys=[f"bench:{n}" for n in range(WRITES)])
    writes = time.perf_counter() - started
    assert all(r.ok for r in results)
    started, cpu = time.perf_counter(), time.process_time()
    for n in range(0, READS, 3):
        hook.read_by_name("CUSTOMER", [f"B{n:04d}"], ["RECORDNO", "NAME"])
    reads, reads_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    paged = sum(1 for _ in hook.iter_query("CUSTOMER", ["RECORDNO", "CUSTOMERID", "NAME"], page_size=10))
    paging = time.perf_counter() - started
    assert paged == WRITES
    print(
        f"\nIntacct hook: {WRITES} creates {writes:.2f} s; {READS // 3} single reads {reads:.2f} s "
        f"({READS / 3 / reads:.0f}/s), client CPU {reads_cpu * 1000 / (READS / 3):.2f} ms/request; "
        f"{WRITES // 10} query pages {paging:.2f} s ({WRITES / 10 / paging:.0f}/s)"
    )


@pytest.mark.slow
def test_quickbooks_hook_at_its_default_limits(
    qbo_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the default budget (10 a second per realm) the limiter, not the hook, sets the pace: 50 reads
    should take about 5 s, whoever counts the starts."""
    _fresh_qbo(qbo_sandbox, tmp_path, monkeypatch)
    hook = QuickBooksHook()
    hook.company_info()
    reads = 50
    started = time.perf_counter()
    for _ in range(reads):
        hook.preferences()
    elapsed = time.perf_counter() - started
    print(f"\nQBO hook at default limits: {reads} reads {elapsed:.2f} s ({reads / elapsed:.1f}/s)")
