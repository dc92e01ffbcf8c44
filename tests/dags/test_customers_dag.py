"""``qbo_intacct_customers`` end to end with ``dag.test()`` on the demo books, both sandboxes over HTTP.

One module-scoped story (the demo books load once; every ``dag.test()`` costs seconds):
first run -> immediate second run -> an edit on each side -> a rerun (echo) -> finance decides the
held duplicates in the workbook and in the review queue -> a rerun applies them -> the ledger is
deleted -> a rerun creates nothing -> a dry run writes nothing. Each test asserts one behaviour of
the run it is named after; the runs happen in the fixtures, in that order.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, airflow_cli_env, environ, private_token_store
from flow_story import FlowStory as Story
from flow_story import RunResult, flow_story, records_written
from flow_story import intacct_hook as _intacct_hook
from flow_story import ledger as _ledger
from flow_story import qbo_hook as _qbo_hook

pytestmark = pytest.mark.dag

DUPLICATE_PAIRS = [("31", "32"), ("33", "34"), ("35", "36")]
CHF_CUSTOMER = "37"


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_customers", sandboxes, tmp_path_factory.mktemp("customers")) as story:
        yield story


def _intacct_customer(customer_id: str) -> dict[str, Any]:
    from qbo_intacct.flows.customers import INTACCT_FIELDS
    from qbo_intacct.hooks.intacct import Filter

    rows = list(
        _intacct_hook().iter_query(
            "CUSTOMER", INTACCT_FIELDS, Filter.equal("CUSTOMERID", customer_id), entity_id="", show_private=True
        )
    )
    assert len(rows) == 1, f"{customer_id}: {len(rows)} records"
    return rows[0]


def _all_intacct_ids() -> list[str]:
    return [
        r["CUSTOMERID"] for r in _intacct_hook().iter_query("CUSTOMER", ["CUSTOMERID"], entity_id="", show_private=True)
    ]


def _all_qbo_customers() -> list[dict[str, Any]]:
    return list(_qbo_hook().iter_query("Customer"))


@pytest.fixture(scope="module")
def first(story: Story) -> RunResult:
    return story.run("first")


@pytest.fixture(scope="module")
def second(story: Story, first: RunResult) -> RunResult:
    return story.run("second")


@pytest.fixture(scope="module")
def after_edits(story: Story, second: RunResult) -> RunResult:
    qbo = _qbo_hook()
    customer = qbo.get("Customer", "7")
    qbo.update(
        "Customer",
        {"Id": "7", "SyncToken": customer["SyncToken"], "PrimaryPhone": {"FreeFormNumber": "+1 206 555 0107"}},
        request_id="test-edit-qbo-7",
    )
    _intacct_hook().update(
        "CUSTOMER",
        [{"CUSTOMERID": "C-10005", "DISPLAYCONTACT": {"PHONE1": "+1 212 555 0005"}}],
        keys=["test-edit-c10005"],
    )
    return story.run("after_edits")


@pytest.fixture(scope="module")
def echo(story: Story, after_edits: RunResult) -> RunResult:
    return story.run("echo")


@pytest.fixture(scope="module")
def both_sides(story: Story, echo: RunResult) -> RunResult:
    """Customer 2 / C-10022 edited on both sides; contact's system of record is QuickBooks."""
    qbo = _qbo_hook()
    customer = qbo.get("Customer", "2")
    qbo.update(
        "Customer",
        {"Id": "2", "SyncToken": customer["SyncToken"], "PrimaryEmailAddr": {"Address": "ap@raven-qbo.example"}},
        request_id="test-both-qbo-2",
    )
    _intacct_hook().update(
        "CUSTOMER",
        [{"CUSTOMERID": "C-10022", "DISPLAYCONTACT": {"EMAIL1": "ap@raven-intacct.example"}}],
        keys=["test-both-c10022"],
    )
    return story.run("both_sides")


