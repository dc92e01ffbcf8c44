"""``qbo_intacct_journal_entries`` in summarized mode (the workbook's Journals sheet), with ``dag.test()``.

1. ``first``: one batch per entity and ended month, lines summed by account and dimensions, with
   the same balances as the entries one by one (Intacct's trial balance moved by exactly the mapped
   QuickBooks entries; the tie-out finds no difference); the ledger knows which entries each
   summary holds.
2. ``late_edit``: an entry of a summarized month is edited in QuickBooks: one adjusting batch for
   the difference only (never a re-post of the month), and the GL still ties out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flow_story import FlowStory as Story
from flow_story import RunResult, flow_story
from journal_story import (
    by_reference,
    comparison,
    edit_amount,
    flow_batches,
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
EDITED = "1"
HELD = {"5", "6", "7"}  # the planted unmapped, unbalanced and A/R entries


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_journal_entries", sandboxes, tmp_path_factory.mktemp("je_summary")) as story:
        set_workbook_cell(story.workbook, "Journals", "Journal Symbol", "GJ", "Mode", "Summarized")
        yield story


@pytest.fixture(scope="module")
def first(story: Story) -> dict[str, Any]:
    months = sorted({str(e["TxnDate"])[:7] for e in qbo().iter_query("JournalEntry")})
    before = {m: trial_balance("US", *month_bounds(m)) for m in months}
    result = story.run("first")
    after = {m: trial_balance("US", *month_bounds(m)) for m in months}
    return {"run": result, "months": months, "moved": {m: movement(before[m], after[m]) for m in months}}


def test_one_summary_batch_per_entity_and_month(first: dict[str, Any]) -> None:
    run: RunResult = first["run"]
    assert run.state == "success"
    refs = by_reference(flow_batches("US"))
    assert sorted(refs) == [
        "QBO-JE-SUM-US-2025-12",
        "QBO-JE-SUM-US-2026-05",
        "QBO-JE-SUM-US-2026-06",
        "QBO-JE-SUM-US-2026-10",
    ]
    assert all(len(b) == 1 for b in refs.values())
    (december,) = refs["QBO-JE-SUM-US-2025-12"]
    assert str(december["BATCH_DATE"]) == "2025-12-31"  # the period's last day
    assert run.summary["held_for_review"] == 3  # the planted entries, held whole as in detailed mode


def test_summary_lines_are_summed_by_account_and_dimensions(first: dict[str, Any]) -> None:
    (december,) = by_reference(flow_batches("US"))["QBO-JE-SUM-US-2025-12"]
    keys = [(x["ACCOUNTNO"], x.get("LOCATION"), x.get("DEPARTMENT"), x.get("CLASSID"), x["TR_TYPE"])
            for x in lines_of(december)]  # fmt: skip
    assert len(keys) == len(set(keys))  # each account and dimension set once
    entries = [e for e in qbo().iter_query("JournalEntry") if str(e["TxnDate"]).startswith("2025-12")]
    assert len(entries) >= 2
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        for line in entry["Line"]:
            detail = line["JournalEntryLineDetail"]
            sign = 1 if detail["PostingType"] == "Debit" else -1
            expected[detail["AccountRef"]["value"]] += sign * Decimal(str(line["Amount"]))
    assert sum(abs(v) for v in signed_lines(december).values()) == sum(abs(v) for v in expected.values())


def test_summaries_have_the_same_balances(first: dict[str, Any]) -> None:
    """Intacct's trial balance moved, per month and account, by exactly the month's mapped QuickBooks
    entries (but the held ones), and ties out with QuickBooks' TrialBalance report."""
    tie = first["run"].summary["tie_out"]
    assert tie["differences"] == []
    assert {r["status"] for r in comparison(first["run"].summary)} <= {"ties", "explained"}
    for month in first["months"]:
        assert first["moved"][month] == mapped_journal_movement(month, "US", HELD), month


def test_ledger_knows_which_entries_each_summary_holds(first: dict[str, Any]) -> None:
    links = {link.source_id: link for link in ledger().links(FLOW)}
    december = {i for i, link in links.items() if (link.target_key or "").startswith("je-sum:US:2025-12:0:")}
    entries = {e["Id"] for e in qbo().iter_query("JournalEntry") if str(e["TxnDate"]).startswith("2025-12")}
    assert december == entries


@pytest.fixture(scope="module")
def late_edit(story: Story, first: dict[str, Any]) -> dict[str, Any]:
    before = by_reference(flow_batches("US"))
    edit_amount(EDITED, Decimal("100.00"))
    run = story.run("late_edit")
    return {"run": run, "before": before, "after": by_reference(flow_batches("US"))}


def test_late_edit_posts_one_adjusting_batch_for_the_difference(late_edit: dict[str, Any]) -> None:
    run: RunResult = late_edit["run"]
    new = set(late_edit["after"]) - set(late_edit["before"])
    assert new == {"QBO-JE-SUM-US-2025-12-A1"}
    assert run.summary["created"] == 1
    assert run.write_requests["intacct"] == 1
    (adjustment,) = late_edit["after"]["QBO-JE-SUM-US-2025-12-A1"]
    assert sorted(signed_lines(adjustment).values()) == [Decimal("-100.00"), Decimal("100.00")]
    assert str(adjustment["BATCH_DATE"]) == "2025-12-31"
    assert all(len(late_edit["after"][ref]) == 1 for ref in late_edit["before"])  # nothing re-posted
    assert run.summary["tie_out"]["differences"] == []
