"""Extract operators: read one object type from one system, stage it as parquet, return path and count.

A data engineer composes a flow from these without writing API code::

    QuickBooksExtractOperator(task_id="extract_qbo", flow="customers", entity="Customer",
                              window=prepare["window"], pool="qbo_api")
    IntacctExtractOperator(task_id="extract_intacct", flow="customers", object_name="CUSTOMER",
                           fields=[...], window=prepare["window"], pool="intacct_api")

Modes:

- ``window`` given: the records changed in ``[start, end)`` (``start`` None reads everything);
- ``ids`` given (e.g. an upstream task's list, or ``"all"``): those records (or every record);
- ``names`` given (a list of DisplayNames, or ``"all"``): the records with those names, compared
  without case as QuickBooks does (the names a run may give, checked for uniqueness);
- none: every record (small lists such as terms).

XCom carries ``{"path", "rows", "complete"}`` only (``complete``: every record of the type was read,
which lets the flow rebuild its directory of the system, :mod:`qbo_intacct.ledger.directory`).
Staged files hold business records, never credentials, and never a full bank account number
(masked to a token, :mod:`qbo_intacct.flows.sensitive`).

An authentication refusal fails the task without Airflow's retries, naming the connection (see
:func:`qbo_intacct.operators.load.auth_failure`): a refused sign-in does not get better by retrying,
and repeated refusals can lock the Intacct user out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from qbo_intacct.operators._usage import ReportsApiUsage

if TYPE_CHECKING:
    from airflow.sdk import Context

ID_CHUNK = 100


def _literal(value: str) -> str:
    """A QuickBooks query string literal: single quotes, apostrophes and backslashes escaped."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ids(value: Any) -> list[str] | str | None:
    if value is None:
        return None
    if value == "all":
        return "all"
    return [str(v) for v in value]


