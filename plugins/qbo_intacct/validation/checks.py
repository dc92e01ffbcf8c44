"""Reusable checks for extracted frames, each a Great Expectations expectation plus what to report.

Suites are built in code next to each flow from these builders, e.g. for invoices::

    def invoice_suite(enabled_currencies):
        return [
            *keys_present_and_unique("source_id"),
            currency_in_set("currency", enabled_currencies),
            amount_exact("total_amount"),
            date_valid("txn_date"),
            totals_equal_lines("total_amount", "lines", "amount"),
        ]

Great Expectations has no notion of ``Decimal`` exactness, of a document total equal to its lines,
or of a journal entry balancing. Those checks compute a boolean column with exact ``Decimal``
arithmetic first (``derive``) and let an ``expect_column_values_to_be_in_set([True])`` expectation
report the rows that fail, under the original column's name. GE itself is imported only when a
builder is called, i.e. inside a task, never when a DAG file is parsed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pandas as pd


class CheckLevel(StrEnum):
    ROW = "row"  # failing rows become review items; the rest of the frame goes on
    FRAME = "frame"  # a failure stops the task (schema drift, impossible counts)


@dataclass(frozen=True)
class Check:
    """One expectation and how its failures are reported.

    ``derive`` computes the column the expectation looks at (``derived_column``) from the frame;
    ``column`` is the business column named in the review item.
    """

    name: str
    expectation: Any
    column: str | None
    level: CheckLevel = CheckLevel.ROW
    derive: Callable[[pd.DataFrame], pd.Series] | None = None
    derived_column: str | None = None


def _gx() -> Any:
    from qbo_intacct.validation.runner import quiet_great_expectations

    quiet_great_expectations()  # before the first import: GX logs ~200 INFO lines while importing
    import great_expectations as gx

    return gx


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, (str, bytes, list, dict, tuple)) and bool(pd.isna(value)))


def _derived(name: str, column: str | None, derived_column: str, derive: Callable[[pd.DataFrame], pd.Series]) -> Check:
    gx = _gx()
    return Check(
        name=name,
        expectation=gx.expectations.ExpectColumnValuesToBeInSet(column=derived_column, value_set=[True]),
        column=column,
        derive=derive,
        derived_column=derived_column,
    )


def keys_present_and_unique(column: str) -> list[Check]:
    """Every record has a key, and no key appears twice (a duplicate would be synced twice)."""
    gx = _gx()
    return [
        Check("key present", gx.expectations.ExpectColumnValuesToNotBeNull(column=column), column),
        Check("key unique", gx.expectations.ExpectColumnValuesToBeUnique(column=column), column),
    ]


def currency_in_set(column: str, currencies: Iterable[str]) -> Check:
    """The document's currency is enabled in the mapping workbook (others are held, never converted)."""
    gx = _gx()
    return Check(
        "currency enabled",
        gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(set(currencies))),
        column,
    )


def _exact(value: object, places: int, required: bool) -> bool:
    if _missing(value):
        return not required
    if not isinstance(value, Decimal) or not value.is_finite():
        return False  # a float has already lost exactness; text means the map step was skipped
    return value.as_tuple().exponent >= -places or value == value.quantize(Decimal(1).scaleb(-places))  # type: ignore[operator]


def amount_exact(column: str, *, places: int = 2, required: bool = True) -> Check:
    """The amount is a ``Decimal`` with at most ``places`` decimals (0 for JPY): exact, to the cent."""
    return _derived(
        f"amount exact to {places} places",
        column,
        f"__exact__{column}",
        lambda df: df[column].map(lambda v: _exact(v, places, required)).astype(bool),
    )


def _valid_date(value: object, earliest: dt.date | None, latest: dt.date | None, required: bool) -> bool:
    if _missing(value):
        return not required
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            return False
    return (earliest is None or day >= earliest) and (latest is None or day <= latest)


def date_valid(
    column: str, *, earliest: dt.date | None = None, latest: dt.date | None = None, required: bool = True
) -> Check:
    """A real calendar date (ISO text or date), optionally inside a window (e.g. not before the books open)."""
    return _derived(
        "date valid",
        column,
        f"__date__{column}",
        lambda df: df[column].map(lambda v: _valid_date(v, earliest, latest, required)).astype(bool),
    )


def _line_sum(lines: object, amount_key: str) -> Decimal | None:
    if _missing(lines):
        return Decimal(0)
    total = Decimal(0)
    for line in lines:  # type: ignore[attr-defined]
        amount = line.get(amount_key) if isinstance(line, dict) else line
        if not isinstance(amount, Decimal):
            return None
        total += amount
    return total


def totals_equal_lines(total_column: str, lines_column: str, amount_key: str = "amount") -> Check:
    """The document total equals the sum of its lines, to the cent (exact Decimal arithmetic)."""

    def derive(df: pd.DataFrame) -> pd.Series:
        def ok(total: object, lines: object) -> bool:
            line_sum = _line_sum(lines, amount_key)
            return isinstance(total, Decimal) and line_sum is not None and line_sum == total

        return pd.Series([ok(t, ln) for t, ln in zip(df[total_column], df[lines_column], strict=True)], index=df.index)

    return _derived("total equals lines", total_column, f"__total__{total_column}", derive)


def entries_balance(entry_column: str, debit_column: str, credit_column: str) -> Check:
    """Each journal entry's debits equal its credits; every line of an unbalanced entry is flagged."""

    def derive(df: pd.DataFrame) -> pd.Series:
        balance: dict[object, Decimal | None] = {}
        for entry, debit, credit in zip(df[entry_column], df[debit_column], df[credit_column], strict=True):
            current = balance.get(entry, Decimal(0))
            parts = [Decimal(0) if _missing(v) else v for v in (debit, credit)]
            if current is None or not all(isinstance(p, Decimal) for p in parts):
                balance[entry] = None
                continue
            balance[entry] = current + parts[0] - parts[1]
        return df[entry_column].map(lambda e: balance.get(e) == Decimal(0)).astype(bool)

    return _derived("entry balances", debit_column, f"__balance__{debit_column}", derive)


def row_count_between(min_value: int | None = None, max_value: int | None = None) -> Check:
    """Frame-level: e.g. at least one row when the source's count said there are records."""
    gx = _gx()
    return Check(
        "row count",
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=min_value, max_value=max_value),
        None,
        level=CheckLevel.FRAME,
    )


def columns_present(columns: Sequence[str]) -> Check:
    """Frame-level: the extract still has every column the flow relies on (schema drift stops the task)."""
    gx = _gx()
    return Check(
        "columns present",
        gx.expectations.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=False),
        None,
        level=CheckLevel.FRAME,
    )
