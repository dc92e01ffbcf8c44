"""``qbo_intacct_vendors`` end to end with ``dag.test()`` on the demo books, both sandboxes over HTTP.

The customers story, told for vendors, plus what vendors add: the planted name-only match whose
candidate the same run renames stays held; a bank-detail change is held with masked values,
approved in the review queue, applied and audited, and no full account number reaches a log or a
staged file; a hundred vendors created in QuickBooks cost at most five write requests. The runs
happen in module-scoped fixtures, in order; each test asserts one behaviour of one run.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from flow_story import FlowStory as Story
from flow_story import RunResult, flow_story
from flow_story import intacct_hook as _intacct
from flow_story import ledger as _ledger
from flow_story import qbo_hook as _qbo

pytestmark = pytest.mark.dag

FLOW = "vendors"
NEW_ACCOUNT = "4400119922"


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_vendors", sandboxes, tmp_path_factory.mktemp("vendors")) as story:
        yield story


def _intacct_vendors() -> dict[str, dict[str, Any]]:
    from qbo_intacct.flows.vendors import INTACCT_FIELDS

    rows = _intacct().iter_query("VENDOR", INTACCT_FIELDS, entity_id="", show_private=True)
    return {r["VENDORID"]: r for r in rows}


def _qbo_vendors() -> dict[str, dict[str, Any]]:
    return {v["Id"]: v for v in _qbo().iter_query("Vendor")}


def _qbo_named(name: str) -> dict[str, Any]:
    (vendor,) = [v for v in _qbo_vendors().values() if v["DisplayName"] == name]
    return vendor


def _planted_numbers(story: Story) -> set[str]:
    manifest = json.loads((story.books / "qbo.json").read_text())
    numbers = set(re.findall(r'"BankAccountNumber":\s*"(\d+)"', json.dumps(manifest)))
    assert len(numbers) == 3
    return numbers | {NEW_ACCOUNT}


@pytest.fixture(scope="module")
def first(story: Story) -> RunResult:
    return story.run("first")


@pytest.fixture(scope="module")
def second(story: Story, first: RunResult) -> RunResult:
    return story.run("second")


@pytest.fixture(scope="module")
def after_edits(story: Story, second: RunResult) -> RunResult:
    vendor = _qbo_named("Harborline Freight 1")
    phone = {"FreeFormNumber": "+1 206 555 0199"}
    _qbo().update("Vendor", {"Id": vendor["Id"], "SyncToken": vendor["SyncToken"], "PrimaryPhone": phone},
                  request_id="test-v-phone")  # fmt: skip
    _intacct().update("VENDOR", [{"VENDORID": "V-10001", "DISPLAYCONTACT": {"EMAIL1": "remit@v10001.example"}}],
                      keys=["test-v10001-email"])  # fmt: skip
    return story.run("after_edits")


@pytest.fixture(scope="module")
def echo(story: Story, after_edits: RunResult) -> RunResult:
    return story.run("echo")


@pytest.fixture(scope="module")
def bank_changed(story: Story, echo: RunResult) -> RunResult:
    """Someone changes Bluewater Staffing's bank account in QuickBooks (the fraud pattern)."""
    vendor = _qbo_named("Bluewater Staffing")
    detail = {**vendor["VendorPaymentBankDetail"], "BankAccountNumber": NEW_ACCOUNT}
    _qbo().update("Vendor", {"Id": vendor["Id"], "SyncToken": vendor["SyncToken"], "VendorPaymentBankDetail": detail},
                  request_id="test-v-bank")  # fmt: skip
    return story.run("bank_changed")


@pytest.fixture(scope="module")
def bank_approved(story: Story, bank_changed: RunResult) -> RunResult:
    from qbo_intacct.flows.review_queue import apply_answer

    ledger = _ledger()
    (item,) = [i for i in ledger.review_items(FLOW) if i.reason_code == "bank_details_changed"]
    apply_answer(ledger, {"chosen_options": ["Link"],
                          "params_input": {"review_item": item.id, "target_id": item.candidates[0]}})  # fmt: skip
    return story.run("bank_approved")


@pytest.fixture(scope="module")
def decided(story: Story, bank_approved: RunResult) -> RunResult:
    """Finance answers the held vendors in the review queue: the renamed-candidate one is a new vendor;
    of each Intacct duplicate pair one is created and the other ignored; each ambiguous vendor is linked
    to its first candidate."""
    from qbo_intacct.flows.review_queue import apply_answer
    from qbo_intacct.ledger.repository import ReviewStatus

    ledger = _ledger()
    items = [i for i in ledger.review_items(FLOW, ReviewStatus.OPEN)]
    story.decisions = {}
    pairs_done: set[str] = set()
    for item in items:
        if item.reason_code == "name_only":
            answer = {"chosen_options": ["Create new"], "params_input": {"review_item": item.id}}
        elif item.reason_code == "duplicate_in_target":
            choice = "Ignore" if item.record_id in pairs_done else "Create new"
            pairs_done.update(c.partition(":")[2] for c in item.candidates)
            answer = {"chosen_options": [choice], "params_input": {"review_item": item.id}}
        elif item.reason_code == "several_strong":
            answer = {"chosen_options": ["Link"],
                      "params_input": {"review_item": item.id, "target_id": item.candidates[0]}}  # fmt: skip
        else:
            continue
        apply_answer(ledger, answer)
        story.decisions[(item.record_system, item.record_id)] = answer["chosen_options"][0]
    return story.run("decided")


