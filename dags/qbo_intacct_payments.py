"""
### Customer payments, QuickBooks Online -> Sage Intacct cash receipts

Posts each QuickBooks customer payment as an Intacct cash receipt (AR payment) applied to the same
invoices the invoices flow posted, so AR aging, bank reconciliation and cash agree in both systems.

**What it does each run**
1. Checks the mapping workbook first; a broken workbook stops the run before anything is read.
2. Reads the payments changed since the last run (everything on the first run), the deletions
   QuickBooks' change data capture reports, and the payments still waiting or held.
3. Maps each one: customer through the customers flow, each line (`LinkedTxn`) to the Intacct
   invoice or credit memo the invoices flow posted; the payment method through the *Payment
   Methods* sheet and the deposit account (Undeposited Funds when none) through *Bank Accounts*;
   date, reference, currency and the payment's own exchange rate. A payment whose invoice is not in
   Intacct yet *waits*, is retried every run and after `qbo_intacct_payments_pending_hours`
   (default 72) is also a review item; it is never applied to a guessed invoice.
4. Posts one receipt per entity: cash applied per invoice, credit memos applied to the invoices of
   the same payment, the unapplied amount as the receipt's overpayment (the customer's credit in
   Intacct). A voided or deleted payment reverses its receipts; an edited one is reversed and posted
   again. Every receipt carries a key derived from its content, so a rerun never posts twice.
5. Compares the open balance of every invoice it paid, QuickBooks against Intacct, to the cent.
6. Writes a summary: read, posted, reversed, skipped, held, waiting, failed, balance differences.

**Params**: `dry_run` shows the plan and writes nothing; `full_refresh` reads everything.

**Schedule**: after each invoices run (Asset) and every 15 minutes; override the cron with
`QBO_INTACCT_PAYMENTS_SCHEDULE` (cron, or `none` for invoices-triggered only).
"""

from __future__ import annotations

from airflow.sdk import DAG

from qbo_intacct.operators.payment_dag import build_payment_dag

dag: DAG = build_payment_dag(doc_md=__doc__)
