"""IntacctHook decisions that need no server: which session endpoints are trusted, replay detection."""

from __future__ import annotations

import pytest
import requests
import urllib3

from qbo_intacct.hooks._intacct_xml import ErrorDetail
from qbo_intacct.hooks._transport import RetryPolicy
from qbo_intacct.hooks.intacct import (
    Filter,
    IntacctHook,
    _looks_like_replay,
    _never_left,
    _same_endpoint_family,
    _transient_text,
    _TransientError,
)

REAL = "https://api.intacct.com/ia/xml/xmlgw.phtml"
LOCAL = "http://127.0.0.1:8123/ia/xml/xmlgw.phtml"


@pytest.mark.parametrize(
    ("configured", "returned", "trusted"),
    [
        (REAL, "https://na12.intacct.com/ia/xml/xmlgw.phtml", True),
        (REAL, "https://api.intacct.com/ia/xml/xmlgw.phtml", True),
        (REAL, "http://na12.intacct.com/ia/xml/xmlgw.phtml", False),
        (REAL, "https://intacct.com.evil.example/ia/xml/xmlgw.phtml", False),
        (REAL, "https://evilintacct.com/ia/xml/xmlgw.phtml", False),
        (LOCAL, "http://127.0.0.1:8123/ia/xml/xmlgw.phtml", True),
        (LOCAL, "http://127.0.0.1:9999/ia/xml/xmlgw.phtml", False),
        (LOCAL, "https://api.intacct.com/ia/xml/xmlgw.phtml", False),
        (LOCAL, "not a url", False),
    ],
)
def test_session_endpoint_is_trusted_only_within_the_configured_family(
    configured: str, returned: str, trusted: bool
) -> None:
    assert _same_endpoint_family(configured, returned) is trusted


def test_a_replay_refusal_is_recognised_and_an_ordinary_failure_is_not() -> None:
    replay = ErrorDetail("XL03000011", "", "A function with control id f-1 has already been executed", "")
    ordinary = ErrorDetail("BL34000061", "", "Another Customer with the given value(s) C1  already exists", "")
    assert _looks_like_replay([replay])
    assert not _looks_like_replay([ordinary])


def test_filters_combine_repeated_operators_under_one_and() -> None:
    combined = Filter.all_of(Filter.equal("STATUS", "active"), Filter.equal("CURRENCY", "USD"), Filter.is_null("X"))
    assert combined == {
        "and": {
            "equalto": [{"field": "STATUS", "value": "active"}, {"field": "CURRENCY", "value": "USD"}],
            "isnull": [{"field": "X"}],
        }
    }


def _policy_hook() -> IntacctHook:
    return IntacctHook(
        retry_policy=RetryPolicy(max_attempts=5, base=0.5, cap=30.0, max_total=120.0),
        throttle_floor_seconds=5.0,
        write_resend_delay_seconds=30.0,
    )


def test_a_lost_write_waits_long_enough_for_the_original_to_finish_before_it_is_resent() -> None:
    hook = _policy_hook()
    lost = _TransientError("ReadTimeout", may_still_run=True)
    assert hook._retry_delay(lost, 0.5, is_write=True) == 30.0
    assert hook._retry_delay(lost, 0.5, is_write=False) == 0.5  # a read can simply be asked again


def test_throttling_waits_at_least_the_floor_and_honours_retry_after_up_to_the_budget() -> None:
    hook = _policy_hook()
    assert hook._retry_delay(_TransientError("429", floor=5.0), 0.5, is_write=False) == 5.0
    assert hook._retry_delay(_TransientError("429", floor=5.0, retry_after=42.0), 0.5, is_write=False) == 42.0
    assert hook._retry_delay(_TransientError("429", floor=5.0, retry_after=9999.0), 0.5, is_write=False) == 120.0


def test_rate_limit_and_maintenance_are_read_from_the_error_text() -> None:
    rate = ErrorDetail("", "", "API rate limit exceeded", "")
    offline = ErrorDetail("", "", "The system is temporarily off-line", "")
    ordinary = ErrorDetail("BL34000061", "", "Another Customer with the given value(s) C1  already exists", "")
    assert _transient_text([rate]) == "rate"
    assert _transient_text([offline]) == "offline"
    assert _transient_text([ordinary]) is None


def test_only_a_request_that_never_connected_counts_as_never_sent() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    wrapped = urllib3.exceptions.MaxRetryError(None, "/ia/xml/xmlgw.phtml", refused)  # type: ignore[arg-type]
    assert _never_left(requests.exceptions.ConnectTimeout())
    assert _never_left(requests.exceptions.ConnectionError(wrapped))
    assert not _never_left(requests.exceptions.ConnectionError("Connection reset by peer"))
    assert not _never_left(requests.exceptions.ChunkedEncodingError())
    assert not _never_left(requests.exceptions.ReadTimeout())
