"""Reports computed from the stored transactions: the TrialBalance a reconciliation compares against.

Each transaction posts double-entry lines in the home currency (amount x ExchangeRate, to the
cent). The posting rules are the usual QuickBooks ones:

- Invoice: debit A/R the total; credit each line's item income account (or the default income
  account); debit discounts; credit the sales-tax liability with the tax. CreditMemo: the reverse.
- Payment: debit the deposit-to account (Undeposited Funds by default); credit A/R.
- Bill: debit each line's expense account; credit A/P. VendorCredit: the reverse.
- BillPayment: debit A/P; credit the bank or credit-card account.
- Deposit: debit the bank; credit Undeposited Funds for linked payments, else the line's account.
- JournalEntry: its own lines.

Home-currency rounding differences go to the A/R or A/P side so every transaction balances.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from include.sandbox.qbo.state import QboFault, Realm, money, to_decimal

Posting = tuple[str, Decimal]  # (account Id, home amount; debit positive)


def _ref_id(ref: Any) -> str | None:
    return str(ref["value"]) if isinstance(ref, dict) and ref.get("value") is not None else None


def _account_of(realm: Realm, subtype: str, account_type: str) -> str:
    account = realm.account_by_subtype(subtype) or realm.account_by_type(account_type)
    if account is None:
        raise QboFault("6000", "A business validation error has occurred", f"The company has no {account_type} account")
    return account["Id"]


def _item_account(realm: Realm, item_ref: Any, key: str, fallback: str) -> str:
    item = realm.records["Item"].get(_ref_id(item_ref) or "")
    return _ref_id((item or {}).get(key)) or fallback


def postings(realm: Realm, entity: str, record: dict[str, Any]) -> list[Posting]:
    """Double-entry lines for one transaction, in home currency, debits positive."""
    rate = to_decimal(record.get("ExchangeRate", 1), "ExchangeRate")

    def home(amount: Any) -> Decimal:
        return money(to_decimal(amount, "Amount") * rate)

    lines: list[Posting] = []
    if entity in ("Invoice", "CreditMemo"):
        sign = 1 if entity == "Invoice" else -1
        income = _account_of(realm, "ServiceFeeIncome", "Income")
        for line in record.get("Line", []):
            kind = line.get("DetailType")
            if kind == "SalesItemLineDetail":
                account = _item_account(realm, line[kind].get("ItemRef"), "IncomeAccountRef", income)
                lines.append((account, -sign * home(line["Amount"])))
            elif kind == "DiscountLineDetail":
                account = _ref_id(line[kind].get("DiscountAccountRef")) or income
                lines.append((account, sign * home(line["Amount"])))
        tax = to_decimal((record.get("TxnTaxDetail") or {}).get("TotalTax", 0), "TotalTax")
        if tax:
            lines.append((_account_of(realm, "SalesTaxPayable", "Other Current Liability"), -sign * home(tax)))
        ar = _ref_id(record.get("ARAccountRef")) or _account_of(realm, "AccountsReceivable", "Accounts Receivable")
        lines.append((ar, -sum((amount for _, amount in lines), Decimal(0))))
    elif entity in ("Bill", "VendorCredit"):
        sign = 1 if entity == "Bill" else -1
        expense = _account_of(realm, "OfficeGeneralAdministrativeExpenses", "Expense")
        for line in record.get("Line", []):
            kind = line.get("DetailType")
            if kind == "AccountBasedExpenseLineDetail":
                lines.append((_ref_id(line[kind].get("AccountRef")) or expense, sign * home(line["Amount"])))
            elif kind == "ItemBasedExpenseLineDetail":
                account = _item_account(realm, line[kind].get("ItemRef"), "ExpenseAccountRef", expense)
                lines.append((account, sign * home(line["Amount"])))
        ap = _ref_id(record.get("APAccountRef")) or _account_of(realm, "AccountsPayable", "Accounts Payable")
        lines.append((ap, -sum((amount for _, amount in lines), Decimal(0))))
    elif entity == "Payment":
        total = home(record.get("TotalAmt", 0))
        deposit = _ref_id(record.get("DepositToAccountRef")) or _account_of(realm, "UndepositedFunds", "Bank")
        ar = _ref_id(record.get("ARAccountRef")) or _account_of(realm, "AccountsReceivable", "Accounts Receivable")
        lines += [(deposit, total), (ar, -total)]
    elif entity == "BillPayment":
        total = home(record.get("TotalAmt", 0))
        if record.get("PayType") == "CreditCard":
            source = _ref_id((record.get("CreditCardPayment") or {}).get("CCAccountRef"))
        else:
            source = _ref_id((record.get("CheckPayment") or {}).get("BankAccountRef"))
        ap = _ref_id(record.get("APAccountRef")) or _account_of(realm, "AccountsPayable", "Accounts Payable")
        lines += [(ap, total), (source or _account_of(realm, "Checking", "Bank"), -total)]
    elif entity == "Deposit":
        undeposited = _account_of(realm, "UndepositedFunds", "Other Current Asset")
        for line in record.get("Line", []):
            account = _ref_id((line.get("DepositLineDetail") or {}).get("AccountRef"))
            lines.append((undeposited if line.get("LinkedTxn") else account or undeposited, -home(line["Amount"])))
        lines.append((_ref_id(record.get("DepositToAccountRef")) or "", -sum((a for _, a in lines), Decimal(0))))
    elif entity == "JournalEntry":
        for line in record.get("Line", []):
            detail = line.get("JournalEntryLineDetail") or {}
            sign = 1 if detail.get("PostingType") == "Debit" else -1
            lines.append((_ref_id(detail.get("AccountRef")) or "", sign * home(line["Amount"])))
    return [(account, amount) for account, amount in lines if amount]


def trial_balance(realm: Realm, params: dict[str, str], *, today: str, generated_at: str) -> dict[str, Any]:
    """``GET /reports/TrialBalance``: cumulative balances per account through ``end_date``."""
    end = params.get("end_date") or today
    start = params.get("start_date")
    balances: dict[str, Decimal] = defaultdict(Decimal)
    for entity in (
        "Invoice",
        "CreditMemo",
        "Payment",
        "Bill",
        "VendorCredit",
        "BillPayment",
        "Deposit",
        "JournalEntry",
    ):
        for record in realm.records[entity].values():
            txn_date = str(record.get("TxnDate", ""))[:10]
            if txn_date > end or (start and txn_date < start):
                continue
            for account, amount in postings(realm, entity, record):
                balances[account] += amount
    rows: list[dict[str, Any]] = []
    total_debit = Decimal("0.00")
    total_credit = Decimal("0.00")
    for account in realm.records["Account"].values():
        amount = money(balances.get(account["Id"], Decimal(0)))
        if not amount:
            continue
        debit = amount if amount > 0 else None
        credit = -amount if amount < 0 else None
        total_debit += debit or 0
        total_credit += credit or 0
        rows.append(
            {
                "ColData": [
                    {"value": account.get("FullyQualifiedName", account["Name"]), "id": account["Id"]},
                    {"value": f"{debit:.2f}" if debit is not None else ""},
                    {"value": f"{credit:.2f}" if credit is not None else ""},
                ]
            }
        )
    rows.append(
        {
            "Summary": {
                "ColData": [{"value": "TOTAL"}, {"value": f"{total_debit:.2f}"}, {"value": f"{total_credit:.2f}"}]
            },
            "type": "Section",
            "group": "GrandTotal",
        }
    )
    return {
        "Header": {
            "ReportName": "TrialBalance",
            "DateMacro": params.get("date_macro", ""),
            "StartPeriod": start or str(realm.company_info.get("CompanyStartDate", end)),
            "EndPeriod": end,
            "Currency": realm.home_currency,
            "ReportBasis": params.get("accounting_method", "Accrual"),
            "Time": generated_at,
            "Option": [{"Name": "NoReportData", "Value": "false" if len(rows) > 1 else "true"}],
        },
        "Columns": {
            "Column": [
                {"ColTitle": "", "ColType": "Account"},
                {"ColTitle": "Debit", "ColType": "Money"},
                {"ColTitle": "Credit", "ColType": "Money"},
            ]
        },
        "Rows": {"Row": rows},
    }
