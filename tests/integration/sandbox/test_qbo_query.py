# ruff: noqa: S608 - QuickBooks query strings built on purpose; there is no SQL database here
"""QuickBooks sandbox query language: operators, nested fields, ordering, paging, escapes, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from include.sandbox.qbo.state import DEFAULT_REALM_ID, default_state
from include.sandbox.qbo.testing import QboClient


@pytest.fixture
def qbo(qbo_sandbox: Any) -> QboClient:
    client = QboClient(qbo_sandbox.info).authorize()
    for name in ("Amy's Bird Sanctuary", "Bill's Windsurf Shop", "Cool Cars", "Diego Rodriguez"):
        client.customer(name)
    return client


def names(response: dict[str, Any], entity: str = "Customer") -> list[str]:
    return [row.get("DisplayName") or row.get("Name") for row in response.get(entity, [])]


def test_backslash_escaped_quote_matches_the_apostrophe(qbo: QboClient) -> None:
    found = qbo.query(r"SELECT * FROM Customer WHERE DisplayName = 'Amy\'s Bird Sanctuary'")
    assert names(found) == ["Amy's Bird Sanctuary"]


def test_count_star_returns_total_count(qbo: QboClient) -> None:
    assert qbo.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 4}


def test_like_with_percent_wildcard(qbo: QboClient) -> None:
    assert names(qbo.query("select * from Customer where DisplayName LIKE '%windsurf%'")) == ["Bill's Windsurf Shop"]


def test_in_list_and_and_conditions(qbo: QboClient) -> None:
    found = qbo.query(
        "SELECT * FROM Customer WHERE DisplayName IN ('Cool Cars', 'Diego Rodriguez', 'Nobody') AND Active = true"
    )
    assert sorted(names(found)) == ["Cool Cars", "Diego Rodriguez"]


def test_reference_field_compares_on_its_value(qbo: QboClient) -> None:
    customers = qbo.query("SELECT * FROM Customer ORDERBY DisplayName")["Customer"]
    qbo.invoice(customers[0]["Id"], "10.00")
    qbo.invoice(customers[1]["Id"], "20.00")
    found = qbo.query(f"SELECT * FROM Invoice WHERE CustomerRef = '{customers[1]['Id']}'")
    assert [row["TotalAmt"] for row in found["Invoice"]] == [Decimal("20.00")]


def test_money_comparison_is_numeric(qbo: QboClient) -> None:
    customer = qbo.query("SELECT * FROM Customer MAXRESULTS 1")["Customer"][0]
    for amount in ("9.99", "100.00", "1000.01"):
        qbo.invoice(customer["Id"], amount)
    found = qbo.query("SELECT * FROM Invoice WHERE TotalAmt >= '100' AND TotalAmt < '1000.01'")
    assert [row["TotalAmt"] for row in found["Invoice"]] == [Decimal("100.00")]


def test_metadata_time_filter_accepts_both_spellings_and_order_by_desc(qbo: QboClient) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    documented = qbo.query(
        f"SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '{since}' ORDERBY DisplayName DESC"
    )
    airbyte = qbo.query(f"SELECT * FROM Customer WHERE Metadata.LastUpdatedTime > '{since}' ORDER BY DisplayName DESC")
    assert (
        names(documented)
        == names(airbyte)
        == [
            "Diego Rodriguez",
            "Cool Cars",
            "Bill's Windsurf Shop",
            "Amy's Bird Sanctuary",
        ]
    )
    future = (datetime.now(UTC) + timedelta(days=3650)).isoformat(timespec="seconds")
    assert qbo.query(f"SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '{future}'") == {}


def test_startposition_is_one_based_and_maxresults_limits_the_page(qbo: QboClient) -> None:
    page = qbo.query("SELECT * FROM Customer ORDERBY DisplayName STARTPOSITION 2 MAXRESULTS 2")
    assert names(page) == ["Bill's Windsurf Shop", "Cool Cars"]
    assert (page["startPosition"], page["maxResults"]) == (2, 2)


def test_empty_result_has_no_entity_key(qbo: QboClient) -> None:
    assert qbo.query("SELECT * FROM Customer WHERE DisplayName = 'Nobody'") == {}


def test_name_lists_return_only_active_rows_unless_asked(qbo: QboClient) -> None:
    cool = qbo.query("SELECT * FROM Customer WHERE DisplayName = 'Cool Cars'")["Customer"][0]
    qbo.ok("POST", "customer", body={"Id": cool["Id"], "SyncToken": cool["SyncToken"], "sparse": True, "Active": False})
    assert "Cool Cars" not in names(qbo.query("SELECT * FROM Customer"))
    assert "Cool Cars" in names(qbo.query("SELECT * FROM Customer WHERE Active IN (true, false)"))
    assert names(qbo.query("SELECT * FROM Customer WHERE Active = false")) == ["Cool Cars"]


def test_post_form_with_application_text_body(qbo: QboClient) -> None:
    found = qbo.ok("POST", "query", text="SELECT * FROM Customer WHERE DisplayName LIKE 'Cool%'")
    assert names(found["QueryResponse"]) == ["Cool Cars"]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM Customer WHERE",
        "SELECT * FROM Customer WHERE DisplayName = 'A' OR DisplayName = 'B'",
        "SELECT * FROM Customer WHERE DisplayName = 'unterminated",
        "DELETE FROM Customer",
        "SELECT * FROM Customer GROUP BY DisplayName",
        "SELECT * FROM Customer MAXRESULTS many",
        "",
    ],
)
def test_malformed_query_is_a_fault_not_a_server_error(qbo: QboClient, statement: str) -> None:
    r = qbo.call("GET", "query", params={"query": statement})
    assert r.status_code == 400
    assert qbo.fault(r)["code"] == "4000"


def test_unknown_entity_is_a_query_validation_fault(qbo: QboClient) -> None:
    r = qbo.call("GET", "query", params={"query": "SELECT * FROM Spaceship"})
    assert (r.status_code, qbo.fault(r)["code"]) == (400, "4001")


def test_maxresults_is_capped_at_1000(qbo_sandbox: Any, tmp_path: Path) -> None:
    state = default_state()
    realm = state.realm(DEFAULT_REALM_ID)
    assert realm is not None
    for number in range(1200):
        realm.create("Customer", {"DisplayName": f"Customer {number:05d}"})
    state.save_snapshot(tmp_path / "qbo.json")
    qbo_sandbox.reset(tmp_path / "qbo.json")
    client = QboClient(qbo_sandbox.info).authorize()
    first = client.query("SELECT * FROM Customer ORDERBY DisplayName MAXRESULTS 5000")
    second = client.query("SELECT * FROM Customer ORDERBY DisplayName STARTPOSITION 1001 MAXRESULTS 1000")
    assert first["maxResults"] == 1000
    assert names(second)[0] == "Customer 01000"
    assert second["maxResults"] == 200
