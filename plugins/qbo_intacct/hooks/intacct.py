"""Sage Intacct XML Web Services hook: sessions, paged queries, idempotent batched writes.

This hook knows the Intacct gateway and nothing about accounting. Flows hand it records as flat
dicts of UPPERCASE Intacct fields (money as ``Decimal``) and get back typed results; they never see
XML. The wire format lives in :mod:`qbo_intacct.hooks._intacct_xml`.

What a finance reader must know
-------------------------------
- **No double posting.** Every write function carries a ``controlid`` derived from the record's
  idempotency key and every write request says ``uniqueid=true``: Intacct then refuses to execute the
  same function controlid twice, so a request whose response was lost can be re-sent safely, now or
  in tomorrow's rerun. The key must therefore name *this version* of the change: a creation key such
  as ``customers:qbo:17`` is right for a create, but an *update* key must change when the content
  changes (e.g. include the source system's version/SyncToken), or Intacct treats the second update
  as a replay of the first.
- **One result per record.** Writes go out many functions per request (``functions_per_request``,
  default 50, and a request-size bound), and each function gets its own :class:`IntacctResult`:
  ``RECORDNO`` on success, or ``errorno``, ``description2``, ``correction`` and the caller's record
  key on failure. One bad record does not stop the others unless ``transaction=True`` (then Intacct
  rolls the whole request back and the others come back ``aborted``).
- **API transactions are money.** Intacct bills per API transaction (each created/updated/deleted
  record counts one, each query call counts one). :attr:`IntacctHook.api_transactions` (and
  :meth:`IntacctHook.usage`) count what this hook spent, as far as the responses show: a write whose
  response was lost is counted once, when its replay is answered; a whole rerun answered from
  Intacct's replay memory is counted again (an upper bound, see :meth:`IntacctHook.usage`).
- **Entities.** A session is per entity (``LOCATIONENTITY`` id) or top level (``""``). An entity
  session sees that entity's records (and shared top-level ones); top-level reads see everything when
  ``show_private=True``.
- **Sessions are shared by the tasks of a run.** An entity's session is kept encrypted in the state
  database until Intacct's own ``sessiontimeout`` (see ``_intacct_sessions``), so the next task on
  any worker uses it instead of signing in again; a session Intacct refuses is replaced once.
- **Failed sign-ins are never retried** (repeated failures can lock the user out): the
  :class:`IntacctAuthError` names the connection, host, company and user and says what to check.

Choices where Sage's documentation is silent (api-facts.md "NOT FOUND"), each a decision:
- Expired/invalid session errorno is NOT FOUND: any authentication-level failure on a *session*
  request drops the session, opens a new one with the stored login and re-sends once. A failure on a
  *login* request is an :class:`IntacctAuthError` (wrong credentials never get better by retrying).
- What Intacct returns for a replayed controlid under ``uniqueid=true`` is NOT FOUND. If the replay
  comes back as success, the original result is used. If it comes back as a failure naming the
  duplicate controlid, the result is typed ``duplicate`` (``IntacctResult.already_applied``): the
  record *was* posted by the earlier attempt, and the caller can look its RECORDNO up by its ID.
- The session response's ``<endpoint>`` is used for later calls (as Intacct documents), but only when
  it has the configured endpoint's scheme and either the same host or, for the real service, a host
  under ``intacct.com``; anything else is ignored and the configured endpoint kept (a spoofed or
  proxied response cannot redirect credentials elsewhere).
- Max functions per request is NOT FOUND; 50 per request and 450,000 bytes per request are our
  bounds (the async limit is 500,000 characters; a third-party page recommends about 100 records).
- Concurrency: Intacct's default is 2 concurrent API requests per company. Within one process a
  limiter keyed by company id holds this hook to 2 in flight; across processes the Airflow pool
  ``intacct_api`` (2 slots) does. Intacct has no per-minute limit (it bills per transaction), so
  there is no fleet-wide window here.
- Unreadable replies: control characters (which XML forbids and Intacct may send) are kept; a reply
  that still cannot be parsed raises :class:`IntacctXmlError` naming the request controlid, the
  functions, the object and the record nearest to where parsing stopped.
- Retries: HTTP 429 / ``GW-0010``, HTTP 5xx except 524, connection resets and timeouts, with
  full-jitter backoff. 524 ("CDN cut the connection but the system is still processing") is not
  retried, like Sage's own SDK: it surfaces as an :class:`IntacctControlError`, and a rerun is safe
  because of the controlids.
- Query paging orders by ``RECORDNO`` when the caller gives no order (``query`` has no default order,
  and offset paging over an unordered result can skip or repeat rows).
- ``WHENMODIFIED`` windows are ``since <= WHENMODIFIED < until`` at whole-second resolution in the
  company timezone; records with a null WHENMODIFIED are not returned by a change query.

Logging: one line per request attempt with the request control id, function names and count, entity,
attempt, HTTP status, errornos and the callers' record keys. Never bodies, amounts, passwords or
session ids (all of which are also registered with Airflow's secret masker).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
import tenacity
import urllib3
from airflow.providers.http.hooks.http import HttpHook
from requests_toolbelt.adapters.socket_options import TCPKeepAliveAdapter
from sqlalchemy.exc import DBAPIError

from qbo_intacct.hooks import usage
from qbo_intacct.hooks._intacct_sessions import IntacctSessionStore, NoSessionStore, StoredSession
from qbo_intacct.hooks._intacct_xml import (
    ErrorDetail,
    FunctionCall,
    FunctionResult,
    GatewayResponse,
    IntacctAuthError,
    IntacctControlError,
    IntacctError,
    IntacctFunctionError,
    IntacctValueError,
    IntacctXmlError,
    build_request,
    format_datetime,
    function_control_id,
    function_size,
    parse_response,
    record_from_xml,
    render_function,
    request_control_id,
)
from qbo_intacct.hooks._qbo_tokens import engine_for, state_database_url
from qbo_intacct.hooks._transport import (
    RateLimit,
    RetryPolicy,
    describe_failure,
    is_retryable_exception,
    limiter_for,
    mask_secret,
    parse_retry_after,
)
from qbo_intacct.state_db import StateDatabaseError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_ENDPOINT",
    "Filter",
    "IntacctAuthError",
    "IntacctControlError",
    "IntacctError",
    "IntacctFunction",
    "IntacctFunctionError",
    "IntacctHook",
    "IntacctResult",
    "IntacctValueError",
    "IntacctXmlError",
]

DEFAULT_ENDPOINT = "https://api.intacct.com/ia/xml/xmlgw.phtml"
DEFAULT_TIMEZONE = "America/Los_Angeles"
DEFAULT_FUNCTIONS_PER_REQUEST = 50
DEFAULT_MAX_REQUEST_BYTES = 450_000
MAX_QUERY_PAGE_SIZE = 2000
MAX_READ_KEYS = 100
COMPANY_CONCURRENCY = 2
_SESSION_RENEW_MARGIN_SECONDS = 60.0
#: Writes may run up to 15 minutes synchronously at Intacct: wait that long before calling it lost.
DEFAULT_WRITE_TIMEOUT: tuple[float, float] = (5.0, 900.0)
#: Reads: a connection is made in milliseconds or not at all, so an unreachable host fails in seconds.
DEFAULT_READ_TIMEOUT: tuple[float, float] = (5.0, 300.0)
#: Least wait before resending a write whose answer was lost after it was sent.
DEFAULT_WRITE_RESEND_DELAY_SECONDS = 30.0
#: Least wait after a throttling answer (429, GW-0010, "API rate limit exceeded").
DEFAULT_THROTTLE_FLOOR_SECONDS = 5.0
_RATE_LIMIT_ERRORNOS = frozenset({"GW-0010"})
_LOGIN_ERRORNOS = frozenset({"XL03000006", "XMLGW_JPP0002", "UJPP0002"})
_DUPLICATE_HINTS = ("controlid", "control id", "already been executed", "previously executed", "duplicate")


# --------------------------------------------------------------------------------------------------
# Values that cross the hook boundary
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntacctFunction:
    """One write (or any function) a flow wants run, e.g.
    ``IntacctFunction("create", {"CUSTOMER": {...}}, "customers:qbo:17", "qbo:17")``.

    ``idempotency_key`` decides the function controlid (same key, same controlid, forever);
    ``record_key`` is what results and errors are reported under (defaults to the idempotency key).
    """

    name: str
    payload: Mapping[str, Any]
    idempotency_key: str
    record_key: str | None = None

    @property
    def reported_key(self) -> str:
        return self.record_key or self.idempotency_key


ResultStatus = Literal["success", "failure", "aborted", "duplicate"]


@dataclass(frozen=True)
class IntacctResult:
    """The outcome of one function. ``ok`` means Intacct holds the record exactly once."""

    function: str
    control_id: str
    idempotency_key: str
    record_key: str
    status: ResultStatus
    record_no: str | None = None
    records: tuple[dict[str, Any], ...] = ()
    errors: tuple[ErrorDetail, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in ("success", "duplicate")

    @property
    def already_applied(self) -> bool:
        """True when Intacct said this controlid had already run: posted earlier, not now."""
        return self.status == "duplicate"

    def _first(self, attr: str) -> str:
        return getattr(self.errors[0], attr) if self.errors else ""

    @property
    def errorno(self) -> str:
        return self._first("errorno")

    @property
    def description(self) -> str:
        return self._first("description")

    @property
    def description2(self) -> str:
        return self._first("description2")

    @property
    def correction(self) -> str:
        return self._first("correction")

    def error(self) -> IntacctFunctionError | None:
        """The typed error for a failed or aborted function, ``None`` when it succeeded."""
        if self.ok:
            return None
        return IntacctFunctionError(
            self.errorno or self.status,
            self.description,
            self.description2,
            self.correction,
            self.record_key,
            errors=self.errors,
        )

    def raise_for_error(self) -> IntacctResult:
        err = self.error()
        if err is not None:
            raise err
        return self


class Filter:
    """Builders for the ``query`` function's ``<filter>``; values are rendered and escaped by the hook.

    ``Filter.all_of(Filter.equal("STATUS", "active"), Filter.at_least("WHENMODIFIED", since))``
    """

    @staticmethod
    def _cmp(op: str, field_name: str, value: Any) -> dict[str, Any]:
        return {op: {"field": field_name, "value": value}}

    @classmethod
    def equal(cls, field_name: str, value: Any) -> dict[str, Any]:
        return cls._cmp("equalto", field_name, value)

    @classmethod
    def not_equal(cls, field_name: str, value: Any) -> dict[str, Any]:
        return cls._cmp("notequalto", field_name, value)

    @classmethod
    def less_than(cls, field_name: str, value: Any) -> dict[str, Any]:
        return cls._cmp("lessthan", field_name, value)

    @classmethod
    def at_most(cls, field_name: str, value: Any) -> dict[str, Any]:
        return cls._cmp("lessthanorequalto", field_name, value)

    @classmethod
    def greater_than(cls, field_name: str, value: Any) -> dict[str, Any]:
        return cls._cmp("greaterthan", field_name, value)

    @classmethod
    def at_least(cls, field_name: str, value: Any) -> dict[str, Any]:
        return cls._cmp("greaterthanorequalto", field_name, value)

    @classmethod
    def like(cls, field_name: str, pattern: str) -> dict[str, Any]:
        return cls._cmp("like", field_name, pattern)

    @staticmethod
    def one_of(field_name: str, values: Sequence[Any]) -> dict[str, Any]:
        return {"in": {"field": field_name, "value": list(values)}}

    @staticmethod
    def is_null(field_name: str) -> dict[str, Any]:
        return {"isnull": {"field": field_name}}

    @staticmethod
    def _combine(op: str, filters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        merged: dict[str, list[Any]] = {}
        for flt in filters:
            for key, body in flt.items():
                merged.setdefault(key, []).append(body)
        return {op: merged}

    @classmethod
    def all_of(cls, *filters: Mapping[str, Any]) -> dict[str, Any]:
        if len(filters) == 1:
            return dict(filters[0])
        return cls._combine("and", filters)

    @classmethod
    def any_of(cls, *filters: Mapping[str, Any]) -> dict[str, Any]:
        if len(filters) == 1:
            return dict(filters[0])
        return cls._combine("or", filters)


# --------------------------------------------------------------------------------------------------
# Connection settings and sessions (private)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    sender_id: str
    sender_password: str = field(repr=False)
    user_id: str
    user_password: str = field(repr=False)
    company_id: str
    entity_id: str
    endpoint_url: str
    tz: ZoneInfo


@dataclass
class _Session:
    session_id: str = field(repr=False)
    endpoint_url: str
    entity_id: str
    expires_at: datetime | None


def _same_endpoint_family(configured: str, returned: str) -> bool:
    """Whether a session's ``<endpoint>`` may receive our session id (see module docstring)."""
    want, got = urlsplit(configured), urlsplit(returned)
    if not got.scheme or not got.hostname or got.scheme != want.scheme:
        return False
    if (got.hostname, got.port) == (want.hostname, want.port):
        return True
    want_host, got_host = (want.hostname or "").lower(), got.hostname.lower()
    intacct = want_host == "intacct.com" or want_host.endswith(".intacct.com")
    return intacct and got.scheme == "https" and (got_host == "intacct.com" or got_host.endswith(".intacct.com"))


