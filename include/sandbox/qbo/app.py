"""The QuickBooks Online Accounting API v3 sandbox: a real HTTP server with Intuit's URLs, auth and payloads.

``create_app(config)`` builds the FastAPI app; ``app.state.runtime`` is the :class:`QboRuntime`
that the shared middleware (limits, faults, request log) and the ``/_sandbox`` admin routes use.
Business rules and derived amounts live in ``state.py``, the query language in ``query.py``,
OAuth in ``oauth.py``, reports in ``reports.py``.

URL shapes (base ``http://127.0.0.1:PORT/v3``, as ``https://quickbooks.api.intuit.com/v3``):
``/company/{realm}/{entity}/{id}`` read, ``POST /company/{realm}/{entity}`` create / update
(``sparse``) / ``?operation=delete`` / ``?operation=void`` (invoice) /
``?operation=update&include=void`` (payment, bill payment), ``/query`` (GET ``?query=`` or POST
``application/text``), ``/batch``, ``/cdc?entities=..&changedSince=..``, ``/reports/{TrialBalance,
ProfitAndLoss,GeneralLedger,AgedReceivables,AgedPayables}`` (see reports.py),
``/companyinfo/{realm}``, ``/preferences``, ``/exchangerate?sourcecurrencycode=..&asofdate=..``.
``minorversion`` is accepted and ignored; ``requestid`` makes any call replayable.
OAuth: ``POST /oauth2/v1/tokens/bearer`` (HTTP Basic client auth, ``grant_type=refresh_token`` or
``authorization_code``), ``POST /oauth2/v1/tokens/revoke``, discovery at
``/.well-known/openid_configuration``, the consent page ``/connect/oauth2`` (consent.py).
Webhooks: signed change notifications to a configured URL (webhooks.py).
Sandbox-only extra: ``POST /_sandbox/qbo/authorize {"realm_id": ..}`` mints a fresh refresh token
(an admin re-authorising the app), so tests never spend the bootstrap token in sandbox.json.

Choices where Intuit's documentation is silent or contradicts itself (api-facts.md "NOT FOUND"):

- **429 body**: the same lowercase ``fault`` envelope as the documented 401, with
  ``message=ThrottleExceeded; errorCode=003001; statusCode=429``, code ``"3001"``, type ``SERVICE``.
  No ``Retry-After`` header (Intuit documents none; clients wait on their own, Intuit says 60 s).
- **5010 Stale Object** is HTTP 400 (as every other ValidationFault).
- **Unbalanced JournalEntry** is code ``6000`` (business validation) with a detail naming both sides.
- **Batch size**: at most 30 items (Intuit's limits page; the batch page's 10 is older). More is a
  400 ValidationFault ``6000`` for the whole request; nothing runs.
- **6210** means *Account Period Closed* (closed books, ``BookCloseDate``); duplicate DocNumber is
  **6140**. Duplicate DocNumbers are refused while Preferences ``OtherPrefs.NameValue``
  ``WarnDuplicateDocNum`` is ``"true"`` (the default), unless the request says
  ``include=allowduplicatedocnum``.
- **Refresh-token grace**: a superseded refresh token works for 120 s of sandbox clock (and returns
  the newest token of its chain), then ``invalid_grant`` (HTTP 400). ``PATCH /_sandbox/config
  {"refresh_grace_seconds": n}`` changes it.
- **ExchangeRate direction**: ``Rate`` and a transaction's ``ExchangeRate`` are home-currency units
  per one foreign unit (``HomeTotalAmt = TotalAmt x ExchangeRate``). A foreign transaction without
  ``ExchangeRate`` takes the company's rate for its date, else 1, as QuickBooks does.
- **requestid replay**: keyed by (realm, requestid). Every answer the API itself produced (200 and
  400 Faults) is remembered and replayed byte for byte, without running the work again; refusals
  before the API ran (401, 429, injected 5xx) are not. Reset clears the replay memory.
- **Colon in DisplayName**, **department/class on a company that does not track them**, and
  **currency mismatches** are ``6000`` with a detail naming the field.
- **Name lists cannot be deleted** (``500 Unsupported Operation``; make them inactive).
- **CDC**: ``changedSince`` older than 30 days is a 400 ValidationFault ``6000``; each entity returns
  at most 1000 objects, oldest change first, so a client can move its watermark and ask again.
- **Query**: ``=``, ``IN`` and ``LIKE`` on text ignore case; MAXRESULTS above 1000 is capped. Only
  properties Intuit documents as filterable/sortable may be used (``fields.py``; others are 4001
  ``QueryValidationError: property 'X' is not queryable``, as Intuit answers).
- **Sparse update** cannot remove ``DisplayName``/``Name``: an empty one (python-quickbooks sends
  every unset property as ``""``) means "not sent" for those two; other empty properties clear.
- **Defaults real records carry** (ABQ records): Invoice/CreditMemo ``LinkedTxn: []``,
  ``PrintStatus``/``EmailStatus`` ``NotSet``, ``ApplyTaxAfterDiscount`` false; Bill ``APAccountRef``
  (the A/P account); BillPayment ``CheckPayment.PrintStatus`` ``NeedToPrint`` (Intuit's default);
  JournalEntry ``TxnTaxDetail: {}``; Customer ``PreferredDeliveryMethod`` ``Print``, sub-customer
  ``Level``, an ``Id`` on each stored address. DueDate is always filled: terms, else the company's
  ``DefaultTerms`` preference, else the transaction date.
- **Group (bundle) lines** on Invoice/CreditMemo: ``GroupLineDetail`` {GroupItemRef, Quantity, Line:
  [SalesItemLine...]}; each inner line is derived as a sales line and the group's ``Amount`` is their
  sum (Intuit documents the shape, not the derivation; a group item is never expanded by the sandbox).
- **Journal entries** on Accounts Receivable / Payable need a Customer / Vendor ``Entity``
  (6000, Intuit's wording).
- **Reports**: see reports.py for the choices (date defaults, unmodelled filters refused).
- **Reset** (``POST /_sandbox/reset``) also puts limits and the knobs of ``PATCH /_sandbox/config``
  back to their start values; OAuth clients and tokens survive it.
- **Injected 503** answers with an HTML gateway page (not JSON), as a load balancer would; an
  injected 500 is a JSON ``SystemFault`` code ``10000``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from fastapi import Body, FastAPI, Request
from fastapi.responses import Response

from include.sandbox.common import (
    FaultInjector,
    LimitConfig,
    RequestInfo,
    RequestLog,
    SandboxClock,
    SandboxConfig,
    SandboxMiddleware,
    TenantLimiter,
    admin_router,
    partial_refusal,
)
from include.sandbox.qbo.consent import consent_router, exchange_code
from include.sandbox.qbo.oauth import (
    ACCESS_TOKEN_SECONDS,
    DEFAULT_GRACE_SECONDS,
    BearerRefused,
    OAuthError,
    OAuthStore,
)
from include.sandbox.qbo.query import QueryEngine
from include.sandbox.qbo.reports import REPORTS
from include.sandbox.qbo.state import (
    API_WRITABLE,
    CDC_EXCLUDED,
    COMPANY_TZ,
    DEFAULT_COMPANY_NAME,
    DEFAULT_REALM_ID,
    ENTITIES,
    ENTITY_BY_LOWER,
    QboFault,
    QboState,
    Realm,
    WriteOptions,
    business_error,
    company_date,
    default_state,
    dump_bytes,
    envelope_time,
    loads,
    object_not_found,
    parse_date,
    qbo_time,
    required_missing,
    stale_object,
    to_decimal,
    unsupported,
)
from include.sandbox.qbo.webhooks import install_webhooks

REPORT_NAMES = ("TrialBalance", "ProfitAndLoss", "GeneralLedger", "AgedReceivables", "AgedPayables")
DEFAULT_LIMITS = LimitConfig(concurrent=10, per_minute=500, batch_per_minute=40)
MAX_BATCH_ITEMS = 30
CDC_MAX_OBJECTS = 1000
CDC_LOOKBACK_DAYS = 30
REPLAY_MEMORY = 200_000
JSON = "application/json"


class QboRuntime:
    """Everything one QuickBooks sandbox process holds: books, OAuth, replay memory, limits, log."""

    system = "qbo"

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = SandboxClock()
        self.faults = FaultInjector(config.seed)
        self.log = RequestLog()
        limits = config.limits if config.limits != LimitConfig() else LimitConfig(**vars(DEFAULT_LIMITS))
        self.limiter = TenantLimiter(limits)
        self._start_limits = dict(vars(limits))
        creds = config.credentials or {}
        self.client_id = str(creds.get("client_id") or secrets.token_urlsafe(24))
        self.client_secret = str(creds.get("client_secret") or secrets.token_urlsafe(32))
        self.oauth = OAuthStore(self.clock, self.client_id, self.client_secret)
        self.queries = QueryEngine()
        self.replays: OrderedDict[tuple[str, str], tuple[int, bytes]] = OrderedDict()
        self.cdc_max_objects = CDC_MAX_OBJECTS
        self.cdc_lookback_days = CDC_LOOKBACK_DAYS
        self.max_batch_items = MAX_BATCH_ITEMS
        self.state = self._initial_state(config.snapshot)
        self.bootstrap_tokens: dict[str, str] = {}
        fixed = {str(k): v.get("refresh_token") for k, v in (creds.get("realms") or {}).items()}
        for realm_id in self.state.realms:
            self.bootstrap_tokens[realm_id] = self.oauth.bootstrap(realm_id, self.client_id, fixed.get(realm_id))

    # ---- SandboxRuntime protocol -------------------------------------------------------------------

    def _initial_state(self, snapshot: Path | None) -> QboState:
        if snapshot is not None:
            return QboState.load_snapshot(snapshot)
        return default_state(self.clock.now())

    def reset(self, snapshot: Path | None) -> None:
        """Books back to the start (or ``snapshot``); OAuth clients and issued tokens are kept."""
        new_state = self._initial_state(snapshot or self.config.snapshot)
        self._swap_state(new_state)
        # Limits and knobs a test changed go back to the start values, so tests stay independent.
        for key, value in self._start_limits.items():
            setattr(self.limiter.limits, key, value)
        self.patch_config(
            {
                "refresh_grace_seconds": DEFAULT_GRACE_SECONDS,
                "access_token_seconds": ACCESS_TOKEN_SECONDS,
                "cdc_max_objects": CDC_MAX_OBJECTS,
                "cdc_lookback_days": CDC_LOOKBACK_DAYS,
                "max_batch_items": MAX_BATCH_ITEMS,
            }
        )

    def save_snapshot(self, path: Path) -> None:
        with self.state.lock:
            self.state.save_snapshot(path)

    def load_snapshot(self, path: Path) -> None:
        self._swap_state(QboState.load_snapshot(path))

    def _swap_state(self, new_state: QboState) -> None:
        with self.state.lock:
            self.state = new_state
            self.replays.clear()
            self.queries.clear()
        for realm_id in new_state.realms:
            if realm_id not in self.bootstrap_tokens:
                self.bootstrap_tokens[realm_id] = self.oauth.bootstrap(realm_id, self.client_id)

    def patch_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        settable = {
            "refresh_grace_seconds": lambda v: setattr(self.oauth, "grace_seconds", float(v)),
            "access_token_seconds": lambda v: setattr(self.oauth, "access_seconds", int(v)),
            "cdc_max_objects": lambda v: setattr(self, "cdc_max_objects", int(v)),
            "cdc_lookback_days": lambda v: setattr(self, "cdc_lookback_days", int(v)),
            "max_batch_items": lambda v: setattr(self, "max_batch_items", int(v)),
        }
        unknown = sorted(set(changes) - set(settable))
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {sorted(settable)}")
        for key, value in changes.items():
            settable[key](value)
        return {
            "refresh_grace_seconds": self.oauth.grace_seconds,
            "access_token_seconds": self.oauth.access_seconds,
            "cdc_max_objects": self.cdc_max_objects,
            "cdc_lookback_days": self.cdc_lookback_days,
            "max_batch_items": self.max_batch_items,
        }

    async def classify(self, method: str, path: str, query: str, body: bytes) -> RequestInfo:
        params = parse_qs(query)
        request_id = (params.get("requestid") or [None])[0]
        parts = [unquote_plus(p) for p in path.strip("/").split("/")]
        if len(parts) >= 4 and parts[0] == "v3" and parts[1] == "company":
            realm_id, resource = parts[2], parts[3].lower()
            if resource in ("query", "batch", "cdc"):
                return RequestInfo(resource, resource, realm_id, request_id, is_write=resource == "batch")
            if resource == "reports":
                return RequestInfo("report", "report", realm_id, request_id)
            if method == "GET":
                return RequestInfo(resource, "read", realm_id, request_id)
            operation = _write_operation(params, body)
            return RequestInfo(resource, operation, realm_id, request_id, is_write=True)
        if path.startswith("/oauth2/v1/tokens/bearer"):
            return RequestInfo("token", "refresh", "", None, limited=False)
        if path.startswith("/oauth2/v1/tokens/revoke"):
            return RequestInfo("token", "revoke", "", None, limited=False)
        if path.startswith("/.well-known"):
            return RequestInfo("discovery", "read", "", None, limited=False)
        return RequestInfo("unknown", method.lower(), "", request_id, limited=False)

    def fault_response(self, kind: str, info: RequestInfo) -> tuple[int, dict[str, str], bytes]:
        if kind == "429":
            return self.throttle_response("injected", info)
        if kind == "503":
            page = b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>" + (
                b"<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
            )
            return 503, {"content-type": "text/html"}, page
        fault = QboFault(
            "10000",
            "An application error has occurred while processing your request",
            "System Failure Error: An unexpected error occurred while accessing or saving your data.",
            status=500,
            fault_type="SystemFault",
        )
        return 500, {"content-type": JSON}, dump_bytes({"Fault": fault.body(), "time": envelope_time(self.clock.now())})

    def expire_credentials(self, headers: dict[str, str], body: bytes) -> None:
        """The ``expire_session`` fault: the bearer token this request carries runs out now."""
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            self.oauth.expire_access_token(token.strip())

    def throttle_response(self, which: str, info: RequestInfo) -> tuple[int, dict[str, str], bytes]:
        self.log.add("throttled")
        body = _lowercase_fault(
            "message=ThrottleExceeded; errorCode=003001; statusCode=429",
            f"ThrottleExceeded: request limit exceeded ({which})",
            "3001",
            "SERVICE",
        )
        return 429, {"content-type": JSON}, dump_bytes(body)

    def describe(self) -> dict[str, Any]:
        base = self.config.base_url
        return {
            "base_url": f"{base}/v3",
            "token_url": f"{base}/oauth2/v1/tokens/bearer",
            "discovery_url": f"{base}/.well-known/openid_configuration",
            "admin_url": f"{base}/_sandbox",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "realms": {
                realm_id: {"refresh_token": self.bootstrap_tokens[realm_id], "company_name": realm.company_name}
                for realm_id, realm in self.state.realms.items()
            },
        }

    # ---- request plumbing ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def company_call(
        self, request: Request, realm_id: str, work: Callable[[Realm], dict[str, Any]], *, write: bool = False
    ) -> Response:
        """Authenticate, replay by requestid, run ``work`` under the books lock, render JSON or Fault."""
        try:
            self.oauth.authenticate(request.headers.get("authorization"), realm_id)
        except BearerRefused as refused:
            return _auth_failure(refused)
        request_id = request.query_params.get("requestid")
        with self.state.lock:
            if request_id:
                cached = self.replays.get((realm_id, request_id))
                if cached is not None:
                    self.log.add("replayed")
                    return Response(cached[1], status_code=cached[0], media_type=JSON)
                if len(request_id) > 50:
                    return self._fault(
                        QboFault(
                            "2010",
                            "Request has invalid or unsupported property",
                            "requestid is longer than 50 characters",
                            "requestid",
                        )
                    )
            realm = self.state.realms.get(realm_id)
            try:
                if realm is None:
                    raise QboFault("6190", "Invalid Company Status", f"Company {realm_id} does not exist", status=403)
                payload = work(realm)
                payload["time"] = envelope_time(self.now())
                status = 200
                if write:
                    self.log.add("writes")
            except QboFault as fault:
                status = fault.status
                payload = {"Fault": fault.body(), "time": envelope_time(self.now())}
            body = dump_bytes(payload)
            if request_id and status in (200, 400):
                self.replays[(realm_id, request_id)] = (status, body)
                if len(self.replays) > REPLAY_MEMORY:
                    self.replays.popitem(last=False)
        return Response(body, status_code=status, media_type=JSON)

    def _fault(self, fault: QboFault) -> Response:
        payload = {"Fault": fault.body(), "time": envelope_time(self.now())}
        return Response(dump_bytes(payload), status_code=fault.status, media_type=JSON)

    # ---- operations ----------------------------------------------------------------------------------

    def write_entity(self, realm: Realm, entity_name: str, params: dict[str, str], raw: bytes) -> dict[str, Any]:
        entity = _entity(entity_name)
        body = _json_object(raw)
        if isinstance(body.get(entity), dict) and len(body) == 1:
            body = body[entity]  # tolerate the wrapped form {"Invoice": {...}}
        operation = _write_operation(params, raw)
        at = self.now()
        options = WriteOptions(allow_duplicate_doc_number="allowduplicatedocnum" in params.get("include", "").lower())
        return {entity: self.apply(realm, entity, operation, body, at, options)}

    def apply(
        self, realm: Realm, entity: str, operation: str, body: dict[str, Any], at: datetime, options: WriteOptions
    ) -> dict[str, Any]:
        """One create/update/delete/void, shared by the entity endpoint and batch items."""
        if entity == "Preferences" and operation == "update":
            current = realm.preferences
            if str(body.get("SyncToken")) != current["SyncToken"]:
                raise (
                    stale_object("Preferences", "1")
                    if body.get("SyncToken") is not None
                    else required_missing("SyncToken")
                )
            return realm.update_preferences(body, at=at)
        if entity == "ExchangeRate" and operation in ("create", "update"):
            if not body.get("SourceCurrencyCode") or body.get("Rate") is None:
                raise required_missing("SourceCurrencyCode" if not body.get("SourceCurrencyCode") else "Rate")
            as_of = str(body.get("AsOfDate") or company_date(at))
            parse_date(as_of, "AsOfDate")
            return realm.set_exchange_rate(
                str(body["SourceCurrencyCode"]), to_decimal(body["Rate"], "Rate"), as_of, at=at
            )
        if operation == "delete":
            return realm.delete(entity, body, at=at)
        if operation == "void":
            return realm.void(entity, body, at=at)
        if entity not in API_WRITABLE:
            raise unsupported(f"Operation {operation} is not supported for {entity}")
        if operation == "update":
            sparse = body.get("sparse") in (True, "true")
            return realm.update(entity, body, sparse=sparse, at=at, options=options)
        if body.get("Id") not in (None, ""):
            raise business_error("A create must not carry an Id", "Id")
        return realm.create(entity, body, at=at, options=options)

    def read_entity(self, realm: Realm, entity_name: str, record_id: str) -> dict[str, Any]:
        entity = _entity(entity_name)
        record = realm.get(entity, record_id)
        if record is None:
            raise object_not_found(entity, record_id)
        return {entity: record}

    def run_query(self, realm: Realm, text: str) -> dict[str, Any]:
        return {"QueryResponse": self.queries.run(realm, text)}

    def batch(self, realm: Realm, raw: bytes, params: dict[str, str]) -> dict[str, Any]:
        body = _json_object(raw)
        items = body.get("BatchItemRequest")
        if not isinstance(items, list) or not items:
            raise required_missing("BatchItemRequest")
        if len(items) > self.max_batch_items:
            raise business_error(
                f"Batch has {len(items)} items; at most {self.max_batch_items} are allowed", "BatchItemRequest"
            )
        at = self.now()
        options = WriteOptions(allow_duplicate_doc_number="allowduplicatedocnum" in params.get("include", "").lower())
        responses: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            bid = item.get("bId") if isinstance(item, dict) else None
            try:
                if not isinstance(item, dict) or not bid:
                    raise required_missing("bId")
                if partial_refusal(index, len(items)):  # an injected "partial" fault (common.py)
                    raise QboFault(
                        "10000",
                        "An application error has occurred while processing your request",
                        "System Failure Error: An unexpected error occurred while accessing or saving your data.",
                        status=500,
                        fault_type="SystemFault",
                    )
                responses.append({"bId": bid, **self._batch_item(realm, item, at, options)})
            except QboFault as fault:
                responses.append({"bId": bid, "Fault": fault.body()})
        self.log.add("batch_items", len(items))
        return {"BatchItemResponse": responses}

    def _batch_item(self, realm: Realm, item: dict[str, Any], at: datetime, options: WriteOptions) -> dict:
        if "Query" in item:
            return {"QueryResponse": self.queries.run(realm, str(item["Query"]))}
        entities = [key for key in item if key in ENTITIES]
        if len(entities) != 1 or not isinstance(item[entities[0]], dict):
            raise business_error("A batch item needs exactly one entity object (or a Query)", "BatchItemRequest")
        entity = entities[0]
        operation = str(item.get("operation") or "")
        if operation not in ("create", "update", "delete", "void"):
            raise QboFault("2170", "Invalid Enumeration", f"Invalid batch operation {operation!r}", "operation")
        result = self.apply(realm, entity, operation, item[entity], at, options)
        if operation in ("create", "update", "delete", "void"):
            self.log.add("writes")
        return {entity: result}

    def cdc(self, realm: Realm, params: dict[str, str]) -> dict[str, Any]:
        names = [n.strip() for n in (params.get("entities") or "").split(",") if n.strip()]
        if not names:
            raise required_missing("entities")
        since_text = params.get("changedSince") or params.get("changedsince")
        if not since_text:
            raise required_missing("changedSince")
        try:
            since = datetime.fromisoformat(since_text.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError as exc:
            raise QboFault(
                "2010",
                "Request has invalid or unsupported property",
                "changedSince is not an ISO-8601 time",
                "changedSince",
            ) from exc
        if since.tzinfo is None:
            since = since.replace(tzinfo=COMPANY_TZ)
        if since < self.now() - timedelta(days=self.cdc_lookback_days):
            raise business_error(f"changedSince must be within the last {self.cdc_lookback_days} days", "changedSince")
        sections: list[dict[str, Any]] = []
        for name in names:
            entity = ENTITY_BY_LOWER.get(name.lower())
            if entity is None:
                raise QboFault("2170", "Invalid Enumeration", f"Unknown CDC entity {name}", "entities")
            if entity in CDC_EXCLUDED:
                sections.append({})
                continue
            changed: list[tuple[datetime, dict[str, Any]]] = []
            for record in realm.records[entity].values():
                updated = datetime.fromisoformat(record["MetaData"]["LastUpdatedTime"])
                if updated >= since:
                    changed.append((updated, record))
            for record_id, deleted_at in realm.deleted[entity].items():
                when = datetime.fromisoformat(deleted_at)
                if when >= since:
                    changed.append(
                        (
                            when,
                            {
                                "Id": record_id,
                                "status": "Deleted",
                                "domain": "QBO",
                                "MetaData": {"LastUpdatedTime": deleted_at},
                            },
                        )
                    )
            changed.sort(key=lambda pair: pair[0])
            objects = [record for _, record in changed[: self.cdc_max_objects]]
            if objects:
                sections.append({entity: objects, "startPosition": 1, "maxResults": len(objects)})
            else:
                sections.append({})
        return {"CDCResponse": [{"QueryResponse": sections}]}

    def report(self, realm: Realm, name: str, params: dict[str, str]) -> dict[str, Any]:
        build = REPORTS.get(name.lower())
        if build is None:
            raise unsupported(f"Report {name} is not available in the sandbox (available: {', '.join(REPORT_NAMES)})")
        now = self.now()
        return build(realm, params, today=company_date(now), generated_at=qbo_time(now))

    def exchange_rate(self, realm: Realm, params: dict[str, str]) -> dict[str, Any]:
        source = params.get("sourcecurrencycode") or params.get("SourceCurrencyCode")
        if not source:
            raise required_missing("sourcecurrencycode")
        as_of = params.get("asofdate") or company_date(self.now())
        for record in realm.records["ExchangeRate"].values():
            if record["SourceCurrencyCode"] == source and record["AsOfDate"] == as_of:
                return {"ExchangeRate": record}
        rate = realm.exchange_rate_for(source, as_of)
        if rate is None:
            raise object_not_found("ExchangeRate", f"{source}@{as_of}")
        return {
            "ExchangeRate": {
                "SourceCurrencyCode": source,
                "TargetCurrencyCode": realm.home_currency,
                "Rate": rate,
                "AsOfDate": as_of,
            }
        }


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _write_operation(params: dict[str, Any], body: bytes) -> str:
    def first(key: str) -> str:
        value = params.get(key)
        if isinstance(value, list):
            value = value[0] if value else ""
        return str(value or "").lower()

    operation = first("operation")
    if operation == "delete":
        return "delete"
    if operation == "void" or (operation == "update" and "void" in first("include")):
        return "void"
    try:
        parsed = loads(body) if body else {}
    except ValueError:
        return "create"
    if isinstance(parsed, dict) and len(parsed) == 1:
        inner = next(iter(parsed.values()))
        if isinstance(inner, dict):
            parsed = inner
    if isinstance(parsed, dict) and parsed.get("Id") not in (None, ""):
        return "update"
    return "create"


def _entity(name: str) -> str:
    entity = ENTITY_BY_LOWER.get(name.lower())
    if entity is None:
        raise unsupported(f"Entity {name} is not supported")
    return entity


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise QboFault("2010", "Request has invalid or unsupported property", f"Body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise QboFault("2010", "Request has invalid or unsupported property", "Body must be a JSON object")
    return body


def _lowercase_fault(message: str, detail: str, code: str, fault_type: str) -> dict[str, Any]:
    """The envelope Intuit's gateway uses for 401 (and, by our choice, 429): lowercase keys."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {"error": [{"message": message, "detail": detail, "code": code, "element": None}], "type": fault_type},
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }


