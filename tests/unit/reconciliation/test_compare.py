"""The comparison's rules on small frames: how records pair and how each difference is explained."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from qbo_intacct.reconciliation import compare as cmp
from qbo_intacct.reconciliation.checks import CHECKS_BY_NAME
from qbo_intacct.reconciliation.read import COLUMNS, Period

INVOICES = CHECKS_BY_NAME["invoices"]
PERIOD = Period(date(2026, 10, 1), date(2026, 10, 31))
D = Decimal


def row(system: str, rid: str, number: str, total: str, **kw: Any) -> dict[str, Any]:
    base = {
        "system": system,
        "record_id": rid,
        "ref": rid if system == "qbo" else "",
        "number": number,
        "party_id": "C1" if system == "intacct" else "7",
        "party": "Acme Ltd",
        "entity": "US",
        "currency": "USD",
        "date": "2026-10-10",
        "total": D(total),
        "paid": D("0.00"),
        "open": D(total),
        "rate": D("1"),
        "state": "",
        "base": "USD" if system == "intacct" else "",
        "in_window": True,
    }
    base.update(kw)
    return base


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def run(qbo: list[dict], intacct: list[dict], **kw: Any) -> cmp.CheckResult:
    return cmp.compare_check(INVOICES, frame(*qbo), frame(*intacct), period=PERIOD, **kw)


def kinds(result: cmp.CheckResult) -> list[tuple[str, str]]:
    return sorted((d["type"], d["qbo_number"] or d["intacct_number"]) for d in result.discrepancies)


def test_documents_that_agree_produce_no_row_and_pass() -> None:
    result = run([row("qbo", "Invoice:1", "1001", "100.00")], [row("intacct", "ARINVOICE:9", "1001", "100.00")])
    assert result.discrepancies == []
    assert result.compared == 1
    assert {s["status"] for s in result.summary} == {"Pass"}


def test_pairs_by_ledger_link_then_external_id_then_number_and_party() -> None:
    qbo = [row("qbo", f"Invoice:{n}", f"10{n}", "10.00") for n in (1, 2, 3)]
    intacct = [
        row("intacct", "ARINVOICE:1", "X-1", "10.00"),  # renumbered, but linked in the ledger
        row("intacct", "ARINVOICE:2", "X-2", "10.00", ref="Invoice:2"),  # the sync's external id
        row("intacct", "ARINVOICE:3", "103", "10.00", party="ACME  ltd"),  # number and party name
    ]
    result = run(qbo, intacct, links=[("Invoice:1", "ARINVOICE:1")])
    assert result.discrepancies == []
    assert result.compared == 3


@pytest.mark.parametrize(
    ("change", "kind", "difference"),
    [
        ({"total": D("90.00"), "open": D("90.00")}, cmp.AMOUNT, D("10.00")),
        ({"open": D("0.00")}, cmp.STATUS, D("100.00")),
        ({"date": "2026-10-12"}, cmp.DATE, None),
        ({"currency": "EUR"}, cmp.CURRENCY, None),
        ({"rate": D("1.0002")}, cmp.CURRENCY, D("-0.0002")),
    ],
)
def test_each_difference_of_a_pair_is_one_row_of_its_kind(change: dict, kind: str, difference: Decimal | None) -> None:
    intacct = {**row("intacct", "ARINVOICE:9", "1001", "100.00"), **change}
    result = run([row("qbo", "Invoice:1", "1001", "100.00")], [intacct])
    assert [(d["type"], d["difference"]) for d in result.discrepancies] == [(kind, difference)]
    assert "1001" in result.discrepancies[0]["explanation"]


def test_a_rate_within_the_tolerance_is_not_a_difference() -> None:
    result = run(
        [row("qbo", "Invoice:1", "1001", "100.00", rate=D("1.10000"))],
        [row("intacct", "ARINVOICE:9", "1001", "100.00", rate=D("1.10005"))],
    )
    assert result.discrepancies == []


def test_a_date_in_another_period_says_so() -> None:
    result = run(
        [row("qbo", "Invoice:1", "1001", "100.00")],
        [row("intacct", "ARINVOICE:9", "1001", "100.00", date="2026-11-02", in_window=False, ref="Invoice:1")],
    )
    (d,) = result.discrepancies
    assert d["type"] == cmp.DATE
    assert "different periods" in d["explanation"]


def test_missing_on_either_side_and_intacct_own_documents_are_not_compared() -> None:
    result = run(
        [row("qbo", "Invoice:1", "1001", "100.00")],
        [
            row("intacct", "ARINVOICE:9", "9001", "50.00", ref="Invoice:77"),  # came from QuickBooks, gone there
            row("intacct", "ARINVOICE:10", "INV-20001", "70.00"),  # Intacct's own business
        ],
        held={"Invoice:1": "Its currency (CHF) is not enabled."},
    )
    assert kinds(result) == [(cmp.MISSING_IN_INTACCT, "1001"), (cmp.MISSING_IN_QBO, "9001")]
    missing = next(d for d in result.discrepancies if d["type"] == cmp.MISSING_IN_INTACCT)
    assert "held for review: Its currency (CHF)" in missing["explanation"]
    assert result.intacct_own == 1


def test_duplicates_on_both_sides() -> None:
    result = run(
        [row("qbo", "Invoice:1", "1001", "100.00"), row("qbo", "Invoice:2", "1001", "100.00")],
        [
            row("intacct", "ARINVOICE:9", "1001", "100.00", ref="Invoice:1"),
            row("intacct", "ARINVOICE:10", "1001-2", "100.00", ref="Invoice:1"),
        ],
    )
    assert kinds(result) == [(cmp.DUPLICATE, "1001"), (cmp.DUPLICATE, "1001")]
    systems = {bool(d["intacct_record"]) and not d["qbo_record"] for d in result.discrepancies}
    assert systems == {False}  # both rows name the QuickBooks document they duplicate


def test_open_balances_by_party_follow_the_documents() -> None:
    result = run(
        [row("qbo", "Invoice:1", "1001", "100.00"), row("qbo", "Invoice:2", "1002", "40.00", date="2026-09-01")],
        [row("intacct", "ARINVOICE:9", "1001", "100.00", open=D("0.00"))],
    )
    (balance,) = cmp.balance_discrepancies("AR open balances", "Customer", [result])
    assert (balance["qbo_amount"], balance["intacct_amount"], balance["difference"]) == (
        D("140.00"),
        D("0.00"),
        D("140.00"),
    )
    assert "Acme Ltd" in balance["explanation"]


def test_money_stays_decimal() -> None:
    result = run([row("qbo", "Invoice:1", "1001", "1234567890123.45")], [row("intacct", "ARINVOICE:9", "1001", "0.10")])
    (d,) = result.discrepancies
    assert d["difference"] == D("1234567890123.35")
    assert all(isinstance(s["qbo"], Decimal) for s in result.summary)
