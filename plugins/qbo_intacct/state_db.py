"""The product's own database: the Airflow connection ``qbo_intacct_state``.

Two things live there: the sync ledger (``qbo_intacct.ledger``) and the QuickBooks OAuth token store
(``qbo_intacct.hooks._qbo_tokens``), so every worker sees the same links and the same newest refresh
token. This module only says where that database is and hands out one engine per database per
process; each user owns its tables.

- conn type ``sqlite``: ``host`` is the database file path (the default set-up, one file);
- conn type ``postgres``: login, password, host, port, schema = database (docker-compose and CI);
- no such connection: a SQLite file ``$AIRFLOW_HOME/qbo_intacct_state.db``.

The password goes into the SQLAlchemy URL object only; it is never logged or rendered.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError

STATE_CONN_ID = "qbo_intacct_state"
FALLBACK_DB_NAME = "qbo_intacct_state.db"

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


class StateDatabaseError(ValueError):
    """The ``qbo_intacct_state`` connection does not describe a database we support."""


def url_from_connection(
    conn_type: str | None,
    *,
    host: str | None,
    login: str | None = None,
    password: str | None = None,
    port: int | None = None,
    schema: str | None = None,
) -> URL:
    """SQLAlchemy URL for a ``sqlite`` (host = file path) or ``postgres`` Airflow connection."""
    kind = (conn_type or "").lower()
    if kind == "sqlite":
        path = host or schema
        if not path:
            raise StateDatabaseError(f"connection {STATE_CONN_ID!r} (sqlite) needs host = the database file path")
        return URL.create("sqlite", database=path)
    if kind in ("postgres", "postgresql"):
        return URL.create(
            "postgresql+psycopg2", username=login, password=password, host=host, port=port, database=schema
        )
    raise StateDatabaseError(f"connection {STATE_CONN_ID!r} has conn_type {conn_type!r}; use sqlite or postgres")


def fallback_url() -> URL:
    home = Path(os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow")))
    home.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite", database=str(home / FALLBACK_DB_NAME))


def state_url(conn_id: str = STATE_CONN_ID) -> URL:
    """The state database URL from the Airflow connection, or the SQLite fallback."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return fallback_url()
    return url_from_connection(
        conn.conn_type, host=conn.host, login=conn.login, password=conn.password, port=conn.port, schema=conn.schema
    )


def normalize_url(url: URL | str) -> URL:
    """Pin PostgreSQL to psycopg2 (installed); SQLAlchemy 2.1 would otherwise pick psycopg 3."""
    url = make_url(url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg2")
    return url


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_fast_commits(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def state_engine(url: URL | str, *, fast_commits: bool = False) -> Engine:
    """One engine per database (and durability) per process.

    SQLite waits up to 60 s for a lock another worker holds instead of failing the task at once.
    ``fast_commits`` (SQLite only) is for rows that may be lost to a power cut without harm (the
    shared API budget): the file is switched to write-ahead logging and that engine's connections
    commit with ``synchronous=NORMAL``, a fraction of a millisecond instead of an fsync. Other
    engines keep SQLite's full durability (in WAL mode too).
    """
    url = normalize_url(url)
    is_sqlite = url.get_backend_name() == "sqlite"
    fast_commits = fast_commits and is_sqlite
    cache_key = url.render_as_string(hide_password=False) + ("#fast" if fast_commits else "")
    with _LOCK:
        engine = _ENGINES.get(cache_key)
        if engine is None:
            if is_sqlite:
                if url.database:
                    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 60})
                event.listen(engine, "connect", _sqlite_pragmas)
                if fast_commits:
                    event.listen(engine, "connect", _sqlite_fast_commits)
                    with contextlib.suppress(OperationalError), engine.connect() as conn:
                        conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # persistent for the file
            else:
                engine = create_engine(url, pool_pre_ping=True)
            _ENGINES[cache_key] = engine
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, and a forked worker that must not share sockets)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
