"""The shared run of every flow DAG: window -> extract -> validate/map -> match -> plan -> load -> record -> report.

Each function here is one Airflow task's body (the operators and DAG files only wire them). They
exchange staged parquet files (:mod:`qbo_intacct.flows.staging`); only paths and counts go through
XCom. What a finance reader should know about a run:

- **Window.** A run reads what changed since the previous *successful* run of the same flow ended
  (kept in the ledger's run table), minus an overlap (default two hours, so a change saved while
  the previous run was reading, or stamped in the hour a DST change repeats, is not missed). With
  no previous successful run (the first run, a new ledger, or ``full_refresh``) it reads
  everything. Manual runs (``airflow dags test``, "Trigger DAG") follow the same rule, so they
  never skip a change. A run's window ends when the run starts; changes saved during the run are
  read by the next one. QuickBooks times carry their UTC offset; Intacct's WHENMODIFIED has none
  and is read in the company timezone of the ``intacct_default`` connection (the hook does that).
- **Scope.** Records changed in the window on either side are in scope, with their linked
  partners on the other side (read by id). If any record in scope has no link yet, the whole other
  side is read, because finding its partner (or proving it has none) needs every candidate.
- **Dry run.** The ``dry_run`` param stages the plan (creates and updates with field-level diffs)
  and the summary, and writes nothing: not to QuickBooks, not to Intacct, not to the ledger.
- **Idempotent writes.** Every write's key is the record plus a hash of the content sent
  (Intacct controlid from the CUSTOMERID, QuickBooks requestid from the Intacct id): a retried task
  replays the same staged write, and the API answers it from its memory; a corrected record is a
  new write, not a replay of the earlier refusal (the APIs answer a repeated requestid/controlid
  with the first answer, error included). A create whose answer was lost and whose record changed
  before the next run is kept from doubling by matching, which finds the first create by its keys:
  in Intacct the CUSTOMERID derived from the QuickBooks id (Intacct refuses a second one), in
  QuickBooks the Intacct id stored on the customer (``AcctNum``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from qbo_intacct.flows.hashing import canonical_json, group_hashes
from qbo_intacct.flows.planning import Action, Plan, PlannedAction, Side
from qbo_intacct.flows.staging import read_staged, stage_frame

log = logging.getLogger(__name__)

#: Two hours: covers the hour a DST change repeats in Intacct's zone-less WHENMODIFIED and clock
#: skew between the systems. Rereading a record costs a read; the ledger hashes make it write nothing.
DEFAULT_OVERLAP = dt.timedelta(hours=2)
RECORD_COLUMNS = ["record_id", "record"]
WRITE_COLUMNS = ["write_key", "operation", "object", "record_key", "entity", "body", "idempotency_key", "reveal"]
RESULT_COLUMNS = ["write_key", "operation", "record_key", "status", "new_id", "record", "error_code", "error"]
_REQUEST_NAMESPACE = uuid.UUID("5b0f7c1e-2d7a-4c57-9a55-6a1c9b3f0d11")


# ------------------------------------------------------------------------------------ window


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC; ``start`` None means "everything" (first run or full refresh)."""

    start: dt.datetime | None
    end: dt.datetime

    @property
    def full(self) -> bool:
        return self.start is None

    def as_xcom(self) -> dict[str, Any]:
        return {"start": self.start.isoformat() if self.start else None, "end": self.end.isoformat()}

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> Window:
        start = data.get("start")
        return cls(dt.datetime.fromisoformat(start) if start else None, dt.datetime.fromisoformat(data["end"]))


def last_window_end(engine: Any, flow: str) -> dt.datetime | None:
    """Where the previous successful (not dry) run of ``flow`` stopped reading, from the ledger."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from qbo_intacct.ledger.models import Run

    with Session(engine) as session:
        rows = session.scalars(
            select(Run)
            .where(Run.flow == flow, Run.status == "success", Run.dry_run.is_(False))
            .order_by(Run.finished_at.desc())
            .limit(20)
        ).all()
    ends = []
    for row in rows:
        value = json.loads(row.detail or "{}").get("window_end")
        if value:
            ends.append(dt.datetime.fromisoformat(value))
    return max(ends) if ends else None


def compute_window(
    previous_end: dt.datetime | None,
    *,
    now: dt.datetime,
    data_interval_start: dt.datetime | None = None,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    full_refresh: bool = False,
) -> Window:
    """The run's window (see the module docstring); never starts after the data interval does."""
    if full_refresh or previous_end is None:
        return Window(None, now)
    start = previous_end
    if data_interval_start is not None and data_interval_start < start:
        start = data_interval_start
    return Window(start - overlap, now)


