"""QuickBooks sandbox: the places it used to differ from the real API (issue 11), checked with the
public python-quickbooks client unchanged where the issue asks for it, and over raw HTTP otherwise.

- queries on properties Intuit does not document as filterable are refused (4001), as in the
  captured answers of quickbooks-ruby#403 (Vendor PrimaryEmailAddr) and the .NET SDK#163 (AcctNum);
- ``SELECT *, Sku FROM Item`` (python-quickbooks' ``Item.all()``) is accepted;
- a sparse save that sends ``DisplayName: ""`` keeps the name;
- real records' fields (Level, APAccountRef, LinkedTxn, PrintStatus, ...) are present;
- journal-entry lines on A/R or A/P need a customer or vendor (6000, Intuit's wording).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException, ValidationException
from quickbooks.objects.base import Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.item import Item
from quickbooks.objects.journalentry import JournalEntry, JournalEntryLine, JournalEntryLineDetail
from quickbooks.objects.vendor import Vendor

from include.sandbox.qbo.testing import QboClient


@pytest.fixture
def qb(qbo_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> QuickBooks:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback only
    info = qbo_sandbox.info
    grant = requests.post(f"{qbo_sandbox.admin}/qbo/authorize", json={}, timeout=10).json()
    auth = AuthClient(
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        redirect_uri="http://127.0.0.1/callback",
        environment=info["discovery_url"],
    )
    client = QuickBooks(
        auth_client=auth, refresh_token=grant["refresh_token"], company_id=grant["realm_id"], minorversion=75
    )
    client.api_url_v3 = info["base_url"]
    return client


@pytest.fixture
def qbo(qbo_sandbox: Any) -> QboClient:
    return QboClient(qbo_sandbox.info).authorize()


def _vendor(qb: QuickBooks, name: str) -> Vendor:
    vendor = Vendor()
    vendor.DisplayName = name
    return vendor.save(qb=qb)


# ---------------------------------------------------------------------------- 1. query validation


def test_sdk_filter_on_a_non_filterable_vendor_property_is_refused_as_intuit_refuses_it(qb: QuickBooks) -> None:
    _vendor(qb, "Bob's Burger Joint")
    with pytest.raises(ValidationException) as refused:
        Vendor.filter(PrimaryEmailAddr="ap@bobs.example", qb=qb)
    assert refused.value.error_code == 4001
    assert refused.value.detail == "QueryValidationError: property 'PrimaryEmailAddr' is not queryable"
    with pytest.raises(ValidationException, match="Invalid query"):
        Vendor.filter(AcctNum="CUST-889", qb=qb)
    assert [v.DisplayName for v in Vendor.filter(DisplayName="Bob's Burger Joint", qb=qb)] == ["Bob's Burger Joint"]


def test_sdk_filter_on_customer_acctnum_or_a_misspelt_property_is_refused(qb: QuickBooks) -> None:
    for bad in ({"AcctNum": "A-1"}, {"DisplayNme": "x"}):
        with pytest.raises(ValidationException) as refused:
            Customer.filter(qb=qb, **bad)
        assert refused.value.error_code == 4001
        assert f"property '{next(iter(bad))}' is not queryable" in refused.value.detail


def test_orderby_on_a_property_that_is_not_sortable_is_refused(qbo: QboClient) -> None:
    response = qbo.call("GET", "query", params={"query": "SELECT * FROM Invoice ORDERBY Line"})
    fault = qbo.fault(response)
    assert (response.status_code, fault["code"]) == (400, "4001")
    assert "property 'Line' is not sortable" in fault["Detail"]
    ok = qbo.query("SELECT * FROM Invoice WHERE TxnDate >= '2024-01-01' ORDERBY MetaData.LastUpdatedTime DESC")
    assert ok == {}


# ------------------------------------------------------------------------------- 2. Item.all()


def test_sdk_item_all_sends_select_star_sku_and_gets_the_items(qb: QuickBooks) -> None:
    assert [item.Name for item in Item.all(qb=qb)] == ["Services"]
    assert Item.count(qb=qb) == 1


# ------------------------------------------------------------------- 4. sparse save keeps the name


def test_sdk_sparse_save_without_display_name_keeps_it(qb: QuickBooks) -> None:
    customer = Customer()
    customer.DisplayName = "Mark Cho"
    customer.CompanyName = "Cho Landscaping"
    customer.GivenName = "Mark"
    created = customer.save(qb=qb)
    patch = Customer()  # a fresh object: python-quickbooks sends DisplayName "" and every other field
    patch.Id, patch.SyncToken, patch.sparse = created.Id, created.SyncToken, True
    patch.Notes = "prefers email"
    saved = patch.save(qb=qb)
    assert (saved.DisplayName, saved.Notes) == ("Mark Cho", "prefers email")  # not renamed to its CompanyName
    assert Customer.get(created.Id, qb=qb).DisplayName == "Mark Cho"


# ------------------------------------------------------------- 8. A/R and A/P journal lines need a name


def _journal(lines: list[tuple[str, str, str | None]]) -> JournalEntry:
    entry = JournalEntry()
    for account_id, posting, customer_id in lines:
        line = JournalEntryLine()
        line.Amount = Decimal("125.00")
        line.JournalEntryLineDetail = JournalEntryLineDetail()
        line.JournalEntryLineDetail.PostingType = posting
        line.JournalEntryLineDetail.AccountRef = Ref()
        line.JournalEntryLineDetail.AccountRef.value = account_id
        if customer_id is not None:
            line.JournalEntryLineDetail.Entity = {"Type": "Customer", "EntityRef": {"value": customer_id}}
        entry.Line.append(line)
    return entry


def test_sdk_journal_entry_on_accounts_receivable_needs_a_customer(qb: QuickBooks, qbo: QboClient) -> None:
    accounts = {a["AccountType"]: a["Id"] for a in qbo.query("SELECT * FROM Account")["Account"]}
    receivable, income = accounts["Accounts Receivable"], accounts["Income"]
    with pytest.raises(QuickbooksException) as refused:
        _journal([(receivable, "Debit", None), (income, "Credit", None)]).save(qb=qb)
    assert refused.value.error_code == 6000
    assert "When you use Accounts Receivable, you must choose a customer in the Name field" in refused.value.detail
    customer = qbo.customer("Amy's Bird Sanctuary")
    saved = _journal([(receivable, "Debit", customer["Id"]), (income, "Credit", None)]).save(qb=qb)
    assert saved.Line[0].JournalEntryLineDetail.Entity.EntityRef.value == customer["Id"]


def test_journal_entry_on_accounts_payable_needs_a_vendor(qbo: QboClient) -> None:
    accounts = {a["AccountType"]: a["Id"] for a in qbo.query("SELECT * FROM Account")["Account"]}
    lines = [
        {
            "Amount": "40.00",
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": side, "AccountRef": {"value": accounts[kind]}},
        }
        for side, kind in (("Debit", "Expense"), ("Credit", "Accounts Payable"))
    ]
    response = qbo.call("POST", "journalentry", body={"Line": lines})
    fault = qbo.fault(response)
    assert fault["code"] == "6000"
    assert "When you use Accounts Payable, you must select a vendor in the Name field" in fault["Detail"]
    vendor = qbo.vendor("Hall Properties")
    lines[1]["JournalEntryLineDetail"]["Entity"] = {"Type": "Vendor", "EntityRef": {"value": vendor["Id"]}}
    entry = qbo.create("JournalEntry", {"Line": lines})
    assert entry["TxnTaxDetail"] == {}


# ------------------------------------------------------------------ 7. fields real records carry


def test_records_carry_the_fields_real_ones_do(qbo: QboClient) -> None:
    parent = qbo.customer("Freeman Sporting Goods", BillAddr={"Line1": "370 Easy St", "City": "Middlefield"})
    child = qbo.customer("0969 Ocean View Road", ParentRef={"value": parent["Id"]})
    assert (child["Level"], child["ParentRef"]["name"], child["Job"]) == (1, "Freeman Sporting Goods", True)
    assert "Level" not in parent
    assert parent["BillAddr"]["Id"]
    assert parent["PreferredDeliveryMethod"] == "Print"

    invoice = qbo.invoice(parent["Id"], "291.00", TxnDate="2024-02-18")
    assert (invoice["LinkedTxn"], invoice["PrintStatus"], invoice["EmailStatus"]) == ([], "NotSet", "NotSet")
    assert invoice["ApplyTaxAfterDiscount"] is False
    assert invoice["DueDate"] == "2024-02-18"  # no terms and no company default: due on its date
    terms = {t["Name"]: t["Id"] for t in qbo.query("SELECT * FROM Term")["Term"]}
    prefs = qbo.ok("GET", "preferences")["Preferences"]
    default_terms = {"SalesFormsPrefs": {"DefaultTerms": {"value": terms["Net 30"]}}}
    qbo.ok("POST", "preferences", body={"Id": "1", "SyncToken": prefs["SyncToken"], "sparse": True, **default_terms})
    assert qbo.invoice(parent["Id"], "10.00", TxnDate="2024-02-18")["DueDate"] == "2024-03-19"

    vendor = qbo.vendor("Hall Properties")
    accounts = {a["AccountType"]: a for a in qbo.query("SELECT * FROM Account")["Account"]}
    bill = qbo.create(
        "Bill",
        {
            "VendorRef": {"value": vendor["Id"]},
            "TxnDate": "2024-02-02",
            "Line": [
                {
                    "Amount": "900.00",
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": accounts["Expense"]["Id"]}},
                }
            ],
        },
    )
    payable = accounts["Accounts Payable"]
    assert bill["APAccountRef"] == {"value": payable["Id"], "name": payable["Name"]}
    assert bill["LinkedTxn"] == []
    assert bill["DueDate"] == "2024-02-02"
    payment = qbo.create(
        "BillPayment",
        {
            "VendorRef": {"value": vendor["Id"]},
            "PayType": "Check",
            "TotalAmt": "900.00",
            "CheckPayment": {"BankAccountRef": {"value": accounts["Bank"]["Id"]}},
            "Line": [{"Amount": "900.00", "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}],
        },
    )
    assert payment["CheckPayment"]["PrintStatus"] == "NeedToPrint"
