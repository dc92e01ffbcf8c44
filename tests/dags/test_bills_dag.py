"""``qbo_intacct_bills`` end to end with ``dag.test()`` on the demo books, both sandboxes over HTTP.

One module-scoped story: vendors -> bills (first) -> bills again (second: writes nothing) -> in
Intacct a submitted bill approved, in QuickBooks an open synced bill edited and another deleted
(changes). Each test asserts one behaviour of one run; the runs happen in the fixtures, in order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flow_story import FlowStory as Story
from flow_story import RunResult, flow_story
from flow_story import intacct_hook as _intacct
from flow_story import ledger as _ledger
from flow_story import qbo_hook as _qbo

pytestmark = [pytest.mark.dag, pytest.mark.slow]  # ~2.5 min alone: over make test's budget

FLOW = "bills"
FIELDS = ["RECORDNO", "RECORDID", "DOCNUMBER", "VENDORID", "STATE", "CURRENCY", "MEGAENTITYID",
          "TRX_TOTALENTERED", "TRX_TOTALPAID", "TRX_TOTALDUE", "EXCHANGE_RATE", "BASECURR", "WHENCREATED"]  # fmt: skip


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_bills", sandboxes, tmp_path_factory.mktemp("bills")) as story:
        story.vendors = Story("qbo_intacct_vendors", story.home, sandboxes)
        yield story


def _intacct_bills() -> list[dict[str, Any]]:
    return list(_intacct().iter_query("APBILL", FIELDS, entity_id="", show_private=True))


def _manifest(story: Story) -> dict[str, Any]:
    return json.loads((story.books / "manifest.json").read_text())


@pytest.fixture(scope="module")
def vendors(story: Story) -> RunResult:
    return story.vendors.run("vendors")


@pytest.fixture(scope="module")
def first(story: Story, vendors: RunResult) -> RunResult:
    return story.run("first")


@pytest.fixture(scope="module")
def first_state(first: RunResult) -> dict[str, Any]:
    """Both systems and the ledger after the first run (read once, asserted many ways)."""
    ledger = _ledger()
    return {
        "APBILL": _intacct_bills(),
        "Bill": list(_qbo().iter_query("Bill")),
        "items": ledger.review_items(FLOW),
        "links": ledger.links(FLOW),
        "vendor_links": {link.source_id: link.target_id for link in ledger.links("vendors")},
    }


@pytest.fixture(scope="module")
def second(story: Story, first_state: dict[str, Any]) -> RunResult:
    return story.run("second")


def test_first_run_succeeds(vendors: RunResult, first: RunResult) -> None:
    assert vendors.state == "success"
    assert first.state == "success", first.summary


ROUTES = {"1": "US", "2": "US", "3": "UK", "4": "CA"}  # the demo books' QuickBooks departments -> entity


def _held(first_state: dict[str, Any]) -> set[str]:
    return {i.record_id for i in first_state["items"] if i.status.value == "open"}


def _pending(story: Story) -> set[str]:
    from qbo_intacct.flows.bill_steps import last_detail

    return set(last_detail(_ledger().engine, FLOW).get("pending") or {})


def _sum(rows: list[tuple[tuple[str, ...], Decimal]]) -> dict[tuple[str, ...], tuple[int, Decimal]]:
    out: dict[tuple[str, ...], list[Any]] = defaultdict(lambda: [0, Decimal("0.00")])
    for key, amount in rows:
        out[key][0] += 1
        out[key][1] += amount
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_quickbooks_bills_land_in_intacct_per_entity_and_currency(story: Story, first_state: dict) -> None:
    """Manifest totals per entity and currency, less the bills that wait for their vendor or are held."""
    skip = _pending(story) | _held(first_state)
    expected: dict[tuple[str, ...], tuple[int, Decimal]] = {}
    for entity, by_currency in _manifest(story)["totals"]["qbo"]["Bill"]["by_entity"].items():
        for currency, figures in by_currency.items():
            expected[(entity, currency)] = (int(figures["count"]), Decimal(figures["total"]))
    for bill in first_state["Bill"]:
        if f"Bill:{bill['Id']}" in skip:
            key = (ROUTES[bill["DepartmentRef"]["value"]], bill["CurrencyRef"]["value"])
            count, total = expected[key]
            expected[key] = (count - 1, total - Decimal(str(bill["TotalAmt"])))
    synced = [r for r in first_state["APBILL"] if str(r.get("DOCNUMBER") or "").startswith("QBO Bill ")]
    got = _sum([((r["MEGAENTITYID"], r["CURRENCY"]), Decimal(str(r["TRX_TOTALENTERED"]))) for r in synced])
    assert got == {k: v for k, v in expected.items() if v[0]}
    assert sum(v[0] for v in got.values()) > 80


def test_approved_intacct_bills_land_in_quickbooks_per_currency(story: Story, first_state: dict) -> None:
    """Only approved (or paid) Intacct bills reach QuickBooks: Draft and Submitted wait."""
    skip = _pending(story) | _held(first_state)
    expected = {
        (currency,): (int(f["count"]), Decimal(f["total"]))
        for currency, f in _manifest(story)["totals"]["intacct"]["APBILL"]["by_state"]["Approved"].items()
    }
    own = [r for r in first_state["APBILL"] if not str(r.get("DOCNUMBER") or "").startswith("QBO Bill ")]
    for r in own:
        if f"APBILL:{r['RECORDNO']}" in skip and r["STATE"] not in ("Draft", "Submitted"):
            count, total = expected[(r["CURRENCY"],)]
            expected[(r["CURRENCY"],)] = (count - 1, total - Decimal(str(r["TRX_TOTALENTERED"])))
    synced = [q for q in first_state["Bill"] if "[Intacct bill " in str(q.get("PrivateNote") or "")]
    got = _sum([((q["CurrencyRef"]["value"],), Decimal(str(q["TotalAmt"]))) for q in synced])
    assert got == {k: v for k, v in expected.items() if v[0]}
    waiting = {r["RECORDNO"] for r in own if r["STATE"] in ("Draft", "Submitted")}
    assert waiting
    assert not {q["PrivateNote"].rsplit("[Intacct bill ", 1)[1].rstrip("]") for q in synced} & waiting


def test_waiting_for_approval_is_counted(first: RunResult, first_state: dict) -> None:
    own = [r for r in first_state["APBILL"] if not str(r.get("DOCNUMBER") or "").startswith("QBO Bill ")]
    waiting = [r for r in own if r["STATE"] in ("Draft", "Submitted")]  # whether their vendor is linked or not
    assert first.summary["waiting_for_approval"] == len(waiting) > 0


def test_departments_of_split_bills_become_the_class_of_each_line(first_state: dict) -> None:
    """The default (Class per line): an Intacct bill allocated over departments is one QuickBooks bill,
    each line's Intacct department kept as the line's class, the header department the entity's."""
    split = [q for q in first_state["Bill"] if "[Intacct bill " in str(q.get("PrivateNote") or "")
             and len({(ln["AccountBasedExpenseLineDetail"].get("ClassRef") or {}).get("name") for ln in q["Line"]}) > 1
             and any(str(ln.get("Description") or "").startswith("Allocated") for ln in q["Line"])]  # fmt: skip
    assert split
    bill = split[0]
    classes = [ln["AccountBasedExpenseLineDetail"]["ClassRef"]["name"] for ln in bill["Line"]]
    assert len(set(classes)) == len(classes) > 1
    assert bill["DepartmentRef"]["value"] in ROUTES


