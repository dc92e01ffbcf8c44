"""Where QuickBooks OAuth tokens live between tasks: an encrypted row in the state database.

Why this exists. Intuit rotates the refresh token: each refresh may return a new one, and the old one
then stops working (``invalid_grant``). Airflow 3 tasks cannot write connections, so the rotated token
cannot go back into ``quickbooks_default``; peers that kept it in a local config file lost it and
needed a manual re-authorisation every day or two (airbyte #7296, #49842). So:

* **Where.** Table ``qbo_oauth_tokens`` in the database of the Airflow connection
  ``qbo_intacct_state`` (conn type ``sqlite`` with ``host`` = file path, or ``postgres``), the same
  database as the sync ledger. Without that connection: ``$AIRFLOW_HOME/qbo_intacct_state.db``.
  One row per ``(client_id, realm_id)``.
* **Encrypted at rest.** Refresh and access tokens are Fernet-encrypted with a key derived by
  HKDF-SHA256 from the connection's client secret plus Airflow's ``[core] fernet_key`` (every key in
  it, so an Airflow key rotation keeps old rows readable). A stolen database file alone is useless.
  If the client secret changes, old rows cannot be decrypted and the store falls back to the
  connection's refresh token (logged as a warning, without values).
* **Admin re-authorisation wins.** The row keeps an HMAC fingerprint of the connection's initial
  refresh token. When an admin pastes a new refresh token into the connection, the fingerprint
  differs and the row is reset from the connection.
* **One refresh at a time, across processes.** Refresh happens inside a database lock
  (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``SELECT ... FOR UPDATE``). After taking the lock the row is
  re-read: if another worker already refreshed (the access token differs from the one that just
  failed, and is not near expiry) that token is used and no refresh token is spent. Two workers
  therefore never present the same refresh token.
* **Masked.** Every token read or minted is registered with Airflow's log masker.
* **First authorisation by command.** ``python -m qbo_intacct.authorize_quickbooks`` runs Intuit's
  consent flow and writes the first tokens straight into this row (:meth:`QboTokenStore.save_authorized`),
  fingerprinted with the connection's refresh token as it is then (usually none). So the connection
  needs no ``refresh_token`` at all; pasting one later still wins, as above.

Residual risk, documented rather than hidden: if the token endpoint rotates the refresh token and
the reply is then lost (network fault), the new token is unknown to us and the next refresh fails
with ``invalid_grant``; an admin must re-authorise. Intuit does not document a grace period.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from qbo_intacct.hooks._transport import ApiError, mask_secret
from qbo_intacct.state_db import state_engine, state_url

log = logging.getLogger(__name__)

#: Refresh this long before the access token's stated expiry, so a token never dies mid-request.
EXPIRY_SKEW_SECONDS = 300.0
#: Warn when the refresh token itself has less than this left (Intuit: 100 days rolling, 5 years hard).
REFRESH_EXPIRY_WARNING_SECONDS = 14 * 24 * 3600.0
_HKDF_SALT = b"qbo_intacct.qbo_tokens.v1"
_FINGERPRINT_SALT = b"qbo_intacct.qbo_tokens.seed-fingerprint.v2"
_FINGERPRINT_PREFIX = "v2:"
#: Fresh-transaction attempts to save a refreshed token after the write under the lock failed.
STORE_RETRY_ATTEMPTS = 4

_metadata = MetaData()
tokens_table = Table(
    "qbo_oauth_tokens",
    _metadata,
    Column("client_id", String(255), primary_key=True),
    Column("realm_id", String(64), primary_key=True),
    Column("refresh_token_enc", Text, nullable=False),
    Column("access_token_enc", Text, nullable=True),
    Column("access_expires_at", Float, nullable=True),
    Column("refresh_expires_at", Float, nullable=True),
    Column("seed_fingerprint", String(64), nullable=False),
    Column("refreshed_at", Float, nullable=True),
    Column("refresh_count", Integer, nullable=False, default=0),
)


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint returned. Times are seconds from now, as Intuit sends them."""

    access_token: str
    expires_in: float
    refresh_token: str
    refresh_expires_in: float | None = None

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        return f"TokenGrant(expires_in={self.expires_in}, refresh_expires_in={self.refresh_expires_in})"


