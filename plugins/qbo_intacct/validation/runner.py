"""Run a suite of checks over an extracted frame with Great Expectations 1.x.

Two kinds of failure, handled differently on purpose:

- **Row-level** (a duplicate key, a disabled currency, an amount that is not exact to the cent):
  the record is held for review with the check that failed, and the rest of the frame goes on. A
  bad invoice must not stop a hundred good ones.
- **Frame-level** (columns missing = the API's schema drifted; no rows although the source counted
  some; a frame-level expectation failed): :class:`FrameValidationError` fails the task with a
  message saying what to look at. Syncing a frame we do not understand would be worse than not
  syncing.

Great Expectations runs in an ephemeral context (nothing written to disk), with its progress bars
off (they would flood the task log) and ``result_format`` COMPLETE with
``unexpected_index_column_names`` so every failing row is named. GE is imported inside
:func:`validate_frame` only: importing it takes seconds, which no DAG file may spend at parse time.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from qbo_intacct.validation.checks import Check, CheckLevel

log = logging.getLogger(__name__)

ROW_POSITION = "__row__"


class FrameValidationError(Exception):
    """The frame as a whole is unusable; the task fails with this message."""

    def __init__(self, frame: str, problems: Sequence[str]) -> None:
        self.frame = frame
        self.problems = list(problems)
        super().__init__(f"frame {frame!r} failed validation; nothing from it was synced: " + "; ".join(self.problems))


@dataclass(frozen=True)
class RowFailure:
    """One record held for review: which record, which check, which column, what was wrong."""

    record_key: str
    expectation: str
    check: str
    column: str | None
    detail: str
    row: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_key": self.record_key,
            "expectation": self.expectation,
            "check": self.check,
            "column": self.column,
            "detail": self.detail,
            "row": self.row,
        }


@dataclass
class ValidationOutcome:
    frame: str
    rows_checked: int
    failures: list[RowFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed_keys(self) -> set[str]:
        return {f.record_key for f in self.failures}

    @property
    def failed_rows(self) -> set[int]:
        return {f.row for f in self.failures}

    def passed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` (the one validated, same order) that no row-level check failed."""
        bad = self.failed_rows
        return frame[[i not in bad for i in range(len(frame))]]

    def failures_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [f.as_dict() for f in self.failures],
            columns=["record_key", "expectation", "check", "column", "detail", "row"],
        )

    def summary(self) -> dict[str, Any]:
        """Small enough for XCom: counts only, no record contents."""
        by_check: dict[str, int] = {}
        for f in self.failures:
            by_check[f.check] = by_check.get(f.check, 0) + 1
        return {
            "frame": self.frame,
            "rows_checked": self.rows_checked,
            "rows_failed": len(self.failed_rows),
            "by_check": by_check,
        }


SuiteBuilder = Callable[[], Iterable[Check]] | Iterable[Check]


def quiet_great_expectations() -> None:
    """Keep Great Expectations' own INFO chatter (about 225 lines a run: docstring registration,
    metric declarations, temporary docs sites, ``Loading 'datasources'``) out of the task log.

    Its loggers are set to WARNING, so what it reports as a real problem still shows. Called before
    and after the import, because GX creates some module loggers with their own level on import.
    """
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations."):
            logger = logging.getLogger(name)
            if logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)


def _describe(value: object) -> str:
    if value is None or (not isinstance(value, (str, list, dict, tuple)) and pd.isna(value)):
        return "missing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_frame(
    df: pd.DataFrame,
    suite_builder: SuiteBuilder,
    key_column: str,
    *,
    name: str = "frame",
    required_columns: Sequence[str] = (),
    expected_rows: int | None = None,
) -> ValidationOutcome:
    """Validate ``df`` with the checks from ``suite_builder``; raise for frame-level failures.

    :param key_column: the record key reported in row failures (a source id assigned at extract).
    :param required_columns: columns the flow relies on; a missing one is schema drift.
    :param expected_rows: the count the source reported; an empty frame when it is > 0 fails.
    """
    import time

    started = time.perf_counter()
    missing = [c for c in (key_column, *required_columns) if c not in df.columns]
    if missing:
        raise FrameValidationError(
            name, [f"columns {missing} are missing (has the API changed?); present: {sorted(map(str, df.columns))}"]
        )
    if expected_rows and len(df) == 0:
        raise FrameValidationError(name, [f"no rows extracted, but the source reported {expected_rows}"])

    checks = list(suite_builder() if callable(suite_builder) else suite_builder)
    work = df.reset_index(drop=True).copy()
    work[ROW_POSITION] = range(len(work))
    for check in checks:
        if check.derive is not None and check.derived_column is not None:
            try:
                work[check.derived_column] = check.derive(work).to_numpy()
            except KeyError as exc:
                raise FrameValidationError(name, [f"check {check.name!r} needs column {exc}"]) from exc
    if work.empty:
        return ValidationOutcome(name, 0, seconds=time.perf_counter() - started)

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    quiet_great_expectations()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    quiet_great_expectations()

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    suite = gx.ExpectationSuite(name=f"{name}_{uuid.uuid4().hex[:8]}", expectations=[c.expectation for c in checks])
    batch = (
        context.data_sources.add_pandas(f"{name}_source")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole_frame")
        .get_batch(batch_parameters={"dataframe": work})
    )
    result = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_POSITION]}
    )

    keys = work[key_column].tolist()
    frame_problems: list[str] = []
    failures: list[RowFailure] = []
    for check, outcome in zip(checks, result.results, strict=True):
        exception = outcome.exception_info or {}
        if isinstance(exception, dict) and exception.get("raised_exception"):
            frame_problems.append(f"check {check.name!r} could not run: {exception.get('exception_message')}")
            continue
        if outcome.success:
            continue
        expectation_type = outcome.expectation_config.type
        if check.level is CheckLevel.FRAME:
            observed = outcome.result.get("observed_value")
            frame_problems.append(f"{check.name} failed ({expectation_type}; observed {_describe(observed)})")
            continue
        for hit in outcome.result.get("unexpected_index_list") or []:
            row = int(hit[ROW_POSITION])
            value = work.at[row, check.column] if check.column in work.columns else None
            key = keys[row]
            failures.append(
                RowFailure(
                    record_key=f"row {row + 1}" if _describe(key) == "missing" else str(key),
                    expectation=expectation_type,
                    check=check.name,
                    column=check.column,
                    detail=f"{check.name}: {check.column} is {_describe(value)}",
                    row=row,
                )
            )
    if frame_problems:
        raise FrameValidationError(name, frame_problems)
    outcome = ValidationOutcome(name, len(work), failures, time.perf_counter() - started)
    summary = outcome.summary()
    held = ", ".join(f"{check}: {n}" for check, n in summary["by_check"].items())
    log.info(
        "checked %d %s record(s): %s",
        summary["rows_checked"],
        name,
        f"{summary['rows_failed']} held for review ({held})" if summary["rows_failed"] else "all passed",
    )
    return outcome
