"""Publish what a task spent on the APIs (see :mod:`qbo_intacct.hooks.usage`) as its ``api_calls`` XCom."""

from __future__ import annotations

from typing import Any

from qbo_intacct.hooks import usage


class ReportsApiUsage:
    """Mixin for operators that call the APIs (``class X(ReportsApiUsage, BaseOperator)``).

    Airflow calls ``pre_execute`` and ``post_execute`` around ``execute`` in the task's process; the
    difference of the process tally between them is what this task spent (also under ``dag.test()``,
    where every task runs in one process). Only a successful try publishes: the run summary counts
    the tries that produced its data, and the hooks' retries inside a try are counted there.
    """

    _api_usage_before: usage.Usage | None = None

    def pre_execute(self, context: Any) -> None:
        self._api_usage_before = usage.snapshot()

    def post_execute(self, context: Any, result: Any = None) -> None:
        spent = usage.since(self._api_usage_before or {})
        if spent:
            context["ti"].xcom_push(key=usage.XCOM_KEY, value=spent)
