"""The bills flow's accounting on plain records (no DAG, no HTTP): mapping both ways and the plan.

The demo workbook is read once; the QuickBooks lists are the demo books' ids and names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from qbo_intacct.flows import bills as b

ACCOUNTS = {"33": "Office Expenses", "39": "Advertising", "40": "Ask My Accountant", "30": "Travel"}
LOOKUPS = {
    "Account": [{"Id": k, "FullyQualifiedName": v} for k, v in ACCOUNTS.items()],
    "Department": [{"Id": "1", "FullyQualifiedName": "Boston"}, {"Id": "3", "FullyQualifiedName": "London"},
                   {"Id": "4", "FullyQualifiedName": "Toronto"}],
    "Class": [{"Id": "1", "FullyQualifiedName": "Sales"}, {"Id": "2", "FullyQualifiedName": "Engineering"},
              {"Id": "3", "FullyQualifiedName": "Services"}, {"Id": "6", "FullyQualifiedName": "Admin"}],
    "Term": [{"Id": "3", "Name": "Net 30"}],
    "Item": [{"Id": "9", "Name": "Toner", "ExpenseAccountRef": {"value": "33"}}],
    "ExchangeRate": [
        {"SourceCurrencyCode": code, "TargetCurrencyCode": "USD", "AsOfDate": "2025-01-01", "Rate": rate}
        for code, rate in (("GBP", "1.25"), ("EUR", "1.10"))
    ],
}  # fmt: skip
DEMO_WORKBOOK = Path(__file__).resolve().parents[3] / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
NOW = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def mappings() -> Any:
    from qbo_intacct.mappings.loader import load_mappings

    return load_mappings(DEMO_WORKBOOK)


@dataclass
class _Setting:
    entity: str | None
    create_as: str
    line_departments: str


class _Override:
    """The workbook with one Bills row replaced (as finance would edit the sheet)."""

    def __init__(self, inner: Any, setting: _Setting) -> None:
        self._inner, self._setting = inner, setting

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def bill_setting(self, entity: str) -> _Setting:
        return self._setting


def _ctx(mappings: Any, **kw: Any) -> b.Context:
    return b.Context.build(LOOKUPS, mappings, vendors={"7": "V-7", "8": "V-8"}, **kw)


def _qbo_bill(**over: Any) -> dict[str, Any]:
    bill = {
        "Id": "101", "DocNumber": "ACM-1", "TxnDate": "2025-12-01", "DueDate": "2025-12-31",
        "VendorRef": {"value": "7", "name": "Acme"}, "SalesTermRef": {"value": "3"},
        "CurrencyRef": {"value": "USD"}, "DepartmentRef": {"value": "1"}, "PrivateNote": "office\x07 move",
        "TotalAmt": 150.5, "Balance": 150.5,
        "Line": [
            {"Amount": 100.0, "Description": "Ads", "DetailType": "AccountBasedExpenseLineDetail",
             "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "39"}, "ClassRef": {"value": "1"}}},
            {"Amount": 50.5, "DetailType": "ItemBasedExpenseLineDetail",
             "ItemBasedExpenseLineDetail": {"ItemRef": {"value": "9"}, "Qty": 1}},
        ],
    }  # fmt: skip
    bill.update(over)
    return bill


def _intacct_bill(**over: Any) -> dict[str, Any]:
    rec = {
        "RECORDNO": "55", "RECORDID": "BILL-55", "VENDORID": "V-8", "VENDORNAME": "Birch", "STATE": "Approved",
        "CURRENCY": "USD", "BASECURR": "USD", "EXCHANGE_RATE": "1", "MEGAENTITYID": "US",
        "WHENCREATED": "2025-12-02", "WHENDUE": "2026-01-01", "TERMNAME": "N30",
        "TRX_TOTALENTERED": "300.00", "TRX_TOTALPAID": "0", "TRX_TOTALDUE": "300.00",
        "APBILLITEMS": {"apbillitem": [
            {"ACCOUNTNO": "67000", "TRX_AMOUNT": "200.00", "ENTRYDESCRIPTION": "Allocated Sales",
             "LOCATIONID": "US", "DEPARTMENTID": "US-SALES"},
            {"ACCOUNTNO": "67000", "TRX_AMOUNT": "100.00", "ENTRYDESCRIPTION": "Allocated Eng",
             "LOCATIONID": "US", "DEPARTMENTID": "US-ENG"},
        ]},
    }  # fmt: skip
    rec.update(over)
    return rec


def _plan(bills: list[b.Bill], **kw: Any) -> tuple[list[b.Step], list[dict], list[dict]]:
    args: dict[str, Any] = {"deleted": [], "partners": {}, "by_number": {}, "links": {}, "pending": {},
                            "refused": {}, "now": NOW, "pending_hours": 72}  # fmt: skip
    args.update(kw)
    return b.plan(bills=bills, **args)


# ------------------------------------------------------------------------------------ QuickBooks -> Intacct


def test_quickbooks_bill_maps_gl_coding_dimensions_and_state(mappings: Any) -> None:
    bill = b.map_qbo_bill(_qbo_bill(), _ctx(mappings))
    assert bill.hold is None
    body = bill.body
    assert body["VENDORID"] == "V-7"
    assert body["RECORDID"] == "ACM-1"
    assert body["DOCNUMBER"] == "QBO Bill 101"
    assert body["DESCRIPTION"] == "office move"  # control character stripped
    assert body["STATE"] == "Posted"  # the Bills sheet's blank-entity row; UK says Submitted
    lines = body["APBILLITEMS"]["APBILLITEM"]
    assert [x["ACCOUNTNO"] for x in lines] == ["67000", "65000"]  # the item line through its expense account
    assert [x["TRX_AMOUNT"] for x in lines] == [Decimal("100.00"), Decimal("50.50")]
    assert lines[0]["LOCATIONID"] == "US-BOS"
    assert lines[0]["DEPARTMENTID"] == "US-SALES"
    assert lines[0]["CLASSID"] == "SUB"


def test_uk_bills_are_created_submitted_for_intacct_approval(mappings: Any) -> None:
    bill = b.map_qbo_bill(_qbo_bill(DepartmentRef={"value": "3"}, CurrencyRef={"value": "GBP"}, ExchangeRate=1.25),
                          _ctx(mappings))  # fmt: skip
    assert bill.entity == "UK"
    assert bill.body["STATE"] == "Submitted"
    assert "EXCHANGE_RATE" not in bill.body  # GBP in a GBP entity


def test_foreign_currency_keeps_the_bills_own_rate_into_the_entity_base(mappings: Any) -> None:
    eur_in_us = b.map_qbo_bill(_qbo_bill(CurrencyRef={"value": "EUR"}, ExchangeRate=1.12), _ctx(mappings))
    assert eur_in_us.body["EXCHANGE_RATE"] == "1.120000"
    usd_in_uk = b.map_qbo_bill(_qbo_bill(DepartmentRef={"value": "3"}, ExchangeRate=1), _ctx(mappings))
    assert usd_in_uk.body["EXCHANGE_RATE"] == "0.800000"  # 1 USD = 1/1.25 GBP


def test_unmapped_account_holds_the_bill_naming_line_and_sheet(mappings: Any) -> None:
    lines = [{"Amount": 150.5, "DetailType": "AccountBasedExpenseLineDetail",
              "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "40"}}}]  # fmt: skip
    bill = b.map_qbo_bill(_qbo_bill(Line=lines), _ctx(mappings))
    assert bill.hold is not None
    assert bill.hold.reason == "unmapped_account"
    assert "line 1" in bill.hold.detail
    assert "Ask My Accountant" in bill.hold.detail
    assert "Accounts sheet" in bill.hold.detail


# ------------------------------------------------------------------------------------ Intacct -> QuickBooks


def test_draft_and_submitted_intacct_bills_wait_for_approval(mappings: Any) -> None:
    bills = [b.map_intacct_bill(_intacct_bill(RECORDNO=str(n), STATE=s), _ctx(mappings))
             for n, s in ((1, "Draft"), (2, "Submitted"), (3, "Approved"))]  # fmt: skip
    steps, _, qbo_writes = _plan(bills)
    assert [s.action for s in steps] == ["wait", "wait", "create"]
    assert len(qbo_writes) == 1


def test_split_departments_default_keep_each_department_as_the_lines_class(mappings: Any) -> None:
    bill = b.map_intacct_bill(_intacct_bill(), _ctx(mappings))
    assert bill.hold is None
    lines = bill.body["Line"]
    assert [x["AccountBasedExpenseLineDetail"]["ClassRef"]["name"] for x in lines] == ["Sales", "Engineering"]
    assert bill.body["DepartmentRef"]["name"] in ("Boston", "Austin")  # the entity's department
    assert bill.body["PrivateNote"].endswith("[Intacct bill 55]")
    assert sum(x["Amount"] for x in lines) == Decimal("300.00")


def test_split_departments_hold_when_the_sheet_says_so(mappings: Any) -> None:
    ctx = _ctx(_Override(mappings, _Setting(None, "Posted", "Hold")))
    bill = b.map_intacct_bill(_intacct_bill(), ctx)
    assert bill.hold is not None
    assert bill.hold.reason == "split_departments"
    single = b.map_intacct_bill(
        _intacct_bill(APBILLITEMS=[{"ACCOUNTNO": "67000", "TRX_AMOUNT": "300", "DEPARTMENTID": "US-SALES"}]), ctx
    )
    assert single.hold is None  # one department: nothing to split


def test_unmapped_intacct_account_holds(mappings: Any) -> None:
    bill = b.map_intacct_bill(_intacct_bill(APBILLITEMS=[{"ACCOUNTNO": "99999", "TRX_AMOUNT": "300"}]), _ctx(mappings))
    assert bill.hold is not None
    assert bill.hold.reason == "unmapped_account"
    assert "99999" in bill.hold.detail


# ------------------------------------------------------------------------------------ plan


def test_unlinked_vendor_waits_then_becomes_a_review_item(mappings: Any) -> None:
    bill = b.map_qbo_bill(_qbo_bill(VendorRef={"value": "99", "name": "Nobody"}), _ctx(mappings))
    (step,), writes, _ = _plan([bill])
    assert (step.action, step.reason, step.detail, writes) == ("pending", "vendor_not_linked", "", [])
    old = (NOW - dt.timedelta(hours=80)).isoformat(timespec="seconds")
    (step,), _, _ = _plan([bill], pending={bill.key: old})
    assert step.action == "pending"
    assert step.pending_since == old
    assert "vendors flow" in step.detail


def test_create_keys_are_deterministic(mappings: Any) -> None:
    bill = b.map_qbo_bill(_qbo_bill(), _ctx(mappings))
    _, first, _ = _plan([bill])
    _, again, _ = _plan([b.map_qbo_bill(_qbo_bill(), _ctx(mappings))])
    assert first[0]["idempotency_key"] == again[0]["idempotency_key"]
    changed = b.map_qbo_bill(_qbo_bill(PrivateNote="other"), _ctx(mappings))
    _, other, _ = _plan([changed])
    assert other[0]["idempotency_key"] != first[0]["idempotency_key"]


def test_own_bills_and_found_bills_are_linked_never_created_twice(mappings: Any) -> None:
    ours = b.map_qbo_bill(_qbo_bill(PrivateNote="x [Intacct bill 55]"), _ctx(mappings))
    bill = b.map_qbo_bill(_qbo_bill(Id="102", DocNumber="ACM-2"), _ctx(mappings))
    found = {("intacct", "V-7", "ACM-2"): [{"RECORDNO": "77", "DOCNUMBER": "QBO Bill 102", "STATE": "Posted"}]}
    steps, writes, _ = _plan([ours, bill], by_number=found)
    assert [(s.action, s.reason) for s in steps] == [("link", "written_by_sync"), ("link", "found_by_reference")]
    assert (steps[1].link_source, steps[1].link_target) == ("Bill:102", "APBILL:77")
    assert writes == []


def test_a_number_the_vendor_already_has_is_a_clash(mappings: Any) -> None:
    bill = b.map_qbo_bill(_qbo_bill(), _ctx(mappings))
    other = {("intacct", "V-7", "ACM-1"): [{"RECORDNO": "9", "DOCNUMBER": "their own"}]}
    (step,), writes, _ = _plan([bill], by_number=other)
    assert step.action == "review"
    assert step.reason == "doc_number_clash"
    assert writes == []


@dataclass
class _Link:
    source_id: str
    target_id: str
    target_hashes: dict[str, str]
    origin: str | None = "qbo"


def test_edit_updates_while_unpaid_and_is_held_once_paid(mappings: Any) -> None:
    bill = b.map_qbo_bill(_qbo_bill(), _ctx(mappings))
    link = _Link("Bill:101", "APBILL:5", {"origin": "qbo", "content": "old", "state": "Posted"})
    unpaid = {"APBILL:5": {"RECORDNO": "5", "STATE": "Posted", "TRX_TOTALPAID": "0"}}
    (step,), writes, _ = _plan([bill], links={"Bill:101": link}, partners=unpaid)
    assert step.action == "update"
    assert writes[0]["body"]["APBILL"]["RECORDNO"] == "5"
    assert "STATE" not in writes[0]["body"]["APBILL"]
    paid = {"APBILL:5": {"RECORDNO": "5", "STATE": "Partially Paid", "TRX_TOTALPAID": "20.00"}}
    (step,), writes, _ = _plan([bill], links={"Bill:101": link}, partners=paid)
    assert (step.action, step.reason, writes) == ("review", "edited_after_payment", [])
    same = replace(link, target_hashes={**link.target_hashes, "content": b._content(bill.body)})
    (step,), writes, _ = _plan([bill], links={"Bill:101": same}, partners=unpaid)
    assert (step.action, step.reason, writes) == ("skip", "unchanged", [])


def test_delete_reverses_while_unpaid_never_deletes(mappings: Any) -> None:
    link = _Link("Bill:101", "APBILL:5", {"origin": "qbo", "state": "Posted", "doc_number": "ACM-1"})
    unpaid = {"APBILL:5": {"RECORDNO": "5", "STATE": "Posted", "TRX_TOTALPAID": "0"}}
    (step,), writes, _ = _plan([], deleted=[{"id": "101"}], links={"Bill:101": link}, partners=unpaid)
    assert step.action == "reverse"
    assert writes[0]["operation"] == "reverse_bill"
    paid = {"APBILL:5": {"RECORDNO": "5", "STATE": "Paid", "TRX_TOTALPAID": "150.50"}}
    (step,), writes, _ = _plan([], deleted=[{"id": "101"}], links={"Bill:101": link}, partners=paid)
    assert (step.action, writes) == ("review", [])


def test_the_reversal_record_of_a_synced_bill_is_not_linked_in_its_place(mappings: Any) -> None:
    reversal = b.map_intacct_bill(
        _intacct_bill(RECORDNO="56", STATE="Reversal", DOCNUMBER="QBO Bill 101"), _ctx(mappings)
    )
    (step,), qbo_writes, ia_writes = _plan([reversal])
    assert (step.action, step.reason, step.link_source) == ("skip", "reversal_of_synced_bill", None)
    assert qbo_writes == ia_writes == []
