"""Intacct sandbox: AR credit and debit memos (create/update/delete_aradjustment) and the AR payment
shapes the document flows need (I-ARADJ, I-ARP; api-facts-documents.md E1-E4).

- an ARADJUSTMENT exists only through the legacy functions; a negative line amount is a credit
  memo, a positive one a debit memo; the generic ``<create><ARADJUSTMENT>`` is refused;
- an ARPYMT detail pays an invoice (RECORDKEY) or a debit memo (POSADJKEY), with cash, a credit
  memo, an advance, an earlier overpayment (OVERPAYMENTKEY) or a discount;
- payments can be drafts (updated, then posted with ACTION Submit), carry PAYERNAME for several
  customers, and are undone with reverse_arpayment; apply_arpayment applies an open credit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from include.sandbox.intacct.testing import GatewayClient


@pytest.fixture
def client(intacct_sandbox: Any) -> GatewayClient:
    client = GatewayClient(intacct_sandbox.info)
    for customer_id in ("C1", "C2"):
        assert client.one("create", {"CUSTOMER": {"CUSTOMERID": customer_id, "NAME": customer_id}})["status"] == (
            "success"
        )
    return client


def _ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] == "success", result
    return result


def _errors(result: dict[str, Any]) -> list[str]:
    assert result["status"] == "failure", result
    return [e["description2"] for e in result["errormessage"]["error"]]


def _day(day: int, month: int = 2) -> dict[str, str]:
    return {"year": "2024", "month": f"{month:02d}", "day": f"{day:02d}"}


def _invoice(client: GatewayClient, amount: str, customer: str = "C1") -> str:
    body = {
        "customerid": customer,
        "datecreated": _day(1, 1),
        "termname": "N30",
        "invoiceitems": {"lineitem": [{"glaccountno": "40000", "amount": amount, "locationid": "US-SF"}]},
    }
    return _ok(client.one("create_invoice", body))["key"]


def _adjustment(client: GatewayClient, *amounts: str, customer: str = "C1", **extra: Any) -> dict[str, Any]:
    lines = [
        {"glaccountno": "49000", "amount": amount, "memo": "Pest control", "locationid": "US-SF"} for amount in amounts
    ]
    body = {"customerid": customer, "datecreated": _day(1), **extra, "aradjustmentitems": {"lineitem": lines}}
    return client.one("create_aradjustment", body)


def _read(client: GatewayClient, object_name: str, key: str) -> dict[str, Any]:
    return _ok(client.one("read", {"object": object_name, "keys": key, "fields": "*"}))["data"][object_name]


def _payment(client: GatewayClient, details: list[dict[str, Any]], **header: Any) -> dict[str, Any]:
    body = {
        "CUSTOMERID": "C1",
        "FINANCIALENTITY": "BOA-US",
        "PAYMENTMETHOD": "EFT",
        "RECEIPTDATE": "02/15/2024",
        **header,
        "ARPYMTDETAILS": {"ARPYMTDETAIL": details},
    }
    return client.one("create", {"ARPYMT": body})


def _recordno(result: dict[str, Any]) -> str:
    return _ok(result)["data"]["arpymt"]["RECORDNO"]


# ------------------------------------------------------------------------------- ARADJUSTMENT


def test_negative_lines_make_a_credit_memo_and_positive_lines_a_debit_memo(client: GatewayClient) -> None:
    credit = _read(client, "ARADJUSTMENT", _ok(_adjustment(client, "-100.00", "-20.50", adjustmentno="CM-1"))["key"])
    assert (credit["RECORDID"], credit["TOTALENTERED"], credit["TOTALDUE"], credit["STATE"]) == (
        "CM-1",
        "-120.50",
        "-120.50",
        "Posted",
    )
    assert [line["TRX_AMOUNT"] for line in credit["ARADJUSTMENTITEMS"]["aradjustmentitem"]] == ["-100.00", "-20.50"]
    debit = _read(client, "ARADJUSTMENT", _ok(_adjustment(client, "35.00"))["key"])
    assert (debit["TOTALENTERED"], debit["TOTALDUE"]) == ("35.00", "35.00")


def test_generic_create_and_update_of_aradjustment_are_refused(client: GatewayClient) -> None:
    body = {
        "ARADJUSTMENT": {
            "CUSTOMERID": "C1",
            "WHENCREATED": "02/01/2024",
            "ARADJUSTMENTITEMS": {"ARADJUSTMENTITEM": {"ACCOUNTNO": "49000", "TRX_AMOUNT": "-10", "LOCATIONID": "US"}},
        }
    }
    assert "use create_aradjustment" in _errors(client.one("create", body))[0]
    key = _ok(_adjustment(client, "-10.00"))["key"]
    update = {"ARADJUSTMENT": {"RECORDNO": key, "DESCRIPTION": "x"}}
    assert "use update_aradjustment" in _errors(client.one("update", update))[0]
    assert (
        "at least 1 line" in _errors(client.one("create_aradjustment", {"customerid": "C1", "datecreated": _day(1)}))[0]
    )


def test_update_aradjustment_changes_and_adds_lines_and_delete_removes_it(client: GatewayClient) -> None:
    key = _ok(_adjustment(client, "-100.00"))["key"]
    body = {
        "@key": key,
        "description": "corrected",
        "updatearadjustmentitems": {
            "updatelineitem": {"@line_num": "1", "amount": "-80.00"},
            "lineitem": {"glaccountno": "49000", "amount": "-5.00", "locationid": "US-SF"},
        },
    }
    _ok(client.one("update_aradjustment", body))
    memo = _read(client, "ARADJUSTMENT", key)
    assert (memo["DESCRIPTION"], memo["TOTALENTERED"]) == ("corrected", "-85.00")
    _ok(client.one("delete_aradjustment", {"@key": key}))
    assert client.one("read", {"object": "ARADJUSTMENT", "keys": key})["data"]["@count"] == "0"


def test_debit_memo_is_paid_through_posadjkey_and_a_credit_memo_pays_an_invoice(client: GatewayClient) -> None:
    debit = _ok(_adjustment(client, "35.00"))["key"]
    _recordno(_payment(client, [{"POSADJKEY": debit, "TRX_PAYMENTAMOUNT": "35.00"}]))
    assert (_read(client, "ARADJUSTMENT", debit)["TOTALDUE"], _read(client, "ARADJUSTMENT", debit)["STATE"]) == (
        "0.00",
        "Paid",
    )
    invoice = _invoice(client, "314.28")
    credit = _ok(_adjustment(client, "-100.00"))["key"]
    details = [
        {"RECORDKEY": invoice, "ADJUSTMENTKEY": credit, "TRX_ADJUSTMENTAMOUNT": "100.00"},
        {"RECORDKEY": invoice, "TRX_PAYMENTAMOUNT": "214.28"},
    ]
    payment = _read(client, "ARPYMT", _recordno(_payment(client, details)))
    assert payment["TOTALENTERED"] == "214.28"  # only the cash is money received
    assert _read(client, "ARINVOICE", invoice)["STATE"] == "Paid"
    assert _read(client, "ARADJUSTMENT", credit)["TOTALDUE"] == "0.00"
    # a debit memo is no credit
    other = _invoice(client, "50.00")
    refused = _payment(client, [{"RECORDKEY": other, "ADJUSTMENTKEY": debit, "TRX_ADJUSTMENTAMOUNT": "1.00"}])
    assert any("not an open credit" in text for text in _errors(refused))


# ------------------------------------------------------------------------------- AR payments


def test_an_earlier_overpayment_is_applied_with_overpaymentkey(client: GatewayClient) -> None:
    first, second = _invoice(client, "100.00"), _invoice(client, "40.00")
    over = _recordno(_payment(client, [{"RECORDKEY": first, "TRX_PAYMENTAMOUNT": "100.00"}], OVERPAYMENTAMOUNT="25.00"))
    assert _read(client, "ARPYMT", over)["TOTALDUE"] == "-25.00"
    details = [
        {"RECORDKEY": second, "OVERPAYMENTKEY": over, "TRX_POSTEDOVERPAYMENTAMOUNT": "25.00"},
        {"RECORDKEY": second, "TRX_PAYMENTAMOUNT": "15.00"},
    ]
    _recordno(_payment(client, details))
    assert _read(client, "ARINVOICE", second)["STATE"] == "Paid"
    assert _read(client, "ARPYMT", over)["TOTALDUE"] == "0.00"
    again = _payment(client, [{"RECORDKEY": first, "OVERPAYMENTKEY": over, "TRX_POSTEDOVERPAYMENTAMOUNT": "1.00"}])
    assert _errors(again)


def test_apply_arpayment_applies_an_overpayment_or_a_credit_memo_without_cash(client: GatewayClient) -> None:
    first, second = _invoice(client, "100.00"), _invoice(client, "60.00")
    over = _recordno(_payment(client, [{"RECORDKEY": first, "TRX_PAYMENTAMOUNT": "100.00"}], OVERPAYMENTAMOUNT="30.00"))
    credit = _ok(_adjustment(client, "-30.00"))["key"]
    items = {"arpaymentitem": {"invoicekey": second, "amount": "30.00"}}
    applied = _ok(
        client.one("apply_arpayment", {"arpaymentkey": over, "paymentdate": _day(20), "arpaymentitems": items})
    )
    record = _read(client, "ARPYMT", applied["key"])
    assert (record["RECORDTYPE"], record["TOTALENTERED"], record["STATE"]) == ("ro", "0.00", "Complete")
    assert _read(client, "ARINVOICE", second)["TOTALDUE"] == "30.00"
    assert over != credit  # AR documents share one RECORDNO sequence, as in Intacct
    _ok(client.one("apply_arpayment", {"arpaymentkey": credit, "paymentdate": _day(21), "arpaymentitems": items}))
    assert _read(client, "ARINVOICE", second)["STATE"] == "Paid"


def test_draft_payment_applies_nothing_until_submitted(client: GatewayClient) -> None:
    invoice = _invoice(client, "80.00")
    draft = _recordno(_payment(client, [{"RECORDKEY": invoice, "TRX_PAYMENTAMOUNT": "30.00"}], ACTION="Draft"))
    assert _read(client, "ARPYMT", draft)["STATE"] == "Draft"
    assert _read(client, "ARINVOICE", invoice)["TOTALDUE"] == "80.00"
    details = {"ARPYMTDETAIL": {"RECORDKEY": invoice, "TRX_PAYMENTAMOUNT": "50.00"}}
    _ok(client.one("update", {"ARPYMT": {"RECORDNO": draft, "ARPYMTDETAILS": details}}))
    assert _read(client, "ARINVOICE", invoice)["TOTALDUE"] == "80.00"
    _ok(client.one("update", {"ARPYMT": {"RECORDNO": draft, "ACTION": "Submit"}}))
    assert (_read(client, "ARINVOICE", invoice)["TOTALDUE"], _read(client, "ARPYMT", draft)["STATE"]) == (
        "30.00",
        "Complete",
    )
    refused = client.one("update", {"ARPYMT": {"RECORDNO": draft, "DESCRIPTION": "late"}})
    assert "Only a draft" in _errors(refused)[0]
    other = _recordno(_payment(client, [{"RECORDKEY": invoice, "TRX_PAYMENTAMOUNT": "1.00"}], ACTION="Draft"))
    _ok(client.one("delete", {"object": "ARPYMT", "keys": other}))


def test_payername_pays_invoices_of_several_customers_and_discounts_close_them(client: GatewayClient) -> None:
    first, second = _invoice(client, "100.00", "C1"), _invoice(client, "50.00", "C2")
    details = [
        {"RECORDKEY": first, "TRX_PAYMENTAMOUNT": "98.00", "TRX_TOTALDISCOUNTTOAPPLY": "2.00"},
        {"RECORDKEY": second, "TRX_PAYMENTAMOUNT": "50.00"},
    ]
    payment = _read(client, "ARPYMT", _recordno(_payment(client, details, CUSTOMERID=None, PAYERNAME="Holding Group")))
    assert (payment["PAYERNAME"], payment["TOTALENTERED"]) == ("Holding Group", "148.00")
    assert [_read(client, "ARINVOICE", key)["STATE"] for key in (first, second)] == ["Paid", "Paid"]


def test_reverse_arpayment_refuses_a_payment_whose_overpayment_is_in_use(client: GatewayClient) -> None:
    first, second = _invoice(client, "10.00"), _invoice(client, "5.00")
    over = _recordno(_payment(client, [{"RECORDKEY": first, "TRX_PAYMENTAMOUNT": "10.00"}], OVERPAYMENTAMOUNT="5.00"))
    use = _recordno(
        _payment(client, [{"RECORDKEY": second, "OVERPAYMENTKEY": over, "TRX_POSTEDOVERPAYMENTAMOUNT": "5.00"}])
    )
    refused = client.one("reverse_arpayment", {"@key": over, "datereversed": _day(28)})
    assert any("applied to other documents" in text for text in _errors(refused))
    _ok(client.one("reverse_arpayment", {"@key": use, "datereversed": _day(28)}))
    _ok(client.one("reverse_arpayment", {"@key": over, "datereversed": _day(28)}))
    assert [_read(client, "ARINVOICE", key)["TOTALDUE"] for key in (first, second)] == ["10.00", "5.00"]


# ------------------------------------------------------------------------------ get_trialbalance


def _trial_balance(client: GatewayClient, **extra: Any) -> dict[str, Any]:
    body = {"startdate": _day(1, 1), "enddate": _day(29, 2), **extra}
    return client.one("get_trialbalance", body)


def test_get_trialbalance_sums_the_posted_documents_per_account(client: GatewayClient) -> None:
    invoice = _invoice(client, "100.00")
    _recordno(_payment(client, [{"RECORDKEY": invoice, "TRX_PAYMENTAMOUNT": "40.00"}]))
    _ok(_adjustment(client, "-10.00"))
    _payment(client, [{"RECORDKEY": invoice, "TRX_PAYMENTAMOUNT": "5.00"}], ACTION="Draft")  # posts nothing
    entry = {
        "JOURNAL": "GJ",
        "BATCH_DATE": "02/29/2024",
        "BATCH_TITLE": "Accrual",
        "ENTRIES": {
            "GLENTRY": [
                {"ACCOUNTNO": "60000", "TR_TYPE": "1", "TRX_AMOUNT": "250.00", "LOCATION": "US"},
                {"ACCOUNTNO": "21000", "TR_TYPE": "-1", "TRX_AMOUNT": "250.00", "LOCATION": "US"},
            ]
        },
    }
    _ok(client.one("create", {"GLBATCH": entry}))
    refused = _trial_balance(client)  # US, UK and CA have different base currencies
    assert "locationid is required" in _errors(refused)[0]
    data = _ok(_trial_balance(client, locationid="US"))["data"]
    rows = {row["glaccountno"]: row for row in data["trialbalance"]}
    assert {k: rows["11000"][k] for k in ("startbalance", "debits", "credits", "endbalance", "currency")} == {
        "startbalance": "0.00",
        "debits": "100.00",
        "credits": "50.00",
        "endbalance": "50.00",
        "currency": "USD",
    }
    assert (rows["40000"]["credits"], rows["49000"]["debits"], rows["10100"]["debits"]) == ("100.00", "10.00", "40.00")
    assert (rows["60000"]["endbalance"], rows["21000"]["endbalance"]) == ("250.00", "-250.00")
    debits = sum(Decimal(r["debits"]) for r in rows.values())
    credits = sum(Decimal(r["credits"]) for r in rows.values())
    assert debits == credits == Decimal("400.00")
    february = _ok(_trial_balance(client, locationid="US", startdate=_day(1, 2)))["data"]
    feb = {row["glaccountno"]: row for row in february["trialbalance"]}
    assert (feb["11000"]["startbalance"], feb["11000"]["endbalance"]) == ("100.00", "50.00")
    balances = client.one(
        "get_accountbalances",
        {"startdate": _day(1, 2), "enddate": _day(29, 2), "glaccountno": "11000", "locationid": "US"},
    )
    balance = _ok(balances)["data"]["accountbalance"]  # one account: one element
    assert (balance["startbalance"], balance["periodbalance"], balance["endbalance"]) == ("100.00", "-50.00", "50.00")


# ---------------------------------------------------------------------------- create_apadjustment


def test_create_apadjustment_debit_memo_pays_a_bill_through_a_credit_only_payment(client: GatewayClient) -> None:
    _ok(client.one("create", {"VENDOR": {"VENDORID": "V1", "NAME": "Hall Properties"}}))
    bill = {
        "VENDORID": "V1",
        "WHENCREATED": "01/15/2024",
        "TERMNAME": "N30",
        "APBILLITEMS": {"APBILLITEM": {"ACCOUNTNO": "60000", "TRX_AMOUNT": "900.00", "LOCATIONID": "US-SF"}},
    }
    bill_no = _ok(client.one("create", {"APBILL": bill}))["data"]["apbill"]["RECORDNO"]
    lines = {"lineitem": {"glaccountno": "60000", "amount": "-150.00", "memo": "Rent credit", "locationid": "US-SF"}}
    body = {"vendorid": "V1", "datecreated": _day(1), "adjustmentno": "VC-1", "apadjustmentitems": lines}
    memo_no = _ok(client.one("create_apadjustment", body))["key"]
    assert memo_no != bill_no  # AP documents share one RECORDNO sequence too
    memo = _read(client, "APADJUSTMENT", memo_no)
    assert (memo["RECORDID"], memo["TOTALENTERED"], memo["TOTALDUE"]) == ("VC-1", "-150.00", "-150.00")
    generic = client.one("create", {"APADJUSTMENT": {"VENDORID": "V1", "WHENCREATED": "02/01/2024"}})
    assert "use create_apadjustment" in _errors(generic)[0]
    payment = {
        "VENDORID": "V1",
        "PAYMENTDATE": "02/10/2024",
        "APPYMTDETAILS": {
            "APPYMTDETAIL": {"RECORDKEY": bill_no, "ADJUSTMENTKEY": memo_no, "TRX_ADJUSTMENTAMOUNT": "150.00"}
        },
    }
    _ok(client.one("create", {"APPYMT": payment}))  # credit-only: no FINANCIALENTITY, no PAYMENTMETHOD (I-APP)
    assert (_read(client, "APBILL", bill_no)["TOTALDUE"], _read(client, "APADJUSTMENT", memo_no)["TOTALDUE"]) == (
        "750.00",
        "0.00",
    )
    rows = {r["glaccountno"]: r for r in _ok(_trial_balance(client, locationid="US"))["data"]["trialbalance"]}
    assert (rows["20000"]["endbalance"], rows["60000"]["endbalance"]) == ("-750.00", "750.00")
