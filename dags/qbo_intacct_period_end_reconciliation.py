"""
### Period-end reconciliation: QuickBooks Online and Sage Intacct, a discrepancy workbook for finance

Lets a controller trust that both books say the same thing before the close. It reads both
systems as they are now (not what the sync believes it wrote) and mails finance an Excel workbook
that explains every difference.

**What it does each run**
1. Fixes the period (the month before the run, in the company's timezone, or the `period` param)
   and the entities (`entities` param; empty = all).
2. Reads, per check (invoices, credit memos, customer payments, bills, bill payments), the
   documents dated in the period and the older ones still open, from both systems with the hooks'
   paging, plus partners dated outside the period; stages them as parquet. Runs the trial-balance
   tie-out by mapped account (QuickBooks' TrialBalance report against Intacct's, issue 17's comparison).
3. Pairs them (sync ledger links, the sync's external id, document number and party) and explains
   each difference: missing in Intacct or QuickBooks, amount, status (paid vs open), date or period,
   duplicate, currency or rate beyond `rate_tolerance`; AR and AP open balances by customer and
   vendor at period end.
4. Writes the workbook (Summary with pass/fail and a chart, one sheet per kind of difference, open
   review items, how to read it).
5. Optionally waits for a person to approve (`QBO_INTACCT_RECONCILIATION_APPROVAL=true`; off by default).
6. Mails it through the `smtp_finance` connection to the addresses in the Airflow Variable
   `qbo_intacct_reconciliation_recipients`, **once per period**: a retry or rerun after the server
   accepted it sends nothing (sent-marker in the ledger with the Message-ID); `force_resend` sends again.
7. Writes a summary.

**Params**: `period` (YYYY-MM), `entities` (e.g. ["US", "UK"]), `force_resend`, `rate_tolerance`,
`home_currency` (QuickBooks' home currency).

**Schedule**: `QBO_INTACCT_RECONCILIATION_SCHEDULE` (cron, default `0 6 3 * *`: 06:00 on the 3rd, so
late entries of the closed month are in) in `QBO_INTACCT_RECONCILIATION_TIMEZONE` (default
`America/Los_Angeles`, the company's timezone); `none` for on demand only.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from qbo_intacct.operators._dag_args import default_args
from qbo_intacct.reconciliation.checks import CHECKS

# The steps (pandas, openpyxl, the hooks) are imported inside each task: parsing this file stays light.
DAG_ID = "qbo_intacct_period_end_reconciliation"

TIMEZONE = os.environ.get("QBO_INTACCT_RECONCILIATION_TIMEZONE", "America/Los_Angeles")
_cron = os.environ.get("QBO_INTACCT_RECONCILIATION_SCHEDULE", "0 6 3 * *").strip()
#: ``QBO_INTACCT_RECONCILIATION_APPROVAL=true`` puts a human approval before the email (default off).
APPROVAL = os.environ.get("QBO_INTACCT_RECONCILIATION_APPROVAL", "false").strip().lower() in {"1", "true", "yes"}
SCHEDULE = None if _cron.lower() in {"", "none"} else CronTriggerTimetable(_cron, timezone=TIMEZONE)

with DAG(
    dag_id=DAG_ID,
    description="After each month end, compare both books record by record and mail finance the discrepancy workbook",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["qbo_intacct", "reconciliation"],
    default_args=default_args(),
    params={
        "period": Param(
            "", type="string", title="Period", description="Month to reconcile, YYYY-MM; empty = the month just closed"
        ),
        "entities": Param(
            [], type="array", title="Entities", description='Intacct entities, e.g. ["US", "UK"]; empty = all'
        ),
        "force_resend": Param(
            False, type="boolean", title="Send again", description="Mail the workbook even if this period's was sent"
        ),
        "rate_tolerance": Param(
            "0.0001", type="string", title="Rate tolerance", description="Exchange rates further apart are listed"
        ),
        "home_currency": Param("USD", type="string", title="Home currency", description="QuickBooks' home currency"),
    },
) as dag:

    @task
    def plan_period() -> dict[str, Any]:
        from qbo_intacct.reconciliation import tasks as rt

        context = get_current_context()
        run_after = context.get("data_interval_end") or context["dag_run"].run_after
        return {**rt.plan(context["params"], run_after, TIMEZONE), "routes": rt.department_routes()}

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def not_mailed_yet(period: dict[str, Any]) -> bool:
        """A period already mailed is not read again (``force_resend`` reads and mails it anew)."""
        from qbo_intacct.reconciliation import tasks as rt

        return rt.already_sent(period) is None

    @task(max_active_tis_per_dagrun=2)
    def read_check(check_name: str, period: dict[str, Any]) -> dict[str, Any]:
        from qbo_intacct.reconciliation import tasks as rt

        return rt.read_check(check_name, period, get_current_context()["run_id"])

    @task
    def read_trial_balance(period: dict[str, Any]) -> dict[str, Any]:
        from qbo_intacct.reconciliation import tasks as rt

        return rt.read_trial_balance(period, get_current_context()["run_id"])

    @task
    def compare(period: dict[str, Any], reads: list[dict[str, Any]], tb: dict[str, Any]) -> dict[str, Any]:
        from qbo_intacct.reconciliation import tasks as rt

        return rt.compare_all(period, list(reads), get_current_context()["run_id"], tb)

    @task
    def build_workbook(period: dict[str, Any], compared: dict[str, Any]) -> dict[str, Any]:
        from qbo_intacct.reconciliation import tasks as rt

        context = get_current_context()
        return rt.build(period, compared, context["run_id"], context["dag_run"].start_date or pendulum.now("UTC"))

    @task(retries=1)
    def send_workbook(period: dict[str, Any], built: dict[str, Any]) -> dict[str, Any]:
        from qbo_intacct.reconciliation import tasks as rt

        return rt.send(period, built, get_current_context()["run_id"])

    @task(trigger_rule="none_failed")
    def report(
        period: dict[str, Any], compared: dict[str, Any], built: dict[str, Any], sent: dict[str, Any] | None
    ) -> dict[str, Any]:
        from qbo_intacct.reconciliation import tasks as rt

        return rt.summarise(period, compared, built, sent, get_current_context()["run_id"])

    period = plan_period()
    gate = not_mailed_yet(period)
    reads = read_check.partial(period=period).expand(check_name=[c.name for c in CHECKS])
    tb = read_trial_balance(period)
    gate >> [reads, tb]
    compared = compare(period, reads, tb)
    built = build_workbook(period, compared)
    sent = send_workbook(period, built)
    if APPROVAL:
        from airflow.providers.standard.operators.hitl import ApprovalOperator

        approve = ApprovalOperator(
            task_id="approve_sending",
            subject="Send the {{ params.period or 'closed month' }} reconciliation workbook to finance?",
            body="Workbook: {{ ti.xcom_pull(task_ids='build_workbook')['path'] }}",
            defaults="Reject",
            response_timeout=pendulum.duration(hours=48),
        )
        built >> approve >> sent
    report(period, compared, built, sent)
