"""The invoices flow's accounting and the document engine's plan, on plain records (no DAG, no HTTP).

The DAG story (tests/dags/test_invoices_dag.py) shows the same end to end on the demo books; these
pin each rule on one document, in milliseconds.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from qbo_intacct.flows import invoices as inv
from qbo_intacct.flows.documents import compare_status, plan
from qbo_intacct.flows.runtime import content_key
from qbo_intacct.mappings.loader import load_mappings

DEMO_WORKBOOK = Path(__file__).resolve().parents[3] / "include" / "mappings" / "qbo_intacct_mappings.xlsx"
NOW = dt.datetime(2026, 10, 30, 12, tzinfo=dt.UTC)
LOOKUPS: dict[str, list[dict[str, Any]]] = {
    "Item": [
        {"Id": "3", "Name": "Implementation", "IncomeAccountRef": {"value": "17"}},
        {"Id": "9", "Name": "Grant", "IncomeAccountRef": {"value": "23"}},
    ],
    "Account": [
        {"Id": "17", "FullyQualifiedName": "Sales:Implementation Services"},
        {"Id": "21", "FullyQualifiedName": "Discounts given"},
        {"Id": "23", "FullyQualifiedName": "Other Income:Grant Income"},
    ],
    "TaxCode": [{"Id": "3", "Name": "New York"}],
    "Term": [{"Id": "2", "Name": "Net 15"}],
    "Class": [{"Id": "4", "FullyQualifiedName": "Services:Implementation"}],
    "Department": [{"Id": "1", "FullyQualifiedName": "Boston"}, {"Id": "3", "FullyQualifiedName": "London"}],
    "ExchangeRate": [
        {"SourceCurrencyCode": "GBP", "TargetCurrencyCode": "USD", "Rate": "1.2500", "AsOfDate": "2026-10-01"},
        {"SourceCurrencyCode": "EUR", "TargetCurrencyCode": "USD", "Rate": "1.1000", "AsOfDate": "2026-10-01"},
    ],
}


@pytest.fixture(scope="module")
def ctx() -> inv.DocContext:
    return inv.DocContext.build(LOOKUPS, load_mappings(DEMO_WORKBOOK), customers={"7": "C-7"})


def _line(amount: str, item: str = "3", **detail: Any) -> dict[str, Any]:
    return {"Amount": Decimal(amount), "DetailType": "SalesItemLineDetail", "Description": "Setup",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": 1, "UnitPrice": Decimal(amount),
                                    "ClassRef": {"value": "4"}, **detail}}  # fmt: skip


def _invoice(qbo_id: str = "1", total: str = "100.00", lines: list | None = None, **extra: Any) -> dict[str, Any]:
    return {"Id": qbo_id, "DocNumber": f"10{qbo_id}", "TxnDate": "2026-10-20", "DueDate": "2026-11-04",
            "CustomerRef": {"value": "7", "name": "Alder"}, "CurrencyRef": {"value": "USD"}, "ExchangeRate": 1,
            "DepartmentRef": {"value": "1"}, "SalesTermRef": {"value": "2"}, "TotalAmt": Decimal(total),
            "Balance": Decimal(total), "Line": lines if lines is not None else [_line(total)], **extra}  # fmt: skip


def test_sales_discount_bundle_tax_and_subtotal_lines(ctx: inv.DocContext) -> None:
    lines = [
        _line("200.00"),
        {"DetailType": "GroupLineDetail", "GroupLineDetail": {"GroupItemRef": {"name": "Starter kit"},
                                                              "Line": [_line("50.00"), _line("25.00")]}},
        {"Amount": Decimal("275.00"), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
        {"Amount": Decimal("27.50"), "DetailType": "DiscountLineDetail",
         "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10, "DiscountAccountRef": {"value": "21"}}},
    ]  # fmt: skip
    record = _invoice(total="269.47", lines=lines, TxnTaxDetail={"TxnTaxCodeRef": {"value": "3"}, "TotalTax": "21.97"})
    doc = inv.map_document(inv.INVOICE, record, ctx)
    assert doc.hold is None
    assert [(x["glaccountno"], x["amount"]) for x in doc.lines] == [
        ("40100", Decimal("200.00")), ("40100", Decimal("50.00")), ("40100", Decimal("25.00")),
        ("40900", Decimal("-27.50")), ("22000", Decimal("21.97")),
    ]  # fmt: skip
    assert doc.lines[1]["memo"].startswith("[Starter kit] Setup qty 1")
    assert doc.lines[0]["locationid"] == "US-BOS"
    assert doc.lines[0]["classid"] == "IMPL"
    name, body = inv.create_function(doc)
    assert (name, body["invoiceno"], body["termname"]) == ("create_invoice", "101", "N15")
    assert body["externalid"] == "qbo:Invoice:1"
    assert "exchrate" not in {k for k, v in body.items() if v is not None}


def test_unmapped_income_account_holds_naming_line_and_account(ctx: inv.DocContext) -> None:
    doc = inv.map_document(inv.INVOICE, _invoice(lines=[_line("60.00"), _line("40.00", item="9")]), ctx)
    assert doc.hold is not None
    assert doc.hold.reason == "unmapped_account"
    assert "line 2" in doc.hold.detail
    assert "Other Income:Grant Income" in doc.hold.detail


def test_foreign_currency_uses_the_documents_own_rate_into_the_entity_base(ctx: inv.DocContext) -> None:
    eur_in_uk = _invoice(CurrencyRef={"value": "EUR"}, ExchangeRate=Decimal("1.0852"), DepartmentRef={"value": "3"},
                         lines=[_line("100.00", ClassRef={"value": "4"})])  # fmt: skip
    doc = inv.map_document(inv.INVOICE, eur_in_uk, ctx)
    assert doc.hold is None
    assert doc.entity == "UK"
    assert doc.header["basecurr"] == "GBP"
    assert doc.header["exchrate"] == "0.868160"  # 1.0852 / 1.25
    chf = inv.map_document(inv.INVOICE, _invoice(CurrencyRef={"value": "CHF"}), ctx)
    assert chf.hold is not None
    assert chf.hold.reason == "currency_not_enabled"


def test_credit_memo_lines_are_credits(ctx: inv.DocContext) -> None:
    doc = inv.map_document(inv.CREDIT_MEMO, {**_invoice(), "DocNumber": "CM-1", "RemainingCredit": 0}, ctx)
    name, body = inv.create_function(doc)
    assert name == "create_aradjustment"
    assert body["adjustmentno"] == "CM-1"
    assert [x["amount"] for x in body["aradjustmentitems"]["lineitem"]] == [Decimal("-100.00")]


def _link(doc: inv.MappedDocument, record_no: str = "55", **hashes: str) -> Any:
    _, body = inv.create_function(doc)
    base = {"content": content_key(body), "record_no": record_no, "doc_number": doc.doc_number, "lines": "1",
            "state": "posted", "entity": "US"}  # fmt: skip
    return SimpleNamespace(source_id=doc.source_id, target_id=f"ARINVOICE:{record_no}",
                           target_hashes={**base, **hashes})  # fmt: skip


def _plan(docs: list, intacct: list | None = None, links: dict | None = None, pending: dict | None = None, gone=()):
    spec = inv.SPEC
    return plan(spec, docs=docs, gone=list(gone), intacct={"ARINVOICE": intacct or []}, links=links or {},
                pending=pending or {}, now=NOW, pending_hours=72)  # fmt: skip


def test_new_unchanged_edited_and_paid_documents(ctx: inv.DocContext) -> None:
    doc = inv.map_document(inv.INVOICE, _invoice(), ctx)
    steps, writes = _plan([doc])
    assert (steps[0].action, writes[0]["operation"]) == ("create", "create_invoice")
    link = _link(doc)
    assert _plan([doc], links={doc.source_id: link})[0][0].reason == "unchanged"
    edited = inv.map_document(inv.INVOICE, _invoice(total="120.00"), ctx)
    open_row = {"RECORDNO": "55", "RECORDID": "101", "STATE": "Posted", "TRX_TOTALPAID": "0"}
    steps, writes = _plan([edited], [open_row], {doc.source_id: link})
    assert steps[0].action == "update"
    assert writes[0]["body"]["@key"] == "55"
    assert writes[0]["body"]["updateinvoiceitems"]["updatelineitem"][0]["@line_num"] == "1"
    paid = {**open_row, "STATE": "Partially Paid", "TRX_TOTALPAID": "30.00"}
    steps, writes = _plan([edited], [paid], {doc.source_id: link})
    assert (steps[0].action, steps[0].reason, writes) == ("review", "edited_after_payment", [])


def test_number_clash_is_held_and_own_document_is_linked_not_created_twice(ctx: inv.DocContext) -> None:
    doc = inv.map_document(inv.INVOICE, _invoice(), ctx)
    theirs = {"RECORDNO": "9", "RECORDID": "101", "EXTERNALID": None, "TRX_TOTALENTERED": "5.00", "CURRENCY": "USD"}
    steps, writes = _plan([doc], [theirs])
    assert (steps[0].action, steps[0].reason, writes) == ("review", "doc_number_clash", [])
    ours = {**theirs, "RECORDNO": "10", "EXTERNALID": "qbo:Invoice:1", "TRX_TOTALENTERED": "100.00"}
    steps, writes = _plan([doc], [ours])
    assert (steps[0].action, steps[0].record_no, writes) == ("link", "10", [])


def test_unlinked_customer_waits_then_becomes_a_review_item(ctx: inv.DocContext) -> None:
    doc = inv.map_document(inv.INVOICE, _invoice(CustomerRef={"value": "8", "name": "Birch"}), ctx)
    (step,), writes = _plan([doc])
    assert (step.action, step.pending_since, step.detail, writes) == ("pending", NOW.isoformat(), "", [])
    chf = inv.map_document(inv.INVOICE, _invoice("3", CustomerRef={"value": "8"}, CurrencyRef={"value": "CHF"}), ctx)
    assert _plan([chf])[0][0].reason == "currency_not_enabled"  # what no customer link can fix is held now
    (old,), _ = _plan([doc], pending={doc.source_id: "2026-10-20T00:00:00+00:00"})
    assert old.action == "pending"
    assert "Birch" in old.detail


def test_void_reverses_once_and_zero_invoice_is_skipped(ctx: inv.DocContext) -> None:
    doc = inv.map_document(inv.INVOICE, _invoice(), ctx)
    voided = inv.map_document(inv.INVOICE, _invoice(total="0.00", PrivateNote="Voided"), ctx)
    steps, writes = _plan([voided], [{"RECORDNO": "55", "TRX_TOTALPAID": "0"}], {doc.source_id: _link(doc)})
    assert steps[0].action == "reverse"
    assert writes[0]["operation"] == "reverse_invoice"
    again = _link(doc, state="reversed")
    assert _plan([voided], links={doc.source_id: again})[0][0].reason == "already_reversed"
    zero = inv.map_document(inv.INVOICE, _invoice("2", total="0.00", lines=[_line("0.00")]), ctx)
    assert _plan([zero])[0][0].reason == "zero_amount"


def test_status_compared_both_ways(ctx: inv.DocContext) -> None:
    doc = inv.map_document(inv.INVOICE, _invoice(Balance=Decimal("0.00")), ctx)
    row = {"RECORDNO": "55", "STATE": "Posted", "TRX_TOTALENTERED": "100.00", "TRX_TOTALDUE": "100.00"}
    (diff,) = compare_status([doc], {"ARINVOICE": [row]}, {doc.source_id: _link(doc)})
    assert (diff["qbo_status"], diff["intacct_status"]) == ("paid", "open")
    settled = {**row, "STATE": "Paid", "TRX_TOTALDUE": "0.00"}
    assert compare_status([doc], {"ARINVOICE": [settled]}, {doc.source_id: _link(doc)}) == []


def test_an_intacct_change_that_is_the_syncs_own_write_is_not_read_again() -> None:
    from qbo_intacct.flows.documents import _own_write

    link = SimpleNamespace(synced_at=dt.datetime(2026, 10, 30, 12, 0, 0, tzinfo=dt.UTC))
    assert _own_write({"WHENMODIFIED": "2026-10-30T12:00:03+00:00"}, link)
    assert not _own_write({"WHENMODIFIED": dt.datetime(2026, 10, 30, 13, 0, tzinfo=dt.UTC)}, link)  # a payment later


def test_a_write_intacct_refused_is_not_sent_again_until_the_document_changes(ctx: inv.DocContext) -> None:
    doc = inv.map_document(inv.INVOICE, _invoice(), ctx)
    _, body = inv.create_function(doc)
    refused = {doc.source_id: ("closed_period", content_key(body), "the period is closed")}
    steps, writes = plan(inv.SPEC, docs=[doc], gone=[], intacct={}, links={}, pending={}, now=NOW,
                         pending_hours=72, refused=refused)  # fmt: skip
    assert (steps[0].action, steps[0].reason, writes) == ("review", "closed_period", [])
    changed = inv.map_document(inv.INVOICE, _invoice(total="90.00"), ctx)
    steps, writes = plan(inv.SPEC, docs=[changed], gone=[], intacct={}, links={}, pending={}, now=NOW,
                         pending_hours=72, refused=refused)  # fmt: skip
    assert steps[0].action == "create"
