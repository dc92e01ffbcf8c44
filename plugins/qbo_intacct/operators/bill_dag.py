"""The bills flow's DAG: ``build_bill_dag(SPEC, doc_md=__doc__)``.

Tasks (same short ids as the other flows where the step is the same)::

    prepare -> extract_qbo_bills, extract_intacct_apbills (changed in the window),
               extract_qbo_deleted (CDC), extract_qbo_lists, extract_intacct_entities
            -> gather (partners, pending, held, same numbers: by id, both sides)
            -> plan -> load_intacct, load_qbo -> record -> report

**Schedule.** After the vendors flow, through its Asset (a new vendor link lets waiting bills go),
and on its own timetable (``QBO_INTACCT_BILLS_SCHEDULE``, cron or ``none``; default every 15 minutes).
Nothing heavy is imported at parse time.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, get_current_context, task

from qbo_intacct.flows.declaration import FlowSpec
from qbo_intacct.operators._dag_args import default_args, sync_params
from qbo_intacct.operators.document_dag import _publish_usage, _usage_now, document_schedule
from qbo_intacct.operators.extract import IntacctExtractOperator, QuickBooksExtractOperator
from qbo_intacct.operators.load import IntacctFunctionsOperator, QuickBooksUpsertOperator
from qbo_intacct.operators.sync_dag import flow_asset


def build_bill_dag(spec: FlowSpec, *, doc_md: str, start_date: Any = None) -> DAG:
    asset = flow_asset(spec)
    flow = spec.name
    with DAG(
        dag_id=spec.dag_id,
        description="Bills both ways between QuickBooks and Sage Intacct, with GL coding and approval state",
        schedule=document_schedule(spec),
        start_date=start_date or pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["qbo_intacct", "documents", flow],
        params=sync_params(
            dry_run="Show what the run would write (staged as plan.parquet); write nothing",
            full_refresh="Read every bill on both sides, not only those changed",
        ),
        default_args=default_args(),
    ) as dag:

        @task(retries=0)
        def prepare() -> dict:
            from qbo_intacct.flows.engine import prepare_step

            return prepare_step(spec, get_current_context())

        run = prepare()
        qbo_changed = QuickBooksExtractOperator(
            task_id="extract_qbo_bills", flow=flow, entity="Bill", window=run["window"], pool="qbo_api"
        )
        intacct_changed = IntacctExtractOperator(
            task_id="extract_intacct_apbills",
            flow=flow,
            object_name="APBILL",
            fields=list(spec.intacct_fields),
            id_field="RECORDNO",
            window=run["window"],
            pool="intacct_api",
        )

        @task(pool="qbo_api")
        def extract_qbo_lists() -> dict:
            """Accounts, items, terms, classes, departments and exchange rates: small lists, read whole."""
            from qbo_intacct.flows.runtime import stage_records
            from qbo_intacct.hooks.quickbooks import QuickBooksHook

            hook, run_id, out, before = QuickBooksHook(), get_current_context()["run_id"], {}, _usage_now()
            for entity in spec.qbo_lookups:
                rows = list(hook.iter_query(entity))
                if entity == "ExchangeRate":
                    rows = [{**r, "Id": f"{r.get('SourceCurrencyCode')}:{r.get('AsOfDate')}"} for r in rows]
                out[entity] = stage_records(rows, id_field="Id", flow=flow, run_id=run_id, name=f"qbo_{entity.lower()}")
            _publish_usage(before)
            return out

        @task(pool="qbo_api")
        def extract_qbo_deleted(run: dict) -> dict:
            """Bills deleted in QuickBooks, from change data capture (only CDC reports them)."""
            import datetime as dt

            from qbo_intacct.flows.runtime import Window
            from qbo_intacct.hooks.quickbooks import QuickBooksHook

            window = Window.from_xcom(run["window"])
            if window.start is None:
                return {"rows": []}
            since = max(window.start, dt.datetime.now(dt.UTC) - dt.timedelta(days=29))
            before = _usage_now()
            found = QuickBooksHook().cdc(["Bill"], since)
            _publish_usage(before)
            rows = [{"id": str(r["Id"])} for r in found.get("Bill", []) if r.get("status") == "Deleted"]
            print(f"QuickBooks CDC since {since.isoformat()}: {len(rows)} deleted bills")
            return {"rows": rows}

        @task(pool="intacct_api")
        def extract_intacct_entities() -> list:
            from qbo_intacct.hooks.intacct import IntacctHook

            return [
                {"LOCATIONID": e.get("LOCATIONID"), "CURRENCY": e.get("CURRENCY")} for e in IntacctHook().entities()
            ]

        @task
        def gather(qbo: dict, intacct: dict) -> dict:
            from qbo_intacct.flows.bill_steps import gather_step

            before = _usage_now()
            out = gather_step(get_current_context(), qbo, intacct)
            _publish_usage(before)
            return out

        gathered = gather(qbo_changed.output, intacct_changed.output)

        @task
        def plan(run: dict, gathered: dict, deleted: dict, lookups: dict, entities: list) -> dict:
            from qbo_intacct.flows.bill_steps import plan_step

            return plan_step(get_current_context(), run, gathered, deleted, lookups, entities)

        planned = plan(run, gathered, extract_qbo_deleted(run), extract_qbo_lists(), extract_intacct_entities())
        load_intacct = IntacctFunctionsOperator(
            task_id="load_intacct", flow=flow, writes=planned["intacct_writes"], pool="intacct_api"
        )
        load_qbo = QuickBooksUpsertOperator(task_id="load_qbo", flow=flow, writes=planned["qbo_writes"], pool="qbo_api")

        @task
        def record(run: dict, planned: dict, intacct_results: dict, qbo_results: dict) -> dict:
            from qbo_intacct.flows.bill_steps import record_step

            return record_step(get_current_context(), run, planned, intacct_results, qbo_results)

        @task(outlets=[asset])
        def report(summary: dict) -> str:
            from qbo_intacct.flows.bill_steps import report_step

            return report_step(get_current_context(), summary, asset)

        report(record(run, planned, load_intacct.output, load_qbo.output))
    return dag


def build_bill_payment_dag(spec: FlowSpec, *, doc_md: str, start_date: Any = None) -> DAG:
    """``qbo_intacct_bill_payments``: prepare -> extract both sides' payments in the window -> gather ->
    plan -> load_intacct, load_qbo -> record -> report; after each bills run (Asset) and on its cron."""
    asset = flow_asset(spec)
    flow = spec.name
    with DAG(
        dag_id=spec.dag_id,
        description="Bill payments both ways between QuickBooks and Sage Intacct, against linked bills only",
        schedule=document_schedule(spec),
        start_date=start_date or pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["qbo_intacct", "documents", flow],
        params=sync_params(
            dry_run="Show what the run would apply (staged as plan.parquet); write nothing",
            full_refresh="Read every bill payment on both sides, not only those changed",
        ),
        default_args=default_args(),
    ) as dag:

        @task(retries=0)
        def prepare() -> dict:
            from qbo_intacct.flows.engine import prepare_step

            return prepare_step(spec, get_current_context())

        run = prepare()
        qbo_changed = QuickBooksExtractOperator(
            task_id="extract_qbo_bill_payments", flow=flow, entity="BillPayment", window=run["window"], pool="qbo_api"
        )
        intacct_changed = IntacctExtractOperator(
            task_id="extract_intacct_appymts",
            flow=flow,
            object_name="APPYMT",
            fields=list(spec.intacct_fields),
            id_field="RECORDNO",
            window=run["window"],
            pool="intacct_api",
        )

        @task(pool="qbo_api")
        def extract_qbo_lists() -> dict:
            from qbo_intacct.flows.runtime import stage_records
            from qbo_intacct.hooks.quickbooks import QuickBooksHook

            hook, run_id, before = QuickBooksHook(), get_current_context()["run_id"], _usage_now()
            rows = list(hook.iter_query("Account"))
            _publish_usage(before)
            return {"Account": stage_records(rows, id_field="Id", flow=flow, run_id=run_id, name="qbo_account")}

        @task
        def gather(qbo: dict, intacct: dict) -> dict:
            from qbo_intacct.flows.bill_payments import gather_step

            before = _usage_now()
            out = gather_step(get_current_context(), qbo, intacct)
            _publish_usage(before)
            return out

        @task
        def plan(run: dict, gathered: dict, lookups: dict) -> dict:
            from qbo_intacct.flows.bill_payments import plan_step

            return plan_step(get_current_context(), run, gathered, lookups)

        planned = plan(run, gather(qbo_changed.output, intacct_changed.output), extract_qbo_lists())
        load_intacct = IntacctFunctionsOperator(
            task_id="load_intacct", flow=flow, writes=planned["intacct_writes"], pool="intacct_api"
        )
        load_qbo = QuickBooksUpsertOperator(task_id="load_qbo", flow=flow, writes=planned["qbo_writes"], pool="qbo_api")

        @task
        def record(run: dict, planned: dict, intacct_results: dict, qbo_results: dict) -> dict:
            from qbo_intacct.flows.bill_payments import record_step

            return record_step(get_current_context(), run, planned, intacct_results, qbo_results)

        @task(outlets=[asset])
        def report(summary: dict) -> str:
            from qbo_intacct.flows.bill_payments import report_step

            return report_step(get_current_context(), summary, asset)

        report(record(run, planned, load_intacct.output, load_qbo.output))
    return dag