#: Spends a refresh token and returns the grant; raises on ``invalid_grant`` and transport failure.
Refresher = Callable[[str], TokenGrant]


class QboNotAuthorisedError(ApiError):
    """The connection has no refresh token and no authorisation was stored for its app and company."""


class QboTokenDecryptError(ApiError):
    """The stored token row exists for this connection but this process cannot decrypt it.

    Cause: Airflow's ``[core] fernet_key`` (or the connection's client secret) differs from the one
    that wrote the row, e.g. an API server or worker started without the fernet key. The row is
    left untouched. Fix: give this process the same fernet key (keep old keys in the comma-separated
    list while rotating), or paste a fresh refresh token into the connection to re-authorise.
    """


def seed_fingerprint(client_id: str, realm_id: str, seed_refresh_token: str) -> str:
    """Fingerprint of the connection's initial refresh token; independent of every key (see module doc)."""
    digest = hashlib.sha256(
        _FINGERPRINT_SALT + b"|" + client_id.encode() + b"|" + realm_id.encode() + b"|" + seed_refresh_token.encode()
    ).hexdigest()
    return _FINGERPRINT_PREFIX + digest[: 64 - len(_FINGERPRINT_PREFIX)]


# --------------------------------------------------------------------------------------------------
# Database location
# --------------------------------------------------------------------------------------------------


def state_database_url() -> str:
    """SQLAlchemy URL of the state database, from the ``qbo_intacct_state`` connection or the fallback."""
    return state_url().render_as_string(hide_password=False)


def engine_for(url: str) -> Engine:
    """The process-wide engine for the state database (shared with the sync ledger)."""
    return state_engine(url)


def _ensure_table(engine: Engine) -> None:
    try:
        _metadata.create_all(engine, tables=[tokens_table], checkfirst=True)
    except DBAPIError:
        # Two workers racing to create the table: the loser's CREATE fails; the table now exists.
        _metadata.create_all(engine, tables=[tokens_table], checkfirst=True)


# --------------------------------------------------------------------------------------------------
# Encryption
# --------------------------------------------------------------------------------------------------


def _airflow_fernet_keys() -> list[str]:
    try:
        from airflow.configuration import conf

        raw = conf.get("core", "fernet_key", fallback="") or ""
    except Exception:  # Airflow config unreadable: the client secret alone still protects the tokens
        raw = ""
    return [key.strip() for key in raw.split(",") if key.strip()]


def _derive_key(client_secret: str, client_id: str, realm_id: str, airflow_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=f"{client_id}|{realm_id}".encode())
    return hkdf.derive(client_secret.encode() + b"|" + airflow_key.encode())


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


@dataclass
class _Row:
    refresh_token: str = field(repr=False)
    access_token: str | None = field(repr=False)
    access_expires_at: float | None
    refresh_expires_at: float | None
    seed_fingerprint: str
    #: True when this process could not decrypt the tokens (they are then empty here).
    undecryptable: bool = False


