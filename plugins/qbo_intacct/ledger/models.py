"""The sync ledger's tables: links between records, the review queue, and per-run statistics.

All tables are prefixed ``ledger_`` because the same database (the ``qbo_intacct_state``
connection) also holds the QuickBooks token store. The DDL that creates them lives in
:mod:`qbo_intacct.ledger.migrations` (frozen per version); these ORM classes must match the latest
migration, which a unit test checks.

What a finance reader should know:

- A **link** says "QuickBooks record X is Intacct record Y" for one flow, with a hash of each side's
  synced fields as the sync last wrote or read them. The hashes are what stop an echo: a record
  whose hash still equals the one the sync wrote has not been edited by anyone since.
  A link is always stored in the flow's orientation (``source`` = the system the flow reads first,
  QuickBooks for the QuickBooks-first flows), whichever side the record was created in;
  ``origin`` records that.
- A **review item** is a record the sync would not decide alone (several candidates, a name-only
  match, edits on both sides, an unmapped account...). It is opened once per record, reason and
  fingerprint; once resolved or ignored it is never reopened, and it is never deleted.
- A **run** row keeps the counts of one flow run (read, created, updated, skipped, held, failed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, DateTime, Dialect, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are UTC and come back timezone-aware on SQLite too (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is not None and value.tzinfo is None:
            raise ValueError("ledger timestamps must be timezone-aware")
        return None if value is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "ledger_schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Link(Base):
    __tablename__ = "ledger_links"
    __table_args__ = (
        UniqueConstraint("flow", "source_system", "source_id", name="uq_ledger_links_source"),
        UniqueConstraint("flow", "target_system", "target_id", name="uq_ledger_links_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow: Mapped[str] = mapped_column(String(64))
    source_system: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(128))
    target_system: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(128))
    # The deterministic key written into the target (e.g. Intacct CUSTOMERID), used to rebuild links.
    target_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # JSON objects: field group -> content hash, as last synced.
    source_hashes: Mapped[str | None] = mapped_column(Text, nullable=True)
    target_hashes: Mapped[str | None] = mapped_column(Text, nullable=True)
    origin: Mapped[str | None] = mapped_column(String(16), nullable=True)
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[str | None] = mapped_column(String(250), nullable=True)


class ReviewItem(Base):
    __tablename__ = "ledger_review_items"
    __table_args__ = (
        UniqueConstraint(
            "flow", "record_system", "record_id", "reason_code", "fingerprint", name="uq_ledger_review_items_record"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow: Mapped[str] = mapped_column(String(64))
    record_system: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str] = mapped_column(String(128))
    reason_code: Mapped[str] = mapped_column(String(64))
    # Distinguishes a new occurrence from the same one seen again (e.g. the pair of hashes in a conflict).
    fingerprint: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    candidates: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of candidate target ids
    # JSON: the record and candidates as finance knows them, the reason in plain words, where to fix it.
    context: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open / resolved / ignored
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # link / create / ignore
    decision_target_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    opened_run_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_run_id: Mapped[str | None] = mapped_column(String(250), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    applied_run_id: Mapped[str | None] = mapped_column(String(250), nullable=True)


class Run(Base):
    __tablename__ = "ledger_runs"
    __table_args__ = (UniqueConstraint("flow", "run_id", name="uq_ledger_runs_flow_run"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(250))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    held_for_review: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON: per-reason counts, staging paths
