"""Versioned schema for the sync ledger: a ``ledger_schema_version`` table and ordered migrations.

Why not Alembic: the ledger has four tables and ships inside a DAG package that any worker may be
the first to open; a list of plain functions applied under a lock at engine creation is enough and
has no separate CLI to forget. Each migration's DDL is frozen here (never derived from the current
ORM models), so upgrading an old database always replays the exact history.

Rules for adding a migration: append a new ``Migration`` with the next version number; never edit
a released one; only add (tables, nullable columns, indexes). Unknown tables in the database (the
QuickBooks token store, anything an operator added) are never touched.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

_version_metadata = MetaData()
schema_version_table = Table(
    "ledger_schema_version",
    _version_metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def _v1_initial(conn: Connection) -> None:
    md = MetaData()
    Table(
        "ledger_links",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("flow", String(64), nullable=False),
        Column("source_system", String(16), nullable=False),
        Column("source_id", String(128), nullable=False),
        Column("target_system", String(16), nullable=False),
        Column("target_id", String(128), nullable=False),
        Column("target_key", String(128), nullable=True),
        Column("source_hashes", Text, nullable=True),
        Column("target_hashes", Text, nullable=True),
        Column("origin", String(16), nullable=True),
        Column("synced_at", DateTime(timezone=True), nullable=False),
        Column("run_id", String(250), nullable=True),
        UniqueConstraint("flow", "source_system", "source_id", name="uq_ledger_links_source"),
        UniqueConstraint("flow", "target_system", "target_id", name="uq_ledger_links_target"),
    )
    Table(
        "ledger_review_items",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("flow", String(64), nullable=False),
        Column("record_system", String(16), nullable=False),
        Column("record_id", String(128), nullable=False),
        Column("reason_code", String(64), nullable=False),
        Column("fingerprint", String(128), nullable=False),
        Column("detail", Text, nullable=False),
        Column("candidates", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("decision", String(16), nullable=True),
        Column("decision_target_id", String(128), nullable=True),
        Column("opened_at", DateTime(timezone=True), nullable=False),
        Column("opened_run_id", String(250), nullable=True),
        Column("last_seen_at", DateTime(timezone=True), nullable=False),
        Column("last_seen_run_id", String(250), nullable=True),
        Column("resolved_by", String(128), nullable=True),
        Column("resolved_at", DateTime(timezone=True), nullable=True),
        Column("resolution_note", Text, nullable=True),
        Column("applied_at", DateTime(timezone=True), nullable=True),
        Column("applied_run_id", String(250), nullable=True),
        UniqueConstraint(
            "flow", "record_system", "record_id", "reason_code", "fingerprint", name="uq_ledger_review_items_record"
        ),
    )
    Table(
        "ledger_runs",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("flow", String(64), nullable=False),
        Column("run_id", String(250), nullable=False),
        Column("dry_run", Boolean, nullable=False),
        Column("status", String(16), nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True), nullable=True),
        Column("read", Integer, nullable=False),
        Column("created", Integer, nullable=False),
        Column("updated", Integer, nullable=False),
        Column("skipped", Integer, nullable=False),
        Column("held_for_review", Integer, nullable=False),
        Column("failed", Integer, nullable=False),
        Column("detail", Text, nullable=False),
        UniqueConstraint("flow", "run_id", name="uq_ledger_runs_flow_run"),
    )
    md.create_all(conn, checkfirst=True)


def _v2_review_status_index(conn: Connection) -> None:
    # The review DAG lists open items per flow on every run.
    conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_ledger_review_items_flow_status ON ledger_review_items (flow, status)")
    )


def _v3_review_context(conn: Connection) -> None:
    # What finance reads about a held record: its name and key fields on both sides, the candidates
    # with their names, the reason in plain words and where to fix it (JSON; see flows/review.py).
    columns = {c["name"] for c in inspect(conn).get_columns("ledger_review_items")}
    if "context" not in columns:
        conn.execute(text("ALTER TABLE ledger_review_items ADD COLUMN context TEXT"))


def _v4_directory(conn: Connection) -> None:
    # Each system's records by the keys matching compares, so a new record's candidates are found
    # without reading the other system whole (see qbo_intacct/ledger/directory.py).
    from qbo_intacct.ledger.directory import create_tables

    create_tables(conn)


def _v5_reconciliation_sends(conn: Connection) -> None:
    # The period-end reconciliation's sent-marker: each period's workbook is mailed once, with the
    # Message-ID recorded (see qbo_intacct/reconciliation/sends.py).
    from qbo_intacct.reconciliation.sends import create_tables

    create_tables(conn)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    upgrade: Callable[[Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "links, review items, run stats", _v1_initial),
    Migration(2, "index review items by flow and status", _v2_review_status_index),
    Migration(3, "review items carry what finance reads (names, reason, where to fix)", _v3_review_context),
    Migration(4, "a directory of each system's records by matching keys", _v4_directory),
    Migration(5, "period-end reconciliation: one sent-marker per period", _v5_reconciliation_sends),
)
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(engine: Engine) -> int:
    """The highest applied migration, 0 for a database the ledger has never opened."""
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, schema_version_table.name):
            return 0
        return int(conn.execute(select(func.coalesce(func.max(schema_version_table.c.version), 0))).scalar_one())


def _apply_pending(conn: Connection) -> list[int]:
    if conn.dialect.name == "postgresql":
        # Serialise concurrent first runs: only one worker migrates, the others then see the result.
        conn.execute(text("LOCK TABLE ledger_schema_version IN ACCESS EXCLUSIVE MODE"))
    done = int(conn.execute(select(func.coalesce(func.max(schema_version_table.c.version), 0))).scalar_one())
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version <= done:
            continue
        migration.upgrade(conn)
        conn.execute(
            insert(schema_version_table).values(
                version=migration.version, description=migration.description, applied_at=dt.datetime.now(dt.UTC)
            )
        )
        applied.append(migration.version)
    return applied


def migrate(engine: Engine) -> int:
    """Bring the ledger schema to :data:`LATEST_VERSION`; safe to call from every task, every time.

    Returns the schema version. A database *newer* than this code (a rollback of the package) is
    refused rather than written with an older understanding of its tables.
    """
    for attempt in range(3):
        try:
            _version_metadata.create_all(engine, checkfirst=True)
            with engine.begin() as conn:
                applied = _apply_pending(conn)
            if applied:
                log.info("ledger schema migrated to version %s", applied[-1])
            break
        except DBAPIError:
            # Another worker created the same table or applied the same version first: re-read.
            if attempt == 2:
                raise
    version = current_version(engine)
    if version > LATEST_VERSION:
        raise RuntimeError(
            f"the ledger database is at schema version {version}, newer than this package ({LATEST_VERSION}); "
            "upgrade the qbo-intacct package on this worker"
        )
    return version
