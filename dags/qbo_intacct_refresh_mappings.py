"""
### Refresh the mapping workbook's lists

Reads the current lists from **QuickBooks Online** (accounts, bank accounts, classes, departments,
terms, tax codes, payment methods, currencies) and **Sage Intacct** (entities, GL accounts,
locations, departments, classes, terms, checking accounts) and writes them to the workbook's
*Lists* sheets, which feed the dropdowns.

Then, on every mapping sheet, it adds a row for each active QuickBooks value that has no mapping
yet, with the QuickBooks value filled in and the Intacct side left for you (yellow until you fill it
in). It also rewrites the *Held for Review* sheet: every record the sync holds, why, and where to
fix it, in the words of the run summaries.
Nothing you typed is ever changed or removed. Until you fill a new row in, records that need it
are held for review (never posted to a guessed account).

The summary lists how many values each list has and which rows were added. If the refreshed
workbook has a problem (for example a mapping that points at an Intacct account that no longer
exists), the last task fails and names sheet, row and column.

Runs daily; override with the environment variable `QBO_INTACCT_REFRESH_MAPPINGS_SCHEDULE`
(a cron expression, or `none`). The workbook is the one named by the Airflow Variable
`qbo_intacct_mapping_workbook`.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, get_current_context, task

FLOW = "refresh_mappings"
_schedule = os.environ.get("QBO_INTACCT_REFRESH_MAPPINGS_SCHEDULE", "@daily")
SCHEDULE = None if _schedule.strip().lower() in ("", "none") else _schedule


@dag(
    dag_id="qbo_intacct_refresh_mappings",
    description="Refresh the mapping workbook's dropdown lists from both systems; add rows for unmapped values",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["qbo_intacct", "mappings"],
    default_args={"owner": "qbo_intacct", "retries": 2, "retry_delay": pendulum.duration(seconds=30)},
)
def qbo_intacct_refresh_mappings() -> None:
    @task(pool="qbo_api")
    def read_qbo_lists() -> dict:
        from qbo_intacct.flows.lists import qbo_lists
        from qbo_intacct.flows.runtime import stage
        from qbo_intacct.hooks.quickbooks import QuickBooksHook

        frame = qbo_lists(QuickBooksHook())
        return stage(frame, flow=FLOW, run_id=get_current_context()["run_id"], name="qbo_lists")

    @task(pool="intacct_api")
    def read_intacct_lists() -> dict:
        from qbo_intacct.flows.lists import intacct_lists
        from qbo_intacct.flows.runtime import stage
        from qbo_intacct.hooks.intacct import IntacctHook

        frame = intacct_lists(IntacctHook())
        return stage(frame, flow=FLOW, run_id=get_current_context()["run_id"], name="intacct_lists")

    @task(retries=0)
    def refresh_workbook(qbo: dict, intacct: dict) -> dict:
        from qbo_intacct.flows.lists import as_lists
        from qbo_intacct.flows.review_queue import review_rows
        from qbo_intacct.flows.staging import read_staged
        from qbo_intacct.ledger.repository import Ledger
        from qbo_intacct.mappings.loader import mapping_workbook_path
        from qbo_intacct.mappings.refresh import refresh_review_sheet
        from qbo_intacct.mappings.refresh import refresh_workbook as refresh

        path = mapping_workbook_path()
        report = refresh(path, as_lists(read_staged(qbo)), as_lists(read_staged(intacct)))
        held = refresh_review_sheet(path, review_rows(Ledger.from_connection()))
        return {
            "held_for_review": held,
            "workbook": path.name,
            "list_sizes": report.list_sizes,
            "appended": {table: len(values) for table, values in report.appended.items()},
            "appended_values": {table: list(values) for table, values in report.appended.items()},
        }

    @task(retries=0)
    def report(result: dict) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from qbo_intacct.mappings.loader import (
            WAITING_FOR_TARGET,
            inspect_workbook,
            mapping_workbook_path,
            waiting_for_target,
        )
        from qbo_intacct.mappings.validate import MappingWorkbookError, Severity
        from qbo_intacct.summaries import write_summary

        context = get_current_context()
        mappings, problems = inspect_workbook(mapping_workbook_path())
        errors = [p for p in problems if p.severity is Severity.ERROR]
        sizes = ", ".join(f"{name} {n}" for name, n in sorted(result["list_sizes"].items()))
        lines = [f"Mapping workbook {result['workbook']} refreshed.", f"  lists: {sizes}"]
        if result["appended"]:
            for table, values in sorted(result["appended_values"].items()):
                shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
                lines.append(f"  new rows to fill in on {table}: {len(values)} ({shown})")
        else:
            lines.append("  new rows to fill in: none (every active QuickBooks value already has a row)")
        if mappings is not None:
            # The same count and words as the health check: rows listed with no target filled in yet.
            lines.append(f"  {WAITING_FOR_TARGET}: {waiting_for_target(mappings)}")
        lines.append(
            f"  records held for review, listed on the 'Held for Review' sheet: {result.get('held_for_review', 0)}"
        )
        lines.append(f"  workbook check: {len(errors)} problem(s)" + ("; see the log" if errors else ""))
        text = "\n".join(lines)
        print(text)
        write_summary(context["dag"].dag_id, context["run_id"], text, {"list_sizes": result["list_sizes"],
                      "appended": result["appended"], "problems": len(errors)})  # fmt: skip
        if errors:
            raise AirflowFailException(str(MappingWorkbookError(result["workbook"], errors)))
        return text

    report(refresh_workbook(read_qbo_lists(), read_intacct_lists()))


qbo_intacct_refresh_mappings()
