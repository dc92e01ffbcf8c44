"""Where the sync ledger lives: the product's state database (see :mod:`qbo_intacct.state_db`).

The ledger shares that database with the QuickBooks token store; it owns only its ``ledger_*``
tables, and brings them to the current schema version the first time a process opens the database.
"""

from __future__ import annotations

import logging
import threading
import weakref

from sqlalchemy import URL, Engine

from qbo_intacct.ledger.migrations import migrate
from qbo_intacct.state_db import (
    STATE_CONN_ID,
    StateDatabaseError,
    dispose_engines,
    normalize_url,
    state_engine,
    state_url,
    url_from_connection,
)

log = logging.getLogger(__name__)

# The ledger's name for a bad state connection (kept for callers that catch it).
LedgerConnectionError = StateDatabaseError

__all__ = [
    "STATE_CONN_ID",
    "LedgerConnectionError",
    "dispose_engines",
    "engine_for_url",
    "ledger_engine",
    "ledger_url",
    "normalize_url",
    "url_from_connection",
]

_MIGRATED: weakref.WeakSet[Engine] = weakref.WeakSet()
_LOCK = threading.Lock()


def ledger_url(conn_id: str = STATE_CONN_ID) -> URL:
    """The ledger database URL from the Airflow connection, or the SQLite fallback."""
    return state_url(conn_id)


def engine_for_url(url: URL | str, *, run_migrations: bool = True) -> Engine:
    """The shared engine for ``url``, migrated once per process (unless told not to)."""
    engine = state_engine(url)
    if run_migrations:
        with _LOCK:
            if engine not in _MIGRATED:
                migrate(engine)
                _MIGRATED.add(engine)
                log.info("sync ledger on %s database %s", engine.url.get_backend_name(), engine.url.database)
    return engine


def ledger_engine(conn_id: str = STATE_CONN_ID) -> Engine:
    """The migrated engine for the ledger named by ``conn_id``; call it inside a task."""
    return engine_for_url(ledger_url(conn_id))
