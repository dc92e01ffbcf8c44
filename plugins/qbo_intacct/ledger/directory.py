"""The ledger's directory: each system's records by the keys matching compares, kept from every read.

Why it exists: a new record nobody linked yet must be compared with every record of the other
system (same tax ID, email or name?) before the sync may create it; otherwise a customer keyed in
both systems becomes two. Reading the other system whole for that, every run a new record appears,
makes cost grow with the books instead of the change. The directory remembers, per flow and
system, the normalised identifiers (tax ID, email, name, the keys the sync writes) of every record
the flow has read, so a new record's candidates are found here and only they are read, by id.

It stays current because every changed record of either system is in some run's window: each run
replaces the keys of the records it read. A run that read a system whole (the first sync, a full
refresh, or a run that had to read everything) rebuilds that system's part and marks it complete;
until a system's part is complete (a ledger older than the directory), the engine reads that
system whole as before. A record deleted in a system leaves stale keys behind: the candidate read
by id then finds nothing, which is the same as no candidate.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    tuple_,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

directory_keys = Table(
    "ledger_directory_keys",
    metadata,
    Column("flow", String(64), nullable=False),
    Column("system", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("value", String(255), nullable=False),
    Column("record_id", String(128), nullable=False),
    PrimaryKeyConstraint("flow", "system", "kind", "value", "record_id", name="pk_ledger_directory_keys"),
    Index("ix_ledger_directory_keys_record", "flow", "system", "record_id"),
)

directory_state = Table(
    "ledger_directory_state",
    metadata,
    Column("flow", String(64), nullable=False),
    Column("system", String(16), nullable=False),
    Column("complete_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("flow", "system", name="pk_ledger_directory_state"),
)

#: (kind, normalised value) pairs of one record.
Keys = Iterable[tuple[str, str]]
_CHUNK = 500  # ids or keys per IN list: well under every database's parameter limit


def create_tables(conn: Connection) -> None:
    """Migration v4 (see :mod:`qbo_intacct.ledger.migrations`)."""
    metadata.create_all(conn, checkfirst=True)


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows(flow: str, system: str, records: Mapping[str, Keys]) -> list[dict[str, str]]:
    rows = {
        (kind, value[:255], record_id): None for record_id, keys in records.items() for kind, value in keys if value
    }
    return [{"flow": flow, "system": system, "kind": k, "value": v, "record_id": r} for (k, v, r) in rows]


def remember(engine: Engine, flow: str, system: str, records: Mapping[str, Keys], *, complete: bool) -> int:
    """Replace the keys of ``records`` (record id -> its keys); ``complete``: they are the whole
    system, so everything else is dropped and the system's part is marked complete."""
    rows = _rows(flow, system, records)
    scope = and_(directory_keys.c.flow == flow, directory_keys.c.system == system)
    with engine.begin() as conn:
        if complete:
            conn.execute(delete(directory_keys).where(scope))
        else:
            for ids in _chunks(sorted(records)):
                conn.execute(delete(directory_keys).where(scope, directory_keys.c.record_id.in_(ids)))
        for chunk in _chunks(rows, 1000):
            conn.execute(insert(directory_keys), list(chunk))
        if complete:
            state = and_(directory_state.c.flow == flow, directory_state.c.system == system)
            conn.execute(delete(directory_state).where(state))
            conn.execute(insert(directory_state).values(flow=flow, system=system, complete_at=dt.datetime.now(dt.UTC)))
    return len(rows)


def is_complete(engine: Engine, flow: str, system: str) -> bool:
    """Whether the directory holds every record of ``system`` for ``flow`` (rebuilt by a whole read)."""
    query = select(directory_state.c.complete_at).where(
        directory_state.c.flow == flow, directory_state.c.system == system
    )
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def find(engine: Engine, flow: str, system: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """The records of ``system`` holding each (kind, value) key; keys nobody holds are left out."""
    wanted = sorted({(kind, value[:255]) for kind, value in keys if value})
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    with engine.connect() as conn:
        for chunk in _chunks(wanted):
            query = select(directory_keys.c.kind, directory_keys.c.value, directory_keys.c.record_id).where(
                directory_keys.c.flow == flow,
                directory_keys.c.system == system,
                tuple_(directory_keys.c.kind, directory_keys.c.value).in_(list(chunk)),
            )
            for kind, value, record_id in conn.execute(query):
                found[(kind, value)].append(record_id)
    return {key: sorted(ids) for key, ids in found.items()}
