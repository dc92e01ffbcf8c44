"""Load operators: carry out a staged list of writes in one system, idempotently, and stage the results.

The plan step stages the writes (one row each: operation, object, body, idempotency key, record
key, Intacct entity); these operators only execute them and record what each one returned, so a
new flow needs no API code. An empty write list (a dry run, or nothing to do) sends nothing.

QuickBooks writes go out in batch requests (up to 30 operations each, QuickBooks' limit), so 100
records cost 4 requests, not 100. Each batch's requestid is derived from its content (the hook's
``batch_request_id``: a digest of every item's operation, entity and body, and each body carries
the write's content-derived key), so a retried task re-sends the same batches and QuickBooks
answers from its replay memory instead of writing twice; a corrected record is new content and
really goes out. Single writes stay for the one case a batch cannot serve: an update QuickBooks
refused as stale (5010, someone edited the record since it was read) is re-read and retried once on
its own (``hook.upsert``, with its own requestid), because the retry needs the fresh SyncToken.
Intacct gets the key as each function's controlid with ``uniqueid=true``, many functions per request.

An authentication refusal (wrong credentials, a revoked app) fails the task without retries, with
a message naming the connection: retrying a refused sign-in only risks locking the user out.

One record's failure (a QuickBooks business rule, an Intacct validation error) is recorded as that
record's result and the others go on; the record step turns it into a review item. Connection
failures and throttling after the hooks' own retries fail the task, and Airflow retries it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from qbo_intacct.operators._usage import ReportsApiUsage

if TYPE_CHECKING:
    from airflow.sdk import Context


class QuickBooksUpsertOperator(ReportsApiUsage, BaseOperator):
    """Create or sparse-update QuickBooks objects from a staged write list, 30 per batch request."""

    template_fields: Sequence[str] = ("writes", "quickbooks_conn_id")
    ui_color = "#b3e6b3"

    def __init__(
        self,
        *,
        flow: str,
        writes: Any,
        quickbooks_conn_id: str = "quickbooks_default",
        intacct_conn_id: str = "intacct_default",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.flow = flow
        self.writes = writes
        self.quickbooks_conn_id = quickbooks_conn_id
        self.intacct_conn_id = intacct_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from qbo_intacct.flows.runtime import results_frame, stage
        from qbo_intacct.flows.sensitive import MASKED_PATHS, mask_record
        from qbo_intacct.flows.staging import read_staged
        from qbo_intacct.hooks.quickbooks import QboBatchItem, QuickBooksAuthError, QuickBooksFault, QuickBooksHook

        if not self.writes or not self.writes.get("rows"):
            self.log.info("no QuickBooks writes planned")
            return {"path": None, "rows": 0, "ok": 0, "failed": 0}

        writes = read_staged(self.writes).to_dict("records")
        hook = QuickBooksHook(quickbooks_conn_id=self.quickbooks_conn_id)
        writes, results = reveal_numbers(self.log, writes, self.quickbooks_conn_id, self.intacct_conn_id)
        total = len(writes)
        try:
            for start in range(0, total, BATCH_SIZE):
                chunk = writes[start : start + BATCH_SIZE]
                items = [QboBatchItem(w["operation"], w["object"], w["body"], w["record_key"]) for w in chunk]
                answers = hook.batch(items, request_id_prefix=f"{self.flow}-{start // BATCH_SIZE}")
                for w, result in zip(chunk, answers, strict=True):
                    fault = result.fault
                    if fault is not None and fault.code == STALE_OBJECT_CODE and w["operation"] == "update":
                        results.append(self._single_retry(hook, w))  # the one case a batch cannot serve
                    elif fault is not None:
                        results.append(_qbo_failure(self.log, w, fault))
                    else:
                        obj = mask_record(result.object or {}, MASKED_PATHS.get(w["object"], ()))
                        results.append({**_base(w), "status": "ok", "new_id": str(obj.get("Id")), "record": obj,
                                        "error_code": None})  # fmt: skip
                done = min(start + BATCH_SIZE, total)
                self.log.info("QuickBooks writes: %d of %d (%d%%)", done, total, done * 100 // total)
        except QuickBooksAuthError as exc:
            raise auth_failure("QuickBooks", self.quickbooks_conn_id, exc) from None
        except QuickBooksFault:  # a whole-batch refusal: the task fails and Airflow retries it
            raise
        frame = results_frame(results)
        staged = stage(frame, flow=self.flow, run_id=context["run_id"], name="qbo_write_results")
        ok = int((frame["status"] == "ok").sum())
        return {**staged, "ok": ok, "failed": len(frame) - ok}

    def _single_retry(self, hook: Any, write: dict[str, Any]) -> dict[str, Any]:
        from qbo_intacct.flows.runtime import request_id
        from qbo_intacct.flows.sensitive import MASKED_PATHS, mask_record
        from qbo_intacct.hooks.quickbooks import QuickBooksFault

        try:
            obj = hook.upsert(write["object"], write["body"], request_id=request_id(write["idempotency_key"]))
        except QuickBooksFault as fault:
            return _qbo_failure(self.log, write, fault)
        obj = mask_record(obj, MASKED_PATHS.get(write["object"], ()))
        return {**_base(write), "status": "ok", "new_id": str(obj.get("Id")), "record": obj, "error_code": None}


class IntacctUpsertOperator(ReportsApiUsage, BaseOperator):
    """Create or update Intacct records from a staged write list, entity by entity, many per request."""

    template_fields: Sequence[str] = ("writes", "intacct_conn_id")
    ui_color = "#b3cde6"

    def __init__(
        self,
        *,
        flow: str,
        writes: Any,
        intacct_conn_id: str = "intacct_default",
        quickbooks_conn_id: str = "quickbooks_default",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.flow = flow
        self.writes = writes
        self.intacct_conn_id = intacct_conn_id
        self.quickbooks_conn_id = quickbooks_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from qbo_intacct.flows.staging import read_staged
        from qbo_intacct.hooks.intacct import IntacctAuthError, IntacctHook

        if not self.writes or not self.writes.get("rows"):
            self.log.info("no Intacct writes planned")
            return {"path": None, "rows": 0, "ok": 0, "failed": 0}
        writes = read_staged(self.writes).to_dict("records")
        hook = IntacctHook(intacct_conn_id=self.intacct_conn_id)
        try:
            return self._run(context, hook, writes)
        except IntacctAuthError as exc:
            raise auth_failure("Intacct", self.intacct_conn_id, exc) from None

    def _run(self, context: Context, hook: Any, writes: list[dict[str, Any]]) -> dict[str, Any]:
        from qbo_intacct.flows.runtime import results_frame, stage
        from qbo_intacct.hooks.intacct import IntacctFunction

        writes, results = reveal_numbers(self.log, writes, self.quickbooks_conn_id, self.intacct_conn_id)
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
            self.log.info("Intacct writes: %d of %d (%d%%)", done, len(writes), done * 100 // max(len(writes), 1))
        frame = results_frame(results)
        staged = stage(frame, flow=self.flow, run_id=context["run_id"], name="intacct_write_results")
        ok = int((frame["status"] == "ok").sum())
        return {**staged, "ok": ok, "failed": len(frame) - ok}


def reveal_numbers(
    log: Any, writes: list[dict[str, Any]], quickbooks_conn_id: str, intacct_conn_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Put each full bank account number in place of its token, read from the source system now.

    The number is sent only if its token is still the one planned (the change finance approved);
    a number changed since is not sent, and that record's write fails with a plain reason (the next
    run plans and asks again). Returns the writes to send and the failed results. The numbers exist
    only in this task's memory and in the request to the target system.
    """
    from qbo_intacct.flows.sensitive import get_path, mask, set_path

    pending = [w for w in writes if w.get("reveal")]
    if not pending:
        return writes, []
    wanted: dict[tuple[str, str, str], set[str]] = {}
    paths: dict[tuple[str, str, str], set[str]] = {}
    for w in pending:
        for r in w["reveal"]:
            wanted.setdefault((r["system"], r["object"], r["id_field"]), set()).add(str(r["id"]))
            paths.setdefault((r["system"], r["object"], r["id_field"]), set()).add(r["source_path"])
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key, ids in wanted.items():
        system, obj, id_field = key
        fields = sorted(paths[key])
        for record in _read_sources(system, obj, id_field, sorted(ids), fields, quickbooks_conn_id, intacct_conn_id):
            found[(system, obj, str(record.get(id_field)))] = record
    ready, failed = [], []
    for w in writes:
        if not w.get("reveal"):
            ready.append(w)
            continue
        body = copy.deepcopy(w["body"])
        problem = None
        for r in w["reveal"]:
            number = get_path(found.get((r["system"], r["object"], str(r["id"]))) or {}, r["source_path"])
            if number in (None, "") or mask(number) != r["token"]:
                problem = (f"bank account of {w['record_key']} changed since the plan ({r['token'].split('#')[0]} "
                           "was approved); not sent, the next run asks again")  # fmt: skip
                break
            set_path(body, r["body_path"], str(number).replace(" ", ""))
        if problem:
            log.warning("not sent: %s", problem)
            failed.append({**_base(w), "status": "failed", "new_id": None, "record": None,
                           "error_code": "bank_changed", "error": problem})  # fmt: skip
        else:
            ready.append({**w, "body": body})
    return ready, failed


