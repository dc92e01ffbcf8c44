"""The journal entries flow's accounting on plain values: mapping, holds, detailed and summarized plans.

These are the rules the DAG story tests show end to end; here each is pinned on its own, in
milliseconds, including the cases the demo books do not plant (a clearing account, a period that
has not ended, a delete in summarized mode, an edit back to the original amounts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from qbo_intacct.flows.journal_entries import (
    Entry,
    EntryState,
    Hold,
    JournalContext,
    apply_effects,
    batch_body,
    map_entry,
    plan_journal,
)
from qbo_intacct.mappings.loader import ClearingAccount, JournalSetting, Route

TODAY = dt.date(2026, 11, 28)


@dataclass
class FakeMappings:
    """The workbook lookups the flow calls, with the demo's shape (two departments, two entities)."""

    mode: str = "Detailed"
    accounts: dict[str, str] = field(
        default_factory=lambda: {"Checking": "10100", "Software": "62000", "Accrued": "21000", "A/R": "11000"}
    )
    clearing: list[ClearingAccount] = field(default_factory=list)
    unmapped_rows: dict[str, dict[str, int]] = field(default_factory=lambda: {"AccountMap": {"Grants": 12}})

    def route(self, klass: str | None, department: str | None) -> Route | None:
        return {"Boston": Route("US", "US-BOS"), "London": Route("UK", "UK-LDN")}.get(department or "Boston")

    def gl_account(self, name: str, entity: str | None = None) -> str | None:
        return self.accounts.get(name)

    def clearing_account(self, control: str, entity: str | None = None) -> str | None:
        return next((c.clearing_account for c in self.clearing if c.control_account == control), None)

    def journal_setting(self, entity: str) -> JournalSetting | None:
        return JournalSetting(None, "GJ", self.mode, "Month")

    def currency(self, code: str) -> Any:
        return None


def ctx(mappings: FakeMappings) -> JournalContext:
    names = ["Checking", "Software", "Accrued", "A/R", "Grants"]
    return JournalContext(
        mappings=mappings,
        accounts={str(i): {"Id": str(i), "FullyQualifiedName": n} for i, n in enumerate(names, start=1)},
        classes={},
        departments={"1": "Boston", "2": "London"},
        closed_accounts=frozenset({"11000"}),
        base_currency={"US": "USD", "UK": "GBP"},
    )


def je(rid: str, day: str, *lines: tuple[str, str, str, str], number: str = "JE-1") -> dict[str, Any]:
    """lines: (posting, account id, amount, department id)"""
    return {
        "Id": rid,
        "DocNumber": number,
        "TxnDate": day,
        "Line": [
            {"Amount": Decimal(amount), "Description": "x",
             "JournalEntryLineDetail": {"PostingType": p, "AccountRef": {"value": a}, "DepartmentRef": {"value": d}}}
            for p, a, amount, d in lines
        ],
    }  # fmt: skip


def simple(rid: str = "7", day: str = "2026-05-10", amount: str = "100.00") -> dict[str, Any]:
    return je(rid, day, ("Debit", "2", amount, "1"), ("Credit", "3", amount, "1"))


def test_lines_carry_entity_dimensions_direction_and_absolute_amounts() -> None:
    entry = map_entry(simple(), ctx(FakeMappings()))
    assert isinstance(entry, Entry)
    assert [(x.entity, x.account, x.location, x.amount) for x in entry.lines] == [
        ("US", "62000", "US-BOS", Decimal("100.00")),
        ("US", "21000", "US-BOS", Decimal("-100.00")),
    ]
    body = batch_body(plan_journal([entry], {}, FakeMappings(), today=TODAY).batches[0])
    assert [(g["TR_TYPE"], g["TRX_AMOUNT"]) for g in body["ENTRIES"]["GLENTRY"]] == [("1", "100.00"), ("-1", "100.00")]
    assert body["REFERENCENO"] == "QBO-JE-7"
    assert body["BATCH_DATE"] == "05/10/2026"
    assert "JE-1" in body["BATCH_TITLE"]


def test_unmapped_account_holds_the_whole_entry_naming_line_and_row() -> None:
    held = map_entry(
        je("9", "2026-05-10", ("Debit", "1", "5.00", "1"), ("Credit", "5", "5.00", "1")), ctx(FakeMappings())
    )
    assert isinstance(held, Hold)
    assert (held.reason_code, held.line) == ("unmapped_account", 2)
    assert "row 12" in held.fix


def test_control_account_uses_the_clearing_account_or_holds() -> None:
    record = je("9", "2026-05-10", ("Debit", "2", "5.00", "1"), ("Credit", "4", "5.00", "1"))
    held = map_entry(record, ctx(FakeMappings()))
    assert isinstance(held, Hold)
    assert (held.reason_code, held.line) == ("control_account", 2)
    mapped = map_entry(record, ctx(FakeMappings(clearing=[ClearingAccount("11000", None, "21000")])))
    assert isinstance(mapped, Entry)
    assert [x.account for x in mapped.lines] == ["62000", "21000"]


