"""Reading and writing the sync ledger: links, review items and run stats, all idempotent.

Every write here may be repeated by an Airflow retry, so each one is an upsert on a natural key:

- a link on (flow, source system, source id); linking a target that is already linked to another
  source is refused (:class:`LinkConflictError`), because that would be a duplicate in the making;
- a review item on (flow, record, reason, fingerprint): seeing the same problem again refreshes
  "last seen" and never opens a second item; an item that was resolved or ignored stays so
  forever (it is returned, so the flow can apply the decision, but it is never reopened);
- run stats on (flow, run id): a retried run overwrites its own row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qbo_intacct.ledger.models import Link, ReviewItem, Run, utcnow


class ReviewStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class ReviewDecision(StrEnum):
    LINK = "link"
    CREATE = "create"
    IGNORE = "ignore"


class LedgerError(Exception):
    """Base for ledger refusals; the message names flow and record."""


class LinkConflictError(LedgerError):
    """A link would pair a record with a second partner (a duplicate in the making)."""


class ReviewItemAlreadyResolvedError(LedgerError):
    """A different decision for an item that is already resolved; decisions are final."""


class ReviewItemNotFoundError(LedgerError):
    pass


def _dump_hashes(hashes: Mapping[str, str] | None) -> str | None:
    return None if hashes is None else json.dumps(dict(hashes), sort_keys=True)


def _load_hashes(text: str | None) -> dict[str, str] | None:
    return None if text is None else dict(json.loads(text))


@dataclass(frozen=True)
class LinkRecord:
    """One pairing of a source record with a target record, and what the sync last saw of each."""

    flow: str
    source_system: str
    source_id: str
    target_system: str
    target_id: str
    target_key: str | None = None
    source_hashes: Mapping[str, str] | None = None
    target_hashes: Mapping[str, str] | None = None
    origin: str | None = None
    run_id: str | None = None
    synced_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: Link) -> LinkRecord:
        return cls(
            flow=row.flow,
            source_system=row.source_system,
            source_id=row.source_id,
            target_system=row.target_system,
            target_id=row.target_id,
            target_key=row.target_key,
            source_hashes=_load_hashes(row.source_hashes),
            target_hashes=_load_hashes(row.target_hashes),
            origin=row.origin,
            run_id=row.run_id,
            synced_at=row.synced_at,
        )


@dataclass(frozen=True)
class ReviewDraft:
    """A review item as a flow raises it; ``candidates`` are target ids a person may choose from.

    ``context`` is what finance reads (see :func:`qbo_intacct.flows.review.describe`): the record's
    name and key fields on both sides, the candidates with their names, the reason in plain words
    and where to fix it. It is refreshed while the item is open, frozen once it is decided.
    """

    flow: str
    record_system: str
    record_id: str
    reason_code: str
    detail: str = ""
    candidates: Sequence[str] = ()
    fingerprint: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReviewRecord:
    id: int
    flow: str
    record_system: str
    record_id: str
    reason_code: str
    fingerprint: str
    detail: str
    candidates: tuple[str, ...]
    status: ReviewStatus
    decision: ReviewDecision | None
    decision_target_id: str | None
    opened_run_id: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    applied_run_id: str | None
    context: Mapping[str, Any] = field(default_factory=dict)
    resolution_note: str | None = None
    opened_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: ReviewItem) -> ReviewRecord:
        return cls(
            id=row.id,
            flow=row.flow,
            record_system=row.record_system,
            record_id=row.record_id,
            reason_code=row.reason_code,
            fingerprint=row.fingerprint,
            detail=row.detail,
            candidates=tuple(json.loads(row.candidates)),
            status=ReviewStatus(row.status),
            decision=ReviewDecision(row.decision) if row.decision else None,
            decision_target_id=row.decision_target_id,
            opened_run_id=row.opened_run_id,
            resolved_by=row.resolved_by,
            resolved_at=row.resolved_at,
            applied_run_id=row.applied_run_id,
            context=json.loads(row.context) if row.context else {},
            resolution_note=row.resolution_note,
            opened_at=row.opened_at,
        )


@dataclass(frozen=True)
class RunStats:
    flow: str
    run_id: str
    dry_run: bool = False
    status: str = "running"
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    held_for_review: int = 0
    failed: int = 0
    detail: Mapping[str, Any] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


class Ledger:
    """The ledger on one database; create it with :meth:`from_connection` inside a task."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_connection(cls, conn_id: str | None = None) -> Ledger:
        from qbo_intacct.ledger.db import STATE_CONN_ID, ledger_engine

        return cls(ledger_engine(conn_id or STATE_CONN_ID))

    # -- links ----------------------------------------------------------------------------------

    def _upsert_link(self, session: Session, link: LinkRecord, *, relink: bool) -> None:
        by_source = session.scalars(
            select(Link).where(
                Link.flow == link.flow, Link.source_system == link.source_system, Link.source_id == link.source_id
            )
        ).one_or_none()
        by_target = session.scalars(
            select(Link).where(
                Link.flow == link.flow, Link.target_system == link.target_system, Link.target_id == link.target_id
            )
        ).one_or_none()
        if by_target is not None and (by_source is None or by_target.id != by_source.id):
            raise LinkConflictError(
                f"{link.flow}: {link.target_system} record {link.target_id} is already linked to "
                f"{by_target.source_system} record {by_target.source_id}; not linking it to {link.source_id} as well"
            )
        if by_source is not None and by_source.target_id != link.target_id and not relink:
            raise LinkConflictError(
                f"{link.flow}: {link.source_system} record {link.source_id} is already linked to "
                f"{by_source.target_system} record {by_source.target_id}; a finance decision is needed to relink it"
            )
        row = by_source or Link(
            flow=link.flow, source_system=link.source_system, source_id=link.source_id, origin=link.origin
        )
        row.target_system = link.target_system
        row.target_id = link.target_id
        if link.target_key is not None:
            row.target_key = link.target_key
        if link.source_hashes is not None:
            row.source_hashes = _dump_hashes(link.source_hashes)
        if link.target_hashes is not None:
            row.target_hashes = _dump_hashes(link.target_hashes)
        if row.origin is None and link.origin is not None:
            row.origin = link.origin
        row.synced_at = link.synced_at or utcnow()
        row.run_id = link.run_id
        session.add(row)

    def upsert_links(self, links: Iterable[LinkRecord], *, relink: bool = False) -> int:
        """Insert or update links in one transaction; a retry with the same links changes nothing new."""
        links = list(links)
        for attempt in range(2):
            try:
                with Session(self.engine) as session, session.begin():
                    for link in links:
                        self._upsert_link(session, link, relink=relink)
                return len(links)
            except IntegrityError:
                # A concurrent writer inserted the same natural key between our read and write.
                if attempt == 1:
                    raise
        return 0  # pragma: no cover - the loop returns or raises

    def upsert_link(self, link: LinkRecord, *, relink: bool = False) -> None:
        self.upsert_links([link], relink=relink)

    def links(self, flow: str) -> list[LinkRecord]:
        with Session(self.engine) as session:
            rows = session.scalars(select(Link).where(Link.flow == flow).order_by(Link.id)).all()
            return [LinkRecord.from_row(r) for r in rows]

    def link_for_source(self, flow: str, source_system: str, source_id: str) -> LinkRecord | None:
        with Session(self.engine) as session:
            row = session.scalars(
                select(Link).where(Link.flow == flow, Link.source_system == source_system, Link.source_id == source_id)
            ).one_or_none()
            return None if row is None else LinkRecord.from_row(row)

    def links_frame(self, flow: str) -> pd.DataFrame:
        """Links as the planner reads them: source_id, target_id, target_key and both hash dicts."""
        columns = ["source_id", "target_id", "target_key", "source_hashes", "target_hashes"]
        rows = [
            {
                "source_id": link.source_id,
                "target_id": link.target_id,
                "target_key": link.target_key,
                "source_hashes": link.source_hashes,
                "target_hashes": link.target_hashes,
            }
            for link in self.links(flow)
        ]
        return pd.DataFrame(rows, columns=columns)

    # -- review items ---------------------------------------------------------------------------

    def open_review_item(self, draft: ReviewDraft, *, run_id: str | None = None) -> ReviewRecord:
        """Open the item, or return the existing one for the same record, reason and fingerprint.

        An open item gets the latest detail and candidates; a resolved or ignored one is returned
        unchanged (only "last seen" moves), so its decision can be applied and it is never reopened.
        """
        for attempt in range(2):
            try:
                with Session(self.engine) as session, session.begin():
                    row = session.scalars(
                        select(ReviewItem).where(
                            ReviewItem.flow == draft.flow,
                            ReviewItem.record_system == draft.record_system,
                            ReviewItem.record_id == draft.record_id,
                            ReviewItem.reason_code == draft.reason_code,
                            ReviewItem.fingerprint == draft.fingerprint,
                        )
                    ).one_or_none()
                    now = utcnow()
                    if row is None:
                        row = ReviewItem(
                            flow=draft.flow,
                            record_system=draft.record_system,
                            record_id=draft.record_id,
                            reason_code=draft.reason_code,
                            fingerprint=draft.fingerprint,
                            status=ReviewStatus.OPEN.value,
                            opened_at=now,
                            opened_run_id=run_id,
                        )
                    if row.status == ReviewStatus.OPEN.value:
                        row.detail = draft.detail
                        row.candidates = json.dumps(list(draft.candidates))
                        if draft.context:
                            row.context = json.dumps(dict(draft.context), sort_keys=True, default=str)
                    row.last_seen_at = now
                    row.last_seen_run_id = run_id
                    session.add(row)
                    session.flush()
                    return ReviewRecord.from_row(row)
            except IntegrityError:
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def resolve_review_item(
        self,
        item_id: int,
        *,
        decision: ReviewDecision | str,
        by: str,
        target_id: str | None = None,
        note: str | None = None,
    ) -> ReviewRecord:
        """Record finance's decision; repeating the same decision is a no-op, a different one is refused."""
        decision = ReviewDecision(decision)
        if decision is ReviewDecision.LINK and not target_id:
            raise ValueError(f"review item {item_id}: a link decision needs the target id")
        with Session(self.engine) as session, session.begin():
            row = session.get(ReviewItem, item_id)
            if row is None:
                raise ReviewItemNotFoundError(f"review item {item_id} does not exist")
            if row.status != ReviewStatus.OPEN.value:
                if row.decision == decision.value and row.decision_target_id == target_id:
                    return ReviewRecord.from_row(row)
                raise ReviewItemAlreadyResolvedError(
                    f"review item {item_id} ({row.flow} {row.record_system} {row.record_id}) was already decided "
                    f"'{row.decision}' by {row.resolved_by}; decisions are final"
                )
            row.status = (ReviewStatus.IGNORED if decision is ReviewDecision.IGNORE else ReviewStatus.RESOLVED).value
            row.decision = decision.value
            row.decision_target_id = target_id
            row.resolved_by = by
            row.resolved_at = utcnow()
            row.resolution_note = note
            session.flush()
            return ReviewRecord.from_row(row)

    def resolve_record(
        self,
        flow: str,
        record_system: str,
        record_id: str,
        *,
        decision: ReviewDecision | str,
        by: str,
        target_id: str | None = None,
        note: str | None = None,
    ) -> list[ReviewRecord]:
        """Apply one decision (e.g. a Record Links row in the workbook) to every open item of a record."""
        with Session(self.engine) as session:
            ids = session.scalars(
                select(ReviewItem.id).where(
                    ReviewItem.flow == flow,
                    ReviewItem.record_system == record_system,
                    ReviewItem.record_id == record_id,
                    ReviewItem.status == ReviewStatus.OPEN.value,
                )
            ).all()
        return [self.resolve_review_item(i, decision=decision, by=by, target_id=target_id, note=note) for i in ids]

    def review_items(self, flow: str, status: ReviewStatus | None = None) -> list[ReviewRecord]:
        with Session(self.engine) as session:
            query = select(ReviewItem).where(ReviewItem.flow == flow)
            if status is not None:
                query = query.where(ReviewItem.status == status.value)
            return [ReviewRecord.from_row(r) for r in session.scalars(query.order_by(ReviewItem.id)).all()]

    def pending_decisions(self, flow: str) -> list[ReviewRecord]:
        """Resolved or ignored items whose decision no run has applied yet (what the next run applies)."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(ReviewItem)
                .where(
                    ReviewItem.flow == flow,
                    ReviewItem.status != ReviewStatus.OPEN.value,
                    ReviewItem.applied_run_id.is_(None),
                )
                .order_by(ReviewItem.id)
            ).all()
            return [ReviewRecord.from_row(r) for r in rows]

    def mark_applied(self, item_ids: Iterable[int], run_id: str) -> None:
        """Note which run applied the decisions; an already-applied item keeps its first run."""
        with Session(self.engine) as session, session.begin():
            for item_id in item_ids:
                row = session.get(ReviewItem, item_id)
                if row is not None and row.applied_run_id is None:
                    row.applied_run_id = run_id
                    row.applied_at = utcnow()

    # -- run stats ------------------------------------------------------------------------------

    def record_run(self, stats: RunStats) -> None:
        """Insert or overwrite the stats row of (flow, run id); a retried run keeps one row."""
        for attempt in range(2):
            try:
                with Session(self.engine) as session, session.begin():
                    row = session.scalars(
                        select(Run).where(Run.flow == stats.flow, Run.run_id == stats.run_id)
                    ).one_or_none()
                    if row is None:
                        row = Run(flow=stats.flow, run_id=stats.run_id, started_at=stats.started_at or utcnow())
                    row.dry_run = stats.dry_run
                    row.status = stats.status
                    for name in ("read", "created", "updated", "skipped", "held_for_review", "failed"):
                        setattr(row, name, getattr(stats, name))
                    row.detail = json.dumps(dict(stats.detail), sort_keys=True, default=str)
                    row.finished_at = stats.finished_at
                    session.add(row)
                return
            except IntegrityError:
                if attempt == 1:
                    raise

    def run_stats(self, flow: str, run_id: str) -> RunStats | None:
        with Session(self.engine) as session:
            row = session.scalars(select(Run).where(Run.flow == flow, Run.run_id == run_id)).one_or_none()
            if row is None:
                return None
            return RunStats(
                flow=row.flow,
                run_id=row.run_id,
                dry_run=row.dry_run,
                status=row.status,
                read=row.read,
                created=row.created,
                updated=row.updated,
                skipped=row.skipped,
                held_for_review=row.held_for_review,
                failed=row.failed,
                detail=json.loads(row.detail),
                started_at=row.started_at,
                finished_at=row.finished_at,
            )
