"""IntacctHook decisions that need no server: which session endpoints are trusted, replay detection."""

from __future__ import annotations

import pytest

from qbo_intacct.hooks._intacct_xml import ErrorDetail
from qbo_intacct.hooks.intacct import Filter, _looks_like_replay, _same_endpoint_family

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
