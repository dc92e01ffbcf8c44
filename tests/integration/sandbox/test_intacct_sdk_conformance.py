"""Intacct sandbox conformance: the public client ``sageintacctsdk`` (test-only) works against it unchanged.

The SDK hard-codes the production URL in a name-mangled attribute of every ApiBase instance
(api-facts.md Part C2), so the tests rewrite ``_ApiBase__api_url`` on each one. Nothing else about
the SDK is patched: envelopes, parsing and error mapping are its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from sageintacctsdk import SageIntacctSDK
from sageintacctsdk.apis import ApiBase
from sageintacctsdk.exceptions import InvalidTokenError, WrongParamsError

from include.sandbox.intacct.testing import GatewayClient


def _point_at_sandbox(sdk: SageIntacctSDK, endpoint_url: str) -> None:
    for value in vars(sdk).values():
        if isinstance(value, ApiBase):
            value._ApiBase__api_url = endpoint_url  # type: ignore[attr-defined]


@pytest.fixture
def sdk(intacct_sandbox: Any) -> SageIntacctSDK:
    info = intacct_sandbox.info
    session_id = GatewayClient(info).session()
    client = SageIntacctSDK(
        sender_id=info["sender_id"],
        sender_password=info["sender_password"],
        user_id=info["user_id"],
        company_id=info["company_id"],
        user_password=info["user_password"],
        session_id=session_id,
        show_private=True,
    )
    _point_at_sandbox(client, info["endpoint_url"])
    return client


def test_sdk_gets_a_session_from_the_sandbox(sdk: SageIntacctSDK, intacct_sandbox: Any) -> None:
    info = intacct_sandbox.info
    session_id = sdk.api_base.get_session_id(info["user_id"], info["company_id"], info["user_password"], "US")
    sdk.customers.set_session_id(session_id)
    assert sdk.customers.get(field="CUSTOMERID", value="none")["@count"] == "0"


def test_sdk_login_with_a_wrong_password_raises_its_auth_error(sdk: SageIntacctSDK, intacct_sandbox: Any) -> None:
    info = intacct_sandbox.info
    sdk.api_base.set_session_id("expired-session")
    with pytest.raises(InvalidTokenError):
        sdk.api_base.format_and_send_request({"readByQuery": {"object": "CLASS", "fields": "*", "query": None}})
    with pytest.raises(Exception, match="Sign-in"):
        sdk.api_base.get_session_id(info["user_id"], info["company_id"], "wrong")


def test_sdk_creates_updates_and_reads_customers(sdk: SageIntacctSDK) -> None:
    created = sdk.customers.post({"CUSTOMERID": "SDK-1", "NAME": 'O\'Brien & Sons <Ltd> "Intl"', "TERMNAME": "N30"})
    assert created["status"] == "success"
    sdk.customers.update({"CUSTOMERID": "SDK-1", "DISPLAYCONTACT": {"EMAIL1": "ar@obrien.example"}})
    found = sdk.customers.get(field="CUSTOMERID", value="SDK-1")
    assert found["customer"]["NAME"] == 'O\'Brien & Sons <Ltd> "Intl"'
    assert found["customer"]["DISPLAYCONTACT"]["EMAIL1"] == "ar@obrien.example"


def test_sdk_get_all_pages_through_every_customer(sdk: SageIntacctSDK) -> None:
    for i in range(5):
        sdk.customers.post({"CUSTOMERID": f"SDK-{i}", "NAME": f"Customer {i}"})
    rows = sdk.customers.get_all()
    assert sorted(r["CUSTOMERID"] for r in rows) == [f"SDK-{i}" for i in range(5)]


def test_sdk_query_with_filters(sdk: SageIntacctSDK) -> None:
    for i in range(3):
        sdk.vendors.post({"VENDORID": f"V-{i}", "NAME": f"Vendor {i}"})
    rows = sdk.vendors.get_by_query(fields=["VENDORID", "NAME"], and_filter=[("equalto", "VENDORID", "V-1")])
    assert rows == [{"VENDORID": "V-1", "NAME": "Vendor 1"}]


def test_sdk_creates_and_updates_vendors_and_bills(sdk: SageIntacctSDK) -> None:
    sdk.vendors.post({"VENDORID": "V-SDK", "NAME": "Supplies", "TERMNAME": "N30"})
    sdk.vendors.update({"VENDORID": "V-SDK", "NAME": "Supplies Inc"})
    bill = {
        "WHENCREATED": "01/15/2024",
        "VENDORID": "V-SDK",
        "RECORDID": "BILL-1",
        "TERMNAME": "N30",
        "APBILLITEMS": {"APBILLITEM": [{"ACCOUNTNO": "60000", "TRX_AMOUNT": "900.00", "LOCATIONID": "US-SF"}]},
    }
    recordno = sdk.bills.post(bill)["data"]["apbill"]["RECORDNO"]
    sdk.bills.update({"RECORDNO": recordno, "DESCRIPTION": "January lease"})
    rows = sdk.bills.get_all(fields=["RECORDNO", "TOTALDUE", "STATE", "DESCRIPTION", "MEGAENTITYID"])
    assert rows == [
        {
            "RECORDNO": recordno,
            "TOTALDUE": "900.00",
            "STATE": "Posted",
            "DESCRIPTION": "January lease",
            "MEGAENTITYID": "US",
        }
    ]
    assert sdk.vendors.get(field="VENDORID", value="V-SDK")["VENDOR"][0]["NAME"] == "Supplies Inc"  # via query


def test_sdk_posts_journal_entries(sdk: SageIntacctSDK) -> None:
    entry = {
        "JOURNAL": "GJ",
        "BATCH_DATE": "01/31/2024",
        "BATCH_TITLE": "Accrual",
        "ENTRIES": {
            "GLENTRY": [
                {"ACCOUNTNO": "60000", "TR_TYPE": 1, "TRX_AMOUNT": "250.00", "LOCATION": "UK"},
                {"ACCOUNTNO": "21000", "TR_TYPE": -1, "TRX_AMOUNT": "250.00", "LOCATION": "UK"},
            ]
        },
    }
    assert sdk.journal_entries.post(entry)["status"] == "success"
    rows = sdk.journal_entries.get_all(fields=["RECORDNO", "BATCH_TITLE", "STATE", "MEGAENTITYID"])
    assert [(r["BATCH_TITLE"], r["STATE"], r["MEGAENTITYID"]) for r in rows] == [("Accrual", "Posted", "UK")]


def test_sdk_surfaces_business_errors(sdk: SageIntacctSDK) -> None:
    sdk.customers.post({"CUSTOMERID": "DUP", "NAME": "once"})
    with pytest.raises(WrongParamsError) as raised:
        sdk.customers.post({"CUSTOMERID": "DUP", "NAME": "twice"})
    assert raised.value.response["error"][0]["errorno"] == "BL34000061"


def test_sdk_creates_ar_invoices_with_the_legacy_function(sdk: SageIntacctSDK) -> None:
    sdk.customers.post({"CUSTOMERID": "C-INV", "NAME": "Invoice Co"})
    created = sdk.ar_invoices.post(
        {
            "customerid": "C-INV",
            "datecreated": {"year": "2024", "month": "03", "day": "01"},
            "termname": "N30",
            "invoiceno": "INV-9",
            "invoiceitems": {"lineitem": [{"glaccountno": "40000", "amount": "42.00", "locationid": "CA"}]},
        }
    )
    rows = sdk.ar_invoices.get_all(fields=["RECORDNO", "RECORDID", "TOTALDUE", "BASECURR"])
    assert rows == [{"RECORDNO": created["key"], "RECORDID": "INV-9", "TOTALDUE": "42.00", "BASECURR": "CAD"}]
