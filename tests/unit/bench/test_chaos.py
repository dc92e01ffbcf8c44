"""The chaos harness's own arithmetic (bench/chaos): what it counts must be able to count something.

The suite's verdicts (zero duplicates, zero lost, zero secrets found) mean something only if the
comparison and the scan find what is planted; these tests plant it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from bench.chaos import report, runner, secrets_scan
from bench.chaos.books import EndState, compare, fingerprint
from bench.flows import BenchFlow

FLOW = BenchFlow("qbo_intacct_customers", "Customer", "CUSTOMER", "CUSTOMERID")


def _state() -> EndState:
    qbo = [
        {"Id": "1", "SyncToken": "0", "DisplayName": "Acme", "Balance": 10, "MetaData": {"CreateTime": "t1"}},
        {"Id": "2", "SyncToken": "3", "DisplayName": "Beta", "Balance": 0},
    ]
    intacct = [{"RECORDNO": 1, "CUSTOMERID": "C-1", "NAME": "Acme", "WHENMODIFIED": "x"}]
    return EndState(qbo=qbo, intacct=intacct, links={("Acme", "C-1")})


def test_the_same_books_with_other_ids_and_times_compare_equal() -> None:
    got = _state()
    got.qbo[0] = {**got.qbo[0], "Id": "17", "SyncToken": "4", "MetaData": {"CreateTime": "t9"}}
    got.intacct[0] = {**got.intacct[0], "RECORDNO": 99, "WHENMODIFIED": "y"}
    assert compare(FLOW, _state(), got)["converged"]


def test_a_duplicate_a_lost_record_a_changed_amount_and_a_lost_link_are_each_counted() -> None:
    got = _state()
    got.qbo.append({"Id": "3", "DisplayName": "Acme (2)", "Balance": 10})  # duplicate created on a retry
    got.qbo[1] = {**got.qbo[1], "Balance": 5}  # an amount that differs
    got.intacct = []  # the Intacct record is lost
    got.links = set()
    got.unexplained = ["QuickBooks Customer 'Acme (2)' (Id 3)"]
    c = compare(FLOW, _state(), got)
    assert (c["duplicates"], c["lost"], c["differing"], c["extra"]) == (1, 1, 1, 1)
    assert (c["links_missing"], c["unexplained"]) == (1, 1)
    assert not c["converged"]


def test_fingerprint_ignores_only_what_the_systems_assign() -> None:
    assert fingerprint({"Id": "1", "Name": "A"}) == fingerprint({"Id": "2", "Name": "A"})
    assert fingerprint({"Name": "A", "Amount": "1.00"}) != fingerprint({"Name": "A", "Amount": "1.01"})


@pytest.mark.parametrize("rate", [0.05, 0.10, 0.20])
def test_fault_rules_fire_at_the_asked_rate_in_total(rate: float) -> None:
    rules = runner._fault_rules(rate, "qbo", 0)
    on_any_call = [r for r in rules if r.get("operation", "*") == "*"]
    miss = 1.0
    for rule in on_any_call:
        miss *= 1.0 - rule["rate"]
    kinds = {r["kind"] for r in rules}
    assert kinds == set(runner.FAULT_KINDS)
    # every kind but "partial" fires on any call; "partial" only on writes, which then see the full rate
    assert 1.0 - miss == pytest.approx(1 - (1 - rate) ** (7 / 8))
    with_partial = miss * (1.0 - next(r for r in rules if r["kind"] == "partial")["rate"])
    assert 1.0 - with_partial == pytest.approx(rate)
    assert next(r for r in rules if r["kind"] == "429")["retry_after"] == 1


def test_a_kill_is_placed_in_the_task_the_markers_show_running(tmp_path: Path) -> None:
    markers = tmp_path / "m"
    markers.write_text(
        "1.0 start plan\n2.0 success plan\n3.0 start load_qbo\n3.1 start load_intacct\n4.0 success load_qbo\n"
    )
    assert runner._running(markers) == "load_intacct"


def test_the_secret_scan_finds_a_planted_secret_in_logs_parquet_sqlite_and_workbooks(tmp_path: Path) -> None:
    secret = "s3cr3t-refresh-token-value-0123456789"
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "task.log").write_text("nothing to see\n")
    assert secrets_scan.scan([clean], {"refresh token": secret})["found"] == []
    dirty = tmp_path / "dirty"
    dirty.mkdir()
    (dirty / "task.log").write_text(f"token={secret}\n")
    pd.DataFrame({"v": [secret] * 50}).to_parquet(dirty / "staged.parquet", compression="gzip")
    with sqlite3.connect(dirty / "xcom.db") as db:
        db.execute("create table xcom (value text)")
        db.execute("insert into xcom values (?)", (secret,))
    from openpyxl import Workbook

    wb = Workbook()
    wb.active["A1"] = secret
    wb.save(dirty / "book.xlsx")
    found = {Path(f["file"]).name for f in secrets_scan.scan([dirty], {"refresh token": secret})["found"]}
    assert found == {"task.log", "staged.parquet", "xcom.db", "book.xlsx"}


def test_the_totals_add_up_every_scenario_but_the_baseline() -> None:
    trials = [
        {"scenario": "baseline", "runs": [{}], "faults_injected": 0, "kills": 0, "comparison": {"unexplained": 2}},
        {"scenario": "faults 5%", "runs": [{}, {}], "faults_injected": 3, "kills": 0,
         "comparison": {"converged": True, "duplicates": 0}},
        {"scenario": "crash in load", "runs": [{}], "faults_injected": 0, "kills": 1,
         "comparison": {"converged": False, "lost": 2}},
    ]  # fmt: skip
    t = report.totals(trials)
    assert (t["runs"], t["faults_injected"], t["kills"], t["lost"], t["not_converged"]) == (3, 3, 1, 2, 1)
    assert t["unexplained_in_baseline"] == 2


def test_side_by_side_children_get_every_option_but_the_ones_the_parent_sets() -> None:
    from bench.chaos.__main__ import _without

    argv = ["--jobs", "2", "--kills", "5", "--dags", "a", "b", "--rates", "0.2", "--out", "x", "--note", "n"]
    assert _without(argv, ("--jobs", "--dags", "--work-dir", "--out")) == [
        "--kills",
        "5",
        "--rates",
        "0.2",
        "--note",
        "n",
    ]


def test_the_corpus_table_is_read_from_the_corpus_module() -> None:
    from bench.chaos import suites

    cases = suites.corpus_cases()
    assert len(cases) >= 40
    assert {c["family"] for c in cases} == {"workbook", "records", "documents", "replies"}


def test_document_flows_prefixed_ledger_ids_explain_their_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invoices key the ledger ``Invoice:17`` -> ``ARINVOICE:123``; Intacct's own invoices are not the
    one-way flow's business; a QuickBooks invoice neither linked nor held is unexplained."""
    from bench.chaos import books

    db = tmp_path / "state.db"
    with sqlite3.connect(db) as con:
        con.execute("create table ledger_links (flow, source_system, source_id, target_system, target_id)")
        con.execute("insert into ledger_links values ('invoices', 'qbo', 'Invoice:17', 'intacct', 'ARINVOICE:123')")
        con.execute(
            "create table ledger_review_items (flow, record_system, record_id, reason_code, candidates, status)"
        )
        con.execute("insert into ledger_review_items values ('invoices', 'qbo', 'Invoice:18', 'x', '[]', 'open')")
    qbo = [{"Id": "17", "DocNumber": "1017"}, {"Id": "18", "DocNumber": "1018"}, {"Id": "19", "DocNumber": "1019"}]
    intacct = [
        {"RECORDNO": "123", "RECORDID": "1017", "EXTERNALID": "qbo:Invoice:17"},
        {"RECORDNO": "124", "RECORDID": "INV-IA-1"},  # entered in Intacct: not the flow's business
        {"RECORDNO": "125", "RECORDID": "1020", "EXTERNALID": "qbo:Invoice:20"},  # the sync's, not linked
    ]
    monkeypatch.setattr(books, "save_snapshot", lambda url, path: {})
    monkeypatch.setattr(books, "qbo_records", lambda snap, entity: qbo)
    monkeypatch.setattr(books, "intacct_records", lambda snap, obj: intacct)
    flow = BenchFlow("qbo_intacct_invoices", "Invoice", "ARINVOICE", "RECORDID", intacct_to_qbo=False)
    admins = {"qbo": type("A", (), {"url": ""})(), "intacct": type("A", (), {"url": ""})()}
    state = books.read_end_state(flow, admins, db, tmp_path)
    assert state.links == {("1017", "1017")}
    assert state.unexplained == ["QuickBooks Invoice '1019' (Id 19)", "Intacct ARINVOICE 1020"]
