"""QuickBooks sandbox batch (ordered items, per-item faults, 30-item cap) and change data capture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from include.sandbox.qbo.testing import QboClient


@pytest.fixture
def qbo(qbo_sandbox: Any) -> QboClient:
    return QboClient(qbo_sandbox.info).authorize()


def test_batch_answers_every_item_in_order_with_per_item_faults(qbo: QboClient) -> None:
    existing = qbo.customer("Taken Name")
    body = {
        "BatchItemRequest": [
            {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "Fresh Name"}},
            {"bId": "b2", "operation": "create", "Customer": {"DisplayName": "Taken Name"}},
            {"bId": "b3", "operation": "update", "Customer": {"Id": existing["Id"], "SyncToken": "7", "sparse": True}},
            {"bId": "b4", "Query": "SELECT COUNT(*) FROM Customer"},
            {
                "bId": "b5",
                "operation": "update",
                "Customer": {"Id": existing["Id"], "SyncToken": "0", "sparse": True, "Notes": "updated in batch"},
            },
        ]
    }
    answer = qbo.ok("POST", "batch", body=body)["BatchItemResponse"]
    assert [item["bId"] for item in answer] == ["b1", "b2", "b3", "b4", "b5"]
    assert answer[0]["Customer"]["DisplayName"] == "Fresh Name"
    assert answer[1]["Fault"]["Error"][0]["code"] == "6240"
    assert answer[2]["Fault"]["Error"][0]["code"] == "5010"
    assert answer[3]["QueryResponse"] == {"totalCount": 2}
    assert answer[4]["Customer"]["Notes"] == "updated in batch"


def test_batch_over_30_items_is_refused_whole(qbo: QboClient) -> None:
    items = [{"bId": f"b{n}", "operation": "create", "Customer": {"DisplayName": f"C{n}"}} for n in range(31)]
    r = qbo.call("POST", "batch", body={"BatchItemRequest": items})
    assert r.status_code == 400
    assert qbo.fault(r)["code"] == "6000"
    assert qbo.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 0}


def test_batch_with_requestid_is_replayed_not_rerun(qbo: QboClient) -> None:
    body = {"BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "Batch Once"}}]}
    first = qbo.call("POST", "batch", body=body, params={"requestid": "batch-req-1"})
    again = qbo.call("POST", "batch", body=body, params={"requestid": "batch-req-1"})
    assert again.content == first.content
    assert qbo.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 1}


def cdc(qbo: QboClient, entities: str, since: datetime) -> list[dict[str, Any]]:
    answer = qbo.ok("GET", "cdc", params={"entities": entities, "changedSince": since.isoformat()})
    return answer["CDCResponse"][0]["QueryResponse"]


def test_cdc_returns_changed_objects_and_deleted_ones_with_status_deleted(qbo: QboClient) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    customer = qbo.customer("Mark Cho")
    kept = qbo.invoice(customer["Id"], "10.00")
    gone = qbo.invoice(customer["Id"], "20.00")
    qbo.ok("POST", "invoice", params={"operation": "delete"}, body={"Id": gone["Id"], "SyncToken": gone["SyncToken"]})
    invoices, customers = cdc(qbo, "Invoice,Customer", since)
    by_id = {row["Id"]: row for row in invoices["Invoice"]}
    assert by_id[kept["Id"]]["TotalAmt"] == Decimal("10.00")
    assert by_id[gone["Id"]]["status"] == "Deleted"
    assert [row["DisplayName"] for row in customers["Customer"]] == ["Mark Cho"]


def test_cdc_leaves_out_objects_changed_before_changed_since(qbo: QboClient, qbo_sandbox: Any) -> None:
    old = qbo.customer("Old News")
    qbo_sandbox.advance_clock(5)
    since = datetime.fromisoformat(old["MetaData"]["LastUpdatedTime"]) + timedelta(seconds=3)
    qbo.customer("Fresh News")
    (customers,) = cdc(qbo, "Customer", since)
    assert [row["DisplayName"] for row in customers["Customer"]] == ["Fresh News"]


def test_cdc_looks_back_at_most_30_days(qbo: QboClient) -> None:
    r = qbo.call(
        "GET",
        "cdc",
        params={"entities": "Customer", "changedSince": (datetime.now(UTC) - timedelta(days=31)).isoformat()},
    )
    assert (r.status_code, qbo.fault(r)["element"]) == (400, "changedSince")


def test_cdc_caps_each_entity_at_the_configured_maximum_oldest_first(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.configure(cdc_max_objects=2)
    since = datetime.now(UTC) - timedelta(minutes=1)
    for name in ("First", "Second", "Third"):
        qbo.customer(name)
    (customers,) = cdc(qbo, "Customer", since)
    assert [row["DisplayName"] for row in customers["Customer"]] == ["First", "Second"]
