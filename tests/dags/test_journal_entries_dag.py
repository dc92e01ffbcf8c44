"""``qbo_intacct_journal_entries`` in detailed mode, end to end with ``dag.test()`` on the demo books.

The story, one module-scoped run per step, each asserted many ways:

1. ``first``: every mappable entry posts one batch in its entity, with dimensions per line, the
   journal from the workbook, reference ``QBO-JE-<Id>`` and the QuickBooks number in the title; the
   EUR entry carries its currency and rate; the planted unmapped-account, unbalanced-after-mapping
   and A/R entries are held whole, naming the line; Intacct's trial balance moved, per account and
   month, by exactly the mapped QuickBooks entries (``get_trialbalance`` before and after); the
   flow's tie-out finds no difference.
2. ``rerun``: writes nothing to either system.
3. ``changes``: finance maps the grant account, one entry is edited and one deleted in QuickBooks:
   the held entry posts (its review item is resolved), the edit is a reversal plus the new version,
   the delete a reversal; the GL still ties out.
4. ``killed`` / ``after_kill`` (slow): the worker (``airflow dags test``) is SIGKILLed while its
   load posts a new entry's batch (Intacct commits it, the reply and the ledger row are lost); the
   rerun posts nothing twice (the same controlid: Intacct answers from its
   memory) and records the batch. Meanwhile Intacct closed October: an October entry keyed late is
   held with that reason.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from flow_story import FlowStory as Story
from flow_story import RunResult, flow_story
from journal_story import (
    by_reference,
    comparison,
    delete_entry,
    edit_amount,
    flow_batches,
    intacct,
    ledger,
    lines_of,
    mapped_journal_movement,
    month_bounds,
    movement,
    qbo,
    set_workbook_cell,
    signed_lines,
    trial_balance,
)

pytestmark = pytest.mark.dag

FLOW = "journal_entries"
PLANTED = {"unmapped_account_journal": "5", "unbalanced_after_mapping_journal": "6", "control_account_journal": "7"}
EDITED, DELETED, FX = "1", "3", "8"


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_journal_entries", sandboxes, tmp_path_factory.mktemp("journal_entries")) as story:
        yield story


def _months() -> list[str]:
    dates = {str(e["TxnDate"])[:7] for e in qbo().iter_query("JournalEntry")}
    return sorted(dates)


@pytest.fixture(scope="module")
def first(story: Story) -> dict[str, Any]:
    months = _months()
    before = {m: trial_balance("US", *month_bounds(m)) for m in months}
    result = story.run("first")
    after = {m: trial_balance("US", *month_bounds(m)) for m in months}
    return {"run": result, "months": months, "moved": {m: movement(before[m], after[m]) for m in months}}


def test_first_run_posts_one_batch_per_mappable_entry(first: dict[str, Any]) -> None:
    run: RunResult = first["run"]
    assert run.state == "success"
    refs = by_reference(flow_batches("US"))
    assert sorted(refs) == ["QBO-JE-1", "QBO-JE-2", "QBO-JE-3", "QBO-JE-4", f"QBO-JE-{FX}"]
    assert all(len(batches) == 1 for batches in refs.values())
    assert run.summary["created"] == 5
    assert run.write_requests["qbo"] == 0
    assert run.write_requests["intacct"] == 1  # five batches, one multi-function request


def test_batches_carry_journal_number_dimensions_and_direction(first: dict[str, Any]) -> None:
    entries = {e["Id"]: e for e in qbo().iter_query("JournalEntry")}
    for reference, (batch,) in by_reference(flow_batches("US")).items():
        entry = entries[reference.removeprefix("QBO-JE-")]
        assert batch["JOURNAL"] == "GJ"
        assert entry["DocNumber"] in batch["BATCH_TITLE"]
        assert str(batch["BATCH_DATE"]) == entry["TxnDate"][:10]
        lines = lines_of(batch)
        assert len(lines) == len(entry["Line"])
        for line, source in zip(lines, entry["Line"], strict=True):
            posting = source["JournalEntryLineDetail"]["PostingType"]
            assert str(line["TR_TYPE"]) == ("1" if posting == "Debit" else "-1")
            assert Decimal(str(line["TRX_AMOUNT"])) == Decimal(str(source["Amount"])) > 0
            assert line["LOCATION"] in ("US-BOS", "US-AUS")  # Boston / Austin departments route to US
        if reference != f"QBO-JE-{FX}":  # the regular entries' debit lines carry class Admin -> US-GA
            assert all(x.get("DEPARTMENT") == "US-GA" for x in lines if str(x["TR_TYPE"]) == "1")
            assert all(not x.get("DEPARTMENT") for x in lines if str(x["TR_TYPE"]) == "-1")


def test_foreign_currency_entry_carries_currency_and_rate(first: dict[str, Any]) -> None:
    entry = qbo().get("JournalEntry", FX)
    (batch,) = by_reference(flow_batches("US"))[f"QBO-JE-{FX}"]
    for line in lines_of(batch):
        assert line["CURRENCY"] == "EUR"
        assert Decimal(str(line["EXCHANGE_RATE"])) == Decimal(str(entry["ExchangeRate"]))
        base = Decimal(str(line["TRX_AMOUNT"])) * Decimal(str(entry["ExchangeRate"]))
        assert Decimal(str(line["AMOUNT"])) == base.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_planted_entries_are_held_whole_naming_the_line(first: dict[str, Any]) -> None:
    items = {i.record_id: i for i in ledger().review_items(FLOW)}
    assert {k: items[v].reason_code for k, v in PLANTED.items()} == {
        "unmapped_account_journal": "unmapped_account",
        "unbalanced_after_mapping_journal": "unbalanced",
        "control_account_journal": "control_account",
    }
    unmapped = items[PLANTED["unmapped_account_journal"]]
    assert "line 2" in unmapped.detail
    assert "Other Income:Grant Income" in unmapped.detail
    assert "Accounts sheet, row" in unmapped.context["fix"]
    assert "entity UK do not balance" in items[PLANTED["unbalanced_after_mapping_journal"]].detail
    assert "11000" in items[PLANTED["control_account_journal"]].detail
    assert "Clearing Accounts" in items[PLANTED["control_account_journal"]].context["fix"]
    refs = by_reference([*flow_batches("US"), *flow_batches("UK")])
    assert not {f"QBO-JE-{i}" for i in PLANTED.values()} & set(refs)  # nothing posted in part
    assert first["run"].summary["held_for_review"] == 3


def test_intacct_trial_balance_moved_by_the_mapped_quickbooks_entries(first: dict[str, Any]) -> None:
    """Per month and account, Intacct's get_trialbalance after minus before equals the month's
    QuickBooks journal entries (but the held ones) through the workbook's mapping, to the cent."""
    held = set(PLANTED.values())
    assert any(first["moved"].values())  # the entries span several months
    for month in first["months"]:
        assert first["moved"][month] == mapped_journal_movement(month, "US", held), month


