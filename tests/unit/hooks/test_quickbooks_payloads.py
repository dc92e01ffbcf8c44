"""Pure helpers of the QuickBooks hook: exact JSON money, query literals, request ids, waits (no server)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from qbo_intacct.hooks.quickbooks import (
    MAX_BATCH_REQUEST_ID,
    QuickBooksHook,
    _decode_json,
    _encode_json,
    _qbo_timestamp,
    _quote_literal,
    batch_request_id,
    derived_request_id,
)


def test_decimals_are_written_as_exact_json_numbers() -> None:
    assert _encode_json({"Amount": Decimal("1234.10")}) == '{"Amount":1234.10}'


def test_decimal_exponent_form_is_written_without_exponent() -> None:
    assert _encode_json(Decimal("1E+2")) == "100"


def test_money_round_trips_exactly_through_json() -> None:
    body = {"Line": [{"Amount": Decimal("0.10")}, {"Amount": Decimal("0.20")}]}
    parsed = _decode_json(_encode_json(body))
    assert sum(line["Amount"] for line in parsed["Line"]) == Decimal("0.30")


def test_float_is_refused_with_the_field_path() -> None:
    with pytest.raises(TypeError, match=r"Line\[0\]\.Amount"):
        _encode_json({"Line": [{"Amount": 0.1}]})


def test_non_finite_decimal_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        _encode_json({"Amount": Decimal("NaN")})


def test_dates_are_written_as_iso_strings() -> None:
    assert _encode_json({"TxnDate": date(2026, 1, 31)}) == '{"TxnDate":"2026-01-31"}'


def test_strings_are_json_escaped() -> None:
    assert _encode_json({"DisplayName": 'Say "hi"'}) == '{"DisplayName":"Say \\"hi\\""}'


def test_query_literal_escapes_apostrophe_with_backslash() -> None:
    assert _quote_literal("Amy's") == "'Amy\\'s'"


def test_change_window_timestamp_keeps_the_offset() -> None:
    pacific = timezone(timedelta(hours=-8))
    assert _qbo_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=pacific)) == "2026-01-02T03:04:05-08:00"


def test_change_window_timestamp_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _qbo_timestamp(datetime(2026, 1, 2))  # noqa: DTZ001 - the point of the test


def test_derived_request_id_is_deterministic_and_short() -> None:
    long_id = "invoice-sync:" + "x" * 60
    first = derived_request_id(long_id, "r5010")
    assert first == derived_request_id(long_id, "r5010")
    assert len(first) <= 50


def test_derived_batch_request_id_fits_intuits_36_characters() -> None:
    assert len(derived_request_id("p" * 40, "12", limit=MAX_BATCH_REQUEST_ID)) <= 36


def test_short_derived_request_id_stays_readable() -> None:
    assert derived_request_id("inv-42", "r5010") == "inv-42-r5010"


def test_decoded_json_has_decimal_money() -> None:
    assert _decode_json('{"TotalAmt": 314.28}')["TotalAmt"] == Decimal("314.28")


def test_aware_utc_datetime_is_accepted() -> None:
    assert _qbo_timestamp(datetime(2026, 1, 2, tzinfo=UTC)).endswith("+00:00")


def _chunk(*names: str, amount: str = "1.00") -> list[dict[str, object]]:
    return [
        {"bId": f"b{i}", "operation": "create", "Customer": {"DisplayName": n, "Balance": Decimal(amount)}}
        for i, n in enumerate(names)
    ]


def test_batch_request_id_is_the_same_for_the_same_chunk_content() -> None:
    assert batch_request_id("cust-run", _chunk("A", "B")) == batch_request_id("cust-run", _chunk("A", "B"))


def test_batch_request_id_changes_when_any_item_changes() -> None:
    ids = {
        batch_request_id("cust-run", _chunk("A", "B")),
        batch_request_id("cust-run", _chunk("A", "C")),
        batch_request_id("cust-run", _chunk("B", "A")),
        batch_request_id("cust-run", _chunk("A", "B", amount="1.01")),
    }
    assert len(ids) == 4


def test_batch_request_id_keeps_the_prefix_and_fits_36_characters() -> None:
    short = batch_request_id("cust-run", _chunk("A"))
    assert short.startswith("cust-run-")
    assert len(short) <= MAX_BATCH_REQUEST_ID
    assert len(batch_request_id("p" * 40, _chunk("A"))) == MAX_BATCH_REQUEST_ID
    assert batch_request_id("p" * 40, _chunk("A")) != batch_request_id("q" * 40, _chunk("A"))


def test_after_a_429_the_hook_waits_at_least_intuits_60_seconds() -> None:
    hook = QuickBooksHook()
    waits = [hook._throttle_wait(None) for _ in range(200)]
    assert min(waits) >= 60.0
    assert max(waits) <= 75.0


def test_a_retry_after_header_decides_the_429_wait() -> None:
    assert QuickBooksHook()._throttle_wait(5.0) == 5.0


def test_writes_wait_longer_than_intuits_120_second_server_limit() -> None:
    hook = QuickBooksHook()
    read_timeout = hook.write_timeout[1] if isinstance(hook.write_timeout, tuple) else hook.write_timeout
    assert read_timeout > 120
