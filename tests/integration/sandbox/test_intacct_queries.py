"""Intacct sandbox: readByQuery/readMore paging, the query function's operators and paging, read, readByName."""

from __future__ import annotations

from typing import Any

import pytest

from include.sandbox.intacct.testing import GatewayClient, function


@pytest.fixture
def client(intacct_sandbox: Any) -> GatewayClient:
    client = GatewayClient(intacct_sandbox.info)
    customers = [
        {
            "CUSTOMERID": f"C{i:03d}",
            "NAME": f"Customer {i:03d}",
            "STATUS": "inactive" if i % 5 == 0 else "active",
            "CREDITLIMIT": str(i * 100),
        }
        for i in range(1, 26)
    ]
    for chunk in (customers[:13], customers[13:]):
        assert client.one("create", {"CUSTOMER": chunk})["status"] == "success"
    return client


def _query(client: GatewayClient, filter_: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"object": "CUSTOMER", "select": {"field": ["CUSTOMERID", "NAME", "CREDITLIMIT"]}}
    if filter_ is not None:
        body["filter"] = filter_
    body.update(extra)
    result = client.one("query", body)
    assert result["status"] == "success", result
    return result["data"]


def _ids(data: dict[str, Any]) -> list[str]:
    rows = data.get("CUSTOMER", [])
    rows = rows if isinstance(rows, list) else [rows]
    return [r["CUSTOMERID"] for r in rows]


def test_read_by_query_pages_with_read_more_until_nothing_remains(client: GatewayClient) -> None:
    first = client.one("readByQuery", {"object": "CUSTOMER", "fields": "CUSTOMERID", "query": None, "pagesize": "10"})
    data = first["data"]
    assert (data["@count"], data["@totalcount"], data["@numremaining"]) == ("10", "25", "15")
    seen = [r["CUSTOMERID"] for r in data["customer"]]
    while data["@numremaining"] != "0":
        data = client.one("readMore", {"resultId": first["data"]["@resultId"]})["data"]
        rows = data["customer"] if isinstance(data["customer"], list) else [data["customer"]]
        seen += [r["CUSTOMERID"] for r in rows]
    assert seen == [f"C{i:03d}" for i in range(1, 26)]


def test_read_by_query_filters_with_sql_like_text(client: GatewayClient) -> None:
    result = client.one(
        "readByQuery",
        {
            "object": "CUSTOMER",
            "fields": "CUSTOMERID",
            "pagesize": "100",
            "query": "STATUS = 'F' AND (CUSTOMERID IN ('C005','C010') OR NAME LIKE '%25') AND CREDITLIMIT >= 500",
        },
    )
    assert [r["CUSTOMERID"] for r in result["data"]["customer"]] == ["C005", "C010", "C025"]


def test_read_by_query_pagesize_above_1000_fails(client: GatewayClient) -> None:
    result = client.one("readByQuery", {"object": "CUSTOMER", "fields": "*", "query": None, "pagesize": "1001"})
    assert result["status"] == "failure"


def test_read_more_with_an_unknown_result_id_fails(client: GatewayClient) -> None:
    assert client.one("readMore", {"resultId": "nope"})["status"] == "failure"


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"equalto": {"field": "CUSTOMERID", "value": "C003"}}, ["C003"]),
        ({"lessthan": {"field": "CREDITLIMIT", "value": "300"}}, ["C001", "C002"]),
        ({"greaterthanorequalto": {"field": "CREDITLIMIT", "value": "2400"}}, ["C024", "C025"]),
        ({"between": {"field": "CREDITLIMIT", "value": ["700", "900"]}}, ["C007", "C008", "C009"]),
        ({"in": {"field": "CUSTOMERID", "value": ["C004", "C009"]}}, ["C004", "C009"]),
        ({"like": {"field": "NAME", "value": "Customer 01%"}}, [f"C01{i}" for i in range(10)]),
        (
            {
                "and": {
                    "equalto": {"field": "STATUS", "value": "inactive"},
                    "lessthan": {"field": "CREDITLIMIT", "value": "1500"},
                }
            },
            ["C005", "C010"],
        ),
        (
            {"or": {"equalto": [{"field": "CUSTOMERID", "value": "C001"}, {"field": "CUSTOMERID", "value": "C002"}]}},
            ["C001", "C002"],
        ),
        (
            {
                "and": {
                    "notequalto": {"field": "STATUS", "value": "active"},
                    "or": {
                        "equalto": [{"field": "CUSTOMERID", "value": "C015"}, {"field": "CUSTOMERID", "value": "C016"}]
                    },
                }
            },
            ["C015"],
        ),
        (
            {
                "isnull": {"field": "TERMNAME"},
                "notin": {"field": "CUSTOMERID", "value": [f"C{i:03d}" for i in range(1, 24)]},
            },
            ["C024", "C025"],
        ),
    ],
)
def test_query_filter_operators(client: GatewayClient, filter_: Any, expected: list[str]) -> None:
    assert _ids(_query(client, filter_, pagesize="2000")) == expected


