"""
### Review held records (human in the loop)

The sync never guesses. A record it would not decide alone (a customer keyed twice, a match by
name only, edits on both sides with no system of record, a write a system refused) is **held for
review**: nothing is created or changed for it until someone decides.

Trigger this DAG to answer held records from the Airflow UI:

1. `list_open_items` lists every open item in its log.
2. `review_decision` gives **each held record its own form** under **Browse -> Required Actions**
   (or the task's *Required Actions* tab): the record's name and key fields in both systems, why it
   is held in plain words, where to fix it, and the candidates with their names. The buttons are the
   choices that make sense for it: *Link to ...* a named candidate, *Create new*, *Ignore*, or
   *Decide later* (also what happens when nobody answers within 7 days). Answer as many as you like.
3. `apply_decisions` records your answers in the sync ledger; the flow's next run carries them out.

Decisions are final: an item is never reopened, and it is never deleted. You can also decide on
the mapping workbook's *Record Links* sheet instead; a workbook row wins over a UI answer.
Manual only (no schedule).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, TriggerRule, dag, get_current_context, task

# A plain timedelta: the HITL response timeout is serialised by Airflow, and a pendulum Duration
# is not serialisable (the task failed in "Post Execute" with NotImplementedError).
RESPONSE_TIMEOUT = dt.timedelta(days=7)


@dag(
    dag_id="qbo_intacct_review",
    description="Answer the records the sync held for review: one form per record (Link, Create new, Ignore)",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["qbo_intacct", "review"],
    default_args={"owner": "qbo_intacct", "retries": 2, "retry_delay": dt.timedelta(seconds=30)},
)
def qbo_intacct_review() -> None:
    @task
    def list_open_items() -> list:
        """One form per open item (what the HITL task maps over); each form's choices go to XCom ``choices``."""
        from qbo_intacct.flows.review_queue import open_items_text, review_forms
        from qbo_intacct.ledger.repository import Ledger

        ledger = Ledger.from_connection()
        print(open_items_text(ledger))
        forms = review_forms(ledger)
        get_current_context()["ti"].xcom_push(key="choices", value=forms["choices"])
        return forms["forms"]

    listed = list_open_items()
    decide = HITLOperator.partial(
        task_id="review_decision",
        params={
            "note": Param(
                None,
                type=["null", "string"],
                title="Note (optional)",
                description="Why you decided so; kept with the decision in the sync ledger",
            ),
        },
        response_timeout=RESPONSE_TIMEOUT,
        retries=0,
    ).expand_kwargs(listed)

    @task(retries=0, trigger_rule=TriggerRule.ALL_DONE)
    def apply_decisions() -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from qbo_intacct.flows.review_queue import ReviewAnswerError, apply_answers
        from qbo_intacct.ledger.repository import Ledger
        from qbo_intacct.summaries import write_summary

        context = get_current_context()
        ti = context["ti"]
        choices = ti.xcom_pull(task_ids="list_open_items", key="choices") or []
        answers = [ti.xcom_pull(task_ids="review_decision", map_indexes=i) for i in range(len(choices))]
        try:
            lines = apply_answers(Ledger.from_connection(), choices, answers)
        except ReviewAnswerError as exc:
            raise AirflowFailException(str(exc)) from None
        text = "\n".join(lines) or "No records are held for review."
        print(text)
        decided = sum(1 for line in lines if "decided by" in line)
        write_summary(context["dag"].dag_id, context["run_id"], text, {"forms": len(choices), "answered": decided})
        return text

    listed >> decide >> apply_decisions()


qbo_intacct_review()
