"""The sync ledger on a real database: SQLite always, PostgreSQL when CI provides one.

``QBO_INTACCT_TEST_PG_URL`` (set by ``.ci/run``) adds the PostgreSQL variant of every test; each
test starts from a database with no ledger tables (other tables are left alone, as in production).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, inspect, text

from qbo_intacct.ledger.db import dispose_engines, engine_for_url, ledger_engine, normalize_url, url_from_connection
from qbo_intacct.ledger.migrations import LATEST_VERSION, current_version, migrate
from qbo_intacct.ledger.models import Base
from qbo_intacct.ledger.rebuild import apply_rebuild, rebuild_links
from qbo_intacct.ledger.repository import (
    Ledger,
    LinkConflictError,
    LinkRecord,
    ReviewDecision,
    ReviewDraft,
    ReviewItemAlreadyResolvedError,
    ReviewStatus,
    RunStats,
)

PG_URL = os.environ.get("QBO_INTACCT_TEST_PG_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="no PostgreSQL"))]


def _drop_ledger_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in inspect(conn).get_table_names():
            if name.startswith("ledger_"):
                conn.execute(text(f'DROP TABLE "{name}" CASCADE'))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        assert PG_URL is not None
        raw = create_engine(normalize_url(PG_URL))
        _drop_ledger_tables(raw)
        raw.dispose()
        yield PG_URL
    dispose_engines()


@pytest.fixture
def ledger(database_url: str) -> Ledger:
    return Ledger(engine_for_url(database_url))


def _link(source_id: str = "17", target_id: str = "C-00017", **kw: object) -> LinkRecord:
    return LinkRecord(
        flow="customers",
        source_system="qbo",
        source_id=source_id,
        target_system="intacct",
        target_id=target_id,
        **kw,  # type: ignore[arg-type]
    )


def _draft(record_id: str = "58", fingerprint: str = "") -> ReviewDraft:
    return ReviewDraft(
        "customers", "qbo", record_id, "ambiguous_match", "two customers share the name", ["C-1", "C-2"], fingerprint
    )


# --- schema ---------------------------------------------------------------------------------


def test_new_database_is_migrated_to_the_latest_version(ledger: Ledger) -> None:
    assert current_version(ledger.engine) == LATEST_VERSION


def test_migrated_schema_matches_the_orm_models(ledger: Ledger) -> None:
    inspector = inspect(ledger.engine)
    migrated = {t: {c["name"] for c in inspector.get_columns(t)} for t in Base.metadata.tables}
    assert migrated == {t: set(table.columns.keys()) for t, table in Base.metadata.tables.items()}


def test_migrating_twice_changes_nothing(ledger: Ledger) -> None:
    assert (migrate(ledger.engine), current_version(ledger.engine)) == (LATEST_VERSION, LATEST_VERSION)


def test_migration_leaves_other_tables_in_the_same_database_alone(database_url: str) -> None:
    raw = create_engine(normalize_url(database_url))
    tokens = Table(
        "qbo_oauth_tokens_probe", MetaData(), Column("id", Integer, primary_key=True), Column("v", String(8))
    )
    tokens.drop(raw, checkfirst=True)
    tokens.create(raw)
    with raw.begin() as conn:
        conn.execute(tokens.insert().values(id=1, v="kept"))
    migrate(raw)
    with raw.connect() as conn:
        assert conn.execute(tokens.select()).all() == [(1, "kept")]
    tokens.drop(raw)
    raw.dispose()


def test_sqlite_connection_host_is_the_database_file(tmp_path: Path) -> None:
    url = url_from_connection("sqlite", host=str(tmp_path / "s.db"))
    assert (url.get_backend_name(), url.database) == ("sqlite", str(tmp_path / "s.db"))


def test_postgres_password_never_appears_in_the_rendered_url() -> None:
    url = url_from_connection("postgres", host="db", login="airflow", password="s3cret-pw", port=5432, schema="state")
    assert "s3cret-pw" not in str(url)


def test_ledger_engine_uses_the_qbo_intacct_state_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = tmp_path / "from_conn.db"
    monkeypatch.setenv("AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    engine = ledger_engine()
    assert (engine.url.database, db.exists()) == (str(db), True)
    dispose_engines()


# --- links ----------------------------------------------------------------------------------


def test_upserting_the_same_link_twice_keeps_one_row(ledger: Ledger) -> None:
    ledger.upsert_link(_link(source_hashes={"identity": "a"}))
    ledger.upsert_link(_link(source_hashes={"identity": "b"}))
    assert [(link.target_id, link.source_hashes) for link in ledger.links("customers")] == [
        ("C-00017", {"identity": "b"})
    ]


def test_linking_a_target_already_linked_to_another_source_is_refused(ledger: Ledger) -> None:
    ledger.upsert_link(_link("17", "C-00017"))
    with pytest.raises(LinkConflictError, match="already linked to qbo record 17"):
        ledger.upsert_link(_link("18", "C-00017"))


def test_relinking_a_source_needs_an_explicit_decision(ledger: Ledger) -> None:
    ledger.upsert_link(_link("17", "C-00017"))
    with pytest.raises(LinkConflictError, match="a finance decision is needed"):
        ledger.upsert_link(_link("17", "C-00099"))
    ledger.upsert_link(_link("17", "C-00099"), relink=True)
    assert ledger.link_for_source("customers", "qbo", "17").target_id == "C-00099"


def test_links_frame_carries_both_sides_hashes(ledger: Ledger) -> None:
    ledger.upsert_link(_link(source_hashes={"identity": "s1"}, target_hashes={"identity": "t1"}))
    frame = ledger.links_frame("customers")
    assert frame.to_dict("records") == [
        {
            "source_id": "17",
            "target_id": "C-00017",
            "target_key": None,
            "source_hashes": {"identity": "s1"},
            "target_hashes": {"identity": "t1"},
        }
    ]


# --- review items ---------------------------------------------------------------------------


def test_seeing_the_same_problem_again_does_not_open_a_second_item(ledger: Ledger) -> None:
    first = ledger.open_review_item(_draft(), run_id="r1")
    again = ledger.open_review_item(_draft(), run_id="r2")
    assert (again.id, len(ledger.review_items("customers"))) == (first.id, 1)


def test_a_resolved_item_is_never_reopened(ledger: Ledger) -> None:
    item = ledger.open_review_item(_draft(), run_id="r1")
    ledger.resolve_review_item(item.id, decision="link", target_id="C-2", by="maria@finance")
    seen_again = ledger.open_review_item(_draft(), run_id="r2")
    assert (seen_again.status, seen_again.decision_target_id) == (ReviewStatus.RESOLVED, "C-2")


def test_repeating_the_same_decision_is_a_no_op(ledger: Ledger) -> None:
    item = ledger.open_review_item(_draft())
    first = ledger.resolve_review_item(item.id, decision="ignore", by="maria@finance")
    again = ledger.resolve_review_item(item.id, decision="ignore", by="maria@finance")
    assert (again.status, again.resolved_at) == (ReviewStatus.IGNORED, first.resolved_at)


def test_a_different_decision_on_a_resolved_item_is_refused(ledger: Ledger) -> None:
    item = ledger.open_review_item(_draft())
    ledger.resolve_review_item(item.id, decision="create", by="maria@finance")
    with pytest.raises(ReviewItemAlreadyResolvedError, match="decisions are final"):
        ledger.resolve_review_item(item.id, decision="link", target_id="C-1", by="joe@finance")


def test_a_new_conflict_fingerprint_opens_a_new_item(ledger: Ledger) -> None:
    old = ledger.open_review_item(_draft(fingerprint="s1/t1"))
    ledger.resolve_review_item(old.id, decision="ignore", by="maria@finance")
    new = ledger.open_review_item(_draft(fingerprint="s2/t2"))
    assert (new.id != old.id, new.status) == (True, ReviewStatus.OPEN)


def test_resolved_decisions_wait_for_the_next_run_then_are_marked_applied(ledger: Ledger) -> None:
    item = ledger.open_review_item(_draft())
    ledger.resolve_record("customers", "qbo", "58", decision=ReviewDecision.LINK, target_id="C-1", by="workbook")
    pending = ledger.pending_decisions("customers")
    ledger.mark_applied([item.id], "r3")
    assert ([p.id for p in pending], ledger.pending_decisions("customers")) == ([item.id], [])


# --- run stats ------------------------------------------------------------------------------


def test_a_retried_run_overwrites_its_own_stats_row(ledger: Ledger) -> None:
    ledger.record_run(RunStats("customers", "manual__1", read=10, created=3))
    ledger.record_run(RunStats("customers", "manual__1", read=10, created=4, status="success"))
    stats = ledger.run_stats("customers", "manual__1")
    assert (stats.created, stats.status) == (4, "success")


# --- rebuild --------------------------------------------------------------------------------


def _key(qbo_id: str) -> str:
    return f"Q{int(qbo_id):06d}"


QBO = pd.DataFrame({"source_id": ["17", "18", "19", "20"]})
INTACCT = pd.DataFrame(
    {
        "target_id": ["Q000017", "Q000018", "C-HAND", "X-1", "X-2"],
        "target_key": ["Q000017", "Q000018", "C-HAND", "X-1", "X-2"],
        "source_ref": [None, "18", None, "20", "20"],
    }
)


def test_rebuild_links_by_deterministic_key_and_stored_reference() -> None:
    result = rebuild_links(
        "customers", source_system="qbo", target_system="intacct", sources=QBO, targets=INTACCT, deterministic_key=_key
    )
    assert [(link.source_id, link.target_id) for link in result.links] == [("17", "Q000017"), ("18", "Q000018")]


def test_rebuild_reports_a_source_claimed_by_two_targets_instead_of_linking() -> None:
    result = rebuild_links(
        "customers", source_system="qbo", target_system="intacct", sources=QBO, targets=INTACCT, deterministic_key=_key
    )
    assert ([(c.source_id, c.target_ids) for c in result.conflicts], result.unclaimed_targets) == (
        [("20", ("X-1", "X-2"))],
        ["C-HAND"],
    )


def test_applying_a_rebuild_twice_creates_no_duplicate_links(ledger: Ledger) -> None:
    result = rebuild_links(
        "customers", source_system="qbo", target_system="intacct", sources=QBO, targets=INTACCT, deterministic_key=_key
    )
    apply_rebuild(ledger, result)
    apply_rebuild(ledger, result)
    assert len(ledger.links("customers")) == 2


def test_rebuild_command_restores_links_from_staged_extracts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from qbo_intacct.flows.staging import stage_frame
    from qbo_intacct.ledger.cli import main

    db = tmp_path / "state.db"
    monkeypatch.setenv("AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    root = (tmp_path / "staging").as_uri()
    sources = stage_frame(QBO, flow="customers", run_id="rebuild", name="qbo", root=root)
    targets = stage_frame(INTACCT.head(2), flow="customers", run_id="rebuild", name="intacct", root=root)
    code = main(
        [
            "rebuild",
            "--flow",
            "customers",
            "--sources",
            sources.path,
            "--targets",
            targets.path,
            "--key-prefix",
            "Q0000",
        ]
    )
    links = Ledger(engine_for_url(f"sqlite:///{db}")).links("customers")
    assert (code, [(link.source_id, link.target_id) for link in links]) == (0, [("17", "Q000017"), ("18", "Q000018")])
    assert "2 links rebuilt" in capsys.readouterr().out
    dispose_engines()
