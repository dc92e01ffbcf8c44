"""Every query the product's hooks and flows build passes the sandboxes' field validation.

The sandboxes refuse what the real APIs refuse: a QuickBooks WHERE/ORDERBY on a property that is
not filterable/sortable (4001 "property 'X' is not queryable") and an Intacct ``query`` naming a
field the object does not document (XL03000006 "The following fields cannot be queried"). This
module runs the product's own query builders, not copies of their text, against the sandboxes:

- every extract operator of every DAG in ``dags/`` (found by loading the DagBag, so a new flow's
  DAG is covered as soon as it exists), in each of its modes: by ids, by change window, and all;
- the workbook list readers (``flows.lists``), the hook's row count and the entity list.

A query the real API would refuse therefore fails here first. The last tests show the check can
fail: the same builders with a non-queryable property are refused.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from qbo_intacct.hooks._transport import reset_limiters
from qbo_intacct.hooks.intacct import IntacctFunctionError, IntacctHook
from qbo_intacct.hooks.quickbooks import QuickBooksFault, QuickBooksHook
from qbo_intacct.operators.extract import IntacctExtractOperator, QuickBooksExtractOperator

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def extract_tasks() -> list[Any]:
    from airflow.dag_processing.dagbag import DagBag

    pools = set(json.loads((ROOT / "include" / "pools.json").read_text())) | {"default_pool"}
    bag = DagBag(dag_folder=str(ROOT / "dags"), known_pools=pools)
    assert bag.import_errors == {}
    tasks = [
        task
        for dag in bag.dags.values()
        for task in dag.tasks
        if isinstance(task, QuickBooksExtractOperator | IntacctExtractOperator)
    ]
    assert tasks, "no extract operators found in dags/"
    return tasks


@pytest.fixture
def qbo_hook(qbo_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[QuickBooksHook]:
    """A hook with a refresh token and token store of its own (no test spends another's token)."""
    reset_limiters()
    grant = requests.post(f"{qbo_sandbox.admin}/qbo/authorize", json={}, timeout=10)
    grant.raise_for_status()
    conn = json.loads(os.environ["AIRFLOW_CONN_QUICKBOOKS_DEFAULT"])
    conn["extra"]["refresh_token"] = grant.json()["refresh_token"]
    monkeypatch.setenv("AIRFLOW_CONN_QUICKBOOKS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv(
        "AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "state.db")})
    )
    yield QuickBooksHook()
    reset_limiters()


@pytest.fixture
def intacct_hook(intacct_sandbox: Any) -> IntacctHook:
    return IntacctHook()


def _modes(task: Any) -> list[tuple[str, Any]]:
    """The operator in each mode it reads in: by ids, by change window, everything, and by name."""
    end = datetime.now(UTC) + timedelta(minutes=1)
    window = {"start": (end - timedelta(days=2)).isoformat(), "end": end.isoformat()}
    modes = []
    # Ids as the flow passes them: record numbers are integers (an Intacct RECORDNO refuses "C-1").
    sample = ["1", "2"] if getattr(task, "id_field", None) == "RECORDNO" else ["1", "C-1"]
    for name, ids, win in (("ids", sample, None), ("window", None, window), ("all", None, None)):
        clone = copy.copy(task)
        clone.ids, clone.window = ids, win
        if hasattr(clone, "names"):
            clone.names = None
        modes.append((name, clone))
    if getattr(task, "names", None) is not None:  # wired to a name lookup (QuickBooks DisplayName uniqueness)
        clone = copy.copy(task)
        clone.ids, clone.window, clone.names = None, None, ["O'Brien & Sons", "Acme: West"]
        modes.append(("names", clone))
    return modes


def test_every_quickbooks_extract_query_is_valid(extract_tasks: list[Any], qbo_hook: QuickBooksHook) -> None:
    checked = []
    for task in extract_tasks:
        if not isinstance(task, QuickBooksExtractOperator):
            continue
        for mode, clone in _modes(task):
            list(clone._records(qbo_hook))  # a query QuickBooks would refuse raises QuickBooksFault here
            checked.append((task.entity, mode))
        qbo_hook.count(task.entity)
    assert checked


def test_every_intacct_extract_query_is_valid(extract_tasks: list[Any], intacct_hook: IntacctHook) -> None:
    checked = []
    for task in extract_tasks:
        if not isinstance(task, IntacctExtractOperator):
            continue
        for mode, clone in _modes(task):
            list(clone._records(intacct_hook))  # XL03000006 would raise IntacctFunctionError here
            checked.append((task.object_name, mode))
    assert checked


def test_workbook_list_readers_and_entity_list_send_valid_queries(
    qbo_hook: QuickBooksHook, intacct_hook: IntacctHook
) -> None:
    from qbo_intacct.flows.lists import intacct_lists, qbo_lists

    assert not qbo_lists(qbo_hook).empty
    assert not intacct_lists(intacct_hook).empty
    assert [e["LOCATIONID"] for e in intacct_hook.entities()]


def test_the_check_fails_for_a_property_quickbooks_does_not_filter_on(qbo_hook: QuickBooksHook) -> None:
    with pytest.raises(QuickBooksFault) as refused:
        list(qbo_hook.iter_query("Vendor", "PrimaryEmailAddr = 'ap@example.com'"))
    assert refused.value.code == "4001"
    assert "PrimaryEmailAddr" in str(refused.value.detail)


def test_the_check_fails_for_a_field_intacct_does_not_document(intacct_hook: IntacctHook) -> None:
    with pytest.raises(IntacctFunctionError) as refused:
        list(intacct_hook.iter_query("CUSTOMER", ["CUSTOMERID", "EMAIL"]))
    assert refused.value.errorno == "XL03000006"
    assert "customer: [EMAIL]" in refused.value.description2
