"""The payments flow's accounting and plan, on plain records (no DAG, no HTTP).

The DAG story (tests/dags/test_payments_dag.py, ``slow``) shows the same end to end on the demo
books; these pin each rule on one payment, in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from qbo_intacct.flows import payments as pm
from qbo_intacct.mappings.loader import load_mappings

DEMO_WORKBOOK = Path(__file__).resolve().parents[3] / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
NOW = dt.datetime(2026, 10, 30, 12, tzinfo=dt.UTC)
LOOKUPS: dict[str, list[dict[str, Any]]] = {
    "PaymentMethod": [{"Id": "1", "Name": "ACH"}, {"Id": "2", "Name": "Check"}, {"Id": "9", "Name": "Barter"}],
    "Account": [{"Id": "35", "FullyQualifiedName": "Checking"}, {"Id": "4", "FullyQualifiedName": "Undeposited Funds"}],
    "ExchangeRate": [
        {"SourceCurrencyCode": "GBP", "TargetCurrencyCode": "USD", "Rate": "1.2500", "AsOfDate": "2026-10-01"},
        {"SourceCurrencyCode": "CAD", "TargetCurrencyCode": "USD", "Rate": "0.7300", "AsOfDate": "2026-10-01"},
    ],
}
DOCS = {
    "Invoice:1": {"record_no": "101", "entity": "US", "doc_number": "1001", "state": "posted"},
    "Invoice:2": {"record_no": "102", "entity": "US", "doc_number": "1002", "state": "posted"},
    "Invoice:3": {"record_no": "103", "entity": "UK", "doc_number": "1003", "state": "posted"},
    "CreditMemo:5": {"record_no": "105", "entity": "US", "doc_number": "CM-5", "state": "posted"},
}
BANKS = {"BOA-US-CHK": "US", "BARC-UK-GBP": "UK"}


@pytest.fixture(scope="module")
def ctx() -> pm.PaymentContext:
    return pm.PaymentContext.build(
        LOOKUPS, load_mappings(DEMO_WORKBOOK), customers={"7": "C-7"}, documents=DOCS, banks=BANKS
    )


def _pay(lines: list[tuple[str, str, str]], total: str, unapplied: str = "0", **extra: Any) -> dict[str, Any]:
    return {"Id": "50", "TxnDate": "2026-10-20", "CustomerRef": {"value": "7", "name": "Alder"},
            "CurrencyRef": {"value": "USD"}, "ExchangeRate": 1, "TotalAmt": Decimal(total),
            "UnappliedAmt": Decimal(unapplied), "PaymentMethodRef": {"value": "1"},
            "DepositToAccountRef": {"value": "35"},
            "Line": [{"Amount": Decimal(a), "LinkedTxn": [{"TxnId": i, "TxnType": k}]} for k, i, a in lines],
            **extra}  # fmt: skip


def _details(pay: pm.MappedPayment) -> list[dict[str, Any]]:
    (receipt,) = pay.receipts
    return receipt.body.get("ARPYMTDETAILS", {}).get("ARPYMTDETAIL", [])


def test_full_payment_applies_cash_to_the_linked_invoice(ctx: pm.PaymentContext) -> None:
    pay = pm.map_payment(_pay([("Invoice", "1", "250.00")], "250.00"), ctx)
    assert pay.hold is None
    assert pay.waiting is None
    (receipt,) = pay.receipts
    body = receipt.body
    assert body["CUSTOMERID"] == "C-7"
    assert body["PAYMENTMETHOD"] == "ACH"
    assert body["FINANCIALENTITY"] == "BOA-US-CHK"
    assert body["RECEIPTDATE"] == body["PAYMENTDATE"] == "10/20/2026"
    assert body["DOCNUMBER"] == "QBO-PMT-50"
    assert body["CURRENCY"] == "USD"
    assert "OVERPAYMENTAMOUNT" not in body
    assert _details(pay) == [{"RECORDKEY": "101", "TRX_PAYMENTAMOUNT": Decimal("250.00")}]
    assert receipt.entity == "US"


def test_reference_number_and_undeposited_funds(ctx: pm.PaymentContext) -> None:
    record = _pay([("Invoice", "1", "10.00")], "10.00", PaymentRefNum="4711", PaymentMethodRef={"value": "2"})
    del record["DepositToAccountRef"]  # QuickBooks' default: Undeposited Funds
    (receipt,) = pm.map_payment(record, ctx).receipts
    assert receipt.body["DOCNUMBER"] == "4711"
    assert receipt.body["PAYMENTMETHOD"] == "Printed Check"
    assert receipt.body["UNDEPOSITEDACCOUNTNO"] == "10500"
    assert "FINANCIALENTITY" not in receipt.body


def test_overpayment_is_the_receipts_overpayment(ctx: pm.PaymentContext) -> None:
    pay = pm.map_payment(_pay([("Invoice", "1", "100.00")], "130.00", unapplied="30.00"), ctx)
    (receipt,) = pay.receipts
    assert receipt.body["OVERPAYMENTAMOUNT"] == Decimal("30.00")
    assert receipt.body["OVERPAYMENTLOCATIONID"] == "US"
    assert receipt.cash + receipt.overpayment == Decimal("130.00")


def test_credit_memo_is_applied_to_the_invoice_before_cash(ctx: pm.PaymentContext) -> None:
    lines = [("Invoice", "1", "300.00"), ("CreditMemo", "5", "120.00")]
    pay = pm.map_payment(_pay(lines, "180.00"), ctx)
    assert _details(pay) == [
        {"RECORDKEY": "101", "ADJUSTMENTKEY": "105", "TRX_ADJUSTMENTAMOUNT": Decimal("120.00")},
        {"RECORDKEY": "101", "TRX_PAYMENTAMOUNT": Decimal("180.00")},
    ]


def test_credit_only_application_needs_no_bank_nor_method(ctx: pm.PaymentContext) -> None:
    lines = [("Invoice", "1", "120.00"), ("CreditMemo", "5", "120.00")]
    (receipt,) = pm.map_payment(_pay(lines, "0.00", PaymentMethodRef=None), ctx).receipts
    assert "FINANCIALENTITY" not in receipt.body
    assert "PAYMENTMETHOD" not in receipt.body


def test_several_entities_are_split_one_receipt_each(ctx: pm.PaymentContext) -> None:
    ctx2 = pm.PaymentContext.build(
        LOOKUPS, ctx.mappings, customers={"7": "C-7"}, documents=DOCS, banks={"BOA-US-CHK": ""}
    )
    record = _pay([("Invoice", "1", "10.00"), ("Invoice", "3", "20.00")], "30.00")
    record["CurrencyRef"] = {"value": "GBP"}
    record["ExchangeRate"] = Decimal("1.25")
    pay = pm.map_payment(record, ctx2)
    assert pay.hold is None
    assert [r.entity for r in pay.receipts] == ["UK", "US"]
    uk, us = pay.receipts
    assert "EXCHANGE_RATE" not in uk.body  # GBP in the GBP entity
    assert us.body["EXCHANGE_RATE"] == "1.250000"  # the payment's own rate into USD
    steps, writes = pm.plan([pay], [], links={}, pending={}, now=NOW, pending_hours=72, today="2026-10-30")
    assert steps[0].reason == "split_by_entity"
    assert [w["entity"] for w in writes] == ["UK", "US"]


def test_deposit_account_of_another_entity_is_held(ctx: pm.PaymentContext) -> None:
    pay = pm.map_payment(_pay([("Invoice", "3", "20.00")], "20.00", CurrencyRef={"value": "GBP"}), ctx)
    assert pay.hold is not None
    assert pay.hold.reason == "deposit_other_entity"
    assert "Bank Accounts sheet" in pay.hold.detail
    assert "entity UK" in pay.hold.detail


def test_unmapped_payment_method_is_held_naming_the_sheet(ctx: pm.PaymentContext) -> None:
    pay = pm.map_payment(_pay([("Invoice", "1", "10.00")], "10.00", PaymentMethodRef={"value": "9"}), ctx)
    assert pay.hold is not None
    assert pay.hold.reason == "unmapped_payment_method"
    assert "'Barter'" in pay.hold.detail
    assert "Payment Methods sheet" in pay.hold.detail


def test_invoice_not_in_intacct_waits_then_becomes_a_review_item(ctx: pm.PaymentContext) -> None:
    pay = pm.map_payment(_pay([("Invoice", "77", "10.00")], "10.00"), ctx)
    assert pay.waiting is not None
    assert "invoice 77" in pay.waiting
    steps, writes = pm.plan([pay], [], links={}, pending={}, now=NOW, pending_hours=72, today="2026-10-30")
    assert (steps[0].action, steps[0].detail, writes) == ("pending", "", [])
    old = (NOW - dt.timedelta(hours=80)).isoformat()
    steps, _ = pm.plan([pay], [], links={}, pending={pay.source_id: old}, now=NOW, pending_hours=72, today="x")
    assert steps[0].pending_since == old
    assert "not in Intacct yet" in steps[0].detail


def test_total_that_does_not_add_up_is_held(ctx: pm.PaymentContext) -> None:
    pay = pm.map_payment(_pay([("Invoice", "1", "10.00")], "15.00"), ctx)
    assert pay.hold is not None
    assert pay.hold.reason == "total_mismatch"


def _link(pay: pm.MappedPayment, state: str = "posted") -> Any:
    receipts = [{"record_no": "900", "entity": "US", "state": state, "key": "k"}]
    return SimpleNamespace(
        target_key=pay.number, target_hashes={"content": pay.content, "receipts": json.dumps(receipts)}
    )


def test_plan_unchanged_writes_nothing_and_keys_are_deterministic(ctx: pm.PaymentContext) -> None:
    record = _pay([("Invoice", "1", "250.00")], "250.00")
    pay = pm.map_payment(record, ctx)
    assert pay.receipts[0].key == pm.map_payment(record, ctx).receipts[0].key
    steps, writes = pm.plan([pay], [], links={pay.source_id: _link(pay)}, pending={}, now=NOW, pending_hours=72,
                            today="2026-10-30")  # fmt: skip
    assert (steps[0].reason, writes) == ("unchanged", [])


def test_void_and_delete_reverse_and_an_edit_replaces(ctx: pm.PaymentContext) -> None:
    record = _pay([("Invoice", "1", "250.00")], "250.00")
    pay = pm.map_payment(record, ctx)
    link = _link(pay)
    voided = pm.map_payment({**record, "TotalAmt": 0, "Line": [], "PrivateNote": "Voided"}, ctx)
    steps, writes = pm.plan([voided], [], links={pay.source_id: link}, pending={}, now=NOW, pending_hours=72,
                            today="2026-10-30")  # fmt: skip
    assert steps[0].action == "reverse"
    assert [(w["operation"], w["body"]["@key"]) for w in writes] == [("reverse_arpayment", "900")]
    steps, writes = pm.plan([], [{"id": "50", "deleted_at": "2026-10-29T10:00:00"}], links={pay.source_id: link},
                            pending={}, now=NOW, pending_hours=72, today="2026-10-30")  # fmt: skip
    assert (steps[0].reason, [w["operation"] for w in writes]) == ("deleted_in_quickbooks", ["reverse_arpayment"])
    edited = pm.map_payment(_pay([("Invoice", "1", "200.00")], "200.00"), ctx)
    steps, writes = pm.plan([edited], [], links={pay.source_id: link}, pending={}, now=NOW, pending_hours=72,
                            today="2026-10-30")  # fmt: skip
    assert steps[0].action == "replace"
    assert [w["operation"] for w in writes] == ["reverse_arpayment", "create"]
    reversed_link = _link(pay, state="reversed")
    steps, writes = pm.plan([voided], [], links={pay.source_id: reversed_link}, pending={}, now=NOW,
                            pending_hours=72, today="2026-10-30")  # fmt: skip
    assert (steps[0].reason, writes) == ("already_reversed", [])


def _receipt(**extra: Any) -> dict[str, Any]:
    return {"RECORDNO": "800", "STATE": "Complete", "CUSTOMERID": "C-7", "DOCNUMBER": "WIRE-1", "CURRENCY": "USD",
            "BASECURR": "USD", "RECEIPTDATE": "10/31/2026", "PAYMENTMETHOD": "ACH", "FINANCIALENTITY": "BOA-US-CHK",
            "ARPYMTDETAILS": {"arpymtdetail": {"RECORDKEY": "101", "TRX_PAYMENTAMOUNT": "250.00"}},
            **extra}  # fmt: skip


def _back(ctx: pm.PaymentContext, record: dict[str, Any]) -> pm.BackPayment:
    return pm.map_intacct_payment(
        record,
        invoices={"101": "1", "102": "2"},
        customers={"C-7": "7"},
        mappings=ctx.mappings,
        methods={"ACH": "1", "Check": "2"},
        accounts={"Checking": "35", "Undeposited Funds": "4"},
        home_currency="USD",
        home_rate=ctx.docs.home_rate,
    )


def test_intacct_receipt_against_a_synced_invoice_becomes_a_quickbooks_payment(ctx: pm.PaymentContext) -> None:
    back = _back(ctx, _receipt())
    assert back.skip is None
    assert back.hold is None
    assert back.body["Line"] == [{"Amount": Decimal("250.00"), "LinkedTxn": [{"TxnId": "1", "TxnType": "Invoice"}]}]
    assert back.body["TotalAmt"] == Decimal("250.00")
    assert back.body["TxnDate"] == "2026-10-31"
    assert back.body["PaymentMethodRef"] == {"value": "1"}
    assert back.body["DepositToAccountRef"] == {"value": "35"}
    assert back.body["PrivateNote"] == "Intacct AR payment 800"
    _, writes = pm.plan_back([back], links={})
    assert [(w["operation"], w["object"]) for w in writes] == [("create", "Payment")]
    assert pm.plan_back([back], links={back.source_id: object()})[1] == []  # brought back once only


def test_no_ping_pong_and_nothing_guessed_back(ctx: pm.PaymentContext) -> None:
    assert _back(ctx, _receipt(DESCRIPTION="QBO Payment 50")).skip == "written_by_sync"
    other = {"arpymtdetail": {"RECORDKEY": "555", "TRX_PAYMENTAMOUNT": "1.00"}}
    assert _back(ctx, _receipt(ARPYMTDETAILS=other)).skip == "not_a_synced_invoice"
    credit = {"arpymtdetail": {"RECORDKEY": "101", "ADJUSTMENTKEY": "9", "TRX_ADJUSTMENTAMOUNT": "5.00"}}
    assert _back(ctx, _receipt(ARPYMTDETAILS=credit)).hold.reason == "credit_back_not_supported"
    assert _back(ctx, _receipt(PAYMENTMETHOD="Cash")).hold.reason == "unmapped_payment_method"
    own = pm.map_payment({**_pay([("Invoice", "1", "1.00")], "1.00"), "PrivateNote": "Intacct AR payment 800"}, ctx)
    steps, writes = pm.plan([own], [], links={}, pending={}, now=NOW, pending_hours=72, today="2026-10-30")
    assert (steps[0].reason, writes) == ("written_by_sync", [])


def test_bad_values_are_held_naming_the_field(ctx: pm.PaymentContext) -> None:
    words = pm.map_payment(_pay([("Invoice", "1", "1.00")], "1.00", TotalAmt="one dollar"), ctx)
    assert words.hold is not None
    assert "TotalAmt" in words.hold.detail
    typo = pm.map_payment(_pay([("Invoice", "1", "1.00")], "1.00", TxnDate="0026-10-20"), ctx)
    assert typo.hold is not None
    assert typo.hold.reason == "date_out_of_range"


def test_a_receipt_brought_back_and_reversed_in_intacct_voids_the_quickbooks_payment(ctx: pm.PaymentContext) -> None:
    back = _back(ctx, _receipt(STATE="Reversed"))
    assert back.reversed
    link = SimpleNamespace(target_id="Payment:61", target_hashes={"state": "posted"})
    _, writes = pm.plan_back([back], links={back.source_id: link}, sync_tokens={"61": "3"})
    assert [(w["operation"], w["body"]) for w in writes] == [("void", {"Id": "61", "SyncToken": "3"})]
    voided = SimpleNamespace(target_id="Payment:61", target_hashes={"state": "voided"})
    assert pm.plan_back([back], links={back.source_id: voided}, sync_tokens={"61": "4"})[1] == []
    steps, writes = pm.plan_back([back], links={back.source_id: link}, sync_tokens={})
    assert (steps[0].reason, writes) == ("missing_in_quickbooks", [])