def _add_record_links(path: Path, rows: list[dict[str, str]]) -> None:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter, range_boundaries

    wb = load_workbook(path)
    ws = wb["Record Links"]
    table = ws.tables["RecordLinks"]
    min_col, min_row, max_col, max_row = range_boundaries(table.ref)
    headers = {ws.cell(row=min_row, column=c).value: c for c in range(min_col, max_col + 1)}
    row = max_row + 1
    while row - 1 > min_row and all(ws.cell(row=row - 1, column=c).value in (None, "") for c in headers.values()):
        row -= 1
    for values in rows:
        for header, value in values.items():
            ws.cell(row=row, column=headers[header], value=value)
        row += 1
    last = max(max_row, row - 1)
    table.ref = f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{last}"
    if table.autoFilter is not None:
        table.autoFilter.ref = table.ref
    wb.save(path)


@pytest.fixture(scope="module")
def decided(story: Story, both_sides: RunResult) -> RunResult:
    from qbo_intacct.flows.review_queue import apply_answer

    _add_record_links(
        story.workbook,
        [
            {"Flow": "customers", "Source System": "QuickBooks", "Source Id": "31", "Decision": "Create new"},
            {"Flow": "customers", "Source System": "QuickBooks", "Source Id": "32", "Decision": "Ignore"},
        ],
    )
    ledger = _ledger()
    items = {(i.record_id, i.reason_code): i for i in ledger.review_items("customers")}
    for record_id, choice in (("33", "Create new"), ("34", "Ignore")):
        item = items[(record_id, "duplicate_in_source")]
        apply_answer(ledger, {"chosen_options": [choice], "params_input": {"review_item": item.id}})
    return story.run("decided")


@pytest.fixture(scope="module")
def ledger_lost(story: Story, decided: RunResult) -> RunResult:
    from qbo_intacct.ledger.db import dispose_engines

    story.counts_before_loss = (len(_all_qbo_customers()), len(_all_intacct_ids()))  # type: ignore[attr-defined]
    dispose_engines()
    story.state_db.unlink()  # the QuickBooks token store goes with it: the connection's token must still work
    os.environ.update(private_token_store({"qbo": story.qbo}, story.state_db))
    return story.run("ledger_lost")


@pytest.fixture(scope="module")
def dry(story: Story, ledger_lost: RunResult) -> RunResult:
    qbo = _qbo_hook()
    customer = qbo.get("Customer", "9")
    qbo.update(
        "Customer",
        {"Id": "9", "SyncToken": customer["SyncToken"], "CompanyName": "Acme Motors Holdings"},
        request_id="test-edit-qbo-9",
    )
    return story.run("dry", dry_run=True)


@pytest.fixture(scope="module")
def refused(story: Story, dry: RunResult) -> RunResult:
    """Intacct changes the currency of C-10021; QuickBooks refuses to change a customer's currency."""
    _intacct_hook().update("CUSTOMER", [{"CUSTOMERID": "C-10021", "CURRENCY": "EUR"}], keys=["test-currency-c10021"])
    return story.run("refused")


# -------------------------------------------------------------------------------- first run


def test_first_run_succeeds(first: RunResult) -> None:
    assert first.state == "success"


def test_first_run_creates_missing_customers_on_both_sides(first: RunResult) -> None:
    # 38 QuickBooks customers: 6 match Intacct ones, 6 are duplicates and 1 is in CHF (held) -> 25 created in
    # Intacct; the 20 Intacct-only customers are created in QuickBooks.
    assert first.summary["created"] == 45
    assert "QB-1" not in _all_intacct_ids()  # customer 1 matched C-10021 by email: linked, not created
    assert {"QB-7", "QB-38"} <= set(_all_intacct_ids())


def test_first_run_links_every_written_or_matched_customer(first: RunResult) -> None:
    links = {(link.source_id, link.target_id) for link in _ledger().links("customers")}
    assert ("1", "C-10021") in links
    assert ("7", "QB-7") in links
    assert len(links) == 51