class QboTokenStore:
    """Durable, encrypted, cross-process-serialised OAuth tokens for one (client id, realm)."""

    def __init__(
        self,
        *,
        engine: Engine,
        client_id: str,
        client_secret: str,
        realm_id: str,
        seed_refresh_token: str,
        clock: Callable[[], float] = time.time,
        store_retry_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (client_id and client_secret and realm_id):
            raise ValueError("client id, client secret and realm id are all required")
        self._engine = engine
        self._client_id = client_id
        self._realm_id = realm_id
        self._seed_refresh_token = seed_refresh_token
        self._clock = clock
        self._store_retry_sleep = store_retry_sleep
        keys = [_derive_key(client_secret, client_id, realm_id, k) for k in (_airflow_fernet_keys() or [""])]
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(k)) for k in keys])
        self._seed_fingerprint = seed_fingerprint(client_id, realm_id, seed_refresh_token)
        # Fingerprints written before v2 (HMAC keyed by the derived key): recognised, then upgraded.
        self._legacy_fingerprints = {hmac.new(k, seed_refresh_token.encode(), hashlib.sha256).hexdigest() for k in keys}
        self._is_sqlite = engine.dialect.name == "sqlite"
        self._cached_access: tuple[str, float] | None = None
        #: (spent refresh token, its replacement) when the replacement could not be saved.
        self._unsaved_rotation: tuple[str, str] | None = None
        self._local_lock = threading.Lock()
        mask_secret(client_secret)
        if seed_refresh_token:
            mask_secret(seed_refresh_token)
        _ensure_table(engine)

    # -- public ------------------------------------------------------------------------------------

    def access_token(self, refresher: Refresher) -> str:
        """A usable access token: the cached one, the stored one, or a fresh one (under the lock)."""
        now = self._clock()
        cached = self._cached_access
        if cached is not None and cached[1] - EXPIRY_SKEW_SECONDS > now:
            return cached[0]
        with self._engine.connect() as conn:
            row = self._read(conn, for_update=False)
        if (
            row is not None
            and not row.undecryptable
            and self._is_ours(row.seed_fingerprint)
            and row.access_token
            and (row.access_expires_at or 0) - EXPIRY_SKEW_SECONDS > now
        ):
            self._cached_access = (row.access_token, row.access_expires_at or 0)
            return row.access_token
        return self.refresh(refresher, stale_access_token=None)

    def refresh(self, refresher: Refresher, *, stale_access_token: str | None) -> str:
        """Refresh under the cross-process lock, unless another worker already replaced ``stale_access_token``.

        Pass the access token that just got a 401 as ``stale_access_token``; ``None`` means "no usable
        token yet" (first use, or expired by our own clock). ``refresher`` is called at most once,
        while the lock is held: it must make a single, time-bounded attempt (retry outside).
        """
        with self._local_lock:
            grant: TokenGrant | None = None
            stored_token = ""  # what the row holds; an unsaved rotation is matched against it
            now = self._clock()
            try:
                with self._locked() as conn:
                    row = self._reconciled_row(conn)
                    now = self._clock()
                    unsaved = self._unsaved_rotation is not None and self._unsaved_rotation[0] == row.refresh_token
                    if (
                        not unsaved  # the row's access token predates our own, unsaved rotation
                        and row.access_token
                        and row.access_token != stale_access_token
                        and (row.access_expires_at or 0) - EXPIRY_SKEW_SECONDS > now
                    ):
                        self._cached_access = (row.access_token, row.access_expires_at or 0)
                        return row.access_token
                    stored_token = spent = row.refresh_token
                    if unsaved and self._unsaved_rotation is not None:
                        spent = self._unsaved_rotation[1]  # our own rotation that never reached the row
                    grant = refresher(spent)
                    mask_secret(grant.access_token)
                    mask_secret(grant.refresh_token)
                    now = self._clock()
                    conn.execute(update(tokens_table).where(self._where()).values(**self._grant_values(grant, now)))
            except DBAPIError as exc:
                if grant is None:
                    raise
                saved = self._store_with_retries(grant, now, exc)
                self._unsaved_rotation = None if saved else (stored_token, grant.refresh_token)
            else:
                self._unsaved_rotation = None
            if grant is None:  # pragma: no cover - every path without a grant returned or raised above
                raise AssertionError("token refresh produced no grant")
            access_expires_at = now + float(grant.expires_in)
            self._cached_access = (grant.access_token, access_expires_at)
            self._warn_if_refresh_expiring(grant, now)
            return grant.access_token

    def save_authorized(self, grant: TokenGrant) -> None:
        """Store the tokens of a fresh consent (the authorisation-code grant) as the current ones.

        The row is fingerprinted with the connection's refresh token as it is now, so the hook keeps
        using these tokens until an admin pastes a different refresh token into the connection.
        """
        mask_secret(grant.access_token)
        mask_secret(grant.refresh_token)
        now = self._clock()
        values = {**self._grant_values(grant, now), "refresh_count": 0}
        with self._locked() as conn:
            if self._read(conn, for_update=True) is None:
                conn.execute(tokens_table.insert().values(client_id=self._client_id, realm_id=self._realm_id, **values))
            else:
                conn.execute(update(tokens_table).where(self._where()).values(**values))
        self._cached_access = (grant.access_token, now + float(grant.expires_in))
        self._unsaved_rotation = None

    def forget_cached_access_token(self) -> None:
        self._cached_access = None

    def stored_refresh_token(self) -> str | None:
        """The current refresh token (decrypted). For tests and the admin CLI; never log it."""
        with self._engine.connect() as conn:
            row = self._read(conn, for_update=False)
        if row is None or not self._is_ours(row.seed_fingerprint):
            return None
        if row.undecryptable:
            raise self._decrypt_error()
        return row.refresh_token

    # -- internals ---------------------------------------------------------------------------------

    def _is_ours(self, fingerprint: str) -> bool:
        """Whether the row was seeded from the connection's current refresh token (v2 or legacy)."""
        return fingerprint == self._seed_fingerprint or fingerprint in self._legacy_fingerprints

    def _decrypt_error(self) -> QboTokenDecryptError:
        return QboTokenDecryptError(
            f"the stored QuickBooks tokens for realm {self._realm_id} cannot be decrypted by this process: Airflow's "
            "[core] fernet_key (or the connection's client secret) differs from the one that stored them. The row "
            "is left unchanged. Give this process the same fernet key (keep old keys listed while rotating), or "
            "paste a new refresh token into the connection to re-authorise"
        )

    def _grant_values(self, grant: TokenGrant, now: float) -> dict[str, Any]:
        return {
            "refresh_token_enc": self._encrypt(grant.refresh_token),
            "access_token_enc": self._encrypt(grant.access_token),
            "access_expires_at": now + float(grant.expires_in),
            "refresh_expires_at": now + float(grant.refresh_expires_in) if grant.refresh_expires_in else None,
            "seed_fingerprint": self._seed_fingerprint,
            "refreshed_at": now,
            "refresh_count": tokens_table.c.refresh_count + 1,
        }

    def _store_with_retries(self, grant: TokenGrant, now: float, first_error: DBAPIError) -> bool:
        """The refresh worked but saving it failed: retry in fresh transactions, then keep it in memory.

        The spent refresh token is dead at Intuit, so losing the new one means a manual re-authorisation.
        """
        error: DBAPIError = first_error
        for attempt in range(1, STORE_RETRY_ATTEMPTS + 1):
            log.warning(
                "QuickBooks token for realm %s refreshed but not yet saved (%s); save attempt %d of %d",
                self._realm_id,
                type(error.orig).__name__ if error.orig is not None else type(error).__name__,
                attempt,
                STORE_RETRY_ATTEMPTS,
            )
            self._store_retry_sleep(min(2.0, 0.1 * 2**attempt))
            try:
                with self._engine.begin() as conn:
                    conn.execute(update(tokens_table).where(self._where()).values(**self._grant_values(grant, now)))
            except DBAPIError as exc:
                error = exc
                continue
            log.info("QuickBooks token for realm %s saved on attempt %d", self._realm_id, attempt)
            return True
        log.error(
            "QuickBooks refresh token for realm %s was rotated but could NOT be saved to the state database after "
            "%d attempts (%s). This process keeps it in memory for its next refresh; other workers will get "
            "invalid_grant. If this process ends before a save succeeds, re-authorise the app and paste the new "
            "refresh token into the connection",
            self._realm_id,
            STORE_RETRY_ATTEMPTS + 1,
            type(error.orig).__name__ if error.orig is not None else type(error).__name__,
        )
        return False

    def _warn_if_refresh_expiring(self, grant: TokenGrant, now: float) -> None:
        if grant.refresh_expires_in and float(grant.refresh_expires_in) < REFRESH_EXPIRY_WARNING_SECONDS:
            log.warning(
                "QuickBooks refresh token for realm %s expires in %.0f days: re-authorise the app soon",
                self._realm_id,
                float(grant.refresh_expires_in) / 86400,
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if self._is_sqlite:
                # pysqlite would otherwise start a deferred transaction lazily; we need the write lock
                # up front so the re-read below already sees any other worker's refresh.
                conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                try:
                    conn.exec_driver_sql("COMMIT")
                except DBAPIError:
                    with contextlib.suppress(DBAPIError):
                        conn.exec_driver_sql("ROLLBACK")
                    raise
            else:
                with conn.begin():
                    yield conn

    def _where(self) -> Any:
        return (tokens_table.c.client_id == self._client_id) & (tokens_table.c.realm_id == self._realm_id)

    def _read(self, conn: Connection, *, for_update: bool) -> _Row | None:
        statement = select(tokens_table).where(self._where())
        if for_update and not self._is_sqlite:
            statement = statement.with_for_update()
        record = conn.execute(statement).mappings().first()
        if record is None:
            return None
        try:
            refresh_token = self._decrypt(record["refresh_token_enc"])
            access_token = self._decrypt(record["access_token_enc"]) if record["access_token_enc"] else None
        except InvalidToken:
            return _Row("", None, None, None, seed_fingerprint=record["seed_fingerprint"], undecryptable=True)
        mask_secret(refresh_token)
        mask_secret(access_token)
        return _Row(
            refresh_token=refresh_token,
            access_token=access_token,
            access_expires_at=record["access_expires_at"],
            refresh_expires_at=record["refresh_expires_at"],
            seed_fingerprint=record["seed_fingerprint"],
        )

    def _reconciled_row(self, conn: Connection) -> _Row:
        """The locked row; created, or reset only when the connection's refresh token really changed.

        A row this process cannot decrypt but that was seeded from the same connection token raises
        :class:`QboTokenDecryptError` and is left as it is (see the module docstring for why).
        """
        if not self._is_sqlite and self._seed_refresh_token:
            # Make sure a row exists to lock; a concurrent insert by another worker is fine.
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(
                pg_insert(tokens_table)
                .values(**self._seed_values())
                .on_conflict_do_nothing(index_elements=["client_id", "realm_id"])
            )
        row = self._read(conn, for_update=True)
        known = row is not None and (self._is_ours(row.seed_fingerprint) or self._legacy_unverifiable(row))
        if not known and not self._seed_refresh_token:
            raise QboNotAuthorisedError(
                f"QuickBooks company {self._realm_id} has not been connected to this app yet (or the refresh "
                "token stored for it was removed from the connection): run `python -m "
                "qbo_intacct.authorize_quickbooks` and sign in to QuickBooks to connect it"
            )
        if row is None:
            conn.execute(tokens_table.insert().values(**self._seed_values()))
        elif self._is_ours(row.seed_fingerprint) or self._legacy_unverifiable(row):
            if row.undecryptable:
                log.error(
                    "QuickBooks token row for realm %s cannot be decrypted here (fernet key or client secret "
                    "mismatch); leaving it unchanged",
                    self._realm_id,
                )
                raise self._decrypt_error()
            if row.seed_fingerprint != self._seed_fingerprint:
                conn.execute(update(tokens_table).where(self._where()).values(seed_fingerprint=self._seed_fingerprint))
                row.seed_fingerprint = self._seed_fingerprint
            return row
        else:
            log.info("QuickBooks connection for realm %s was re-authorised; using its refresh token", self._realm_id)
            conn.execute(update(tokens_table).where(self._where()).values(**self._seed_values()))
        self._cached_access = None
        self._unsaved_rotation = None
        return _Row(self._seed_refresh_token, None, None, None, self._seed_fingerprint)

    def _legacy_unverifiable(self, row: _Row) -> bool:
        """A pre-v2 fingerprint we cannot check because we lack the key that made it: treat as ours.

        Resetting would throw away a rotated token on a mere key problem; keeping it is safe (it is
        either usable, or undecryptable and raises).
        """
        return row.undecryptable and not row.seed_fingerprint.startswith(_FINGERPRINT_PREFIX)

    def _seed_values(self) -> dict[str, Any]:
        return {
            "client_id": self._client_id,
            "realm_id": self._realm_id,
            "refresh_token_enc": self._encrypt(self._seed_refresh_token),
            "access_token_enc": None,
            "access_expires_at": None,
            "refresh_expires_at": None,
            "seed_fingerprint": self._seed_fingerprint,
            "refreshed_at": None,
            "refresh_count": 0,
        }

    def _encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def _decrypt(self, value: str) -> str:
        return self._fernet.decrypt(value.encode()).decode()
