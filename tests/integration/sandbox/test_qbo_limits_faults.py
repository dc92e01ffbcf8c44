"""QuickBooks sandbox limits (429 ThrottleExceeded), injectable faults, and the admin counters and log."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from include.sandbox.qbo.testing import QboClient


@pytest.fixture
def qbo(qbo_sandbox: Any) -> QboClient:
    return QboClient(qbo_sandbox.info).authorize()


def assert_throttled(qbo: QboClient, response: requests.Response) -> None:
    assert response.status_code == 429
    error = response.json()["fault"]["error"][0]
    assert error["code"] == "3001"
    assert error["message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"


def test_requests_over_the_concurrency_limit_get_429(qbo: QboClient, qbo_sandbox: Any) -> None:
    customer = qbo.customer("Slow Reader")
    qbo_sandbox.configure(limits={"concurrent": 1})
    qbo_sandbox.faults({"kind": "latency", "endpoint": "customer", "operation": "read", "latency_ms": 500, "count": 1})
    slow_responses: list[requests.Response] = []
    slow_client = QboClient(qbo.info, access_token=qbo.access_token)
    slow = threading.Thread(target=lambda: slow_responses.append(slow_client.call("GET", f"customer/{customer['Id']}")))
    slow.start()
    fast_responses: list[requests.Response] = []
    while slow.is_alive():
        fast_responses.append(qbo.call("GET", "preferences"))
    slow.join()
    # Whichever request arrived second while the other held the only slot was refused: usually the
    # fast loop's, but the loop's request can win the race to the slot and the slow read is refused.
    throttled = [r for r in fast_responses + slow_responses if r.status_code == 429]
    assert throttled, [r.status_code for r in fast_responses + slow_responses]
    assert_throttled(qbo, throttled[0])


def test_requests_over_the_per_minute_limit_get_429(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.configure(limits={"per_minute": 3})
    statuses = [qbo.call("GET", "preferences").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_batches_over_the_batch_per_minute_limit_get_429(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.configure(limits={"batch_per_minute": 1})
    body = {"BatchItemRequest": [{"bId": "1", "Query": "SELECT COUNT(*) FROM Customer"}]}
    assert qbo.call("POST", "batch", body=body).status_code == 200
    assert_throttled(qbo, qbo.call("POST", "batch", body=body))
    assert qbo.call("GET", "preferences").status_code == 200


def test_limits_are_on_by_default(qbo_sandbox: Any) -> None:
    limits = qbo_sandbox.configure()["limits"]
    assert limits == {"concurrent": 10, "per_minute": 500, "batch_per_minute": 40}


def test_injected_429_uses_the_throttle_body(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.faults({"kind": "429", "endpoint": "query", "count": 1})
    assert_throttled(qbo, qbo.call("GET", "query", params={"query": "SELECT * FROM Customer"}))
    assert qbo.call("GET", "query", params={"query": "SELECT * FROM Customer"}).status_code == 200


def test_injected_500_is_a_system_fault_and_nothing_is_written(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.faults({"kind": "500", "endpoint": "customer", "operation": "create", "count": 1})
    r = qbo.call("POST", "customer", body={"DisplayName": "Not Saved"})
    assert r.status_code == 500
    assert r.json()["Fault"]["type"] == "SystemFault"
    assert qbo.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 0}


def test_injected_503_is_an_html_gateway_page(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.faults({"kind": "503", "endpoint": "customer", "count": 1})
    r = qbo.call("POST", "customer", body={"DisplayName": "Not Saved"})
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("text/html")


def test_injected_latency_delays_the_answer(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.faults({"kind": "latency", "endpoint": "preferences", "latency_ms": 300, "count": 1})
    started = time.perf_counter()
    assert qbo.call("GET", "preferences").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_injected_reset_drops_the_connection_without_writing(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.faults({"kind": "reset", "endpoint": "customer", "operation": "create", "count": 1})
    with pytest.raises(requests.ConnectionError):
        qbo.call("POST", "customer", body={"DisplayName": "Not Saved"})
    assert qbo.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 0}


def test_lost_response_commits_and_a_retry_with_the_same_requestid_gets_the_original(
    qbo: QboClient, qbo_sandbox: Any
) -> None:
    qbo_sandbox.faults({"kind": "lost_response", "endpoint": "customer", "operation": "create", "count": 1})
    with pytest.raises(requests.ConnectionError):
        qbo.call("POST", "customer", body={"DisplayName": "Saved Once"}, params={"requestid": "lost-1"})
    retry = qbo.call("POST", "customer", body={"DisplayName": "Saved Once"}, params={"requestid": "lost-1"})
    assert retry.status_code == 200
    assert qbo.json(retry)["Customer"]["DisplayName"] == "Saved Once"
    assert qbo.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 1}
    assert qbo_sandbox.counters()["replayed"] == 1


def test_fault_schedule_skips_then_fires_a_counted_number_of_times(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.faults({"kind": "500", "endpoint": "preferences", "skip": 2, "count": 1})
    statuses = [qbo.call("GET", "preferences").status_code for _ in range(4)]
    assert statuses == [200, 200, 500, 200]


def test_counters_count_by_endpoint_operation_and_status(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.reset_counters()
    customer = qbo.customer("Counted")
    qbo.get("Customer", customer["Id"])
    qbo.call("GET", "customer/999")
    counters = qbo_sandbox.counters()
    assert counters["requests"] == {"customer create 200": 1, "customer read 200": 1, "customer read 400": 1}
    assert counters["writes"] == 1


def test_request_log_rows_carry_the_requestid(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.reset_counters()
    qbo.call("POST", "customer", body={"DisplayName": "Logged"}, params={"requestid": "log-1"})
    (row,) = qbo_sandbox.log()
    assert (row["endpoint"], row["operation"], row["status"], row["request_id"]) == ("customer", "create", 200, "log-1")
    assert row["tenant"] == qbo.realm_id


def test_fault_rate_fails_some_requests_and_lets_others_through(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.faults({"kind": "503", "endpoint": "preferences", "rate": 0.5})
    statuses = [qbo.call("GET", "preferences").status_code for _ in range(40)]
    assert set(statuses) == {200, 503}
