"""The sent-marker: one row per period and scope in the ledger, so finance gets each workbook once.

``ledger_reconciliation_sends`` (migration 5) holds, per period key (``2026-10`` plus the entities,
``2026-10:UK+US``), the Message-ID of the mail and its state:

- ``sending``: written just before the SMTP ``DATA`` is sent. If the task dies now, nobody knows
  whether the server accepted the mail; a rerun does not send again but fails, naming the
  Message-ID to look for in the mailbox and the ``force_resend`` param.
- ``sent``: the server accepted it. A retry or a rerun for the period sends nothing.

A send the server refused (a 4xx/5xx reply) removes the row, so a task retry sends it. A forced
resend replaces the row with the new Message-ID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint, delete, select
from sqlalchemy.engine import Connection, Engine

metadata = MetaData()
sends_table = Table(
    "ledger_reconciliation_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("period_key", String(200), nullable=False),
    Column("message_id", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("recipients", Text, nullable=False, default=""),
    Column("workbook", Text, nullable=False, default=""),
    Column("run_id", String(250), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("period_key", name="uq_ledger_reconciliation_sends_period"),
)

SENDING, SENT = "sending", "sent"


def create_tables(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


@dataclass(frozen=True)
class SendMarker:
    period_key: str
    message_id: str
    status: str
    recipients: str
    workbook: str
    run_id: str | None
    updated_at: dt.datetime


class SendLedger:
    """Reads and writes the sent-markers on the ledger's database (migrated first)."""

    def __init__(self, engine: Engine) -> None:
        from qbo_intacct.ledger.migrations import migrate

        migrate(engine)
        self.engine = engine

    def get(self, period_key: str) -> SendMarker | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sends_table).where(sends_table.c.period_key == period_key)).mappings().first()
        if row is None:
            return None
        return SendMarker(
            row["period_key"],
            row["message_id"],
            row["status"],
            row["recipients"],
            row["workbook"],
            row["run_id"],
            row["updated_at"],
        )

    def mark(
        self, period_key: str, message_id: str, status: str, *, recipients: str, workbook: str, run_id: str | None
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            conn.execute(delete(sends_table).where(sends_table.c.period_key == period_key))
            conn.execute(
                sends_table.insert().values(
                    period_key=period_key,
                    message_id=message_id,
                    status=status,
                    recipients=recipients,
                    workbook=workbook,
                    run_id=run_id,
                    updated_at=now,
                )
            )

    def clear(self, period_key: str, message_id: str) -> None:
        """Forget a send the server refused (only if the row is still that send's)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(sends_table).where(
                    sends_table.c.period_key == period_key, sends_table.c.message_id == message_id
                )
            )
