"""Great Expectations runner and reusable checks, on small real frames (GE imported once, ~4 s)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from decimal import Decimal

import pandas as pd
import pytest

from qbo_intacct.validation.checks import (
    amount_exact,
    columns_present,
    currency_in_set,
    date_valid,
    entries_balance,
    keys_present_and_unique,
    row_count_between,
    totals_equal_lines,
)
from qbo_intacct.validation.runner import FrameValidationError, validate_frame


def _invoices() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_id": ["INV-1", "INV-2", "INV-3"],
            "currency": ["USD", "USD", "GBP"],
            "total": [Decimal("100.00"), Decimal("50.50"), Decimal("20.00")],
            "txn_date": ["2026-10-01", "2026-10-02", "2026-10-03"],
            "lines": [
                [{"amount": Decimal("60.00")}, {"amount": Decimal("40.00")}],
                [{"amount": Decimal("50.50")}],
                [{"amount": Decimal("20.00")}],
            ],
        }
    )


def _suite() -> list:
    return [
        *keys_present_and_unique("source_id"),
        currency_in_set("currency", ["USD", "GBP"]),
        amount_exact("total"),
        date_valid("txn_date"),
        totals_equal_lines("total", "lines"),
    ]


def _failures(df: pd.DataFrame, suite=_suite) -> list[tuple[str, str, str | None]]:
    outcome = validate_frame(df, suite, "source_id", name="invoices")
    return [(f.record_key, f.check, f.column) for f in outcome.failures]


def test_a_clean_frame_has_no_failures() -> None:
    assert _failures(_invoices()) == []


def test_duplicate_keys_hold_both_records_naming_the_expectation() -> None:
    df = _invoices()
    df.loc[2, "source_id"] = "INV-1"
    outcome = validate_frame(df, _suite, "source_id", name="invoices")
    assert [(f.record_key, f.expectation) for f in outcome.failures] == [
        ("INV-1", "expect_column_values_to_be_unique"),
        ("INV-1", "expect_column_values_to_be_unique"),
    ]


def test_a_record_without_key_is_named_by_its_row() -> None:
    df = _invoices()
    df.loc[1, "source_id"] = None
    assert _failures(df) == [("row 2", "key present", "source_id")]


def test_a_currency_not_enabled_holds_only_that_record() -> None:
    df = _invoices()
    df.loc[1, "currency"] = "CHF"
    assert _failures(df) == [("INV-2", "currency enabled", "currency")]


def test_an_amount_with_fractions_of_a_cent_is_not_exact() -> None:
    df = _invoices()
    df.at[0, "total"] = Decimal("100.005")
    df.at[0, "lines"] = [{"amount": Decimal("100.005")}]
    assert _failures(df) == [("INV-1", "amount exact to 2 places", "total")]


def test_a_float_amount_is_not_exact() -> None:
    df = _invoices()
    df["total"] = pd.Series([Decimal("100.00"), 50.5, Decimal("20.00")], dtype=object)
    assert ("INV-2", "amount exact to 2 places", "total") in _failures(df)


def test_an_impossible_date_is_invalid() -> None:
    df = _invoices()
    df.loc[2, "txn_date"] = "2026-02-30"
    assert _failures(df) == [("INV-3", "date valid", "txn_date")]


def test_a_date_before_the_window_is_invalid() -> None:
    def suite() -> list:
        return [date_valid("txn_date", earliest=dt.date(2026, 10, 2))]

    assert _failures(_invoices(), suite) == [("INV-1", "date valid", "txn_date")]


def test_a_total_that_does_not_equal_its_lines_is_held() -> None:
    df = _invoices()
    df.at[1, "total"] = Decimal("50.51")
    assert _failures(df) == [("INV-2", "total equals lines", "total")]


def test_an_unbalanced_entry_flags_each_of_its_lines() -> None:
    journal = pd.DataFrame(
        {
            "source_id": ["JE1-1", "JE1-2", "JE2-1", "JE2-2"],
            "entry": ["JE1", "JE1", "JE2", "JE2"],
            "debit": [Decimal("10.00"), None, Decimal("5.00"), None],
            "credit": [None, Decimal("10.00"), None, Decimal("4.99")],
        }
    )
    outcome = validate_frame(journal, [entries_balance("entry", "debit", "credit")], "source_id", name="journal")
    assert sorted(outcome.failed_keys) == ["JE2-1", "JE2-2"]


def test_passed_rows_are_the_ones_without_failures() -> None:
    df = _invoices()
    df.loc[1, "currency"] = "CHF"
    outcome = validate_frame(df, _suite, "source_id", name="invoices")
    assert outcome.passed(df)["source_id"].tolist() == ["INV-1", "INV-3"]


def test_a_missing_column_is_schema_drift_and_fails_the_task() -> None:
    with pytest.raises(FrameValidationError, match=r"columns \['currency'\] are missing"):
        validate_frame(
            _invoices().drop(columns=["currency"]), _suite, "source_id", name="invoices", required_columns=["currency"]
        )


def test_an_empty_extract_when_the_source_counted_records_fails_the_task() -> None:
    with pytest.raises(FrameValidationError, match="no rows extracted, but the source reported 12"):
        validate_frame(_invoices().head(0), _suite, "source_id", name="invoices", expected_rows=12)


def test_a_failed_frame_level_expectation_fails_the_task() -> None:
    def suite() -> list:
        return [columns_present(["source_id", "customer_ref"]), row_count_between(min_value=1)]

    with pytest.raises(FrameValidationError, match="columns present failed"):
        validate_frame(_invoices(), suite, "source_id", name="invoices")


def test_ge_progress_bars_stay_out_of_the_task_log(capfd: pytest.CaptureFixture[str]) -> None:
    validate_frame(_invoices(), _suite, "source_id", name="invoices")
    assert "Calculating Metrics" not in capfd.readouterr().err


def test_importing_the_validation_modules_does_not_import_great_expectations() -> None:
    code = (
        "import sys, qbo_intacct.validation.runner, qbo_intacct.validation.checks; "
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.slow
def test_ge_overhead_on_ten_thousand_rows() -> None:
    n = 10_000
    df = pd.DataFrame(
        {
            "source_id": [f"INV-{i}" for i in range(n)],
            "currency": ["USD"] * n,
            "total": [Decimal("100.00")] * n,
            "txn_date": ["2026-10-01"] * n,
            "lines": [[{"amount": Decimal("100.00")}]] * n,
        }
    )
    started = time.perf_counter()
    import great_expectations  # noqa: F401 - timed separately: paid once per worker process

    imported = time.perf_counter() - started
    started = time.perf_counter()
    outcome = validate_frame(df, _suite, "source_id", name="invoices")
    elapsed = time.perf_counter() - started
    print(f"\nGE import {imported:.2f} s (once); validate_frame on {n} rows, 6 expectations: {elapsed:.2f} s")
    assert (outcome.rows_checked, outcome.failures) == (n, [])


def test_great_expectations_internals_stay_out_of_the_task_log() -> None:
    """A fresh process, as an Airflow task is: root logging at INFO, as the task log records it."""
    code = """
import logging, sys
sys.path.insert(0, 'plugins')
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(name)s|%(message)s')
import pandas as pd
from qbo_intacct.validation.checks import currency_in_set, keys_present_and_unique
from qbo_intacct.validation.runner import validate_frame
frame = pd.DataFrame({'id': ['1', '2'], 'currency': ['USD', 'CHF']})
validate_frame(frame, [*keys_present_and_unique('id'), currency_in_set('currency', ['USD'])], 'id', name='customers')
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith("great_expectations")], lines
    assert (
        "qbo_intacct.validation.runner|checked 2 customers record(s): 1 held for review (currency enabled: 1)" in lines
    )
