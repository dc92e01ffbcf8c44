"""The sandboxes' fault kinds the reliability suite needs (include/sandbox/common.py), seen through the hooks.

Each kind fails the way the real service or network does, and each test shows both the failure (in
the sandbox's request log or the answer) and what the hook does with it: an expired access token or
Intacct session mid-run is renewed and the call goes on; a partial batch applies some items and
refuses the others, each refused item answered on its own; an injected 429 may carry a Retry-After.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from qbo_intacct.hooks._transport import RetryPolicy, reset_limiters
from qbo_intacct.hooks.intacct import IntacctHook
from qbo_intacct.hooks.quickbooks import QboBatchItem, QuickBooksHook

QBO_FAST = {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05, "throttle_wait_seconds": 30.0}
INTACCT_FAST: dict[str, Any] = {
    "retry_policy": RetryPolicy(max_attempts=6, base=0.01, cap=0.05, max_total=5.0),
    "throttle_floor_seconds": 0.01,
    "write_resend_delay_seconds": 0.01,
}


@pytest.fixture
def own_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandboxes: Any) -> None:
    """A token store / session store of this test's own, and a QuickBooks refresh token of its own."""
    reset_limiters()
    monkeypatch.setenv(
        "AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "state.db")})
    )
    qbo = sandboxes["qbo"]
    token = requests.post(f"{qbo.admin}/qbo/authorize", json={}, timeout=10).json()["refresh_token"]
    conn = json.loads(os.environ["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    conn["extra"]["refresh_token"] = token
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", json.dumps(conn))


def _statuses(sandbox: Any, endpoint: str, operation: str) -> list[Any]:
    return [r["status"] for r in sandbox.log() if r["endpoint"] == endpoint and r["operation"] == operation]


def test_qbo_token_expiring_mid_run_is_refreshed_and_the_call_goes_on(qbo_sandbox: Any, own_state: None) -> None:
    hook = QuickBooksHook(**QBO_FAST)
    assert hook.count("Customer") == 0  # signs in: one access token
    qbo_sandbox.faults({"kind": "expire_session", "endpoint": "query", "count": 1})
    assert hook.count("Customer") == 0
    assert _statuses(qbo_sandbox, "query", "query")[-2:] == [401, 200]
    assert _statuses(qbo_sandbox, "token", "refresh").count(200) == 2


def test_qbo_partial_batch_applies_some_items_and_refuses_the_others(qbo_sandbox: Any, own_state: None) -> None:
    hook = QuickBooksHook(**QBO_FAST)
    qbo_sandbox.faults({"kind": "partial", "endpoint": "batch", "count": 1})
    items = [QboBatchItem("create", "Customer", {"DisplayName": f"Partial {n}"}, f"qbo:{n}") for n in range(3)]
    results = hook.batch(items, request_id_prefix="partial-test")
    assert [r.fault is None for r in results] == [True, False, True]
    refused = results[1].fault
    assert refused is not None
    assert refused.code == "10000"
    assert refused.record_key == "qbo:1"
    names = sorted(c["DisplayName"] for c in hook.iter_query("Customer"))
    assert names == ["Partial 0", "Partial 2"]


def test_qbo_injected_429_can_say_retry_after(qbo_sandbox: Any, own_state: None) -> None:
    hook = QuickBooksHook(**QBO_FAST)  # would wait 30 s without the header: the test's speed shows it was read
    qbo_sandbox.faults({"kind": "429", "endpoint": "query", "count": 1, "retry_after": 1})
    assert hook.count("Customer") == 0
    assert _statuses(qbo_sandbox, "query", "query")[-2:] == [429, 200]
    assert hook.throttled_responses == 1


def test_intacct_session_expiring_mid_run_is_renewed_and_the_call_goes_on(
    intacct_sandbox: Any, own_state: None
) -> None:
    hook = IntacctHook(**INTACCT_FAST)
    assert list(hook.iter_query("CUSTOMER", ["CUSTOMERID"], entity_id="")) == []
    intacct_sandbox.faults({"kind": "expire_session", "endpoint": "xmlgw", "operation": "query", "count": 1})
    assert list(hook.iter_query("CUSTOMER", ["CUSTOMERID"], entity_id="")) == []
    assert _statuses(intacct_sandbox, "xmlgw", "getAPISession").count(200) == 2  # signed in again


def test_intacct_partial_request_applies_some_functions_and_refuses_the_others(
    intacct_sandbox: Any, own_state: None
) -> None:
    hook = IntacctHook(**INTACCT_FAST)
    intacct_sandbox.faults({"kind": "partial", "endpoint": "xmlgw", "operation": "create", "count": 1})
    records = [{"CUSTOMERID": f"P-{n}", "NAME": f"Partial {n}"} for n in range(3)]
    results = hook.create("CUSTOMER", records, keys=[f"partial:{n}" for n in range(3)], entity_id="")
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].errors
    assert results[1].errors[0].errorno == "BL01001973"
    ids = sorted(r["CUSTOMERID"] for r in hook.iter_query("CUSTOMER", ["CUSTOMERID"], entity_id=""))
    assert ids == ["P-0", "P-2"]
    again = hook.create("CUSTOMER", records, keys=[f"partial:{n}" for n in range(3)], entity_id="")
    assert all(r.ok for r in again)  # the refused one is written on the retry, the others replayed
    assert intacct_sandbox.counters()["records_written"] == 3
