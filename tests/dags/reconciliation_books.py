"""Books for the reconciliation story: the seeded demo group, with Intacct holding what a finished
sync would hold, plus the differences a controller must be shown.

The seeded books keep the two companies apart (QuickBooks documents reach Intacct only through the
sync flows, two of which are still being built). Running every flow would cost the suite minutes,
so this module writes the Intacct side the way the sync leaves it, through the Intacct sandbox's own
state API (validation, totals and payment application as the sandbox does them): every QuickBooks
customer, vendor and document, with ``EXTERNALID = qbo:<Entity>:<Id>`` and the QuickBooks number,
date, currency, rate, total and open balance. The documents the invoices flow holds or skips (the
planted ``unmapped_account_invoice``, ``unused_currency_document``, ``zero_amount_invoice`` and
``closed_period_invoice``) stay out of Intacct, as the flow leaves them.

Then :data:`PLANTS` change the Intacct side on purpose, one per discrepancy type. ``expected``
returns what the workbook must say: every planted difference and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from include.sandbox.books.reference import QBO_DEPARTMENTS
from include.sandbox.intacct.state import IntacctState

FORMULA_VENDOR = '=HYPERLINK("http://x","y")'
HELD_TAGS = ("unmapped_account_invoice", "unused_currency_document", "zero_amount_invoice", "closed_period_invoice")
ENTITY_OF = {d.name: d.entity_id for d in QBO_DEPARTMENTS}
BASE = {"US": "USD", "UK": "GBP", "CA": "CAD"}
PERIOD = (date(2026, 10, 1), date(2026, 10, 31))
CENT = Decimal("0.01")
INTACCT_OBJECT = {"Invoice": "ARINVOICE", "CreditMemo": "ARADJUSTMENT", "Bill": "APBILL"}
ACCOUNT = {"ARINVOICE": "40100", "ARADJUSTMENT": "40100", "APBILL": "65000"}
LINES = {"ARINVOICE": "ARINVOICEITEMS", "ARADJUSTMENT": "ARADJUSTMENTITEMS", "APBILL": "APBILLITEMS"}


@dataclass
class Plant:
    kind: str  # the discrepancy type the workbook must show
    check: str
    number: str
    difference: Decimal | None = None


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _records(qbo_snapshot: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    realm = next(iter(qbo_snapshot["realms"].values()))
    return realm["records"]


def _in_period(doc: dict[str, Any]) -> bool:
    return PERIOD[0].isoformat() <= doc["TxnDate"] <= PERIOD[1].isoformat()


def _entity(doc: dict[str, Any]) -> str:
    return ENTITY_OF.get((doc.get("DepartmentRef") or {}).get("name", ""), "US")


def _rate(doc: dict[str, Any], entity: str) -> Decimal:
    currency = doc["CurrencyRef"]["value"]
    if currency == BASE[entity]:
        return Decimal("1")
    return Decimal(str(doc.get("ExchangeRate") or 1))


class Mirror:
    """Writes the Intacct side of the QuickBooks books and plants the differences."""

    def __init__(self, books: Path) -> None:
        self.books = books
        self.qbo = _records(json.loads((books / "qbo.json").read_text()))
        self.manifest = json.loads((books / "manifest.json").read_text())
        self.state = IntacctState.load(books / "intacct.json")
        held = {(p["object"], str(p["id"])) for p in self.manifest["planted"] if p["tag"] in HELD_TAGS}
        self.held = held
        self.parties: dict[tuple[str, str], str] = {}
        self.docs: dict[str, dict[str, Any]] = {}  # "Invoice:17" -> the Intacct record
        self.plants: list[Plant] = []

    # -- parties --------------------------------------------------------------------------

    def party(self, kind: str, ref: dict[str, Any], currency: str) -> str:
        key = (kind, str(ref["value"]))
        if key not in self.parties:
            obj = "CUSTOMER" if kind == "customer" else "VENDOR"
            party_id = f"Q{kind[0].upper()}-{ref['value']}"
            self.state.create(obj, {f"{obj}ID": party_id, "NAME": ref["name"], "STATUS": "active"})
            self.parties[key] = party_id
        return self.parties[key]

    # -- documents ------------------------------------------------------------------------

    def document(self, entity_name: str, doc: dict[str, Any], *, number: str | None = None) -> dict[str, Any]:
        obj = INTACCT_OBJECT[entity_name]
        kind = "vendor" if obj == "APBILL" else "customer"
        entity = _entity(doc)
        party = self.party(kind, doc["VendorRef" if kind == "vendor" else "CustomerRef"], doc["CurrencyRef"]["value"])
        total = _money(doc["TotalAmt"])
        line = {"ACCOUNTNO": ACCOUNT[obj], "TRX_AMOUNT": -total if obj == "ARADJUSTMENT" else total}
        fields: dict[str, Any] = {
            ("VENDORID" if kind == "vendor" else "CUSTOMERID"): party,
            "WHENCREATED": doc["TxnDate"],
            "WHENDUE": doc.get("DueDate") or doc["TxnDate"],
            "RECORDID": number or doc.get("DocNumber") or f"QB-{doc['Id']}",
            "CURRENCY": doc["CurrencyRef"]["value"],
            "EXCHANGE_RATE": _rate(doc, entity),
            "EXTERNALID": f"qbo:{entity_name}:{doc['Id']}",
            LINES[obj]: [line],
        }
        if obj == "APBILL":
            fields["STATE"] = "Approved"
        rec = self.state.create(obj, fields, entity_id=entity)
        return self.state.records[obj][rec["RECORDNO"]]

    def set_open(self, rec: dict[str, Any], open_: Decimal) -> None:
        """Give an Intacct document the open balance QuickBooks shows (the payments' effect)."""
        sign = -1 if str(rec.get("TRX_TOTALENTERED", "0")).startswith("-") else 1
        total = abs(_money(rec["TRX_TOTALENTERED"]))
        rate = Decimal(str(rec.get("EXCHANGE_RATE") or 1))
        rec["TRX_TOTALDUE"] = sign * open_
        rec["TRX_TOTALPAID"] = sign * (total - open_)
        rec["TOTALDUE"] = (sign * open_ * rate).quantize(CENT)
        rec["TOTALPAID"] = (sign * (total - open_) * rate).quantize(CENT)
        if rec.get("STATE") not in ("Draft", "Submitted"):
            rec["STATE"] = "Paid" if open_ == 0 else ("Partially Paid" if open_ != total else "Posted")

    def payment(self, entity_name: str, pay: dict[str, Any]) -> None:
        obj = "ARPYMT" if entity_name == "Payment" else "APPYMT"
        kind = "customer" if obj == "ARPYMT" else "vendor"
        ref = pay["CustomerRef" if kind == "customer" else "VendorRef"]
        applied = {
            f"{link['TxnType']}:{link['TxnId']}": _money(line["Amount"])
            for line in pay.get("Line", [])
            for link in line.get("LinkedTxn", [])
        }
        docs = [self.docs[k] for k in applied if k in self.docs and not k.startswith("CreditMemo")]
        entity = docs[0]["MEGAENTITYID"] if docs else "US"
        party = self.party(kind, ref, pay["CurrencyRef"]["value"])
        total = _money(pay["TotalAmt"])
        unapplied = _money(pay.get("UnappliedAmt") or 0)
        fields: dict[str, Any] = {
            ("CUSTOMERID" if kind == "customer" else "VENDORID"): party,
            "PAYMENTMETHOD": "ACH",
            "PAYMENTDATE": pay["TxnDate"],
            "DOCNUMBER": pay.get("PaymentRefNum") or pay.get("DocNumber") or None,
            "CURRENCY": pay["CurrencyRef"]["value"],
            "EXCHANGE_RATE": Decimal("1")
            if pay["CurrencyRef"]["value"] == BASE[entity]
            else Decimal(str(pay["ExchangeRate"])),
            "FINANCIALENTITY": self.bank(entity),
            f"{obj}DETAILS": [{"RECORDKEY": d["RECORDNO"], "TRX_PAYMENTAMOUNT": d["TRX_TOTALDUE"]} for d in docs[:1]],
        }
        if kind == "customer":
            fields["RECEIPTDATE"] = pay["TxnDate"]
        if not docs:
            return
        rec = self.state.create(obj, fields, entity_id=entity)
        stored = self.state.records[obj][rec["RECORDNO"]]
        stored["TRX_TOTALENTERED"], stored["TRX_TOTALPAID"], stored["TRX_TOTALDUE"] = (
            total,
            total - unapplied,
            unapplied,
        )

    def bank(self, entity: str) -> str:
        for rec in self.state.records["CHECKINGACCOUNT"].values():
            if rec.get("CURRENCY") == BASE[entity] or not rec.get("CURRENCY"):
                return str(rec["BANKACCOUNTID"])
        return str(next(iter(self.state.records["CHECKINGACCOUNT"].values()))["BANKACCOUNTID"])

    def build(self) -> None:
        for entity_name in ("Invoice", "CreditMemo", "Bill"):
            for doc in sorted(self.qbo.get(entity_name, []), key=lambda d: d["TxnDate"]):
                if (entity_name, str(doc["Id"])) in self.held:
                    continue
                self.docs[f"{entity_name}:{doc['Id']}"] = self.document(entity_name, doc)
        for entity_name in ("Payment", "BillPayment"):
            for pay in sorted(self.qbo.get(entity_name, []), key=lambda d: d["TxnDate"]):
                self.payment(entity_name, pay)
        for key, rec in self.docs.items():  # the open balances QuickBooks shows, whatever the payments did
            entity_name, _, qid = key.partition(":")
            doc = next(d for d in self.qbo[entity_name] if str(d["Id"]) == qid)
            self.set_open(rec, _money(doc.get("RemainingCredit", doc.get("Balance", 0)) or 0))

    # -- the planted differences --------------------------------------------------------

    def _pick(self, entity_name: str, want: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        used = {p.number for p in self.plants}
        for doc in sorted(self.qbo[entity_name], key=lambda d: d["TxnDate"]):
            key = f"{entity_name}:{doc['Id']}"
            if key in self.docs and _in_period(doc) and doc.get("DocNumber") not in used and want(doc):
                return doc, self.docs[key]
        raise LookupError(f"no {entity_name} in the period fits")

    def plant(self) -> None:
        doc, rec = self._pick("Invoice", lambda d: d["CurrencyRef"]["value"] == "USD" and _money(d["Balance"]) > 0)
        rec["TRX_TOTALENTERED"] = rec["TOTALENTERED"] = _money(doc["TotalAmt"]) + Decimal("100.00")
        rec["TRX_TOTALDUE"] = rec["TOTALDUE"] = _money(doc["Balance"]) + Decimal("100.00")
        self.plants.append(Plant("Amount differs", "Invoices", doc["DocNumber"], Decimal("-100.00")))

        doc, rec = self._pick("Invoice", lambda d: _money(d["Balance"]) > 0 and d["CurrencyRef"]["value"] == "USD")
        self.set_open(rec, Decimal("0.00"))
        self.plants.append(Plant("Status differs", "Invoices", doc["DocNumber"], _money(doc["Balance"])))

        doc, rec = self._pick("Invoice", lambda d: _entity(d) == "US" and d["CurrencyRef"]["value"] != "USD")
        rec["EXCHANGE_RATE"] = Decimal(str(rec["EXCHANGE_RATE"])) + Decimal("0.0150")
        self.plants.append(Plant("Currency or rate differs", "Invoices", doc["DocNumber"], Decimal("-0.0150")))

        doc, rec = self._pick("Bill", lambda d: _money(d["Balance"]) > 0)
        rec["WHENCREATED"] = "2026-11-03"  # moved into the next period
        self.plants.append(Plant("Date or period differs", "Bills", doc["DocNumber"]))

        doc, _ = self._pick("Bill", lambda d: _money(d["Balance"]) == 0)
        self.document("Bill", doc, number=f"{doc['DocNumber']}-2")  # keyed twice in Intacct
        dup = self.state.records["APBILL"][max(self.state.records["APBILL"])]
        self.set_open(dup, Decimal("0.00"))
        self.plants.append(Plant("Duplicate", "Bills", doc["DocNumber"], _money(doc["TotalAmt"])))

        ghost = self._ghost()
        self.document("Invoice", ghost)
        self.plants.append(Plant("Missing in QuickBooks", "Invoices", ghost["DocNumber"], -_money(ghost["TotalAmt"])))

        # A vendor named like a spreadsheet formula (QuickBooks refuses the colon in a display name, Intacct
        # takes it), whose bill came from a QuickBooks bill since deleted there.
        bill = {**self._ghost(), "Id": "9002", "DocNumber": "HYP-1", "TotalAmt": 321.09, "Balance": 321.09}
        bill["VendorRef"] = {"value": "hyperlink", "name": FORMULA_VENDOR}
        self.document("Bill", bill)
        self.plants.append(Plant("Missing in QuickBooks", "Bills", "HYP-1", Decimal("-321.09")))

        for p in self.manifest["planted"]:
            if p["tag"] in HELD_TAGS and p["object"] == "Invoice":
                self.plants.append(Plant("Missing in Intacct", "Invoices", p["doc_number"], _money(p["total"])))

    def _ghost(self) -> dict[str, Any]:
        """An invoice QuickBooks deleted after the sync copied it (its Id no longer exists there)."""
        template = next(d for d in self.qbo["Invoice"] if _in_period(d) and d["CurrencyRef"]["value"] == "USD")
        return {
            **template,
            "Id": "9001",
            "DocNumber": "9001",
            "TxnDate": "2026-10-20",
            "TotalAmt": 2400.0,
            "Balance": 2400.0,
        }

    def save(self) -> None:
        self.state.save(self.books / "intacct.json")


def mirror_books(books: Path) -> list[Plant]:
    """Write the Intacct side into ``books/intacct.json``; return the planted differences."""
    mirror = Mirror(books)
    mirror.build()
    mirror.plant()
    mirror.save()
    return mirror.plants
