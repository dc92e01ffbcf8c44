"""Intacct sandbox: entities, validation like the real gateway, and the derived fields of documents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from include.sandbox.intacct.testing import GatewayClient


@pytest.fixture
def client(intacct_sandbox: Any) -> Iterator[GatewayClient]:
    client = GatewayClient(intacct_sandbox.info)
    assert (
        client.one("create", {"CUSTOMER": {"CUSTOMERID": "C1", "NAME": "Acme", "TERMNAME": "N30"}})["status"]
        == "success"
    )
    assert client.one("create", {"VENDOR": {"VENDORID": "V1", "NAME": "Supplies Ltd"}})["status"] == "success"
    yield client
    intacct_sandbox.configure(books_closed_through=None, ap_approval=False)


def _errors(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["errorno"], e["description2"]) for e in result["errormessage"]["error"]]


def _invoice(
    client: GatewayClient,
    amount: str,
    *,
    entity: str | None = None,
    location: str | None = "US-SF",
    currency: str | None = None,
    day: str = "15",
) -> dict[str, Any]:
    line: dict[str, Any] = {"glaccountno": "40000", "amount": amount}
    if location:
        line["locationid"] = location
    body: dict[str, Any] = {
        "customerid": "C1",
        "datecreated": {"year": "2024", "month": "01", "day": day},
        "termname": "N30",
        "invoiceno": "INV-" + amount,
    }
    if currency:
        body["currency"] = currency
    body["invoiceitems"] = {"lineitem": [line]}
    return client.one("create_invoice", body, entity=entity)


def _read(client: GatewayClient, object_name: str, recordno: str) -> dict[str, Any]:
    result = client.one("read", {"object": object_name, "keys": recordno, "fields": "*"})
    return result["data"][object_name]


def _pay(client: GatewayClient, details: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {
        "CUSTOMERID": "C1",
        "FINANCIALENTITY": "BOA-US",
        "PAYMENTMETHOD": "EFT",
        "RECEIPTDATE": "02/01/2024",
        "ARPYMTDETAILS": {"ARPYMTDETAIL": details},
        **extra,
    }
    return client.one("create", {"ARPYMT": body})


# ---------------------------------------------------------------- entities
def test_location_entities_carry_their_base_currencies(client: GatewayClient) -> None:
    result = client.one("query", {"object": "LOCATIONENTITY", "select": {"field": ["LOCATIONID", "CURRENCY"]}})
    assert [(r["LOCATIONID"], r["CURRENCY"]) for r in result["data"]["LOCATIONENTITY"]] == [
        ("US", "USD"),
        ("UK", "GBP"),
        ("CA", "CAD"),
    ]


def test_entity_session_sees_only_its_entitys_records(client: GatewayClient) -> None:
    uk = client.session("UK")
    us = client.session("US")
    assert (
        client.one("create", {"CUSTOMER": {"CUSTOMERID": "C-UK", "NAME": "Brit"}}, session_id=uk)["status"] == "success"
    )
    by_uk = client.one(
        "query",
        {
            "object": "CUSTOMER",
            "select": {"field": ["CUSTOMERID", "MEGAENTITYID"]},
            "filter": {"equalto": {"field": "CUSTOMERID", "value": "C-UK"}},
        },
        session_id=uk,
    )
    by_us = client.one(
        "readByQuery", {"object": "CUSTOMER", "fields": "CUSTOMERID", "query": "CUSTOMERID = 'C-UK'"}, session_id=us
    )
    assert by_uk["data"]["CUSTOMER"]["MEGAENTITYID"] == "UK"
    assert by_us["data"]["@count"] == "0"


def test_entity_session_cannot_post_to_another_entitys_location(client: GatewayClient) -> None:
    result = _invoice(client, "10.00", entity="UK", location="US-SF")
    assert result["status"] == "failure"
    assert "Location 'US-SF'" in _errors(result)[0][1]


def test_entity_invoice_is_in_the_entity_base_currency(client: GatewayClient) -> None:
    result = _invoice(client, "10.00", entity="UK", location=None)
    invoice = _read(client, "ARINVOICE", result["key"])
    assert (invoice["MEGAENTITYID"], invoice["BASECURR"], invoice["CURRENCY"]) == ("UK", "GBP", "GBP")


def test_top_level_transaction_needs_locationid_on_every_line(client: GatewayClient) -> None:
    result = _invoice(client, "10.00", location=None)
    assert result["status"] == "failure"
    assert "LOCATIONID is required on line 1" in _errors(result)[0][1]


def test_top_level_transaction_belongs_to_the_entity_of_its_lines(client: GatewayClient) -> None:
    result = _invoice(client, "10.00", location="CA-TOR")
    assert _read(client, "ARINVOICE", result["key"])["MEGAENTITYID"] == "CA"


def test_top_level_query_needs_showprivate_for_entity_records(client: GatewayClient) -> None:
    _invoice(client, "10.00")
    body = {"object": "ARINVOICE", "select": {"field": "RECORDNO"}}
    assert client.one("query", body)["data"]["@totalcount"] == "0"
    assert client.one("query", {**body, "options": {"showprivate": "true"}})["data"]["@totalcount"] == "1"


# ---------------------------------------------------------------- validation
def test_duplicate_id_fails_with_bl34000061_then_bl01001973(client: GatewayClient) -> None:
    result = client.one("create", {"CUSTOMER": {"CUSTOMERID": "C1", "NAME": "Again"}})
    assert [e[0] for e in _errors(result)] == ["BL34000061", "BL01001973"]
    assert result["data"]["@count"] == "0"


def test_missing_required_field_is_named(client: GatewayClient) -> None:
    result = client.one("create", {"VENDOR": {"VENDORID": "V2"}})
    assert _errors(result)[0] == ("BL01001973", "Required field NAME is missing.")


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("VENDORID", "NOPE", "Vendor"),
        ("TERMNAME", "N999", "Term"),
        ("ACCOUNTNO", "99999", "GL account"),
        ("LOCATIONID", "MARS", "Location"),
        ("DEPARTMENTID", "NODEPT", "Department"),
        ("CLASSID", "NOCLASS", "Class"),
    ],
)
def test_unknown_references_are_refused(client: GatewayClient, field: str, value: str, what: str) -> None:
    line = {"ACCOUNTNO": "60000", "TRX_AMOUNT": "10.00", "LOCATIONID": "US-SF"}
    bill = {"VENDORID": "V1", "WHENCREATED": "01/15/2024", "TERMNAME": "N30"}
    (line if field in line or field in ("DEPARTMENTID", "CLASSID") else bill)[field] = value
    result = client.one("create", {"APBILL": {**bill, "APBILLITEMS": {"APBILLITEM": line}}})
    assert result["status"] == "failure"
    assert f"Invalid {what} '{value}'" in _errors(result)[0][1]


def test_unknown_customer_on_an_invoice_is_refused(client: GatewayClient) -> None:
    result = client.one(
        "create_invoice",
        {
            "customerid": "NOBODY",
            "datecreated": {"year": "2024", "month": "1", "day": "2"},
            "termname": "N30",
            "invoiceitems": {"lineitem": {"glaccountno": "40000", "amount": "1", "locationid": "US-SF"}},
        },
    )
    assert "Invalid Customer 'NOBODY'" in _errors(result)[0][1]


def test_bad_dates_are_refused(client: GatewayClient) -> None:
    result = _invoice(client, "10.00", day="32")
    assert result["status"] == "failure"
    assert "Invalid date" in _errors(result)[0][1]


def test_unbalanced_journal_entry_is_refused(client: GatewayClient) -> None:
    entries = [
        {"ACCOUNTNO": "60000", "TR_TYPE": "1", "TRX_AMOUNT": "100.00", "LOCATION": "US"},
        {"ACCOUNTNO": "10100", "TR_TYPE": "-1", "TRX_AMOUNT": "99.99", "LOCATION": "US"},
    ]
    batch = {"JOURNAL": "GJ", "BATCH_DATE": "01/31/2024", "BATCH_TITLE": "Rent", "ENTRIES": {"GLENTRY": entries}}
    result = client.one("create", {"GLBATCH": batch})
    assert "not balanced" in _errors(result)[0][1]


def test_balanced_draft_journal_entry_posts_as_draft(client: GatewayClient) -> None:
    entries = [
        {"ACCOUNTNO": "60000", "TR_TYPE": "1", "TRX_AMOUNT": "100.00", "LOCATION": "US"},
        {"ACCOUNTNO": "10100", "TR_TYPE": "-1", "TRX_AMOUNT": "100.00", "LOCATION": "US"},
    ]
    batch = {
        "JOURNAL": "GJ",
        "BATCH_DATE": "01/31/2024",
        "BATCH_TITLE": "Rent",
        "STATE": "Draft",
        "ENTRIES": {"GLENTRY": entries},
    }
    result = client.one("create", {"GLBATCH": batch})
    assert _read(client, "GLBATCH", result["data"]["glbatch"]["RECORDNO"])["STATE"] == "Draft"


def test_closed_period_refuses_postings(client: GatewayClient, intacct_sandbox: Any) -> None:
    intacct_sandbox.configure(books_closed_through="2024-01-31")
    result = _invoice(client, "10.00")
    assert "is closed" in _errors(result)[0][1]


def test_vendor_ach_fields_round_trip_and_bad_routing_is_refused(client: GatewayClient) -> None:
    ach = {
        "VENDORID": "V-ACH",
        "NAME": "Ach Co",
        "ACHENABLED": "true",
        "ACHBANKROUTINGNUMBER": "021000021",
        "ACHACCOUNTNUMBER": "000123456789",
        "ACHACCOUNTTYPE": "Checking Account",
        "ACHREMITTANCETYPE": "CCD",
    }
    assert client.one("create", {"VENDOR": ach})["status"] == "success"
    read = client.one(
        "readByName", {"object": "VENDOR", "keys": "V-ACH", "fields": "ACHBANKROUTINGNUMBER,ACHACCOUNTNUMBER"}
    )
    assert read["data"]["VENDOR"]["ACHACCOUNTNUMBER"] == "000123456789"
    bad = client.one("create", {"VENDOR": {**ach, "VENDORID": "V-BAD", "ACHBANKROUTINGNUMBER": "12"}})
    assert "ACHBANKROUTINGNUMBER" in _errors(bad)[0][1]


# ---------------------------------------------------------------- derived fields
def test_payment_keeps_invoice_totals_and_state_true(client: GatewayClient) -> None:
    key = _invoice(client, "100.00")["key"]
    assert _pay(client, [{"RECORDKEY": key, "TRX_PAYMENTAMOUNT": "40.00"}])["status"] == "success"
    invoice = _read(client, "ARINVOICE", key)
    assert (invoice["TOTALENTERED"], invoice["TOTALPAID"], invoice["TOTALDUE"], invoice["STATE"]) == (
        "100.00",
        "40.00",
        "60.00",
        "Partially Paid",
    )


def _adjustment(client: GatewayClient, *amounts: str, **extra: Any) -> str:
    lines = [{"glaccountno": "49000", "amount": amount, "locationid": "US-SF"} for amount in amounts]
    body = {
        "customerid": "C1",
        "datecreated": {"year": "2024", "month": "01", "day": "20"},
        **extra,
        "aradjustmentitems": {"lineitem": lines},
    }
    result = client.one("create_aradjustment", body)
    assert result["status"] == "success", result
    return result["key"]


def test_credit_memo_applied_through_a_payment_settles_the_invoice(client: GatewayClient) -> None:
    key = _invoice(client, "100.00")["key"]
    memo_no = _adjustment(client, "-100.00", adjustmentno="CM-1")
    assert (
        _pay(client, [{"RECORDKEY": key, "ADJUSTMENTKEY": memo_no, "TRX_ADJUSTMENTAMOUNT": "100.00"}])["status"]
        == "success"
    )
    invoice, credit = _read(client, "ARINVOICE", key), _read(client, "ARADJUSTMENT", memo_no)
    assert (invoice["TOTALDUE"], invoice["STATE"]) == ("0.00", "Paid")
    assert (credit["TOTALENTERED"], credit["TOTALDUE"], credit["RECORDID"]) == ("-100.00", "0.00", "CM-1")


def test_advance_applied_to_an_invoice(client: GatewayClient) -> None:
    key = _invoice(client, "50.00")["key"]
    advance = client.one(
        "create",
        {
            "ARADVANCE": {
                "CUSTOMERID": "C1",
                "FINANCIALENTITY": "BOA-US",
                "PAYMENTMETHOD": "EFT",
                "RECEIPTDATE": "01/02/2024",
                "ARADVANCEITEMS": {"ARADVANCEITEM": {"TRX_AMOUNT": "80.00", "LOCATIONID": "US"}},
            }
        },
    )
    adv_no = advance["data"]["aradvance"]["RECORDNO"]
    _pay(client, [{"RECORDKEY": key, "ADVANCEKEY": adv_no, "TRX_POSTEDADVANCEAMOUNT": "50.00"}])
    assert _read(client, "ARINVOICE", key)["STATE"] == "Paid"
    assert _read(client, "ARADVANCE", adv_no)["TOTALDUE"] == "-30.00"


def test_overpayment_is_kept_as_unapplied_credit(client: GatewayClient) -> None:
    key = _invoice(client, "100.00")["key"]
    result = _pay(client, [{"RECORDKEY": key, "TRX_PAYMENTAMOUNT": "100.00"}], OVERPAYMENTAMOUNT="25.00")
    payment = _read(client, "ARPYMT", result["data"]["arpymt"]["RECORDNO"])
    assert (payment["TOTALENTERED"], payment["TOTALDUE"]) == ("125.00", "-25.00")
    assert _read(client, "ARINVOICE", key)["STATE"] == "Paid"


def test_payment_above_the_amount_due_is_refused(client: GatewayClient) -> None:
    key = _invoice(client, "10.00")["key"]
    result = _pay(client, [{"RECORDKEY": key, "TRX_PAYMENTAMOUNT": "10.01"}])
    assert "exceeds" in _errors(result)[0][1]


def test_a_posted_payment_is_reversed_not_deleted_and_gives_the_amount_back(client: GatewayClient) -> None:
    key = _invoice(client, "100.00")["key"]
    payment = _pay(client, [{"RECORDKEY": key, "TRX_PAYMENTAMOUNT": "100.00"}])["data"]["arpymt"]["RECORDNO"]
    refused = client.one("delete", {"object": "ARPYMT", "keys": payment})
    assert "only drafts can be deleted" in _errors(refused)[0][1]
    reversed_ = client.one(
        "reverse_arpayment", {"@key": payment, "datereversed": {"year": "2024", "month": "02", "day": "02"}}
    )
    assert reversed_["status"] == "success", reversed_
    invoice = _read(client, "ARINVOICE", key)
    assert (invoice["TOTALDUE"], invoice["STATE"]) == ("100.00", "Posted")
    assert _read(client, "ARPYMT", payment)["STATE"] == "Reversed"


def test_foreign_currency_invoice_uses_the_exchange_rate_table(client: GatewayClient) -> None:
    invoice = _read(client, "ARINVOICE", _invoice(client, "100.00", currency="EUR")["key"])
    assert (invoice["TRX_TOTALENTERED"], invoice["TOTALENTERED"], invoice["EXCHANGE_RATE"]) == (
        "100.00",
        "108.50",
        "1.0850",
    )


def test_update_invoice_recomputes_totals(client: GatewayClient) -> None:
    key = _invoice(client, "100.00")["key"]
    body = {"@key": key, "updateinvoiceitems": {"updatelineitem": {"@line_num": "1", "amount": "120.00"}}}
    assert client.one("update_invoice", body)["status"] == "success"
    assert _read(client, "ARINVOICE", key)["TOTALDUE"] == "120.00"


def test_reverse_invoice_marks_the_original_reversed(client: GatewayClient) -> None:
    key = _invoice(client, "100.00")["key"]
    result = client.one("reverse_invoice", {"@key": key, "datereversed": {"year": "2024", "month": "02", "day": "01"}})
    reversal = _read(client, "ARINVOICE", result["key"])
    assert (_read(client, "ARINVOICE", key)["STATE"], reversal["STATE"], reversal["TOTALENTERED"]) == (
        "Reversed",
        "Reversal",
        "-100.00",
    )


def test_bill_states_draft_submitted_and_payment_to_paid(client: GatewayClient, intacct_sandbox: Any) -> None:
    def bill(action: str) -> str:
        body = {
            "VENDORID": "V1",
            "WHENCREATED": "01/15/2024",
            "TERMNAME": "N30",
            "ACTION": action,
            "APBILLITEMS": {"APBILLITEM": {"ACCOUNTNO": "60000", "TRX_AMOUNT": "900.00", "LOCATIONID": "US-NY"}},
        }
        return client.one("create", {"APBILL": body})["data"]["apbill"]["RECORDNO"]

    draft = bill("Draft")
    intacct_sandbox.configure(ap_approval=True)
    submitted = bill("Submit")
    intacct_sandbox.configure(ap_approval=False)
    posted = bill("Submit")
    pay = {
        "VENDORID": "V1",
        "FINANCIALENTITY": "BOA-US",
        "PAYMENTMETHOD": "ACH",
        "PAYMENTDATE": "02/01/2024",
        "APPYMTDETAILS": {"APPYMTDETAIL": {"RECORDKEY": posted, "TRX_PAYMENTAMOUNT": "900.00"}},
    }
    assert client.one("create", {"APPYMT": pay})["status"] == "success"
    refused = client.one(
        "create", {"APPYMT": {**pay, "APPYMTDETAILS": {"APPYMTDETAIL": {"RECORDKEY": draft, "TRX_PAYMENTAMOUNT": "1"}}}}
    )
    assert [_read(client, "APBILL", k)["STATE"] for k in (draft, submitted, posted)] == ["Draft", "Submitted", "Paid"]
    assert refused["status"] == "failure"


def test_whenmodified_is_company_local_time_without_offset(client: GatewayClient, intacct_sandbox: Any) -> None:
    now = datetime.fromisoformat(
        requests.post(f"{intacct_sandbox.admin}/clock", json={"advance_seconds": 0}, timeout=10).json()["now"]
    )
    client.one("update", {"CUSTOMER": {"CUSTOMERID": "C1", "NAME": "Acme Renamed"}})
    stamp = client.one("readByName", {"object": "CUSTOMER", "keys": "C1", "fields": "WHENMODIFIED"})["data"][
        "CUSTOMER"
    ]["WHENMODIFIED"]
    local = datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(tzinfo=ZoneInfo(intacct_sandbox.info["timezone"]))
    assert abs((local - now).total_seconds()) < 5


def test_update_by_id_changes_only_the_given_fields(client: GatewayClient) -> None:
    client.one("update", {"CUSTOMER": {"CUSTOMERID": "C1", "DISPLAYCONTACT": {"EMAIL1": "ar@acme.example"}}})
    data = client.one(
        "readByName", {"object": "CUSTOMER", "keys": "C1", "fields": "NAME,TERMNAME,DISPLAYCONTACT.EMAIL1"}
    )
    row = data["data"]["CUSTOMER"]
    assert (row["NAME"], row["TERMNAME"], row["DISPLAYCONTACT.EMAIL1"]) == ("Acme", "N30", "ar@acme.example")


def test_update_of_a_missing_record_fails(client: GatewayClient) -> None:
    result = client.one("update", {"CUSTOMER": {"CUSTOMERID": "C404", "NAME": "x"}})
    assert "non-existing CUSTOMER" in _errors(result)[0][1]


def test_money_is_exact_decimal_text(client: GatewayClient) -> None:
    key = _invoice(client, "0.10")["key"]
    _pay(client, [{"RECORDKEY": key, "TRX_PAYMENTAMOUNT": "0.07"}])
    assert Decimal(_read(client, "ARINVOICE", key)["TOTALDUE"]) == Decimal("0.03")
