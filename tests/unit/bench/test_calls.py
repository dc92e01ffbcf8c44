"""Sandbox counters -> calls by kind, records per write request, Intacct transactions per record."""

from __future__ import annotations

from bench.calls import summarize


def test_quickbooks_calls_by_kind_and_records_per_write_request() -> None:
    counters = {
        "requests": {
            "query query 200": 6,
            "customer read 200": 2,
            "customer create 200": 3,
            "customer update 400": 1,
            "batch batch 200": 2,
            "token refresh 200": 1,
            "customer create 429": 4,
        },
        "writes": 63,  # 3 single creates + 60 batch items
        "batch_items": 60,
        "requests_total": 19,
    }
    f = summarize("qbo", counters)
    assert (f["reads"], f["writes"], f["batch_requests"], f["auth"]) == (8, 4, 2, 1)
    assert f["calls"] == 15  # the 4 throttled requests were refused, not served
    assert (f["throttled"], f["errors"]) == (4, 1)
    assert f["records_written"] == 63
    assert f["records_per_write_request"] == 10.5  # 63 records over 4 single + 2 batch requests
    assert "api_transactions" not in f


def test_intacct_transactions_per_record_written() -> None:
    counters = {
        "requests": {"xmlgw getAPISession 200": 1, "xmlgw readByQuery 200": 3, "xmlgw readMore 200": 1,
                     "xmlgw create 200": 2, "xmlgw update 200": 1},
        "api_transactions": 104,
        "records_written": 100,
    }  # fmt: skip
    f = summarize("intacct", counters)
    assert (f["reads"], f["writes"], f["auth"], f["calls"]) == (4, 3, 1, 8)
    assert f["records_per_write_request"] == 33.33
    assert f["api_transactions"] == 104
    assert f["transactions_per_record_written"] == 1.04


def test_a_run_that_wrote_nothing_has_no_ratios() -> None:
    f = summarize("intacct", {"requests": {"xmlgw query 200": 2}, "api_transactions": 2})
    assert f["records_per_write_request"] is None
    assert f["transactions_per_record_written"] is None
    assert f["writes"] == 0
