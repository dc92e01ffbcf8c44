"""Reports computed from the stored transactions: TrialBalance, ProfitAndLoss, GeneralLedger,
AgedReceivables and AgedPayables, in the Reports API's JSON shape (Header/Columns/Rows, every
value a string, empty money cells ``""``; api-facts-documents.md F7).

Sandbox choices: date ranges default to January 1 of the end date's year through today (Intuit's
"This Fiscal Year-to-date" with a January fiscal year); a filter the sandbox cannot honour
(customer, vendor, class, department, item, summarize_column_by other than Total, non-default
GeneralLedger columns) is refused with 6000 rather than ignored, because a report that silently
ignores a filter reconciles to the wrong numbers.

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
from datetime import date
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


# --------------------------------------------------------------------------------------------------
# ProfitAndLoss, GeneralLedger, AgedReceivables, AgedPayables
# --------------------------------------------------------------------------------------------------

_TXN_TYPES = {
    "Invoice": "Invoice",
    "CreditMemo": "Credit Memo",
    "Payment": "Payment",
    "Bill": "Bill",
    "VendorCredit": "Vendor Credit",
    "Deposit": "Deposit",
    "JournalEntry": "Journal Entry",
}
_POSTING_ENTITIES = (
    "Invoice",
    "CreditMemo",
    "Payment",
    "Bill",
    "VendorCredit",
    "BillPayment",
    "Deposit",
    "JournalEntry",
)
#: P&L sections (US) in report order: (group, title, account types, sign: +1 credit-normal).
_PL_SECTIONS = (
    ("Income", "Income", ("Income",), -1),
    ("COGS", "Cost of Goods Sold", ("Cost of Goods Sold",), 1),
    ("Expenses", "Expenses", ("Expense",), 1),
    ("OtherIncome", "Other Income", ("Other Income",), -1),
    ("OtherExpenses", "Other Expenses", ("Other Expense",), 1),
)
_FILTERS_NOT_MODELLED = ("customer", "vendor", "class", "department", "item", "employee", "source_account_type")


def _money_text(amount: Decimal | None) -> str:
    return "" if amount is None or amount == 0 else f"{money(amount):.2f}"


def _period(realm: Realm, params: dict[str, str], today: str) -> tuple[str, str]:
    """start_date/end_date, defaulting (like date_macro "This Fiscal Year-to-date") to Jan 1 .. today."""
    end = params.get("end_date") or today
    start = params.get("start_date") or f"{end[:4]}-01-01"
    for name, value in (("start_date", start), ("end_date", end)):
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise QboFault("2010", "Request has invalid or unsupported property", f"{name} {value!r}", name) from exc
    return start, end


def _refuse_unmodelled(params: dict[str, str], report: str) -> None:
    """The sandbox does not track dimensions per posting: a filter it cannot honour is refused, not
    silently ignored (a report that ignores a filter would reconcile to the wrong numbers)."""
    for name in _FILTERS_NOT_MODELLED:
        if params.get(name):
            raise QboFault(
                "6000",
                "A business validation error has occurred",
                f"{report}: the sandbox does not filter by {name}",
                name,
            )
    if params.get("summarize_column_by", "Total") != "Total":
        raise QboFault(
            "6000", "A business validation error has occurred",
            f"{report}: the sandbox only summarizes columns by Total", "summarize_column_by",
        )  # fmt: skip


def _header(
    realm: Realm, name: str, params: dict[str, str], generated_at: str, options: list[dict[str, str]], **extra: str
) -> dict[str, Any]:
    header: dict[str, Any] = {
        "Time": generated_at,
        "ReportName": name,
        "DateMacro": params.get("date_macro", ""),
        "ReportBasis": params.get("accounting_method", "Accrual"),
        **extra,
        "Currency": realm.home_currency,
        "Option": options,
    }
    if "summarize_column_by" in params or name in ("ProfitAndLoss", "GeneralLedger"):
        header["SummarizeColumnsBy"] = params.get("summarize_column_by", "Total")
    return header


def _account_name(account: dict[str, Any]) -> str:
    return str(account.get("FullyQualifiedName") or account.get("Name"))


def profit_and_loss(realm: Realm, params: dict[str, str], *, today: str, generated_at: str) -> dict[str, Any]:
    """``GET /reports/ProfitAndLoss``: income and expense accounts over [start_date, end_date]."""
    _refuse_unmodelled(params, "ProfitAndLoss")
    start, end = _period(realm, params, today)
    balances: dict[str, Decimal] = defaultdict(Decimal)
    for entity in _POSTING_ENTITIES:
        for record in realm.records[entity].values():
            if start <= str(record.get("TxnDate", ""))[:10] <= end:
                for account, amount in postings(realm, entity, record):
                    balances[account] += amount
    accounts = sorted(realm.records["Account"].values(), key=_account_name)
    totals: dict[str, Decimal] = {}
    sections: dict[str, dict[str, Any]] = {}
    for group, title, types, sign in _PL_SECTIONS:
        rows = []
        total = Decimal("0.00")
        for account in accounts:
            amount = money(balances.get(account["Id"], Decimal(0)))
            if account.get("AccountType") in types and amount:
                rows.append(
                    {
                        "ColData": [
                            {"value": _account_name(account), "id": account["Id"]},
                            {"value": _money_text(sign * amount)},
                        ],
                        "type": "Data",
                    }
                )
                total += sign * amount
        totals[group] = total
        section: dict[str, Any] = {"Header": {"ColData": [{"value": title}, {"value": ""}]}}
        section["Rows"] = {"Row": rows} if rows else {}
        section["Summary"] = {"ColData": [{"value": f"Total {title}"}, {"value": f"{money(total):.2f}"}]}
        sections[group] = {**section, "type": "Section", "group": group}

    def summary(group: str, title: str, amount: Decimal) -> dict[str, Any]:
        return {
            "Summary": {"ColData": [{"value": title}, {"value": f"{money(amount):.2f}"}]},
            "type": "Section",
            "group": group,
        }

    gross = totals["Income"] - totals["COGS"]
    operating = gross - totals["Expenses"]
    other = totals["OtherIncome"] - totals["OtherExpenses"]
    rows = [
        sections["Income"],
        sections["COGS"],
        summary("GrossProfit", "Gross Profit", gross),
        sections["Expenses"],
        summary("NetOperatingIncome", "Net Operating Income", operating),
        sections["OtherIncome"],
        sections["OtherExpenses"],
        summary("NetOtherIncome", "Net Other Income", other),
        summary("NetIncome", "Net Income", operating + other),
    ]
    has_data = any(balances.get(a["Id"]) for a in accounts if any(a.get("AccountType") in s[2] for s in _PL_SECTIONS))
    options = [
        {"Name": "AccountingStandard", "Value": "GAAP"},
        {"Name": "NoReportData", "Value": "false" if has_data else "true"},
    ]
    return {
        "Header": _header(realm, "ProfitAndLoss", params, generated_at, options, StartPeriod=start, EndPeriod=end),
        "Columns": {
            "Column": [
                {"ColTitle": "", "ColType": "Account", "MetaData": [{"Name": "ColKey", "Value": "account"}]},
                {"ColTitle": "Total", "ColType": "Money", "MetaData": [{"Name": "ColKey", "Value": "total"}]},
            ]
        },
        "Rows": {"Row": rows},
    }


_GL_COLUMNS = (
    ("tx_date", "Date", "Date"),
    ("txn_type", "Transaction Type", "String"),
    ("doc_num", "Num", "String"),
    ("name", "Name", "String"),
    ("memo", "Memo/Description", "String"),
    ("split_acc", "Split", "String"),
    ("subt_nat_amount", "Amount", "Money"),
    ("rbal_nat_amount", "Balance", "Money"),
)


def _txn_type(entity: str, record: dict[str, Any]) -> str:
    if entity == "BillPayment":
        return "Bill Payment (Credit Card)" if record.get("PayType") == "CreditCard" else "Bill Payment (Check)"
    return _TXN_TYPES[entity]


def _party_name(record: dict[str, Any]) -> str:
    for key in ("CustomerRef", "VendorRef", "EntityRef"):
        ref = record.get(key)
        if isinstance(ref, dict) and ref.get("name"):
            return str(ref["name"])
    return ""


def general_ledger(realm: Realm, params: dict[str, str], *, today: str, generated_at: str) -> dict[str, Any]:
    """``GET /reports/GeneralLedger``: per account, a beginning balance, each posting, a total.

    Default columns only (``columns`` other than the defaults is refused); ``account`` filters by
    account Ids (comma-separated); ``sort_order`` ascend|descend orders postings by date.
    """
    _refuse_unmodelled(params, "GeneralLedger")
    if params.get("columns"):
        wanted = [c.strip() for c in params["columns"].split(",") if c.strip()]
        if set(wanted) - {key for key, _, _ in _GL_COLUMNS}:
            raise QboFault(
                "6000",
                "A business validation error has occurred",
                "GeneralLedger: the sandbox serves the default columns only",
                "columns",
            )
    start, end = _period(realm, params, today)
    only = {a.strip() for a in params.get("account", "").split(",") if a.strip()}
    accounts = {a["Id"]: a for a in realm.records["Account"].values()}
    opening: dict[str, Decimal] = defaultdict(Decimal)
    lines: dict[str, list[tuple[str, str, list[dict[str, str]], Decimal]]] = defaultdict(list)
    for entity in _POSTING_ENTITIES:
        for record in realm.records[entity].values():
            txn_date = str(record.get("TxnDate", ""))[:10]
            if txn_date > end:
                continue
            posted = postings(realm, entity, record)
            for account, amount in posted:
                if txn_date < start:
                    opening[account] += amount
                    continue
                others = {a for a, _ in posted if a != account}
                split = (
                    _account_name(accounts[next(iter(others))])
                    if len(others) == 1 and next(iter(others)) in accounts
                    else "-Split-"
                )
                cells = [
                    {"value": txn_date},
                    {"value": _txn_type(entity, record), "id": str(record["Id"])},
                    {"value": str(record.get("DocNumber", ""))},
                    {"value": _party_name(record)},
                    {"value": str(record.get("PrivateNote", ""))},
                    {"value": split},
                ]
                lines[account].append((txn_date, str(record["Id"]), cells, amount))
    descending = params.get("sort_order") == "descend"
    rows = []
    for account in sorted(accounts.values(), key=_account_name):
        account_id = account["Id"]
        if only and account_id not in only:
            continue
        if not lines.get(account_id) and not opening.get(account_id):
            continue
        balance = money(opening.get(account_id, Decimal(0)))
        data = []
        if balance:
            data.append(
                {
                    "ColData": [
                        {"value": "Beginning Balance"},
                        *({"value": ""} for _ in range(5)),
                        {"value": ""},
                        {"value": f"{balance:.2f}"},
                    ],
                    "type": "Data",
                }
            )
        period_total = Decimal("0.00")
        for _date, _id, cells, amount in sorted(lines.get(account_id, []), key=lambda item: (item[0], item[1])):
            balance = money(balance + amount)
            period_total += amount
            data.append(
                {"ColData": [*cells, {"value": f"{money(amount):.2f}"}, {"value": f"{balance:.2f}"}], "type": "Data"}
            )
        if descending:
            data.reverse()
        name = _account_name(account)
        rows.append(
            {
                "Header": {"ColData": [{"value": name, "id": account_id}, *({"value": ""} for _ in range(7))]},
                "Rows": {"Row": data},
                "Summary": {
                    "ColData": [
                        {"value": f"Total for {name}"},
                        *({"value": ""} for _ in range(5)),
                        {"value": f"{money(period_total):.2f}"},
                        {"value": ""},
                    ]
                },
                "type": "Section",
            }
        )
    options = [{"Name": "NoReportData", "Value": "false" if rows else "true"}]
    return {
        "Header": _header(realm, "GeneralLedger", params, generated_at, options, StartPeriod=start, EndPeriod=end),
        "Columns": {
            "Column": [
                {"ColTitle": title, "ColType": col_type, "MetaData": [{"Name": "ColKey", "Value": key}]}
                for key, title, col_type in _GL_COLUMNS
            ]
        },
        "Rows": {"Row": rows},
    }


_AGING_TITLES = ("Current", "1 - 30", "31 - 60", "61 - 90", "91 and over")


def _bucket(days_past_due: int) -> int:
    if days_past_due <= 0:
        return 0
    return min(4, 1 + (days_past_due - 1) // 30)


def _applied_by(realm: Realm, payer: str, as_of: str) -> dict[tuple[str, str], Decimal]:
    """Amounts payments dated on or before ``as_of`` applied to each (entity, Id) document."""
    applied: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for record in realm.records[payer].values():
        if str(record.get("TxnDate", ""))[:10] > as_of:
            continue
        for line in record.get("Line", []) or []:
            for link in line.get("LinkedTxn", []) or []:
                applied[(str(link.get("TxnType")), str(link.get("TxnId")))] += to_decimal(
                    line.get("Amount", 0), "Amount"
                )
    return applied


def _aging(
    realm: Realm,
    params: dict[str, str],
    *,
    today: str,
    generated_at: str,
    name: str,
    party: str,
    party_ref: str,
    documents: tuple[str, str],
    payer: str,
) -> dict[str, Any]:
    """AgedReceivables / AgedPayables summary: each party's open balance as of ``report_date`` by age.

    Open = total minus what payments dated on or before the report date applied. Documents age
    by days past DueDate (TxnDate when none) at the report date (``aging_method=Report_Date``, the
    sandbox default) or today (``Current``); credits and unapplied payments count as Current.
    """
    for key in ("customer", "vendor", "department", "term"):
        if params.get(key):
            raise QboFault(
                "6000", "A business validation error has occurred", f"{name}: the sandbox does not filter by {key}", key
            )
    as_of = params.get("report_date") or today
    try:
        date.fromisoformat(as_of)
    except ValueError as exc:
        raise QboFault(
            "2010", "Request has invalid or unsupported property", f"report_date {as_of!r}", "report_date"
        ) from exc
    method = params.get("aging_method", "Report_Date")
    if method not in ("Report_Date", "Current"):
        raise QboFault("2170", "Invalid Enumeration", f"Invalid aging_method {method}", "aging_method")
    age_date = date.fromisoformat(as_of if method == "Report_Date" else today)
    applied = _applied_by(realm, payer, as_of)
    buckets: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal("0.00")] * 5)
    debit_doc, credit_doc = documents
    for entity, sign in ((debit_doc, 1), (credit_doc, -1)):
        for record in realm.records[entity].values():
            txn_date = str(record.get("TxnDate", ""))[:10]
            if txn_date > as_of or record.get("PrivateNote") == "Voided":
                continue
            open_amount = to_decimal(record.get("TotalAmt", 0), "TotalAmt") - applied.get(
                (entity, str(record["Id"])), Decimal(0)
            )
            if not open_amount:
                continue
            party_id = str((record.get(party_ref) or {}).get("value"))
            index = 0
            if sign > 0:
                due = date.fromisoformat(str(record.get("DueDate") or txn_date)[:10])
                index = _bucket((age_date - due).days)
            buckets[party_id][index] += sign * money(open_amount)
    if payer == "Payment":
        for record in realm.records["Payment"].values():
            unapplied = to_decimal(record.get("UnappliedAmt", 0), "UnappliedAmt")
            if unapplied and str(record.get("TxnDate", ""))[:10] <= as_of:
                buckets[str((record.get("CustomerRef") or {}).get("value"))][0] -= unapplied
    rows = []
    grand = [Decimal("0.00")] * 6
    parties = realm.records[party]
    for party_id, amounts in sorted(
        buckets.items(), key=lambda kv: str((parties.get(kv[0]) or {}).get("DisplayName", kv[0])).casefold()
    ):
        total = sum(amounts, Decimal("0.00"))
        if not total and not any(amounts):
            continue
        display = str((parties.get(party_id) or {}).get("DisplayName", party_id))
        rows.append(
            {
                "ColData": [
                    {"value": display, "id": party_id},
                    *({"value": _money_text(a)} for a in amounts),
                    {"value": f"{money(total):.2f}"},
                ]
            }
        )
        for i, amount in enumerate([*amounts, total]):
            grand[i] += amount
    rows.append(
        {
            "Summary": {"ColData": [{"value": "TOTAL"}, *({"value": f"{money(a):.2f}"} for a in grand)]},
            "type": "Section",
            "group": "GrandTotal",
        }
    )
    options = [
        {"Name": "report_date", "Value": as_of},
        {"Name": "NoReportData", "Value": "false" if len(rows) > 1 else "true"},
    ]
    return {
        "Header": _header(realm, name, params, generated_at, options, StartPeriod=as_of, EndPeriod=as_of),
        "Columns": {
            "Column": [
                {"ColTitle": "", "ColType": party},
                *({"ColTitle": title, "ColType": "Money"} for title in _AGING_TITLES),
                {"ColTitle": "Total", "ColType": "Money"},
            ]
        },
        "Rows": {"Row": rows},
    }


def aged_receivables(realm: Realm, params: dict[str, str], *, today: str, generated_at: str) -> dict[str, Any]:
    """``GET /reports/AgedReceivables`` (A/R aging summary)."""
    return _aging(
        realm, params, today=today, generated_at=generated_at, name="AgedReceivables", party="Customer",
        party_ref="CustomerRef", documents=("Invoice", "CreditMemo"), payer="Payment",
    )  # fmt: skip


def aged_payables(realm: Realm, params: dict[str, str], *, today: str, generated_at: str) -> dict[str, Any]:
    """``GET /reports/AgedPayables`` (A/P aging summary)."""
    return _aging(
        realm, params, today=today, generated_at=generated_at, name="AgedPayables", party="Vendor",
        party_ref="VendorRef", documents=("Bill", "VendorCredit"), payer="BillPayment",
    )  # fmt: skip


REPORTS = {
    "trialbalance": trial_balance,
    "profitandloss": profit_and_loss,
    "generalledger": general_ledger,
    "agedreceivables": aged_receivables,
    "agedpayables": aged_payables,
}