# ------------------------------------------------------------------------------------ staging


def stage_records(
    records: Iterable[Mapping[str, Any]], *, id_field: str, flow: str, run_id: str, name: str
) -> dict[str, Any]:
    """Stage raw API records (one row each, the record as JSON) and return ``{path, rows}``."""
    unique: dict[str, Mapping[str, Any]] = {}
    for n, record in enumerate(records):
        rid = record.get(id_field)
        # A record without its id (a malformed reply) is kept, so the validate step holds it naming the
        # field, instead of failing the extract with a KeyError or being folded into another record.
        unique[str(rid) if rid not in (None, "") else f"(no {id_field}, record {n + 1})"] = record
    frame = pd.DataFrame(
        [{"record_id": rid, "record": dict(rec)} for rid, rec in unique.items()], columns=RECORD_COLUMNS
    )
    frame["record"] = frame["record"].astype(object)
    return stage_frame(frame, flow=flow, run_id=run_id, name=name).as_xcom()


def staged_records(staged: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not staged or not staged.get("path"):
        return []
    frame = read_staged(staged)
    return [dict(r) for r in frame["record"]] if not frame.empty else []


def stage(frame: pd.DataFrame, *, flow: str, run_id: str, name: str) -> dict[str, Any]:
    return stage_frame(frame, flow=flow, run_id=run_id, name=name).as_xcom()


# ------------------------------------------------------------------------------------ writes


def request_id(key: str) -> str:
    """A QuickBooks requestid (36 characters) that is the same for the same write on every retry."""
    return str(uuid.uuid5(_REQUEST_NAMESPACE, key))


def content_key(body: Mapping[str, Any]) -> str:
    """A short hash of a write's content: an update key that changes when the content does."""
    return hashlib.sha256(canonical_json(body, sorted(body)).encode()).hexdigest()[:16]


def writes_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=WRITE_COLUMNS)
    frame["body"] = frame["body"].astype(object)
    frame["reveal"] = pd.Series([r if isinstance(r, list) and r else None for r in frame["reveal"]], dtype=object)
    return frame


def results_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=RESULT_COLUMNS)
    frame["record"] = frame["record"].astype(object)
    return frame


def progress(log_: logging.Logger, what: str, done: int, total: int, every: int = 25) -> None:
    """Counts and percent in the task log for long loops (every ``every`` records and at the end)."""
    if total and (done == total or done % every == 0):
        log_.info("%s: %d of %d (%d%%)", what, done, total, done * 100 // total)


# ------------------------------------------------------------------------------------ plan helpers


def hold(action: PlannedAction, reason: str, *, candidates: Sequence[str] = ()) -> PlannedAction:
    """The same record, held for review instead of written."""
    return PlannedAction(
        Action.REVIEW,
        action.source_id,
        action.target_id,
        reason=reason,
        candidates=tuple(candidates) or action.candidates,
    )


def plan_from_frame(frame: pd.DataFrame) -> Plan:
    """The plan back from its staged frame (the load and record steps read it)."""
    from qbo_intacct.flows.planning import FieldDiff

    actions = []
    for r in frame.to_dict("records"):
        actions.append(
            PlannedAction(
                Action(r["action"]),
                r["source_id"] if isinstance(r["source_id"], str) else None,
                r["target_id"] if isinstance(r["target_id"], str) else None,
                write_to=Side(r["write_to"]) if isinstance(r["write_to"], str) else None,
                groups=tuple(r["groups"] or ()),
                diffs=tuple(FieldDiff(d["field"], d["group"], d["before"], d["after"]) for d in (r["diffs"] or ())),
                reason=r["reason"] or "",
                candidates=tuple(r["candidates"] or ()),
                link=bool(r["link"]),
                fingerprint=r["fingerprint"] or "",
                source_hashes=r["source_hashes"],
                target_hashes=r["target_hashes"],
            )
        )
    return Plan(actions)


def rehash(row: Mapping[str, Any], field_groups: Mapping[str, Sequence[str]]) -> dict[str, str]:
    return group_hashes(row, field_groups)
