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

import os

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

from qbo_intacct.operators.extract import IntacctExtractOperator, QuickBooksExtractOperator
from qbo_intacct.operators.load import IntacctUpsertOperator, QuickBooksUpsertOperator

FLOW = "customers"
CUSTOMERS_ASSET = Asset(name="qbo_intacct_customers", uri="qbo-intacct://customers")
_schedule = os.environ.get("QBO_INTACCT_CUSTOMERS_SCHEDULE", "*/15 * * * *")
SCHEDULE = None if _schedule.strip().lower() in ("", "none") else _schedule
INTACCT_FIELDS = [
    "RECORDNO", "CUSTOMERID", "NAME", "DISPLAYCONTACT.COMPANYNAME", "DISPLAYCONTACT.EMAIL1", "DISPLAYCONTACT.PHONE1",
    "DISPLAYCONTACT.MAILADDRESS.ADDRESS1", "DISPLAYCONTACT.MAILADDRESS.ADDRESS2", "DISPLAYCONTACT.MAILADDRESS.CITY",
    "DISPLAYCONTACT.MAILADDRESS.STATE", "DISPLAYCONTACT.MAILADDRESS.ZIP", "DISPLAYCONTACT.MAILADDRESS.COUNTRY",
    "TERMNAME", "CREDITLIMIT", "TAXABLE", "TAXID", "RESALENO", "CURRENCY", "STATUS", "MEGAENTITYID", "WHENMODIFIED",
]  # fmt: skip


@dag(
    dag_id="qbo_intacct_customers",
    description="Keep customers the same in QuickBooks Online and Sage Intacct, both ways",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["qbo_intacct", "master_data", "customers"],
    params={
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run (plan only)",
            description="Show every create and update the run would make (staged as plan.parquet) and write "
            "nothing to either system",
        ),
        "full_refresh": Param(
            False,
            type="boolean",
            title="Full refresh",
            description="Read every customer in both systems, not only those changed since the last run",
        ),
    },
    default_args={"owner": "qbo_intacct", "retries": 2, "retry_delay": pendulum.duration(seconds=30)},
)
def qbo_intacct_customers() -> None:
    @task(retries=0)
    def prepare() -> dict:
        from qbo_intacct.flows.customers_steps import prepare_run

        return prepare_run(get_current_context())

    run = prepare()
    qbo_changed = QuickBooksExtractOperator(
        task_id="extract_qbo_customers", flow=FLOW, entity="Customer", window=run["window"], pool="qbo_api"
    )
    qbo_terms = QuickBooksExtractOperator(task_id="extract_qbo_terms", flow=FLOW, entity="Term", pool="qbo_api")
    qbo_vendors = QuickBooksExtractOperator(task_id="extract_qbo_vendors", flow=FLOW, entity="Vendor", pool="qbo_api")
    qbo_employees = QuickBooksExtractOperator(
        task_id="extract_qbo_employees", flow=FLOW, entity="Employee", pool="qbo_api"
    )
    intacct_changed = IntacctExtractOperator(
        task_id="extract_intacct_customers",
        flow=FLOW,
        object_name="CUSTOMER",
        fields=INTACCT_FIELDS,
        id_field="CUSTOMERID",
        window=run["window"],
        pool="intacct_api",
    )

    @task
    def scope(qbo: dict, intacct: dict, run: dict) -> dict:
        from qbo_intacct.flows.customers_steps import scope_step

        return scope_step(qbo, intacct, run)

    partners = scope(qbo_changed.output, intacct_changed.output, run)
    qbo_partners = QuickBooksExtractOperator(
        task_id="extract_qbo_partners", flow=FLOW, entity="Customer", ids=partners["qbo_ids"],
        name="qbo_customer_partners", pool="qbo_api",
    )  # fmt: skip
    intacct_partners = IntacctExtractOperator(
        task_id="extract_intacct_partners", flow=FLOW, object_name="CUSTOMER", fields=INTACCT_FIELDS,
        id_field="CUSTOMERID", ids=partners["intacct_ids"], name="intacct_customer_partners", pool="intacct_api",
    )  # fmt: skip

    @task
    def validate(run: dict, qbo: dict, qbo_more: dict, intacct: dict, intacct_more: dict, terms: dict) -> dict:
        from qbo_intacct.flows.customers_steps import validate_step

        return validate_step(get_current_context(), run, [qbo, qbo_more], [intacct, intacct_more], terms)

    mapped = validate(run, qbo_changed.output, qbo_partners.output, intacct_changed.output, intacct_partners.output,
                      qbo_terms.output)  # fmt: skip

    @task
    def match(mapped: dict) -> dict:
        from qbo_intacct.flows.customers_steps import match_step

        return match_step(get_current_context(), mapped)

    matches = match(mapped)

    @task
    def plan(run: dict, mapped: dict, matches: dict, terms: dict, vendors: dict, employees: dict) -> dict:
        from qbo_intacct.flows.customers_steps import plan_step

        return plan_step(get_current_context(), run, mapped, matches, terms, [vendors, employees])

    planned = plan(run, mapped, matches, qbo_terms.output, qbo_vendors.output, qbo_employees.output)
    load_intacct = IntacctUpsertOperator(
        task_id="load_intacct", flow=FLOW, writes=planned["intacct_writes"], pool="intacct_api"
    )
    load_qbo = QuickBooksUpsertOperator(task_id="load_qbo", flow=FLOW, writes=planned["qbo_writes"], pool="qbo_api")

    @task
    def record(run: dict, mapped: dict, planned: dict, intacct_results: dict, qbo_results: dict, terms: dict) -> dict:
        from qbo_intacct.flows.customers_steps import record_step

        return record_step(get_current_context(), run, mapped, planned, intacct_results, qbo_results, terms)

    recorded = record(run, mapped, planned, load_intacct.output, load_qbo.output, qbo_terms.output)

    @task(outlets=[CUSTOMERS_ASSET])
    def report(summary: dict) -> str:
        from qbo_intacct.flows.customers_steps import report_step

        return report_step(get_current_context(), summary, CUSTOMERS_ASSET)

    report(recorded)


qbo_intacct_customers()
