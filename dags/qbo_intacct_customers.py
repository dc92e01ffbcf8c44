"""
### Customers, both ways (QuickBooks Online <-> Sage Intacct)

Keeps customers the same in both ledgers: name, company, billing address, email, phone, payment
terms, credit limit, tax exemption (taxable, tax ID, resale number), currency and active status.

**What it does each run**
1. Checks the mapping workbook first; a broken workbook stops the run (the log names sheet, row
   and column) before anything is read or written.
2. Reads the customers changed since the last successful run (everything on the first run) from
   both systems, plus their partners on the other side.
3. Finds each customer's partner: by the link it already has, by tax ID, email or the reference the
   sync stored, and never by name alone. A customer keyed twice, or matching only by name, is held
   for review and nothing is created for it.
4. Creates missing customers on the other side (new Intacct customers get the id `QB-<QuickBooks
   id>`; new QuickBooks customers get the Intacct name, made unique, and the Intacct id in
   *Account no.*), and copies edits across. When both sides were edited, the workbook's
   *Field Groups* sheet says which system wins; otherwise the customer is held for review.
5. Writes a summary: read, created, updated, skipped, held for review, failed.

**Finance decisions**: answer held customers in the workbook's *Record Links* table, or in the
`qbo_intacct_review` DAG; the next run applies them.

**Params**: `dry_run` shows the plan (every create and update with field-level changes, staged as
`plan.parquet`) and writes nothing; `full_refresh` reads everything instead of the changes.

**Schedule**: every 15 minutes; override with the environment variable
`QBO_INTACCT_CUSTOMERS_SCHEDULE` (a cron expression, or `none` for manual only) on the scheduler
and DAG processor.
"""

from __future__ import annotations

from airflow.sdk import DAG

from qbo_intacct.flows.customers import SPEC
from qbo_intacct.operators.sync_dag import build_sync_dag

dag: DAG = build_sync_dag(SPEC, doc_md=__doc__)