def _parse_timeout(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _summarise_keys(keys: Sequence[str], limit: int = 5) -> str:
    shown = ",".join(keys[:limit])
    return f"{shown},+{len(keys) - limit} more" if len(keys) > limit else shown


def _count_objects(call: IntacctFunction) -> int:
    """API transactions a successful write spends: one per object created/updated/deleted."""
    if call.name in ("create", "update"):
        total = 0
        for value in call.payload.values():
            total += len(value) if isinstance(value, list | tuple) else 1
        return max(total, 1)
    if call.name == "delete":
        keys = str(call.payload.get("keys", ""))
        return max(len([k for k in keys.split(",") if k.strip()]), 1)
    return 1


class _TransientError(Exception):
    """Internal signal: this attempt failed transiently.

    ``penalty`` asks the limiter to pause every caller; ``floor`` is the least wait before the next
    attempt (throttling); ``retry_after`` is the server's ``Retry-After``; ``may_still_run`` means the
    request reached Intacct and may still be executing there (read timeout, connection lost after
    sending, 502, 504); ``gateway_gave_up`` means a gateway answered 502/504 while the backend may
    run on for up to 15 minutes.
    """

    def __init__(
        self,
        reason: str,
        *,
        penalty: bool = False,
        floor: float = 0.0,
        retry_after: float | None = None,
        may_still_run: bool = False,
        gateway_gave_up: bool = False,
        http_status: int | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.unreachable = unreachable
        self.http_status = http_status
        self.reason = reason
        self.penalty = penalty
        self.floor = floor
        self.retry_after = retry_after
        self.may_still_run = may_still_run
        self.gateway_gave_up = gateway_gave_up


def _never_left(exc: requests.RequestException) -> bool:
    """Whether a failed request certainly never reached Intacct (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _transient_text(errors: Sequence[ErrorDetail]) -> str | None:
    """Which transient condition an error's text names: "rate" (throttled), "offline", or None.

    Intacct reports throttling and maintenance in the text of ordinary errors too (Sage's SDK
    raises 'API rate limit exceeded'); the errornos are not documented, so the text decides.
    """
    for err in errors:
        text = f"{err.description} {err.description2}".lower()
        if "rate limit exceeded" in text:
            return "rate"
        if "temporarily off-line" in text or "temporarily offline" in text:
            return "offline"
    return None


# --------------------------------------------------------------------------------------------------
# The hook
# --------------------------------------------------------------------------------------------------


class IntacctHook(HttpHook):
    """Sage Intacct XML gateway client for Airflow.

    Built on the HTTP provider's ``HttpHook`` with its own connection type (as the dbt Cloud hook
    is): the provider mounts the keep-alive adapter (a synchronous write may take 15 minutes) and
    sends; tenacity runs the retries; this class knows the gateway (envelope, sessions, control ids).

    :param intacct_conn_id: Airflow connection (type ``intacct``): login = user id, password = user
        password; extra ``sender_id``, ``sender_password``, ``company_id``, ``entity_id`` (default
        entity), ``endpoint_url`` (override), ``timezone`` (IANA, for WHENMODIFIED).
    :param entity_id: entity to act in; ``None`` = the connection's default, ``""`` = top level.
    :param functions_per_request: write functions batched into one request.
    :param timeout: seconds to wait for a read's response (or ``(connect, read)``); a timeout is retried.
    :param write_timeout: the same for write requests; default 900 s read, Intacct's own limit for a
        synchronous request, so we do not give up (and resend) while the original still runs.
    :param write_resend_delay_seconds: least wait before resending a write whose answer was lost
        after it was sent (timeout, dropped connection). A write a gateway gave up on (502, 504,
        524) is not resent in the task: the original may still be running; a rerun replays it.
    :param throttle_floor_seconds: least wait after HTTP 429 / GW-0010 / "rate limit exceeded".
    :param max_request_bytes: upper bound on one request's size.
    :param retry_policy: attempts and backoff for transient failures.
    """

    conn_name_attr = "intacct_conn_id"
    default_conn_name = "intacct_default"
    conn_type = "intacct"
    hook_name = "Sage Intacct"

    def __init__(
        self,
        *,
        intacct_conn_id: str = default_conn_name,
        entity_id: str | None = None,
        functions_per_request: int = DEFAULT_FUNCTIONS_PER_REQUEST,
        timeout: float | tuple[float, float] = DEFAULT_READ_TIMEOUT,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        retry_policy: RetryPolicy | None = None,
        write_timeout: float | tuple[float, float] = DEFAULT_WRITE_TIMEOUT,
        write_resend_delay_seconds: float = DEFAULT_WRITE_RESEND_DELAY_SECONDS,
        throttle_floor_seconds: float = DEFAULT_THROTTLE_FLOOR_SECONDS,
        **kwargs: Any,
    ) -> None:
        for secret in ("password", "sender_password", "user_password", "session_id", "sessionid"):
            if secret in kwargs:
                raise TypeError(f"IntacctHook does not take {secret!r}: secrets come from the Airflow connection")
        logger_name = kwargs.pop("logger_name", None)
        if kwargs:
            raise TypeError(f"IntacctHook got unexpected arguments {sorted(kwargs)}")
        super().__init__(
            method="POST",
            http_conn_id=intacct_conn_id,
            adapter=TCPKeepAliveAdapter(idle=120, count=20, interval=30, pool_maxsize=2 * COMPANY_CONCURRENCY + 2),
        )
        self._logger_name = logger_name
        if functions_per_request < 1:
            raise ValueError("functions_per_request must be at least 1")
        self.intacct_conn_id = intacct_conn_id
        self._entity_override = entity_id
        self.functions_per_request = functions_per_request
        self.timeout = timeout
        self.write_timeout = write_timeout
        self.write_resend_delay_seconds = write_resend_delay_seconds
        self.throttle_floor_seconds = throttle_floor_seconds
        self.max_request_bytes = max_request_bytes
        self.retry_policy = retry_policy or RetryPolicy(max_attempts=5, base=0.5, cap=30.0, max_total=120.0)
        self.api_transactions = 0
        self.requests_sent = 0
        self.retries = 0
        self.sessions_opened = 0
        self._sessions: dict[str, _Session] = {}
        self._session_lock = threading.Lock()
        self._stats_lock = threading.Lock()

    # ---------------------------------------------------------------- connection

    @cached_property
    def _settings(self) -> _Settings:
        conn = self.get_connection(self.intacct_conn_id)
        extra = conn.extra_dejson
        missing = [
            name
            for name, value in (
                ("login (user id)", conn.login),
                ("password (user password)", conn.password),
                ("extra.sender_id", extra.get("sender_id")),
                ("extra.sender_password", extra.get("sender_password")),
                ("extra.company_id", extra.get("company_id")),
            )
            if not value
        ]
        if missing:
            raise IntacctAuthError(f"connection {self.intacct_conn_id!r} is missing {', '.join(missing)}")
        tz_name = extra.get("timezone") or DEFAULT_TIMEZONE
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise IntacctValueError(
                f"connection {self.intacct_conn_id!r}: timezone {tz_name!r} is not an IANA zone name"
            ) from None
        for secret in (conn.password, extra.get("sender_password")):
            mask_secret(secret)
        return _Settings(
            sender_id=str(extra["sender_id"]),
            sender_password=str(extra["sender_password"]),
            user_id=str(conn.login),
            user_password=str(conn.password),
            company_id=str(extra["company_id"]),
            entity_id=str(extra.get("entity_id") or ""),
            endpoint_url=str(extra.get("endpoint_url") or DEFAULT_ENDPOINT),
            tz=tz,
        )

    @cached_property
    def _http(self) -> requests.Session:
        """One keep-alive session per hook, mounted by the provider (not ``HttpHook.get_conn()``, which
        would turn the connection extras, the sender password among them, into request headers)."""
        self.base_url = self._settings.endpoint_url
        self._base_url_initialized = True
        http = self._configure_session_from_mount_adapters(requests.Session())
        http.headers.update({"Content-Type": "application/xml; charset=utf-8", "Accept": "application/xml"})
        return http

    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None) -> Any:
        """The hook's session (``HttpHook``'s signature; the arguments are not used)."""
        return self._http

    def _where(self) -> str:
        """Where a failure happened, for messages: connection id, host, company and user (no secret)."""
        s = self._settings
        host = urlsplit(s.endpoint_url).netloc or s.endpoint_url
        return f"connection {self.intacct_conn_id!r} (host {host}, company {s.company_id}, user {s.user_id})"

    @cached_property
    def _stored_sessions(self) -> IntacctSessionStore | NoSessionStore:
        s = self._settings
        try:
            return IntacctSessionStore(
                engine_for(state_database_url()),
                endpoint_url=s.endpoint_url,
                company_id=s.company_id,
                user_id=s.user_id,
                sender_id=s.sender_id,
                user_password=s.user_password,
                sender_password=s.sender_password,
            )
        except (DBAPIError, StateDatabaseError) as exc:
            self.log.warning(
                "Intacct sessions cannot be kept in the state database (%s); each task signs in", type(exc).__name__
            )
            return NoSessionStore()

    @property
    def timezone(self) -> ZoneInfo:
        """The company timezone WHENMODIFIED is read in."""
        return self._settings.tz

    @property
    def default_entity(self) -> str:
        return self._entity_override if self._entity_override is not None else self._settings.entity_id

    def _entity(self, entity_id: str | None) -> str:
        return self.default_entity if entity_id is None else entity_id

    @cached_property
    def _limiter(self) -> Any:
        return limiter_for(
            ("intacct", self._settings.company_id),
            [RateLimit(requests_per_minute=100_000, max_concurrent=COMPANY_CONCURRENCY, name="requests")],
        )

    # ---------------------------------------------------------------- sessions

    def _open_session(self, entity: str) -> _Session:
        """Log in with the stored credentials and get an API session for ``entity`` ("" = top level)."""
        s = self._settings
        login = {"userid": s.user_id, "companyid": s.company_id, "password": s.user_password}
        if entity:
            login["locationid"] = entity
        call = FunctionCall("getAPISession", f"session-{uuid.uuid4().hex}", None)
        tree = render_function(call, s.tz)
        response = self._exchange(
            lambda: build_request(
                sender_id=s.sender_id,
                sender_password=s.sender_password,
                control_id=call.control_id,
                functions=[tree],
                login=login,
                unique_id=False,
            ),
            url=s.endpoint_url,
            names=["getAPISession"],
            record_keys=[],
            entity=entity,
        )
        if not response.auth_ok:
            raise self._auth_error(response.auth_errors, f"Intacct refused the sign-in for {self._where()}")
        result = response.results[0] if response.results else None
        if result is None or result.status != "success" or not result.records:
            errs = result.errors if result else ()
            raise IntacctAuthError(
                f"Intacct did not open an API session for {self._where()}"
                + (f" in entity {entity!r}" if entity else "")
                + (f": {errs[0].text()}" if errs else "")
                + ". Check the user's access to that entity; not retried",
                errorno=errs[0].errorno if errs else "",
            )
        api = result.records[0]
        session_id = str(api.get("sessionid") or "")
        if not session_id:
            raise IntacctAuthError("Intacct returned an empty session id")
        mask_secret(session_id)
        returned = str(api.get("endpoint") or "")
        endpoint = returned if returned and _same_endpoint_family(s.endpoint_url, returned) else s.endpoint_url
        if returned and endpoint != returned:
            self.log.warning("Intacct session endpoint host differs from the configured endpoint; keeping configured")
        with self._stats_lock:
            self.sessions_opened += 1
        usage.count("intacct", "sessions_opened")
        return _Session(
            session_id=session_id,
            endpoint_url=endpoint,
            entity_id=entity,
            expires_at=_parse_timeout(response.session_timeout),
        )

    def _session(self, entity: str) -> _Session:
        """The entity's session: this hook's, else one another task stored (state DB), else a new sign-in."""
        with self._session_lock:
            cached = self._sessions.get(entity)
            now = datetime.now(UTC)
            if (
                cached is not None
                and cached.expires_at is not None
                and (cached.expires_at - now).total_seconds() < _SESSION_RENEW_MARGIN_SECONDS
            ):
                cached = None
            if cached is None:
                stored = self._stored_sessions.get(entity, valid_after=now.timestamp() + _SESSION_RENEW_MARGIN_SECONDS)
                # The stored endpoint is re-checked like a fresh one: our credentials go wherever it points.
                if stored is not None and _same_endpoint_family(self._settings.endpoint_url, stored.endpoint_url):
                    expires = datetime.fromtimestamp(stored.expires_at, UTC) if stored.expires_at else None
                    cached = _Session(stored.session_id, stored.endpoint_url, entity, expires)
            if cached is None:
                cached = self._open_session(entity)
                self._stored_sessions.put(
                    entity,
                    StoredSession(
                        cached.session_id,
                        cached.endpoint_url,
                        cached.expires_at.timestamp() if cached.expires_at else None,
                    ),
                    now=now.timestamp(),
                )
            self._sessions[entity] = cached
            return cached

    def _drop_session(self, entity: str, session: _Session) -> None:
        with self._session_lock:
            if self._sessions.get(entity) is session:
                del self._sessions[entity]
            self._stored_sessions.drop(entity, session.session_id)

    def _slide_session(self, session: _Session, new_expiry: datetime) -> None:
        """Every call pushes Intacct's timeout out; tell the state DB when it moved by more than a minute."""
        previous = session.expires_at
        session.expires_at = new_expiry
        if previous is None or (new_expiry - previous).total_seconds() > 60:
            self._stored_sessions.extend(session.entity_id, session.session_id, new_expiry.timestamp())

    @staticmethod
    def _auth_error(errors: Sequence[ErrorDetail], fallback: str) -> IntacctAuthError:
        """A refusal says what to fix, and is not retried: failed sign-ins count towards a lock-out."""
        advice = (
            ". Check the user id, user password and company id (and the Web Services sender id and password) in "
            "the connection; not retried, so repeated failed sign-ins cannot lock the user out"
        )
        if not errors:
            return IntacctAuthError(fallback + advice)
        return IntacctAuthError(f"{fallback}: {errors[0].text()}{advice}", errorno=errors[0].errorno)

    # ---------------------------------------------------------------- transport

    def _exchange(
        self,
        build_body: Any,
        *,
        url: str,
        names: Sequence[str],
        record_keys: Sequence[str],
        entity: str,
        is_write: bool = False,
        objects: Sequence[str] = (),
    ) -> GatewayResponse:
        """POST one request with retries for transient failures; returns a control-level success.

        ``build_body`` is called per attempt (so a renewed session id is picked up by the caller's
        closure). Raises typed errors for everything that retrying cannot fix. ``uniqueid`` only
        dedupes functions that *completed*, so a resend racing a still-running original could post
        twice: a write whose answer was lost after it was sent (read timeout after the full write
        timeout, connection dropped) is resent no sooner than ``write_resend_delay_seconds`` later;
        a write a gateway gave up on (502, 504, 524) raises :class:`IntacctControlError`, and the
        task's rerun replays the same controlids once Intacct has finished.
        """
        progress = {"attempt": 0, "control_id": "-"}

        def once() -> GatewayResponse:
            progress["attempt"] += 1
            body = build_body()
            control_id = progress["control_id"] = _control_id_of(body)
            try:
                return self._attempt(
                    body,
                    url=url,
                    control_id=control_id,
                    names=names,
                    record_keys=record_keys,
                    entity=entity,
                    attempt=progress["attempt"],
                    objects=objects,
                    timeout=self.write_timeout if is_write else self.timeout,
                )
            except _TransientError as transient:
                if is_write and transient.gateway_gave_up:
                    # The gateway gave up while Intacct may run the write on for up to 15 minutes.
                    # uniqueid only dedupes functions that completed, so a resend now could post
                    # twice; a later rerun replays the same controlids, as for HTTP 524.
                    raise IntacctControlError(
                        f"Intacct write request {control_id}: {transient.reason}; Intacct may still be "
                        "processing it, so it is not resent now (a rerun is safe: the function controlids "
                        "make it idempotent)",
                        http_status=transient.http_status,
                    ) from None
                raise

        def wait(retry_state: tenacity.RetryCallState) -> float:
            transient = retry_state.outcome.exception() if retry_state.outcome else None
            assert isinstance(transient, _TransientError)
            return self._retry_delay(transient, self.retry_policy.planned(retry_state), is_write=is_write)

        def before_sleep(retry_state: tenacity.RetryCallState) -> None:
            transient = retry_state.outcome.exception() if retry_state.outcome else None
            assert isinstance(transient, _TransientError)
            delay = retry_state.upcoming_sleep
            with self._stats_lock:
                self.retries += 1
            if transient.penalty:
                self._limiter.penalise(delay)
            if is_write and transient.may_still_run:
                self.log.warning(
                    "Intacct write request %s: %s; the original may still be running, waiting %.0f s before "
                    "resending with the same controlids",
                    progress["control_id"],
                    transient.reason,
                    delay,
                )

        retrying = self.retry_policy.retrying(
            retry_on=lambda exc: isinstance(exc, _TransientError), wait=wait, before_sleep=before_sleep
        )
        try:
            return retrying(once)
        except _TransientError as transient:
            raise IntacctControlError(
                f"Intacct request {progress['control_id']} still failing after {progress['attempt']} attempts "
                f"({transient.reason}) on {self._where()}"
                + ("; check the connection's endpoint_url and the network" if transient.unreachable else "")
            ) from None

    def _retry_delay(self, transient: _TransientError, planned: float, *, is_write: bool) -> float:
        """The wait before the next attempt: jittered backoff, raised to the server's Retry-After and floors."""
        delay = max(planned, transient.floor)
        if transient.retry_after is not None:
            delay = max(delay, min(transient.retry_after, self.retry_policy.max_total))
        if is_write and transient.may_still_run:
            delay = max(delay, self.write_resend_delay_seconds)
        return delay

    def _attempt(
        self,
        body: bytes,
        *,
        url: str,
        control_id: str,
        names: Sequence[str],
        record_keys: Sequence[str],
        entity: str,
        attempt: int,
        timeout: float | tuple[float, float],
        objects: Sequence[str] = (),
    ) -> GatewayResponse:
        log_args = (control_id, len(names), _summarise_names(names), entity or "top", attempt)
        with self._limiter.slot(("requests",)):
            with self._stats_lock:
                self.requests_sent += 1
            usage.count("intacct", "requests")
            try:
                prepared = self._http.prepare_request(requests.Request("POST", url, data=body))
                http = self.run_and_check(self._http, prepared, {"timeout": timeout, "check_response": False})
            except requests.RequestException as exc:
                self._log_request(log_args, type(exc).__name__, "-", "-", record_keys)
                if is_retryable_exception(exc):
                    # Unless no connection was ever made, the request may have arrived and may still
                    # be running: a write is resent only after write_resend_delay_seconds.
                    never_left = _never_left(exc)
                    raise _TransientError(
                        describe_failure(exc), may_still_run=not never_left, unreachable=never_left
                    ) from None
                raise IntacctControlError(
                    f"Intacct request {control_id} failed: {describe_failure(exc)} on {self._where()}; check the "
                    "connection's endpoint_url"
                ) from None
        status = http.status_code
        response: GatewayResponse | None = None
        if http.content:
            try:
                response = parse_response(http.content)
            except IntacctXmlError as unreadable:
                if status == 200:
                    self._log_request(log_args, status, "unreadable", "-", record_keys)
                    raise self._unreadable(unreadable, http.content, control_id, names, objects, entity) from None
        control_errnos = [e.errorno for e in response.control_errors] if response else []
        errnos = control_errnos + ([e.errorno for e in response.auth_errors] if response else [])
        if response is not None:
            errnos += [e.errorno for r in response.results for e in r.errors[:1]]
        control_status = response.control_status if response else "-"
        self._log_request(log_args, status, control_status, ",".join(dict.fromkeys(errnos)) or "-", record_keys)

        control_condition = _transient_text(response.control_errors) if response else None
        rate_limited = (
            status == 429 or any(e in _RATE_LIMIT_ERRORNOS for e in control_errnos) or control_condition == "rate"
        )
        if rate_limited:
            raise _TransientError(
                "rate limited (429/GW-0010)",
                penalty=True,
                floor=self.throttle_floor_seconds,
                retry_after=parse_retry_after(http.headers.get("Retry-After")),
            )
        if status == 400 and b"invalidrequest" in http.content.lower():
            # Sage answers a bad or expired session this way on some paths: renew the session once.
            raise IntacctAuthError(
                f"Intacct request {control_id}: HTTP 400 invalidRequest (treated as an invalid session)",
                errorno="invalidRequest",
            )
        if status == 524:
            raise IntacctControlError(
                f"Intacct request {control_id}: HTTP 524, the gateway may still be processing it; "
                "not retried (a rerun is safe: the function controlids make it idempotent)",
                http_status=524,
            )
        if 500 <= status <= 599:
            raise _TransientError(
                f"HTTP {status}",
                retry_after=parse_retry_after(http.headers.get("Retry-After")),
                may_still_run=status in (502, 504),
                gateway_gave_up=status in (502, 504),
                http_status=status,
            )
        if status == 200 and response is not None and not response.control_ok and control_condition == "offline":
            raise _TransientError("gateway temporarily off-line")
        if status == 401 or (response is not None and any(e in _LOGIN_ERRORNOS for e in control_errnos)):
            raise self._auth_error(
                response.control_errors if response else (),
                f"Intacct refused the sender or user credentials for {self._where()}",
            )
        if status != 200 or response is None:
            first = response.control_errors[0].text() if response and response.control_errors else ""
            raise IntacctControlError(
                f"Intacct request {control_id}: HTTP {status}" + (f" ({first})" if first else ""),
                errorno=response.control_errors[0].errorno if response and response.control_errors else "",
                http_status=status,
            )
        if not response.control_ok:
            first_err = response.control_errors[0] if response.control_errors else None
            raise IntacctControlError(
                f"Intacct refused request {control_id}" + (f": {first_err.text()}" if first_err else ""),
                errorno=first_err.errorno if first_err else "",
                http_status=status,
            )
        result_condition = _transient_text([e for r in response.results for e in r.errors])
        if result_condition is not None:
            # Functions refused for throttling or maintenance did not run; ones that did run replay
            # under uniqueid, so resending the whole request is safe. If it persists the request
            # fails (a rerun replays it), rather than reporting a throttle as refused records.
            raise _TransientError(
                f"function result says {'rate limit exceeded' if result_condition == 'rate' else 'off-line'}",
                penalty=result_condition == "rate",
                floor=self.throttle_floor_seconds if result_condition == "rate" else 0.0,
            )
        return response

    def _unreadable(
        self,
        error: IntacctXmlError,
        body: bytes,
        control_id: str,
        names: Sequence[str],
        objects: Sequence[str],
        entity: str,
    ) -> IntacctXmlError:
        """An unparseable reply, named: request controlid, functions, objects, entity and the nearest record."""
        near = _record_near(body, error.line, error.column)
        what = " ".join([_summarise_names(names), *objects])
        named = IntacctXmlError(
            f"Intacct's reply to request {control_id} ({what}, entity {entity or 'top'}) is not readable: "
            f"{error.message}" + (f", inside the record {near}" if near else "") + ". Nothing from this reply was "
            "used; ask again (a rerun is safe) and, if it persists, look at that record in Intacct",
            record_key=near,
        )
        named.line, named.column = error.line, error.column
        return named

    def _log_request(
        self, args: tuple[Any, ...], http: Any, status: str, errnos: str, record_keys: Sequence[str]
    ) -> None:
        self.log.info(
            "Intacct request %s: %d function(s) %s entity=%s attempt=%d http=%s status=%s errorno=%s records=%s",
            *args,
            http,
            status,
            errnos,
            _summarise_keys(list(record_keys)) or "-",
        )

    def _send(
        self,
        calls: Sequence[FunctionCall],
        *,
        entity: str,
        unique_id: bool,
        transaction: bool = False,
    ) -> GatewayResponse:
        """Send functions in one request under the entity's session, renewing it once if it expired."""
        s = self._settings
        trees = [render_function(c, s.tz) for c in calls]
        control_id = request_control_id([c.control_id for c in calls])
        names = [c.name for c in calls]
        objects = list(dict.fromkeys(_object_of(c) for c in calls if _object_of(c)))
        record_keys = [c.record_key for c in calls if c.record_key]
        for renewal in range(2):
            session = self._session(entity)
            current = session

            def body(current: _Session = current) -> bytes:
                return build_request(
                    sender_id=s.sender_id,
                    sender_password=s.sender_password,
                    control_id=control_id,
                    functions=trees,
                    session_id=current.session_id,
                    unique_id=unique_id,
                    transaction=transaction,
                )

            try:
                response = self._exchange(
                    body,
                    url=session.endpoint_url,
                    names=names,
                    record_keys=record_keys,
                    entity=entity,
                    is_write=unique_id,
                    objects=objects,
                )
            except IntacctAuthError as refused:
                # HTTP 401 / sign-in errorno on a session request: the session, not the login, may be
                # the problem. One renewal; a second refusal is real.
                self._drop_session(entity, session)
                if renewal == 0:
                    continue
                if refused.errorno == "invalidRequest":  # not a session problem after all
                    raise IntacctControlError(
                        f"Intacct request {control_id}: HTTP 400 invalidRequest, also with a new session "
                        "(check the company id and the request)",
                        errorno="invalidRequest",
                        http_status=400,
                    ) from None
                raise
            if response.auth_ok:
                new_expiry = _parse_timeout(response.session_timeout)
                if new_expiry is not None:
                    self._slide_session(session, new_expiry)
                return response
            # Authentication failed on a session request: no function ran, so re-sending is safe.
            self._drop_session(entity, session)
            if renewal == 0:
                self.log.info("Intacct session for entity=%s was refused; opening a new one", entity or "top")
                continue
            raise self._auth_error(response.auth_errors, "Intacct refused a freshly opened session")
        raise AssertionError("unreachable")  # pragma: no cover

    def usage(self) -> dict[str, int]:
        """What this hook spent so far, for run stats: API transactions, requests, retries, sessions.

        ``api_transactions`` counts every successful write answer (one per object) and every
        successful read call. It is an upper bound on Intacct's bill: a rerun whose functions are
        answered from Intacct's ``uniqueid`` memory is counted again here, though Intacct does not
        execute it again (whether Intacct bills a replay is NOT FOUND; the sandbox does not).
        """
        with self._stats_lock:
            return {
                "api_transactions": self.api_transactions,
                "requests": self.requests_sent,
                "retries": self.retries,
                "sessions_opened": self.sessions_opened,
            }

    def _count(self, n: int) -> None:
        with self._stats_lock:
            self.api_transactions += n
        usage.count("intacct", "api_transactions", n)

    # ---------------------------------------------------------------- reads

    def _read_call(self, name: str, payload: Mapping[str, Any]) -> FunctionCall:
        return FunctionCall(name, f"{name}-{uuid.uuid4().hex[:16]}", payload)

    def _run_read(self, call: FunctionCall, entity: str) -> FunctionResult:
        response = self._send([call], entity=entity, unique_id=False)
        if not response.results:
            raise IntacctControlError(f"Intacct returned no result for {call.name}")
        result = response.results[0]
        if result.status == "success":
            self._count(1)
            return result
        first = result.errors[0] if result.errors else ErrorDetail(result.status or "failure", "", "", "")
        raise IntacctFunctionError(
            first.errorno, first.description, first.description2, first.correction, None, errors=result.errors
        )

    def iter_query(
        self,
        object_name: str,
        fields: Sequence[str],
        filter: Mapping[str, Any] | None = None,
        *,
        entity_id: str | None = None,
        order_by: Sequence[str | tuple[str, str]] | None = None,
        page_size: int = MAX_QUERY_PAGE_SIZE,
        show_private: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every record matching ``filter``, page by page until ``numremaining`` is 0.

        In the default order (``RECORDNO`` ascending) pages are keyset pages: each asks for
        ``RECORDNO`` greater than the last one read, so a record created, deleted or edited while
        we read cannot shift a page boundary and be skipped or read twice, as ``offset`` paging
        could. Another order pages by ``offset``, Intacct's only other way.

        :param fields: field names to select (``query`` has no ``*``).
        :param filter: a :class:`Filter` tree.
        :param order_by: names (ascending) or ``(name, "asc"|"desc")``; default ``RECORDNO``.
        :param show_private: top level only: include entity-private records.
        """
        if isinstance(fields, str) or not fields:
            raise IntacctValueError("query needs a list of field names (Intacct's query has no '*')")
        if not 1 <= page_size <= MAX_QUERY_PAGE_SIZE:
            raise IntacctValueError(f"page_size must be 1-{MAX_QUERY_PAGE_SIZE}")
        entity = self._entity(entity_id)
        keyset = order_by is None
        selected = list(fields)
        if keyset and "RECORDNO" not in selected:
            selected.append("RECORDNO")  # the page key; dropped again from what the caller gets
        orders = []
        for item in order_by or ["RECORDNO"]:
            name, direction = (item, "asc") if isinstance(item, str) else item
            orders.append({"field": name, "descending" if direction.lower().startswith("desc") else "ascending": ""})
        offset = 0
        last_record_no: int | None = None
        tz = self._settings.tz
        while True:
            page_filter = dict(filter) if filter else None
            if keyset and last_record_no is not None:
                after = Filter.greater_than("RECORDNO", last_record_no)
                page_filter = Filter.all_of(page_filter, after) if page_filter else after
            payload: dict[str, Any] = {
                "object": object_name,
                "select": {"field": selected},
                "filter": page_filter,
                "orderby": {"order": orders},
                "options": {"showprivate": "true"} if show_private else None,
                "pagesize": page_size,
                "offset": None if keyset else offset,
            }
            result = self._run_read(self._read_call("query", payload), entity)
            for raw in result.records:
                record = record_from_xml(raw, tz)
                if keyset:
                    last_record_no = int(record["RECORDNO"]) if "RECORDNO" in fields else int(record.pop("RECORDNO"))
                yield record
            count = result.attr_int("count", len(result.records))
            remaining = result.attr_int("numremaining", 0)
            if remaining <= 0 or count <= 0:
                return
            offset += count

    def query_frame(
        self,
        object_name: str,
        fields: Sequence[str],
        filter: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> pd.DataFrame:
        """:meth:`iter_query` into a DataFrame, one column per requested field (money stays Decimal)."""
        import pandas as pd

        rows = list(self.iter_query(object_name, fields, filter, **kw))
        columns = list(dict.fromkeys([*fields, *(k for row in rows for k in row)]))
        return pd.DataFrame(rows, columns=columns)

    def iter_changed(
        self,
        object_name: str,
        fields: Sequence[str],
        since: datetime,
        until: datetime | None = None,
        *,
        entity_id: str | None = None,
        show_private: bool = False,
        page_size: int = MAX_QUERY_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Records with ``since <= WHENMODIFIED < until`` (aware datetimes, compared in company time).

        WHENMODIFIED has whole seconds, so both bounds are floored to the second; consecutive windows
        ``[a, b)``, ``[b, c)`` neither skip nor repeat a record. ``WHENMODIFIED`` and ``RECORDNO`` are
        always selected; results come in RECORDNO order, keyset-paged (see :meth:`iter_query`): in
        WHENMODIFIED order with offsets, a record edited mid-read leaves the window and the next
        page would skip one.
        """
        tz = self._settings.tz
        bounds = [Filter.at_least("WHENMODIFIED", format_datetime(since, tz))]
        if until is not None:
            bounds.append(Filter.less_than("WHENMODIFIED", format_datetime(until, tz)))
        selected = list(dict.fromkeys([*fields, "RECORDNO", "WHENMODIFIED"]))
        yield from self.iter_query(
            object_name,
            selected,
            Filter.all_of(*bounds),
            entity_id=entity_id,
            show_private=show_private,
            page_size=page_size,
        )

    def _read_keys(
        self, function: str, object_name: str, keys: Sequence[str | int], fields: str | Sequence[str], entity: str
    ) -> list[dict[str, Any]]:
        field_text = fields if isinstance(fields, str) else ",".join(fields)
        texts = [str(k) for k in keys]
        for key in texts:
            if not key or "," in key:
                raise IntacctValueError(f"{function} key {key!r} is empty or contains a comma", record_key=key)
        out: list[dict[str, Any]] = []
        tz = self._settings.tz
        for start in range(0, len(texts), MAX_READ_KEYS):
            chunk = texts[start : start + MAX_READ_KEYS]
            payload = {"object": object_name, "keys": ",".join(chunk), "fields": field_text}
            result = self._run_read(self._read_call(function, payload), entity)
            out.extend(record_from_xml(raw, tz) for raw in result.records)
        return out

    def read(
        self,
        object_name: str,
        record_nos: Sequence[str | int],
        fields: str | Sequence[str] = "*",
        *,
        entity_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Records by RECORDNO (100 keys per call). Unknown keys are simply absent from the result."""
        return self._read_keys("read", object_name, record_nos, fields, self._entity(entity_id))

    def read_by_name(
        self,
        object_name: str,
        names: Sequence[str],
        fields: str | Sequence[str] = "*",
        *,
        entity_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Records by their ID/name field (e.g. CUSTOMERID), 100 per call."""
        return self._read_keys("readByName", object_name, names, fields, self._entity(entity_id))

    def entities(self) -> list[dict[str, Any]]:
        """The company's entities (LOCATIONENTITY: RECORDNO, LOCATIONID, NAME, base CURRENCY), read at top level."""
        return list(self.iter_query("LOCATIONENTITY", ["RECORDNO", "LOCATIONID", "NAME", "CURRENCY"], entity_id=""))

    def trial_balance(
        self, start: date, end: date, *, entity_id: str | None = None, show_zero: bool = False
    ) -> list[dict[str, Any]]:
        """``get_trialbalance`` (I-TB) for one entity and period: one dict per account, ``glaccountno``,
        ``currency`` and ``reportingbook`` as text and ``startbalance, debits, credits, adjdebits,
        adjcredits, endbalance`` as ``Decimal`` (debit positive). The element names are those
        third-party readers use (I-TB shows no response; api-facts-documents.md E6). Sent from a
        top-level session with ``locationid``, which I-TB requires in a company whose entities have
        different base currencies."""
        entity = self._entity(entity_id)
        payload: dict[str, Any] = {"startdate": start, "enddate": end,
                                   "showzerobalances": "true" if show_zero else "false"}  # fmt: skip
        if entity:
            payload["locationid"] = entity
        result = self._run_read(self._read_call("get_trialbalance", payload), "")
        money = ("startbalance", "debits", "credits", "adjdebits", "adjcredits", "endbalance")
        rows = []
        for raw in result.records:
            row = {str(k).lower(): v for k, v in raw.items()}
            for key in money:
                row[key] = Decimal(str(row.get(key) or "0"))
            row["glaccountno"] = str(row.get("glaccountno", ""))
            rows.append(row)
        return rows

    # ---------------------------------------------------------------- writes

    def _chunks(self, calls: Sequence[FunctionCall], sizes: Sequence[int]) -> list[list[int]]:
        """Indices grouped into requests by function count and byte size, order preserved."""
        budget = self.max_request_bytes - 1024  # the envelope around the functions
        chunks: list[list[int]] = []
        current: list[int] = []
        used = 0
        for index, size in enumerate(sizes):
            if size > budget:
                raise IntacctValueError(
                    f"one function is {size} bytes, over the {self.max_request_bytes}-byte request bound",
                    record_key=calls[index].record_key,
                )
            if current and (len(current) >= self.functions_per_request or used + size > budget):
                chunks.append(current)
                current, used = [], 0
            current.append(index)
            used += size
        if current:
            chunks.append(current)
        return chunks

    def run_functions(
        self,
        functions: Sequence[IntacctFunction],
        *,
        entity_id: str | None = None,
        transaction: bool = False,
    ) -> list[IntacctResult]:
        """Run write functions, many per request, each idempotent by its key; one result each, in order.

        Every value is checked before anything is sent: a float amount, a naive datetime or a control
        character raises :class:`IntacctValueError` naming the record and field, and nothing is
        posted. ``transaction=True`` makes Intacct apply all or none; it requires the functions to fit
        one request. If a request fails for good (retries exhausted, credentials refused), the error
        carries ``partial_results`` for the requests that completed before it.
        """
        if not functions:
            return []
        entity = self._entity(entity_id)
        tz = self._settings.tz
        seen: dict[str, str] = {}
        calls: list[FunctionCall] = []
        for fn in functions:
            control_id = function_control_id(fn.idempotency_key)
            if control_id in seen:
                raise IntacctValueError(
                    f"idempotency key {fn.idempotency_key!r} appears twice in one call; Intacct would run it once",
                    record_key=fn.reported_key,
                )
            seen[control_id] = fn.reported_key
            calls.append(FunctionCall(fn.name, control_id, fn.payload, fn.reported_key))
        sizes = [function_size(render_function(c, tz)) for c in calls]
        chunks = self._chunks(calls, sizes)
        if transaction and len(chunks) > 1:
            raise IntacctValueError(
                f"transaction=True needs one request, but {len(calls)} functions need {len(chunks)}; "
                "raise functions_per_request or send smaller groups"
            )
        results: list[IntacctResult] = []
        spent_before = self.api_transactions
        for chunk in chunks:
            chunk_calls = [calls[i] for i in chunk]
            try:
                response = self._send(chunk_calls, entity=entity, unique_id=True, transaction=transaction)
            except IntacctError as exc:
                # Earlier requests did post. Hand their results over with the error; rerunning the
                # same call is safe either way (their controlids replay, nothing posts twice).
                exc.partial_results = tuple(results)
                raise
            by_control = {r.control_id: r for r in response.results if r.control_id}
            for position, index in enumerate(chunk):
                call, fn = calls[index], functions[index]
                raw = by_control.get(call.control_id)
                if raw is None and position < len(response.results) and not response.results[position].control_id:
                    raw = response.results[position]
                results.append(self._typed_result(fn, call, raw))
        failed = sum(1 for r in results if r.status == "failure")
        aborted = sum(1 for r in results if r.status == "aborted")
        self.log.info(
            "Intacct writes: %d function(s) in %d request(s) entity=%s: %d ok, %d failed, %d aborted; "
            "api_transactions=%d (hook total %d)",
            len(results),
            len(chunks),
            entity or "top",
            len(results) - failed - aborted,
            failed,
            aborted,
            self.api_transactions - spent_before,
            self.api_transactions,
        )
        return results

    def _typed_result(self, fn: IntacctFunction, call: FunctionCall, raw: FunctionResult | None) -> IntacctResult:
        base = {
            "function": fn.name,
            "control_id": call.control_id,
            "idempotency_key": fn.idempotency_key,
            "record_key": fn.reported_key,
        }
        if raw is None:
            missing = ErrorDetail("MISSING_RESULT", "Intacct returned no result for this function", "", "")
            return IntacctResult(**base, status="failure", errors=(missing,))
        tz = self._settings.tz
        records = tuple(record_from_xml(r, tz, record_key=fn.reported_key) for r in raw.records)
        if raw.status == "success":
            self._count(_count_objects(fn))
            record_no = raw.key or next((str(r["RECORDNO"]) for r in records if r.get("RECORDNO")), None)
            return IntacctResult(**base, status="success", record_no=record_no, records=records)
        if raw.status != "aborted" and _looks_like_replay(raw.errors):
            return IntacctResult(**base, status="duplicate", records=records, errors=raw.errors)
        status: ResultStatus = "aborted" if raw.status == "aborted" else "failure"
        return IntacctResult(**base, status=status, records=records, errors=raw.errors)

    def _object_functions(
        self,
        function: str,
        object_name: str,
        records: Sequence[Mapping[str, Any]],
        keys: Sequence[str],
        record_keys: Sequence[str] | None,
    ) -> list[IntacctFunction]:
        if len(keys) != len(records) or (record_keys is not None and len(record_keys) != len(records)):
            raise IntacctValueError(f"{function}: give exactly one idempotency key (and record key) per record")
        return [
            IntacctFunction(function, {object_name: dict(rec)}, key, record_keys[i] if record_keys else None)
            for i, (rec, key) in enumerate(zip(records, keys, strict=True))
        ]

    def create(
        self,
        object_name: str,
        records: Sequence[Mapping[str, Any]],
        *,
        keys: Sequence[str],
        record_keys: Sequence[str] | None = None,
        entity_id: str | None = None,
        transaction: bool = False,
    ) -> list[IntacctResult]:
        """Create records of a 3.0 object (CUSTOMER, VENDOR, APBILL, GLBATCH, ...), one function each."""
        fns = self._object_functions("create", object_name, records, keys, record_keys)
        return self.run_functions(fns, entity_id=entity_id, transaction=transaction)

    def update(
        self,
        object_name: str,
        records: Sequence[Mapping[str, Any]],
        *,
        keys: Sequence[str],
        record_keys: Sequence[str] | None = None,
        entity_id: str | None = None,
        transaction: bool = False,
    ) -> list[IntacctResult]:
        """Partial updates (each record carries RECORDNO or its ID field). Keys must name the version."""
        fns = self._object_functions("update", object_name, records, keys, record_keys)
        return self.run_functions(fns, entity_id=entity_id, transaction=transaction)

    def delete(
        self,
        object_name: str,
        record_nos: Sequence[str | int],
        *,
        keys: Sequence[str],
        record_keys: Sequence[str] | None = None,
        entity_id: str | None = None,
        transaction: bool = False,
    ) -> list[IntacctResult]:
        """Delete records by RECORDNO, one function each."""
        if len(keys) != len(record_nos) or (record_keys is not None and len(record_keys) != len(record_nos)):
            raise IntacctValueError("delete: give exactly one idempotency key (and record key) per record")
        fns = [
            IntacctFunction(
                "delete", {"object": object_name, "keys": str(no)}, key, record_keys[i] if record_keys else None
            )
            for i, (no, key) in enumerate(zip(record_nos, keys, strict=True))
        ]
        return self.run_functions(fns, entity_id=entity_id, transaction=transaction)

    # ---------------------------------------------------------------- UI

    def test_connection(self) -> tuple[bool, str]:
        """Open a top-level API session: proves sender, user and company credentials together."""
        try:
            settings = self._settings
            self._open_session("")  # a real sign-in, not a stored session: it must prove the credentials
        except IntacctError as exc:
            return False, str(exc)
        except requests.RequestException as exc:
            return False, f"Could not reach Intacct: {describe_failure(exc)} ({self._where()})"
        return True, f"Connected to Intacct company {settings.company_id} as user {settings.user_id}"


def _control_id_of(body: bytes) -> str:
    """The request controlid for log lines, read back from the body we built (cheap string search)."""
    start = body.find(b"<controlid>")
    end = body.find(b"</controlid>", start)
    return body[start + 11 : end].decode("utf-8", "replace") if start >= 0 and end > start else "-"


def _object_of(call: FunctionCall) -> str:
    """The object a function works on (``query``/``read``: its ``object``; ``create``: the payload's tag)."""
    payload = call.payload or {}
    if isinstance(payload.get("object"), str):
        return str(payload["object"])
    if call.name in ("create", "update") and len(payload) == 1:
        return str(next(iter(payload)))
    return ""


_RECORD_ID = re.compile(rb"<(RECORDNO|recordno|[A-Z]+ID)>([^<]{1,100})</\1>")


def _record_near(body: bytes, line: int | None, column: int | None) -> str | None:
    """The last record id (RECORDNO or an ...ID field) before where the parser stopped, if any."""
    if line is None:
        return None
    lines = body.split(b"\n")
    stop = sum(len(text) + 1 for text in lines[: line - 1]) + (column or 0)
    found = list(_RECORD_ID.finditer(body[:stop]))
    if not found:
        return None
    name, value = found[-1].group(1).decode(), found[-1].group(2).decode("utf-8", "replace")
    return f"{name} {value}"


def _summarise_names(names: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return "[" + ",".join(f"{n}x{c}" if c > 1 else n for n, c in counts.items()) + "]"


def _looks_like_replay(errors: Sequence[ErrorDetail]) -> bool:
    """Whether a failure says "this controlid already ran" (uniqueid replay; exact text NOT FOUND)."""
    for err in errors:
        text = f"{err.description} {err.description2}".lower()
        if any(hint in text for hint in _DUPLICATE_HINTS) and "control" in text:
            return True
    return False
