"""Parquet staging under an ObjectStoragePath root: exact Decimals, JSON columns, idempotent paths."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from qbo_intacct.flows.staging import StagingError, read_staged, stage_frame, staging_root


@pytest.fixture
def root(tmp_path: Path) -> str:
    return (tmp_path / "staging").as_uri()


def test_decimal_amounts_round_trip_exactly_including_trailing_zeros(root: str) -> None:
    amounts = [Decimal("10.50"), Decimal("0.01"), Decimal("1234567890123.45"), None]
    staged = stage_frame(
        pd.DataFrame({"doc": ["a", "b", "c", "d"], "amount": amounts}),
        flow="invoices",
        run_id="r1",
        name="extract",
        root=root,
    )
    back = read_staged(staged.as_xcom())["amount"].tolist()
    assert [str(v) if v is not None else None for v in back] == ["10.50", "0.01", "1234567890123.45", None]


def test_nested_records_round_trip_with_exact_amounts(root: str) -> None:
    raw = [{"Id": "17", "Line": [{"Amount": Decimal("99.90")}]}]
    staged = stage_frame(pd.DataFrame({"raw": raw}), flow="invoices", run_id="r1", name="raw", root=root)
    assert read_staged(staged.path)["raw"].tolist() == raw


def test_a_money_column_mixing_floats_and_decimals_is_refused(root: str) -> None:
    with pytest.raises(StagingError, match="'amount'"):
        stage_frame(pd.DataFrame({"amount": [Decimal("1.00"), 2.5]}), flow="invoices", run_id="r1", name="x", root=root)


def test_run_ids_become_safe_path_segments_and_a_retry_overwrites(root: str) -> None:
    frame = pd.DataFrame({"n": [1, 2]})
    first = stage_frame(frame, flow="customers", run_id="manual__2026-11-24T10:00:00+00:00", name="plan", root=root)
    again = stage_frame(
        frame.head(1), flow="customers", run_id="manual__2026-11-24T10:00:00+00:00", name="plan", root=root
    )
    assert (
        first.path == again.path,
        first.path.endswith("/customers/manual__2026-11-24T10_00_00_00_00/plan.parquet"),
        len(read_staged(again)),
    ) == (True, True, 1)


def test_staging_root_comes_from_the_airflow_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT", (tmp_path / "shared").as_uri())
    assert str(staging_root()) == (tmp_path / "shared").as_uri()
