"""Feed the neutral group into the QuickBooks sandbox state (the US subsidiary's company).

Every record goes through :meth:`include.sandbox.qbo.state.Realm.create`, so TotalAmt, Balance,
LinkedTxn, HomeTotalAmt, tax lines and customer/vendor balances are what the API would compute for
the same request bodies. ``at`` comes from the model's dates (company time, America/Los_Angeles),
so ``MetaData`` never depends on the day the books are generated.

Choices a reader should know:
- The company is created without the sandbox's default chart: the group's own chart, terms, tax
  codes, items, payment methods, classes and departments (Locations) are created instead.
- Classes are tracked per line, Departments (Locations) per transaction, as the group does.
- Monthly exchange rates (USD per unit) are stored for every foreign currency on the 1st of each
  month; documents carry their ``ExchangeRate`` explicitly.
- The books are closed (``BookCloseDate``) after everything is posted, so the history in the
  closed month (one planted back-dated invoice) exists as it would after a late entry.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from include.sandbox.books.model import Disbursement, Group, Journal, PurchaseDoc, Receipt, SalesDoc
from include.sandbox.qbo.state import QboState, Realm

REALM_ID = "9341453050228140"
COMPANY_NAME = "Northstar Group US Subsidiary"
COMPANY_TZ = ZoneInfo("America/Los_Angeles")


def audit_at(day: date, key: str) -> datetime:
    """A working-hours time on ``day`` in company time, fixed by the record key."""
    minutes = zlib.crc32(key.encode()) % 600
    return datetime.combine(day, time(8 + minutes // 60, minutes % 60, (minutes * 7) % 60), tzinfo=COMPANY_TZ)


def _ref(record_id: str) -> dict[str, str]:
    return {"value": record_id}


class QboAdapter:
    """Writes one :class:`Group`'s QuickBooks side into a fresh :class:`QboState`."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self.state = QboState()
        self.setup_at = datetime.combine(group.periods.window_start, time(6, 0), tzinfo=COMPANY_TZ)
        self.realm: Realm = self.state.add_realm(
            REALM_ID, COMPANY_NAME, home_currency="USD", multicurrency=True, with_default_chart=False, at=self.setup_at
        )
        self.ids: dict[str, str] = {}  # model key -> QuickBooks Id
        self._items = {i.key: i for i in group.items}
        self._banks = {b.key: b for b in group.banks}
        self._tax_code_rate = {c.key: c.rate_key for c in group.tax_codes}

    def _create(self, entity: str, key: str, body: dict[str, Any], at: datetime) -> dict[str, Any]:
        record = self.realm.create(entity, body, at=at)
        self.ids[key] = record["Id"]
        return record

    # -- lists -----------------------------------------------------------------------------

    def build_lists(self) -> None:
        g, at = self.group, self.setup_at
        for acct in g.qbo_accounts:  # parents precede their sub-accounts in the reference list
            body: dict[str, Any] = {
                "Name": acct.name,
                "AccountType": acct.account_type,
                "AccountSubType": acct.account_sub_type,
                "CurrencyRef": {"value": acct.currency},
            }
            if acct.acct_num:
                body["AcctNum"] = acct.acct_num
            if acct.parent_key:
                body["ParentRef"] = _ref(self.ids[acct.parent_key])
            self._create("Account", acct.key, body, at)
        for dept in g.qbo_departments:
            self._create("Department", dept.key, {"Name": dept.name}, at)
        for cls in g.qbo_classes:
            body = {"Name": cls.name}
            if cls.parent_key:
                body["ParentRef"] = _ref(self.ids[cls.parent_key])
            self._create("Class", cls.key, body, at)
        for term in g.terms:
            body = {"Name": term.qbo_name, "DueDays": term.due_days}
            if term.discount_percent:
                body |= {"DiscountPercent": term.discount_percent, "DiscountDays": term.discount_days}
            self._create("Term", term.key, body, at)
        for rate in g.tax_rates:
            self._create(
                "TaxRate",
                rate.key,
                {"Name": rate.name, "RateValue": rate.rate_percent, "AgencyRef": _ref("1"), "Description": rate.agency},
                at,
            )
        for code in g.tax_codes:
            self._create(
                "TaxCode",
                code.key,
                {
                    "Name": code.name,
                    "Taxable": True,
                    "TaxGroup": False,
                    "SalesTaxRateList": {
                        "TaxRateDetail": [
                            {
                                "TaxRateRef": _ref(self.ids[code.rate_key]),
                                "TaxTypeApplicable": "TaxOnAmount",
                                "TaxOrder": 0,
                            }
                        ]
                    },
                    "PurchaseTaxRateList": {"TaxRateDetail": []},
                },
                at,
            )
        for item in g.items:
            self._create(
                "Item",
                item.key,
                {
                    "Name": item.name,
                    "Type": item.item_type,
                    "IncomeAccountRef": _ref(self.ids[item.income_account_key]),
                    "UnitPrice": item.unit_price,
                    "Taxable": item.taxable,
                },
                at,
            )
        for method in g.payment_methods:
            self._create("PaymentMethod", method.key, {"Name": method.qbo_name, "Type": method.qbo_type}, at)
        for (from_ccy, to_ccy, month), rate in sorted(g.rates.items()):
            if to_ccy == "USD":
                self.realm.set_exchange_rate(from_ccy, rate, f"{month}-01", at=at)

    def build_parties(self) -> None:
        terms = {t.key: t for t in self.group.terms}
        for party in self.group.parties:
            if party.system != "qbo":
                continue
            body: dict[str, Any] = {
                "DisplayName": party.display_name,
                "CompanyName": party.company_name,
                "PrimaryEmailAddr": {"Address": party.email},
                "BillAddr": {"City": party.city, "CountrySubDivisionCode": party.region, "Country": party.country},
                "CurrencyRef": {"value": party.currency},
            }
            if party.kind == "customer":
                body["SalesTermRef"] = _ref(self.ids[terms[party.term_key].key])
                if party.tax_id:
                    body["PrimaryTaxIdentifier"] = party.tax_id
                entity = "Customer"
            else:
                body["TermRef"] = _ref(self.ids[terms[party.term_key].key])
                body["Vendor1099"] = party.vendor_1099
                if party.tax_id:
                    body["TaxIdentifier"] = party.tax_id
                if party.bank_account:
                    body["VendorPaymentBankDetail"] = {
                        "BankBranchIdentifier": party.bank_routing,
                        "BankAccountNumber": party.bank_account,
                        "BankAccountName": party.company_name,
                    }
                entity = "Vendor"
            self._create(entity, party.key, body, audit_at(party.created or self.group.periods.window_start, party.key))

    # -- documents -------------------------------------------------------------------------

    def _sales(self, doc: SalesDoc) -> None:
        lines: list[dict[str, Any]] = []
        for ln in doc.lines:
            detail: dict[str, Any] = {
                "ItemRef": _ref(self.ids[ln.item_key or ""]),
                "Qty": ln.quantity,
                "UnitPrice": ln.unit_price,
                "TaxCodeRef": {"value": "TAX" if ln.taxable and doc.tax_code_key else "NON"},
            }
            if ln.dims.qbo_class_key:
                detail["ClassRef"] = _ref(self.ids[ln.dims.qbo_class_key])
            lines.append(
                {
                    "Description": ln.description,
                    "Amount": ln.amount,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": detail,
                }
            )
        if doc.discount_percent:
            lines.append(
                {
                    "DetailType": "DiscountLineDetail",
                    "DiscountLineDetail": {
                        "PercentBased": True,
                        "DiscountPercent": doc.discount_percent,
                        "DiscountAccountRef": _ref(self.ids["acct:discounts"]),
                    },
                }
            )
        party_id = self.ids[doc.party_key]
        body: dict[str, Any] = {
            "DocNumber": doc.doc_number,
            "TxnDate": doc.txn_date.isoformat(),
            "CustomerRef": _ref(party_id),
            "CurrencyRef": {"value": doc.currency},
            "ExchangeRate": doc.exchange_rate,
            "Line": lines,
            "ApplyTaxAfterDiscount": False,
            "BillEmail": {"Address": self.group.party(doc.party_key).email},
        }
        if doc.kind == "invoice":
            body["DueDate"] = doc.due_date.isoformat()
            body["SalesTermRef"] = _ref(self.ids[doc.term_key])
        if doc.dims.qbo_department_key:
            body["DepartmentRef"] = _ref(self.ids[doc.dims.qbo_department_key])
        if doc.tax_code_key:
            body["TxnTaxDetail"] = {"TxnTaxCodeRef": _ref(self.ids[doc.tax_code_key])}
        if doc.memo:
            body["PrivateNote"] = doc.memo
        entity = "Invoice" if doc.kind == "invoice" else "CreditMemo"
        self._create(entity, doc.key, body, audit_at(doc.created or doc.txn_date, doc.key))

    def _bill(self, doc: PurchaseDoc) -> None:
        lines = []
        for ln in doc.lines:
            detail: dict[str, Any] = {
                "AccountRef": _ref(self.ids[ln.account_key]),
                "BillableStatus": "NotBillable",
                "TaxCodeRef": {"value": "NON"},
            }
            if ln.dims.qbo_class_key:
                detail["ClassRef"] = _ref(self.ids[ln.dims.qbo_class_key])
            lines.append(
                {
                    "Description": ln.description,
                    "Amount": ln.amount,
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": detail,
                }
            )
        body: dict[str, Any] = {
            "DocNumber": doc.doc_number,
            "TxnDate": doc.txn_date.isoformat(),
            "DueDate": doc.due_date.isoformat(),
            "VendorRef": _ref(self.ids[doc.party_key]),
            "SalesTermRef": _ref(self.ids[doc.term_key]),
            "APAccountRef": _ref(self.ids["acct:ap"]),
            "CurrencyRef": {"value": doc.currency},
            "ExchangeRate": doc.exchange_rate,
            "Line": lines,
        }
        if doc.dims.qbo_department_key:
            body["DepartmentRef"] = _ref(self.ids[doc.dims.qbo_department_key])
        if doc.memo:
            body["PrivateNote"] = doc.memo
        self._create("Bill", doc.key, body, audit_at(doc.created or doc.txn_date, doc.key))

    def _payment(self, pay: Receipt) -> None:
        lines = []
        for app in pay.applications:
            txn_type = "CreditMemo" if app.amount < 0 else "Invoice"
            lines.append(
                {"Amount": abs(app.amount), "LinkedTxn": [{"TxnId": self.ids[app.doc_key], "TxnType": txn_type}]}
            )
        bank = self._banks[pay.bank_key]
        body: dict[str, Any] = {
            "CustomerRef": _ref(self.ids[pay.party_key]),
            "TotalAmt": pay.total,
            "TxnDate": pay.txn_date.isoformat(),
            "CurrencyRef": {"value": pay.currency},
            "ExchangeRate": pay.exchange_rate,
            "PaymentMethodRef": _ref(self.ids[pay.method_key]),
            "DepositToAccountRef": _ref(self.ids[bank.qbo_account_key or ""]),
            "Line": lines,
        }
        if pay.reference:
            body["PaymentRefNum"] = pay.reference
        self._create("Payment", pay.key, body, audit_at(pay.txn_date, pay.key))

    def _bill_payment(self, pay: Disbursement) -> None:
        body: dict[str, Any] = {
            "VendorRef": _ref(self.ids[pay.party_key]),
            "TotalAmt": pay.total,
            "TxnDate": pay.txn_date.isoformat(),
            "DocNumber": pay.reference,
            "CurrencyRef": {"value": pay.currency},
            "ExchangeRate": pay.exchange_rate,
            "Line": [
                {"Amount": a.amount, "LinkedTxn": [{"TxnId": self.ids[a.doc_key], "TxnType": "Bill"}]}
                for a in pay.applications
            ],
        }
        if pay.method_key == "pm:card":
            body |= {"PayType": "CreditCard", "CreditCardPayment": {"CCAccountRef": _ref(self.ids["acct:visa"])}}
        else:
            bank = self._banks[pay.bank_key]
            body |= {
                "PayType": "Check",
                "CheckPayment": {"BankAccountRef": _ref(self.ids[bank.qbo_account_key or ""]), "PrintStatus": "NotSet"},
            }
        self._create("BillPayment", pay.key, body, audit_at(pay.txn_date, pay.key))

    def _journal(self, je: Journal) -> None:
        lines = []
        for ln in je.lines:
            detail: dict[str, Any] = {
                "PostingType": "Debit" if ln.debit else "Credit",
                "AccountRef": _ref(self.ids[ln.account_key]),
            }
            if ln.dims.qbo_class_key:
                detail["ClassRef"] = _ref(self.ids[ln.dims.qbo_class_key])
            if ln.dims.qbo_department_key:
                detail["DepartmentRef"] = _ref(self.ids[ln.dims.qbo_department_key])
            if ln.party_key:  # A/R and A/P lines name their customer or vendor (Intuit's JE rule)
                party = self.group.party(ln.party_key)
                kind = "Customer" if party.kind == "customer" else "Vendor"
                detail["Entity"] = {"Type": kind, "EntityRef": _ref(self.ids[ln.party_key])}
            lines.append(
                {
                    "Description": ln.memo,
                    "Amount": ln.amount,
                    "DetailType": "JournalEntryLineDetail",
                    "JournalEntryLineDetail": detail,
                }
            )
        body: dict[str, Any] = {
            "DocNumber": je.reference,
            "TxnDate": je.txn_date.isoformat(),
            "PrivateNote": je.title,
            "Adjustment": False,
            "CurrencyRef": {"value": je.currency},
            "ExchangeRate": je.exchange_rate,
            "Line": lines,
        }
        self._create("JournalEntry", je.key, body, audit_at(je.created or je.txn_date, je.key))

    def build_documents(self, *, release: bool = False) -> None:
        """Insert the QuickBooks documents; with ``release`` each model list loses its QuickBooks
        documents once they are in the state (the generator has already taken what the manifest
        needs), which keeps peak memory under budget at 100,000 invoices."""
        g = self.group
        phases: tuple[tuple[str, Any], ...] = (
            ("sales_docs", self._sales),
            ("receipts", self._payment),
            ("purchase_docs", self._bill),
            ("disbursements", self._bill_payment),
            ("journals", self._journal),
        )
        for attribute, insert in phases:
            records = getattr(g, attribute)
            for record in records:
                if record.system == "qbo":
                    insert(record)
            if release:
                setattr(g, attribute, [r for r in records if r.system != "qbo"])
                del records

    def build(self, *, release: bool = False) -> QboState:
        self.build_lists()
        self.build_parties()
        self.build_documents(release=release)
        close_at = datetime.combine(self.group.periods.open_start, time(7, 0), tzinfo=COMPANY_TZ)
        self.realm.update_preferences(
            {"AccountingInfoPrefs": {"BookCloseDate": self.group.periods.closed_through.isoformat()}}, at=close_at
        )
        return self.state


def build_qbo_state(group: Group, *, release: bool = False) -> tuple[QboState, dict[str, str]]:
    """The QuickBooks company for ``group`` and the model-key -> QuickBooks Id map.

    ``release=True`` drops the QuickBooks documents from ``group`` as they are inserted.
    """
    adapter = QboAdapter(group)
    return adapter.build(release=release), adapter.ids