def test_customer_created_in_intacct_gets_the_derived_customer_id(first: RunResult) -> None:
    created = _intacct_customer("QB-38")
    assert created["NAME"] == 'O\'Brien "Best" & Sons <Holdings>'
    assert created["CURRENCY"] == "USD"


def test_customer_created_in_quickbooks_carries_the_intacct_id_and_a_valid_display_name(first: RunResult) -> None:
    created = [c for c in _all_qbo_customers() if c.get("AcctNum") == "C-10001"]
    assert len(created) == 1
    assert created[0]["DisplayName"] == "Blue Energy Ltd"
    assert ":" not in created[0]["DisplayName"]


def test_planted_duplicates_and_disabled_currency_are_held_with_candidates(first: RunResult) -> None:
    items = {(i.record_id, i.reason_code): i for i in _ledger().review_items("customers")}
    for a, b in DUPLICATE_PAIRS:
        assert items[(a, "duplicate_in_source")].candidates == (f"qbo:{b}",)
        assert items[(b, "duplicate_in_source")].candidates == (f"qbo:{a}",)
    assert (CHF_CUSTOMER, "validation:currency enabled") in items
    assert first.summary["held_for_review"] == 7


def test_held_customers_are_not_created(first: RunResult) -> None:
    ids = set(_all_intacct_ids())
    assert not {f"QB-{i}" for pair in DUPLICATE_PAIRS for i in pair} & ids
    assert f"QB-{CHF_CUSTOMER}" not in ids


# -------------------------------------------------------------------------------- reruns


def test_immediate_second_run_writes_nothing(second: RunResult) -> None:
    assert second.state == "success"
    assert second.writes == {"qbo": 0, "intacct": 0}
    assert second.log == {"qbo": [], "intacct": []}


def test_edit_in_quickbooks_arrives_in_intacct(after_edits: RunResult) -> None:
    assert _intacct_customer("QB-7")["DISPLAYCONTACT.PHONE1"] == "+1 206 555 0107"


def test_edit_in_intacct_arrives_in_quickbooks(after_edits: RunResult) -> None:
    (customer,) = [c for c in _all_qbo_customers() if c.get("AcctNum") == "C-10005"]
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "+1 212 555 0005"


def test_each_edit_is_one_write_on_the_other_side(after_edits: RunResult) -> None:
    assert after_edits.writes == {"qbo": 1, "intacct": 1}


def test_synced_edits_do_not_echo_back(echo: RunResult) -> None:
    assert echo.writes == {"qbo": 0, "intacct": 0}


def test_edit_on_both_sides_follows_the_system_of_record(both_sides: RunResult) -> None:
    assert _intacct_customer("C-10022")["DISPLAYCONTACT.EMAIL1"] == "ap@raven-qbo.example"
    assert both_sides.writes == {"qbo": 0, "intacct": 1}


def test_run_summary_is_attached_to_the_asset_event(first: RunResult) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        extras = session.scalars(
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "qbo_intacct_customers")
            .order_by(AssetEvent.id)
        ).all()
    assert any(e and e.get("created") == 45 and e.get("held_for_review") == 7 for e in extras)
    assert any(e and e.get("qbo_requests", 0) > 0 and e.get("intacct_api_transactions", 0) > 0 for e in extras)


def _requests_seen(counters: dict[str, Any]) -> int:
    """Every request the sandbox answered (any endpoint, any status), from its counters."""
    return sum(int(n) for n in counters.get("requests", {}).values())


def test_run_summary_says_what_each_api_was_asked_and_what_intacct_bills(first: RunResult) -> None:
    """The cost line finance reads in every summary agrees with what the sandboxes counted."""
    spent = first.summary["api_calls"]
    assert sum(spent["qbo"].values()) == _requests_seen(first.counters["qbo"])
    assert spent["qbo"]["batch_requests"] >= 1
    assert spent["qbo"]["reads"] >= 1
    assert spent["intacct"]["requests"] == _requests_seen(first.counters["intacct"])
    # A first run replays nothing, so the hook's count is exactly what Intacct bills.
    assert spent["intacct"]["api_transactions"] == first.counters["intacct"]["api_transactions"] > 0