def _read_sources(
    system: str,
    obj: str,
    id_field: str,
    ids: list[str],
    fields: list[str],
    quickbooks_conn_id: str,
    intacct_conn_id: str,
) -> list[dict[str, Any]]:
    if system == "qbo":
        from qbo_intacct.hooks.quickbooks import QuickBooksHook
        from qbo_intacct.operators.extract import _literal

        hook = QuickBooksHook(quickbooks_conn_id=quickbooks_conn_id)
        quoted = ", ".join(_literal(i) for i in ids)
        return list(hook.iter_query(obj, f"Id IN ({quoted})"))
    from qbo_intacct.hooks.intacct import Filter, IntacctHook

    hook = IntacctHook(intacct_conn_id=intacct_conn_id)
    return list(
        hook.iter_query(obj, [id_field, *fields], Filter.one_of(id_field, ids), entity_id="", show_private=True)
    )


BATCH_SIZE = 30  # QuickBooks' batch limit (operations per request)
STALE_OBJECT_CODE = "5010"


def _qbo_failure(log: Any, write: dict[str, Any], fault: Any) -> dict[str, Any]:
    log.warning("QuickBooks refused %s %s: code %s", write["operation"], write["record_key"], fault.code)
    reason = f"QuickBooks {fault.code}: {fault.message}" + (f" ({fault.detail})" if fault.detail else "")
    return {**_base(write), "status": "failed", "new_id": None, "record": None, "error_code": fault.code,
            "error": reason}  # fmt: skip


