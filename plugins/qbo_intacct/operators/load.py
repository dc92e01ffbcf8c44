"""Load operators: carry out a staged list of writes in one system, idempotently, and stage the results.

The plan step stages the writes (one row each: operation, object, body, idempotency key, record
key, Intacct entity); these operators only execute them and record what each one returned, so a
new flow needs no API code. An empty write list (a dry run, or nothing to do) sends nothing.

Idempotency: QuickBooks gets ``requestid`` = a UUID derived from the write's key; Intacct gets the
key as the function's controlid with ``uniqueid=true``. A retried task re-sends the same keys, and
both systems answer from their replay memory instead of writing twice.

One record's failure (a QuickBooks business rule, an Intacct validation error) is recorded as that
record's result and the others go on; the record step turns it into a review item. Connection
failures and throttling after the hooks' own retries fail the task, and Airflow retries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class QuickBooksUpsertOperator(BaseOperator):
    """Create or sparse-update QuickBooks objects from a staged write list."""

    template_fields: Sequence[str] = ("writes", "quickbooks_conn_id")
    ui_color = "#b3e6b3"

    def __init__(self, *, flow: str, writes: Any, quickbooks_conn_id: str = "quickbooks_default", **kwargs: Any):
        super().__init__(**kwargs)
        self.flow = flow
        self.writes = writes
        self.quickbooks_conn_id = quickbooks_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from qbo_intacct.flows.runtime import progress, request_id, results_frame, stage
        from qbo_intacct.flows.staging import read_staged
        from qbo_intacct.hooks.quickbooks import QuickBooksFault, QuickBooksHook

        if not self.writes or not self.writes.get("rows"):
            self.log.info("no QuickBooks writes planned")
            return {"path": None, "rows": 0, "ok": 0, "failed": 0}
        writes = read_staged(self.writes)
        hook = QuickBooksHook(quickbooks_conn_id=self.quickbooks_conn_id)
        results = []
        total = len(writes)
        for done, w in enumerate(writes.to_dict("records"), start=1):
            rid = request_id(w["idempotency_key"])
            try:
                if w["operation"] == "create":
                    obj = hook.create(w["object"], w["body"], request_id=rid)
                else:
                    obj = hook.upsert(w["object"], w["body"], request_id=rid)
                results.append(
                    {**_base(w), "status": "ok", "new_id": str(obj.get("Id")), "record": obj, "error_code": None}
                )
            except QuickBooksFault as fault:
                self.log.warning("QuickBooks refused %s %s: code %s", w["operation"], w["record_key"], fault.code)
                reason = f"QuickBooks {fault.code}: {fault.message}" + (f" ({fault.detail})" if fault.detail else "")
                results.append(
                    {**_base(w), "status": "failed", "new_id": None, "record": None, "error_code": fault.code,
                     "error": reason}
                )  # fmt: skip
            progress(self.log, "QuickBooks writes", done, total)
        frame = results_frame(results)
        staged = stage(frame, flow=self.flow, run_id=context["run_id"], name="qbo_write_results")
        ok = int((frame["status"] == "ok").sum())
        return {**staged, "ok": ok, "failed": len(frame) - ok}


class IntacctUpsertOperator(BaseOperator):
    """Create or update Intacct records from a staged write list, entity by entity, many per request."""

    template_fields: Sequence[str] = ("writes", "intacct_conn_id")
    ui_color = "#b3cde6"

    def __init__(self, *, flow: str, writes: Any, intacct_conn_id: str = "intacct_default", **kwargs: Any):
        super().__init__(**kwargs)
        self.flow = flow
        self.writes = writes
        self.intacct_conn_id = intacct_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from qbo_intacct.flows.runtime import results_frame, stage
        from qbo_intacct.flows.staging import read_staged
        from qbo_intacct.hooks.intacct import IntacctFunction, IntacctHook

        if not self.writes or not self.writes.get("rows"):
            self.log.info("no Intacct writes planned")
            return {"path": None, "rows": 0, "ok": 0, "failed": 0}
        writes = read_staged(self.writes).to_dict("records")
        hook = IntacctHook(intacct_conn_id=self.intacct_conn_id)
        results = []
        by_entity: dict[str, list[dict[str, Any]]] = {}
        for w in writes:
            by_entity.setdefault(w["entity"] or "", []).append(w)
        done = 0
        for entity, group in sorted(by_entity.items()):
            functions = [
                IntacctFunction(w["operation"], {w["object"]: w["body"]}, w["idempotency_key"], w["record_key"])
                for w in group
            ]
            for w, result in zip(group, hook.run_functions(functions, entity_id=entity), strict=True):
                if result.ok:
                    results.append(
                        {**_base(w), "status": "ok", "new_id": w["record_key"], "record": None, "error_code": None}
                    )
                else:
                    self.log.warning(
                        "Intacct refused %s %s: errorno %s", w["operation"], w["record_key"], result.errorno
                    )
                    results.append(
                        {**_base(w), "status": "failed", "new_id": None, "record": None,
                         "error_code": result.errorno, "error": f"Intacct {result.errorno}: {result.description2}"}
                    )  # fmt: skip
            done += len(group)
            self.log.info("Intacct writes: %d of %d (%d%%)", done, len(writes), done * 100 // len(writes))
        frame = results_frame(results)
        staged = stage(frame, flow=self.flow, run_id=context["run_id"], name="intacct_write_results")
        ok = int((frame["status"] == "ok").sum())
        return {**staged, "ok": ok, "failed": len(frame) - ok}


def _base(write: dict[str, Any]) -> dict[str, Any]:
    return {
        "write_key": write["write_key"],
        "operation": write["operation"],
        "record_key": write["record_key"],
        "error": None,
    }
