"""Intuit webhooks as the sandbox sends them: signed change notifications to one configured URL.

What Intuit documents (api-facts.md A7) and the sandbox does:

- After a change, Intuit POSTs a notification to the app's webhook endpoint. Since the 2026 format
  change the body is a JSON array of CloudEvents (``"type": "qbo.customer.updated.v1"``,
  ``intuitentityid``, ``intuitaccountid`` = the realm); the legacy ``eventNotifications`` body is
  still available (``"format": "legacy"``).
- Header ``intuit-signature`` = base64(HMAC-SHA256(key = the app's verifier token, message = the
  raw body bytes)).
- Notifications are aggregated: several changes may arrive in one POST (the sandbox gathers the
  changes of ``delay_seconds``, default 0.5 s, and sends them together).
- A delivery that does not get HTTP 2xx is retried (sandbox: 3 attempts, 1 s then 2 s apart).

Sandbox choices where Intuit is silent: the operation is ``created`` for a record at SyncToken 0,
``deleted`` for a deleted record, else ``updated`` (a void is an update); changes are found by
``LastUpdatedTime`` against the previous scan, like CDC, and told apart by SyncToken, so each change
is sent once, even two in the same second.

Admin routes: ``PUT /_sandbox/qbo/webhooks {"url", "verifier_token", "delay_seconds", "format"}``
turns it on (the ``serve`` command does so from ``QBO_SANDBOX_WEBHOOK_URL``),
``DELETE`` turns it off, ``GET`` reports deliveries (never the verifier token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
from fastapi import Body, FastAPI, Request, Response

if TYPE_CHECKING:
    from include.sandbox.qbo.app import QboRuntime

#: Entities Intuit sends webhooks for (developer.intuit.com, webhooks: supported entities).
WEBHOOK_ENTITIES = frozenset(
    {
        "Account", "Bill", "BillPayment", "Class", "CreditMemo", "Customer", "Department", "Deposit",
        "Employee", "Estimate", "Invoice", "Item", "JournalEntry", "Payment", "PaymentMethod", "Purchase",
        "PurchaseOrder", "RefundReceipt", "SalesReceipt", "TaxAgency", "Term", "TimeActivity", "Transfer",
        "Vendor", "VendorCredit",
    }
)  # fmt: skip
ATTEMPTS = 3


def sign(body: bytes, verifier_token: str) -> str:
    """The ``intuit-signature`` header value for ``body``."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Change:
    realm_id: str
    entity: str
    entity_id: str
    operation: str  # Create, Update, Delete (Intuit's legacy words)
    last_updated: str
    version: str  # SyncToken, or "deleted": what makes two changes of one record different

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.realm_id, self.entity, self.entity_id, self.version)


@dataclass
class WebhookSettings:
    url: str
    verifier_token: str = field(repr=False)
    delay_seconds: float = 0.5
    format: str = "cloudevents"


