"""
### Health check: can the sync reach both ledgers?

Run this first after installing or changing a connection. It signs in to **QuickBooks Online**
(connection `quickbooks_default`) and **Sage Intacct** (connection `intacct_default`), reads the
company settings and the Intacct entities, and opens the finance **mapping workbook**.

If something is wrong, the failed task says which connection or file and why (for example a wrong
password or an unknown company), without printing any secret. Nothing is written to either ledger.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from qbo_intacct.operators._dag_args import default_args


@dag(
    dag_id="qbo_intacct_healthcheck",
    description="Check both connections (sign in, read company settings) and that the mapping workbook opens",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["qbo_intacct", "health"],
    default_args=default_args(),
)
def qbo_intacct_healthcheck() -> None:
    @task(pool="qbo_api", retries=0)
    def check_quickbooks() -> list[str]:
        from airflow.sdk.exceptions import AirflowFailException

        from qbo_intacct.health import HealthCheckError, check_quickbooks

        try:
            return check_quickbooks().lines()
        except HealthCheckError as exc:
            raise AirflowFailException(str(exc)) from None

    @task(pool="intacct_api", retries=0)
    def check_intacct() -> list[str]:
        from airflow.sdk.exceptions import AirflowFailException

        from qbo_intacct.health import HealthCheckError, check_intacct

        try:
            return check_intacct().lines()
        except HealthCheckError as exc:
            raise AirflowFailException(str(exc)) from None

    @task(retries=0)
    def check_mapping_workbook() -> list[str]:
        from airflow.sdk.exceptions import AirflowFailException

        from qbo_intacct.health import HealthCheckError, check_mapping_workbook

        try:
            return check_mapping_workbook().lines()
        except HealthCheckError as exc:
            raise AirflowFailException(str(exc)) from None

    @task
    def report(*checks: list[str]) -> str:
        from qbo_intacct.summaries import write_summary

        context = get_current_context()
        lines = [line for check in checks for line in check]
        text = "\n".join(["Health check: both ledgers reachable, workbook readable.", *lines])
        print(text)
        return write_summary(context["dag"].dag_id, context["run_id"], text, {"checks": lines})

    report(check_quickbooks(), check_intacct(), check_mapping_workbook())


qbo_intacct_healthcheck()
