"""The flows the harness measures, by DAG id. A later flow issue adds its flow with one line here.

Only what the harness needs from outside the product: which DAG to run, which objects it syncs on
each side (for the naive baseline and for the 1% edits), and the typical monthly change rate the
forecast assumes. A flow whose DAG file is not in ``dags/`` yet is skipped, so the list can name
flows that are still being built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchFlow:
    dag_id: str
    qbo_entity: str  # QuickBooks entity the flow syncs, e.g. "Customer"
    intacct_object: str  # Intacct object, e.g. "CUSTOMER"
    intacct_id_field: str  # its ID field, e.g. "CUSTOMERID"
    #: Share of the flow's records (both sides) created or edited in a typical month, for the forecast.
    #: Master data: a finance team adds and edits a few percent of its customers/vendors a month.
    monthly_change_rate: float = 0.05
    #: How the harness edits 1% of the QuickBooks records: "phone" (a contact's phone number) or
    #: "amount" (a journal entry's first debit and credit line raised by 1.00, so it stays balanced).
    qbo_edit: str = "phone"
    #: One-way flows (QuickBooks documents into Intacct): the Intacct side is not edited by users.
    one_way: bool = False
    #: Whether the naive per-record baseline applies to this flow.
    baseline: bool = True
    #: "master" (two-way master data) or "document" (one-way documents: the baseline posts each one,
    #: the 1% edits change QuickBooks documents only).
    kind: str = "master"
    #: DAGs run (not measured) before each repetition's first run, e.g. customers before invoices.
    before: tuple[str, ...] = ()
    #: Whether the flow takes Intacct records to QuickBooks at all; when not (invoices, journal
    #: entries), Intacct's own documents are none of its business and make chaos does not ask why
    #: they are not linked.
    intacct_to_qbo: bool = True

    @property
    def available(self) -> bool:
        return (ROOT / "dags" / f"{self.dag_id}.py").exists()


FLOWS: list[BenchFlow] = [
    BenchFlow("qbo_intacct_customers", "Customer", "CUSTOMER", "CUSTOMERID"),
    BenchFlow("qbo_intacct_vendors", "Vendor", "VENDOR", "VENDORID"),
    # Invoices: most are keyed once and edited rarely; a month adds about a twelfth of a year's books.
    BenchFlow(
        "qbo_intacct_invoices",
        "Invoice",
        "ARINVOICE",
        "RECORDID",
        monthly_change_rate=0.1,
        kind="document",
        before=("qbo_intacct_customers",),
        one_way=True,
        intacct_to_qbo=False,
    ),
    # issue 16: bills both ways, after vendors; the harness edits QuickBooks bills only (memo), which the
    # flow carries to Intacct; no naive baseline (the invoice baseline posts AR documents)
    BenchFlow(
        "qbo_intacct_bills",
        "Bill",
        "APBILL",
        "RECORDID",
        monthly_change_rate=0.1,
        kind="document",
        before=("qbo_intacct_vendors",),
        one_way=True,
        baseline=False,
    ),
    # issue 15: customer payments post one way as Intacct receipts, after the invoices they pay; an edit that
    # changes no amount (a memo) posts nothing, so the 1% edits measure an unchanged-content run. Receipts are
    # known by their DOCNUMBER (the payment's reference, else QBO-PMT-<Id>): RECORDNO differs between runs.
    BenchFlow(
        "qbo_intacct_payments",
        "Payment",
        "ARPYMT",
        "DOCNUMBER",
        monthly_change_rate=0.1,
        kind="document",
        before=("qbo_intacct_customers", "qbo_intacct_invoices"),
        one_way=True,
        baseline=False,
    ),
    # issue 17: journal entries post one way; a month's change is the month's new entries and a few edits.
    # Batches are known by their reference (QBO-JE-<Id>): RECORDNO differs between runs (make chaos).
    BenchFlow(
        "qbo_intacct_journal_entries",
        "JournalEntry",
        "GLBATCH",
        "REFERENCENO",
        monthly_change_rate=0.1,
        qbo_edit="amount",
        one_way=True,
        baseline=False,
        intacct_to_qbo=False,
    ),
]


def selected(dag_ids: list[str] | None = None) -> list[BenchFlow]:
    """The flows to run: the ones named (in list order), or every flow whose DAG exists."""
    flows = [f for f in FLOWS if f.available]
    if dag_ids:
        unknown = sorted(set(dag_ids) - {f.dag_id for f in flows})
        if unknown:
            raise ValueError(f"no benchmark flow (or no DAG file) for {unknown}; see bench/flows.py")
        flows = [f for f in flows if f.dag_id in dag_ids]
    return flows
