"""
### Review held records (human in the loop)

The sync never guesses. A record it would not decide alone (a customer keyed twice, a match by
name only, edits on both sides with no system of record, a write a system refused) is **held for
review**: nothing is created or changed for it until someone decides.

Trigger this DAG to answer one held record from the Airflow UI:

1. `list_open_items` lists every open item (its number, flow, record, reason and candidates).
2. `review_decision` waits for you under **Browse -> Required Actions**: enter the item number,
   choose **Link** (and give the id of the record in the other system), **Create new** or **Ignore**.
3. `apply_decision` records your decision in the sync ledger; the flow's next run carries it out.

Decisions are final: an item is never reopened, and it is never deleted. You can also decide in
the mapping workbook's *Record Links* table instead; a workbook row wins over a UI answer.
Manual only (no schedule).
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, get_current_context, task

OPTIONS = ["Link", "Create new", "Ignore"]


@dag(
    dag_id="qbo_intacct_review",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["qbo_intacct", "review"],
    default_args={"owner": "qbo_intacct", "retries": 2, "retry_delay": pendulum.duration(seconds=30)},
)
def qbo_intacct_review() -> None:
    @task
    def list_open_items() -> str:
        from qbo_intacct.flows.review_queue import open_items_markdown
        from qbo_intacct.ledger.repository import Ledger

        text = open_items_markdown(Ledger.from_connection())
        print(text)
        return text

    decide = HITLOperator(
        task_id="review_decision",
        subject="Resolve a record held by the QuickBooks-Intacct sync",
        body="{{ ti.xcom_pull(task_ids='list_open_items') }}",
        options=OPTIONS,
        params={
            "review_item": Param(1, type="integer", minimum=1, description="The item number from the list"),
            "target_id": Param("", type="string", description="For Link: the record id in the other system"),
            "note": Param("", type="string", description="Why (kept with the decision)"),
        },
        response_timeout=pendulum.duration(days=7),
    )

    @task(retries=0)
    def apply_decision() -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from qbo_intacct.flows.review_queue import ReviewAnswerError, apply_answer
        from qbo_intacct.ledger.repository import Ledger
        from qbo_intacct.summaries import write_summary

        context = get_current_context()
        answer = context["ti"].xcom_pull(task_ids="review_decision")
        try:
            text = apply_answer(Ledger.from_connection(), answer)
        except ReviewAnswerError as exc:
            raise AirflowFailException(str(exc)) from None
        print(text)
        write_summary(context["dag"].dag_id, context["run_id"], text, {"answered": bool(answer)})
        return text

    list_open_items() >> decide >> apply_decision()


qbo_intacct_review()