def test_unchanged_rerun_summary_spends_no_intacct_write_transaction(second: RunResult) -> None:
    spent = second.summary["api_calls"]
    assert spent["intacct"]["api_transactions"] == second.counters["intacct"]["api_transactions"]
    assert "batch_requests" not in spent.get("qbo", {})
    assert "writes" not in spent.get("qbo", {})


# -------------------------------------------------------------------------------- decisions


def test_workbook_and_review_queue_decisions_are_applied_and_nothing_else_changes(decided: RunResult) -> None:
    assert decided.state == "success"
    ids = set(_all_intacct_ids())
    assert {"QB-31", "QB-33"} <= ids
    assert not {"QB-32", "QB-34"} & ids
    assert decided.writes == {"qbo": 0, "intacct": 2}


def test_decided_items_are_resolved_and_stay_resolved(decided: RunResult) -> None:
    from qbo_intacct.ledger.repository import ReviewStatus

    items = {(i.record_id, i.reason_code): i for i in _ledger().review_items("customers")}
    assert items[("31", "duplicate_in_source")].status is ReviewStatus.RESOLVED
    assert items[("32", "duplicate_in_source")].status is ReviewStatus.IGNORED
    assert items[("34", "duplicate_in_source")].status is ReviewStatus.IGNORED
    assert items[("35", "duplicate_in_source")].status is ReviewStatus.OPEN


# -------------------------------------------------------------------------------- ledger lost


def test_rerun_without_ledger_creates_no_duplicate(story: Story, ledger_lost: RunResult) -> None:
    assert ledger_lost.state == "success"
    assert (len(_all_qbo_customers()), len(_all_intacct_ids())) == story.counts_before_loss  # type: ignore[attr-defined]
    assert ledger_lost.summary["created"] == 0
    assert ledger_lost.writes == {"qbo": 0, "intacct": 0}


def test_rerun_without_ledger_relinks_by_keys_and_identifiers(ledger_lost: RunResult) -> None:
    links = {(link.source_id, link.target_id) for link in _ledger().links("customers")}
    assert {("7", "QB-7"), ("1", "C-10021"), ("31", "QB-31")} <= links


# -------------------------------------------------------------------------------- dry run


def test_dry_run_writes_nothing(dry: RunResult) -> None:
    assert dry.state == "success"
    assert dry.writes == {"qbo": 0, "intacct": 0}
    assert dry.summary["dry_run"] is True


def test_dry_run_plan_shows_the_update_with_its_field_diff(story: Story, dry: RunResult) -> None:
    from qbo_intacct.flows.staging import read_staged

    plan = read_staged(dry.summary["plan_path"])
    updates = plan[(plan["action"] == "update") & (plan["source_id"] == "9")]
    assert len(updates) == 1
    diffs = updates.iloc[0]["diffs"]
    assert {
        "field": "company_name",
        "group": "identity",
        "before": "Acme Motors Inc",
        "after": "Acme Motors Holdings",
    } in diffs


def test_run_summary_and_staged_files_hold_no_secret(story: Story, dry: RunResult) -> None:
    secrets = []
    for conn_id in ("quickbooks_default", "intacct_default"):
        conn = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
        secrets.append(conn["password"])
        secrets += [v for k, v in conn["extra"].items() if any(s in k for s in ("password", "token", "secret"))]
    for path in story.staging.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in filter(None, secrets):
                assert secret.encode() not in content, f"a secret is in {path.name}"


# -------------------------------------------------------------------------------- refused write


def test_refused_write_is_counted_failed_and_held_with_the_systems_message(refused: RunResult) -> None:
    assert refused.summary["failed"] == 1
    items = [i for i in _ledger().review_items("customers") if i.reason_code == "write_failed:qbo"]
    assert [(i.record_system, i.record_id) for i in items] == [("qbo", "1")]
    assert "currency" in items[0].detail.lower()


# -------------------------------------------------------------------------------- broken workbook


