"""Build a flow's DAG from its declaration: ``build_sync_dag(SPEC, doc_md=__doc__)``.

Every two-way master-data flow runs the same tasks, so the DAG file of a flow is a few lines::

    from qbo_intacct.flows.vendors import SPEC
    from qbo_intacct.operators.sync_dag import build_sync_dag

    dag = build_sync_dag(SPEC, doc_md=__doc__)

Tasks (ids read as what they do; ``<qbo>``/``<ia>`` are the flow's QuickBooks entity and Intacct
object in lower case, plural as the entity names go)::

    prepare -> extract_qbo_<entity>s, extract_intacct_<object>s -> scope
            -> extract_qbo_partners, extract_intacct_partners
            -> validate (with extract_qbo_<lookup>s) -> match
            -> plan (with extract_qbo_<name entity>s) -> load_intacct, load_qbo -> record -> report

Why a builder of plain tasks (and not a TaskGroup per step, or one operator per flow): the Airflow
UI shows each step as its own task with its own log, retries and duration, with the same short ids
in every flow (``load_intacct`` is ``load_intacct`` in customers and vendors), which is what an
operator on call looks for. A TaskGroup would prefix every id (``sync.load_intacct``) without
adding anything to a DAG that holds one flow; a single operator would hide the steps, their logs
and their XCom paths. The steps stay composable: the extract and load operators are reusable on
their own, and each ``@task`` body is one call into :mod:`qbo_intacct.flows.engine`.

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
from qbo_intacct.operators.load import IntacctUpsertOperator, QuickBooksUpsertOperator


def _plural(name: str) -> str:
    name = name.lower()
    return name[:-1] + "ies" if name.endswith("y") else name + "s"


def _names_task(spec: FlowSpec, entity: str) -> str:
    return f"extract_qbo_{spec.noun}_names" if entity == spec.qbo_entity else f"extract_qbo_{_plural(entity)}"


def flow_asset(spec: FlowSpec) -> Asset:
    return Asset(name=spec.dag_id, uri=f"qbo-intacct://{spec.name}")


def flow_schedule(spec: FlowSpec, default: str = "*/15 * * * *") -> str | None:
    """``QBO_INTACCT_<FLOW>_SCHEDULE`` (a cron expression, or ``none`` for manual only), else ``default``."""
    value = os.environ.get(f"QBO_INTACCT_{spec.name.upper()}_SCHEDULE", default)
    return None if value.strip().lower() in ("", "none") else value


def build_sync_dag(spec: FlowSpec, *, doc_md: str, start_date: Any = None, tags: list[str] | None = None) -> DAG:
    """The DAG ``qbo_intacct_<flow>`` running ``spec`` through the engine (see the module docstring)."""
    asset = flow_asset(spec)
    flow = spec.name
    with DAG(
        dag_id=spec.dag_id,
        description=f"Keep {spec.name} the same in QuickBooks Online and Sage Intacct, both ways",
        schedule=flow_schedule(spec),
        start_date=start_date or pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=tags or ["qbo_intacct", "master_data", flow],
        params=sync_params(
            dry_run="Show every create and update the run would make (staged as plan.parquet) and write "
            "nothing to either system",
            full_refresh=f"Read every {spec.noun} in both systems, not only those changed since the last run",
        ),
        default_args=default_args(),
    ) as dag:

        @task(retries=0)
        def prepare() -> dict:
            from qbo_intacct.flows.engine import prepare_step

            return prepare_step(spec, get_current_context())

        run = prepare()
        qbo_changed = QuickBooksExtractOperator(
            task_id=f"extract_qbo_{_plural(spec.qbo_entity)}", flow=flow, entity=spec.qbo_entity,
            window=run["window"], pool="qbo_api",
        )  # fmt: skip
        intacct_changed = IntacctExtractOperator(
            task_id=f"extract_intacct_{_plural(spec.intacct_object)}", flow=flow, object_name=spec.intacct_object,
            fields=list(spec.intacct_fields), id_field=spec.intacct_id_field, window=run["window"], pool="intacct_api",
        )  # fmt: skip
        lookups = {
            entity: QuickBooksExtractOperator(
                task_id=f"extract_qbo_{_plural(entity)}", flow=flow, entity=entity, pool="qbo_api"
            ).output
            for entity in spec.qbo_lookups
        }

        @task
        def scope(qbo: dict, intacct: dict, run: dict) -> dict:
            from qbo_intacct.flows.engine import scope_step

            return scope_step(spec, qbo, intacct, run)

        partners = scope(qbo_changed.output, intacct_changed.output, run)
        # QuickBooks DisplayName is unique across customers, vendors and employees: look up the names
        # this run may give, in the flow's own entity and the others (everything only on a full read).
        name_lists = [
            QuickBooksExtractOperator(
                task_id=_names_task(spec, entity),
                flow=flow,
                entity=entity,
                names=partners["names"],
                name=f"qbo_{entity.lower()}_names",
                pool="qbo_api",
            ).output
            for entity in (*spec.qbo_name_entities, spec.qbo_entity)
        ]
        qbo_partners = QuickBooksExtractOperator(
            task_id="extract_qbo_partners", flow=flow, entity=spec.qbo_entity, ids=partners["qbo_ids"],
            name=f"qbo_{spec.noun}_partners", pool="qbo_api",
        )  # fmt: skip
        intacct_partners = IntacctExtractOperator(
            task_id="extract_intacct_partners", flow=flow, object_name=spec.intacct_object,
            fields=list(spec.intacct_fields), id_field=spec.intacct_id_field, ids=partners["intacct_ids"],
            name=f"intacct_{spec.noun}_partners", pool="intacct_api",
        )  # fmt: skip

        @task
        def validate(run: dict, qbo: list, intacct: list, lookups: dict) -> dict:
            from qbo_intacct.flows.engine import validate_step

            return validate_step(spec, get_current_context(), run, qbo, intacct, lookups)

        mapped = validate(
            run, [qbo_changed.output, qbo_partners.output], [intacct_changed.output, intacct_partners.output], lookups
        )

        @task
        def match(mapped: dict) -> dict:
            from qbo_intacct.flows.engine import match_step

            return match_step(spec, get_current_context(), mapped)

        matches = match(mapped)

        @task
        def plan(run: dict, mapped: dict, matches: dict, lookups: dict, name_lists: list) -> dict:
            from qbo_intacct.flows.engine import plan_step

            return plan_step(spec, get_current_context(), run, mapped, matches, lookups, name_lists)

        planned = plan(run, mapped, matches, lookups, name_lists)
        load_intacct = IntacctUpsertOperator(
            task_id="load_intacct", flow=flow, writes=planned["intacct_writes"], pool="intacct_api"
        )
        load_qbo = QuickBooksUpsertOperator(task_id="load_qbo", flow=flow, writes=planned["qbo_writes"], pool="qbo_api")

        @task
        def record(run: dict, mapped: dict, planned: dict, intacct_results: dict, qbo_results: dict, lookups: dict):
            from qbo_intacct.flows.engine import record_step

            return record_step(spec, get_current_context(), run, mapped, planned, intacct_results, qbo_results, lookups)

        recorded = record(run, mapped, planned, load_intacct.output, load_qbo.output, lookups)

        @task(outlets=[asset])
        def report(summary: dict) -> str:
            from qbo_intacct.flows.engine import report_step

            return report_step(spec, get_current_context(), summary, asset)

        report(recorded)
    return dag
