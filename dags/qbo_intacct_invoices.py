"""
### Invoices and credit memos, QuickBooks Online -> Sage Intacct

Posts each QuickBooks invoice as an Intacct AR invoice and each credit memo as an Intacct AR
adjustment (a credit), with the same customer, lines, accounts, tax, dates, currency and rate and
entity, and keeps them in step: edits update, voids and deletes reverse, and the status of both
sides is compared after every run.

**What it does each run**
1. Checks the mapping workbook first; a broken workbook stops the run before anything is read.
2. Reads the documents changed since the last run (everything on the first run), the deletions
   QuickBooks' change data capture reports, the documents still waiting or held, and the partners
   of Intacct documents changed since the last run.
3. Maps each one: customer through the customers flow's links (an invoice whose customer is not
   linked yet *waits*, is retried every run and counted, and after
   `qbo_intacct_invoices_pending_hours` (default 72) is also a review item); lines through the
   item's income account and the *Accounts* sheet; discounts; bundles expanded; tax on the account
   of the *Tax Codes* sheet; location, department and class from *Entity Routing*.
4. Creates what is new (one Intacct API transaction per document, many per request), updates what
   was edited while nothing is applied to it in Intacct, reverses what was voided or deleted on the
   void date. An invoice number already used in Intacct, an edit to a paid invoice, a closed
   period, an unmapped account or currency are held for review with the reason and where to fix it.
5. Compares status (open, partly paid, paid, voided) and open balance of each linked document on
   both sides and lists the ones that disagree (the payments flow makes them agree).
6. Writes a summary: read, created, updated, skipped, held, waiting, failed, status differences.

**Params**: `dry_run` shows the plan and writes nothing; `full_refresh` reads everything.

**Schedule**: after each customers run (Asset) and every 15 minutes; override the cron with
`QBO_INTACCT_INVOICES_SCHEDULE` (cron, or `none` for customers-triggered only).
"""

from __future__ import annotations

from airflow.sdk import DAG

from qbo_intacct.flows.invoices import SPEC
from qbo_intacct.operators.document_dag import build_document_dag

dag: DAG = build_document_dag(SPEC, doc_md=__doc__)