def test_broken_workbook_fails_naming_sheet_row_and_column_and_writes_nothing(
    sandboxes, airflow_db, tmp_path: Path, story: Story, dry: RunResult
) -> None:
    from openpyxl import load_workbook
    from openpyxl.utils import range_boundaries

    workbook = tmp_path / "broken.xlsx"
    shutil.copy(story.workbook, workbook)
    wb = load_workbook(workbook)
    del wb["Terms"].tables["TermMap"]  # a missing table
    ws = wb["Accounts"]
    min_col, min_row, max_col, _ = range_boundaries(ws.tables["AccountMap"].ref)
    headers = {ws.cell(row=min_row, column=c).value: c for c in range(min_col, max_col + 1)}
    first_row = min_row + 1
    ws.cell(
        row=first_row + 1,
        column=headers["QuickBooks Account"],
        value=ws.cell(row=first_row, column=headers["QuickBooks Account"]).value,
    )
    ws.cell(row=first_row + 2, column=headers["Intacct GL Account"], value="99999")  # an unknown target account
    wb.save(workbook)
    for sandbox in (story.qbo, story.intacct):
        sandbox.reset_counters()
    env = airflow_cli_env(
        AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT=f"file://{tmp_path / 'staging'}",
        AIRFLOW_VAR_QBO_INTACCT_MAPPING_WORKBOOK=str(workbook),
        **private_token_store({"qbo": story.qbo}, tmp_path / "state.db"),
    )
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", "qbo_intacct_customers"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the Excel table 'TermMap' is missing" in output
    assert "duplicate mapping" in output
    assert "sheet 'Accounts', row" in output
    assert "column 'QuickBooks Account'" in output
    assert "'99999' does not exist in Intacct" in output
    assert records_written(story.qbo) == 0
    assert records_written(story.intacct) == 0


# -------------------------------------------------------------------------------- issue 10 defects
# These runs come after ``refused``, so the assertions above stay as they were.


def _staged_rows(story: Story, run: RunResult, name: str) -> int:
    import re

    import pyarrow.parquet as pq

    run_dir = re.sub(r"[^A-Za-z0-9._-]+", "_", run.summary["run_id"]).strip("_")
    path = story.staging / "customers" / run_dir / f"{name}.parquet"
    return pq.read_metadata(path).num_rows if path.exists() else 0


def _staged_ids(story: Story, run: RunResult, name: str) -> set[str]:
    import re

    from qbo_intacct.flows.staging import read_staged

    run_dir = re.sub(r"[^A-Za-z0-9._-]+", "_", run.summary["run_id"]).strip("_")
    path = story.staging / "customers" / run_dir / f"{name}.parquet"
    return {str(r) for r in read_staged(str(path))["record_id"]} if path.exists() else set()


def test_unchanged_rerun_with_review_items_open_reads_only_the_window_and_held_records(
    story: Story, second: RunResult
) -> None:
    """Seven QuickBooks customers are held (three duplicate pairs and the CHF one). The rerun reads its
    window, the partners of what is in it, and the held records with the candidates their items list,
    by id: never the whole of either system, as it did while any review item was open."""
    held = {"31", "32", "33", "34", "35", "36", CHF_CUSTOMER}
    links = _ledger().links("customers")
    source_of = {link.target_id: link.source_id for link in links}
    target_of = {link.source_id: link.target_id for link in links}
    window_qbo = _staged_ids(story, second, "qbo_customer")
    window_intacct = _staged_ids(story, second, "intacct_customer")
    expected_qbo = ({source_of[t] for t in window_intacct if t in source_of} | held) - window_qbo
    expected_intacct = {target_of[q] for q in window_qbo if q in target_of} - window_intacct
    assert _staged_ids(story, second, "qbo_customer_partners") == expected_qbo
    assert _staged_ids(story, second, "intacct_customer_partners") == expected_intacct  # not "all" of either


