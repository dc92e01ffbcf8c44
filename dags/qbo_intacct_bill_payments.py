"""
### Bill payments, both ways: QuickBooks Online <-> Sage Intacct

A QuickBooks bill payment (check or credit card) becomes an Intacct AP payment against the linked
bills, with the bank or card account mapped to the Intacct financial entity (*Bank Accounts* sheet)
and the method mapped (*Payment Methods* sheet); an Intacct AP payment becomes a QuickBooks bill
payment against the linked bills. Partial payments leave the same balance due on both sides.

A payment whose bill is not linked yet (waiting for its vendor, for approval in Intacct, or held)
waits, is retried every run, and after `qbo_intacct_bill_payments_pending_hours` (default 72) is
also a review item. A payment is applied once, whatever reruns and retries do; an edit or a void of
a payment already carried is a review item.

**Params**: `dry_run` writes nothing; `full_refresh` reads everything.
**Schedule**: after each bills run (Asset) and every 15 minutes (`QBO_INTACCT_BILL_PAYMENTS_SCHEDULE`).
"""

from __future__ import annotations

from airflow.sdk import DAG

from qbo_intacct.flows.bill_payments import SPEC
from qbo_intacct.operators.bill_dag import build_bill_payment_dag

dag: DAG = build_bill_payment_dag(SPEC, doc_md=__doc__)
