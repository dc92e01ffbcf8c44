"""The bill payments flow's plan on plain records (no DAG, no HTTP), with the demo workbook."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from qbo_intacct.flows import bill_payments as bp

DEMO_WORKBOOK = Path(__file__).resolve().parents[3] / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
NOW = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ctx() -> bp.Context:
    from qbo_intacct.mappings.loader import load_mappings

    accounts = {"1": "Checking", "8": "Visa Card"}
    bills = {
        "APBILL:5": {"RECORDNO": "5", "STATE": "Posted", "MEGAENTITYID": "US", "BASECURR": "USD"},
        "APBILL:6": {"RECORDNO": "6", "STATE": "Submitted", "MEGAENTITYID": "US", "BASECURR": "USD"},
        "APBILL:9": {"RECORDNO": "9", "STATE": "Approved", "MEGAENTITYID": "US", "BASECURR": "USD"},
    }
    links = {"Bill:50": "APBILL:5", "Bill:60": "APBILL:6", "Bill:90": "APBILL:9"}
    return bp.Context(
        mappings=load_mappings(DEMO_WORKBOOK),
        accounts=accounts,
        account_ids={v: k for k, v in accounts.items()},
        vendors={"7": "V-7"},
        vendors_back={"V-7": "7"},
        bill_links={**links, **{v: k for k, v in links.items()}},
        intacct_bills=bills,
    )


def _qbo(bill_ids: list[tuple[str, str]], **over: Any) -> bp.Payment:
    record = {
        "Id": "300", "DocNumber": "1001", "TxnDate": "2025-12-05", "VendorRef": {"value": "7", "name": "Acme"},
        "PayType": "Check", "CheckPayment": {"BankAccountRef": {"value": "1"}}, "CurrencyRef": {"value": "USD"},
        "TotalAmt": sum(Decimal(a) for _, a in bill_ids),
        "Line": [{"Amount": Decimal(a), "LinkedTxn": [{"TxnId": i, "TxnType": "Bill"}]} for i, a in bill_ids],
    }  # fmt: skip
    record.update(over)
    return bp.read_qbo_payment(record)


def _intacct(**over: Any) -> bp.Payment:
    record = {
        "RECORDNO": "400", "VENDORID": "V-7", "VENDORNAME": "Acme", "STATE": "Complete", "PAYMENTMETHOD": "ACH",
        "FINANCIALENTITY": "BOA-US-CHK", "PAYMENTDATE": "2025-12-06", "CURRENCY": "USD", "BASECURR": "USD",
        "TRX_TOTALENTERED": "40.00",
        "APPYMTDETAILS": {"appymtdetail": {"RECORDKEY": "9", "TRX_PAYMENTAMOUNT": "40.00"}},
    }  # fmt: skip
    record.update(over)
    return bp.read_intacct_payment(record)


def _plan(payments: list[bp.Payment], ctx: bp.Context, **kw: Any) -> tuple[list[bp.Step], list, list]:
    args: dict[str, Any] = {"links": {}, "pending": {}, "now": NOW, "pending_hours": 72}
    args.update(kw)
    return bp.plan(payments, ctx, **args)


def test_quickbooks_payment_of_linked_bills_becomes_one_intacct_payment(ctx: bp.Context) -> None:
    (step,), writes, qbo_writes = _plan([_qbo([("50", "100.00"), ("90", "25.50")])], ctx)
    assert step.action == "create"
    assert qbo_writes == []
    body = writes[0]["body"]["APPYMT"]
    assert body["FINANCIALENTITY"] == "BOA-US-CHK"
    assert body["PAYMENTMETHOD"] == "Printed Check"
    assert body["VENDORID"] == "V-7"
    assert body["DESCRIPTION"] == "QBO BillPayment 300"
    details = body["APPYMTDETAILS"]["APPYMTDETAIL"]
    assert [(d["RECORDKEY"], d["TRX_PAYMENTAMOUNT"]) for d in details] == [
        ("5", Decimal("100.00")),
        ("9", Decimal("25.50")),
    ]
    assert writes[0]["entity"] == "US"


def test_payment_for_an_unlinked_or_unapproved_bill_waits(ctx: bp.Context) -> None:
    payments = [_qbo([("77", "10.00")]), _qbo([("60", "10.00")], Id="301")]
    steps, writes, _ = _plan(payments, ctx)
    assert [(s.action, s.reason) for s in steps] == [("pending", "bill_not_linked")] * 2
    assert writes == []
    old = (NOW - dt.timedelta(hours=100)).isoformat(timespec="seconds")
    (step, _), _, _ = _plan(payments, ctx, pending={"BillPayment:300": old})
    assert "never paid on the other" in step.detail


def test_card_account_without_a_financial_entity_is_held(ctx: bp.Context) -> None:
    payment = _qbo([("50", "10.00")], PayType="CreditCard", CreditCardPayment={"CCAccountRef": {"value": "8"}})
    (step,), writes, _ = _plan([payment], ctx)
    assert (step.action, step.reason, writes) == ("review", "unmapped_bank_account", [])
    assert "Visa Card" in step.detail


def test_intacct_payment_becomes_a_quickbooks_bill_payment(ctx: bp.Context) -> None:
    (step,), _, writes = _plan([_intacct()], ctx)
    assert step.action == "create"
    body = writes[0]["body"]
    assert body["PayType"] == "Check"
    assert body["CheckPayment"]["BankAccountRef"]["name"] == "Checking"
    assert body["Line"] == [{"Amount": Decimal("40.00"), "LinkedTxn": [{"TxnId": "90", "TxnType": "Bill"}]}]
    assert body["PrivateNote"] == "[Intacct payment 400]"
    uk = _intacct(FINANCIALENTITY="BARC-UK-GBP")
    (step,), _, writes = _plan([uk], ctx)
    assert (step.action, step.reason, writes) == ("review", "unmapped_financial_entity", [])


@dataclass
class _Link:
    source_id: str
    target_id: str
    target_hashes: dict[str, str]


def test_applied_once_whatever_reruns_do(ctx: bp.Context) -> None:
    payment = _qbo([("50", "100.00")])
    (step,), writes, _ = _plan([payment], ctx)
    _, again, _ = _plan([_qbo([("50", "100.00")])], ctx)
    assert writes[0]["idempotency_key"] == again[0]["idempotency_key"]
    link = _Link("BillPayment:300", "APPYMT:70", {"origin": "qbo", "content": step.content})
    (linked,), writes, _ = _plan([payment], ctx, links={"BillPayment:300": link})
    assert (linked.action, linked.reason, writes) == ("skip", "unchanged", [])
    edited = _qbo([("50", "90.00")])
    (held,), writes, _ = _plan([edited], ctx, links={"BillPayment:300": link})
    assert (held.action, held.reason, writes) == ("review", "edited_after_sync", [])
    echo = _intacct(RECORDNO="70", DESCRIPTION="QBO BillPayment 300")
    (own,), _, qbo_writes = _plan([echo], ctx)
    assert (own.action, own.link_source, qbo_writes) == ("link", "BillPayment:300", [])


def test_a_refused_payment_is_not_sent_again_until_it_changes(ctx: bp.Context) -> None:
    payment = _qbo([("50", "100.00")])
    (step,), _, _ = _plan([payment], ctx)
    refused = {"BillPayment:300": ("write_refused", str(step.content), "Intacct refused it")}
    (again,), writes, _ = _plan([payment], ctx, refused=refused)
    assert (again.action, writes) == ("review", [])
    (changed,), writes, _ = _plan([_qbo([("50", "99.00")])], ctx, refused=refused)
    assert changed.action == "create"
