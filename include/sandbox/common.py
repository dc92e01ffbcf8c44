"""What both sandboxes share: clock, limits, injectable faults, request log, counters, admin routes.

The QuickBooks and Intacct stand-ins differ in protocol (JSON REST vs XML gateway) but must fail
the same ways the real services do, so a hook's retry, throttling and idempotency code is exercised
by the same mechanism on both. Each app wraps itself in :class:`SandboxMiddleware` (a plain ASGI
middleware, outermost, so it can drop the TCP connection like a real network fault) and mounts
:func:`admin_router` under ``/_sandbox``.

Choices where the real services are silent (see ../shared/api-facts.md, "NOT FOUND"):
- No ``Retry-After`` header is sent on 429: Intuit documents none; clients must back off on their own.
- Fault draws use a seeded RNG so that a failing test run can be repeated exactly.

Fault kinds (``FaultRule.kind``), each a way the real services or the network fail:

- ``429``, ``500``, ``503``: refused before the API runs (nothing written). A rule's
  ``retry_after`` (seconds) adds a ``Retry-After`` header to an injected 429; the real services send
  none, so tests of the 60 s wait leave it unset and suites that inject many 429s set it to stay short.
- ``latency``: the request waits ``latency_ms`` first (past the client's timeout, a "slow reply":
  the request still runs and commits after the client gave up).
- ``reset``: the connection is dropped before the API runs (nothing written).
- ``lost_response``: the API runs and commits, then the connection is dropped before the reply.
- ``gateway_timeout``: the API runs and commits, then a load balancer's HTTP 504 page is answered.
- ``expire_session``: the credential the request carries (a QuickBooks access token, an Intacct
  session id) expires just before the request is served, as when a token or session runs out
  mid-run; the API then answers as it does for any expired credential (401 / XL03000006).
- ``partial``: a write of many items (a QuickBooks batch, an Intacct request of several
  functions) applies some and refuses the others (every second one, from the second), each refused
  item answered with the system's own transient error (QuickBooks item ``SystemFault`` 10000,
  Intacct function error ``XL03000009``-like ``BL01001973``); a request of one item is not touched.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

FAULT_KINDS = frozenset(
    {"429", "500", "503", "latency", "reset", "lost_response", "gateway_timeout", "expire_session", "partial"}
)
#: Set by the middleware while a request drawn for a ``partial`` fault is served: the app refuses
#: every second item of a many-item write (see :func:`partial_refusal`).
_PARTIAL: contextvars.ContextVar[bool] = contextvars.ContextVar("sandbox_partial_fault", default=False)


def partial_refusal(index: int, items: int) -> bool:
    """Whether item ``index`` (0-based) of a write of ``items`` items is refused by a ``partial`` fault."""
    return _PARTIAL.get() and items > 1 and index % 2 == 1


#: What a load balancer answers when it stops waiting for the backend (nginx's page; the real
#: gateways' bodies are not documented). The request itself runs on and commits.
_GATEWAY_TIMEOUT_PAGE = (
    b"<html><head><title>504 Gateway Time-out</title></head><body>"
    b"<center><h1>504 Gateway Time-out</h1></center></body></html>"
)


class SandboxClock:
    """Wall clock plus an adjustable offset, so tests can expire tokens and sessions without sleeping."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)


