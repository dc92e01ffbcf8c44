"""Unit tests of the QuickBooks token store on SQLite (the refresher is a plain function: no HTTP here).

The cross-process and real-endpoint behaviour is proven in tests/integration/hooks/test_quickbooks_hook*.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event

from qbo_intacct.hooks._qbo_tokens import (
    QboTokenDecryptError,
    QboTokenStore,
    TokenGrant,
    _airflow_fernet_keys,
    _derive_key,
    engine_for,
    state_database_url,
)
from qbo_intacct.state_db import url_from_connection


class FakeAuthServer:
    """Issues numbered tokens and, like Intuit, accepts each refresh token only once."""

    def __init__(self, first_refresh_token: str) -> None:
        self.valid_refresh = {first_refresh_token}
        self.spent: list[str] = []
        self.issued = 0

    def __call__(self, refresh_token: str) -> TokenGrant:
        if refresh_token not in self.valid_refresh:
            raise PermissionError("invalid_grant")
        self.valid_refresh.discard(refresh_token)
        self.spent.append(refresh_token)
        self.issued += 1
        new_refresh = f"refresh-{self.issued}"
        self.valid_refresh.add(new_refresh)
        return TokenGrant(access_token=f"access-{self.issued}", expires_in=3600, refresh_token=new_refresh)


def _store(db: Path, seed: str = "seed-refresh", secret: str = "client-secret", clock: float = 1000.0) -> QboTokenStore:  # noqa: S107
    return QboTokenStore(
        engine=engine_for(f"sqlite:///{db}"),
        client_id="client-1",
        client_secret=secret,
        realm_id="9130",
        seed_refresh_token=seed,
        clock=lambda: clock,
    )


def test_first_use_spends_the_connection_refresh_token(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    assert _store(tmp_path / "s.db").access_token(server) == "access-1"
    assert server.spent == ["seed-refresh"]


def test_rotated_refresh_token_is_persisted_for_the_next_worker(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    _store(tmp_path / "s.db").access_token(server)
    assert _store(tmp_path / "s.db").stored_refresh_token() == "refresh-1"


def test_a_valid_stored_access_token_is_reused_without_refreshing(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    _store(tmp_path / "s.db").access_token(server)
    assert _store(tmp_path / "s.db").access_token(server) == "access-1"
    assert server.issued == 1


def test_access_token_is_refreshed_before_it_expires(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    _store(tmp_path / "s.db", clock=1000.0).access_token(server)
    # 3600 s lifetime, refreshed when less than 300 s remain
    assert _store(tmp_path / "s.db", clock=1000.0 + 3400).access_token(server) == "access-2"
    assert server.spent == ["seed-refresh", "refresh-1"]


def test_refresh_after_401_uses_another_workers_newer_token_instead_of_spending(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    worker_a, worker_b = _store(tmp_path / "s.db"), _store(tmp_path / "s.db")
    stale = worker_a.access_token(server)
    worker_b.refresh(server, stale_access_token=stale)  # B saw a 401 first and refreshed
    assert worker_a.refresh(server, stale_access_token=stale) == "access-2"
    assert server.issued == 2


def test_tokens_are_encrypted_at_rest(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    _store(tmp_path / "s.db").access_token(server)
    dump = "\n".join(sqlite3.connect(tmp_path / "s.db").iterdump())
    assert "refresh-1" not in dump
    assert "access-1" not in dump
    assert "seed-refresh" not in dump


def test_new_refresh_token_in_connection_resets_the_stored_row(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    _store(tmp_path / "s.db").access_token(server)
    server.valid_refresh.add("admin-reauthorised")
    token = _store(tmp_path / "s.db", seed="admin-reauthorised").access_token(server)
    assert token == "access-2"
    assert server.spent[-1] == "admin-reauthorised"


def test_changed_client_secret_raises_a_typed_error_and_keeps_the_row(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    _store(tmp_path / "s.db").access_token(server)
    with pytest.raises(QboTokenDecryptError, match="fernet_key"):
        _store(tmp_path / "s.db", secret="rotated-secret").access_token(server)
    assert _store(tmp_path / "s.db").stored_refresh_token() == "refresh-1"


@pytest.fixture
def fernet_keys(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set Airflow's ``[core] fernet_key`` for the stores built after the call ("" = no key at all)."""

    def use(keys: str) -> None:
        monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", keys)

    return use