class QuickBooksExtractOperator(ReportsApiUsage, BaseOperator):
    """Stage QuickBooks objects of one entity (changed in a window, by id, or all)."""

    template_fields: Sequence[str] = ("window", "ids", "names", "quickbooks_conn_id")
    ui_color = "#d6f5d6"

    def __init__(
        self,
        *,
        flow: str,
        entity: str,
        window: Any = None,
        ids: Any = None,
        names: Any = None,
        name: str | None = None,
        quickbooks_conn_id: str = "quickbooks_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow = flow
        self.entity = entity
        self.window = window
        self.ids = ids
        self.names = names
        self.name = name or f"qbo_{entity.lower()}"
        self.quickbooks_conn_id = quickbooks_conn_id

    def _records(self, hook: Any) -> Iterator[dict[str, Any]]:
        from qbo_intacct.flows.runtime import Window

        names = _ids(self.names)
        if isinstance(names, list):
            for start in range(0, len(names), ID_CHUNK):
                quoted = ", ".join(_literal(n) for n in names[start : start + ID_CHUNK])
                yield from hook.iter_query(self.entity, f"DisplayName IN ({quoted})")
            return
        ids = _ids(self.ids)
        if isinstance(ids, list):
            for start in range(0, len(ids), ID_CHUNK):
                quoted = ", ".join(_literal(i) for i in ids[start : start + ID_CHUNK])
                yield from hook.iter_query(self.entity, f"Id IN ({quoted})")
            return
        if ids is None and self.window:
            window = Window.from_xcom(self.window)
            if window.start is not None:
                yield from hook.iter_changed(self.entity, window.start, window.end)
                return
        yield from hook.iter_query(self.entity, order_by="Id")

    def execute(self, context: Context) -> dict[str, Any]:
        from qbo_intacct.hooks.quickbooks import QuickBooksAuthError, QuickBooksHook
        from qbo_intacct.operators.load import auth_failure

        if (self.ids is not None and not self.ids) or (self.names is not None and not self.names):
            return {"path": None, "rows": 0}
        try:
            return self._read(context, QuickBooksHook(quickbooks_conn_id=self.quickbooks_conn_id))
        except QuickBooksAuthError as exc:
            raise auth_failure("QuickBooks", self.quickbooks_conn_id, exc) from None

    def _read(self, context: Context, hook: Any) -> dict[str, Any]:
        from qbo_intacct.flows.runtime import stage_records

        full = self.ids == "all" or self.names == "all"
        full = full or (self.ids is None and self.names is None and not (self.window and self.window.get("start")))
        total = hook.count(self.entity) if full else 0  # one cheap query, so a long read shows its percent
        from qbo_intacct.flows.sensitive import MASKED_PATHS, mask_record

        masked = MASKED_PATHS.get(self.entity, ())
        records = []
        for record in self._records(hook):
            records.append(mask_record(record, masked) if masked else record)
            if len(records) % 500 == 0:
                shown = f" of {total} ({len(records) * 100 // total}%)" if total else " so far"
                self.log.info("read %d QuickBooks %s records%s", len(records), self.entity, shown)
        staged = stage_records(records, id_field="Id", flow=self.flow, run_id=context["run_id"], name=self.name)
        self.log.info("staged %d QuickBooks %s records", staged["rows"], self.entity)
        return {**staged, "complete": full}


class IntacctExtractOperator(ReportsApiUsage, BaseOperator):
    """Stage Intacct records of one object (changed in a window, by id field, or all), top level.

    Reads at the top level with private records shown, so entity-owned records are included; the
    entity of each record is in ``MEGAENTITYID`` when selected.
    """

    template_fields: Sequence[str] = ("window", "ids", "intacct_conn_id")
    ui_color = "#d6e4f5"

    def __init__(
        self,
        *,
        flow: str,
        object_name: str,
        fields: Sequence[str],
        id_field: str,
        window: Any = None,
        ids: Any = None,
        name: str | None = None,
        intacct_conn_id: str = "intacct_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow = flow
        self.object_name = object_name
        self.fields = list(fields)
        self.id_field = id_field
        self.window = window
        self.ids = ids
        self.name = name or f"intacct_{object_name.lower()}"
        self.intacct_conn_id = intacct_conn_id

    def _records(self, hook: Any) -> Iterator[dict[str, Any]]:
        from qbo_intacct.flows.runtime import Window
        from qbo_intacct.hooks.intacct import Filter

        ids = _ids(self.ids)
        if isinstance(ids, list):
            for start in range(0, len(ids), ID_CHUNK):
                chunk = ids[start : start + ID_CHUNK]
                yield from hook.iter_query(
                    self.object_name, self.fields, Filter.one_of(self.id_field, chunk), entity_id="", show_private=True
                )
            return
        if ids is None and self.window:
            window = Window.from_xcom(self.window)
            if window.start is not None:
                yield from hook.iter_changed(
                    self.object_name, self.fields, window.start, window.end, entity_id="", show_private=True
                )
                return
        yield from hook.iter_query(self.object_name, self.fields, entity_id="", show_private=True)

    def execute(self, context: Context) -> dict[str, Any]:
        from qbo_intacct.hooks.intacct import IntacctAuthError, IntacctHook
        from qbo_intacct.operators.load import auth_failure

        if self.ids is not None and not self.ids:
            return {"path": None, "rows": 0}
        try:
            return self._read(context, IntacctHook(intacct_conn_id=self.intacct_conn_id))
        except IntacctAuthError as exc:
            raise auth_failure("Intacct", self.intacct_conn_id, exc) from None

    def _read(self, context: Context, hook: Any) -> dict[str, Any]:
        from qbo_intacct.flows.runtime import stage_records
        from qbo_intacct.flows.sensitive import MASKED_PATHS, mask_record

        masked = MASKED_PATHS.get(self.object_name, ())
        records = []
        for record in self._records(hook):
            records.append(mask_record(record, masked) if masked else record)
            if len(records) % 2000 == 0:
                self.log.info("read %d Intacct %s records so far", len(records), self.object_name)
        staged = stage_records(
            records, id_field=self.id_field, flow=self.flow, run_id=context["run_id"], name=self.name
        )
        self.log.info("staged %d Intacct %s records", staged["rows"], self.object_name)
        whole = self.ids == "all" or (self.ids is None and not (self.window and self.window.get("start")))
        return {**staged, "complete": bool(whole)}
