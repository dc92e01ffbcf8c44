"""IntacctHook against the Intacct sandbox over real HTTP: sessions, reads, idempotent writes, faults.

Every test starts from empty books (the ``intacct_sandbox`` fixture resets them) and talks to the
sandbox through ``AIRFLOW_CONN_INTACCT_DEFAULT``, exactly as a deployment talks to Intacct.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from qbo_intacct.hooks._transport import RetryPolicy
from qbo_intacct.hooks.intacct import (
    Filter,
    IntacctAuthError,
    IntacctControlError,
    IntacctFunction,
    IntacctHook,
    IntacctValueError,
    IntacctXmlError,
)

FAST_RETRIES = RetryPolicy(max_attempts=6, base=0.01, cap=0.05, max_total=5.0)
#: Production waits (5 s after throttling, 30 s before resending a lost write) shrunk for tests; the
#: waits themselves are checked without sleeping in test_intacct_hook_policy.py.
FAST: dict[str, Any] = {
    "retry_policy": FAST_RETRIES,
    "throttle_floor_seconds": 0.01,
    "write_resend_delay_seconds": 0.01,
}
NASTY_NAME = 'O\'Brien & Sons <Ltd> "Intl"'


def _requests(sandbox: Any, operation: str, status: int | str = 200) -> int:
    """Gateway requests the sandbox saw for one operation and status, counted from its request log."""
    return sum(
        1
        for row in sandbox.log()
        if row["endpoint"] == "xmlgw" and row["operation"] == operation and row["status"] == status
    )


def _wait_until_idle(sandbox: Any) -> None:
    """Let requests an earlier test abandoned (client timeouts) finish on the server side."""
    import time

    import requests

    deadline = time.monotonic() + 10
    while (
        requests.get(f"{sandbox.admin}/intacct/inflight", timeout=5).json()["in_flight"] and time.monotonic() < deadline
    ):
        time.sleep(0.02)


def _customer(n: int, **extra: Any) -> dict[str, Any]:
    return {"CUSTOMERID": f"C{n:04d}", "NAME": f"Customer {n}", **extra}


@pytest.fixture(autouse=True)
def own_state_database(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own state database: sessions one test's hooks stored never serve another test."""
    state = {"conn_type": "sqlite", "host": str(tmp_path / "qbo_intacct_state.db")}
    monkeypatch.setenv("AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps(state))


@pytest.fixture
def hook(intacct_sandbox: Any) -> IntacctHook:
    return IntacctHook(**FAST)


def _customers(hook: IntacctHook, entity_id: str | None = None, **kw: Any) -> list[dict[str, Any]]:
    return list(hook.iter_query("CUSTOMER", ["RECORDNO", "CUSTOMERID", "NAME"], entity_id=entity_id, **kw))


# ------------------------------------------------------------------------------------ connection


def test_test_connection_succeeds_with_the_sandbox_credentials(hook: IntacctHook) -> None:
    ok, message = hook.test_connection()
    assert ok, message


@pytest.fixture
def bad_password_conn(intacct_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = json.loads(os.environ["AIRFLOW_CONN_INTACCT_DEFAULT"])
    conn["password"] = "definitely-not-the-password"
    monkeypatch.setenv("AIRFLOW_CONN_INTACCT_BADPW", json.dumps(conn))
    return "intacct_badpw"


def test_test_connection_reports_a_wrong_user_password_without_echoing_it(bad_password_conn: str) -> None:
    ok, message = IntacctHook(intacct_conn_id=bad_password_conn, retry_policy=FAST_RETRIES).test_connection()
    assert not ok
    assert "definitely-not-the-password" not in message


def test_wrong_user_password_raises_an_auth_error_and_is_not_retried(
    bad_password_conn: str, intacct_sandbox: Any
) -> None:
    with pytest.raises(IntacctAuthError):
        _customers(IntacctHook(intacct_conn_id=bad_password_conn, retry_policy=FAST_RETRIES))
    assert [(r["operation"], r["status"]) for r in intacct_sandbox.log()] == [("getAPISession", 200)]


def test_hook_refuses_a_password_argument() -> None:
    with pytest.raises(TypeError, match="connection"):
        IntacctHook(password="x")  # type: ignore[call-arg]


def test_entities_lists_the_company_entities(hook: IntacctHook) -> None:
    currencies = {e["LOCATIONID"]: e["CURRENCY"] for e in hook.entities()}
    assert currencies == {"US": "USD", "UK": "GBP", "CA": "CAD"}


# ------------------------------------------------------------------------------------ writes


def test_customer_name_with_markup_characters_round_trips_byte_for_byte(hook: IntacctHook) -> None:
    [result] = hook.create("CUSTOMER", [{"CUSTOMERID": "C-OBRIEN", "NAME": NASTY_NAME}], keys=["customers:qbo:1"])
    assert result.ok, result.errors
    [by_name] = hook.read_by_name("CUSTOMER", ["C-OBRIEN"])
    [by_recordno] = hook.read("CUSTOMER", [result.record_no or ""])
    [queried] = list(hook.iter_query("CUSTOMER", ["NAME"], Filter.equal("NAME", NASTY_NAME)))
    assert by_name["NAME"] == by_recordno["NAME"] == queried["NAME"] == NASTY_NAME
    assert by_name["NAME"].encode("utf-8") == NASTY_NAME.encode("utf-8")


def test_250_record_create_goes_out_as_a_handful_of_requests_with_one_result_per_record(
    hook: IntacctHook, intacct_sandbox: Any
) -> None:
    records = [_customer(n) for n in range(250)]
    results = hook.create("CUSTOMER", records, keys=[f"customers:qbo:{n}" for n in range(250)])
    assert len(results) == 250
    assert all(r.ok for r in results)
    assert len({r.record_no for r in results}) == 250
    assert [r.record_key for r in results] == [f"customers:qbo:{n}" for n in range(250)]
    assert _requests(intacct_sandbox, "create") == 5  # 50 functions per request
    assert len(_customers(hook)) == 250


def test_functions_per_request_is_configurable(intacct_sandbox: Any) -> None:
    hook = IntacctHook(functions_per_request=100, retry_policy=FAST_RETRIES)
    hook.create("CUSTOMER", [_customer(n) for n in range(250)], keys=[f"c:{n}" for n in range(250)])
    assert _requests(intacct_sandbox, "create") == 3


def test_request_size_bound_splits_requests(intacct_sandbox: Any) -> None:
    hook = IntacctHook(max_request_bytes=8_000, retry_policy=FAST_RETRIES)
    records = [_customer(n, NAME="N" * 1_000 + str(n)) for n in range(20)]
    results = hook.create("CUSTOMER", records, keys=[f"c:{n}" for n in range(20)])
    assert all(r.ok for r in results)
    assert _requests(intacct_sandbox, "create") >= 3


# EXCHANGERATE has no unique ID field, so nothing but the function controlid stops a second copy.
RATE = {
    "FROM_CURRENCY": "GBP",
    "TO_CURRENCY": "USD",
    "EFFECTIVE_START_DATE": date(2031, 1, 31),
    "RATE": Decimal("1.2712"),
}


def _rates_on_2031_01_31(hook: IntacctHook) -> list[dict[str, Any]]:
    return list(
        hook.iter_query("EXCHANGERATE", ["RECORDNO", "RATE"], Filter.equal("EFFECTIVE_START_DATE", date(2031, 1, 31)))
    )


def test_lost_response_then_retry_posts_exactly_one_record(hook: IntacctHook, intacct_sandbox: Any) -> None:
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "create", "kind": "lost_response", "count": 1})
    [result] = hook.create("EXCHANGERATE", [RATE], keys=["rates:gbp-usd:2031-01-31"])
    assert result.ok
    assert [r["RATE"] for r in _rates_on_2031_01_31(hook)] == [Decimal("1.2712")]
    assert intacct_sandbox.counters()["records_written"] == 1
    assert hook.retries == 1
    assert result.record_no == _rates_on_2031_01_31(hook)[0]["RECORDNO"]