def _auth_failure(refused: BearerRefused) -> Response:
    if refused.status == 403:
        body = _lowercase_fault(
            "message=AuthorizationFailed; errorCode=003100; statusCode=403", refused.detail, "3100", "SERVICE"
        )
    else:
        body = _lowercase_fault(
            "message=AuthenticationFailed; errorCode=003200; statusCode=401", refused.detail, "3200", "AUTHENTICATION"
        )
    return Response(dump_bytes(body), status_code=refused.status, media_type=JSON)


def _token_error(error: OAuthError) -> Response:
    return Response(dump_bytes({"error": error.error}), status_code=error.status, media_type=JSON)


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


# --------------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------------


def create_app(config: SandboxConfig) -> FastAPI:
    """The QuickBooks sandbox app, wrapped in the shared middleware, with ``/_sandbox`` admin routes."""
    runtime = QboRuntime(config)
    app = FastAPI(title="QuickBooks Online sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.include_router(admin_router(runtime))
    app.include_router(consent_router(runtime))
    install_webhooks(app, runtime)
    base = config.base_url

    @app.middleware("http")
    async def intuit_transaction_id(request: Request, call_next: Any) -> Response:
        """Every Intuit response carries an ``intuit_tid`` header that support asks for; so do ours."""
        response = await call_next(request)
        response.headers["intuit_tid"] = f"sbx-{uuid.uuid4().hex}"
        return response

    def params_of(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    @app.post("/_sandbox/qbo/authorize")
    def authorize(payload: dict[str, Any] = Body(default_factory=dict)) -> dict[str, str]:
        """Sandbox-only: a fresh refresh token for a realm, as if an admin re-authorised the app.

        Tests use it to get their own token chain, so they never spend the bootstrap token that
        sandbox.json hands to the hooks.
        """
        realm_id = str(payload.get("realm_id") or next(iter(runtime.state.realms)))
        token = runtime.oauth.bootstrap(realm_id, runtime.client_id)
        return {"realm_id": realm_id, "refresh_token": token}

    # ---- OAuth --------------------------------------------------------------------------------------

    discovery = {
        "issuer": "https://oauth.platform.intuit.com/op/v1",
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
        "jwks_uri": f"{base}/op/v1/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone", "com.intuit.quickbooks.accounting"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }

    @app.get("/.well-known/openid_configuration")
    @app.get("/.well-known/openid_configuration/")
    @app.get("/.well-known/openid_sandbox_configuration")
    @app.get("/.well-known/openid_sandbox_configuration/")
    async def openid_configuration() -> Response:
        return Response(dump_bytes(discovery), media_type=JSON)

    @app.post("/oauth2/v1/tokens/bearer")
    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client_id, secret = _basic_credentials(request.headers.get("authorization"))
        try:
            runtime.oauth.check_client(client_id, secret)
            grant = form.get("grant_type")
            if grant == "authorization_code":
                body = exchange_code(runtime, str(client_id), form)
                runtime.log.add("token_codes")
                return Response(dump_bytes(body), media_type=JSON, headers={"cache-control": "no-store"})
            if grant != "refresh_token":
                raise OAuthError(400, "unsupported_grant_type", "Use grant_type=refresh_token or authorization_code")
            if not form.get("refresh_token"):
                raise OAuthError(400, "invalid_request", "refresh_token is required")
            body = runtime.oauth.refresh(str(client_id), form["refresh_token"])
        except OAuthError as error:
            return _token_error(error)
        runtime.log.add("token_refreshes")
        return Response(dump_bytes(body), media_type=JSON, headers={"cache-control": "no-store"})

    @app.post("/oauth2/v1/tokens/revoke")
    async def revoke(request: Request) -> Response:
        client_id, secret = _basic_credentials(request.headers.get("authorization"))
        try:
            runtime.oauth.check_client(client_id, secret)
        except OAuthError as error:
            return _token_error(error)
        raw = await request.body()
        try:
            payload = loads(raw) if raw else {}
        except ValueError:
            payload = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if isinstance(payload, dict) and payload.get("token"):
            runtime.oauth.revoke(str(payload["token"]))
        return Response(b"", status_code=200)

    # ---- company endpoints (specific routes first) ----------------------------------------------

    prefix = "/v3/company/{realm_id}"

    @app.get(prefix + "/query")
    async def query_get(realm_id: str, request: Request) -> Response:
        text = request.query_params.get("query", "")
        return runtime.company_call(request, realm_id, lambda realm: runtime.run_query(realm, text))

    @app.post(prefix + "/query")
    async def query_post(realm_id: str, request: Request) -> Response:
        text = (await request.body()).decode("utf-8", "replace") or request.query_params.get("query", "")
        return runtime.company_call(request, realm_id, lambda realm: runtime.run_query(realm, text))

    @app.post(prefix + "/batch")
    async def batch(realm_id: str, request: Request) -> Response:
        raw = await request.body()
        params = params_of(request)
        return runtime.company_call(request, realm_id, lambda realm: runtime.batch(realm, raw, params), write=False)

    @app.get(prefix + "/cdc")
    async def cdc(realm_id: str, request: Request) -> Response:
        params = params_of(request)
        return runtime.company_call(request, realm_id, lambda realm: runtime.cdc(realm, params))

    @app.get(prefix + "/reports/{name}")
    async def report(realm_id: str, name: str, request: Request) -> Response:
        params = params_of(request)
        return runtime.company_call(request, realm_id, lambda realm: runtime.report(realm, name, params))

    @app.get(prefix + "/companyinfo/{company_id}")
    async def company_info(realm_id: str, company_id: str, request: Request) -> Response:
        def work(realm: Realm) -> dict[str, Any]:
            if company_id != realm.realm_id:
                raise object_not_found("CompanyInfo", company_id)
            return {"CompanyInfo": realm.company_info}

        return runtime.company_call(request, realm_id, work)

    @app.get(prefix + "/preferences")
    async def preferences(realm_id: str, request: Request) -> Response:
        return runtime.company_call(request, realm_id, lambda realm: {"Preferences": realm.preferences})

    @app.get(prefix + "/exchangerate")
    async def exchange_rate(realm_id: str, request: Request) -> Response:
        params = params_of(request)
        return runtime.company_call(request, realm_id, lambda realm: runtime.exchange_rate(realm, params))

    @app.get(prefix + "/{entity_name}/{record_id}")
    async def read(realm_id: str, entity_name: str, record_id: str, request: Request) -> Response:
        return runtime.company_call(request, realm_id, lambda realm: runtime.read_entity(realm, entity_name, record_id))

    @app.post(prefix + "/{entity_name}")
    async def write(realm_id: str, entity_name: str, request: Request) -> Response:
        raw = await request.body()
        params = params_of(request)
        return runtime.company_call(
            request, realm_id, lambda realm: runtime.write_entity(realm, entity_name, params, raw), write=True
        )

    # Outermost layer, even outside Starlette's error middleware, so a fault can drop the connection.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SandboxMiddleware(build_stack(), runtime)  # type: ignore[method-assign]
    return app


__all__ = ["DEFAULT_COMPANY_NAME", "DEFAULT_REALM_ID", "QboRuntime", "create_app"]
