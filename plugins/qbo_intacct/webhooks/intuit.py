"""What Intuit sends to a webhook endpoint, and how to tell it really came from Intuit.

- Signature: header ``intuit-signature`` = base64(HMAC-SHA256(key = the app's *verifier token*,
  message = the raw request body)); compared in constant time (api-facts.md A7).
- Body, CloudEvents format (mandatory for apps since 2026): a JSON array of events with
  ``type`` ``qbo.<entity>.<created|updated|deleted|merged|voided|emailed>.v1``, ``intuitentityid``
  and ``intuitaccountid`` (the realm).
- Body, legacy format: ``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities":
  [{"name", "id", "operation", "lastUpdated"}]}}]}``. Both are accepted while Intuit migrates apps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

SIGNATURE_HEADER = "intuit-signature"


class NotificationError(ValueError):
    """The body is not a notification in either of Intuit's formats."""


@dataclass(frozen=True)
class EntityChange:
    realm_id: str
    entity: str  # lowercase QuickBooks entity name: customer, invoice, journalentry, ...
    entity_id: str
    operation: str  # lowercase: created, updated, deleted, merged, voided, emailed

    def label(self) -> str:
        return f"{self.entity} {self.entity_id} {self.operation}"


def sign(body: bytes, verifier_token: str) -> str:
    """The signature Intuit puts in ``intuit-signature`` for ``body``."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def signature_ok(body: bytes, header: str | None, verifier_token: str) -> bool:
    """Whether ``header`` is Intuit's signature of ``body``; a missing or malformed header is not."""
    if not header or not verifier_token:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)


_LEGACY_OPERATIONS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "merge": "merged",
    "void": "voided",
    "emailed": "emailed",
}


def parse_notifications(body: bytes) -> list[EntityChange]:
    """Every entity change in a notification body, in either format."""
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotificationError("the body is not JSON") from exc
    if isinstance(payload, list):
        return [_cloud_event(event) for event in payload]
    if isinstance(payload, dict) and isinstance(payload.get("eventNotifications"), list):
        changes = []
        for notification in payload["eventNotifications"]:
            realm_id = str(notification.get("realmId") or "")
            entities = ((notification.get("dataChangeEvent") or {}).get("entities")) or []
            for entity in entities:
                operation = str(entity.get("operation") or "").lower()
                changes.append(
                    EntityChange(
                        realm_id,
                        str(entity.get("name") or "").lower(),
                        str(entity.get("id") or ""),
                        _LEGACY_OPERATIONS.get(operation, operation),
                    )
                )
        return changes
    raise NotificationError("the body is neither a list of CloudEvents nor eventNotifications")


def _cloud_event(event: Any) -> EntityChange:
    if not isinstance(event, dict):
        raise NotificationError("an event is not a JSON object")
    parts = str(event.get("type") or "").split(".")
    if len(parts) < 3 or parts[0] != "qbo":
        raise NotificationError(f"unknown event type {event.get('type')!r}")
    return EntityChange(
        str(event.get("intuitaccountid") or ""), parts[1].lower(), str(event.get("intuitentityid") or ""), parts[2]
    )