def test_lost_response_in_a_batch_posts_each_record_once(hook: IntacctHook, intacct_sandbox: Any) -> None:
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "create", "kind": "lost_response", "count": 1, "skip": 1})
    results = hook.create("CUSTOMER", [_customer(n) for n in range(120)], keys=[f"c:{n}" for n in range(120)])
    assert all(r.ok for r in results)
    assert len(_customers(hook)) == 120
    assert intacct_sandbox.counters()["records_written"] == 120


def test_rerun_with_the_same_keys_posts_nothing_new(hook: IntacctHook, intacct_sandbox: Any) -> None:
    keys = [f"customers:qbo:{n}" for n in range(3)]
    first = hook.create("CUSTOMER", [_customer(n) for n in range(3)], keys=keys)
    again = IntacctHook(retry_policy=FAST_RETRIES).create("CUSTOMER", [_customer(n) for n in range(3)], keys=keys)
    assert all(r.ok for r in first + again)
    assert len(_customers(hook)) == 3
    assert intacct_sandbox.counters()["records_written"] == 3


def test_failed_function_gets_a_typed_result_and_the_others_still_post(hook: IntacctHook) -> None:
    hook.create("CUSTOMER", [_customer(1)], keys=["first:1"])
    results = hook.create(
        "CUSTOMER",
        [_customer(2), _customer(1, NAME="Duplicate id"), _customer(3)],
        keys=["k:2", "k:dup", "k:3"],
        record_keys=["qbo:2", "qbo:dup", "qbo:3"],
    )
    assert [r.ok for r in results] == [True, False, True]
    failed = results[1]
    assert failed.record_key == "qbo:dup"
    assert failed.errorno
    assert failed.description2 or failed.description
    err = failed.error()
    assert err is not None
    assert err.record_key == "qbo:dup"
    assert err.errorno == failed.errorno
    assert len(_customers(hook)) == 3


