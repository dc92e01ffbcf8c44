"""Intacct sandbox: the places it used to differ from the real gateway (issue 11), checked with the
public sageintacctsdk client unchanged (pointed at the sandbox as in test_intacct_sdk_conformance).

- ``query`` with a field the object does not document fails with XL03000006 "The following
  fields cannot be queried" (the answer shown in intacct-sdk-js#83), in select, filter and order;
- a control-level error carries its text in ``<description2>``, where the SDK reads it;
- amounts with more than two decimals are rounded to cents, not refused;
- ``lookup`` and the query aggregates (count, sum, min, max, avg) answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from sageintacctsdk import SageIntacctSDK
from sageintacctsdk.apis import ApiBase
from sageintacctsdk.exceptions import WrongParamsError

from include.sandbox.intacct.testing import GatewayClient


def _point_at_sandbox(sdk: SageIntacctSDK, endpoint_url: str) -> None:
    for value in vars(sdk).values():
        if isinstance(value, ApiBase):
            value._ApiBase__api_url = endpoint_url  # type: ignore[attr-defined]


def _sdk(info: dict[str, Any], **overrides: str) -> SageIntacctSDK:
    client = SageIntacctSDK(
        sender_id=info["sender_id"],
        sender_password=overrides.get("sender_password", info["sender_password"]),
        user_id=info["user_id"],
        company_id=info["company_id"],
        user_password=info["user_password"],
        session_id=GatewayClient(info).session(),
        show_private=True,
    )
    _point_at_sandbox(client, info["endpoint_url"])
    return client


@pytest.fixture
def sdk(intacct_sandbox: Any) -> SageIntacctSDK:
    return _sdk(intacct_sandbox.info)


def _first_error(raised: pytest.ExceptionInfo[WrongParamsError]) -> dict[str, Any]:
    return raised.value.response["error"][0]


# ------------------------------------------------------------------------------ 1. query fields


def test_sdk_query_with_an_undocumented_field_fails_as_intacct_fails_it(sdk: SageIntacctSDK) -> None:
    sdk.vendors.post({"VENDORID": "V-1", "NAME": "Acme Supplies", "VENDORACCOUNTNO": "ACCT-9"})
    with pytest.raises(WrongParamsError) as raised:
        sdk.vendors.get_by_query(fields=["VENDORID", "EMAIL1"], and_filter=[("equalto", "VENDORID", "V-1")])
    error = _first_error(raised)
    assert error["errorno"] == "XL03000006"
    assert error["description2"] == "The following fields cannot be queried: [ vendor: [EMAIL1] ]"
    with pytest.raises(WrongParamsError, match="Error during query"):
        sdk.vendors.get_by_query(fields=["VENDORID"], and_filter=[("equalto", "VENDOR_ID", "V-1")])
    rows = sdk.vendors.get_by_query(
        fields=["VENDORID", "VENDORACCOUNTNO", "DISPLAYCONTACT.EMAIL1"], and_filter=[("equalto", "VENDORID", "V-1")]
    )
    assert rows == [{"VENDORID": "V-1", "VENDORACCOUNTNO": "ACCT-9", "DISPLAYCONTACT.EMAIL1": None}]


def test_query_order_and_related_fields_are_checked_too(intacct_sandbox: Any) -> None:
    client = GatewayClient(intacct_sandbox.info)
    body = {"object": "APBILL", "select": {"field": ["RECORDNO", "VENDOR.CREDITLIMIT"]}}
    assert client.one("query", body)["status"] == "success"  # I-QRY's own dot-notation example
    bad_order = {**body, "orderby": {"order": {"field": "WHENMODIFED", "ascending": None}}}
    result = client.one("query", bad_order)
    assert result["errormessage"]["error"][0]["errorno"] == "XL03000006"
    assert "apbill: [WHENMODIFED]" in result["errormessage"]["error"][0]["description2"]
    misspelt = client.one("readByQuery", {"object": "CUSTOMER", "fields": "CUSTOMERID,NAEM", "query": None})
    assert misspelt["errormessage"]["error"][0]["errorno"] == "XL03000006"


# ------------------------------------------------------------------------- 3. control errors text


def test_sdk_reads_the_wrong_sender_password_text(intacct_sandbox: Any) -> None:
    sdk = _sdk(intacct_sandbox.info, sender_password="not-the-password")
    with pytest.raises(WrongParamsError) as raised:
        sdk.customers.get_all()
    error = _first_error(raised)
    assert (error["errorno"], error["description2"]) == (
        "XL03000006",
        "Incorrect Intacct XML Partner ID or password.",
    )


def test_xml_parse_error_text_is_in_description2(intacct_sandbox: Any) -> None:
    client = GatewayClient(intacct_sandbox.info)
    parsed = client.parse(client.post_raw(b"<request><control>"))
    [error] = parsed["errormessage"]["error"]
    assert error["errorno"] == "XL03000003"
    assert error["description2"].startswith("XML Parse schema error")
    assert error["description"] is None


# ---------------------------------------------------------------------------- 5. amount rounding


def test_sdk_amounts_with_more_than_two_decimals_are_rounded_to_cents(sdk: SageIntacctSDK) -> None:
    sdk.vendors.post({"VENDORID": "V-R", "NAME": "Rounding Co"})
    bill = {
        "WHENCREATED": "01/15/2024",
        "VENDORID": "V-R",
        "TERMNAME": "N30",
        "APBILLITEMS": {
            "APBILLITEM": [
                {"ACCOUNTNO": "60000", "TRX_AMOUNT": "10.005", "LOCATIONID": "US-SF"},
                {"ACCOUNTNO": "61000", "TRX_AMOUNT": "1.994", "LOCATIONID": "US-SF"},
            ]
        },
    }
    recordno = sdk.bills.post(bill)["data"]["apbill"]["RECORDNO"]
    [row] = sdk.bills.get_by_query(fields=["RECORDNO", "TOTALENTERED"], and_filter=[("equalto", "RECORDNO", recordno)])
    assert row["TOTALENTERED"] == "12.00"  # 10.01 + 1.99: each line rounded half-up, then summed


# -------------------------------------------------------------------------- 6. lookup, aggregates


def test_sdk_lookup_lists_the_object_definition(sdk: SageIntacctSDK) -> None:
    response = sdk.api_base.format_and_send_request({"lookup": {"object": "VENDOR"}})
    definition = response["data"]["Type"]
    assert definition["@Name"] == "VENDOR"
    ids = [f["ID"] for f in definition["Fields"]["Field"]]
    assert ids[0] == "RECORDNO"
    assert {"VENDORID", "NAME", "TERMNAME", "TAXID", "FORM1099TYPE", "VENDORACCOUNTNO", "DISPLAYCONTACT.EMAIL1"} <= set(
        ids
    )


def test_sdk_query_aggregates_count_and_sum_without_reading_every_record(sdk: SageIntacctSDK) -> None:
    sdk.vendors.post({"VENDORID": "V-A", "NAME": "Aggregates Co"})
    for amount, location in (("100.10", "US-SF"), ("200.20", "US-SF"), ("50.00", "UK-LON")):
        sdk.bills.post(
            {
                "WHENCREATED": "02/01/2024",
                "VENDORID": "V-A",
                "TERMNAME": "N30",
                "APBILLITEMS": {"APBILLITEM": [{"ACCOUNTNO": "60000", "TRX_AMOUNT": amount, "LOCATIONID": location}]},
            }
        )
    query = {
        "object": "APBILL",
        "select": {"field": "MEGAENTITYID", "count": "RECORDNO", "sum": "TRX_TOTALDUE", "max": "TRX_TOTALENTERED"},
        "orderby": {"order": {"field": "MEGAENTITYID", "ascending": None}},
        "options": {"showprivate": "true"},
    }
    data = sdk.api_base.format_and_send_request({"query": query})["data"]
    assert data["@totalcount"] == "2"
    rows = {row["MEGAENTITYID"]: row for row in data["APBILL"]}
    assert (rows["US"]["COUNT.RECORDNO"], rows["US"]["SUM.TRX_TOTALDUE"], rows["US"]["MAX.TRX_TOTALENTERED"]) == (
        "2",
        "300.30",
        "200.20",
    )
    assert (rows["UK"]["COUNT.RECORDNO"], rows["UK"]["SUM.TRX_TOTALDUE"]) == ("1", "50.00")
    total = sdk.api_base.format_and_send_request(
        {"query": {"object": "APBILL", "select": {"count": "RECORDNO"}, "options": {"showprivate": "true"}}}
    )
    assert total["data"]["APBILL"]["COUNT.RECORDNO"] == "3"


def test_every_served_object_has_a_field_catalogue_covering_the_sdk_field_lists() -> None:
    """sageintacctsdk's get_all sends its constants' field lists to ``query``: they are real fields."""
    from sageintacctsdk.apis.constants import dimensions_fields_mapping

    from include.sandbox.intacct import fields
    from include.sandbox.intacct.state import SPECS

    assert set(SPECS) <= set(fields.QUERYABLE)
    served = {name: names for name, names in dimensions_fields_mapping.items() if name in SPECS}
    assert served
    assert {name: fields.not_queryable(name, names) for name, names in served.items()} == {key: [] for key in served}