def test_closed_period_is_held_with_the_reason(first_state: dict) -> None:
    closed = [i for i in first_state["items"] if i.reason_code == "closed_period"]
    assert closed
    assert all("closed" in i.detail for i in closed)


def test_approval_state_of_each_link_is_in_the_ledger_and_the_summary(first: RunResult, first_state: dict) -> None:
    states = defaultdict(int)
    for link in first_state["links"]:
        states[link.target_hashes["state"]] += 1
    assert states["Submitted"] > 0  # UK bills go through approval (Bills sheet)
    assert states["Posted"] > 0
    assert first.summary["approval_states"] == dict(sorted(states.items()))
    by_no = {r["RECORDNO"]: r for r in first_state["APBILL"]}
    for link in first_state["links"]:
        assert by_no[link.target_id.split(":")[1]]["STATE"] == link.target_hashes["state"]


def test_second_run_writes_nothing(second: RunResult) -> None:
    assert second.state == "success"
    assert second.writes == {"qbo": 0, "intacct": 0}
    assert second.summary["created"] == second.summary["updated"] == 0


# ------------------------------------------------------------------------------------ later runs


def _own_submitted(first_state: dict[str, Any]) -> list[dict[str, Any]]:
    linked = set(first_state["vendor_links"].values())
    return [
        r
        for r in first_state["APBILL"]
        if r["STATE"] == "Submitted"
        and not r.get("DOCNUMBER")
        and r["VENDORID"] in linked
        and str(r["WHENCREATED"]) > "2025-10-31"  # the demo books are closed through October
    ]


def _approve(record: dict[str, Any]) -> None:
    """Intacct's approval (the sandbox takes the state on update: the XML API has no approve function)."""
    (result,) = _intacct().update(
        "APBILL", [{"RECORDNO": record["RECORDNO"], "STATE": "Approved"}], keys=[record["RECORDNO"]],
        entity_id=record["MEGAENTITYID"],
    )  # fmt: skip
    assert result.ok, result


