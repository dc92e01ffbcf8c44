"""QuickBooks sandbox reports beyond TrialBalance: ProfitAndLoss, GeneralLedger, AgedReceivables,
AgedPayables, with the documented parameters and JSON shape (api-facts-documents.md F7), computed
from the same postings as the TrialBalance so they tie to it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from include.sandbox.qbo.testing import QboClient


@pytest.fixture
def books(qbo_sandbox: Any) -> tuple[QboClient, dict[str, Any]]:
    """Jan: invoice 100 (Net 30) and a 900 bill; Feb: 40 paid on the invoice, a 10 credit memo."""
    qbo = QboClient(qbo_sandbox.info).authorize()
    accounts = {a["AccountType"]: a for a in qbo.query("SELECT * FROM Account")["Account"]}
    terms = {t["Name"]: t["Id"] for t in qbo.query("SELECT * FROM Term")["Term"]}
    customer = qbo.customer("Amy's Bird Sanctuary")
    vendor = qbo.vendor("Hall Properties")
    invoice = qbo.invoice(customer["Id"], "100.00", TxnDate="2024-01-01", SalesTermRef={"value": terms["Net 30"]})
    line = {
        "Amount": Decimal("10.00"),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
    }
    qbo.create("CreditMemo", {"CustomerRef": {"value": customer["Id"]}, "TxnDate": "2024-02-15", "Line": [line]})
    qbo.create(
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": "40.00",
            "TxnDate": "2024-02-10",
            "Line": [{"Amount": "40.00", "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    qbo.create(
        "Bill",
        {
            "VendorRef": {"value": vendor["Id"]},
            "TxnDate": "2024-02-02",
            "DocNumber": "B-7",
            "Line": [
                {
                    "Amount": "900.00",
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": accounts["Expense"]["Id"]}},
                }
            ],
        },
    )
    return qbo, {"accounts": accounts, "customer": customer, "vendor": vendor, "invoice": invoice}


def _report(qbo: QboClient, name: str, **params: str) -> dict[str, Any]:
    return qbo.ok("GET", f"reports/{name}", params=params)


def _values(row: dict[str, Any]) -> list[str]:
    """The cell values of a data row, a section's summary, or a bare ``{"ColData": ...}``."""
    return [cell["value"] for cell in (row.get("ColData") or row["Summary"]["ColData"])]


def test_aged_receivables_ages_open_balances_as_of_the_report_date(books: tuple[QboClient, dict[str, Any]]) -> None:
    qbo, data = books
    report = _report(qbo, "AgedReceivables", report_date="2024-03-15")
    assert report["Header"]["ReportName"] == "AgedReceivables"
    assert {"Name": "report_date", "Value": "2024-03-15"} in report["Header"]["Option"]
    assert [c["ColTitle"] for c in report["Columns"]["Column"]] == [
        "", "Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total",
    ]  # fmt: skip
    customer_row, total = report["Rows"]["Row"]
    # invoice due 01-31: 60 open and 44 days late; the credit memo is current
    assert _values(customer_row) == ["Amy's Bird Sanctuary", "-10.00", "", "60.00", "", "", "50.00"]
    assert customer_row["ColData"][0]["id"] == data["customer"]["Id"]
    assert (total["group"], _values(total)) == (
        "GrandTotal",
        ["TOTAL", "-10.00", "0.00", "60.00", "0.00", "0.00", "50.00"],
    )
    earlier = _report(qbo, "AgedReceivables", report_date="2024-02-05")  # before the payment and the memo
    assert _values(earlier["Rows"]["Row"][0]) == ["Amy's Bird Sanctuary", "", "100.00", "", "", "", "100.00"]


def test_aged_payables_and_unmodelled_filters(books: tuple[QboClient, dict[str, Any]]) -> None:
    qbo, _ = books
    report = _report(qbo, "AgedPayables", report_date="2024-03-15")
    assert report["Columns"]["Column"][0]["ColType"] == "Vendor"
    assert _values(report["Rows"]["Row"][0]) == ["Hall Properties", "", "", "900.00", "", "", "900.00"]
    refused = qbo.call("GET", "reports/AgedPayables", params={"vendor": "1"})
    assert qbo.fault(refused)["code"] == "6000"


def test_profit_and_loss_sections_and_net_income(books: tuple[QboClient, dict[str, Any]]) -> None:
    qbo, _ = books
    report = _report(qbo, "ProfitAndLoss", start_date="2024-01-01", end_date="2024-03-31")
    header = report["Header"]
    assert (header["StartPeriod"], header["EndPeriod"], header["ReportBasis"]) == (
        "2024-01-01",
        "2024-03-31",
        "Accrual",
    )
    assert {"Name": "AccountingStandard", "Value": "GAAP"} in header["Option"]
    by_group = {row["group"]: row for row in report["Rows"]["Row"]}
    assert _values(by_group["Income"]["Rows"]["Row"][0]) == ["Services", "90.00"]
    assert _values(by_group["Income"]["Summary"]) == ["Total Income", "90.00"]
    assert _values(by_group["Expenses"]["Rows"]["Row"][0]) == ["Office Expenses", "900.00"]
    assert _values(by_group["GrossProfit"]) == ["Gross Profit", "90.00"]
    assert _values(by_group["NetIncome"]) == ["Net Income", "-810.00"]
    january = _report(qbo, "ProfitAndLoss", start_date="2024-01-01", end_date="2024-01-31")
    assert _values({row["group"]: row for row in january["Rows"]["Row"]}["NetIncome"]) == ["Net Income", "100.00"]


def test_general_ledger_runs_a_balance_per_account(books: tuple[QboClient, dict[str, Any]]) -> None:
    qbo, data = books
    receivable = data["accounts"]["Accounts Receivable"]
    report = _report(qbo, "GeneralLedger", start_date="2024-02-01", end_date="2024-02-29", account=receivable["Id"])
    assert [c["MetaData"][0]["Value"] for c in report["Columns"]["Column"]] == [
        "tx_date", "txn_type", "doc_num", "name", "memo", "split_acc", "subt_nat_amount", "rbal_nat_amount",
    ]  # fmt: skip
    [section] = report["Rows"]["Row"]
    assert section["Header"]["ColData"][0] == {"value": "Accounts Receivable (A/R)", "id": receivable["Id"]}
    rows = [_values(row) for row in section["Rows"]["Row"]]
    assert rows[0][0] == "Beginning Balance"
    assert rows[0][-1] == "100.00"
    assert [(r[0], r[1], r[3], r[-2], r[-1]) for r in rows[1:]] == [
        ("2024-02-10", "Payment", "Amy's Bird Sanctuary", "-40.00", "60.00"),
        ("2024-02-15", "Credit Memo", "Amy's Bird Sanctuary", "-10.00", "50.00"),
    ]
    assert _values(section)[0] == "Total for Accounts Receivable (A/R)"
    assert _values(section)[-2] == "-50.00"


def test_unknown_report_is_unsupported(books: tuple[QboClient, dict[str, Any]]) -> None:
    qbo, _ = books
    response = qbo.call("GET", "reports/CashFlow")
    assert qbo.fault(response)["code"] == "500"