def test_transaction_mode_rolls_back_every_function_when_one_fails(hook: IntacctHook) -> None:
    hook.create("CUSTOMER", [_customer(1)], keys=["first:1"])
    results = hook.create(
        "CUSTOMER", [_customer(2), _customer(1, NAME="Duplicate id")], keys=["k:2", "k:dup"], transaction=True
    )
    assert [r.status for r in results] == ["aborted", "failure"]
    assert results[0].errorno
    assert len(_customers(hook)) == 1


def test_transaction_mode_refuses_work_that_needs_more_than_one_request(hook: IntacctHook) -> None:
    with pytest.raises(IntacctValueError, match="one request"):
        hook.create("CUSTOMER", [_customer(n) for n in range(60)], keys=[f"k:{n}" for n in range(60)], transaction=True)


def test_float_amount_is_refused_before_anything_is_sent(hook: IntacctHook, intacct_sandbox: Any) -> None:
    with pytest.raises(IntacctValueError) as err:
        hook.create("CUSTOMER", [_customer(1), _customer(2, CREDITLIMIT=100.5)], keys=["k:1", "k:2"])
    assert err.value.record_key == "k:2"
    assert err.value.field_name == "CUSTOMER.CREDITLIMIT"
    assert intacct_sandbox.log() == []


def test_duplicate_idempotency_keys_in_one_call_are_refused(hook: IntacctHook) -> None:
    with pytest.raises(IntacctValueError, match="twice"):
        hook.create("CUSTOMER", [_customer(1), _customer(2)], keys=["same", "same"])


def test_update_changes_a_field_and_money_reads_back_as_decimal(hook: IntacctHook) -> None:
    [created] = hook.create("CUSTOMER", [_customer(1, CREDITLIMIT=Decimal("1000.10"))], keys=["c:1"])
    [updated] = hook.update(
        "CUSTOMER", [{"RECORDNO": created.record_no, "CREDITLIMIT": Decimal("2500.25")}], keys=["c:1:v2"]
    )
    assert updated.ok, updated.errors
    [record] = hook.read("CUSTOMER", [created.record_no or ""], ["RECORDNO", "CREDITLIMIT"])
    assert record["CREDITLIMIT"] == Decimal("2500.25")


