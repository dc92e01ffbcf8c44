"""``qbo_intacct_invoices`` end to end with ``dag.test()`` on the demo books, both sandboxes over HTTP.

One module-scoped story: customers -> invoices (first) -> invoices again (second: writes nothing) ->
an edit, a void and a clash in QuickBooks (changes) -> finance resolves a held customer, customers
run again, invoices follow (resolved) -> a load killed half-way, then a rerun (killed / rerun).
Each test asserts one behaviour of one run; the runs happen in the fixtures, in that order.
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

pytestmark = pytest.mark.dag

FLOW = "invoices"
HELD_CUSTOMER = "31"  # a planted duplicate the customers flow holds for review
DOC_FIELDS = [
    "RECORDNO",
    "RECORDID",
    "EXTERNALID",
    "CUSTOMERID",
    "STATE",
    "CURRENCY",
    "MEGAENTITYID",
    "TRX_TOTALENTERED",
    "TRX_TOTALPAID",
    "TRX_TOTALDUE",
    "EXCHANGE_RATE",
    "BASECURR",
]


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_invoices", sandboxes, tmp_path_factory.mktemp("invoices")) as story:
        story.customers = Story("qbo_intacct_customers", story.home, sandboxes)
        yield story


def _synced(object_name: str) -> list[dict[str, Any]]:
    """The Intacct documents the sync wrote (externalid qbo:...), every entity."""
    rows = _intacct().iter_query(object_name, DOC_FIELDS, entity_id="", show_private=True)
    return [r for r in rows if str(r.get("EXTERNALID") or "").startswith("qbo:")]


def _manifest(story: Story) -> dict[str, Any]:
    return json.loads((story.books / "manifest.json").read_text())


def _planted(story: Story) -> dict[str, dict[str, Any]]:
    return {p["tag"]: p for p in _manifest(story)["planted"]}


def _qbo_docs(entity: str) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in _qbo().iter_query(entity)}


@pytest.fixture(scope="module")
def customers(story: Story) -> RunResult:
    return story.customers.run("customers")


@pytest.fixture(scope="module")
def first(story: Story, customers: RunResult) -> RunResult:
    return story.run("first")


@pytest.fixture(scope="module")
def first_state(first: RunResult) -> dict[str, Any]:
    """What Intacct and the ledger hold after the first run (read once, asserted many ways)."""
    return {
        "ARINVOICE": _synced("ARINVOICE"),
        "ARADJUSTMENT": _synced("ARADJUSTMENT"),
        "items": _ledger().review_items(FLOW),
    }


@pytest.fixture(scope="module")
def second(story: Story, first_state: dict[str, Any]) -> RunResult:
    return story.run("second")


def _invoice_by_number(number: str) -> dict[str, Any]:
    (invoice,) = list(_qbo().iter_query("Invoice", f"DocNumber = '{number}'"))
    return invoice


@pytest.fixture(scope="module")
def changes(story: Story, second: RunResult) -> dict[str, Any]:
    """In QuickBooks: one open invoice's line edited, one voided, one new invoice whose number Intacct
    already uses for one of its own invoices."""
    qbo = _qbo()
    synced = {r["EXTERNALID"]: r for r in _synced("ARINVOICE")}
    open_ids = [
        r
        for r in _qbo_docs("Invoice").values()
        if f"qbo:Invoice:{r['Id']}" in synced and r["Balance"] == r["TotalAmt"] and not r["LinkedTxn"]
    ]
    edited, voided = open_ids[0], open_ids[1]
    lines = [dict(line) for line in edited["Line"] if line["DetailType"] != "SubTotalLineDetail"]
    first_item = next(line for line in lines if line["DetailType"] == "SalesItemLineDetail")
    first_item["SalesItemLineDetail"] = {
        **first_item["SalesItemLineDetail"],
        "Qty": 1,
        "UnitPrice": first_item["Amount"] + Decimal("10.00"),
    }
    first_item["Amount"] = first_item["Amount"] + Decimal("10.00")
    updated = qbo.update(
        "Invoice",
        {"Id": edited["Id"], "SyncToken": edited["SyncToken"], "Line": lines},
        request_id="test-inv-edit",
        sparse=True,
    )
    qbo.void("Invoice", voided["Id"], voided["SyncToken"], request_id="test-inv-void")
    intacct_own = next(
        r
        for r in _intacct().iter_query("ARINVOICE", DOC_FIELDS, entity_id="", show_private=True)
        if not r.get("EXTERNALID")
    )
    customer = next(iter(_ledger().links("customers")))
    clash = qbo.create(
        "Invoice",
        {
            "DocNumber": intacct_own["RECORDID"],
            "CustomerRef": {"value": customer.source_id},
            "TxnDate": "2026-10-20",
            "DepartmentRef": {"value": "1"},
            "Line": [
                {
                    "Amount": Decimal("100.00"),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": 1, "UnitPrice": Decimal("100.00")},
                }
            ],
        },
        request_id="test-inv-clash",
    )
    kit = [{"Amount": Decimal(a), "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, "Qty": 1, "UnitPrice": Decimal(a)}}
           for item, a in (("3", "300.00"), ("2", "450.00"))]  # fmt: skip
    bundle = qbo.create("Invoice", {"DocNumber": "KIT-1", "CustomerRef": {"value": customer.source_id},
                                    "TxnDate": "2026-10-21", "DepartmentRef": {"value": "1"},
                                    "Line": [{"DetailType": "GroupLineDetail",
                                              "GroupLineDetail": {"GroupItemRef": {"name": "Starter kit"},
                                                                  "Line": kit}}]},
                        request_id="test-inv-bundle")  # fmt: skip
    run = story.run("changes")
    return {"run": run, "edited": updated, "voided": voided, "clash": clash, "bundle": bundle}


@pytest.fixture(scope="module")
def resolved(story: Story, changes: dict[str, Any]) -> RunResult:
    """Finance creates the held customer (review queue: Create new); customers run, then invoices."""
    from qbo_intacct.flows.review_queue import apply_answer

    ledger = _ledger()
    (item,) = [i for i in ledger.review_items("customers") if i.record_id == HELD_CUSTOMER and i.status.value == "open"]
    apply_answer(ledger, {"chosen_options": ["Create new"], "params_input": {"review_item": item.id}})
    story.customers.run("customers_again")
    return story.run("resolved")


# ------------------------------------------------------------------------------------ first run


def test_first_run_succeeds(customers: RunResult, first: RunResult) -> None:
    assert customers.state == "success"
    assert first.state == "success"


def _totals(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    out: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, Decimal("0.00")])
    for r in rows:
        key = (str(r["MEGAENTITYID"]), str(r["CURRENCY"]))
        out[key][0] += 1
        out[key][1] += abs(Decimal(str(r["TRX_TOTALENTERED"])))
    return {k: (v[0], v[1]) for k, v in out.items()}


def _expected(story: Story, entity_name: str, docs: dict[str, dict[str, Any]], skip: set[str]) -> dict:
    """Manifest totals per entity and currency, less the documents that must not (yet) land."""
    totals = _manifest(story)["totals"]["qbo"][entity_name]["by_entity"]
    out: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for entity, by_currency in totals.items():
        for currency, figures in by_currency.items():
            out[(entity, currency)] = (int(figures["count"]), Decimal(figures["total"]))
    routes = {"1": "US", "2": "US", "3": "UK", "4": "CA"}
    for qbo_id in skip:
        doc = docs[qbo_id]
        key = (routes[doc["DepartmentRef"]["value"]], doc["CurrencyRef"]["value"])
        count, total = out[key]
        out[key] = (count - 1, total - Decimal(str(doc["TotalAmt"])))
    return {k: v for k, v in out.items() if v[0]}


def _waiting(ledger: Any, docs: dict[str, dict[str, Any]]) -> set[str]:
    linked = {link.source_id for link in ledger.links("customers")}
    return {i for i, d in docs.items() if d["CustomerRef"]["value"] not in linked}


def test_invoice_totals_per_entity_and_currency_tie_to_the_manifest(story: Story, first_state: dict) -> None:
    planted = _planted(story)
    docs = _qbo_docs("Invoice")
    held = {
        planted[t]["id"]
        for t in (
            "unmapped_account_invoice",
            "unused_currency_document",
            "zero_amount_invoice",
            "closed_period_invoice",
        )
    }
    expected = _expected(story, "Invoice", docs, held | _waiting(_ledger(), docs))
    assert _totals(first_state["ARINVOICE"]) == expected


def test_credit_memo_totals_per_entity_and_currency_tie_to_the_manifest(story: Story, first_state: dict) -> None:
    docs = _qbo_docs("CreditMemo")
    expected = _expected(story, "CreditMemo", docs, _waiting(_ledger(), docs))
    assert _totals(first_state["ARADJUSTMENT"]) == expected
    assert all(Decimal(str(r["TRX_TOTALENTERED"])) < 0 for r in first_state["ARADJUSTMENT"])  # credits


def _item(items: list[Any], qbo_id: str, kind: str = "Invoice") -> Any:
    found = [i for i in items if i.record_id == f"{kind}:{qbo_id}"]
    assert found, f"no review item for {kind} {qbo_id}"
    return found[0]


def test_unmapped_account_is_held_naming_line_and_account(story: Story, first_state: dict) -> None:
    item = _item(first_state["items"], _planted(story)["unmapped_account_invoice"]["id"])
    assert item.reason_code == "unmapped_account"
    assert "line 1" in item.detail
    assert "Other Income:Grant Income" in item.detail
    assert "Accounts sheet" in item.detail


def test_closed_period_invoice_is_held_with_that_reason(story: Story, first_state: dict) -> None:
    item = _item(first_state["items"], _planted(story)["closed_period_invoice"]["id"])
    assert item.reason_code == "closed_period"
    assert "closed" in item.detail
    assert item.status.value == "open"  # waits for finance, not settled by the attempt


def test_chf_invoice_is_held_and_zero_invoice_skipped(story: Story, first: RunResult, first_state: dict) -> None:
    planted = _planted(story)
    assert _item(first_state["items"], planted["unused_currency_document"]["id"]).reason_code == "currency_not_enabled"
    assert first.summary["reasons"]["zero_amount"] == 1
    numbers = {r["RECORDID"] for r in first_state["ARINVOICE"]}
    assert planted["zero_amount_invoice"]["doc_number"] not in numbers
    assert planted["control_char_memo"]["doc_number"] in numbers  # stripped, then synced


def test_foreign_currency_keeps_the_documents_own_rate(first_state: dict) -> None:
    docs = _qbo_docs("Invoice")
    home = {"US": "USD", "UK": "GBP", "CA": "CAD"}
    checked = 0
    for r in first_state["ARINVOICE"]:
        doc = docs[r["EXTERNALID"].split(":")[-1]]
        if r["CURRENCY"] != "USD" and home[r["MEGAENTITYID"]] == "USD":
            assert Decimal(str(r["EXCHANGE_RATE"])) == Decimal(str(doc["ExchangeRate"]))
            checked += 1
        elif r["CURRENCY"] != home[r["MEGAENTITYID"]]:
            assert Decimal(str(r["EXCHANGE_RATE"])) != 1
            checked += 1
    assert checked >= 5


def test_invoices_of_unlinked_customers_wait_counted(first: RunResult) -> None:
    assert first.summary["pending"] > 0
    assert first.summary["reasons"]["pending_customer"] == first.summary["pending"]


def test_intacct_writes_are_many_per_request_one_transaction_per_document(story: Story, first: RunResult) -> None:
    written = len(story.runs["first"].log["intacct"])
    created = first.summary["created"]
    assert created > 200
    assert written <= created // 50 + 6
    assert first.writes["intacct"] == created


def test_status_differences_are_reported(first: RunResult) -> None:
    # QuickBooks has payments applied that the payments flow has not carried yet: they show as differences.
    assert first.summary["status_differs"] > 50
    assert any("paid in QuickBooks, open in Intacct" in k for k in first.summary["status_differences"])


# ------------------------------------------------------------------------------------ later runs


def test_second_run_writes_nothing(second: RunResult) -> None:
    assert second.state == "success"
    assert second.writes == {"qbo": 0, "intacct": 0}
    assert second.write_requests == {"qbo": 0, "intacct": 0}


def test_edit_updates_the_intacct_invoice(changes: dict[str, Any]) -> None:
    run, edited = changes["run"], changes["edited"]
    assert run.state == "success"
    (row,) = [r for r in _synced("ARINVOICE") if r["EXTERNALID"] == f"qbo:Invoice:{edited['Id']}"]
    assert Decimal(str(row["TRX_TOTALENTERED"])) == Decimal(str(edited["TotalAmt"]))
    assert run.summary["updated"] >= 2  # the edit and the reversal


def test_void_reverses_the_intacct_invoice(changes: dict[str, Any]) -> None:
    voided = changes["voided"]
    rows = [r for r in _synced("ARINVOICE") if r["EXTERNALID"] == f"qbo:Invoice:{voided['Id']}"]
    assert sorted(r["STATE"] for r in rows) == ["Reversal", "Reversed"]


def test_number_clash_is_held_never_renamed(changes: dict[str, Any]) -> None:
    item = _item(_ledger().review_items(FLOW), changes["clash"]["Id"])
    assert item.reason_code == "doc_number_clash"
    assert not [r for r in _synced("ARINVOICE") if r["EXTERNALID"] == f"qbo:Invoice:{changes['clash']['Id']}"]


def test_bundle_invoice_is_expanded_into_its_item_lines(changes: dict[str, Any]) -> None:
    (row,) = [r for r in _synced("ARINVOICE") if r["EXTERNALID"] == f"qbo:Invoice:{changes['bundle']['Id']}"]
    assert Decimal(str(row["TRX_TOTALENTERED"])) == Decimal("750.00")
    (record,) = _intacct().read("ARINVOICE", [row["RECORDNO"]])
    text = json.dumps(record, default=str)
    assert text.count("[Starter kit]") == 2  # one Intacct line per item of the bundle
    assert "300.00" in text
    assert "450.00" in text


def test_invoice_of_resolved_customer_follows(story: Story, resolved: RunResult) -> None:
    assert resolved.state == "success"
    links = {link.source_id: link.target_id for link in _ledger().links("customers")}
    assert HELD_CUSTOMER in links
    waiting = [d for d in _qbo_docs("Invoice").values() if d["CustomerRef"]["value"] == HELD_CUSTOMER]
    synced = {r["EXTERNALID"]: r for r in _synced("ARINVOICE")}
    for doc in waiting:
        assert synced[f"qbo:Invoice:{doc['Id']}"]["CUSTOMERID"] == links[HELD_CUSTOMER]
    assert resolved.summary["created"] >= len(waiting) > 0


def _new_invoices(count: int, prefix: str) -> list[dict[str, Any]]:
    qbo = _qbo()
    customer = next(link.source_id for link in _ledger().links("customers") if link.source_id != HELD_CUSTOMER)
    return [
        qbo.create(
            "Invoice",
            {"DocNumber": f"{prefix}{n}", "CustomerRef": {"value": customer}, "TxnDate": "2026-10-25",
             "DepartmentRef": {"value": "2"},
             "Line": [{"Amount": Decimal(f"{100 + n}.00"), "DetailType": "SalesItemLineDetail",
                       "SalesItemLineDetail": {"ItemRef": {"value": "3"}, "Qty": 1,
                                               "UnitPrice": Decimal(f"{100 + n}.00")}}]},
            request_id=f"test-inv-{prefix}{n}",
        )
        for n in range(count)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def killed(story: Story, resolved: RunResult) -> dict[str, Any]:
    """Four new invoices; the load task dies after posting two of them (posted with the very functions
    and keys the flow plans, the record step never ran); then the next run."""
    from qbo_intacct.flows import invoices as inv
    from qbo_intacct.flows.documents import customer_links
    from qbo_intacct.flows.engine import load_workbook_mappings
    from qbo_intacct.flows.runtime import content_key
    from qbo_intacct.hooks.intacct import IntacctFunction

    created = _new_invoices(4, "K-")
    qbo = _qbo()
    lookups = {e: list(qbo.iter_query(e)) for e in inv.LOOKUPS}
    ctx = inv.DocContext.build(lookups, load_workbook_mappings(), customers=customer_links(_ledger()))
    hook = _intacct()
    for record in created[:2]:
        doc = inv.map_document("Invoice", record, ctx)
        name, body = inv.create_function(doc)
        key = f"invoices:create:{doc.source_id}:{content_key(body)}"
        (result,) = hook.run_functions([IntacctFunction(name, body, key, doc.source_id)], entity_id=doc.entity)
        assert result.ok
    return {"created": created, "run": story.run("after_kill")}


def test_kill_mid_load_and_rerun_leave_no_duplicate(killed: dict[str, Any]) -> None:
    assert killed["run"].state == "success"
    ids = [f"qbo:Invoice:{r['Id']}" for r in killed["created"]]
    rows = [r for r in _synced("ARINVOICE") if r["EXTERNALID"] in ids]
    assert sorted(r["EXTERNALID"] for r in rows) == sorted(ids)  # each exactly once
    assert killed["run"].summary["created"] == 2
    assert killed["run"].summary["reasons"].get("found_by_external_id") == 2
    links = {link.source_id for link in _ledger().links(FLOW)}
    assert {f"Invoice:{r['Id']}" for r in killed["created"]} <= links


def test_every_synced_document_is_in_intacct_once(killed: dict[str, Any]) -> None:
    for obj in ("ARINVOICE", "ARADJUSTMENT"):
        ids = [r["EXTERNALID"] for r in _synced(obj) if r["STATE"] != "Reversal"]
        assert len(ids) == len(set(ids))