def test_query_is_case_sensitive_unless_asked(client: GatewayClient) -> None:
    lower = {"equalto": {"field": "NAME", "value": "customer 001"}}
    assert _ids(_query(client, lower)) == []
    assert _ids(_query(client, lower, options={"caseinsensitive": "true"})) == ["C001"]


def test_query_orders_and_pages_with_offset_totalcount_and_numremaining(client: GatewayClient) -> None:
    order = {"order": {"field": "CREDITLIMIT", "descending": None}}
    page = _query(client, None, orderby=order, pagesize="10", offset="20")
    assert (page["@totalcount"], page["@offset"], page["@count"], page["@numremaining"]) == ("25", "20", "5", "0")
    assert _ids(page) == ["C005", "C004", "C003", "C002", "C001"]


def test_query_pagesize_above_2000_fails(client: GatewayClient) -> None:
    result = client.one("query", {"object": "CUSTOMER", "select": {"field": "RECORDNO"}, "pagesize": "2001"})
    assert result["status"] == "failure"


def test_query_unknown_object_fails_with_query_failed(client: GatewayClient) -> None:
    result = client.one("query", {"object": "BADOBJECT", "select": {"field": "RECORDNO"}})
    assert result["errormessage"]["error"][0]["errorno"] == "Query Failed"


def test_query_with_a_bad_date_literal_fails(client: GatewayClient) -> None:
    result = client.one(
        "query",
        {
            "object": "CUSTOMER",
            "select": {"field": "RECORDNO"},
            "filter": {"greaterthan": {"field": "WHENMODIFIED", "value": "13/45/2024 00:00:00"}},
        },
    )
    assert result["status"] == "failure"


def test_read_returns_records_by_recordno(client: GatewayClient) -> None:
    result = client.one("read", {"object": "CUSTOMER", "keys": "2,3", "fields": "CUSTOMERID"})
    assert [r["CUSTOMERID"] for r in result["data"]["CUSTOMER"]] == ["C002", "C003"]


def test_read_by_name_returns_records_by_id(client: GatewayClient) -> None:
    result = client.one("readByName", {"object": "CUSTOMER", "keys": "C007,C999", "fields": "*"})
    assert result["data"]["@count"] == "1"
    assert result["data"]["CUSTOMER"]["NAME"] == "Customer 007"


def test_multi_object_create_function_lists_every_created_record(client: GatewayClient) -> None:
    result = client.one("create", {"CLASS": [{"CLASSID": "M1", "NAME": "a"}, {"CLASSID": "M2", "NAME": "b"}]})
    assert [c["CLASSID"] for c in result["data"]["class"]] == ["M1", "M2"]


def test_query_renders_documented_fields_the_sandbox_does_not_hold_as_empty(client: GatewayClient) -> None:
    data = _query(
        client, {"equalto": {"field": "CUSTOMERID", "value": "C001"}}, select={"field": ["CUSTOMERID", "GLGROUP"]}
    )
    assert data["CUSTOMER"]["GLGROUP"] is None


def test_functions_accept_several_per_request(client: GatewayClient) -> None:
    results = client.results([function("read", {"object": "CUSTOMER", "keys": str(i)}) for i in range(1, 4)])
    assert [r["data"]["CUSTOMER"]["CUSTOMERID"] for r in results] == ["C001", "C002", "C003"]