@dataclass
class FaultRule:
    """One injectable failure. ``skip`` lets the first matching requests through; ``count`` caps firings."""

    kind: str
    endpoint: str = "*"
    operation: str = "*"
    rate: float = 1.0
    count: int | None = None
    skip: int = 0
    latency_ms: int = 0
    retry_after: float | None = None
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {sorted(FAULT_KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")

    def matches(self, endpoint: str, operation: str) -> bool:
        return self.endpoint in ("*", endpoint) and self.operation in ("*", operation)


class FaultInjector:
    """Holds the active fault rules and decides, per request, which one fires (at most one)."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def replace(self, rules: list[dict[str, Any]]) -> list[FaultRule]:
        parsed = [FaultRule(**{k: v for k, v in r.items() if k not in ("seen", "fired")}) for r in rules]
        with self._lock:
            self._rules = parsed
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def draw(self, endpoint: str, operation: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if not rule.matches(endpoint, operation):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if self._rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                return rule
        return None


@dataclass
class LimitConfig:
    """Per-tenant limits. ``None`` switches a limit off. Windows are rolling 60-second windows."""

    concurrent: int | None = None
    per_minute: int | None = None
    batch_per_minute: int | None = None


class TenantLimiter:
    """Counts in-flight requests and a rolling minute of request starts per tenant (realm or company)."""

    def __init__(self, limits: LimitConfig) -> None:
        self.limits = limits
        self._start_limits = asdict(limits)
        self._in_flight: Counter[str] = Counter()
        self._starts: dict[str, deque[float]] = {}
        self._batch_starts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _trim(window: deque[float], now: float) -> None:
        while window and now - window[0] >= 60.0:
            window.popleft()

    def acquire(self, tenant: str, *, is_batch: bool) -> str | None:
        """Admit the request, or return which limit refused it."""
        now = time.monotonic()
        with self._lock:
            lim = self.limits
            if lim.concurrent is not None and self._in_flight[tenant] >= lim.concurrent:
                return "concurrent"
            starts = self._starts.setdefault(tenant, deque())
            self._trim(starts, now)
            if lim.per_minute is not None and len(starts) >= lim.per_minute:
                return "per_minute"
            batch_starts = self._batch_starts.setdefault(tenant, deque())
            if is_batch:
                self._trim(batch_starts, now)
                if lim.batch_per_minute is not None and len(batch_starts) >= lim.batch_per_minute:
                    return "batch_per_minute"
                batch_starts.append(now)
            starts.append(now)
            self._in_flight[tenant] += 1
            return None

    def release(self, tenant: str) -> None:
        with self._lock:
            self._in_flight[tenant] -= 1

    def in_flight(self, tenant: str) -> int:
        """Requests of ``tenant`` being served now (lets tests wait for overlap without sleeping)."""
        with self._lock:
            return self._in_flight[tenant]

    def reset(self) -> None:
        """Forget the request history and put back the limits the sandbox started with."""
        with self._lock:
            self._starts.clear()
            self._batch_starts.clear()
            for key, value in self._start_limits.items():
                setattr(self.limits, key, value)


@dataclass
class RequestInfo:
    """How the app classifies a request, for limits, faults, counters and the log."""

    endpoint: str
    operation: str
    tenant: str = ""
    request_id: str | None = None
    is_write: bool = False
    limited: bool = True  # admin and discovery routes are never throttled


class RequestLog:
    """The last requests and counters by ``endpoint operation status`` plus named counters."""

    def __init__(self, maxlen: int = 50_000) -> None:
        self._rows: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = 0
        self.by_key: Counter[str] = Counter()
        self.named: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, info: RequestInfo, method: str, path: str, status: int | str, at: datetime) -> None:
        with self._lock:
            self._seq += 1
            self._rows.append(
                {
                    "seq": self._seq,
                    "time": at.isoformat(),
                    "method": method,
                    "path": path,
                    "endpoint": info.endpoint,
                    "operation": info.operation,
                    "tenant": info.tenant,
                    "request_id": info.request_id,
                    "status": status,
                }
            )
            self.by_key[f"{info.endpoint} {info.operation} {status}"] += 1
            self.named["requests"] += 1
            if info.is_write:
                self.named["write_requests"] += 1

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.named[name] += n

    def rows(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._rows if r["seq"] > since]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            # "requests" is the per-key breakdown (as documented); the plain total is "requests_total"
            named = dict(self.named)
            total = named.pop("requests", 0)
            return {**named, "requests": dict(self.by_key), "requests_total": total}

    def reset(self) -> None:
        with self._lock:
            self._rows.clear()
            self.by_key.clear()
            self.named.clear()


@dataclass
class SandboxConfig:
    """How one sandbox app is started. ``credentials`` is written to sandbox.json by the launcher."""

    system: str
    host: str = "127.0.0.1"
    port: int = 0
    state_dir: Path | None = None
    snapshot: Path | None = None
    seed: int = 0
    limits: LimitConfig = field(default_factory=LimitConfig)
    credentials: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class SandboxRuntime(Protocol):
    """What an app gives the shared admin routes and middleware."""

    clock: SandboxClock
    faults: FaultInjector
    log: RequestLog
    limiter: TenantLimiter
    system: str

    def reset(self, snapshot: Path | None) -> None: ...
    def save_snapshot(self, path: Path) -> None: ...
    def load_snapshot(self, path: Path) -> None: ...
    def patch_config(self, changes: dict[str, Any]) -> dict[str, Any]: ...
    async def classify(self, method: str, path: str, query: str, body: bytes) -> RequestInfo: ...
    def fault_response(self, kind: str, info: RequestInfo) -> tuple[int, dict[str, str], bytes]: ...
    def throttle_response(self, which: str, info: RequestInfo) -> tuple[int, dict[str, str], bytes]: ...
    def expire_credentials(self, headers: dict[str, str], body: bytes) -> None: ...


def admin_router(runtime: SandboxRuntime) -> APIRouter:
    """Sandbox-only control routes (no auth; the servers bind to loopback only)."""
    router = APIRouter(prefix="/_sandbox")

    @router.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "system": runtime.system}

    @router.post("/reset")
    def reset(payload: dict[str, Any] = Body(default_factory=dict)) -> dict[str, str]:
        """Books, faults, counters, limits and clock back to the start; tokens and sessions are kept."""
        snap = payload.get("snapshot")
        runtime.reset(Path(snap) if snap else None)
        runtime.log.reset()
        runtime.limiter.reset()
        runtime.faults.clear()
        runtime.clock.reset()
        return {"status": "reset"}

    @router.post("/snapshot/save")
    def save(payload: dict[str, Any] = Body(...)) -> dict[str, str]:
        runtime.save_snapshot(Path(payload["path"]))
        return {"status": "saved"}

    @router.post("/snapshot/load")
    def load(payload: dict[str, Any] = Body(...)) -> dict[str, str]:
        runtime.load_snapshot(Path(payload["path"]))
        return {"status": "loaded"}

    @router.put("/faults")
    def put_faults(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        try:
            runtime.faults.replace(payload.get("rules", []))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)  # type: ignore[return-value]
        return {"rules": runtime.faults.rules()}

    @router.get("/faults")
    def get_faults() -> dict[str, Any]:
        return {"rules": runtime.faults.rules()}

    @router.delete("/faults")
    def clear_faults() -> dict[str, str]:
        runtime.faults.clear()
        return {"status": "cleared"}

    @router.get("/counters")
    def counters() -> dict[str, Any]:
        return runtime.log.snapshot()

    @router.post("/counters/reset")
    def reset_counters() -> dict[str, str]:
        runtime.log.reset()
        return {"status": "reset"}

    @router.get("/log")
    def log(since: int = 0) -> list[dict[str, Any]]:
        return runtime.log.rows(since)

    @router.post("/clock")
    def clock(payload: dict[str, Any] = Body(...)) -> dict[str, str]:
        now = runtime.clock.advance(float(payload.get("advance_seconds", 0)))
        return {"now": now.isoformat()}

    @router.patch("/config")
    def config(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        if "limits" in payload:
            for key, value in payload["limits"].items():
                if not hasattr(runtime.limiter.limits, key):
                    return JSONResponse({"error": f"unknown limit {key}"}, status_code=422)  # type: ignore[return-value]
                setattr(runtime.limiter.limits, key, value)
        rest = {k: v for k, v in payload.items() if k != "limits"}
        applied = runtime.patch_config(rest) if rest else {}
        return {"limits": asdict(runtime.limiter.limits), **applied}

    return router


ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[..., Awaitable[None]]], Awaitable[None]
]


def _abort_connection(send: Callable[..., Awaitable[None]]) -> None:
    """Drop the TCP connection without a reply, as a network fault or a crashed proxy would.

    uvicorn's ``send`` is a bound method of its request cycle, which holds the transport.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # not under uvicorn (e.g. an in-process test client): best effort
        raise ConnectionResetError("sandbox fault: connection reset")
    transport.abort()


class SandboxMiddleware:
    """Outermost ASGI layer: classify, throttle, inject faults, log and count every request."""

    def __init__(self, app: ASGIApp, runtime: SandboxRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        query = scope.get("query_string", b"").decode("latin-1")
        rt = self.runtime
        info = await rt.classify(scope["method"], path, query, body)

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        status_box: dict[str, Any] = {"status": None}

        async def send_recording(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
            await send(message)

        def finish(status: int | str) -> None:
            rt.log.record(info, scope["method"], path, status, rt.clock.now())

        acquired = False
        if info.limited:
            refused = rt.limiter.acquire(info.tenant, is_batch=info.operation == "batch")
            if refused:
                code, headers, payload = rt.throttle_response(refused, info)
                await _send_plain(send, code, headers, payload)
                finish(code)
                return
            acquired = True
        try:
            rule = rt.faults.draw(info.endpoint, info.operation)
            if rule is not None and rule.kind == "latency":
                await asyncio.sleep(rule.latency_ms / 1000.0)
                rule = None
            if rule is not None and rule.kind == "expire_session":
                rt.expire_credentials(_headers(scope), body)
                rule = None
            _PARTIAL.set(rule is not None and rule.kind == "partial")
            if rule is not None and rule.kind == "partial":
                rule = None
            if rule is not None and rule.kind in ("429", "500", "503"):
                code, headers, payload = rt.fault_response(rule.kind, info)
                if rule.kind == "429" and rule.retry_after is not None:
                    headers = {**headers, "Retry-After": f"{rule.retry_after:g}"}
                await _send_plain(send, code, headers, payload)
                finish(code)
                return
            if rule is not None and rule.kind == "reset":
                finish("reset")
                _abort_connection(send)
                return
            if rule is not None and rule.kind in ("lost_response", "gateway_timeout"):

                async def swallow(message: dict[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        status_box["status"] = message["status"]

                await self.app(scope, replay, swallow)
                finish(f"lost({status_box['status']})")
                if rule.kind == "gateway_timeout":
                    await _send_plain(send, 504, {"content-type": "text/html"}, _GATEWAY_TIMEOUT_PAGE)
                else:
                    _abort_connection(send)
                return
            await self.app(scope, replay, send_recording)
            finish(status_box["status"] or 0)
        finally:
            _PARTIAL.set(False)
            if acquired:
                rt.limiter.release(info.tenant)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_plain(send: Any, status: int, headers: dict[str, str], payload: bytes) -> None:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temp file and rename, so a crash never leaves half a snapshot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":"), default=str), encoding="utf-8")
    tmp.replace(path)
