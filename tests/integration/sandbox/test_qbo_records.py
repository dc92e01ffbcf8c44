"""QuickBooks sandbox records: reads and writes, SyncToken, business rules, derived amounts and links."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from include.sandbox.qbo.testing import QboClient

AR, AP, UNDEPOSITED, CHECKING, INCOME, EXPENSE = "1", "2", "3", "4", "5", "6"
SERVICES_ITEM, CALIFORNIA_TAX = "1", "1"


@pytest.fixture
def qbo(qbo_sandbox: Any) -> QboClient:
    return QboClient(qbo_sandbox.info).authorize()


def fault_of(qbo: QboClient, method: str, path: str, **kw: Any) -> dict[str, Any]:
    r = qbo.call(method, path, **kw)
    assert r.status_code == 400, r.text
    return qbo.fault(r)


def invoice_body(customer_id: str, *amounts: str, **fields: Any) -> dict[str, Any]:
    lines = [
        {
            "Amount": Decimal(a),
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": SERVICES_ITEM}},
        }
        for a in amounts
    ]
    return {"CustomerRef": {"value": customer_id}, "Line": lines, **fields}


def payment_body(customer_id: str, total: str, *applied: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "CustomerRef": {"value": customer_id},
        "TotalAmt": Decimal(total),
        "Line": [
            {"Amount": Decimal(amount), "LinkedTxn": [{"TxnId": txn_id, "TxnType": txn_type}]}
            for txn_id, txn_type, amount in applied
        ],
    }


def test_money_is_rendered_as_exact_json_numbers(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    r = qbo.call("POST", "invoice", body=invoice_body(customer["Id"], "0.10", "0.20"))
    assert '"TotalAmt":0.30' in r.text
    assert qbo.json(r)["Invoice"]["TotalAmt"] == Decimal("0.30")


def test_invoice_totals_and_tax_are_computed_from_lines(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    body = invoice_body(customer["Id"], "275.00", "16.00", TxnTaxDetail={"TxnTaxCodeRef": {"value": CALIFORNIA_TAX}})
    for line in body["Line"]:
        line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": "TAX"}
    invoice = qbo.create("Invoice", body)
    assert invoice["TxnTaxDetail"]["TotalTax"] == Decimal("23.28")
    assert (invoice["TotalAmt"], invoice["Balance"]) == (Decimal("314.28"), Decimal("314.28"))
    assert invoice["Line"][-1] == {
        "Amount": Decimal("291.00"),
        "DetailType": "SubTotalLineDetail",
        "SubTotalLineDetail": {},
    }


def test_group_line_amount_is_the_sum_of_its_item_lines(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    inner = invoice_body(customer["Id"], "100.00", "25.50")["Line"]
    group = {"DetailType": "GroupLineDetail", "GroupLineDetail": {"GroupItemRef": {"name": "Kit"}, "Line": inner}}
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "10.00") | {"Line": [group]})
    assert invoice["Line"][0]["Amount"] == Decimal("125.50")
    assert invoice["TotalAmt"] == Decimal("125.50")  # a bundle alone is a whole invoice


def test_read_returns_the_created_record_with_sync_token_zero(qbo: QboClient) -> None:
    created = qbo.customer("Mark Cho", PrimaryEmailAddr={"Address": "mark@cho.example"})
    read = qbo.get("Customer", created["Id"])
    assert read == created
    assert read["SyncToken"] == "0"


def test_reading_an_unknown_id_is_object_not_found(qbo: QboClient) -> None:
    assert fault_of(qbo, "GET", "customer/999")["code"] == "610"


def test_sparse_update_changes_only_the_fields_sent(qbo: QboClient) -> None:
    created = qbo.customer("Mark Cho", CompanyName="Cho LLC")
    updated = qbo.create("Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "VIP"})
    assert (updated["CompanyName"], updated["Notes"], updated["SyncToken"]) == ("Cho LLC", "VIP", "1")


def test_full_update_clears_writable_fields_left_out(qbo: QboClient) -> None:
    created = qbo.customer("Mark Cho", CompanyName="Cho LLC")
    updated = qbo.create("Customer", {"Id": created["Id"], "SyncToken": "0", "DisplayName": "Mark Cho"})
    assert "CompanyName" not in updated


def test_stale_sync_token_is_5010(qbo: QboClient) -> None:
    created = qbo.customer("Mark Cho")
    qbo.create("Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "first"})
    fault = fault_of(qbo, "POST", "customer", body={"Id": created["Id"], "SyncToken": "0", "sparse": True})
    assert fault["code"] == "5010"


def test_display_name_is_unique_across_customers_vendors_and_employees(qbo: QboClient) -> None:
    qbo.customer("Acme Supplies")
    assert fault_of(qbo, "POST", "vendor", body={"DisplayName": "ACME SUPPLIES"})["code"] == "6240"
    assert fault_of(qbo, "POST", "employee", body={"DisplayName": "Acme Supplies"})["code"] == "6240"


def test_display_name_with_a_colon_is_refused(qbo: QboClient) -> None:
    fault = fault_of(qbo, "POST", "customer", body={"DisplayName": "Parent:Child"})
    assert (fault["code"], fault["element"]) == ("6000", "DisplayName")


def test_reference_to_a_missing_record_is_2500(qbo: QboClient) -> None:
    fault = fault_of(qbo, "POST", "invoice", body=invoice_body("424242", "10.00"))
    assert (fault["code"], fault["element"]) == ("2500", "CustomerRef")


def test_reference_to_an_inactive_record_is_610(qbo: QboClient) -> None:
    customer = qbo.customer("Gone Fishing")
    qbo.create("Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert fault_of(qbo, "POST", "invoice", body=invoice_body(customer["Id"], "10.00"))["code"] == "610"


def test_missing_required_field_is_2020_naming_it(qbo: QboClient) -> None:
    fault = fault_of(qbo, "POST", "invoice", body={"Line": invoice_body("1", "1.00")["Line"]})
    assert (fault["code"], fault["element"]) == ("2020", "CustomerRef")


def test_duplicate_doc_number_is_6140_while_the_company_warns(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    qbo.create("Invoice", invoice_body(customer["Id"], "1.00", DocNumber="1001"))
    fault = fault_of(qbo, "POST", "invoice", body=invoice_body(customer["Id"], "2.00", DocNumber="1001"))
    assert (fault["code"], fault["element"]) == ("6140", "DocNumber")


def test_duplicate_doc_number_is_accepted_when_the_preference_is_off(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    qbo.create("Invoice", invoice_body(customer["Id"], "1.00", DocNumber="1001"))
    prefs = qbo.ok("GET", "preferences")["Preferences"]
    qbo.ok(
        "POST",
        "preferences",
        body={
            "Id": "1",
            "SyncToken": prefs["SyncToken"],
            "sparse": True,
            "OtherPrefs": {"NameValue": [{"Name": "WarnDuplicateDocNum", "Value": "false"}]},
        },
    )
    assert qbo.create("Invoice", invoice_body(customer["Id"], "2.00", DocNumber="1001"))["DocNumber"] == "1001"


def test_payment_reduces_invoice_balance_and_links_both_ways(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "314.28"))
    payment = qbo.create("Payment", payment_body(customer["Id"], "100.00", (invoice["Id"], "Invoice", "100.00")))
    after = qbo.get("Invoice", invoice["Id"])
    assert after["Balance"] == Decimal("214.28")
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert payment["Line"][0]["LinkedTxn"][0] == {"TxnId": invoice["Id"], "TxnType": "Invoice"}
    assert payment["DepositToAccountRef"]["value"] == UNDEPOSITED
    assert qbo.get("Customer", customer["Id"])["Balance"] == Decimal("214.28")


def test_payment_cannot_apply_more_than_the_open_balance(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "50.00"))
    body = payment_body(customer["Id"], "60.00", (invoice["Id"], "Invoice", "60.00"))
    assert fault_of(qbo, "POST", "payment", body=body)["code"] == "6000"
    assert qbo.get("Invoice", invoice["Id"])["Balance"] == Decimal("50.00")


def test_credit_memo_applied_by_a_payment_reduces_the_invoice_balance(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "100.00"))
    memo = qbo.create("CreditMemo", invoice_body(customer["Id"], "30.00"))
    qbo.create(
        "Payment",
        payment_body(customer["Id"], "0.00", (invoice["Id"], "Invoice", "30.00"), (memo["Id"], "CreditMemo", "30.00")),
    )
    assert qbo.get("Invoice", invoice["Id"])["Balance"] == Decimal("70.00")
    assert qbo.get("CreditMemo", memo["Id"])["RemainingCredit"] == Decimal("0.00")


def test_voiding_a_payment_restores_the_invoice_balance(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "80.00"))
    payment = qbo.create("Payment", payment_body(customer["Id"], "80.00", (invoice["Id"], "Invoice", "80.00")))
    voided = qbo.ok(
        "POST",
        "payment",
        params={"operation": "update", "include": "void"},
        body={"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True},
    )["Payment"]
    assert (voided["TotalAmt"], voided["PrivateNote"]) == (Decimal("0.00"), "Voided")
    after = qbo.get("Invoice", invoice["Id"])
    assert after["Balance"] == Decimal("80.00")
    assert after.get("LinkedTxn") == []


def test_voiding_an_invoice_zeroes_its_amounts(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "80.00"))
    voided = qbo.ok(
        "POST", "invoice", params={"operation": "void"}, body={"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}
    )["Invoice"]
    assert (voided["TotalAmt"], voided["Balance"], voided["SyncToken"]) == (Decimal("0.00"), Decimal("0.00"), "1")


def test_delete_removes_the_transaction(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "80.00"))
    deleted = qbo.ok(
        "POST", "invoice", params={"operation": "delete"}, body={"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}
    )["Invoice"]
    assert deleted == {"status": "Deleted", "domain": "QBO", "Id": invoice["Id"]}
    assert fault_of(qbo, "GET", f"invoice/{invoice['Id']}")["code"] == "610"


def test_name_lists_cannot_be_deleted(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    fault = fault_of(
        qbo, "POST", "customer", params={"operation": "delete"}, body={"Id": customer["Id"], "SyncToken": "0"}
    )
    assert fault["code"] == "500"


def test_bill_payment_reduces_the_bill_balance_and_links_both_ways(qbo: QboClient) -> None:
    vendor = qbo.vendor("Hall Properties")
    bill = qbo.create(
        "Bill",
        {
            "VendorRef": {"value": vendor["Id"]},
            "Line": [
                {
                    "Amount": Decimal("900.00"),
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": EXPENSE}},
                }
            ],
        },
    )
    payment = qbo.create(
        "BillPayment",
        {
            "VendorRef": {"value": vendor["Id"]},
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": CHECKING}},
            "TotalAmt": Decimal("900.00"),
            "Line": [{"Amount": Decimal("900.00"), "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}],
        },
    )
    after = qbo.get("Bill", bill["Id"])
    assert after["Balance"] == Decimal("0.00")
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "BillPaymentCheck"}]
    assert qbo.get("Vendor", vendor["Id"])["Balance"] == Decimal("0.00")


def journal_body(debit: str, credit: str, **fields: Any) -> dict[str, Any]:
    def line(amount: str, posting: str, account: str) -> dict[str, Any]:
        return {
            "Amount": Decimal(amount),
            "DetailType": "JournalEntryLineDetail",
            "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": account}},
        }

    return {"Line": [line(debit, "Debit", CHECKING), line(credit, "Credit", INCOME)], **fields}


def test_unbalanced_journal_entry_is_refused(qbo: QboClient) -> None:
    fault = fault_of(qbo, "POST", "journalentry", body=journal_body("100.00", "99.99"))
    assert (fault["code"], fault["element"]) == ("6000", "Line")


def test_balanced_journal_entry_numbers_lines_from_zero(qbo: QboClient) -> None:
    entry = qbo.create("JournalEntry", journal_body("100.00", "100.00"))
    assert [line["Id"] for line in entry["Line"]] == ["0", "1"]
    assert entry["TotalAmt"] == Decimal("100.00")


def test_closed_books_refuse_writes_dated_on_or_before_the_close_date(qbo: QboClient) -> None:
    prefs = qbo.ok("GET", "preferences")["Preferences"]
    qbo.ok(
        "POST",
        "preferences",
        body={"Id": "1", "SyncToken": prefs["SyncToken"], "AccountingInfoPrefs": {"BookCloseDate": "2024-03-31"}},
    )
    fault = fault_of(qbo, "POST", "journalentry", body=journal_body("5.00", "5.00", TxnDate="2024-03-31"))
    assert (fault["code"], fault["element"]) == ("6210", "TxnDate")
    assert qbo.create("JournalEntry", journal_body("5.00", "5.00", TxnDate="2024-04-01"))["TxnDate"] == "2024-04-01"


def test_foreign_currency_invoice_carries_home_amounts(qbo: QboClient) -> None:
    customer = qbo.customer("Le Petit Cafe", CurrencyRef={"value": "EUR"})
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "100.00", ExchangeRate=Decimal("1.0825")))
    assert invoice["CurrencyRef"]["value"] == "EUR"
    assert (invoice["TotalAmt"], invoice["HomeTotalAmt"]) == (Decimal("100.00"), Decimal("108.25"))


def test_foreign_invoice_without_a_rate_uses_the_company_rate_table(qbo: QboClient) -> None:
    qbo.ok("POST", "exchangerate", body={"SourceCurrencyCode": "EUR", "Rate": "1.10", "AsOfDate": "2024-01-01"})
    customer = qbo.customer("Le Petit Cafe", CurrencyRef={"value": "EUR"})
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "10.00", TxnDate="2024-02-01"))
    assert (invoice["ExchangeRate"], invoice["HomeTotalAmt"]) == (Decimal("1.10"), Decimal("11.00"))


def test_transaction_currency_must_match_the_customer(qbo: QboClient) -> None:
    customer = qbo.customer("Le Petit Cafe", CurrencyRef={"value": "EUR"})
    body = invoice_body(customer["Id"], "10.00", CurrencyRef={"value": "GBP"}, ExchangeRate=Decimal("1.25"))
    assert fault_of(qbo, "POST", "invoice", body=body)["element"] == "CurrencyRef"


def test_header_class_is_refused_when_class_tracking_is_per_line(qbo: QboClient) -> None:
    klass = qbo.create("Class", {"Name": "Retail"})
    customer = qbo.customer("Mark Cho")
    body = invoice_body(customer["Id"], "10.00", ClassRef={"value": klass["Id"]})
    assert fault_of(qbo, "POST", "invoice", body=body)["element"] == "ClassRef"
    line_body = invoice_body(customer["Id"], "10.00")
    line_body["Line"][0]["SalesItemLineDetail"]["ClassRef"] = {"value": klass["Id"]}
    assert qbo.create("Invoice", line_body)["Line"][0]["SalesItemLineDetail"]["ClassRef"]["name"] == "Retail"


def test_department_is_refused_when_the_company_does_not_track_departments(qbo: QboClient) -> None:
    department = qbo.create("Department", {"Name": "West"})
    customer = qbo.customer("Mark Cho")
    assert qbo.create("Invoice", invoice_body(customer["Id"], "1.00", DepartmentRef={"value": department["Id"]}))
    prefs = qbo.ok("GET", "preferences")["Preferences"]
    qbo.ok(
        "POST",
        "preferences",
        body={"Id": "1", "SyncToken": prefs["SyncToken"], "AccountingInfoPrefs": {"TrackDepartments": False}},
    )
    body = invoice_body(customer["Id"], "1.00", DepartmentRef={"value": department["Id"]})
    assert fault_of(qbo, "POST", "invoice", body=body)["element"] == "DepartmentRef"


def test_same_requestid_replays_the_original_response_without_a_second_record(qbo: QboClient) -> None:
    first = qbo.call("POST", "customer", body={"DisplayName": "Once Only"}, params={"requestid": "req-0001"})
    second = qbo.call("POST", "customer", body={"DisplayName": "Once Only"}, params={"requestid": "req-0001"})
    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    assert qbo.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 1}


def test_deposit_links_the_payment_it_banks(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "40.00"))
    payment = qbo.create("Payment", payment_body(customer["Id"], "40.00", (invoice["Id"], "Invoice", "40.00")))
    deposit = qbo.create(
        "Deposit",
        {
            "DepositToAccountRef": {"value": CHECKING},
            "Line": [{"Amount": Decimal("40.00"), "LinkedTxn": [{"TxnId": payment["Id"], "TxnType": "Payment"}]}],
        },
    )
    assert qbo.get("Payment", payment["Id"])["LinkedTxn"] == [{"TxnId": deposit["Id"], "TxnType": "Deposit"}]


def test_trial_balance_debits_equal_credits(qbo: QboClient) -> None:
    customer = qbo.customer("Mark Cho")
    invoice = qbo.create("Invoice", invoice_body(customer["Id"], "120.00"))
    qbo.create("Payment", payment_body(customer["Id"], "50.00", (invoice["Id"], "Invoice", "50.00")))
    report = qbo.ok("GET", "reports/TrialBalance", params={"end_date": "2999-12-31"})
    rows = {row["ColData"][0]["id"]: row["ColData"] for row in report["Rows"]["Row"] if "ColData" in row}
    total = report["Rows"]["Row"][-1]["Summary"]["ColData"]
    assert total[1]["value"] == total[2]["value"] == "120.00"
    assert rows[AR][1]["value"] == "70.00"
    assert rows[UNDEPOSITED][1]["value"] == "50.00"
    assert rows[INCOME][2]["value"] == "120.00"


def test_company_info_and_preferences_are_readable(qbo: QboClient) -> None:
    info = qbo.ok("GET", f"companyinfo/{qbo.realm_id}")["CompanyInfo"]
    prefs = qbo.ok("GET", "preferences")["Preferences"]
    assert info["CompanyName"]
    assert prefs["CurrencyPrefs"] == {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "USD"}}