class WebhookSender:
    """Finds what changed since its last scan and POSTs it, signed, to the configured URL."""

    def __init__(self, runtime: QboRuntime) -> None:
        self.runtime = runtime
        self.settings: WebhookSettings | None = None
        self.deliveries: list[dict[str, Any]] = []
        self._watermark: datetime | None = None
        self._sent: set[tuple[str, str, str, str]] = set()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._session = requests.Session()

    def configure(self, settings: WebhookSettings | None) -> None:
        with self._lock:
            self.settings = settings
            # only changes made from now on are sent (MetaData times have whole seconds)
            self._watermark = self.runtime.clock.now().replace(microsecond=0)
            # What already changed in this (whole) second counts as sent: a reconfigure right after a
            # delivery must not send that change again with the next one.
            self._sent = set()
            self._scan()
            self.deliveries.clear()

    def poke(self) -> None:
        """A write happened: send what changed after ``delay_seconds`` (one POST for a burst)."""
        with self._lock:
            if self.settings is None or self._timer is not None:
                return
            self._timer = threading.Timer(self.settings.delay_seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            settings = self.settings
        if settings is None:
            return
        with self._send_lock:
            changes = self._scan()
            if changes:
                self._deliver(settings, changes)

    def _scan(self) -> list[Change]:
        runtime = self.runtime
        with runtime.state.lock:
            now = runtime.clock.now()
            since = self._watermark or now
            changes: list[Change] = []
            for realm_id, realm in runtime.state.realms.items():
                for entity in sorted(WEBHOOK_ENTITIES & set(realm.records)):
                    for record in realm.records[entity].values():
                        meta = record.get("MetaData") or {}
                        updated = meta.get("LastUpdatedTime")
                        if updated and datetime.fromisoformat(updated) >= since:
                            version = str(record.get("SyncToken", ""))
                            operation = "Create" if version == "0" else "Update"
                            changes.append(Change(realm_id, entity, str(record["Id"]), operation, updated, version))
                    for record_id, deleted_at in realm.deleted.get(entity, {}).items():
                        if datetime.fromisoformat(deleted_at) >= since:
                            changes.append(Change(realm_id, entity, str(record_id), "Delete", deleted_at, "deleted"))
            fresh = [c for c in changes if c.key not in self._sent]
            # a change stamped in the same second as this scan may come again in the next: remember it
            self._sent = {c.key for c in changes}
            self._watermark = now.replace(microsecond=0)  # MetaData times have whole seconds
        return fresh

    def _deliver(self, settings: WebhookSettings, changes: list[Change]) -> None:
        body = json.dumps(_payload(changes, settings.format), separators=(",", ":")).encode()
        headers = {"content-type": "application/json", "intuit-signature": sign(body, settings.verifier_token)}
        status: int | str = "not sent"
        for attempt in range(1, ATTEMPTS + 1):
            try:
                status = self._session.post(settings.url, data=body, headers=headers, timeout=10).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            if isinstance(status, int) and 200 <= status < 300:
                break
            if attempt < ATTEMPTS:
                time.sleep(float(attempt))  # a server's retry schedule, not a test's timing
        self.deliveries.append({"status": status, "events": len(changes), "attempts": attempt})

    def report(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "enabled": settings is not None,
            "url": settings.url if settings else None,
            "format": settings.format if settings else None,
            "delay_seconds": settings.delay_seconds if settings else None,
            "pending": self._timer is not None,
            "deliveries": list(self.deliveries),
        }


def _payload(changes: list[Change], payload_format: str) -> Any:
    if payload_format == "legacy":
        by_realm: dict[str, list[dict[str, str]]] = {}
        for c in changes:
            by_realm.setdefault(c.realm_id, []).append(
                {"name": c.entity, "id": c.entity_id, "operation": c.operation, "lastUpdated": c.last_updated}
            )
        return {
            "eventNotifications": [
                {"realmId": realm_id, "dataChangeEvent": {"entities": entities}}
                for realm_id, entities in by_realm.items()
            ]
        }
    verbs = {"Create": "created", "Update": "updated", "Delete": "deleted"}
    return [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.sandbox",
            "type": f"qbo.{c.entity.lower()}.{verbs[c.operation]}.v1",
            "datacontenttype": "application/json",
            "time": c.last_updated,
            "intuitentityid": c.entity_id,
            "intuitaccountid": c.realm_id,
            "data": {},
        }
        for c in changes
    ]


def install_webhooks(app: FastAPI, runtime: QboRuntime) -> WebhookSender:
    """Attach the sender to the app: a poke after every successful company write, and its admin routes."""
    sender = WebhookSender(runtime)
    runtime.webhooks = sender  # type: ignore[attr-defined]
    options = runtime.config.options or {}
    if options.get("webhook_url"):
        sender.configure(WebhookSettings(str(options["webhook_url"]), str(options.get("webhook_verifier_token") or "")))

    @app.middleware("http")
    async def notify_after_writes(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        if (
            sender.settings is not None
            and request.method == "POST"
            and request.url.path.startswith("/v3/company/")
            and response.status_code == 200
        ):
            sender.poke()
        return response

    @app.put("/_sandbox/qbo/webhooks")
    def configure(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        sender.configure(
            WebhookSettings(
                url=str(payload["url"]),
                verifier_token=str(payload["verifier_token"]),
                delay_seconds=float(payload.get("delay_seconds", 0.5)),
                format=str(payload.get("format") or "cloudevents"),
            )
        )
        return sender.report()

    @app.delete("/_sandbox/qbo/webhooks")
    def disable() -> dict[str, Any]:
        sender.configure(None)
        return sender.report()

    @app.get("/_sandbox/qbo/webhooks")
    def report() -> dict[str, Any]:
        return sender.report()

    return sender


__all__ = ["WEBHOOK_ENTITIES", "WebhookSender", "WebhookSettings", "install_webhooks", "sign"]
