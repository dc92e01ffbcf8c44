"""``qbo_intacct_payments`` end to end with ``dag.test()`` on the demo books, both sandboxes over HTTP.

One module-scoped story: customers -> invoices -> payments (first) -> payments again (second: writes
nothing) -> a payment voided in QuickBooks (voided) -> a load killed after posting, then a rerun
(killed). Each test asserts one behaviour; the runs happen in the fixtures, in that order, once.
"""

from __future__ import annotations

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

# About 2.5 minutes alone (customers and invoices must run first): over make test's budget, so `slow`.
pytestmark = [pytest.mark.dag, pytest.mark.slow]

FLOW = "payments"
ZERO = Decimal("0.00")
PAY_FIELDS = ["RECORDNO", "CUSTOMERID", "STATE", "CURRENCY", "MEGAENTITYID", "DOCNUMBER", "TRX_TOTALENTERED",
              "TRX_TOTALPAID", "TRX_TOTALDUE", "EXCHANGE_RATE", "BASECURR", "OVERPAYMENTAMOUNT", "PAYMENTMETHOD",
              "FINANCIALENTITY", "UNDEPOSITEDACCOUNTNO", "RECEIPTDATE"]  # fmt: skip
DOC_FIELDS = ["RECORDNO", "RECORDID", "CUSTOMERID", "STATE", "CURRENCY", "TRX_TOTALENTERED", "TRX_TOTALDUE"]


def _rows(obj: str, fields: list[str]) -> list[dict[str, Any]]:
    return list(_intacct().iter_query(obj, fields, entity_id="", show_private=True))


