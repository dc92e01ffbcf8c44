"""QuickBooks Online Accounting API v3 hook: OAuth2, paging, idempotent writes, throttling, typed faults.

The hook knows the API and nothing about accounting. Records cross the boundary as plain dicts in
QuickBooks' own field names with money as ``Decimal`` (JSON is parsed with ``parse_float=Decimal``
and Decimals are written back as exact JSON numbers; a ``float`` in a request body is refused).

Connection ``quickbooks_default`` (conn type ``quickbooks``): login = client id, password = client
secret; extra ``realm_id``, ``environment`` (``production``/``sandbox``), ``base_url`` and
``token_url`` (overrides, e.g. the local sandbox), ``refresh_token`` (the initial one), and
``minor_version`` (default 75, Intuit's minimum since Aug 2025).

What a finance reader must know
-------------------------------
* **Every write is idempotent.** Each create/update/delete/void carries the caller's ``requestid``,
  and the hook keeps that same id across its own retries. QuickBooks answers a repeated id with the
  original response instead of doing the work twice, so a retry after a lost reply cannot create a
  second invoice. Callers must derive the id from the record (e.g. ``"inv-sync:US:1042"``), never
  from the clock.
* **A replayed requestid returns the ORIGINAL response, including a Fault.** If the first attempt
  failed validation and the record is then corrected, sending it again under the same requestid
  gets the old Fault back and nothing is written. So write request ids must name the *content
  version* too (a hash of the body, or the source record's version/SyncToken); the flows do this.
  Only retries of the very same request may reuse an id.
* **Rotated refresh tokens** are kept encrypted in the state database (see ``_qbo_tokens``), because
  Airflow 3 tasks cannot write connections. Paste a new refresh token into the connection to
  re-authorise; the connection's value then wins.
* **Throttling.** One budget per realm for the whole fleet: every worker process and machine
  counts its starts in the state database (``_budget``), so together they stay under 500
  requests/min (we aim at 475), 10 in any one second and 40 batch calls/min; each process holds at
  most 10 in flight (Airflow pools cap concurrency across workers). The server should therefore not
  need to say 429. If it does (another app shares the realm), every worker on the realm pauses and
  the hook waits (``Retry-After`` if sent, else at least ``throttle_wait_seconds``, default 60 s as
  Intuit asks, jittered up to +25%) and retries; 5xx, timeouts and resets back off exponentially
  with full jitter (tenacity), bounded in attempts and in total wait. Refusals are not retried.
* **Timeouts.** Intuit lets a request run up to 120 s. Writes therefore wait ``write_timeout``
  (default 5 s connect, 130 s read) before giving up and resending, so a resend never overlaps an
  original that is still running; reads use the shorter ``timeout``.
* **Token refresh holds a database lock briefly.** One refresh attempt (``refresh_timeout``,
  default 25 s) is made while the token row is locked; retries happen outside the lock.
* **Validation faults are not retried.** They raise :class:`QuickBooksFault` with the code,
  message, detail, element and the caller's record key, so an operator can fix the row.
* **Logs** carry method, endpoint, status, ``intuit_tid``, fault code, record key and attempt; never
  request or response bodies, amounts, or tokens.

Choices where Intuit's documentation is silent (api-facts.md, "NOT FOUND"):
* 429 body and ``Retry-After``: not documented; we honour ``Retry-After`` when present, else wait
  ``throttle_wait_seconds`` times a uniform draw in [1.0, 1.25] (never less than Intuit's 60 s,
  jittered upwards so workers do not return together).
* HTTP status for 5010: not documented; we look for a ``Fault`` on any status (Intuit sends faults
  with 200 or 400) and treat 5010 as a non-retryable fault except inside :meth:`upsert`.
* Batch size: docs say 30 (limits page) and 10 (batch page); we chunk at 30.
* Batch requestids: each chunk's id is the caller's prefix plus a digest of the chunk's content
  (bIds, operations, entities, bodies), at most 36 characters; bIds are ``b0``..``b29`` (≤ 10). A
  rerun with the same items replays; a rerun with different items gets fresh ids, so stale replies
  are never mapped onto other items.
* Delete response: ``{"<Entity>": {"status": "Deleted", "Id": ...}}``; the inner object is returned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import requests
import tenacity
from airflow.providers.http.hooks.http import HttpHook
from requests_toolbelt.adapters.socket_options import TCPKeepAliveAdapter

from qbo_intacct.hooks import usage
from qbo_intacct.hooks._budget import FleetRateLimiter, SharedBudget, budget_engine
from qbo_intacct.hooks._qbo_tokens import (
    QboNotAuthorisedError,
    QboTokenStore,
    TokenGrant,
    engine_for,
    state_database_url,
)
from qbo_intacct.hooks._transport import (
    ApiError,
    RateLimit,
    RateLimiter,
    RetryPolicy,
    describe_failure,
    is_retryable_exception,
    limiter_for,
    mask_secret,
    parse_retry_after,
)

if TYPE_CHECKING:
    import pandas as pd

PRODUCTION_BASE_URL = "https://quickbooks.api.intuit.com/v3"
SANDBOX_BASE_URL = "https://sandbox-quickbooks.api.intuit.com/v3"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"  # noqa: S105 - a URL, not a secret
#: Intuit's consent page (the authorization endpoint of the OAuth 2.0 authorization-code grant).
AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
#: The only scope the sync needs: read and write the company's accounting data.
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
DEFAULT_MINOR_VERSION = 75

MAX_PAGE_SIZE = 1000
MAX_BATCH_ITEMS = 30
MAX_REQUEST_ID = 50
MAX_BATCH_REQUEST_ID = 36
MAX_BATCH_ITEM_ID = 10
CDC_MAX_OBJECTS = 1000
CDC_LOOKBACK = timedelta(days=30)
STALE_OBJECT_CODE = "5010"

#: Name-list entities return only active rows unless the query asks for inactive ones too.
NAME_LIST_ENTITIES = frozenset(
    {"Account", "Customer", "Vendor", "Employee", "Item", "Class", "Department", "Term", "PaymentMethod", "TaxCode"}
)
#: Entities voided through ``operation=update&include=void`` (Invoice uses ``operation=void``).
VOID_BY_UPDATE = frozenset({"Payment", "SalesReceipt", "BillPayment"})

_ENTITY_NAME = re.compile(r"^[A-Z][A-Za-z]{1,40}$")
_SECRET_KWARGS = ("client_secret", "refresh_token", "access_token", "password", "token")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class QuickBooksError(ApiError):
    """Any QuickBooks failure. ``retryable`` tells a task-level retry policy whether trying later can help."""

    def __init__(
        self,
        message: str,
        *,
        record_key: str | None = None,
        status: int | None = None,
        intuit_tid: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, record_key=record_key)
        self.status = status
        self.intuit_tid = intuit_tid
        self.retryable = retryable
        #: The server's ``Retry-After`` in seconds, when it sent one.
        self.retry_after = retry_after


class QuickBooksAuthError(QuickBooksError):
    """Credentials rejected (401 after a refresh, or ``invalid_grant``/``invalid_client`` on refresh).

    Fix: re-authorise the app and paste the new refresh token into the connection.
    """


class QuickBooksCdcTruncatedError(QuickBooksError):
    """A CDC answer hit the API's object cap, so it may be missing changes: use a shorter window."""


