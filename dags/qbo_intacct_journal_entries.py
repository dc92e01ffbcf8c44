"""
### Journal entries: QuickBooks Online -> Sage Intacct general ledger

Posts each QuickBooks journal entry into the right Intacct entity, accounts and dimensions, exactly
once, either one for one or summarized per period, so the consolidated statements reflect the
subsidiary.

**What it does each run**
1. Checks the mapping workbook first; a broken workbook stops the run (the log names sheet, row
   and column) before anything is read or written.
2. Reads the journal entries changed since the last successful run (everything on the first run),
   the entries deleted in QuickBooks, and the entries held for review.
3. Maps every line: the entity, location, department and class from the *Entity Routing* sheet,
   the account from the *Accounts* sheet (per entity where it differs), debits and credits as
   Intacct's direction flag with absolute amounts, the currency and rate of foreign entries.
4. Holds an entry **whole** (never in part) when a line's account is unmapped, its lines do not
   balance within one entity after mapping and rounding, or a line would post to an Intacct
   control account (A/R, A/P) for which the *Clearing Accounts* sheet names no clearing account.
   The review item names the line and where to fix it; the next run posts the entry.
5. Posts, per the *Journals* sheet (journal symbol and mode per entity):
   - **Detailed**: one Intacct batch per entry; an edit or delete reverses the batch and posts the
     new version;
   - **Summarized**: one batch per entity and period (month or day) once the period has ended, lines
     summed by account and dimensions; a later edit, add or delete posts one adjusting batch for the
     difference, never a re-post of the period.
   Each batch's reference is `QBO-JE-<QuickBooks Id>` (summaries: `QBO-JE-SUM-<entity>-<period>`)
   and its title carries the QuickBooks number. Entries in a period Intacct has closed are held.
6. Ties out: per entity, account and month posted into, QuickBooks' trial balance through the
   mapping against Intacct's trial balance. What journal entries do not explain (other QuickBooks
   transactions, Intacct's own documents, held entries) is named as such; any other difference
   goes in the summary with the entity, account and amount.

**Params**: `dry_run` shows the batches and posts nothing; `full_refresh` reads everything.

**Schedule**: daily; override with `QBO_INTACCT_JOURNAL_ENTRIES_SCHEDULE` (cron, or `none`).
"""

from __future__ import annotations

from airflow.sdk import DAG

from qbo_intacct.operators.journal_dag import build_journal_dag

dag: DAG = build_journal_dag(doc_md=__doc__)