def _d(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


@pytest.fixture(scope="module")
def story(sandboxes, airflow_db, tmp_path_factory) -> Iterator[Story]:
    with flow_story("qbo_intacct_payments", sandboxes, tmp_path_factory.mktemp("payments")) as story:
        story.customers = Story("qbo_intacct_customers", story.home, sandboxes)
        story.invoices = Story("qbo_intacct_invoices", story.home, sandboxes)
        yield story


@pytest.fixture(scope="module")
def first(story: Story) -> RunResult:
    assert story.customers.run("customers").state == "success"
    assert story.invoices.run("invoices").state == "success"
    return story.run("first")


@pytest.fixture(scope="module")
def books(first: RunResult) -> dict[str, Any]:
    """Both sides after the first run, read once, asserted many ways."""
    qbo = _qbo()
    ledger = _ledger()
    return {
        "payments": {r["Id"]: r for r in qbo.iter_query("Payment")},
        "invoices": {r["Id"]: r for r in qbo.iter_query("Invoice")},
        "memos": {r["Id"]: r for r in qbo.iter_query("CreditMemo")},
        "ARPYMT": {str(r["RECORDNO"]): r for r in _rows("ARPYMT", PAY_FIELDS)},
        "ARINVOICE": {str(r["RECORDNO"]): r for r in _rows("ARINVOICE", DOC_FIELDS)},
        "ARADJUSTMENT": {str(r["RECORDNO"]): r for r in _rows("ARADJUSTMENT", DOC_FIELDS)},
        "links": {link.source_id: link for link in ledger.links(FLOW)},
        "invoice_links": {link.source_id: link for link in ledger.links("invoices")},
        "customer_links": {link.source_id: link.target_id for link in ledger.links("customers")},
        "items": ledger.review_items(FLOW),
    }


@pytest.fixture(scope="module")
def second(story: Story, books: dict[str, Any]) -> RunResult:
    """Nothing changed; the waiting age set to 0 hours, so waiting payments become review items."""
    from conftest import environ

    with environ({"AIRFLOW_VAR_QBO_INTACCT_PAYMENTS_PENDING_HOURS": "0"}):
        return story.run("second")


def _simple_posted(books: dict[str, Any]) -> list[dict[str, Any]]:
    """Posted payments of one whole invoice, no credit memo, nothing unapplied, in USD."""
    out = []
    for pid, pay in sorted(books["payments"].items(), key=lambda kv: int(kv[0])):
        lines = pay.get("Line") or []
        if (
            f"Payment:{pid}" in books["links"]
            and len(lines) == 1
            and lines[0]["LinkedTxn"][0]["TxnType"] == "Invoice"
            and not _d(pay.get("UnappliedAmt"))
            and pay["CurrencyRef"]["value"] == "USD"
        ):
            out.append(pay)
    return out


@pytest.fixture(scope="module")
def changes(story: Story, second: RunResult, books: dict[str, Any]) -> dict[str, Any]:
    """In QuickBooks: one posted payment voided, one deleted, one edited down to a partial payment."""
    qbo = _qbo()
    voided, deleted, edited = _simple_posted(books)[:3]
    qbo.void("Payment", voided["Id"], voided["SyncToken"], request_id="test-pay-void")
    qbo.delete("Payment", deleted["Id"], deleted["SyncToken"], request_id="test-pay-delete")
    half = (_d(edited["TotalAmt"]) / 2).quantize(Decimal("0.01"))
    line = dict(edited["Line"][0], Amount=half)
    qbo.update("Payment", {"Id": edited["Id"], "SyncToken": edited["SyncToken"], "TotalAmt": half, "Line": [line]},
               request_id="test-pay-edit", sparse=True)  # fmt: skip
    return {"run": story.run("changes"), "voided": voided, "deleted": deleted, "edited": edited, "half": half}


def _open_synced_invoice(books: dict[str, Any], fresh: bool = False) -> dict[str, Any]:
    invoices = {r["Id"]: r for r in _qbo().iter_query("Invoice")} if fresh else books["invoices"]
    for qbo_id, invoice in sorted(invoices.items(), key=lambda kv: int(kv[0])):
        link = books["invoice_links"].get(f"Invoice:{qbo_id}")
        if (
            link is not None
            and link.target_hashes.get("entity") == "US"
            and invoice["CurrencyRef"]["value"] == "USD"
            and _d(invoice["Balance"]) == _d(invoice["TotalAmt"]) > 0
            and invoice["CustomerRef"]["value"] in books["customer_links"]
        ):
            return invoice
    raise AssertionError("no open synced invoice in the demo books")


@pytest.fixture(scope="module")
def killed(story: Story, changes: dict[str, Any], books: dict[str, Any]) -> dict[str, Any]:
    """A new payment; the load dies after posting its receipt (posted with the very function and key the
    flow plans; the record step never ran); then the next run."""
    from qbo_intacct.flows import payments as pm
    from qbo_intacct.flows.documents import customer_links
    from qbo_intacct.flows.engine import load_workbook_mappings
    from qbo_intacct.hooks.intacct import IntacctFunction

    invoice = _open_synced_invoice(books)
    qbo = _qbo()
    payment = qbo.create(
        "Payment",
        {"CustomerRef": invoice["CustomerRef"], "TotalAmt": _d(invoice["TotalAmt"]), "TxnDate": "2026-10-30",
         "CurrencyRef": {"value": "USD"}, "PaymentMethodRef": {"value": "1"},
         "Line": [{"Amount": _d(invoice["TotalAmt"]), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]},
        request_id="test-pay-kill",
    )  # fmt: skip
    ledger = _ledger()
    hook = _intacct()
    ctx = pm.PaymentContext.build(
        {e: list(qbo.iter_query(e)) for e in pm.LOOKUPS},
        load_workbook_mappings(),
        customers=customer_links(ledger),
        documents={link.source_id: dict(link.target_hashes or {}) for link in ledger.links("invoices")},
        banks={str(r["BANKACCOUNTID"]): str(r.get("MEGAENTITYID") or "")
               for r in hook.iter_query("CHECKINGACCOUNT", ["BANKACCOUNTID", "MEGAENTITYID"], entity_id="",
                                        show_private=True)},
    )  # fmt: skip
    mapped = pm.map_payment(payment, ctx)
    assert mapped.hold is None
    assert mapped.waiting is None
    assert len(mapped.receipts) == 1
    (receipt,) = mapped.receipts
    (result,) = hook.run_functions(
        [IntacctFunction("create", {"ARPYMT": receipt.body}, receipt.key, mapped.source_id)], entity_id=receipt.entity
    )
    assert result.ok
    return {"payment": payment, "record_no": str(result.record_no), "run": story.run("after_kill")}


def _posted(books: dict[str, Any], payment_id: str) -> list[dict[str, Any]]:
    from qbo_intacct.flows.payments import posted

    return [books["ARPYMT"][r["record_no"]] for r in posted(books["links"].get(f"Payment:{payment_id}"))]


def _fully_synced(books: dict[str, Any]) -> set[str]:
    """QuickBooks invoices in Intacct all of whose payments are in Intacct too."""
    synced = {pid for pid in books["payments"] if f"Payment:{pid}" in books["links"]}
    out = {i for i in books["invoices"] if f"Invoice:{i}" in books["invoice_links"]}
    for pid, pay in books["payments"].items():
        linked = {lt["TxnId"] for line in pay.get("Line") or [] for lt in line.get("LinkedTxn") or []}
        if pid not in synced:
            out -= linked
    return out


def _intacct_invoice(books: dict[str, Any], qbo_id: str) -> dict[str, Any]:
    return books["ARINVOICE"][books["invoice_links"][f"Invoice:{qbo_id}"].target_hashes["record_no"]]


def _shape(pay: dict[str, Any]) -> set[str]:
    kinds = [lt["TxnType"] for line in pay.get("Line") or [] for lt in line.get("LinkedTxn") or []]
    shapes = set()
    if "CreditMemo" in kinds:
        shapes.add("credit_memo")
    if kinds.count("Invoice") > 1:
        shapes.add("several_invoices")
    if _d(pay.get("UnappliedAmt")) > 0:
        shapes.add("overpayment" if kinds else "unapplied")
    if pay["CurrencyRef"]["value"] != "USD":
        shapes.add("foreign_currency")
    return shapes


# ------------------------------------------------------------------------------------ first run


def test_first_run_posts_receipts_many_per_request(story: Story, first: RunResult) -> None:
    assert first.state == "success"
    posted = first.summary["receipts_posted"]
    assert posted > 100
    assert first.writes["intacct"] == posted
    assert len(first.log["intacct"]) <= posted // 50 + 6  # many functions per request
    assert first.writes["qbo"] == 0


def test_every_payment_of_a_synced_invoice_is_posted_or_held_with_a_reason(books: dict[str, Any]) -> None:
    open_items = {i.record_id: i for i in books["items"] if i.status.value == "open"}
    for pid, pay in books["payments"].items():
        linked = [lt["TxnId"] for line in pay.get("Line") or [] for lt in line.get("LinkedTxn") or []]
        ready = all(
            f"{lt['TxnType']}:{lt['TxnId']}" in books["invoice_links"]
            for line in pay.get("Line") or []
            for lt in line.get("LinkedTxn") or []
        )
        if linked and ready and pay["CustomerRef"]["value"] in books["customer_links"]:
            assert f"Payment:{pid}" in books["links"] or f"Payment:{pid}" in open_items, pid


def test_open_balance_per_invoice_is_the_same_to_the_cent(books: dict[str, Any]) -> None:
    checked = 0
    for qbo_id in _fully_synced(books):
        invoice = books["invoices"][qbo_id]
        intacct = _intacct_invoice(books, qbo_id)
        if intacct["STATE"] in ("Reversed", "Reversal"):
            continue
        assert _d(invoice["Balance"]) == _d(intacct["TRX_TOTALDUE"]), (qbo_id, invoice["DocNumber"])
        checked += 1
    assert checked > 150


def test_each_payment_shape_is_carried(books: dict[str, Any]) -> None:
    seen: dict[str, int] = defaultdict(int)
    for pid, pay in books["payments"].items():
        if f"Payment:{pid}" not in books["links"]:
            continue
        receipts = _posted(books, pid)
        assert receipts, pid
        cash = sum((_d(r["TRX_TOTALENTERED"]) for r in receipts), ZERO)
        assert cash == _d(pay["TotalAmt"]), pid  # cash + overpayment = what the customer paid
        over = sum((-_d(r["TRX_TOTALDUE"]) for r in receipts), ZERO)
        assert over == _d(pay.get("UnappliedAmt")), pid  # the unapplied amount is the customer's credit
        for r in receipts:
            assert r["CURRENCY"] == pay["CurrencyRef"]["value"]
            assert r["CUSTOMERID"] == books["customer_links"][pay["CustomerRef"]["value"]]
            if r["CURRENCY"] != r["BASECURR"]:
                assert _d(r["EXCHANGE_RATE"]) not in (ZERO, Decimal(1))
        for shape in _shape(pay) or {"plain"}:
            seen[shape] += 1
        lines = [_d(line["Amount"]) for line in pay.get("Line") or []]
        if len(lines) == 1 and lines[0] < _d(books["invoices"][pay["Line"][0]["LinkedTxn"][0]["TxnId"]]["TotalAmt"]):
            seen["partial"] += 1
    assert seen["plain"] > 50
    assert seen["overpayment"] > 0
    assert seen["credit_memo"] > 0
    assert seen["foreign_currency"] > 0
    assert seen["partial"] > 0


def test_credit_memo_applied_in_the_payment_is_applied_in_intacct(books: dict[str, Any]) -> None:
    checked = 0
    for memo_id, memo in books["memos"].items():
        link = books["invoice_links"].get(f"CreditMemo:{memo_id}")
        if link is None:
            continue
        adj = books["ARADJUSTMENT"][link.target_hashes["record_no"]]
        used = _d(memo["TotalAmt"]) - _d(memo.get("RemainingCredit"))
        paying = [
            pid
            for pid, p in books["payments"].items()
            if any(
                lt["TxnId"] == memo_id and lt["TxnType"] == "CreditMemo" for ln in p["Line"] for lt in ln["LinkedTxn"]
            )
        ]
        if paying and all(f"Payment:{pid}" in books["links"] for pid in paying):
            assert -_d(adj["TRX_TOTALDUE"]) == _d(memo["RemainingCredit"]), memo_id
            checked += used > 0
    assert checked > 0


def test_open_balance_per_customer_agrees(books: dict[str, Any]) -> None:
    """Open invoices less open credits (unapplied payments, credit memos), per customer and currency."""
    ready = _fully_synced(books)
    customers = books["customer_links"]
    qbo: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    intacct: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    skip: set[str] = set()
    for qbo_id, invoice in books["invoices"].items():
        cust = customers.get(invoice["CustomerRef"]["value"])
        if qbo_id not in ready:
            skip.add(str(cust))
            continue
        qbo[(str(cust), invoice["CurrencyRef"]["value"])] += _d(invoice["Balance"])
        intacct[(str(cust), invoice["CurrencyRef"]["value"])] += _d(_intacct_invoice(books, qbo_id)["TRX_TOTALDUE"])
    for memo_id, memo in books["memos"].items():
        cust = str(customers.get(memo["CustomerRef"]["value"]))
        link = books["invoice_links"].get(f"CreditMemo:{memo_id}")
        if link is None:
            skip.add(cust)
            continue
        qbo[(cust, memo["CurrencyRef"]["value"])] -= _d(memo["RemainingCredit"])
        intacct[(cust, memo["CurrencyRef"]["value"])] += _d(
            books["ARADJUSTMENT"][link.target_hashes["record_no"]]["TRX_TOTALDUE"]
        )
    for pid, pay in books["payments"].items():
        cust = str(customers.get(pay["CustomerRef"]["value"]))
        if f"Payment:{pid}" not in books["links"]:
            skip.add(cust)
            continue
        qbo[(cust, pay["CurrencyRef"]["value"])] -= _d(pay.get("UnappliedAmt"))
        intacct[(cust, pay["CurrencyRef"]["value"])] += sum((_d(r["TRX_TOTALDUE"]) for r in _posted(books, pid)), ZERO)
    compared = {k for k in qbo if k[0] not in skip}
    assert len(compared) > 10
    assert {k: qbo[k] for k in compared} == {k: intacct[k] for k in compared}


def test_payments_of_invoices_not_in_intacct_wait_counted(first: RunResult, books: dict[str, Any]) -> None:
    assert first.summary["pending"] > 0
    assert first.summary["reasons"]["pending_invoice"] == first.summary["pending"]
    waiting = [pid for pid in books["payments"] if f"Payment:{pid}" not in books["links"]]
    assert len(waiting) >= first.summary["pending"]


def test_held_payments_say_why_and_where_to_fix(books: dict[str, Any]) -> None:
    for item in books["items"]:
        assert item.detail
        assert item.context["fix"]
        assert "payment" in item.detail


def test_method_and_deposit_account_come_from_the_workbook(books: dict[str, Any]) -> None:
    methods = {r["PAYMENTMETHOD"] for r in books["ARPYMT"].values() if r.get("PAYMENTMETHOD")}
    assert methods <= {"ACH", "Printed Check", "Credit Card", "EFT", "Cash"}
    assert {"ACH", "Printed Check"} <= methods
    banks = {r.get("FINANCIALENTITY") or r.get("UNDEPOSITEDACCOUNTNO") for r in books["ARPYMT"].values()}
    assert "BOA-US-CHK" in banks


# ------------------------------------------------------------------------------------ later runs


def test_second_run_writes_nothing(second: RunResult) -> None:
    assert second.state == "success"
    assert second.writes == {"qbo": 0, "intacct": 0}
    assert second.write_requests == {"qbo": 0, "intacct": 0}


def test_waiting_payments_become_review_items_after_the_configured_age(second: RunResult) -> None:
    items = [i for i in _ledger().review_items(FLOW) if i.reason_code == "invoice_not_synced"]
    assert len(items) == second.summary["pending"] > 0
    assert all("not in Intacct yet" in i.detail or "not linked" in i.detail for i in items)


def _receipts_of(payment_id: str) -> list[dict[str, Any]]:
    from qbo_intacct.flows.payments import posted

    link = {link.source_id: link for link in _ledger().links(FLOW)}[f"Payment:{payment_id}"]
    rows = {str(r["RECORDNO"]): r for r in _rows("ARPYMT", PAY_FIELDS)}
    return [{**rows[r["record_no"]], "ledger_state": r["state"]} for r in posted(link)]


def _balances_agree(invoice_id: str) -> None:
    invoice = _qbo().get("Invoice", invoice_id)
    link = {link.source_id: link for link in _ledger().links("invoices")}[f"Invoice:{invoice_id}"]
    (row,) = _intacct().read("ARINVOICE", [link.target_hashes["record_no"]])
    assert _d(invoice["Balance"]) == _d(row["TRX_TOTALDUE"]), invoice_id


def test_void_and_delete_reverse_the_receipt_and_the_invoice_is_due_again(changes: dict[str, Any]) -> None:
    assert changes["run"].state == "success"
    for pay in (changes["voided"], changes["deleted"]):
        receipts = _receipts_of(pay["Id"])
        assert [r["STATE"] for r in receipts] == ["Reversed"]
        _balances_agree(pay["Line"][0]["LinkedTxn"][0]["TxnId"])


def test_edited_payment_is_reversed_and_posted_again(changes: dict[str, Any]) -> None:
    receipts = _receipts_of(changes["edited"]["Id"])
    assert [r["STATE"] for r in receipts] == ["Reversed", "Complete"]
    assert _d(receipts[1]["TRX_TOTALENTERED"]) == changes["half"]
    _balances_agree(changes["edited"]["Line"][0]["LinkedTxn"][0]["TxnId"])
    assert changes["run"].summary["updated"] == 3
    assert changes["run"].summary["reasons"]["voided_in_quickbooks"] == 1
    assert changes["run"].summary["reasons"]["deleted_in_quickbooks"] == 1


def test_kill_mid_load_and_rerun_leave_no_duplicate_receipt(killed: dict[str, Any]) -> None:
    run = killed["run"]
    assert run.state == "success"
    number = f"QBO-PMT-{killed['payment']['Id']}"
    rows = [r for r in _rows("ARPYMT", PAY_FIELDS) if r["DOCNUMBER"] == number]
    assert [str(r["RECORDNO"]) for r in rows] == [killed["record_no"]]  # exactly once
    assert [str(r["RECORDNO"]) for r in _receipts_of(killed["payment"]["Id"])] == [killed["record_no"]]
    assert run.writes["intacct"] == 0  # Intacct answered from its memory of the controlid
    _balances_agree(killed["payment"]["Line"][0]["LinkedTxn"][0]["TxnId"])


@pytest.fixture(scope="module")
def paid_in_intacct(story: Story, killed: dict[str, Any], books: dict[str, Any]) -> dict[str, Any]:
    """A receipt recorded in Intacct (by a person, not the sync) for a synced open invoice; payments runs,
    then runs again."""
    from qbo_intacct.hooks.intacct import IntacctFunction

    invoice = _open_synced_invoice(books, fresh=True)
    record_no = books["invoice_links"][f"Invoice:{invoice['Id']}"].target_hashes["record_no"]
    body = {"CUSTOMERID": books["customer_links"][invoice["CustomerRef"]["value"]], "PAYMENTMETHOD": "ACH",
            "FINANCIALENTITY": "BOA-US-CHK", "RECEIPTDATE": "10/31/2026", "PAYMENTDATE": "10/31/2026",
            "DOCNUMBER": "WIRE-7781", "CURRENCY": "USD",
            "ARPYMTDETAILS": {"ARPYMTDETAIL": [{"RECORDKEY": record_no,
                                                "TRX_PAYMENTAMOUNT": _d(invoice["TotalAmt"])}]}}  # fmt: skip
    (result,) = _intacct().run_functions(
        [IntacctFunction("create", {"ARPYMT": body}, "test:intacct-receipt", "test")], entity_id="US"
    )
    assert result.ok, result
    run = story.run("paid_in_intacct")
    return {"invoice": invoice, "receipt": str(result.record_no), "run": run, "again": story.run("both_again")}


def test_a_receipt_recorded_in_intacct_makes_the_quickbooks_invoice_paid(paid_in_intacct: dict[str, Any]) -> None:
    run, invoice = paid_in_intacct["run"], paid_in_intacct["invoice"]
    assert run.state == "success"
    assert run.summary["reasons"]["paid_in_intacct"] == 1
    assert run.writes["qbo"] == 1
    assert run.writes["intacct"] == 0
    fresh = _qbo().get("Invoice", invoice["Id"])
    assert _d(fresh["Balance"]) == ZERO
    (payment,) = [
        p
        for p in _qbo().iter_query("Payment")
        if p.get("PrivateNote") == f"Intacct AR payment {paid_in_intacct['receipt']}"
    ]
    assert _d(payment["TotalAmt"]) == _d(invoice["TotalAmt"])
    assert payment["PaymentRefNum"] == "WIRE-7781"
    assert payment["Line"][0]["LinkedTxn"][0]["TxnId"] == invoice["Id"]
    assert payment["DepositToAccountRef"]["value"]  # the Bank Accounts sheet, read backwards
    assert payment["PaymentMethodRef"]["value"]
    _balances_agree(invoice["Id"])


def test_rerunning_both_directions_writes_nothing(paid_in_intacct: dict[str, Any]) -> None:
    again = paid_in_intacct["again"]
    assert again.state == "success"
    assert again.writes == {"qbo": 0, "intacct": 0}
    assert again.write_requests == {"qbo": 0, "intacct": 0}
    assert again.summary["reasons"].get("written_by_sync", 0) >= 1  # its own QuickBooks payment did not go back


@pytest.fixture(scope="module")
def reversed_in_intacct(story: Story, paid_in_intacct: dict[str, Any]) -> dict[str, Any]:
    """The receipt recorded in Intacct is reversed there; payments runs."""
    from qbo_intacct.hooks.intacct import IntacctFunction

    body = {"@key": paid_in_intacct["receipt"], "datereversed": {"year": "2026", "month": "11", "day": "02"}}
    (result,) = _intacct().run_functions(
        [IntacctFunction("reverse_arpayment", body, "test:intacct-reverse", "test")], entity_id="US"
    )
    assert result.ok, result
    return {"run": story.run("reversed_in_intacct"), "again": story.run("reversed_again")}


def test_a_receipt_reversed_in_intacct_voids_the_quickbooks_payment(
    paid_in_intacct: dict[str, Any], reversed_in_intacct: dict[str, Any]
) -> None:
    run, invoice = reversed_in_intacct["run"], paid_in_intacct["invoice"]
    assert run.state == "success"
    assert run.summary["reasons"]["reversed_in_intacct"] == 1
    assert run.writes == {"qbo": 1, "intacct": 0}
    fresh = _qbo().get("Invoice", invoice["Id"])
    assert _d(fresh["Balance"]) == _d(invoice["TotalAmt"])  # open again
    _balances_agree(invoice["Id"])
    again = reversed_in_intacct["again"]
    assert again.writes == {"qbo": 0, "intacct": 0}  # the voided payment does not go back to Intacct
