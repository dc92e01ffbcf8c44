"""
### Bills, both ways: QuickBooks Online <-> Sage Intacct

Copies each approved bill to the other system once, with its vendor, GL coding, department
allocation, dates, terms, currency and rate, and keeps the pair in step: edits update the other side
while the bill is unpaid there, deletes reverse, and the Intacct approval state of each linked bill
is kept in the ledger and the summary.

**What it does each run**
1. Checks the mapping workbook first (a broken workbook stops the run before anything is read).
2. Reads the bills changed since the last run on both sides (everything on the first run), the
   deletions QuickBooks' change data capture reports, the bills still waiting or held, and the other
   side's record of each linked bill.
3. QuickBooks -> Intacct: created in the state the workbook's *Bills* sheet gives the entity
   (Submitted or Posted). Intacct -> QuickBooks: only once approved or posted (Draft and Submitted
   wait and are counted). Vendors through the vendors flow's links: a bill whose vendor is not
   linked *waits*, is retried every run, and after `qbo_intacct_bills_pending_hours` (default 72)
   is also a review item. Lines through the *Accounts* sheet and *Entity Routing*; an Intacct bill
   whose lines carry different departments follows the Bills sheet's *Line Departments*
   (Class per line by default, or Hold).
4. Unmapped accounts, closed periods, a bill number the vendor already has, an edit to a paid bill,
   a reversal in Intacct: held for review with the reason and where to fix it.
5. Writes a summary: read, created, updated, held, waiting (vendor, approval), approval states.

**Params**: `dry_run` shows the plan and writes nothing; `full_refresh` reads everything.

**Schedule**: after each vendors run (Asset) and every 15 minutes; override the cron with
`QBO_INTACCT_BILLS_SCHEDULE` (cron, or `none` for vendors-triggered only).
"""

from __future__ import annotations

from airflow.sdk import DAG

from qbo_intacct.flows.bills import SPEC
from qbo_intacct.operators.bill_dag import build_bill_dag

dag: DAG = build_bill_dag(SPEC, doc_md=__doc__)