def test_lines_in_two_entities_that_do_not_balance_each_are_held() -> None:
    held = map_entry(
        je("9", "2026-05-10", ("Debit", "2", "5.00", "1"), ("Credit", "3", "5.00", "2")), ctx(FakeMappings())
    )
    assert isinstance(held, Hold)
    assert held.reason_code == "unbalanced"


def test_foreign_currency_rounding_that_breaks_the_balance_is_held() -> None:
    record = je(
        "9", "2026-05-10", ("Debit", "2", "0.05", "1"), ("Debit", "2", "0.05", "1"), ("Credit", "3", "0.10", "1")
    )
    record |= {"CurrencyRef": {"value": "EUR"}, "ExchangeRate": Decimal("1.085")}
    mappings = FakeMappings()
    mappings.currency = lambda code: type("C", (), {"enabled": True})()  # type: ignore[method-assign]
    held = map_entry(record, ctx(mappings))
    assert isinstance(held, Hold)
    assert held.reason_code == "unbalanced_after_rounding"


def _run(records: list[dict[str, Any]], states: dict[str, EntryState], mappings: FakeMappings,
         today: dt.date = TODAY) -> tuple[Any, dict[str, EntryState]]:  # fmt: skip
    """Plan, then commit every batch as posted (what the record step does when Intacct accepts all)."""
    entries = [e if isinstance(e, Entry) else None for e in (map_entry(r, ctx(mappings)) for r in records)]
    plan = plan_journal([e for e in entries if e], states, mappings, today=today)
    ok = {b.key for b in plan.batches}
    out = dict(states)
    for entry_id in {e.entry_id for e in plan.effects} | set(plan.states):
        base = plan.states.get(entry_id) or out.get(entry_id) or EntryState(entry_id)
        current = out.get(entry_id) or EntryState(entry_id)
        base = EntryState(entry_id, base.number, base.date, base.mode, base.want, current.posted, current.batches,
                          base.deleted)  # fmt: skip
        out[entry_id], missing = apply_effects(base, [e for e in plan.effects if e.entry_id == entry_id], ok)
        assert not missing
    return plan, out


def test_detailed_edit_reverses_and_replaces_and_an_unchanged_rerun_plans_nothing() -> None:
    m = FakeMappings()
    plan, states = _run([simple()], {}, m)
    assert [b.kind for b in plan.batches] == ["entry"]
    assert _run([simple()], states, m)[0].batches == []
    plan, states2 = _run([simple(amount="120.00")], states, m)
    assert [(b.kind, b.reference) for b in plan.batches] == [("reversal", "QBO-JE-7-R1"), ("entry", "QBO-JE-7")]
    assert [x.amount for x in plan.batches[0].lines] == [Decimal("-100.00"), Decimal("100.00")]
    # edited back to the original amounts: a new key (never the first batch's controlid, which Intacct
    # would answer from memory without posting)
    plan, _ = _run([simple()], states2, m)
    assert plan.batches[1].key != states["7"].batches[0]


def test_detailed_delete_posts_the_reversal_only() -> None:
    m = FakeMappings()
    _, states = _run([simple()], {}, m)
    deleted = Entry("7", "JE-1", dt.date(2026, 5, 10), "", (), deleted=True)
    plan = plan_journal([deleted], states, m, today=TODAY)
    assert [b.kind for b in plan.batches] == ["reversal"]


def test_summarized_sums_a_month_waits_for_its_end_and_adjusts_for_late_changes() -> None:
    m = FakeMappings(mode="Summarized")
    may = [simple("1", "2026-05-03", "100.00"), simple("2", "2026-05-20", "50.00")]
    november = simple("3", "2026-11-10", "10.00")
    plan, states = _run([*may, november], {}, m)
    assert [(b.kind, b.reference, b.date) for b in plan.batches] == [("summary", "QBO-JE-SUM-US-2026-05", "2026-05-31")]
    assert {x.account: x.amount for x in plan.batches[0].lines} == {
        "62000": Decimal("150.00"),
        "21000": Decimal("-150.00"),
    }
    assert plan.pending == 1  # November has not ended
    # an unchanged rerun posts nothing; November posts once it has ended, without being read again
    assert _run([], states, m)[0].batches == []
    plan, states = _run([], states, m, today=dt.date(2026, 12, 2))
    assert [b.reference for b in plan.batches] == ["QBO-JE-SUM-US-2026-11"]
    # a late edit and a late delete of May entries: one adjusting batch for the difference
    gone = Entry("2", "JE-1", dt.date(2026, 5, 20), "", (), deleted=True)
    entries = [map_entry(simple("1", "2026-05-03", "130.00"), ctx(m)), gone]
    plan = plan_journal(entries, states, m, today=dt.date(2026, 12, 2))  # type: ignore[arg-type]
    assert [(b.kind, b.reference) for b in plan.batches] == [("adjustment", "QBO-JE-SUM-US-2026-05-A1")]
    assert {x.account: x.amount for x in plan.batches[0].lines} == {
        "62000": Decimal("-20.00"),
        "21000": Decimal("20.00"),
    }


