"""Build a one-way document flow's DAG from its declaration: ``build_document_dag(SPEC, doc_md=__doc__)``.

Tasks (same short ids as the master-data flows where the step is the same)::

    prepare -> extract_qbo_invoices, extract_qbo_credit_memos, extract_qbo_deleted (CDC),
               extract_intacct_arinvoices, extract_intacct_aradjustments (changed in the window)
            -> scope -> extract_qbo_invoice_partners, extract_qbo_credit_memo_partners
            -> map (with extract_qbo_lists and the Intacct entities)
            -> extract_intacct_invoice_partners, extract_intacct_adjustment_partners (by number)
            -> plan -> load_intacct -> record -> extract_intacct_status_* -> compare_status -> report

**Schedule.** After the customers flow, through its Asset (a new customer link lets waiting
invoices go), and on its own timetable (``QBO_INTACCT_<FLOW>_SCHEDULE``, cron or ``none``; default
every 15 minutes): ``AssetOrTimeSchedule``.

Nothing heavy is imported at parse time: the engine is imported inside the tasks.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, get_current_context, task

from qbo_intacct.flows.declaration import FlowSpec
from qbo_intacct.operators._dag_args import default_args, sync_params
from qbo_intacct.operators.extract import IntacctExtractOperator, QuickBooksExtractOperator
from qbo_intacct.operators.load import IntacctFunctionsOperator
from qbo_intacct.operators.sync_dag import _plural, flow_asset

KINDS = (("Invoice", "invoice", "ARINVOICE", "invoice"), ("CreditMemo", "credit_memo", "ARADJUSTMENT", "adjustment"))


def document_schedule(spec: FlowSpec, default: str = "*/15 * * * *") -> Any:
    """The upstream flows' Assets or the flow's own cron, whichever comes first."""
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable  # the SDK's: cheap at parse time

    cron = os.environ.get(f"QBO_INTACCT_{spec.name.upper()}_SCHEDULE", default).strip()
    upstream = [Asset(name=f"qbo_intacct_{flow}", uri=f"qbo-intacct://{flow}") for flow in spec.depends_on]
    if cron.lower() in ("", "none"):
        return upstream or None
    timetable = CronTriggerTimetable(cron, timezone="UTC")
    if not upstream:
        return timetable
    assets = upstream[0]
    for more in upstream[1:]:
        assets = assets | more
    return AssetOrTimeSchedule(timetable=timetable, assets=assets)


def _publish_usage(before: Any) -> None:
    """What a ``@task`` that calls a hook spent, as the operators publish it (``api_calls`` XCom)."""
    from qbo_intacct.hooks import usage

    spent = usage.since(before or {})
    if spent:
        get_current_context()["ti"].xcom_push(key=usage.XCOM_KEY, value=spent)


def _usage_now() -> Any:
    from qbo_intacct.hooks import usage

    return usage.snapshot()


def build_document_dag(spec: FlowSpec, *, doc_md: str, start_date: Any = None) -> DAG:
    """The DAG ``qbo_intacct_<flow>`` running a document flow through :mod:`qbo_intacct.flows.documents`."""
    asset = flow_asset(spec)
    flow = spec.name
    fields = list(spec.intacct_fields)
    with DAG(
        dag_id=spec.dag_id,
        description=f"Post QuickBooks {spec.noun}s and credit memos in Sage Intacct, status compared both ways",
        schedule=document_schedule(spec),
        start_date=start_date or pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["qbo_intacct", "documents", flow],
        params=sync_params(
            dry_run="Show what the run would post (staged as plan.parquet); write nothing",
            full_refresh="Read every document in QuickBooks, not only those changed",
        ),
        default_args=default_args(),
    ) as dag:

        @task(retries=0)
        def prepare() -> dict:
            from qbo_intacct.flows.engine import prepare_step

            return prepare_step(spec, get_current_context())

        run = prepare()
        changed = {
            entity: QuickBooksExtractOperator(
                task_id=f"extract_qbo_{label}s", flow=flow, entity=entity, window=run["window"], pool="qbo_api"
            )
            for entity, label, _, _ in KINDS
        }
        intacct_changed = [
            IntacctExtractOperator(
                task_id=f"extract_intacct_{_plural(obj)}",
                flow=flow,
                object_name=obj,
                fields=fields,
                id_field="RECORDNO",
                window=run["window"],
                pool="intacct_api",
            ).output
            for _, _, obj, _ in KINDS
        ]

        @task(pool="qbo_api")
        def extract_qbo_lists() -> dict:
            """The small QuickBooks lists the mapping needs (items, accounts, tax codes, terms, classes,
            departments, exchange rates), read whole in one task: each is a page or two."""
            from qbo_intacct.flows.runtime import stage_records
            from qbo_intacct.hooks.quickbooks import QuickBooksHook

            hook, run_id, out, before = QuickBooksHook(), get_current_context()["run_id"], {}, _usage_now()
            for entity in spec.qbo_lookups:
                rows = list(hook.iter_query(entity))
                if entity == "ExchangeRate":  # no Id: one rate per currency and date
                    rows = [{**r, "Id": f"{r.get('SourceCurrencyCode')}:{r.get('AsOfDate')}"} for r in rows]
                out[entity] = stage_records(rows, id_field="Id", flow=flow, run_id=run_id,
                                            name=f"qbo_{entity.lower()}")  # fmt: skip
                print(f"staged {len(rows)} QuickBooks {entity} records")
            _publish_usage(before)
            return out

        lookups = extract_qbo_lists()

        @task(pool="qbo_api")
        def extract_qbo_deleted(run: dict) -> dict:
            """Deleted invoices and credit memos, from QuickBooks change data capture (only CDC reports them)."""
            import datetime as dt

            from qbo_intacct.flows.runtime import Window
            from qbo_intacct.hooks.quickbooks import QuickBooksHook

            window = Window.from_xcom(run["window"])
            if window.start is None:
                return {"rows": []}
            since = max(window.start, dt.datetime.now(dt.UTC) - dt.timedelta(days=29))
            before = _usage_now()
            found = QuickBooksHook().cdc([entity for entity, *_ in KINDS], since)
            _publish_usage(before)
            rows = [
                {
                    "kind": entity,
                    "id": str(r["Id"]),
                    "deleted_at": str(
                        (r.get("MetaData") or {}).get("LastUpdatedTime") or dt.datetime.now(dt.UTC).date().isoformat()
                    ),
                }
                for entity, records in found.items()
                for r in records
                if r.get("status") == "Deleted"
            ]
            print(f"QuickBooks CDC since {since.isoformat()}: {len(rows)} deleted documents")
            return {"rows": rows}

        deleted = extract_qbo_deleted(run)

        @task
        def scope(qbo: dict, intacct: list, deleted: dict) -> dict:
            from qbo_intacct.flows.documents import scope as scope_documents
            from qbo_intacct.flows.engine import open_ledger

            return scope_documents(
                spec, qbo_changed=qbo, intacct_changed=intacct, deleted=deleted, ledger=open_ledger()
            )

        partners_wanted = scope({e: op.output for e, op in changed.items()}, intacct_changed, deleted)
        partners = {
            entity: QuickBooksExtractOperator(
                task_id=f"extract_qbo_{label}_partners",
                flow=flow,
                entity=entity,
                ids=partners_wanted[entity],
                name=f"qbo_{label}_partners",
                pool="qbo_api",
            ).output
            for entity, label, _, _ in KINDS
        }

        @task(pool="intacct_api")
        def extract_intacct_entities() -> list:
            from qbo_intacct.hooks.intacct import IntacctHook

            return [
                {"LOCATIONID": e.get("LOCATIONID"), "CURRENCY": e.get("CURRENCY")} for e in IntacctHook().entities()
            ]

        @task(task_id="map")
        def map_documents(qbo: dict, deleted: dict, lookups: dict, entities: list) -> dict:
            from qbo_intacct.flows.documents import map_step

            return map_step(spec, get_current_context(), qbo, deleted, lookups, entities)

        qbo_docs = {entity: [changed[entity].output, partners[entity]] for entity, *_ in KINDS}
        mapped = map_documents(qbo_docs, deleted, lookups, extract_intacct_entities())
        intacct_docs = {
            obj: IntacctExtractOperator(
                task_id=f"extract_intacct_{short}_partners",
                flow=flow,
                object_name=obj,
                fields=fields,
                id_field="RECORDID",
                ids=mapped[f"numbers_{obj}"],
                name=f"intacct_{short}_partners",
                pool="intacct_api",
            ).output
            for _, _, obj, short in KINDS
        }

        @task
        def plan(run: dict, mapped: dict, intacct: dict) -> dict:
            from qbo_intacct.flows.documents import plan_step

            return plan_step(spec, get_current_context(), run, mapped, {k: [v] for k, v in intacct.items()})

        planned = plan(run, mapped, intacct_docs)
        from qbo_intacct.flows.invoices import ELEMENT_ORDER

        load = IntacctFunctionsOperator(
            task_id="load_intacct",
            flow=flow,
            writes=planned["intacct_writes"],
            element_order=ELEMENT_ORDER,
            pool="intacct_api",
        )

        @task
        def record(run: dict, mapped: dict, planned: dict, results: dict) -> dict:
            from qbo_intacct.flows.documents import record_step

            return record_step(spec, get_current_context(), run, mapped, planned, results)

        recorded = record(run, mapped, planned, load.output)
        after = {
            obj: IntacctExtractOperator(
                task_id=f"extract_intacct_{short}_status",
                flow=flow,
                object_name=obj,
                fields=fields,
                id_field="RECORDID",
                ids=mapped[f"numbers_{obj}"],
                name=f"intacct_{short}_status",
                pool="intacct_api",
            )
            for _, _, obj, short in KINDS
        }
        for op in after.values():
            recorded >> op

        @task
        def compare_status(mapped: dict, intacct: dict, summary: dict) -> dict:
            from qbo_intacct.flows.documents import status_step

            return status_step(spec, get_current_context(), mapped, {k: [v] for k, v in intacct.items()}, summary)

        compared = compare_status(mapped, {obj: op.output for obj, op in after.items()}, recorded)

        @task(outlets=[asset])
        def report(summary: dict) -> str:
            from qbo_intacct.flows.documents import report_step

            return report_step(spec, get_current_context(), summary, asset)

        report(compared)
    return dag
