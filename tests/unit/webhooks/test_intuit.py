"""Intuit's webhook signature and both notification formats, as the receiver reads them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from qbo_intacct.webhooks.intuit import EntityChange, NotificationError, parse_notifications, sign, signature_ok
from qbo_intacct.webhooks.routes import DEFAULT_ROUTES

TOKEN = "verifier-token-from-the-developer-portal"


def test_signature_is_base64_hmac_sha256_of_the_raw_body_with_the_verifier_token() -> None:
    body = b'{"eventNotifications":[]}'
    documented = base64.b64encode(hmac.new(TOKEN.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(body, TOKEN) == documented
    assert signature_ok(body, documented, TOKEN)


def test_the_sandbox_signs_as_the_receiver_verifies() -> None:
    from include.sandbox.qbo.webhooks import sign as sandbox_sign

    body = b'[{"type":"qbo.customer.updated.v1"}]'
    assert signature_ok(body, sandbox_sign(body, TOKEN), TOKEN)


@pytest.mark.parametrize(
    "header",
    [None, "", "not base64!", sign(b"another body", TOKEN), sign(b"[]", "another token"), sign(b"[]", TOKEN) + "x"],
)
def test_anything_but_the_exact_signature_is_refused(header: str | None) -> None:
    assert not signature_ok(b"[]", header, TOKEN)


def test_a_receiver_without_verifier_token_refuses_everything() -> None:
    assert not signature_ok(b"[]", sign(b"[]", ""), "")


def test_cloudevents_and_legacy_bodies_give_the_same_changes() -> None:
    cloud = [
        {
            "specversion": "1.0",
            "id": "88cd52aa",
            "source": "intuit.x",
            "type": "qbo.customer.updated.v1",
            "time": "2026-11-28T10:00:00Z",
            "intuitentityid": "58",
            "intuitaccountid": "9341",
            "data": {},
        },
        {"type": "qbo.journalentry.created.v1", "intuitentityid": "7", "intuitaccountid": "9341"},
    ]
    legacy = {
        "eventNotifications": [
            {
                "realmId": "9341",
                "dataChangeEvent": {
                    "entities": [
                        {"name": "Customer", "id": "58", "operation": "Update", "lastUpdated": "2026-11-28T10:00:00Z"},
                        {"name": "JournalEntry", "id": "7", "operation": "Create", "lastUpdated": "2026-11-28"},
                    ]
                },
            }
        ]
    }
    expected = [EntityChange("9341", "customer", "58", "updated"), EntityChange("9341", "journalentry", "7", "created")]
    assert parse_notifications(json.dumps(cloud).encode()) == expected
    assert parse_notifications(json.dumps(legacy).encode()) == expected


@pytest.mark.parametrize("body", [b"not json", b'{"something": 1}', b'["text"]', b'[{"type": "other.thing"}]'])
def test_bodies_in_neither_format_are_refused(body: bytes) -> None:
    with pytest.raises(NotificationError):
        parse_notifications(body)


def test_each_flow_issue_19_names_is_routed() -> None:
    for entity in ("customer", "vendor", "invoice", "payment", "bill", "journalentry"):
        assert DEFAULT_ROUTES[entity], entity
    assert DEFAULT_ROUTES["customer"] == ("qbo_intacct_customers",)