def test_fernet_key_rotation_keeps_the_stored_refresh_token(tmp_path: Path, fernet_keys: Callable[[str], None]) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    server = FakeAuthServer("seed-refresh")
    fernet_keys(old_key)
    _store(tmp_path / "s.db").access_token(server)
    fernet_keys(f"{new_key},{old_key}")  # Airflow's rotation: new key first, old one still listed
    assert _store(tmp_path / "s.db", clock=1000.0 + 3400).access_token(server) == "access-2"
    assert server.spent == ["seed-refresh", "refresh-1"]


def test_a_process_without_the_fernet_key_does_not_clobber_the_row(
    tmp_path: Path, fernet_keys: Callable[[str], None]
) -> None:
    key = Fernet.generate_key().decode()
    server = FakeAuthServer("seed-refresh")
    fernet_keys(key)
    _store(tmp_path / "s.db").access_token(server)
    fernet_keys("")  # e.g. an API server running test_connection without [core] fernet_key
    with pytest.raises(QboTokenDecryptError, match="fernet_key"):
        _store(tmp_path / "s.db", clock=1000.0 + 3400).access_token(server)
    fernet_keys(key)
    assert _store(tmp_path / "s.db").stored_refresh_token() == "refresh-1"
    assert server.spent == ["seed-refresh"]


def test_a_truly_new_connection_token_wins_even_when_the_row_is_undecryptable(
    tmp_path: Path, fernet_keys: Callable[[str], None]
) -> None:
    server = FakeAuthServer("seed-refresh")
    fernet_keys(Fernet.generate_key().decode())
    _store(tmp_path / "s.db").access_token(server)
    fernet_keys(Fernet.generate_key().decode())
    server.valid_refresh.add("admin-reauthorised")
    assert _store(tmp_path / "s.db", seed="admin-reauthorised").access_token(server) == "access-2"
    assert server.spent[-1] == "admin-reauthorised"