def test_trial_balances_tie_per_entity_to_the_cent(first: dict[str, Any]) -> None:
    """Per entity and month posted into, every Intacct account: the QuickBooks TrialBalance report
    through the mapping equals Intacct's get_trialbalance once what this flow does not post is taken
    out, each part named: QuickBooks invoices, bills and payments, Intacct's own documents, held entries."""
    tie = first["run"].summary["tie_out"]
    assert tie["differences"] == []
    rows = comparison(first["run"].summary)
    assert {r["status"] for r in rows} <= {"ties", "explained"}
    assert all(Decimal(r["unexplained"]) == 0 for r in rows)
    assert sorted({(r["entity"], r["period"]) for r in rows}) == sorted(
        tuple(p.split(" ")) for p in tie["periods"]
    )  # fmt: skip
    assert {p.split(" ")[1] for p in tie["periods"]} == set(first["months"])
    for period in {r["period"] for r in rows}:  # the Intacct column is Intacct's own trial balance
        intacct_tb = trial_balance("US", *month_bounds(period))
        mine = {r["account"]: Decimal(r["intacct"]) for r in rows if r["period"] == period and r["entity"] == "US"}
        assert {k: v for k, v in mine.items() if v} == {k: v for k, v in intacct_tb.items() if v}, period
    reasons = " | ".join(r["reason"] for r in rows)
    assert "QuickBooks Invoice postings (not journal entries)" in reasons
    assert "Intacct postings other than this flow's batches" in reasons
    assert "held for review: journal entry JE-PLANT-1 (unmapped_account)" in reasons
    unmapped = [r for r in rows if r["account"] == "(unmapped) Other Income:Grant Income"]
    assert [(r["period"], r["status"]) for r in unmapped] == [("2026-10", "explained")]
    assert "held for review: journal entry JE-PLANT-1 (unmapped_account): 7,401.02" in unmapped[0]["reason"]
    # journal-entry accounts carry QuickBooks' whole balance, not just the entries (like with like)
    expense = next(r for r in rows if r["period"] == "2025-12" and r["account"] == "62000")
    assert Decimal(expense["qbo"]) != mapped_journal_movement("2025-12", "US", set()).get("62000")
    assert len(tie["held_not_in_intacct"]) == 3