def test_delete_removes_the_record(hook: IntacctHook) -> None:
    [created] = hook.create("CUSTOMER", [_customer(1)], keys=["c:1"])
    [deleted] = hook.delete("CUSTOMER", [created.record_no or ""], keys=["c:1:delete"])
    assert deleted.ok, deleted.errors
    assert _customers(hook) == []


def test_run_functions_mixes_function_kinds_in_one_request(hook: IntacctHook, intacct_sandbox: Any) -> None:
    results = hook.run_functions(
        [
            IntacctFunction("create", {"CUSTOMER": _customer(1)}, "c:1", "qbo:1"),
            IntacctFunction("create", {"VENDOR": {"VENDORID": "V1", "NAME": "Vendor 1"}}, "v:1", "qbo:v1"),
        ]
    )
    assert [r.ok for r in results] == [True, True]
    assert _requests(intacct_sandbox, "create") == 1


# ------------------------------------------------------------------------------------ reads


def test_query_pages_to_completion(hook: IntacctHook, intacct_sandbox: Any) -> None:
    hook.create("CUSTOMER", [_customer(n) for n in range(25)], keys=[f"c:{n}" for n in range(25)])
    intacct_sandbox.reset_counters()
    rows = list(hook.iter_query("CUSTOMER", ["RECORDNO", "CUSTOMERID"], page_size=10))
    assert sorted(r["CUSTOMERID"] for r in rows) == [f"C{n:04d}" for n in range(25)]
    assert _requests(intacct_sandbox, "query") == 3


def test_query_frame_has_one_row_per_record_with_decimal_money(hook: IntacctHook) -> None:
    hook.create(
        "CUSTOMER", [_customer(n, CREDITLIMIT=Decimal(f"{n}.10")) for n in range(3)], keys=[f"c:{n}" for n in range(3)]
    )
    frame = hook.query_frame("CUSTOMER", ["CUSTOMERID", "CREDITLIMIT"])
    assert len(frame) == 3
    assert sorted(frame["CREDITLIMIT"]) == [Decimal("0.10"), Decimal("1.10"), Decimal("2.10")]


def test_iter_changed_returns_only_records_modified_in_the_window(hook: IntacctHook, intacct_sandbox: Any) -> None:
    hook.create("CUSTOMER", [_customer(1)], keys=["c:1"])
    [first] = list(hook.iter_query("CUSTOMER", ["CUSTOMERID", "WHENMODIFIED"]))
    intacct_sandbox.advance_clock(600)
    hook.create("CUSTOMER", [_customer(2)], keys=["c:2"])
    later = first["WHENMODIFIED"] + timedelta(seconds=300)
    early = [r["CUSTOMERID"] for r in hook.iter_changed("CUSTOMER", ["CUSTOMERID"], first["WHENMODIFIED"], later)]
    late = [r["CUSTOMERID"] for r in hook.iter_changed("CUSTOMER", ["CUSTOMERID"], later)]
    assert early == ["C0001"]
    assert late == ["C0002"]
    assert first["WHENMODIFIED"].tzinfo is not None


def test_an_edit_mid_read_does_not_make_the_next_page_of_changes_skip_one(
    hook: IntacctHook, intacct_sandbox: Any
) -> None:
    """In WHENMODIFIED order with offsets, C0003 would be lost: C0001's edit moves it out of the
    window, every later record moves up a place, and page 2 starts one too far."""
    for n in range(1, 6):
        hook.create("CUSTOMER", [_customer(n)], keys=[f"changed-mid-read:{n}"])
        intacct_sandbox.advance_clock(60)
    stamps = {r["CUSTOMERID"]: r["WHENMODIFIED"] for r in hook.iter_query("CUSTOMER", ["CUSTOMERID", "WHENMODIFIED"])}
    reader = hook.iter_changed(
        "CUSTOMER", ["CUSTOMERID"], stamps["C0001"], stamps["C0005"] + timedelta(seconds=30), page_size=2
    )
    seen = [next(reader)["CUSTOMERID"], next(reader)["CUSTOMERID"]]
    [edited] = hook.update("CUSTOMER", [{"CUSTOMERID": "C0001", "NAME": "Edited mid-read"}], keys=["edit:C0001"])
    assert edited.ok
    seen += [row["CUSTOMERID"] for row in reader]
    assert seen == ["C0001", "C0002", "C0003", "C0004", "C0005"]


