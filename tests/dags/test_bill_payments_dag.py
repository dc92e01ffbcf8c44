"""``qbo_intacct_bill_payments`` end to end with ``dag.test()`` on the demo books, both sandboxes over HTTP.

One module-scoped story: vendors -> bills -> bill payments (first) -> a QuickBooks payment of two open
bills, one of them in part (several) -> bill payments again (second) -> again (third: writes nothing).
Then every linked bill whose payments all crossed has the same open balance on both sides, per bill
and per vendor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flow_story import FlowStory as Story
from flow_story import RunResult, flow_story
from flow_story import intacct_hook as _intacct
from flow_story import ledger as _ledger
from flow_story import qbo_hook as _qbo

pytestmark = [pytest.mark.dag, pytest.mark.slow]  # ~4 min alone: over make test's budget

FLOW = "bill_payments"
BILL_FIELDS = ["RECORDNO", "RECORDID", "VENDORID", "STATE", "CURRENCY", "MEGAENTITYID", "TRX_TOTALENTERED",
               "TRX_TOTALPAID", "TRX_TOTALDUE"]  # fmt: skip


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_bill_payments", sandboxes, tmp_path_factory.mktemp("bill_payments")) as story:
        story.vendors = Story("qbo_intacct_vendors", story.home, sandboxes)
        story.bills = Story("qbo_intacct_bills", story.home, sandboxes)
        yield story


@pytest.fixture(scope="module")
def first(story: Story) -> RunResult:
    assert story.vendors.run("vendors").state == "success"
    assert story.bills.run("bills").state == "success"
    return story.run("first")


@pytest.fixture(scope="module")
def several(story: Story, first: RunResult) -> dict[str, Any]:
    """A QuickBooks payment of two open linked bills of one vendor, the second in part; then a run."""
    links = {link.source_id: link for link in _ledger().links("bills")}
    bills = [q for q in _qbo().iter_query("Bill") if f"Bill:{q['Id']}" in links and q["Balance"] == q["TotalAmt"]
             and (links[f"Bill:{q['Id']}"].target_hashes or {}).get("state") == "Posted"]  # fmt: skip
    by_vendor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in bills:
        by_vendor[(q["VendorRef"]["value"], q["CurrencyRef"]["value"])].append(q)
    (vendor, currency), pair = next((k, v[:2]) for k, v in by_vendor.items() if len(v) >= 2 and k[1] == "USD")
    part = (Decimal(str(pair[1]["TotalAmt"])) / 2).quantize(Decimal("0.01"))
    amounts = [Decimal(str(pair[0]["TotalAmt"])), part]
    lines = [
        {"Amount": a, "LinkedTxn": [{"TxnId": q["Id"], "TxnType": "Bill"}]} for q, a in zip(pair, amounts, strict=True)
    ]
    payment = _qbo().create(
        "BillPayment",
        {"VendorRef": {"value": vendor}, "PayType": "Check", "TotalAmt": sum(amounts), "TxnDate": "2025-12-01",
         "CheckPayment": {"BankAccountRef": {"value": "1"}}, "CurrencyRef": {"value": currency}, "Line": lines},
        request_id="test-billpayment-several",
    )  # fmt: skip
    return {"payment": payment, "bills": pair, "run": story.run("second")}


@pytest.fixture(scope="module")
def third(story: Story, several: dict[str, Any]) -> RunResult:
    return story.run("third")


@pytest.fixture(scope="module")
def balances(third: RunResult) -> dict[str, Any]:
    """Per linked bill: QuickBooks Balance and Intacct TRX_TOTALDUE, and whether a payment touching it waits
    or is held (those are excluded from the comparison and counted)."""
    ledger = _ledger()
    links = ledger.links("bills")
    qbo = {q["Id"]: q for q in _qbo().iter_query("Bill")}
    ia = {r["RECORDNO"]: r for r in _intacct().iter_query("APBILL", BILL_FIELDS, entity_id="", show_private=True)}
    from qbo_intacct.flows.bill_steps import last_detail

    stuck_payments = set(last_detail(ledger.engine, FLOW).get("pending") or {})
    stuck_payments |= {i.record_id for i in ledger.review_items(FLOW) if i.status.value == "open"}
    stuck_bills: set[str] = set()
    for p in _qbo().iter_query("BillPayment"):
        if f"BillPayment:{p['Id']}" in stuck_payments:
            stuck_bills |= {f"Bill:{t['TxnId']}" for line in p["Line"] for t in line.get("LinkedTxn") or []}
    for r in _intacct().iter_query("APPYMT", ["RECORDNO"], entity_id="", show_private=True):
        if f"APPYMT:{r['RECORDNO']}" in stuck_payments:
            (full,) = _intacct().read("APPYMT", [r["RECORDNO"]], entity_id="")
            details = full.get("APPYMTDETAILS") or {}
            details = next(iter(details.values())) if isinstance(details, dict) else details
            details = [details] if isinstance(details, dict) else details
            stuck_bills |= {f"APBILL:{d['RECORDKEY']}" for d in details}
    rows = []
    for link in links:
        q = qbo.get(link.source_id.split(":")[1])
        r = ia.get(link.target_id.split(":")[1])
        if q is None or r is None or r["STATE"] in ("Reversed", "Reversal"):
            continue
        rows.append(
            {
                "link": link,
                "vendor": (q["VendorRef"]["value"], q["CurrencyRef"]["value"]),
                "qbo_open": Decimal(str(q["Balance"])),
                "intacct_open": Decimal(str(r["TRX_TOTALDUE"])),
                "total": Decimal(str(q["TotalAmt"])),
                "currency": q["CurrencyRef"]["value"],
                "stuck": link.source_id in stuck_bills or link.target_id in stuck_bills,
            }
        )
    return {"rows": rows, "stuck_payments": stuck_payments}


def test_runs_succeed(first: RunResult, several: dict[str, Any], third: RunResult) -> None:
    assert first.state == "success", first.summary
    assert several["run"].state == "success"
    assert third.state == "success"
    assert first.summary["created"] > 20


def test_every_linked_bill_has_the_same_open_balance_on_both_sides(balances: dict[str, Any]) -> None:
    compared = [r for r in balances["rows"] if not r["stuck"]]
    differ = [
        (r["link"].source_id, r["qbo_open"], r["intacct_open"]) for r in compared if r["qbo_open"] != r["intacct_open"]
    ]
    assert differ == []
    assert len(compared) > 60


def test_each_shape_is_covered(balances: dict[str, Any]) -> None:
    compared = [r for r in balances["rows"] if not r["stuck"]]
    full = [r for r in compared if r["qbo_open"] == 0 < r["total"]]
    partial = [r for r in compared if 0 < r["qbo_open"] < r["total"]]
    foreign = [r for r in compared if r["currency"] != "USD" and r["qbo_open"] < r["total"]]
    assert full
    assert partial
    assert foreign


def test_open_balance_per_vendor_agrees(balances: dict[str, Any]) -> None:
    qbo: dict[Any, Decimal] = defaultdict(Decimal)
    ia: dict[Any, Decimal] = defaultdict(Decimal)
    for r in balances["rows"]:
        if not r["stuck"]:
            qbo[r["vendor"]] += r["qbo_open"]
            ia[r["vendor"]] += r["intacct_open"]
    assert dict(qbo) == dict(ia)


def test_one_payment_of_several_bills_pays_each_its_amount(several: dict[str, Any]) -> None:
    (row,) = [
        r
        for r in _intacct().iter_query("APPYMT", ["RECORDNO", "DESCRIPTION"], entity_id="", show_private=True)
        if r.get("DESCRIPTION") == f"QBO BillPayment {several['payment']['Id']}"
    ]
    links = {link.source_id: link.target_id for link in _ledger().links("bills")}
    ia = {r["RECORDNO"]: r for r in _intacct().iter_query("APBILL", BILL_FIELDS, entity_id="", show_private=True)}
    first, second = several["bills"]
    assert Decimal(str(ia[links[f"Bill:{first['Id']}"].split(":")[1]]["TRX_TOTALDUE"])) == 0
    due = Decimal(str(ia[links[f"Bill:{second['Id']}"].split(":")[1]]["TRX_TOTALDUE"]))
    assert due == Decimal(str(second["TotalAmt"])) - (Decimal(str(second["TotalAmt"])) / 2).quantize(Decimal("0.01"))
    assert row


def test_payments_of_unlinked_bills_wait(first: RunResult, balances: dict[str, Any]) -> None:
    assert first.summary["pending"] > 0
    assert first.summary["reasons"]["waiting_for_bill"] == first.summary["pending"]


def test_rerun_applies_nothing_twice(third: RunResult) -> None:
    assert third.writes == {"qbo": 0, "intacct": 0}
    assert third.summary["created"] == 0