class QuickBooksFault(QuickBooksError):  # noqa: N818 - the contract name; "Fault" is Intuit's word
    """A QuickBooks ``Fault`` (validation, stale object, business rule): not retried by the hook."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str | None = None,
        element: str | None = None,
        record_key: str | None = None,
        *,
        fault_type: str | None = None,
        status: int | None = None,
        intuit_tid: str | None = None,
    ) -> None:
        text = f"QuickBooks fault {code}: {message}"
        if element:
            text += f" (field {element})"
        if detail:
            text += f": {detail}"
        super().__init__(text, record_key=record_key, status=status, intuit_tid=intuit_tid, retryable=False)
        self.text = text
        #: Intuit's own ``Message`` (e.g. "Duplicate Name Exists Error"); ``str(fault)`` has the full story.
        self.message = message
        self.fault_message = message
        self.code = code
        self.detail = detail
        self.element = element
        self.fault_type = fault_type

    def __str__(self) -> str:
        return f"{self.text} (record {self.record_key})" if self.record_key else self.text


# --------------------------------------------------------------------------------------------------
# Batch records
# --------------------------------------------------------------------------------------------------

BatchOperation = Literal["create", "update", "delete", "void"]


@dataclass(frozen=True)
class QboBatchItem:
    """One write in a batch. ``body`` is the entity object (``Id``/``SyncToken`` for update/delete/void)."""

    operation: BatchOperation
    entity: str
    body: Mapping[str, Any]
    record_key: str | None = None


@dataclass(frozen=True)
class QboBatchResult:
    """The outcome of one :class:`QboBatchItem`, in the same position as the item."""

    record_key: str | None
    entity: str
    operation: str
    object: dict[str, Any] | None = None
    fault: QuickBooksFault | None = None

    @property
    def ok(self) -> bool:
        return self.fault is None


@dataclass(frozen=True)
class _QboSettings:
    """The connection, resolved. Secrets are kept out of ``repr`` so a traceback cannot print them."""

    client_id: str
    client_secret: str = field(repr=False)
    realm_id: str
    refresh_token: str = field(repr=False)
    base_url: str
    token_url: str
    minor_version: str


@dataclass
class _Response:
    status: int
    body: dict[str, Any]
    intuit_tid: str | None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    """One logical request across its attempts (the same requestid, body and timeout every time)."""

    method: str
    url: str
    query: dict[str, str]
    payload: bytes | None
    content_type: str
    timeout: Any
    endpoint: str
    record_key: str | None
    budgets: Sequence[str]
    raise_fault: bool
    attempt: int = 0


class _Transient(Exception):  # noqa: N818 - an internal signal to tenacity, never raised to callers
    """This attempt failed in a way another attempt may fix; ``failure`` is what callers get if none does."""

    def __init__(self, failure: QuickBooksError, *, retry_after: float | None = None, throttled: bool = False) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.retry_after = retry_after
        self.throttled = throttled

    def give_up(self, attempts: int) -> QuickBooksError:
        self.failure.message = self.failure.message.replace("{attempts}", str(attempts))
        self.failure.args = (self.failure.message,)
        return self.failure


# --------------------------------------------------------------------------------------------------
# JSON with exact decimals
# --------------------------------------------------------------------------------------------------


def _encode_json(value: Any, path: str = "$") -> str:
    """Serialise a request body; Decimals become exact JSON numbers, floats are refused (money is never float)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: {value} is not a finite number")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise TypeError(f"{path}: float in a QuickBooks request body; pass Decimal (money is never float)")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date):
        return json.dumps(value.isoformat())
    if isinstance(value, Mapping):
        parts = [f"{json.dumps(str(k), ensure_ascii=False)}:{_encode_json(v, f'{path}.{k}')}" for k, v in value.items()]
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode_json(v, f"{path}[{i}]") for i, v in enumerate(value)) + "]"
    raise TypeError(f"{path}: cannot send {type(value).__name__} to QuickBooks")


def _decode_json(text: str) -> dict[str, Any]:
    parsed = json.loads(text, parse_float=Decimal)
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _quote_literal(value: str) -> str:
    """A QuickBooks query string literal: single quotes, apostrophes escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _qbo_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("QuickBooks change windows need timezone-aware datetimes (QBO stores offsets)")
    return moment.isoformat(timespec="seconds")


def _change_time(row: Mapping[str, Any]) -> datetime | None:
    """An object's ``MetaData.LastUpdatedTime`` (aware; compared as instants, since the offset
    QuickBooks writes changes with daylight saving time), or None."""
    text = (row.get("MetaData") or {}).get("LastUpdatedTime")
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def derived_request_id(request_id: str, suffix: str, *, limit: int = MAX_REQUEST_ID) -> str:
    """A deterministic child id (same input -> same id) that fits Intuit's length limit."""
    candidate = f"{request_id}-{suffix}"
    if len(candidate) <= limit:
        return candidate
    digest = hashlib.sha256(candidate.encode()).hexdigest()
    return digest[:limit]


def batch_request_id(prefix: str, batch_item_requests: Sequence[Mapping[str, Any]]) -> str:
    """A batch chunk's requestid: the caller's prefix plus a digest of exactly what the chunk sends.

    The digest covers each item's bId, operation, entity and body (Decimals rendered exactly), so the
    same chunk always gets the same id and any change (another item, a corrected amount, another
    order) gets a new one. At most 36 characters, Intuit's batch limit.
    """
    digest = hashlib.sha256(_encode_json(list(batch_item_requests)).encode()).hexdigest()
    room = MAX_BATCH_REQUEST_ID - len(prefix) - 1
    if room >= 12:
        return f"{prefix}-{digest[: min(room, 20)]}"
    # A long prefix: fold it into the digest so the id still fits and still depends on both.
    return hashlib.sha256(f"{prefix}|{digest}".encode()).hexdigest()[:MAX_BATCH_REQUEST_ID]