@pytest.fixture(scope="module")
def hundred(story: Story, decided: RunResult) -> RunResult:
    """A hundred new Intacct vendors: the run creates them in QuickBooks."""
    records = [{"VENDORID": f"V-9{n:03d}", "NAME": f"Bulk Supplier {n:03d}",
                "DISPLAYCONTACT": {"EMAIL1": f"ap@bulk{n:03d}.example"}} for n in range(100)]  # fmt: skip
    _intacct().create("VENDOR", records, keys=[f"test-bulk-{n}" for n in range(100)])
    return story.run("hundred")


@pytest.fixture(scope="module")
def ledger_lost(story: Story, hundred: RunResult) -> RunResult:
    from qbo_intacct.ledger.db import dispose_engines

    story.counts_before_loss = (len(_qbo_vendors()), len(_intacct_vendors()))
    with sqlite3.connect(story.state_db) as db:  # the ledger's tables; the QuickBooks token store stays
        for table in ("ledger_links", "ledger_review_items", "ledger_runs"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    dispose_engines()
    return story.run("ledger_lost")


# -------------------------------------------------------------------------------- first run


def test_first_run_creates_and_links_vendors_both_ways(first: RunResult) -> None:
    assert first.state == "success"
    assert first.summary["created"] > 0
    links = {(link.source_id, link.target_id) for link in _ledger().links(FLOW)}
    harborline = _qbo_named("Harborline Freight 1")["Id"]
    assert (harborline, f"QB-V{harborline}") in links
    (copperleaf,) = [v for v in _qbo_vendors().values() if v["DisplayName"].startswith("Copperleaf Printing")]
    assert any(target == copperleaf.get("AcctNum") or source == copperleaf["Id"] for source, target in links)


def test_bank_details_are_copied_on_create_and_audited_masked(first: RunResult) -> None:
    vendors = _intacct_vendors()
    harborline = _qbo_named("Harborline Freight 1")
    created = vendors[f"QB-V{harborline['Id']}"]
    assert created["ACHENABLED"] in ("true", True)
    assert created["ACHACCOUNTNUMBER"] == harborline["VendorPaymentBankDetail"]["BankAccountNumber"]
    (copperleaf,) = [v for v in _qbo_vendors().values() if v["DisplayName"].startswith("Copperleaf Printing")]
    assert copperleaf["VendorPaymentBankDetail"]["BankBranchIdentifier"] == "021000021"
    audit = _audits()
    assert any(a["qbo_id"] == harborline["Id"] and a["approved_by"] == "new vendor" for a in audit)
    assert all(re.fullmatch(r"\*{4}\d{4}|none", c["after"]) for a in audit for c in a["changes"]
               if c["field"] == "bank_account")  # fmt: skip


def test_name_only_match_is_held_and_its_candidate_renamed_in_the_same_run(first: RunResult) -> None:
    held = _qbo_named("Quillfeather Studios")
    items = [i for i in _ledger().review_items(FLOW) if i.record_id == held["Id"]]
    assert [i.reason_code for i in items] == ["name_only"]
    (candidate,) = items[0].candidates
    assert _intacct_vendors()[candidate]["NAME"] == "Quillfeather Studios Group"


def test_planted_duplicates_and_ambiguous_vendors_are_held_with_candidates(first: RunResult) -> None:
    reasons = {i.reason_code for i in _ledger().review_items(FLOW)}
    assert {"duplicate_in_target", "several_strong"} <= reasons
    assert first.summary["held_for_review"] >= 4


def test_a_vendor_named_like_a_customer_gets_a_unique_quickbooks_name(first: RunResult) -> None:
    customers = {c["DisplayName"].casefold() for c in _qbo().iter_query("Customer")}
    vendors = [v["DisplayName"] for v in _qbo_vendors().values()]
    assert not {v.casefold() for v in vendors} & customers


# -------------------------------------------------------------------------------- reruns


def test_immediate_second_run_writes_nothing(second: RunResult) -> None:
    assert second.state == "success"
    assert second.writes == {"qbo": 0, "intacct": 0}


def test_held_vendor_stays_held_though_no_candidate_is_left(second: RunResult) -> None:
    from qbo_intacct.ledger.repository import ReviewStatus

    held = _qbo_named("Quillfeather Studios")
    assert f"QB-V{held['Id']}" not in _intacct_vendors()
    (item,) = [i for i in _ledger().review_items(FLOW) if i.record_id == held["Id"]]
    assert item.status is ReviewStatus.OPEN
    assert second.summary["created"] == 0


def test_edit_on_each_side_arrives_on_the_other_and_does_not_echo(after_edits: RunResult, echo: RunResult) -> None:
    harborline = _qbo_named("Harborline Freight 1")
    assert _intacct_vendors()[f"QB-V{harborline['Id']}"]["DISPLAYCONTACT.PHONE1"] == "+1 206 555 0199"
    emails = [v.get("PrimaryEmailAddr", {}).get("Address") for v in _qbo_vendors().values()]
    assert "remit@v10001.example" in emails
    assert after_edits.writes == {"qbo": 1, "intacct": 1}
    assert echo.writes == {"qbo": 0, "intacct": 0}


# -------------------------------------------------------------------------------- bank details


def _audits() -> list[dict[str, Any]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from qbo_intacct.ledger.models import Run

    with Session(_ledger().engine) as session:
        details = session.scalars(select(Run.detail).where(Run.flow == FLOW)).all()
    return [change for d in details for change in json.loads(d or "{}").get("bank_changes", [])]


def _bluewater_intacct() -> dict[str, Any]:
    (vendor,) = [v for v in _intacct_vendors().values() if v["NAME"] == "Bluewater Staffing"]
    return vendor


def test_bank_change_is_held_with_masked_values_and_not_copied(bank_changed: RunResult) -> None:
    assert bank_changed.state == "success"
    assert _bluewater_intacct()["ACHACCOUNTNUMBER"] != NEW_ACCOUNT
    (item,) = [i for i in _ledger().review_items(FLOW) if i.reason_code == "bank_details_changed"]
    assert f"****{NEW_ACCOUNT[-4:]}" in item.detail
    assert NEW_ACCOUNT not in item.detail
    assert bank_changed.writes["intacct"] == 0


def test_approved_bank_change_is_applied_and_audited(bank_approved: RunResult) -> None:
    assert bank_approved.state == "success"
    assert _bluewater_intacct()["ACHACCOUNTNUMBER"] == NEW_ACCOUNT
    (audit,) = [a for a in _audits() if a["approved_by"] not in ("new vendor",)]
    assert audit["vendor"] == "Bluewater Staffing"
    assert audit["run_id"] == bank_approved.summary["run_id"]
    assert {"field": "bank_account", "before": audit["changes"][0]["before"], "after": f"****{NEW_ACCOUNT[-4:]}"} in (
        audit["changes"]
    )


def test_no_full_account_number_in_logs_staged_files_review_items_or_summaries(
    story: Story, bank_approved: RunResult
) -> None:
    numbers = _planted_numbers(story)
    for path in story.staging.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for number in numbers:
                assert number.encode() not in content, f"a full account number is in {path.name}"
    text = "\n".join(story.logs.lines)
    assert text, "no log lines were collected"
    for number in numbers:
        assert number not in text
    for item in _ledger().review_items(FLOW):
        assert not any(number in item.detail for number in numbers)


# -------------------------------------------------------------------------------- decisions


def test_review_queue_decisions_are_applied(story: Story, decided: RunResult) -> None:
    from qbo_intacct.ledger.repository import ReviewStatus

    assert decided.state == "success"
    held = _qbo_named("Quillfeather Studios")
    assert f"QB-V{held['Id']}" in _intacct_vendors()
    decisions = story.decisions
    created = [rid for (system, rid), choice in decisions.items() if system == "intacct" and choice == "Create new"]
    ignored = [rid for (system, rid), choice in decisions.items() if system == "intacct" and choice == "Ignore"]
    assert created
    assert ignored
    names = {v["DisplayName"] for v in _qbo_vendors().values()}
    intacct = _intacct_vendors()
    for rid in created:
        assert any(n == intacct[rid]["NAME"] or n.endswith(f"({rid})") for n in names)
    links = {(link.source_id, link.target_id) for link in _ledger().links(FLOW)}
    linked = [rid for (system, rid), choice in decisions.items() if system == "qbo" and choice == "Link"]
    assert linked
    assert all(any(source == rid for source, _ in links) for rid in linked)
    statuses = {i.status for i in _ledger().review_items(FLOW) if (i.record_system, i.record_id) in decisions}
    assert ReviewStatus.OPEN not in statuses


# -------------------------------------------------------------------------------- batches and ledger loss


def test_hundred_vendors_to_quickbooks_cost_at_most_five_write_requests(hundred: RunResult) -> None:
    assert hundred.state == "success"
    assert hundred.writes["qbo"] >= 100
    assert hundred.write_requests["qbo"] <= 5


def test_rerun_without_ledger_creates_no_duplicate(story: Story, ledger_lost: RunResult) -> None:
    assert ledger_lost.state == "success"
    assert (len(_qbo_vendors()), len(_intacct_vendors())) == story.counts_before_loss
    assert ledger_lost.summary["created"] == 0