def test_unchanged_rerun_looks_up_names_instead_of_reading_every_vendor_and_employee(
    story: Story, second: RunResult
) -> None:
    """DisplayNames are unique across customers, vendors and employees: the rerun asks QuickBooks for the
    names it may give (its Intacct window's), not for every vendor and employee."""
    vendors = len(list(_qbo_hook().iter_query("Vendor")))
    assert vendors > 0
    read = {name: _staged_rows(story, second, name) + _staged_rows(story, second, f"{name}_names")
            for name in ("qbo_vendor", "qbo_employee", "qbo_customer")}  # fmt: skip
    assert read["qbo_vendor"] < vendors
    assert read["qbo_customer"] < len(_all_qbo_customers())


@pytest.fixture(scope="module")
def duplicates_changed(story: Story, refused: RunResult) -> RunResult:
    """Customer 36 no longer shares email or tax ID with 35 (their item is still open): nothing decides for them."""
    qbo = _qbo_hook()
    customer = qbo.get("Customer", "36")
    qbo.update(
        "Customer",
        {"Id": "36", "SyncToken": customer["SyncToken"], "PrimaryEmailAddr": {"Address": "new@elsewhere.example"},
         "PrimaryTaxIdentifier": "98-7654321"},
        request_id="test-dup-36",
    )  # fmt: skip
    return story.run("duplicates_changed")


def test_held_record_stays_held_until_finance_decides(duplicates_changed: RunResult) -> None:
    from qbo_intacct.ledger.repository import ReviewStatus

    assert duplicates_changed.state == "success"
    assert not {"QB-35", "QB-36"} & set(_all_intacct_ids())
    items = {(i.record_id, i.reason_code): i for i in _ledger().review_items("customers")}
    assert items[("35", "duplicate_in_source")].status is ReviewStatus.OPEN
    assert duplicates_changed.writes["intacct"] == 0


@pytest.fixture(scope="module")
def hostile(story: Story, duplicates_changed: RunResult) -> RunResult:
    """A control character in one QuickBooks company name, and an ordinary edit on another customer."""
    qbo = _qbo_hook()
    for qbo_id, change, key in (
        ("9", {"CompanyName": "Acme\x07 Motors"}, "test-hostile-9"),
        ("7", {"PrimaryPhone": {"FreeFormNumber": "+1 206 555 0777"}}, "test-hostile-7"),
    ):
        customer = qbo.get("Customer", qbo_id)
        qbo.update("Customer", {"Id": qbo_id, "SyncToken": customer["SyncToken"], **change}, request_id=key)
    return story.run("hostile")


def test_one_bad_record_is_held_naming_the_field_and_the_run_goes_on(hostile: RunResult) -> None:
    assert hostile.state == "success"
    assert _intacct_customer("QB-7")["DISPLAYCONTACT.PHONE1"] == "+1 206 555 0777"
    items = [i for i in _ledger().review_items("customers") if i.record_id == "9"]
    assert any(i.reason_code == "invalid_characters:company_name" and "U+0007" in i.detail for i in items)
    assert _intacct_customer("QB-9")["DISPLAYCONTACT.COMPANYNAME"] != "Acme\x07 Motors"