@pytest.fixture(scope="module")
def planted(story: Story, first: dict[str, Any]) -> dict[str, Any]:
    """An entry keyed in QuickBooks in a month the flow posted into, not synced: the tie-out of that
    month (called outside a run, as the period-end reconciliation does) must name it; then deleted."""
    from qbo_intacct.flows.engine import load_workbook_mappings
    from qbo_intacct.operators.journal_dag import read_journal_context, tie_out_period

    q, i = qbo(), intacct()
    ctx = read_journal_context(q, i, load_workbook_mappings())
    entry = _new_entry("JE-PLANTED", dt.date(2026, 6, 20), Decimal("12.34"))
    try:
        with_plant, _ = tie_out_period(q, i, ctx, "2026-06", ["US"])
    finally:
        delete_entry(entry)
    without, _ = tie_out_period(q, i, ctx, "2026-06", ["US"])
    return {"with": with_plant, "without": without}


def test_planted_difference_shows_up_named(planted: dict[str, Any]) -> None:
    from qbo_intacct.flows.trial_balance import describe, differences

    found = differences(planted["with"]).to_dict("records")
    assert [(r["entity"], r["account"], r["qbo_accounts"], r["unexplained"]) for r in found] == [
        ("US", "10100", "Checking", Decimal("12.34")),
        ("US", "12000", "Prepaid Expenses", Decimal("-12.34")),
    ]
    line = describe(found[1])
    assert "2026-06 US account 12000 (Prepaid Expenses)" in line
    assert "unexplained difference of -12.34" in line
    assert differences(planted["without"]).empty  # the plant was the whole difference


@pytest.fixture(scope="module")
def rerun(story: Story, first: dict[str, Any]) -> RunResult:
    return story.run("rerun")


def test_rerun_writes_nothing(rerun: RunResult) -> None:
    from qbo_intacct.hooks import usage

    assert rerun.state == "success"
    assert rerun.write_requests == {"qbo": 0, "intacct": 0}
    assert rerun.summary["created"] == 0
    # the summary's cost line counts every task's calls, the scope's CDC and the held entries' re-read
    assert usage.calls(rerun.summary["api_calls"], "qbo") >= 2


@pytest.fixture(scope="module")
def changes(story: Story, rerun: RunResult) -> dict[str, Any]:
    set_workbook_cell(story.workbook, "Accounts", "QuickBooks Account", "Other Income:Grant Income",
                      "Intacct GL Account", "40100")  # fmt: skip
    edit_amount(EDITED, Decimal("100.00"))
    delete_entry(DELETED)
    return {"run": story.run("changes"), "batches": by_reference(flow_batches("US"))}