@pytest.fixture(scope="module")
def changes(story: Story, second: RunResult, first_state: dict[str, Any]) -> dict[str, Any]:
    """In Intacct a submitted bill approved; in QuickBooks an open synced bill's line edited, another deleted."""
    qbo = _qbo()
    approved = _own_submitted(first_state)[0]
    _approve(approved)
    posted = {
        r["DOCNUMBER"].removeprefix("QBO Bill "): r
        for r in _intacct_bills()
        if str(r.get("DOCNUMBER") or "").startswith("QBO Bill ") and r["STATE"] == "Posted"
    }
    open_bills = [q for q in qbo.iter_query("Bill") if q["Id"] in posted and q["Balance"] == q["TotalAmt"]]
    edited, deleted = open_bills[0], open_bills[1]
    lines = [dict(line) for line in edited["Line"]]
    lines[0]["Amount"] = Decimal(str(lines[0]["Amount"])) + Decimal("10.00")
    updated = qbo.update("Bill", {"Id": edited["Id"], "SyncToken": edited["SyncToken"], "Line": lines},
                         request_id="test-bill-edit", sparse=True)  # fmt: skip
    qbo.delete("Bill", deleted["Id"], deleted["SyncToken"], request_id="test-bill-delete")
    return {"run": story.run("changes"), "approved": approved, "edited": updated, "deleted": deleted,
            "deleted_intacct": posted[deleted["Id"]]}  # fmt: skip


def test_approved_intacct_bill_goes_to_quickbooks(changes: dict[str, Any]) -> None:
    assert changes["run"].state == "success"
    number = changes["approved"]["RECORDNO"]
    found = [
        q for q in _qbo().iter_query("Bill") if str(q.get("PrivateNote") or "").endswith(f"[Intacct bill {number}]")
    ]
    assert len(found) == 1
    assert Decimal(str(found[0]["TotalAmt"])) == Decimal(str(changes["approved"]["TRX_TOTALENTERED"]))
    (link,) = [link for link in _ledger().links(FLOW) if link.target_id == f"APBILL:{number}"]
    assert link.target_hashes["state"] == "Approved"


def test_edit_in_quickbooks_updates_the_unpaid_intacct_bill(changes: dict[str, Any]) -> None:
    edited = changes["edited"]
    (row,) = [r for r in _intacct_bills() if r.get("DOCNUMBER") == f"QBO Bill {edited['Id']}"]
    assert Decimal(str(row["TRX_TOTALENTERED"])) == Decimal(str(edited["TotalAmt"]))
    assert changes["run"].summary["updated"] >= 2  # the edit and the reversal


def test_delete_in_quickbooks_reverses_the_intacct_bill(changes: dict[str, Any]) -> None:
    number = changes["deleted_intacct"]["RECORDNO"]
    rows = {r["RECORDNO"]: r for r in _intacct_bills()}
    assert rows[number]["STATE"] == "Reversed"  # kept, reversed: never deleted
    assert changes["run"].summary["reasons"].get("deleted_in_quickbooks") == 1


@pytest.fixture(scope="module")
def killed(story: Story, changes: dict[str, Any], first_state: dict[str, Any]) -> dict[str, Any]:
    """A new QuickBooks bill and another Intacct bill approved; the run dies after both loads (the record
    step never runs), then the next run."""
    vendor_qbo_id = next(iter(first_state["vendor_links"]))
    new = _qbo().create(
        "Bill",
        {"VendorRef": {"value": vendor_qbo_id}, "DocNumber": "KILL-1", "TxnDate": "2025-11-20",
         "DepartmentRef": {"value": "1"},
         "Line": [{"Amount": Decimal("123.45"), "DetailType": "AccountBasedExpenseLineDetail",
                   "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "39"}}}]},
        request_id="test-bill-kill",
    )  # fmt: skip
    approved = _own_submitted(first_state)[1]
    _approve(approved)
    dead = story.run("killed", mark_success_pattern="^(record|report)$")
    return {"new": new, "approved": approved, "dead": dead, "run": story.run("after_kill")}


def test_kill_after_load_and_rerun_duplicate_nothing(killed: dict[str, Any]) -> None:
    assert killed["dead"].writes == {"qbo": 1, "intacct": 1}
    run = killed["run"]
    assert run.state == "success"
    assert run.writes == {"qbo": 0, "intacct": 0}
    ours = [r for r in _intacct_bills() if r.get("DOCNUMBER") == f"QBO Bill {killed['new']['Id']}"]
    assert len(ours) == 1
    number = killed["approved"]["RECORDNO"]
    theirs = [
        q for q in _qbo().iter_query("Bill") if str(q.get("PrivateNote") or "").endswith(f"[Intacct bill {number}]")
    ]
    assert len(theirs) == 1
    links = _ledger().links(FLOW)
    assert f"Bill:{killed['new']['Id']}" in {link.source_id for link in links}
    assert f"APBILL:{number}" in {link.target_id for link in links}


def test_every_bill_is_linked_once(killed: dict[str, Any]) -> None:
    links = _ledger().links(FLOW)
    assert len({link.source_id for link in links}) == len(links)
    assert len({link.target_id for link in links}) == len(links)
    # a reversed bill stays linked to its original, never to the Reversal record Intacct adds
    assert "Reversal" not in {(link.target_hashes or {}).get("state") for link in links}
    assert "Reversed" in {(link.target_hashes or {}).get("state") for link in links}
