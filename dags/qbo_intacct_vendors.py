"""
### Vendors, both ways (QuickBooks Online <-> Sage Intacct)

Keeps vendors the same in both ledgers: name, company, print-as name, remit-to address, email,
phone, payment terms, account number, tax ID, 1099 status, currency, active status and bank details.

**What it does each run**
1. Checks the mapping workbook first; a broken workbook stops the run (the log names sheet, row
   and column) before anything is read or written.
2. Reads the vendors changed since the last successful run (everything on the first run) from both
   systems, plus their partners and the vendors held for review.
3. Finds each vendor's partner by its link, by the id the sync gave it, by tax ID or email, never by
   name alone. A vendor keyed twice, or matching only by name, is held for review, and it stays held
   until finance decides, whatever else changes.
4. Creates missing vendors on the other side (new Intacct vendors get the id `QB-V<QuickBooks id>`;
   new QuickBooks vendors get the Intacct name, made unique across customers, vendors and employees
   with ` (<VENDORID>)`), and copies edits across by the workbook's *Field Groups* sheet.
5. **Bank details** are what fraud targets: a change of a linked vendor's bank account is never
   copied silently. It is held for review showing the last four digits of the old and new account;
   approve it in the `qbo_intacct_review` DAG and the next run applies it and records who approved it
   in the ledger. Full account numbers never appear in logs, staged files, review items or summaries.
6. Writes a summary: read, created, updated, skipped, held for review, failed.

**Params**: `dry_run` shows the plan and writes nothing; `full_refresh` reads everything.

**Schedule**: every 15 minutes; override with `QBO_INTACCT_VENDORS_SCHEDULE` (cron, or `none`).
"""

from __future__ import annotations

from airflow.sdk import DAG

from qbo_intacct.flows.vendors import SPEC
from qbo_intacct.operators.sync_dag import build_sync_dag

dag: DAG = build_sync_dag(SPEC, doc_md=__doc__)