def _new_entry(number: str, day: dt.date, amount: Decimal = Decimal("250.00")) -> str:
    """A two-line entry keyed in QuickBooks (Boston: the US entity): Prepaid Expenses against Checking."""
    hook = qbo()
    accounts = {a["Name"]: a["Id"] for a in hook.iter_query("Account")}
    boston = next(d["Id"] for d in hook.iter_query("Department") if d["Name"] == "Boston")
    lines = [
        {"Amount": amount, "DetailType": "JournalEntryLineDetail", "Description": number,
         "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": accounts[name]},
                                    "DepartmentRef": {"value": boston}}}
        for posting, name in (("Debit", "Prepaid Expenses"), ("Credit", "Checking"))
    ]  # fmt: skip
    body = {"DocNumber": number, "TxnDate": day.isoformat(), "Line": lines}
    return str(hook.create("JournalEntry", body, request_id=str(uuid.uuid4()))["Id"])


def test_fixed_mapping_posts_the_held_entry_and_resolves_its_item(changes: dict[str, Any]) -> None:
    (batch,) = changes["batches"][f"QBO-JE-{PLANTED['unmapped_account_journal']}"]
    assert "40100" in signed_lines(batch)
    items = {i.record_id: i for i in ledger().review_items(FLOW)}
    assert items[PLANTED["unmapped_account_journal"]].status == "resolved"
    assert items[PLANTED["control_account_journal"]].status == "open"


def test_edit_reverses_and_replaces_the_batch(changes: dict[str, Any]) -> None:
    batches = changes["batches"]
    original, new = batches[f"QBO-JE-{EDITED}"]
    (reversal,) = [b for ref, bs in batches.items() if ref.startswith(f"QBO-JE-{EDITED}-R") for b in bs]
    assert {k: -v for k, v in signed_lines(original).items()} == signed_lines(reversal)
    assert str(reversal["BATCH_DATE"]) == str(original["BATCH_DATE"])
    moved = {k: signed_lines(new)[k] - signed_lines(original)[k] for k in signed_lines(new)}
    assert sorted(moved.values()) == [Decimal("-100.00"), Decimal("100.00")]


def test_delete_reverses_the_batch(changes: dict[str, Any]) -> None:
    batches = changes["batches"]
    (original,) = batches[f"QBO-JE-{DELETED}"]
    (reversal,) = [b for ref, bs in batches.items() if ref.startswith(f"QBO-JE-{DELETED}-R") for b in bs]
    assert {k: -v for k, v in signed_lines(original).items()} == signed_lines(reversal)
    total = defaultdict(Decimal)
    for b in (original, reversal):
        for k, v in signed_lines(b).items():
            total[k] += v
    assert set(total.values()) == {Decimal(0)}


def test_changes_tie_out(changes: dict[str, Any]) -> None:
    run: RunResult = changes["run"]
    assert run.summary["created"] == 4  # the fixed entry, the edit's reversal and new batch, the delete's reversal
    assert run.write_requests["intacct"] == 1
    assert run.summary["tie_out"]["differences"] == []


