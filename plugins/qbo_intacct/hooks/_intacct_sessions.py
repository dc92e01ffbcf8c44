"""Intacct API sessions shared by the tasks of a run: an encrypted row per entity in the state database.

Why. Each ``getAPISession`` is a sign-in. Opening one per task and entity costs a round trip each
time, and sign-ins are what Intacct counts when it locks a user out after repeated failures. A
session lasts until its ``sessiontimeout`` (sliding: every call pushes it out), so the tasks of a
run, on any worker, can use the same one.

- **Where.** Table ``qbo_intacct_intacct_sessions`` in the ``qbo_intacct_state`` database, next to
  the QuickBooks token store; created by this module. One row per (endpoint, company, user, sender,
  entity), keyed by a digest of those, so a connection pointed elsewhere never picks up the row.
- **Encrypted at rest** with Fernet, the key derived (HKDF-SHA256) from the connection's user and
  sender passwords plus Airflow's ``[core] fernet_key``; a row this process cannot decrypt is
  ignored (a new session is opened and replaces it).
- **Expiry** is the API's own answer (``sessiontimeout``), kept with a margin; a session the API
  refuses before that is dropped and a new one opened, once.
- **Never logged**; every session id read or stored is registered with Airflow's log masker.

Two workers that find no session at the same moment both sign in and the later row wins; both
sessions stay valid, so nothing fails. The store is a saving, not a dependency: if the state
database cannot be read or written, the hook logs a warning and signs in as it would without it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Float, MetaData, String, Table, Text, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from qbo_intacct.hooks._qbo_tokens import _airflow_fernet_keys
from qbo_intacct.hooks._transport import mask_secret

_HKDF_SALT = b"qbo_intacct.intacct_sessions.v1"
log = logging.getLogger(__name__)
_T = TypeVar("_T")


def _tolerant(default: Any) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """A state-database failure costs a sign-in, never the task: recreate a missing table once, else warn."""

    def wrap(method: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(method)
        def guarded(self: IntacctSessionStore, *args: Any, **kwargs: Any) -> _T:
            try:
                return method(self, *args, **kwargs)
            except DBAPIError:
                try:
                    _ensure_table(self._engine)
                    return method(self, *args, **kwargs)
                except DBAPIError as exc:
                    log.warning("Intacct session store unavailable (%s); signing in without it", type(exc).__name__)
                    return default

        return guarded

    return wrap


_metadata = MetaData()
sessions_table = Table(
    "qbo_intacct_intacct_sessions",
    _metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("session_enc", Text, nullable=False),
    Column("endpoint_url", Text, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("opened_at", Float, nullable=False),
)


@dataclass(frozen=True)
class StoredSession:
    session_id: str = field(repr=False)
    endpoint_url: str
    expires_at: float | None


def _ensure_table(engine: Engine) -> None:
    try:
        _metadata.create_all(engine, checkfirst=True)
    except DBAPIError:  # two workers racing to create the table
        _metadata.create_all(engine, checkfirst=True)


class IntacctSessionStore:
    """Encrypted session ids for one Intacct login (endpoint, company, user, sender), one per entity."""

    def __init__(
        self,
        engine: Engine,
        *,
        endpoint_url: str,
        company_id: str,
        user_id: str,
        sender_id: str,
        user_password: str,
        sender_password: str,
    ) -> None:
        self._engine = engine
        self._identity = "|".join((endpoint_url, company_id, user_id, sender_id))
        secret = f"{user_password}|{sender_password}".encode()
        fernets = []
        for airflow_key in _airflow_fernet_keys() or [""]:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=self._identity.encode())
            fernets.append(Fernet(base64.urlsafe_b64encode(hkdf.derive(secret + b"|" + airflow_key.encode()))))
        self._fernet = MultiFernet(fernets)
        _ensure_table(engine)

    def _key(self, entity: str) -> str:
        return hashlib.sha256(f"{self._identity}|{entity}".encode()).hexdigest()

    @_tolerant(None)
    def get(self, entity: str, *, valid_after: float) -> StoredSession | None:
        """The stored session for ``entity`` if it is still valid at ``valid_after`` (epoch seconds)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(sessions_table).where(sessions_table.c.cache_key == self._key(entity))).first()
        if row is None or (row.expires_at is not None and row.expires_at <= valid_after):
            return None
        try:
            session_id = self._fernet.decrypt(row.session_enc.encode()).decode()
        except InvalidToken:
            return None
        mask_secret(session_id)
        return StoredSession(session_id=session_id, endpoint_url=row.endpoint_url, expires_at=row.expires_at)

    @_tolerant(None)
    def put(self, entity: str, session: StoredSession, *, now: float) -> None:
        mask_secret(session.session_id)
        values = {
            "session_enc": self._fernet.encrypt(session.session_id.encode()).decode(),
            "endpoint_url": session.endpoint_url,
            "expires_at": session.expires_at,
            "opened_at": now,
        }
        key = self._key(entity)
        try:
            with self._engine.begin() as conn:
                conn.execute(delete(sessions_table).where(sessions_table.c.cache_key == key))
                conn.execute(sessions_table.insert().values(cache_key=key, **values))
        except DBAPIError:  # another worker stored one at the same moment: theirs is as good
            return

    @_tolerant(None)
    def extend(self, entity: str, session_id: str, expires_at: float) -> None:
        """Push the stored expiry out (the API slides it on every call), if the row still holds this session."""
        stored = self.get(entity, valid_after=0.0)
        if stored is None or stored.session_id != session_id:
            return
        with self._engine.begin() as conn:
            conn.execute(
                update(sessions_table)
                .where(sessions_table.c.cache_key == self._key(entity))
                .values(expires_at=expires_at)
            )

    @_tolerant(None)
    def drop(self, entity: str, session_id: str) -> None:
        """Forget the stored session if it is the one that was refused (another worker may have renewed it)."""
        stored = self.get(entity, valid_after=0.0)
        if stored is None or stored.session_id == session_id:
            with self._engine.begin() as conn:
                conn.execute(delete(sessions_table).where(sessions_table.c.cache_key == self._key(entity)))


class NoSessionStore:
    """What the hook uses when the state database is unusable: nothing is kept, every task signs in."""

    def get(self, entity: str, *, valid_after: float) -> StoredSession | None:
        return None

    def put(self, entity: str, session: StoredSession, *, now: float) -> None:
        return None

    def extend(self, entity: str, session_id: str, expires_at: float) -> None:
        return None

    def drop(self, entity: str, session_id: str) -> None:
        return None
