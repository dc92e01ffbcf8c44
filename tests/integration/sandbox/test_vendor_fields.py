"""The vendor fields the vendors flow syncs, with the validation each sandbox applies (issue 10)."""

from __future__ import annotations

from typing import Any

import pytest

from include.sandbox.intacct.testing import GatewayClient
from include.sandbox.qbo.testing import QboClient


@pytest.fixture
def qbo(qbo_sandbox: Any) -> QboClient:
    return QboClient(qbo_sandbox.info).authorize()


@pytest.fixture
def intacct(intacct_sandbox: Any) -> GatewayClient:
    return GatewayClient(intacct_sandbox.info)


def test_quickbooks_vendor_keeps_1099_account_number_and_bank_details(qbo: QboClient) -> None:
    body = {"DisplayName": "Harbor Freight", "AcctNum": "ACC-77", "Vendor1099": True, "TaxIdentifier": "12-3456789",
            "PrintOnCheckName": "Harbor Freight LLC",
            "VendorPaymentBankDetail": {"BankBranchIdentifier": "021000021", "BankAccountNumber": "123456789012",
                                        "BankAccountName": "Harbor Freight"}}  # fmt: skip
    created = qbo.create("Vendor", body)
    read = qbo.get("Vendor", created["Id"])
    assert (read["AcctNum"], read["Vendor1099"], read["PrintOnCheckName"]) == ("ACC-77", True, "Harbor Freight LLC")
    assert read["VendorPaymentBankDetail"]["BankAccountNumber"] == "123456789012"


@pytest.mark.parametrize(
    ("detail", "problem"),
    [
        ({"BankBranchIdentifier": "12", "BankAccountNumber": "123456789"}, "BankBranchIdentifier"),
        ({"BankBranchIdentifier": "021000021", "BankAccountNumber": "12ab"}, "BankAccountNumber"),
        ({"BankAccountNumber": "123456789"}, "required"),
    ],
)
def test_quickbooks_refuses_bank_details_it_could_not_pay_to(qbo: QboClient, detail: dict, problem: str) -> None:
    r = qbo.call("POST", "vendor", body={"DisplayName": "Bad Bank Co", "VendorPaymentBankDetail": detail})
    assert r.status_code == 400
    assert problem in str(qbo.fault(r))


def test_intacct_vendor_1099_form_needs_a_known_type_and_a_box(intacct: GatewayClient) -> None:
    ok = {"VENDORID": "V-1099", "NAME": "Form Co", "FORM1099TYPE": "NEC", "FORM1099BOX": "1", "VENDORACCOUNTNO": "A-1"}
    assert intacct.one("create", {"VENDOR": ok})["status"] == "success"
    bad_type = intacct.one("create", {"VENDOR": {**ok, "VENDORID": "V-1099B", "FORM1099TYPE": "XYZ"}})
    assert bad_type["status"] == "failure"
    no_box = intacct.one("create", {"VENDOR": {**ok, "VENDORID": "V-1099C", "FORM1099BOX": ""}})
    assert no_box["status"] == "failure"