@pytest.fixture(scope="module")
def rebuilt(story: Story, hostile: RunResult) -> RunResult:
    """An Intacct customer named with a colon is created in QuickBooks; then C-10005 is edited in Intacct
    and the ledger is lost before the next run."""
    from qbo_intacct.ledger.db import dispose_engines

    _intacct_hook().create(
        "CUSTOMER",
        [{"CUSTOMERID": "C-20001", "NAME": "Iron: Works", "DISPLAYCONTACT": {"EMAIL1": "ap@iron-works.example"}}],
        keys=["test-colon-c20001"],
    )
    story.run("colon_created")
    _intacct_hook().update(
        "CUSTOMER", [{"CUSTOMERID": "C-10005", "DISPLAYCONTACT": {"PHONE1": "+1 212 555 0505"}}], keys=["test-c10005-2"]
    )
    # The ledger's tables are lost; the QuickBooks token store beside them is kept (the bootstrap
    # refresh token was spent when the ledger was lost the first time).
    with sqlite3.connect(story.state_db) as db:
        for table in ("ledger_links", "ledger_review_items", "ledger_runs"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    dispose_engines()
    return story.run("rebuilt")


def test_rebuilt_link_keeps_the_intacct_name_the_naming_rules_cleaned(story: Story, rebuilt: RunResult) -> None:
    assert story.runs["colon_created"].state == "success"
    (created,) = [c for c in _all_qbo_customers() if c.get("AcctNum") == "C-20001"]
    assert created["DisplayName"] == "Iron- Works"
    assert rebuilt.state == "success"
    assert _intacct_customer("C-20001")["NAME"] == "Iron: Works"


def test_rebuilt_link_holds_an_intacct_edit_instead_of_reverting_it(rebuilt: RunResult) -> None:
    assert _intacct_customer("C-10005")["DISPLAYCONTACT.PHONE1"] == "+1 212 555 0505"
    (customer,) = [c for c in _all_qbo_customers() if c.get("AcctNum") == "C-10005"]
    items = [i for i in _ledger().review_items("customers") if i.record_id == customer["Id"]]
    assert [i.reason_code for i in items] == ["conflict"]
    assert "differs_without_baseline" in items[0].detail


@pytest.fixture(scope="module")
def newcomers(story: Story, rebuilt: RunResult) -> RunResult:
    """Two customers are added in QuickBooks: one nobody knows, one keyed with the email of Intacct
    C-20001 (linked already, and outside this run's window)."""
    qbo = _qbo_hook()
    fresh = qbo.create(
        "Customer",
        {"DisplayName": "Zephyr Kite Works", "PrimaryEmailAddr": {"Address": "hello@zephyr-kites.example"}},
        request_id="test-new-zephyr",
    )
    twin = qbo.create(
        "Customer",
        {"DisplayName": "Iron Works Trading", "PrimaryEmailAddr": {"Address": "AP@iron-works.example"}},
        request_id="test-new-iron-twin",
    )
    story.newcomer_ids = (str(fresh["Id"]), str(twin["Id"]))  # type: ignore[attr-defined]
    # Without the default two-hour overlap, the window holds only what changed since the last run
    # (the whole story happens within two hours, so every record would be in the window otherwise).
    with environ({"AIRFLOW_VAR_QBO_INTACCT_WINDOW_OVERLAP_MINUTES": "0"}):
        return story.run("newcomers")


def test_new_record_finds_its_candidates_in_the_directory_without_reading_the_other_system_whole(
    story: Story, newcomers: RunResult
) -> None:
    """Before the directory, one new QuickBooks customer made the run read every Intacct customer to
    look for its partner. Now the run reads only the Intacct records sharing a key with it, by id,
    and still holds the one whose email another customer already has."""
    fresh, twin = story.newcomer_ids  # type: ignore[attr-defined]
    assert newcomers.state == "success"
    assert "C-20001" not in _staged_ids(story, newcomers, "intacct_customer")  # not in the window
    partners = _staged_ids(story, newcomers, "intacct_customer_partners")
    assert "C-20001" in partners
    assert len(partners) * 2 < len(_all_intacct_ids())
    scoped = [line for line in story.logs.lines if "partners to read" in line][-1]  # this run's scope
    assert "Intacct all" not in scoped, scoped
    assert f"QB-{fresh}" in _all_intacct_ids()  # nobody shares a key with it: created
    assert f"QB-{twin}" not in _all_intacct_ids()  # same email as C-20001, which is linked: held
    from qbo_intacct.ledger.repository import ReviewStatus

    held = [i for i in _ledger().review_items("customers", ReviewStatus.OPEN) if i.record_id == twin]
    assert held, "the customer sharing C-20001's email was neither held nor linked"
    assert any("C-20001" in str(c) for i in held for c in i.candidates)
    assert any("already linked to another QuickBooks customer" in json.dumps(i.context) for i in held)