def test_entity_session_cannot_see_another_entitys_records(hook: IntacctHook) -> None:
    [created] = hook.create("CUSTOMER", [_customer(1)], keys=["c:us:1"], entity_id="US")
    assert created.ok, created.errors
    assert [r["CUSTOMERID"] for r in _customers(hook, entity_id="US")] == ["C0001"]
    assert _customers(hook, entity_id="UK") == []
    assert hook.read("CUSTOMER", [created.record_no or ""], entity_id="UK") == []


def test_top_level_with_show_private_sees_entity_records(hook: IntacctHook) -> None:
    hook.create("CUSTOMER", [_customer(1)], keys=["c:us:1"], entity_id="US")
    hook.create("CUSTOMER", [_customer(2)], keys=["c:uk:2"], entity_id="UK")
    seen = {r["CUSTOMERID"] for r in _customers(hook, entity_id="", show_private=True)}
    assert seen == {"C0001", "C0002"}


def test_sessions_are_cached_per_entity(hook: IntacctHook, intacct_sandbox: Any) -> None:
    for _ in range(3):
        _customers(hook, entity_id="US")
        _customers(hook, entity_id="")
    assert _requests(intacct_sandbox, "getAPISession") == 2


# ------------------------------------------------------------------------------------ sessions and faults


@pytest.fixture
def short_sessions(intacct_sandbox: Any) -> Iterator[Any]:
    """Sessions that expire after 5 minutes of sandbox time (restored to 24 h afterwards)."""
    intacct_sandbox.configure(session_timeout_seconds=300)
    try:
        yield intacct_sandbox
    finally:
        intacct_sandbox.configure(session_timeout_seconds=86_400)


def test_expired_session_is_renewed_without_the_caller_noticing(hook: IntacctHook, short_sessions: Any) -> None:
    intacct_sandbox = short_sessions
    _customers(hook)
    intacct_sandbox.advance_clock(3600)
    [result] = hook.create("CUSTOMER", [_customer(1)], keys=["c:1"])
    assert result.ok
    assert len(_customers(hook)) == 1
    assert hook.sessions_opened == 2


@pytest.mark.parametrize("kind", ["429", "500", "503", "reset"])
def test_transient_failures_are_retried(kind: str, hook: IntacctHook, intacct_sandbox: Any) -> None:
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "query", "kind": kind, "count": 2})
    _customers(hook)
    assert hook.retries == 2


def test_a_write_the_gateway_gave_up_on_is_not_resent_and_a_rerun_replays_it(
    hook: IntacctHook, intacct_sandbox: Any
) -> None:
    """HTTP 504: the backend may still be running the write, and uniqueid only dedupes completed
    functions, so the hook stops instead of racing it; the rerun (same keys) posts nothing new."""
    _customers(hook)  # the session is open before the fault applies
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "create", "kind": "gateway_timeout", "count": 1})
    with pytest.raises(IntacctControlError, match="may still be processing") as caught:
        hook.create("CUSTOMER", [_customer(1)], keys=["gave-up:1"])
    assert caught.value.http_status == 504
    assert hook.retries == 0
    [rerun] = hook.create("CUSTOMER", [_customer(1)], keys=["gave-up:1"])
    assert rerun.ok
    assert [c["CUSTOMERID"] for c in _customers(hook)] == ["C0001"]
    assert intacct_sandbox.counters()["records_written"] == 1


def test_a_read_the_gateway_gave_up_on_is_simply_asked_again(hook: IntacctHook, intacct_sandbox: Any) -> None:
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "query", "kind": "gateway_timeout", "count": 1})
    assert _customers(hook) == []
    assert hook.retries == 1


