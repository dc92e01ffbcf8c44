"""Feed the neutral group into the Intacct sandbox state (the parent's multi-entity company).

Everything goes through :class:`include.sandbox.intacct.state.IntacctState` ``create``, so RECORDNO,
MEGAENTITYID, TOTALDUE/TOTALPAID/STATE and the exchange-rate arithmetic are exactly what the XML
gateway would produce for the same requests. Audit times (``when``) come from the model's dates, so
WHENCREATED/WHENMODIFIED never depend on the day the books are generated.

Choices a reader should know:
- Documents are created inside their entity (as an entity session would); customers and vendors of
  the UK and CA entities are private to them, US and matched ones are top level (shared).
- The closed period is applied last (``books_closed_through``), after the history in it is posted.
- A/R and A/P (11000, 20000) are closed to direct posting (SUBLEDGERCONTROLON) last too, after the
  group's own journals (an FX revaluation credits A/R) were posted: a journal entry synced from
  QuickBooks must not post to them (the journal entries flow uses the workbook's clearing account).
- The planted unbalanced journal is created balanced as a Draft and then one line is lowered by
  0.01 in the stored record: the state API (like the real one) refuses an unbalanced entry, so this
  is the one record written past validation. Snapshots load without re-validating, so it survives.
- The monthly exchange rates of the model are stored as EXCHANGERATE records (first of each month),
  so a sync can look up the rate Intacct would use; documents carry their rate explicitly.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from include.sandbox.books.model import (
    Disbursement,
    Group,
    Journal,
    PurchaseDoc,
    Receipt,
    SalesDoc,
)
from include.sandbox.intacct.state import IntacctState

COMPANY_ID = "NORTHSTAR-GROUP"
COMPANY_NAME = "Northstar Group (consolidated)"


def audit_time(day: date, key: str) -> datetime:
    """A working-hours time on ``day``, fixed by the record key (stable across runs)."""
    minutes = zlib.crc32(key.encode()) % 600
    return datetime.combine(day, time(8 + minutes // 60, minutes % 60, (minutes * 7) % 60))


def _intacct_date(day: date) -> str:
    return day.isoformat()


class IntacctAdapter:
    """Writes one :class:`Group`'s Intacct side into a fresh :class:`IntacctState`."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self.state = IntacctState.empty(COMPANY_ID, company_name=COMPANY_NAME)
        self.ids: dict[str, Any] = {}  # model key -> RECORDNO (documents) or ID (lists)
        self._setup_day = group.periods.window_start
        self._terms = {t.key: t for t in group.terms}
        self._methods = {m.key: m for m in group.payment_methods}
        self._banks = {b.key: b for b in group.banks}
        self._parties = {p.key: p for p in group.parties}

    def _setup_when(self, n: int) -> datetime:
        return datetime.combine(self._setup_day, time(6, 0)).replace(minute=n % 60)

    # -- lists -----------------------------------------------------------------------------

    def build_lists(self) -> None:
        st, g = self.state, self.group
        when = self._setup_when(0)
        for ent in g.entities:
            st.add_entity(ent.entity_id, ent.name, ent.currency, when=when)
            for loc in ent.locations:
                if loc.location_id != ent.entity_id:
                    st.create(
                        "LOCATION",
                        {"LOCATIONID": loc.location_id, "NAME": loc.name, "PARENTID": ent.entity_id},
                        when=when,
                    )
            for dept in ent.departments:
                st.create(
                    "DEPARTMENT",
                    {"DEPARTMENTID": dept.department_id, "TITLE": dept.name},
                    entity_id=ent.entity_id,
                    when=when,
                )
        for cls in g.intacct_classes:
            st.create("CLASS", {"CLASSID": cls.class_id, "NAME": cls.name}, when=when)
        for acct in g.gl_accounts:
            st.create(
                "GLACCOUNT",
                {
                    "ACCOUNTNO": acct.number,
                    "TITLE": acct.title,
                    "ACCOUNTTYPE": acct.account_type,
                    "NORMALBALANCE": acct.normal_balance,
                    "CATEGORY": acct.category,
                },
                when=when,
            )
        for term in g.terms:
            for obj in ("ARTERM", "APTERM"):
                fields = {"NAME": term.intacct_name, "DUEDATE": str(term.due_days), "DESCRIPTION": term.qbo_name}
                if term.discount_percent:
                    fields |= {
                        "DISCOUNTDATE": str(term.discount_days),
                        "DISCOUNTAMOUNT": str(term.discount_percent),
                        "DISCOUNTFROM": "from invoice/bill date",
                    }
                st.create(obj, fields, when=when)
        for bank in g.banks:
            if bank.intacct_financial_entity:
                st.create(
                    "CHECKINGACCOUNT",
                    {
                        "BANKACCOUNTID": bank.intacct_financial_entity,
                        "BANKNAME": bank.name,
                        "GLACCOUNTNO": bank.intacct_gl,
                        "LOCATIONID": bank.entity_id,
                        "CURRENCY": bank.currency,
                    },
                    when=when,
                )
        for (from_ccy, to_ccy, month), rate in sorted(g.rates.items()):
            if from_ccy in g.intacct_currencies and to_ccy in g.intacct_currencies:
                st.create(
                    "EXCHANGERATE",
                    {
                        "FROM_CURRENCY": from_ccy,
                        "TO_CURRENCY": to_ccy,
                        "EFFECTIVE_START_DATE": f"{month}-01",
                        "RATE": rate,
                    },
                    when=when,
                )

    def build_parties(self) -> None:
        for party in self.group.parties:
            if party.system != "intacct":
                continue
            obj = "CUSTOMER" if party.kind == "customer" else "VENDOR"
            fields: dict[str, Any] = {
                f"{obj}ID": party.party_id,
                "NAME": party.display_name,
                "DISPLAYCONTACT": {
                    "PRINTAS": party.display_name,
                    "COMPANYNAME": party.company_name,
                    "EMAIL1": party.email,
                    "MAILADDRESS": {"CITY": party.city, "STATE": party.region, "COUNTRY": party.country},
                },
                "STATUS": "active",
                "TERMNAME": self._terms[party.term_key].intacct_name,
                "CURRENCY": party.currency,
            }
            if party.tax_id:
                fields["TAXID"] = party.tax_id
            if party.vendor_1099:
                fields |= {"NAME1099": party.company_name, "FORM1099TYPE": "MISC", "FORM1099BOX": "7"}
            if party.bank_account:
                fields |= {"ACHENABLED": "true", "ACHBANKROUTINGNUMBER": party.bank_routing,
                           "ACHACCOUNTNUMBER": party.bank_account, "ACHACCOUNTTYPE": "Checking Account",
                           "ACHREMITTANCETYPE": "CCD"}  # fmt: skip
            rec = self.state.create(
                obj, fields, entity_id=party.entity_id, when=audit_time(party.created or self._setup_day, party.key)
            )
            self.ids[party.key] = rec[f"{obj}ID"]

    # -- documents -------------------------------------------------------------------------

    def _invoice(self, doc: SalesDoc) -> None:
        party = self._parties[doc.party_key]
        lines = [
            {
                "ACCOUNTNO": ln.gl_account,
                "TRX_AMOUNT": ln.amount,
                "MEMO": ln.description,
                "LOCATIONID": ln.dims.location_id,
                "DEPARTMENTID": ln.dims.department_id,
                "CLASSID": ln.dims.class_id,
            }
            for ln in doc.lines
        ]
        fields: dict[str, Any] = {
            "CUSTOMERID": party.party_id,
            "WHENCREATED": doc.txn_date,
            "WHENDUE": doc.due_date,
            "TERMNAME": self._terms[doc.term_key].intacct_name,
            "RECORDID": doc.doc_number,
            "DESCRIPTION": doc.memo or None,
            "CURRENCY": doc.currency,
            "EXCHANGE_RATE": doc.exchange_rate,
            "ARINVOICEITEMS": lines,
        }
        if doc.state == "Draft":
            fields["ACTION"] = "Draft"
        rec = self.state.create(
            "ARINVOICE", fields, entity_id=doc.dims.entity_id, when=audit_time(doc.created or doc.txn_date, doc.key)
        )
        self.ids[doc.key] = rec["RECORDNO"]

    def _bill(self, doc: PurchaseDoc) -> None:
        party = self._parties[doc.party_key]
        lines = [
            {
                "ACCOUNTNO": ln.account_key,
                "TRX_AMOUNT": ln.amount,
                "ENTRYDESCRIPTION": ln.description,
                "LOCATIONID": ln.dims.location_id,
                "DEPARTMENTID": ln.dims.department_id,
                "CLASSID": ln.dims.class_id,
            }
            for ln in doc.lines
        ]
        fields: dict[str, Any] = {
            "VENDORID": party.party_id,
            "WHENCREATED": doc.txn_date,
            "WHENDUE": doc.due_date,
            "TERMNAME": self._terms[doc.term_key].intacct_name,
            "RECORDID": doc.doc_number,
            "CURRENCY": doc.currency,
            "EXCHANGE_RATE": doc.exchange_rate,
            "STATE": doc.state,
            "APBILLITEMS": lines,
        }
        rec = self.state.create(
            "APBILL", fields, entity_id=doc.dims.entity_id, when=audit_time(doc.created or doc.txn_date, doc.key)
        )
        self.ids[doc.key] = rec["RECORDNO"]

    def _receipt(self, pay: Receipt) -> None:
        party = self._parties[pay.party_key]
        bank = self._banks[pay.bank_key]
        fields: dict[str, Any] = {
            "CUSTOMERID": party.party_id,
            "PAYMENTMETHOD": self._methods[pay.method_key].intacct_name,
            "RECEIPTDATE": pay.txn_date,
            "PAYMENTDATE": pay.txn_date,
            "DOCNUMBER": pay.reference or None,
            "CURRENCY": pay.currency,
            "EXCHANGE_RATE": pay.exchange_rate,
            "ARPYMTDETAILS": [
                {"RECORDKEY": self.ids[a.doc_key], "TRX_PAYMENTAMOUNT": a.amount} for a in pay.applications
            ],
        }
        if bank.intacct_financial_entity:
            fields["FINANCIALENTITY"] = bank.intacct_financial_entity
        else:
            fields["UNDEPOSITEDACCOUNTNO"] = bank.intacct_gl
        rec = self.state.create("ARPYMT", fields, entity_id=pay.entity_id, when=audit_time(pay.txn_date, pay.key))
        self.ids[pay.key] = rec["RECORDNO"]

    def _disbursement(self, pay: Disbursement) -> None:
        party = self._parties[pay.party_key]
        bank = self._banks[pay.bank_key]
        fields: dict[str, Any] = {
            "VENDORID": party.party_id,
            "PAYMENTMETHOD": self._methods[pay.method_key].intacct_name,
            "FINANCIALENTITY": bank.intacct_financial_entity,
            "PAYMENTDATE": pay.txn_date,
            "DOCNUMBER": pay.reference,
            "CURRENCY": pay.currency,
            "EXCHANGE_RATE": pay.exchange_rate,
            "APPYMTDETAILS": [
                {"RECORDKEY": self.ids[a.doc_key], "TRX_PAYMENTAMOUNT": a.amount} for a in pay.applications
            ],
        }
        rec = self.state.create("APPYMT", fields, entity_id=pay.entity_id, when=audit_time(pay.txn_date, pay.key))
        self.ids[pay.key] = rec["RECORDNO"]

    def _journal(self, je: Journal) -> None:
        entries = [
            {
                "ACCOUNTNO": ln.account_key,
                "TR_TYPE": "1" if ln.debit else "-1",
                "TRX_AMOUNT": ln.amount,
                "DESCRIPTION": ln.memo,
                "LOCATION": ln.dims.location_id,
                "DEPARTMENT": ln.dims.department_id,
                "CLASSID": ln.dims.class_id,
            }
            for ln in je.lines
        ]
        unbalanced = je.debits != je.credits
        if unbalanced:  # create it balanced, then plant the difference (see module docstring)
            entries[-1]["TRX_AMOUNT"] = je.lines[-1].amount + (je.debits - je.credits)
        fields: dict[str, Any] = {
            "JOURNAL": je.journal,
            "BATCH_DATE": je.txn_date,
            "BATCH_TITLE": je.title,
            "REFERENCENO": je.reference,
            "REVERSEDATE": je.reverse_date,
            "STATE": je.state,
            "ENTRIES": entries,
        }
        rec = self.state.create(
            "GLBATCH", fields, entity_id=je.entity_id, when=audit_time(je.created or je.txn_date, je.key)
        )
        if unbalanced:
            line = rec["ENTRIES"][-1]
            line["TRX_AMOUNT"] = je.lines[-1].amount
            line["AMOUNT"] = (je.lines[-1].amount * line.get("EXCHANGE_RATE", Decimal(1))).quantize(Decimal("0.01"))
        self.ids[je.key] = rec["RECORDNO"]

    def build_documents(self) -> None:
        g = self.group
        for doc in g.sales_docs:
            if doc.system == "intacct":
                self._invoice(doc)
        for bill in g.purchase_docs:
            if bill.system == "intacct":
                self._bill(bill)
        for pay in g.receipts:
            if pay.system == "intacct":
                self._receipt(pay)
        for out in g.disbursements:
            if out.system == "intacct":
                self._disbursement(out)
        for je in g.journals:
            if je.system == "intacct":
                self._journal(je)

    def build(self) -> IntacctState:
        self.build_lists()
        self.build_parties()
        self.build_documents()
        self.state.books_closed_through = self.group.periods.closed_through.isoformat()
        close_control_accounts(self.state)
        return self.state


def build_intacct_state(group: Group) -> tuple[IntacctState, dict[str, Any]]:
    """The Intacct company for ``group`` and the model-key -> Intacct id map (RECORDNO or ID)."""
    adapter = IntacctAdapter(group)
    return adapter.build(), adapter.ids


#: GL account categories Intacct keeps as subledger control accounts (SUBLEDGERCONTROLON).
CONTROL_CATEGORIES = frozenset({"Accounts Receivable", "Accounts Payable"})


def close_control_accounts(state: IntacctState) -> None:
    """Mark A/R and A/P "Disallow direct posting" (a settings change, so WHENMODIFIED stays)."""
    for account in state.all("GLACCOUNT"):
        if account.get("CATEGORY") in CONTROL_CATEGORIES:
            account["SUBLEDGERCONTROLON"] = "true"
