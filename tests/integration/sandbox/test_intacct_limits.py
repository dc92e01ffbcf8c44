"""Intacct sandbox: concurrency limit (HTTP 429 GW-0010), injected faults, request log and billing counters."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from include.sandbox.intacct.testing import GatewayClient, function


@pytest.fixture
def client(intacct_sandbox: Any) -> GatewayClient:
    return GatewayClient(intacct_sandbox.info)


def _read_class(client: GatewayClient) -> requests.Response:
    return client.post_raw(client.envelope([function("read", {"object": "CLASS", "keys": "1"})]))


def _gateway_errorno(response: requests.Response) -> str:
    return GatewayClient.parse(None, response)["errormessage"]["error"][0]["errorno"]  # type: ignore[arg-type]


def test_third_concurrent_request_gets_http_429_gw_0010(client: GatewayClient, intacct_sandbox: Any) -> None:
    intacct_sandbox.faults({"kind": "latency", "endpoint": "xmlgw", "latency_ms": 3000, "count": 2})
    slow = [threading.Thread(target=_read_class, args=(client,)) for _ in range(2)]
    for t in slow:
        t.start()
    deadline = time.monotonic() + 5
    while requests.get(f"{intacct_sandbox.admin}/intacct/inflight", timeout=5).json()["in_flight"] < 2:
        assert time.monotonic() < deadline, "the two slow requests never overlapped"
        time.sleep(0.01)
    third = _read_class(client)
    for t in slow:
        t.join()
    assert third.status_code == 429
    assert _gateway_errorno(third) == "GW-0010"


@pytest.mark.parametrize(
    ("kind", "status", "errorno"), [("429", 429, "GW-0010"), ("500", 500, "GW-0500"), ("503", 503, "GW-0503")]
)
def test_status_faults_answer_with_the_gateway_error_shape(
    client: GatewayClient, intacct_sandbox: Any, kind: str, status: int, errorno: str
) -> None:
    intacct_sandbox.faults({"kind": kind, "endpoint": "xmlgw", "operation": "read", "count": 1})
    faulted = _read_class(client)
    assert (faulted.status_code, _gateway_errorno(faulted)) == (status, errorno)
    assert _read_class(client).status_code == 200


def test_latency_fault_delays_the_answer(client: GatewayClient, intacct_sandbox: Any) -> None:
    intacct_sandbox.faults({"kind": "latency", "endpoint": "xmlgw", "latency_ms": 300, "count": 1})
    started = time.monotonic()
    assert _read_class(client).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_reset_fault_drops_the_connection(client: GatewayClient, intacct_sandbox: Any) -> None:
    intacct_sandbox.faults({"kind": "reset", "endpoint": "xmlgw", "count": 1})
    with pytest.raises(requests.ConnectionError):
        _read_class(client)


def test_lost_response_commits_the_write_and_a_uniqueid_retry_does_not_duplicate(
    client: GatewayClient, intacct_sandbox: Any
) -> None:
    intacct_sandbox.faults({"kind": "lost_response", "endpoint": "xmlgw", "operation": "create", "count": 1})
    create = [function("create", {"CUSTOMER": {"CUSTOMERID": "C-LOST", "NAME": "Lost"}}, controlid="customers:qbo:9")]
    with pytest.raises(requests.ConnectionError):
        client.post_raw(client.envelope(create, uniqueid=True))
    retried = client.results(create, uniqueid=True)[0]
    assert retried["status"] == "success"
    assert retried["data"]["customer"]["CUSTOMERID"] == "C-LOST"
    count = client.one("query", {"object": "CUSTOMER", "select": {"field": "RECORDNO"}})["data"]["@totalcount"]
    assert count == "1"


def test_api_transactions_count_records_written_and_query_calls(client: GatewayClient, intacct_sandbox: Any) -> None:
    session_id = client.session()
    intacct_sandbox.reset_counters()
    client.results(
        [
            function("create", {"CLASS": [{"CLASSID": "A1", "NAME": "a"}, {"CLASSID": "A2", "NAME": "b"}]}),
            function("update", {"CLASS": {"CLASSID": "A1", "NAME": "a2"}}),
            function("create", {"CLASS": {"CLASSID": "A1", "NAME": "dup"}}),  # failed: not billed
            function("query", {"object": "CLASS", "select": {"field": "CLASSID"}}),
            function("readByQuery", {"object": "CLASS", "fields": "*", "query": None}),
            function("delete", {"object": "CLASS", "keys": "1"}),
        ],
        session_id=session_id,
    )
    client.session()  # getAPISession is not billed
    counters = intacct_sandbox.counters()
    assert counters["api_transactions"] == 6
    assert counters["records_written"] == 4


def test_request_log_and_counters_name_endpoint_operation_and_status(
    client: GatewayClient, intacct_sandbox: Any
) -> None:
    client.one("create", {"CLASS": {"CLASSID": "L1", "NAME": "log"}})
    rows = intacct_sandbox.log()
    assert [(r["endpoint"], r["operation"], r["status"]) for r in rows] == [("xmlgw", "create", 200)]
    assert rows[0]["tenant"] == intacct_sandbox.info["company_id"]
    assert intacct_sandbox.counters()["requests"] == {"xmlgw create 200": 1}
    assert intacct_sandbox.counters()["write_requests"] == 1