def test_timeout_is_retried_and_the_write_posts_once(intacct_sandbox: Any) -> None:
    hook = IntacctHook(timeout=(2.0, 0.5), write_timeout=(2.0, 0.5), **FAST)
    _customers(hook)  # open the session before the slow fault applies
    intacct_sandbox.faults(
        {"endpoint": "xmlgw", "operation": "create", "kind": "latency", "latency_ms": 1500, "count": 1}
    )
    [result] = hook.create("EXCHANGERATE", [RATE], keys=["rates:gbp-usd:2031-01-31"])
    _wait_until_idle(intacct_sandbox)  # the abandoned first attempt now runs, and is a replay
    assert result.ok
    assert hook.retries == 1
    assert len(_rates_on_2031_01_31(hook)) == 1
    assert intacct_sandbox.counters()["records_written"] == 1


def test_persistent_server_errors_give_up_with_a_typed_error(hook: IntacctHook, intacct_sandbox: Any) -> None:
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "query", "kind": "503"})
    with pytest.raises(IntacctControlError, match="attempts"):
        _customers(hook)


def test_a_write_that_fails_midway_returns_the_completed_results_and_a_rerun_completes_it(
    hook: IntacctHook, intacct_sandbox: Any
) -> None:
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "create", "kind": "503", "skip": 1})
    records, keys = [_customer(n) for n in range(80)], [f"c:{n}" for n in range(80)]
    with pytest.raises(IntacctControlError) as err:
        hook.create("CUSTOMER", records, keys=keys)
    assert [r.record_key for r in err.value.partial_results] == keys[:50]
    intacct_sandbox.clear_faults()
    rerun = hook.create("CUSTOMER", records, keys=keys)
    assert [r.record_no for r in rerun[:50]] == [r.record_no for r in err.value.partial_results]
    assert len(_customers(hook)) == 80


def test_concurrent_callers_stay_within_two_requests_in_flight(intacct_sandbox: Any) -> None:
    hook = IntacctHook(retry_policy=RetryPolicy(max_attempts=1))  # a server refusal would fail the test
    _customers(hook)
    _wait_until_idle(intacct_sandbox)
    intacct_sandbox.configure(limits={"concurrent": 2})
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "query", "kind": "latency", "latency_ms": 150})
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _customers(hook)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        intacct_sandbox.clear_faults()  # the limit set above is the start-up one; the next reset restores it anyway
    assert errors == []
    assert _requests(intacct_sandbox, "query") == 7


def test_api_transactions_are_counted_like_the_gateway_counts_them(hook: IntacctHook, intacct_sandbox: Any) -> None:
    hook.create("CUSTOMER", [_customer(n) for n in range(7)], keys=[f"c:{n}" for n in range(7)])
    _customers(hook)
    hook.read_by_name("CUSTOMER", ["C0001"])
    assert hook.api_transactions == 9
    assert intacct_sandbox.counters()["api_transactions"] == hook.api_transactions
    assert hook.usage()["api_transactions"] == 9


# ------------------------------------------------------------------------------------ logs


def test_each_request_attempt_logs_one_line_with_control_id_functions_status_and_record_keys(
    hook: IntacctHook, intacct_sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    hook.test_connection()
    capsys.readouterr()
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "create", "kind": "500", "count": 1})
    hook.create("CUSTOMER", [_customer(1), _customer(2)], keys=["k:1", "k:2"], record_keys=["qbo:1", "qbo:2"])
    lines = [line for line in capsys.readouterr().out.splitlines() if "Intacct request req-" in line]
    assert len(lines) == 2
    first, second = lines
    control_id = first.split("Intacct request ", 1)[1].split(":", 1)[0]
    assert control_id in second  # a retry logs under the same request control id
    assert "2 function(s) [createx2]" in first
    assert "attempt=1 http=500" in first
    assert "attempt=2 http=200 status=success" in second
    assert "records=qbo:1,qbo:2" in second
    assert "Customer 1" not in first + second  # never record content


# ------------------------------------------------------------------------------------ secrets in logs