def _killed_mid_load(story: Story, out: Path) -> dict[str, Any]:
    """Run the DAG as a worker does (``airflow dags test``, a process group of its own) and SIGKILL it
    while its GLBATCH create is in Intacct's hands: the sandbox holds that request (a ``latency``
    fault), the test waits until the fault has fired (the request arrived), kills the worker, then
    waits until the sandbox has served it (the batch committed, the reply lost with the worker)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path as _Path

    import requests
    from conftest import ROOT, airflow_cli_env

    story.intacct.faults({"kind": "latency", "endpoint": "xmlgw", "operation": "create", "count": 1,
                          "latency_ms": 3000})  # fmt: skip
    airflow = str(_Path(sys.executable).parent / "airflow")
    with out.open("wb") as log:
        proc = subprocess.Popen([airflow, "dags", "test", story.dag_id], env=airflow_cli_env(), cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                rules = requests.get(f"{story.intacct.admin}/faults", timeout=10).json()["rules"]
                if rules and rules[0]["fired"]:
                    break
                time.sleep(0.05)  # polling the sandbox for the request's arrival, not timing anything
            fired = proc.poll() is None
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
    while requests.get(f"{story.intacct.admin}/intacct/inflight", timeout=10).json()["in_flight"]:
        time.sleep(0.05)
    story.intacct.clear_faults()
    return {"killed_in_load": fired, "returncode": proc.returncode, "output": out.read_text(errors="replace")}


@pytest.fixture(scope="module")
def kill(story: Story, changes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A new entry; the worker is killed (SIGKILL) while its load posts the entry's batch, before
    anything was recorded (the worst point: Intacct holds the batch, the ledger does not), then the
    DAG runs again."""
    created = _new_entry("JE-KILL", dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3))
    killed = _killed_mid_load(story, tmp_path_factory.mktemp("je_killed") / "dags_test.log")
    posted_by_kill = by_reference(flow_batches("US")).get(f"QBO-JE-{created}", [])
    recorded_by_kill = {link.source_id for link in ledger().links(FLOW)}
    # meanwhile the parent closes October in Intacct, and the subsidiary keys an October entry
    story.intacct.configure(books_closed_through="2026-10-31")
    closed = _new_entry("JE-OCT-LATE", dt.date(2026, 10, 15))
    try:
        after = story.run("after_kill")
    finally:
        closed_through = json.loads((story.books / "manifest.json").read_text())["periods"]["closed_through"]
        story.intacct.configure(books_closed_through=closed_through)
    return {"id": created, "killed": killed, "after": after, "posted_by_kill": posted_by_kill, "closed": closed,
            "recorded_by_kill": recorded_by_kill, "batches": by_reference(flow_batches("US"))}  # fmt: skip


@pytest.mark.slow  # a worker started as a process and killed, and one more run (~60 s): the slow suite
def test_kill_mid_load_and_rerun_duplicates_nothing(kill: dict[str, Any]) -> None:
    killed = kill["killed"]
    assert killed["killed_in_load"], killed["output"][-3000:]  # killed while its create was in flight
    assert killed["returncode"] == -9
    assert len(kill["posted_by_kill"]) == 1  # Intacct committed the batch the killed worker sent
    assert kill["id"] not in kill["recorded_by_kill"]  # and the ledger never heard of it
    counts = Counter(b["REFERENCENO"] for b in flow_batches("US"))
    assert counts[f"QBO-JE-{kill['id']}"] == 1
    # one batch per reference, but the edited entry's original and new version (and its reversal)
    assert {ref: n for ref, n in counts.items() if n != 1} == {f"QBO-JE-{EDITED}": 2}
    state = {link.source_id: link for link in ledger().links(FLOW)}[kill["id"]]
    assert state.target_key  # the rerun recorded the batch
    assert kill["after"].write_requests["intacct"] == 1  # the same controlid: Intacct answered from memory
    assert kill["after"].summary["created"] == 1
    assert kill["after"].summary["tie_out"]["differences"] == []


@pytest.mark.slow
def test_entry_in_a_period_closed_in_intacct_is_held_with_that_reason(kill: dict[str, Any]) -> None:
    items = [i for i in ledger().review_items(FLOW) if i.record_id == kill["closed"]]
    assert [i.reason_code for i in items] == ["closed_period"]
    assert "closed" in items[0].detail
    assert "reopen the period" in items[0].context["fix"]
    assert f"QBO-JE-{kill['closed']}" not in kill["batches"]
    assert kill["after"].summary["failed"] == 1