def test_tie_out_splits_the_report_by_routing_and_names_what_the_flow_does_not_post() -> None:
    """journal_tie_out on frames: the report split by the routed lines, QuickBooks invoices, Intacct's
    own postings, a held entry and a clearing account explained; a batch missing is a difference."""
    import pandas as pd

    from qbo_intacct.flows.journal_entries import journal_tie_out, routed_lines
    from qbo_intacct.flows.trial_balance import frame

    mappings = FakeMappings(clearing=[ClearingAccount("11000", None, "21000")])
    context = ctx(mappings)
    records = [
        je("1", "2026-05-02", ("Debit", "2", "100.00", "1"), ("Credit", "1", "100.00", "1")),  # US
        je("2", "2026-05-03", ("Debit", "2", "40.00", "2"), ("Credit", "1", "40.00", "2"), number="JE-UK"),  # UK
        je("3", "2026-05-04", ("Debit", "1", "7.00", "1"), ("Credit", "5", "7.00", "1"), number="JE-HELD"),
        je("4", "2026-05-05", ("Debit", "1", "9.00", "1"), ("Credit", "4", "9.00", "1"), number="JE-AR"),
    ]
    routed = pd.DataFrame([x for r in records for x in routed_lines(r, context)])
    assert set(routed["entity"]) == {"US", "UK"}
    report = frame([{"qbo_account": "Software", "amount": "190.00"}, {"qbo_account": "Checking", "amount": "-124.00"},
                    {"qbo_account": "Grants", "amount": "-7.00"}, {"qbo_account": "A/R", "amount": "-59.00"}],
                   ["qbo_account", "amount"])  # fmt: skip
    postings = frame([{"qbo_account": "Software", "txn_type": "Bill", "amount": "50.00"},
                      {"qbo_account": "A/R", "txn_type": "Payment", "amount": "-50.00"}],
                     ["qbo_account", "txn_type", "amount"])  # fmt: skip
    intacct_tb = frame([{"entity": "US", "account": "62000", "amount": "100.00"},
                        {"entity": "US", "account": "10100", "amount": "-91.00"},
                        {"entity": "US", "account": "21000", "amount": "-9.00"},
                        {"entity": "US", "account": "30000", "amount": "5.00"},
                        {"entity": "US", "account": "10500", "amount": "-5.00"},
                        {"entity": "UK", "account": "62000", "amount": "40.00"}],
                       ["entity", "account", "amount"])  # fmt: skip
    batches = frame([{"entity": "US", "account": "62000", "amount": "100.00"},
                     {"entity": "US", "account": "10100", "amount": "-91.00"},
                     {"entity": "US", "account": "21000", "amount": "-9.00"},
                     {"entity": "UK", "account": "62000", "amount": "40.00"}],
                    ["entity", "account", "amount"])  # fmt: skip

    def run(intacct: pd.DataFrame, flow: pd.DataFrame) -> dict[tuple[str, str], dict]:
        out = journal_tie_out(qbo_tb=report, qbo_postings=postings, intacct_tb=intacct, flow_batches=flow,
                              routed=routed, held={"3": "unmapped_account"}, ctx=context, entities=["US", "UK"],
                              default_entity="US")  # fmt: skip
        return {(r["entity"], r["account"]): r for r in out.to_dict("records")}

    rows = run(intacct_tb, batches)
    assert {k: r["status"] for k, r in rows.items() if r["status"] == "differs"} == {("UK", "10100"): "differs"}
    # the UK batch's credit line is missing in Intacct (the planted difference), named with its account
    assert rows[("UK", "10100")]["unexplained"] == Decimal("40.00")
    assert rows[("UK", "10100")]["qbo_accounts"] == "Checking"
    assert "QuickBooks Bill postings (not journal entries): -50.00" in rows[("US", "62000")]["reason"]
    assert "held for review: journal entry JE-HELD (unmapped_account)" in rows[("US", "(unmapped) Grants")]["reason"]
    assert "clearing account 21000" in rows[("US", "11000")]["reason"]
    assert "Intacct postings other than this flow's batches: 5.00" in rows[("US", "30000")]["reason"]
    complete = pd.concat([intacct_tb, frame([{"entity": "UK", "account": "10100", "amount": "-40.00"}],
                                            ["entity", "account", "amount"])])  # fmt: skip
    flow = pd.concat([batches, frame([{"entity": "UK", "account": "10100", "amount": "-40.00"}],
                                     ["entity", "account", "amount"])])  # fmt: skip
    assert {r["status"] for r in run(complete, flow).values()} <= {"ties", "explained"}
    # a summarized entry waiting for its period is named, not a difference
    waiting = journal_tie_out(qbo_tb=report, qbo_postings=postings, intacct_tb=complete, flow_batches=flow,
                              routed=routed, held={"3": "unmapped_account"}, ctx=context, entities=["US"],
                              default_entity="US", pending={"1"})  # fmt: skip
    rows = {r["account"]: r for r in waiting.to_dict("records")}
    assert "journal entry JE-1 waits for its summary period to end: -100.00" in rows["62000"]["reason"]
    assert rows["62000"]["status"] == "differs"  # Intacct holds the entry's batch: waiting explains too much