@pytest.fixture
def every_log_line() -> Iterator[list[str]]:
    import logging

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))
            if record.exc_info:
                lines.append(logging.Formatter().formatException(record.exc_info))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_no_secret_appears_in_any_log_line(
    every_log_line: list[str],
    short_sessions: Any,
    bad_password_conn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    intacct_sandbox = short_sessions
    hook = IntacctHook(**FAST)
    intacct_sandbox.faults({"endpoint": "xmlgw", "operation": "create", "kind": "lost_response", "count": 1})
    hook.create("CUSTOMER", [_customer(1, NAME=NASTY_NAME)], keys=["c:1"])
    session_ids = {s.session_id for s in hook._sessions.values()}
    intacct_sandbox.advance_clock(3600)
    _customers(hook, entity_id="US")
    _customers(hook)
    session_ids |= {s.session_id for s in hook._sessions.values()}
    IntacctHook(intacct_conn_id=bad_password_conn, retry_policy=FAST_RETRIES).test_connection()

    info = intacct_sandbox.info
    secrets = [info["sender_password"], info["user_password"], "definitely-not-the-password", *session_ids]
    assert len(session_ids) == 3  # top level before and after expiry, and the US entity
    captured = capsys.readouterr()
    text = "\n".join(every_log_line) + captured.out + captured.err
    assert "Intacct request" in text  # the hook did log its requests
    for secret in secrets:
        assert secret not in text


def test_a_record_deleted_mid_read_does_not_make_the_next_page_skip_one(hook: IntacctHook) -> None:
    """Offset paging would skip customer 3 here: page 2 would start at offset 2 of a shorter list."""
    created = hook.create("CUSTOMER", [_customer(n) for n in range(1, 6)], keys=[f"mid-read:{n}" for n in range(1, 6)])
    reader = hook.iter_query("CUSTOMER", ["CUSTOMERID"], page_size=2)
    seen = [next(reader)["CUSTOMERID"], next(reader)["CUSTOMERID"]]
    [deleted] = hook.delete("CUSTOMER", [created[0].record_no], keys=["mid-read:delete:1"])
    assert deleted.ok
    seen += [row["CUSTOMERID"] for row in reader]
    assert seen == ["C0001", "C0002", "C0003", "C0004", "C0005"]


# ------------------------------------------------------------------------------------ sessions across tasks


def test_the_next_task_reuses_the_entity_sessions_the_first_one_opened(intacct_sandbox: Any) -> None:
    first_task, second_task = IntacctHook(**FAST), IntacctHook(**FAST)
    _customers(first_task, entity_id="US")
    _customers(first_task, entity_id="")
    _customers(second_task, entity_id="US")
    _customers(second_task, entity_id="")
    assert _requests(intacct_sandbox, "getAPISession") == 2
    assert (first_task.sessions_opened, second_task.sessions_opened) == (2, 0)


def test_a_stored_session_intacct_refuses_is_replaced_by_one_new_sign_in(intacct_sandbox: Any) -> None:
    from qbo_intacct.hooks._intacct_sessions import StoredSession

    hook = IntacctHook(**FAST)
    far_future = 4_000_000_000.0
    hook._stored_sessions.put("", StoredSession("not-a-session", hook._settings.endpoint_url, far_future), now=0.0)
    assert _customers(hook, entity_id="", show_private=True) == []
    assert _requests(intacct_sandbox, "getAPISession") == 1
    stored = IntacctHook(**FAST)._stored_sessions.get("", valid_after=0.0)
    assert stored is not None
    assert stored.session_id != "not-a-session"  # the new session replaced the refused one


def test_the_stored_session_is_encrypted_at_rest(intacct_sandbox: Any, tmp_path: Any) -> None:
    import sqlite3

    hook = IntacctHook(**FAST)
    _customers(hook)
    session_id = hook._session(hook.default_entity).session_id
    raw = sqlite3.connect(tmp_path / "qbo_intacct_state.db").execute(
        "SELECT session_enc FROM qbo_intacct_intacct_sessions"
    )
    assert all(session_id not in row[0] for row in raw)


# ------------------------------------------------------------------------------------ failures that name where


def test_a_wrong_password_names_connection_and_host_says_what_to_fix_and_signs_in_once(
    bad_password_conn: str, intacct_sandbox: Any
) -> None:
    with pytest.raises(IntacctAuthError) as caught:
        _customers(IntacctHook(intacct_conn_id=bad_password_conn, **FAST))
    message = str(caught.value)
    host = json.loads(os.environ["AIRFLOW_CONN_INTACCT_DEFAULT"])["extra"]["endpoint_url"].split("/")[2]
    assert bad_password_conn in message
    assert host in message
    assert "user password" in message
    assert "not retried" in message
    assert "definitely-not-the-password" not in message
    assert _requests(intacct_sandbox, "getAPISession") == 1


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_host_fails_in_seconds_naming_connection_and_host(
    intacct_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    conn = json.loads(os.environ["AIRFLOW_CONN_INTACCT_DEFAULT"])
    port = _closed_port()
    conn["extra"]["endpoint_url"] = f"http://127.0.0.1:{port}/ia/xml/xmlgw.phtml"
    monkeypatch.setenv("AIRFLOW_CONN_INTACCT_NOWHERE", json.dumps(conn))
    hook = IntacctHook(intacct_conn_id="intacct_nowhere", **FAST)
    assert hook.timeout[0] <= 5.0
    assert hook.write_timeout[0] <= 5.0
    started = time.monotonic()
    with pytest.raises(IntacctControlError) as caught:
        _customers(hook)
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert "intacct_nowhere" in message
    assert f"127.0.0.1:{port}" in message
    assert "endpoint_url" in message


def test_an_unreadable_reply_names_the_request_the_object_and_the_record(
    intacct_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway stand-in on loopback answers with a body no XML parser accepts (the sandbox never does)."""
    import http.server

    from qbo_intacct.hooks._intacct_sessions import StoredSession

    broken = (
        b"<response><control><status>success</status></control><operation><authentication>"
        b"<status>success</status></authentication><result><status>success</status><function>query</function>"
        b"<data count='2'><CUSTOMER><RECORDNO>41</RECORDNO><NAME>Fine</NAME></CUSTOMER>"
        b"<CUSTOMER><RECORDNO>42</RECORDNO><NAME>Acme <b>Ltd</NAME></CUSTOMER></data></result></operation></response>"
    )

    class Gateway(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(broken)))
            self.end_headers()
            self.wfile.write(broken)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = json.loads(os.environ["AIRFLOW_CONN_INTACCT_DEFAULT"])
        conn["extra"]["endpoint_url"] = f"http://127.0.0.1:{server.server_port}/ia/xml/xmlgw.phtml"
        monkeypatch.setenv("AIRFLOW_CONN_INTACCT_GARBLED", json.dumps(conn))
        hook = IntacctHook(intacct_conn_id="intacct_garbled", **FAST)
        endpoint = hook._settings.endpoint_url
        hook._stored_sessions.put("", StoredSession("stored-session", endpoint, 4_000_000_000.0), now=0.0)
        with pytest.raises(IntacctXmlError) as caught:
            _customers(hook, entity_id="")
    finally:
        server.shutdown()
    message = str(caught.value)
    assert "request req-" in message
    assert "query" in message
    assert "CUSTOMER" in message
    assert "RECORDNO 42" in message
    assert caught.value.record_key == "RECORDNO 42"


def test_a_stored_session_pointing_outside_the_configured_endpoint_is_never_used(intacct_sandbox: Any) -> None:
    from qbo_intacct.hooks._intacct_sessions import StoredSession

    hook = IntacctHook(**FAST)
    elsewhere = StoredSession("stolen-session", "http://collector.invalid/ia/xml/xmlgw.phtml", 4_000_000_000.0)
    hook._stored_sessions.put("", elsewhere, now=0.0)
    assert _customers(hook, entity_id="", show_private=True) == []  # would fail to connect if it went there
    assert _requests(intacct_sandbox, "getAPISession") == 1


def test_without_a_usable_state_database_the_hook_still_works_and_signs_in(
    intacct_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_QBO_INTACCT_STATE", json.dumps({"conn_type": "mysql", "host": "nowhere"}))
    hook = IntacctHook(**FAST)
    assert _customers(hook, entity_id="", show_private=True) == []
    assert hook.sessions_opened == 1