def _check_request_id(request_id: str, *, limit: int = MAX_REQUEST_ID) -> str:
    if not request_id or len(request_id) > limit:
        raise ValueError(f"requestid must be 1-{limit} characters (got {len(request_id or '')})")
    return request_id


def _check_entity(entity: str) -> str:
    if not _ENTITY_NAME.match(entity):
        raise ValueError(f"{entity!r} is not a QuickBooks entity name (e.g. 'Invoice', 'Customer')")
    return entity


# --------------------------------------------------------------------------------------------------
# The hook
# --------------------------------------------------------------------------------------------------


class QuickBooksHook(HttpHook):
    """QuickBooks Online Accounting API v3 for one realm (company), through an Airflow connection.

    Built on the HTTP provider's ``HttpHook`` with its own connection type, as the dbt Cloud hook is:
    the provider mounts the keep-alive adapter and sends (``run_and_check``); tenacity runs the
    retries; this class knows Intuit (OAuth, faults, requestid, throttling).
    """

    conn_name_attr = "quickbooks_conn_id"
    default_conn_name = "quickbooks_default"
    conn_type = "quickbooks"
    hook_name = "QuickBooks Online"

    #: Below Intuit's 500/min so clock skew between our window and theirs never tips us over.
    DEFAULT_REQUESTS_PER_MINUTE: ClassVar[int] = 475
    DEFAULT_MAX_CONCURRENT: ClassVar[int] = 10
    DEFAULT_BATCH_PER_MINUTE: ClassVar[int] = 40
    #: Intuit: "10 requests per second, per realm ID and app".
    DEFAULT_REQUESTS_PER_SECOND: ClassVar[int] = 10
    #: Read timeout for writes: above Intuit's 120 s server-side limit, so we never resend while the
    #: original may still be running.
    DEFAULT_WRITE_TIMEOUT: ClassVar[tuple[float, float]] = (5.0, 130.0)
    #: A connection is made in milliseconds or not at all: an unreachable host fails in seconds.
    DEFAULT_CONNECT_TIMEOUT: ClassVar[float] = 5.0
    #: One token request under the database lock may take this long (see ``_qbo_tokens``).
    DEFAULT_REFRESH_TIMEOUT: ClassVar[float] = 25.0
    #: Intuit's CDC cap (objects per response); a full response is treated as truncated.
    cdc_max_objects: int = CDC_MAX_OBJECTS

    def __init__(
        self,
        *,
        quickbooks_conn_id: str = default_conn_name,
        timeout: float = 60.0,
        max_retries: int = 5,
        requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        batch_per_minute: int = DEFAULT_BATCH_PER_MINUTE,
        throttle_wait_seconds: float = 60.0,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
        max_retry_seconds: float = 300.0,
        requests_per_second: int = DEFAULT_REQUESTS_PER_SECOND,
        write_timeout: float | tuple[float, float] = DEFAULT_WRITE_TIMEOUT,
        refresh_timeout: float = DEFAULT_REFRESH_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        for name in _SECRET_KWARGS:
            if name in kwargs:
                kwargs.pop(name)
                warnings.warn(
                    f"QuickBooksHook ignores the {name!r} argument: secrets come from the connection",
                    UserWarning,
                    stacklevel=2,
                )
        logger_name = kwargs.pop("logger_name", None)
        if kwargs:
            raise TypeError(f"QuickBooksHook got unexpected arguments {sorted(kwargs)}")
        keep_alive = TCPKeepAliveAdapter(
            idle=120, count=20, interval=30, pool_connections=4, pool_maxsize=max(16, 2 * max_concurrent)
        )
        super().__init__(method="POST", http_conn_id=quickbooks_conn_id, adapter=keep_alive)
        self._logger_name = logger_name
        self.quickbooks_conn_id = quickbooks_conn_id
        self.connect_timeout = connect_timeout
        self.timeout: float | tuple[float, float] = (
            timeout if isinstance(timeout, tuple) else (min(connect_timeout, timeout), timeout)
        )
        self.write_timeout = write_timeout
        self.refresh_timeout = refresh_timeout
        self.retry_policy = RetryPolicy(
            max_attempts=max(1, max_retries + 1),
            base=backoff_base_seconds,
            cap=backoff_cap_seconds,
            max_total=max_retry_seconds,
        )
        self.rate_limits = (
            RateLimit(requests_per_minute, max_concurrent, name="requests"),
            RateLimit(batch_per_minute, max_concurrent, name="batch"),
            RateLimit(requests_per_second, max_concurrent, name="per_second", window_seconds=1.0),
        )
        self.throttle_wait_seconds = throttle_wait_seconds
        #: 429 responses the hook absorbed (waited and retried); for run statistics.
        self.throttled_responses = 0
        self.requests_sent = 0
        self._masked_token = ""

    # -- connection --------------------------------------------------------------------------------

    @cached_property
    def _settings(self) -> _QboSettings:
        conn = self.get_connection(self.quickbooks_conn_id)
        extra = conn.extra_dejson
        client_id, client_secret = conn.login or "", conn.password or ""
        realm_id = str(extra.get("realm_id") or "")
        refresh_token = extra.get("refresh_token") or ""
        missing = [
            name
            for name, value in (
                ("login (client id)", client_id),
                ("password (client secret)", client_secret),
                ("extra.realm_id", realm_id),
            )
            if not value
        ]
        if missing:
            raise QuickBooksAuthError(f"connection {self.quickbooks_conn_id!r} is missing {', '.join(missing)}")
        mask_secret(client_secret)
        if refresh_token:  # optional: `python -m qbo_intacct.authorize_quickbooks` stores the first one
            mask_secret(refresh_token)
        environment = (extra.get("environment") or "production").lower()
        if environment not in ("production", "sandbox"):
            raise ValueError(f"connection {self.quickbooks_conn_id!r}: environment must be production or sandbox")
        default_base = SANDBOX_BASE_URL if environment == "sandbox" else PRODUCTION_BASE_URL
        return _QboSettings(
            client_id=client_id,
            client_secret=client_secret,
            realm_id=realm_id,
            refresh_token=refresh_token,
            base_url=(extra.get("base_url") or default_base).rstrip("/"),
            token_url=extra.get("token_url") or TOKEN_URL,
            minor_version=str(extra.get("minor_version") or DEFAULT_MINOR_VERSION),
        )

    @property
    def realm_id(self) -> str:
        return self._settings.realm_id

    @cached_property
    def _session(self) -> requests.Session:
        """One keep-alive session per hook, mounted by the provider (``HttpHook`` would build one per call).

        Not ``HttpHook.get_conn()``: it turns every connection extra into a request header, which
        would send the refresh token to every endpoint, and sends login/password as Basic auth.
        """
        self.base_url = self._settings.base_url
        self._base_url_initialized = True
        return self._configure_session_from_mount_adapters(requests.Session())

    @property
    def _max_concurrent(self) -> int:
        return self.rate_limits[0].max_concurrent

    @cached_property
    def _limiter(self) -> RateLimiter:
        """The realm's limiter in this process; its per-minute and per-second windows are fleet-wide."""
        settings = self._settings
        scope = f"quickbooks:{settings.realm_id}:{urlsplit(settings.base_url).netloc}"
        return limiter_for(
            ("quickbooks", settings.base_url, settings.realm_id, self.rate_limits),
            self.rate_limits,
            build=lambda: FleetRateLimiter(
                self.rate_limits,
                SharedBudget(budget_engine(state_database_url()), scope=scope, limits=self.rate_limits),
            ),
        )

    @cached_property
    def _tokens(self) -> QboTokenStore:
        settings = self._settings
        return QboTokenStore(
            engine=engine_for(state_database_url()),
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            realm_id=settings.realm_id,
            seed_refresh_token=settings.refresh_token,
        )

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """The hook's session (``HttpHook``'s signature; the arguments are not used: calls set their own)."""
        return self._session

    # -- OAuth -------------------------------------------------------------------------------------

    def _where(self, url: str) -> str:
        """``connection 'quickbooks_default' (host quickbooks.api.intuit.com)``: for messages that must say where."""
        return f"connection {self.quickbooks_conn_id!r} (host {urlsplit(url).netloc or url})"

    def _send(self, method: str, url: str, *, timeout: Any, **request: Any) -> requests.Response:
        """One HTTP exchange through the provider's ``run_and_check`` (status checks are ours)."""
        prepared = self._session.prepare_request(requests.Request(method, url, **request))
        return self.run_and_check(self._session, prepared, {"timeout": timeout, "check_response": False})

    def _spend_refresh_token(self, refresh_token: str) -> TokenGrant:
        """POST the refresh grant ONCE, with ``refresh_timeout``. Called by the token store under its lock.

        No retries here: the store holds the database write lock while this runs, and retries with
        backoff could keep it for minutes. A transient failure raises a retryable
        :class:`QuickBooksError`; :meth:`_with_token_retries` backs off outside the lock and asks the
        store again (which first re-reads the row: another worker may have refreshed meanwhile).
        A refusal (``invalid_grant``, ``invalid_client``) is never retried.
        """
        settings = self._settings
        usage.count("qbo", "token_refreshes")
        try:
            response = self._send(
                "POST",
                settings.token_url,
                auth=(settings.client_id, settings.client_secret),
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                headers={"Accept": "application/json"},
                timeout=(min(self.connect_timeout, self.refresh_timeout), self.refresh_timeout),
            )
        except requests.RequestException as exc:
            self._log_request("POST", "oauth token", None, None, None, None, 1, note=type(exc).__name__)
            raise QuickBooksError(
                f"QuickBooks token refresh failed: {describe_failure(exc)} reaching {self._where(settings.token_url)}; "
                "check the connection's token_url and the network",
                retryable=is_retryable_exception(exc),
            ) from None
        tid = response.headers.get("intuit_tid")
        self._log_request("POST", "oauth token", response.status_code, tid, None, None, 1)
        if response.status_code == 200:
            payload = _decode_json(response.text)
            access, rotated = payload.get("access_token"), payload.get("refresh_token")
            if not access or not rotated:
                raise QuickBooksAuthError("token endpoint answered without access_token/refresh_token")
            mask_secret(access)
            mask_secret(rotated)
            refresh_expires = payload.get("x_refresh_token_expires_in")
            return TokenGrant(
                access_token=str(access),
                expires_in=float(payload.get("expires_in") or 3600),
                refresh_token=str(rotated),
                refresh_expires_in=float(refresh_expires) if refresh_expires is not None else None,
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise QuickBooksError(
                f"token refresh failed with HTTP {response.status_code}",
                status=response.status_code,
                intuit_tid=tid,
                retryable=True,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        try:
            error_code = str(_decode_json(response.text).get("error") or "unknown")
        except ValueError:
            error_code = "unreadable response"
        raise QuickBooksAuthError(
            f"QuickBooks refused the refresh token ({error_code}, HTTP {response.status_code}) for "
            f"{self._where(settings.token_url)}: re-authorise the app and paste the new refresh token into "
            f"connection {self.quickbooks_conn_id!r} (not retried: a refused token does not get better)",
            status=response.status_code,
            intuit_tid=tid,
        )

    def _token_wait(self, retry_state: tenacity.RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = failure.retry_after if isinstance(failure, QuickBooksError) else None
        return self.retry_policy.delay_for(retry_after, self.retry_policy.planned(retry_state))

    @cached_property
    def _token_retrying(self) -> tenacity.Retrying:
        return self.retry_policy.retrying(
            retry_on=lambda exc: (
                isinstance(exc, QuickBooksError) and not isinstance(exc, QuickBooksAuthError) and exc.retryable
            ),
            wait=self._token_wait,
        )

    def _with_token_retries(self, obtain: Callable[[], str]) -> str:
        """Run a token-store call, retrying transient refresh failures with backoff OUTSIDE the DB lock."""
        token = self._token_retrying(obtain)
        if token != self._masked_token:  # the store masks what it reads or mints; this is belt and braces
            mask_secret(token)
            self._masked_token = token
        return token

    def _access_token(self) -> str:
        try:
            return self._with_token_retries(lambda: self._tokens.access_token(self._spend_refresh_token))
        except QboNotAuthorisedError as exc:
            raise QuickBooksAuthError(f"connection {self.quickbooks_conn_id!r}: {exc}") from None

    def _refresh_after_401(self, stale_access_token: str) -> str:
        try:
            return self._with_token_retries(
                lambda: self._tokens.refresh(self._spend_refresh_token, stale_access_token=stale_access_token)
            )
        except QboNotAuthorisedError as exc:
            raise QuickBooksAuthError(f"connection {self.quickbooks_conn_id!r}: {exc}") from None

    # -- first authorisation (the consent flow; python -m qbo_intacct.authorize_quickbooks) ----------

    def authorize_url(self) -> str:
        """The consent page: extra ``authorize_url`` (e.g. the local sandbox), else Intuit's."""
        return str(self.get_connection(self.quickbooks_conn_id).extra_dejson.get("authorize_url") or AUTHORIZE_URL)

    def exchange_authorization_code(self, *, code: str, redirect_uri: str, realm_id: str) -> None:
        """Spend the code Intuit's consent redirected with and store the first tokens for ``realm_id``.

        ``grant_type=authorization_code`` on the token endpoint (HTTP Basic client auth); the tokens
        go where every hook reads them (the encrypted token store), never to the caller or a log.
        """
        conn = self.get_connection(self.quickbooks_conn_id)
        client_id, client_secret = conn.login or "", conn.password or ""
        if not (client_id and client_secret):
            raise QuickBooksAuthError(
                f"connection {self.quickbooks_conn_id!r} is missing login (client id) or password (client secret)"
            )
        mask_secret(client_secret)
        mask_secret(code)
        extra = conn.extra_dejson
        token_url = extra.get("token_url") or TOKEN_URL
        try:
            response = self._send(
                "POST",
                token_url,
                auth=(client_id, client_secret),
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
                headers={"Accept": "application/json"},
                timeout=(self.connect_timeout, self.refresh_timeout),
            )
        except requests.RequestException as exc:
            raise QuickBooksError(
                f"QuickBooks code exchange failed: {describe_failure(exc)} reaching {self._where(token_url)}"
            ) from None
        payload = _decode_json(response.text) if response.text else {}
        if response.status_code != 200 or not payload.get("refresh_token") or not payload.get("access_token"):
            error = payload.get("error") if isinstance(payload, dict) else None
            raise QuickBooksAuthError(
                f"QuickBooks refused the authorization code ({error or 'no tokens'}, HTTP {response.status_code}) "
                f"for {self._where(token_url)}: start the consent again (a code works once, for a few minutes, "
                "and only with the same redirect URI)",
                status=response.status_code,
            )
        grant = TokenGrant(
            access_token=str(payload["access_token"]),
            expires_in=float(payload.get("expires_in") or 3600),
            refresh_token=str(payload["refresh_token"]),
            refresh_expires_in=float(payload["x_refresh_token_expires_in"])
            if payload.get("x_refresh_token_expires_in") is not None
            else None,
        )
        QboTokenStore(
            engine=engine_for(state_database_url()),
            client_id=client_id,
            client_secret=client_secret,
            realm_id=realm_id,
            seed_refresh_token=str(extra.get("refresh_token") or ""),
        ).save_authorized(grant)

    # -- transport ---------------------------------------------------------------------------------

    def _throttle_wait(self, retry_after: float | None) -> float:
        """After a 429: the server's Retry-After, else at least ``throttle_wait_seconds`` (Intuit: 60 s).

        Jittered upwards only (x1.0 to x1.25): waiting less than Intuit asks risks another 429, and
        the spread keeps workers from all returning in the same instant.
        """
        if retry_after is not None:
            return retry_after
        return random.uniform(1.0, 1.25) * self.throttle_wait_seconds

    def _log_request(
        self,
        method: str,
        endpoint: str,
        status: int | None,
        intuit_tid: str | None,
        code: str | None,
        record_key: str | None,
        attempt: int,
        *,
        note: str | None = None,
    ) -> None:
        # Failures at WARNING; successful writes at INFO (the audit trail); successful reads at DEBUG.
        if status is None or status >= 400 or note is not None:
            level = logging.WARNING
        elif method == "POST" and not endpoint.startswith(("query", "count")):
            level = logging.INFO
        else:
            level = logging.DEBUG
        self.log.log(
            level,
            "QBO %s %s status=%s intuit_tid=%s code=%s record=%s attempt=%d%s",
            method,
            endpoint,
            status if status is not None else "-",
            intuit_tid or "-",
            code or "-",
            record_key or "-",
            attempt,
            f" ({note})" if note else "",
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        text_body: str | None = None,
        content_type: str = "application/json",
        record_key: str | None = None,
        request_id: str | None = None,
        budgets: Sequence[str] = ("requests", "per_second"),
        raise_fault: bool = True,
    ) -> _Response:
        """One logical API call: limiter slot, bearer token, retries with the SAME requestid, fault parsing.

        A call with a ``request_id`` is a write and waits ``write_timeout`` (longer than Intuit's own
        120 s limit) so a resend never races an original still running at Intuit. Retries are
        tenacity's, bounded by :attr:`retry_policy` in attempts and in total wait.
        """
        settings = self._settings
        query: dict[str, str] = {"minorversion": settings.minor_version, **(params or {})}
        if request_id is not None:
            query["requestid"] = request_id
        payload: bytes | None = None
        if body is not None:
            payload = _encode_json(body).encode()
        elif text_body is not None:
            payload = text_body.encode()
        call = _Call(
            method=method,
            url=f"{settings.base_url}/company/{settings.realm_id}{path}",
            query=query,
            payload=payload,
            content_type=content_type,
            timeout=self.write_timeout if request_id is not None else self.timeout,
            endpoint=endpoint,
            record_key=record_key,
            budgets=budgets,
            raise_fault=raise_fault,
        )
        try:
            return self._retrying(self._attempt, call)
        except _Transient as spent:
            raise spent.give_up(call.attempt) from None

    @cached_property
    def _retrying(self) -> tenacity.Retrying:
        """One tenacity loop per hook (its per-call state is thread-local), so threads may share the hook."""
        return self.retry_policy.retrying(
            retry_on=lambda exc: isinstance(exc, _Transient), wait=self._transient_wait, before_sleep=self._on_retry
        )

    def _transient_wait(self, retry_state: tenacity.RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(failure, _Transient) and failure.throttled:
            return self._throttle_wait(failure.retry_after)
        retry_after = failure.retry_after if isinstance(failure, _Transient) else None
        return self.retry_policy.delay_for(retry_after, self.retry_policy.planned(retry_state))

    def _on_retry(self, retry_state: tenacity.RetryCallState) -> None:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(failure, _Transient) and failure.throttled:
            self._limiter.penalise(retry_state.upcoming_sleep)  # every worker on the realm backs off

    def _attempt(self, call: _Call) -> _Response:
        """One attempt (plus, on a 401, one token refresh and resend, which is not a retry)."""
        call.attempt += 1
        refreshed_after_401 = False
        while True:
            token = self._access_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if call.payload is not None:
                headers["Content-Type"] = call.content_type
            try:
                with self._limiter.slot(call.budgets):
                    self.requests_sent += 1
                    usage.count("qbo", usage.qbo_kind(call.endpoint))
                    response = self._send(
                        call.method,
                        call.url,
                        params=call.query,
                        data=call.payload,
                        headers=headers,
                        timeout=call.timeout,
                    )
            except requests.RequestException as exc:
                self._log_request(
                    call.method, call.endpoint, None, None, None, call.record_key, call.attempt, note=type(exc).__name__
                )
                failure = QuickBooksError(
                    f"QuickBooks {call.endpoint} failed: {describe_failure(exc)} reaching {self._where(call.url)} "
                    f"after {{attempts}} attempt(s); check the connection's base_url and the network",
                    record_key=call.record_key,
                    retryable=is_retryable_exception(exc),
                )
                if failure.retryable:
                    raise _Transient(failure) from None
                failure.message = failure.message.replace("{attempts}", "1")
                raise failure from None
            status = response.status_code
            tid = response.headers.get("intuit_tid")
            parsed = self._parse_body(response)
            if parsed is None and status < 400:
                # A truncated reply or a proxy's HTML page with status 200 must never read as "no records".
                raise _Transient(
                    QuickBooksError(
                        f"QuickBooks {call.endpoint} answered HTTP {status} with a body that is not QuickBooks JSON "
                        f"({response.headers.get('Content-Type') or 'no content type'}, {len(response.content)} "
                        f"bytes) after {{attempts}} attempts",
                        record_key=call.record_key,
                        status=status,
                        intuit_tid=tid,
                        retryable=True,
                    )
                )
            parsed = parsed if parsed is not None else {}
            fault = self._fault_from(parsed, status=status, tid=tid, record_key=call.record_key)
            self._log_request(
                call.method, call.endpoint, status, tid, fault.code if fault else None, call.record_key, call.attempt
            )
            if status == 401:
                if refreshed_after_401:
                    raise QuickBooksAuthError(
                        f"QuickBooks rejected a freshly refreshed token for {call.endpoint} (HTTP 401) on "
                        f"{self._where(call.url)}: check the app's access to this company and re-authorise",
                        record_key=call.record_key,
                        status=status,
                        intuit_tid=tid,
                    )
                refreshed_after_401 = True
                self._refresh_after_401(token)
                continue
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429:
                self.throttled_responses += 1
                raise _Transient(
                    QuickBooksError(
                        f"QuickBooks kept throttling {call.endpoint} (HTTP 429) after {{attempts}} attempts",
                        record_key=call.record_key,
                        status=status,
                        intuit_tid=tid,
                        retryable=True,
                    ),
                    retry_after=retry_after,
                    throttled=True,
                )
            if status >= 500:
                raise _Transient(
                    QuickBooksError(
                        f"QuickBooks {call.endpoint} failed with HTTP {status} after {{attempts}} attempts",
                        record_key=call.record_key,
                        status=status,
                        intuit_tid=tid,
                        retryable=True,
                    ),
                    retry_after=retry_after,
                )
            if fault is not None and call.raise_fault:
                if fault.fault_type in ("AuthenticationFault", "AuthorizationFault", "AuthorizatonFault"):
                    raise QuickBooksAuthError(
                        f"{fault} on {self._where(call.url)}: check the app's access to this company and re-authorise",
                        record_key=call.record_key,
                        status=status,
                        intuit_tid=tid,
                    ) from fault
                raise fault
            if status >= 400 and fault is None:
                raise QuickBooksError(
                    f"QuickBooks {call.endpoint} failed with HTTP {status}",
                    record_key=call.record_key,
                    status=status,
                    intuit_tid=tid,
                )
            return _Response(status=status, body=parsed, intuit_tid=tid, headers=response.headers)

    @staticmethod
    def _parse_body(response: requests.Response) -> dict[str, Any] | None:
        """The JSON body; None when a body is there but is not a JSON object (truncated, an HTML page)."""
        if not response.content:
            return {}
        try:
            parsed = _decode_json(response.text)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    @staticmethod
    def _fault_from(
        parsed: Mapping[str, Any], *, status: int | None, tid: str | None, record_key: str | None
    ) -> QuickBooksFault | None:
        """QuickBooks spells it ``Fault``/``Error``/``Message`` and, on 401, ``fault``/``error``/``message``."""
        fault = parsed.get("Fault") or parsed.get("fault")
        if not isinstance(fault, Mapping):
            return None
        errors = fault.get("Error") or fault.get("error") or [{}]
        first = errors[0] if isinstance(errors, list) and errors else {}
        return QuickBooksFault(
            code=str(first.get("code") or first.get("Code") or "unknown"),
            message=str(first.get("Message") or first.get("message") or ""),
            detail=first.get("Detail") or first.get("detail"),
            element=first.get("element") or first.get("Element") or None,
            record_key=record_key,
            fault_type=fault.get("type"),
            status=status,
            intuit_tid=tid,
        )

    # -- reads -------------------------------------------------------------------------------------

    def _select(self, entity: str, where: str | None, include_inactive: bool, order_by: str | None) -> str:
        clauses = [where] if where else []
        if include_inactive and entity in NAME_LIST_ENTITIES and not (where and re.search(r"\bActive\b", where)):
            clauses.append("Active IN (true, false)")
        statement = f"SELECT * FROM {entity}"  # noqa: S608 - QuickBooks query language, entity validated
        if clauses:
            statement += " WHERE " + " AND ".join(clauses)
        if order_by:
            statement += f" ORDERBY {order_by}"
        return statement

    def _run_query(self, statement: str, *, endpoint: str) -> dict[str, Any]:
        response = self._request(
            "POST", "/query", endpoint=endpoint, text_body=statement, content_type="application/text"
        )
        page = response.body.get("QueryResponse")
        if not isinstance(page, dict):
            raise QuickBooksError(
                f"QuickBooks {endpoint} answered without a QueryResponse object "
                f"(keys: {sorted(response.body)[:5]}); the reply is not a query result",
                intuit_tid=response.intuit_tid,
            )
        return page

    def iter_query(
        self,
        entity: str,
        where: str | None = None,
        *,
        include_inactive: bool = True,
        order_by: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Every matching object, page by page (STARTPOSITION/MAXRESULTS) until a short page.

        ``where`` is QuickBooks query syntax (no OR; quote strings with single quotes). Name-list
        entities include inactive rows unless ``include_inactive=False`` or ``where`` mentions Active.
        Pass ``order_by`` for a stable order when the data may change while paging.
        """
        _check_entity(entity)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1-{MAX_PAGE_SIZE}")
        base = self._select(entity, where, include_inactive, order_by)
        start = 1
        while True:
            page = self._run_query(f"{base} STARTPOSITION {start} MAXRESULTS {page_size}", endpoint=f"query {entity}")
            rows = page.get(entity) or []
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise QuickBooksError(
                    f"QuickBooks query {entity} answered {entity} as {type(rows).__name__}, not a list"
                )
            yield from rows
            if len(rows) < page_size:
                return
            start += len(rows)

    def query_frame(self, entity: str, where: str | None = None, **kw: Any) -> pd.DataFrame:
        """The query as a DataFrame: one row per object, top-level scalar fields as columns, ``raw`` = the dict.

        Money stays ``Decimal`` (object dtype); nested fields (refs, lines) are only in ``raw``.
        """
        import pandas as pd

        records = list(self.iter_query(entity, where, **kw))
        rows = [
            {
                **{k: v for k, v in record.items() if not isinstance(v, Mapping | list)},
                "raw": record,
            }
            for record in records
        ]
        frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame({"Id": [], "raw": []})
        return frame.astype(object) if rows else frame

    def iter_changed(
        self, entity: str, since: datetime, until: datetime | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Objects whose ``MetaData.LastUpdatedTime`` is in ``[since, until)``, oldest first.

        Timestamps go out with their UTC offsets (QuickBooks stores Pacific time with an offset);
        the window is half-open so consecutive windows neither miss nor repeat a change.
        Deleted objects do not appear here: use :meth:`cdc` for deletions.

        Pages are keyset pages: each asks again from the latest change time read so far (objects
        read twice are dropped by Id). Plain ``STARTPOSITION`` paging loses one object whenever an
        object already read is edited mid-read: its new time leaves the window and every later
        object moves up a place, across the page boundary. Only when a whole page shares one change
        time does it page on by position within that time. Left: an object edited mid-read inside
        such a group of more than ``page_size`` objects saved in the same second.
        """
        _check_entity(entity)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1-{MAX_PAGE_SIZE}")
        upper = f" AND MetaData.LastUpdatedTime < {_quote_literal(_qbo_timestamp(until))}" if until else ""
        cursor, tied = since, 0  # tied: objects at exactly the cursor time read by position already
        read: set[str] = set()
        while True:
            where = f"MetaData.LastUpdatedTime >= {_quote_literal(_qbo_timestamp(cursor))}{upper}"
            base = self._select(entity, where, True, "MetaData.LastUpdatedTime")
            page = self._run_query(
                f"{base} STARTPOSITION {1 + tied} MAXRESULTS {page_size}", endpoint=f"query {entity}"
            )
            rows = page.get(entity) or []
            for row in rows:
                if str(row.get("Id")) not in read:
                    read.add(str(row.get("Id")))
                    yield row
            if len(rows) < page_size:
                return
            latest = max((t for t in map(_change_time, rows) if t is not None), default=None)
            if latest is None or latest <= cursor:
                tied += len(rows)  # the whole page is at the cursor time: page on within it
            else:
                cursor, tied = latest, 0

    def cdc(self, entities: Iterable[str], changed_since: datetime) -> dict[str, list[dict[str, Any]]]:
        """Change data capture: changed and deleted objects per entity since ``changed_since`` (≤ 30 days).

        CDC returns at most 1,000 objects per call and has no paging. A response that full may have
        dropped changes, and a missed change is a wrong balance later, so it raises
        :class:`QuickBooksCdcTruncatedError` instead of returning a partial picture: ask again with
        a shorter window, or use :meth:`iter_changed` (which pages). Deleted objects come back as
        ``{"Id": ..., "status": "Deleted"}``.
        """
        names = [_check_entity(e) for e in entities]
        if not names:
            raise ValueError("cdc needs at least one entity")
        if changed_since.tzinfo is None:
            raise ValueError("changed_since must be timezone-aware")
        if datetime.now(UTC) - changed_since > CDC_LOOKBACK:
            raise ValueError("QuickBooks CDC looks back at most 30 days; use iter_changed for older windows")
        response = self._request(
            "GET",
            "/cdc",
            endpoint="cdc " + ",".join(names),
            params={"entities": ",".join(names), "changedSince": _qbo_timestamp(changed_since)},
        )
        result: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for block in response.body.get("CDCResponse") or []:
            for query_response in block.get("QueryResponse") or []:
                for name in names:
                    result[name].extend(query_response.get(name) or [])
        total = sum(len(v) for v in result.values())
        if total >= self.cdc_max_objects:
            raise QuickBooksCdcTruncatedError(
                f"QuickBooks CDC returned {total} objects, its cap: changes since {changed_since.isoformat()} may "
                "be missing; ask for a shorter window or use iter_changed",
                intuit_tid=response.intuit_tid,
            )
        return result

    def get(self, entity: str, entity_id: str) -> dict[str, Any]:
        """One object by Id (raises QuickBooksFault 610 if it does not exist)."""
        _check_entity(entity)
        key = f"{entity}:{entity_id}"
        response = self._request(
            "GET", f"/{entity.lower()}/{quote(str(entity_id), safe='')}", endpoint=f"read {entity}", record_key=key
        )
        return self._unwrap(response.body, entity, key)

    def count(self, entity: str, where: str | None = None) -> int:
        """``SELECT COUNT(*)``: how many objects match (inactive name-list rows included)."""
        _check_entity(entity)
        statement = self._select(entity, where, True, None).replace("SELECT *", "SELECT COUNT(*)", 1)
        page = self._run_query(statement, endpoint=f"count {entity}")
        return int(page.get("totalCount") or 0)

    def report(self, name: str, **params: Any) -> dict[str, Any]:
        """A report (e.g. ``ProfitAndLoss``, ``TrialBalance``) as QuickBooks returns it (Header/Columns/Rows)."""
        if not re.match(r"^[A-Za-z]+$", name):
            raise ValueError(f"{name!r} is not a QuickBooks report name")
        query = {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in params.items()}
        return self._request("GET", f"/reports/{name}", endpoint=f"report {name}", params=query).body

    def company_info(self) -> dict[str, Any]:
        realm = self._settings.realm_id
        body = self._request("GET", f"/companyinfo/{realm}", endpoint="read CompanyInfo").body
        return body.get("CompanyInfo") or {}

    def preferences(self) -> dict[str, Any]:
        body = self._request("GET", "/preferences", endpoint="read Preferences").body
        return body.get("Preferences") or {}

    def test_connection(self) -> tuple[bool, str]:
        """For the UI's Test button and the health check: refresh if needed, then read CompanyInfo."""
        try:
            info = self.company_info()
        except QuickBooksError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI shows the message; a stack trace helps nobody there
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected to QuickBooks company {info.get('CompanyName') or self._settings.realm_id!s}"

    # -- writes ------------------------------------------------------------------------------------

    @staticmethod
    def _unwrap(body: Mapping[str, Any], entity: str, record_key: str | None) -> dict[str, Any]:
        obj = body.get(entity)
        if not isinstance(obj, dict):
            raise QuickBooksError(f"QuickBooks answered without a {entity} object", record_key=record_key)
        return obj

    def _write(
        self,
        entity: str,
        body: Mapping[str, Any],
        *,
        request_id: str,
        operation: str,
        params: Mapping[str, str] | None = None,
        record_key: str | None = None,
    ) -> dict[str, Any]:
        _check_entity(entity)
        _check_request_id(request_id)
        key = record_key or (f"{entity}:{body['Id']}" if body.get("Id") else f"{entity}:request:{request_id}")
        response = self._request(
            "POST",
            f"/{entity.lower()}",
            endpoint=f"{operation} {entity}",
            params=params,
            body=body,
            record_key=key,
            request_id=request_id,
        )
        return self._unwrap(response.body, entity, key)

    def create(self, entity: str, body: Mapping[str, Any], *, request_id: str) -> dict[str, Any]:
        """Create an object; returns it with its new ``Id`` and ``SyncToken``. Safe to retry with the same id."""
        if body.get("Id"):
            raise ValueError(f"create {entity}: the body has an Id; use update")
        return self._write(entity, body, request_id=request_id, operation="create")

    def update(self, entity: str, body: Mapping[str, Any], *, request_id: str, sparse: bool = True) -> dict[str, Any]:
        """Update by ``Id`` + current ``SyncToken``. Sparse (default) changes only the fields sent;
        a full update clears every writable field left out. A ``Line`` array always replaces all lines.
        """
        if not body.get("Id") or body.get("SyncToken") is None:
            raise ValueError(f"update {entity}: the body needs Id and SyncToken")
        return self._write(entity, {**body, "sparse": sparse}, request_id=request_id, operation="update")

    def delete(self, entity: str, entity_id: str, sync_token: str, *, request_id: str) -> dict[str, Any]:
        """Delete a transaction (name-list objects cannot be deleted: update ``Active`` to false)."""
        return self._write(
            entity,
            {"Id": str(entity_id), "SyncToken": str(sync_token)},
            request_id=request_id,
            operation="delete",
            params={"operation": "delete"},
        )

    def void(self, entity: str, entity_id: str, sync_token: str, *, request_id: str) -> dict[str, Any]:
        """Void: the transaction stays (amounts zeroed, marked Voided) so the audit trail survives."""
        body: dict[str, Any] = {"Id": str(entity_id), "SyncToken": str(sync_token)}
        if entity in VOID_BY_UPDATE:
            params = {"operation": "update", "include": "void"}
            body["sparse"] = True
        else:
            params = {"operation": "void"}
        return self._write(entity, body, request_id=request_id, operation="void", params=params)

    def upsert(self, entity: str, body: Mapping[str, Any], *, request_id: str) -> dict[str, Any]:
        """Sparse update that survives one concurrent edit: on 5010 (stale SyncToken) re-read and retry once.

        Only the fields in ``body`` are written, so the other user's changes to other fields stay.
        The retry uses a derived requestid (``<request_id>-r5010``): QuickBooks would otherwise replay
        the 5010 answer for the original id. Without an ``Id`` the body is created instead.
        """
        if not body.get("Id"):
            return self.create(entity, body, request_id=request_id)
        try:
            return self.update(entity, body, request_id=request_id)
        except QuickBooksFault as fault:
            if fault.code != STALE_OBJECT_CODE:
                raise
            current = self.get(entity, str(body["Id"]))
            self.log.info("QBO upsert %s:%s: stale SyncToken, retrying once on the current one", entity, body["Id"])
            return self.update(
                entity,
                {**body, "SyncToken": current["SyncToken"]},
                request_id=derived_request_id(request_id, "r5010"),
            )

    def batch(self, items: Sequence[QboBatchItem], *, request_id_prefix: str) -> list[QboBatchResult]:
        """Writes in batches of 30; one result per item, in order; a faulted item does not stop the rest.

        Each chunk's requestid is ``<prefix>-<digest of the chunk's content>`` (≤ 36 characters): the
        bIds, operations, entities and bodies. Re-running the same items after a crash replays
        QuickBooks' stored answers instead of writing twice (wherever they fall in the list, as long
        as they chunk the same); a chunk whose content differs gets a new id, so a stale reply is
        never mapped onto other items. As for single writes, a replay returns the original answer,
        Faults included: a corrected body is different content and therefore really retried.
        """
        results: list[QboBatchResult] = []
        for start in range(0, len(items), MAX_BATCH_ITEMS):
            chunk = items[start : start + MAX_BATCH_ITEMS]
            requests_out = self._batch_requests(chunk)
            request_id = batch_request_id(request_id_prefix, requests_out)
            results.extend(self._batch_chunk(chunk, requests_out, request_id))
        return results

    @staticmethod
    def _batch_requests(chunk: Sequence[QboBatchItem]) -> list[dict[str, Any]]:
        requests_out = []
        for index, item in enumerate(chunk):
            _check_entity(item.entity)
            body = dict(item.body)
            operation = item.operation
            if operation == "update":
                body.setdefault("sparse", True)
            requests_out.append({"bId": f"b{index}", "operation": operation, item.entity: body})
        return requests_out

    def _batch_chunk(
        self, chunk: Sequence[QboBatchItem], requests_out: list[dict[str, Any]], request_id: str
    ) -> list[QboBatchResult]:
        response = self._request(
            "POST",
            "/batch",
            endpoint=f"batch x{len(chunk)}",
            body={"BatchItemRequest": requests_out},
            request_id=request_id,
            budgets=("requests", "batch", "per_second"),
            record_key=f"batch:{request_id}",
        )
        by_id = {str(r.get("bId")): r for r in response.body.get("BatchItemResponse") or []}
        results: list[QboBatchResult] = []
        for index, item in enumerate(chunk):
            reply = by_id.get(f"b{index}")
            if reply is None:
                fault = QuickBooksFault(
                    "missing",
                    "no answer for this batch item",
                    record_key=item.record_key,
                    intuit_tid=response.intuit_tid,
                )
                results.append(QboBatchResult(item.record_key, item.entity, item.operation, fault=fault))
                continue
            fault = self._fault_from(reply, status=response.status, tid=response.intuit_tid, record_key=item.record_key)
            if fault is not None:
                self._log_request(
                    "POST",
                    f"batch {item.operation} {item.entity}",
                    response.status,
                    response.intuit_tid,
                    fault.code,
                    item.record_key,
                    1,
                )
                results.append(QboBatchResult(item.record_key, item.entity, item.operation, fault=fault))
            else:
                obj = reply.get(item.entity)
                results.append(
                    QboBatchResult(
                        item.record_key, item.entity, item.operation, object=obj if isinstance(obj, dict) else None
                    )
                )
        return results