def auth_failure(system: str, conn_id: str, exc: Exception) -> Exception:
    """A refused sign-in as a task failure Airflow does not retry, naming the connection and the fix."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(
        f"{system} refused the credentials of Airflow connection {conn_id!r} ({exc}). Not retried: repeated "
        f"refused sign-ins can lock the user out. Fix the connection (Admin -> Connections -> {conn_id}), "
        f"check it with the qbo_intacct_healthcheck DAG, then clear this task."
    )


def _base(write: dict[str, Any]) -> dict[str, Any]:
    return {
        "write_key": write["write_key"],
        "operation": write["operation"],
        "record_key": write["record_key"],
        "error": None,
    }


# ------------------------------------------------------------------------------------ Intacct functions


class IntacctFunctionsOperator(ReportsApiUsage, BaseOperator):
    """Run a staged list of Intacct functions of any name (``create_invoice``, ``reverse_invoice``, ...),
    entity by entity, many per request, each idempotent by its key (controlid, ``uniqueid=true``).

    Each staged write's ``operation`` is the function name and ``body`` its payload. Staging keeps
    payloads as JSON with sorted keys, while Intacct's legacy functions read their elements in the
    documented order: ``element_order`` (function name -> element names) puts them back in order.
    Results carry the new ``RECORDNO`` (the legacy ``<key>``) as ``new_id``.
    """

    template_fields: Sequence[str] = ("writes", "intacct_conn_id")
    ui_color = "#b3cde6"

    def __init__(
        self,
        *,
        flow: str,
        writes: Any,
        element_order: dict[str, list[str]] | None = None,
        intacct_conn_id: str = "intacct_default",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.flow = flow
        self.writes = writes
        self.element_order = element_order or {}
        self.intacct_conn_id = intacct_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from qbo_intacct.flows.runtime import results_frame, stage
        from qbo_intacct.flows.staging import read_staged
        from qbo_intacct.hooks.intacct import IntacctAuthError, IntacctFunction, IntacctHook

        if not self.writes or not self.writes.get("rows"):
            self.log.info("no Intacct writes planned")
            return {"path": None, "rows": 0, "ok": 0, "failed": 0}
        writes = read_staged(self.writes).to_dict("records")
        hook = IntacctHook(intacct_conn_id=self.intacct_conn_id)
        by_entity: dict[str, list[dict[str, Any]]] = {}
        for w in writes:
            by_entity.setdefault(w["entity"] or "", []).append(w)
        results: list[dict[str, Any]] = []
        done = 0
        try:
            for entity, group in sorted(by_entity.items()):
                functions = [
                    IntacctFunction(w["operation"], _ordered(w["body"], self.element_order.get(w["operation"], [])),
                                    w["idempotency_key"], w["record_key"])
                    for w in group
                ]  # fmt: skip
                for w, result in zip(group, hook.run_functions(functions, entity_id=entity), strict=True):
                    if result.ok:
                        results.append({**_base(w), "status": "ok", "new_id": result.record_no, "record": None,
                                        "error_code": None})  # fmt: skip
                        continue
                    text = "; ".join(filter(None, (f"{e.description} {e.description2}".strip() for e in result.errors)))
                    self.log.warning("Intacct refused %s %s: errorno %s", w["operation"], w["record_key"],
                                     result.errorno)  # fmt: skip
                    error = f"Intacct {result.errorno}: {text}"
                    results.append({**_base(w), "status": "failed", "new_id": None, "record": None,
                                    "error_code": result.errorno, "error": error})  # fmt: skip
                done += len(group)
                self.log.info("Intacct writes: %d of %d (%d%%)", done, len(writes), done * 100 // len(writes))
        except IntacctAuthError as exc:
            raise auth_failure("Intacct", self.intacct_conn_id, exc) from None
        frame = results_frame(results)
        staged = stage(frame, flow=self.flow, run_id=context["run_id"], name="intacct_write_results")
        ok = int((frame["status"] == "ok").sum())
        self.log.info("Intacct API transactions spent: %d", hook.api_transactions)
        return {**staged, "ok": ok, "failed": len(frame) - ok}


def _ordered(body: Any, order: Sequence[str]) -> Any:
    """``body`` with its top-level elements in ``order`` (attributes first, unknown elements last)."""
    if not isinstance(body, dict) or not order:
        return body
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(body.items(), key=lambda kv: (not kv[0].startswith("@"), rank.get(kv[0], len(rank)))))
