"""The trial-balance comparison on frames (no I/O): mapping, entity split, explanations, exact money."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from qbo_intacct.flows.trial_balance import (
    EXPLAINED_COLUMNS,
    INTACCT_COLUMNS,
    QBO_COLUMNS,
    RESULT_COLUMNS,
    allocate_to_entities,
    compare_trial_balances,
    describe,
    differences,
    frame,
    map_accounts,
)

D = Decimal
ACCOUNTS = {"Checking": "10100", "Money Market": "10100", "Travel": "63000", ("Travel", "UK"): "63100"}


def qbo(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return frame([dict(zip(QBO_COLUMNS, r, strict=True)) for r in rows], QBO_COLUMNS)


def intacct(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return frame([dict(zip(INTACCT_COLUMNS, r, strict=True)) for r in rows], INTACCT_COLUMNS)


def explained(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return frame([dict(zip(EXPLAINED_COLUMNS, r, strict=True)) for r in rows], EXPLAINED_COLUMNS)


def by_key(result: pd.DataFrame) -> dict[tuple[str, str], dict]:
    return {(r["entity"], r["account"]): r for r in result.to_dict("records")}


def test_mapped_accounts_fold_and_tie_to_the_cent() -> None:
    result = compare_trial_balances(
        qbo(("US", "Checking", "100.10"), ("US", "Money Market", "0.20"), ("US", "Travel", "-100.30")),
        intacct(("US", "10100", "100.30"), ("US", "63000", "-100.30")),
        ACCOUNTS,
    )
    assert list(result.columns) == list(RESULT_COLUMNS)
    rows = by_key(result)
    assert rows[("US", "10100")]["qbo"] == D("100.30")
    assert rows[("US", "10100")]["qbo_accounts"] == "Checking, Money Market"
    assert {r["status"] for r in rows.values()} == {"ties"}
    assert all(isinstance(r["difference"], Decimal) for r in rows.values())


def test_entity_specific_mapping_wins_and_a_cent_off_differs() -> None:
    result = compare_trial_balances(
        qbo(("UK", "Travel", "50.00"), ("US", "Travel", "20.00")),
        intacct(("UK", "63100", "50.01"), ("US", "63000", "20.00")),
        ACCOUNTS,
    )
    found = differences(result).to_dict("records")
    assert [(r["entity"], r["account"], r["unexplained"]) for r in found] == [("UK", "63100", D("0.01"))]
    assert "unexplained difference of 0.01" in describe(found[0])


def test_explanations_account_for_known_parts_and_leave_the_rest() -> None:
    result = compare_trial_balances(
        qbo(("US", "Checking", "500.00"), ("US", "Travel", "-500.00")),
        intacct(("US", "10100", "380.00"), ("US", "63000", "-400.00")),
        ACCOUNTS,
        explained=explained(
            ("US", "10100", "-120.00", "QuickBooks Payment postings (not journal entries)"),
            ("US", "63000", "100.00", "QuickBooks Bill postings (not journal entries)"),
        ),
    )
    rows = by_key(result)
    assert rows[("US", "10100")]["status"] == "explained"
    assert rows[("US", "10100")]["reason"] == "QuickBooks Payment postings (not journal entries): -120.00"
    assert rows[("US", "63000")]["status"] == "explained"
    # an explanation that does not cover the whole difference leaves the rest unexplained
    partial = compare_trial_balances(
        qbo(("US", "Checking", "500.00")), intacct(("US", "10100", "370.00")), ACCOUNTS,
        explained=explained(("US", "10100", "-120.00", "QuickBooks Payment postings")),
    )  # fmt: skip
    (row,) = differences(partial).to_dict("records")
    assert row["unexplained"] == D("-10.00")
    assert "QuickBooks Payment postings: -120.00" in row["reason"]


def test_unmapped_quickbooks_account_is_its_own_row() -> None:
    result = compare_trial_balances(qbo(("US", "Grant Income", "-75.00")), intacct(), ACCOUNTS)
    (row,) = differences(result).to_dict("records")
    assert row["account"] == "(unmapped) Grant Income"
    assert "no Intacct GL account (the Accounts sheet)" in row["reason"]


def test_allocation_keeps_the_report_total_and_sends_the_rest_to_the_company_entity() -> None:
    report = frame([{"qbo_account": "Travel", "amount": "300.00"}, {"qbo_account": "Checking", "amount": "-300.00"}],
                   ["qbo_account", "amount"])  # fmt: skip
    routed = qbo(("UK", "Travel", "120.00"), ("UK", "Checking", "-120.00"))
    out = allocate_to_entities(report, routed, "US")
    got = {(r["entity"], r["qbo_account"]): r["amount"] for r in out.to_dict("records")}
    assert got == {("UK", "Travel"): D("120.00"), ("UK", "Checking"): D("-120.00"),
                   ("US", "Travel"): D("180.00"), ("US", "Checking"): D("-180.00")}  # fmt: skip


def test_map_accounts_and_floats_refused() -> None:
    mapped = map_accounts(qbo(("UK", "Travel", "1.00"), ("US", "Nope", "2.00")), ACCOUNTS)
    assert list(mapped["account"]) == ["63100", "(unmapped) Nope"]
    with pytest.raises(TypeError):
        frame([{"entity": "US", "account": "1", "amount": 0.1}], INTACCT_COLUMNS)
