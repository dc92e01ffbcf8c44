"""The ledger's directory of matching keys (qbo_intacct/ledger/directory.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from qbo_intacct.ledger import directory
from qbo_intacct.ledger.db import normalize_url
from qbo_intacct.ledger.migrations import migrate

PG_URL = os.environ.get("QBO_INTACCT_TEST_PG_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="no PostgreSQL"))]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        eng = create_engine(normalize_url(str(PG_URL)))
        with eng.begin() as conn:
            for table in ("ledger_directory_keys", "ledger_directory_state", "ledger_schema_version"):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    migrate(eng)
    yield eng
    eng.dispose()


def test_a_system_is_incomplete_until_a_whole_read_rebuilt_it(engine: Engine) -> None:
    assert not directory.is_complete(engine, "customers", "intacct")
    directory.remember(engine, "customers", "intacct", {"C-1": [("email", "a@x.example")]}, complete=False)
    assert not directory.is_complete(engine, "customers", "intacct")
    directory.remember(engine, "customers", "intacct", {"C-2": [("email", "b@x.example")]}, complete=True)
    assert directory.is_complete(engine, "customers", "intacct")
    assert not directory.is_complete(engine, "customers", "qbo")
    assert not directory.is_complete(engine, "vendors", "intacct")
    # the whole read replaced everything: C-1 was not in it any more
    assert directory.find(engine, "customers", "intacct", [("email", "a@x.example")]) == {}


def test_a_window_read_replaces_the_keys_of_the_records_it_read_only(engine: Engine) -> None:
    directory.remember(
        engine,
        "customers",
        "intacct",
        {"C-1": [("email", "a@x.example"), ("name", "acme")], "C-2": [("name", "acme")]},
        complete=True,
    )
    directory.remember(engine, "customers", "intacct", {"C-1": [("email", "new@x.example")]}, complete=False)
    found = directory.find(
        engine, "customers", "intacct", [("email", "a@x.example"), ("email", "new@x.example"), ("name", "acme")]
    )
    assert found == {("email", "new@x.example"): ["C-1"], ("name", "acme"): ["C-2"]}


def test_keys_are_scoped_by_flow_and_system_and_many_are_found_in_chunks(engine: Engine) -> None:
    many = {f"C-{n}": [("name", f"company {n}")] for n in range(1200)}
    directory.remember(engine, "customers", "intacct", many, complete=True)
    directory.remember(engine, "vendors", "intacct", {"V-1": [("name", "company 7")]}, complete=True)
    directory.remember(engine, "customers", "qbo", {"7": [("name", "company 7")]}, complete=True)
    found = directory.find(engine, "customers", "intacct", [("name", f"company {n}") for n in range(0, 1200, 2)])
    assert len(found) == 600
    assert found[("name", "company 8")] == ["C-8"]
    assert directory.find(engine, "customers", "intacct", [("name", "company 7")]) == {("name", "company 7"): ["C-7"]}