def test_a_legacy_hmac_fingerprint_is_recognised_and_upgraded_not_reset(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    _store(tmp_path / "s.db").access_token(server)
    legacy_key = _derive_key("client-secret", "client-1", "9130", (_airflow_fernet_keys() or [""])[0])
    legacy = hmac.new(legacy_key, b"seed-refresh", hashlib.sha256).hexdigest()
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute("UPDATE qbo_oauth_tokens SET seed_fingerprint = ?", (legacy,))
    assert _store(tmp_path / "s.db", clock=1000.0 + 3400).access_token(server) == "access-2"
    assert server.spent == ["seed-refresh", "refresh-1"]
    with sqlite3.connect(tmp_path / "s.db") as db:
        [(fingerprint,)] = db.execute("SELECT seed_fingerprint FROM qbo_oauth_tokens").fetchall()
    assert fingerprint.startswith("v2:")


@contextlib.contextmanager
def _token_updates_fail(db: Path, times: int) -> Iterator[None]:
    """The next ``times`` UPDATEs of the token row fail like a locked database (DB fault injection, no HTTP)."""
    engine = engine_for(f"sqlite:///{db}")
    left = [times]

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE QBO_OAUTH_TOKENS") and left[0] > 0:
            left[0] -= 1
            raise sqlite3.OperationalError("database is locked")

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _quick_store(db: Path) -> QboTokenStore:
    return QboTokenStore(
        engine=engine_for(f"sqlite:///{db}"),
        client_id="client-1",
        client_secret="client-secret",
        realm_id="9130",
        seed_refresh_token="seed-refresh",
        clock=lambda: 1000.0,
        store_retry_sleep=lambda _: None,
    )


def test_a_failed_save_after_a_refresh_is_retried_in_a_fresh_transaction(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    store = _quick_store(tmp_path / "s.db")
    store.access_token(server)
    with _token_updates_fail(tmp_path / "s.db", times=2):
        assert store.refresh(server, stale_access_token="access-1") == "access-2"
    assert _store(tmp_path / "s.db").stored_refresh_token() == "refresh-2"


def test_a_token_that_could_not_be_saved_is_kept_in_memory_for_the_next_refresh(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    store = _quick_store(tmp_path / "s.db")
    store.access_token(server)
    with _token_updates_fail(tmp_path / "s.db", times=100):
        assert store.refresh(server, stale_access_token="access-1") == "access-2"
    assert _store(tmp_path / "s.db").stored_refresh_token() == "refresh-1"
    assert store.refresh(server, stale_access_token="access-2") == "access-3"
    assert server.spent == ["seed-refresh", "refresh-1", "refresh-2"]
    assert _store(tmp_path / "s.db").stored_refresh_token() == "refresh-3"


def test_failed_refresh_leaves_the_stored_token_untouched(tmp_path: Path) -> None:
    server = FakeAuthServer("seed-refresh")
    store = _store(tmp_path / "s.db")
    store.access_token(server)

    def refuse(_: str) -> TokenGrant:
        raise PermissionError("invalid_grant")

    with pytest.raises(PermissionError):
        store.refresh(refuse, stale_access_token="access-1")
    assert store.stored_refresh_token() == "refresh-1"


def test_grant_repr_hides_tokens() -> None:
    grant = TokenGrant(access_token="acc-secret", expires_in=3600, refresh_token="ref-secret")
    assert "secret" not in repr(grant)


def test_sqlite_connection_host_is_the_database_file() -> None:
    url = url_from_connection("sqlite", host="/data/state.db")
    assert url.render_as_string(hide_password=False) == "sqlite:////data/state.db"


def test_postgres_connection_builds_a_psycopg2_url() -> None:
    url = url_from_connection("postgres", host="db", login="u", password="p@ss", port=5432, schema="ledger")
    assert url.render_as_string(hide_password=False) == "postgresql+psycopg2://u:p%40ss@db:5432/ledger"


def test_other_connection_types_are_refused() -> None:
    with pytest.raises(ValueError, match="sqlite or postgres"):
        url_from_connection("mysql", host="db")


_PG_URL = os.environ.get("QBO_INTACCT_TEST_PG_URL")


@pytest.mark.skipif(not _PG_URL, reason="QBO_INTACCT_TEST_PG_URL not set (CI starts a throwaway PostgreSQL)")
def test_postgres_store_serialises_concurrent_refreshes() -> None:
    url = str(_PG_URL).replace("postgresql://", "postgresql+psycopg2://", 1)
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS qbo_oauth_tokens")
    server = FakeAuthServer("seed-refresh")
    slow_lock = threading.Lock()

    def slow_server(refresh_token: str) -> TokenGrant:
        with slow_lock:
            time.sleep(0.2)  # hold the row lock long enough for the other workers to queue behind it
            return server(refresh_token)

    def store() -> QboTokenStore:
        return QboTokenStore(
            engine=engine, client_id="client-pg", client_secret="s", realm_id="1", seed_refresh_token="seed-refresh"
        )

    stale = store().access_token(server)
    tokens: list[str] = []
    workers = [
        threading.Thread(target=lambda: tokens.append(store().refresh(slow_server, stale_access_token=stale)))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert tokens == ["access-2"] * 4
    assert server.spent == ["seed-refresh", "refresh-1"]


def test_without_state_connection_the_store_falls_back_to_airflow_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_QBO_INTACCT_STATE", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert state_database_url() == f"sqlite:///{tmp_path / 'qbo_intacct_state.db'}"


def test_state_connection_names_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "x.db")})
    )
    assert state_database_url() == f"sqlite:///{tmp_path / 'x.db'}"
