"""What the period-end reconciliation compares: one :class:`Check` per kind of document.

A check names the QuickBooks entity and the Intacct object that hold the same documents, the
fields each side reads, and the sync flow whose ledger links pair them. Nothing here calls an API.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One kind of document compared record by record.

    ``party`` is ``customer`` or ``vendor``; ``kind`` is ``document`` (total and open balance) or
    ``payment`` (total, applied and unapplied). ``intacct_number`` is the field finance searches for
    the document's number in Intacct; ``intacct_date`` the document date.
    """

    name: str
    title: str
    qbo_entity: str
    intacct_object: str
    party: str
    kind: str
    flow: str
    intacct_number: str
    intacct_date: str
    qbo_number: str = "DocNumber"

    @property
    def party_id_field(self) -> str:
        return "CUSTOMERID" if self.party == "customer" else "VENDORID"

    @property
    def party_name_field(self) -> str:
        return "CUSTOMERNAME" if self.party == "customer" else "VENDORNAME"

    @property
    def qbo_party_ref(self) -> str:
        return "CustomerRef" if self.party == "customer" else "VendorRef"

    @property
    def has_external_id(self) -> bool:
        return self.kind == "document"

    @property
    def intacct_fields(self) -> tuple[str, ...]:
        fields = [
            "RECORDNO",
            self.intacct_number,
            self.party_id_field,
            self.party_name_field,
            self.intacct_date,
            "STATE",
            "CURRENCY",
            "EXCHANGE_RATE",
            "BASECURR",
            "MEGAENTITYID",
            "TRX_TOTALENTERED",
            "TRX_TOTALPAID",
            "TRX_TOTALDUE",
        ]
        if self.has_external_id:
            fields.append("EXTERNALID")
        return tuple(dict.fromkeys(fields))


CHECKS: tuple[Check, ...] = (
    Check(
        "invoices", "Invoices", "Invoice", "ARINVOICE", "customer", "document", "invoices", "RECORDID", "WHENCREATED"
    ),
    Check(
        "credit_memos",
        "Credit memos",
        "CreditMemo",
        "ARADJUSTMENT",
        "customer",
        "document",
        "invoices",
        "RECORDID",
        "WHENCREATED",
    ),
    Check(
        "customer_payments",
        "Customer payments",
        "Payment",
        "ARPYMT",
        "customer",
        "payment",
        "payments",
        "DOCNUMBER",
        "PAYMENTDATE",
        qbo_number="PaymentRefNum",
    ),
    Check("bills", "Bills", "Bill", "APBILL", "vendor", "document", "bills", "RECORDID", "WHENCREATED"),
    Check(
        "bill_payments",
        "Bill payments",
        "BillPayment",
        "APPYMT",
        "vendor",
        "payment",
        "bill_payments",
        "DOCNUMBER",
        "PAYMENTDATE",
    ),
)
CHECKS_BY_NAME = {c.name: c for c in CHECKS}
