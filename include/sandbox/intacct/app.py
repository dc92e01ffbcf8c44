"""FastAPI app for the Intacct sandbox: ``POST /ia/xml/xmlgw.phtml`` plus the shared ``/_sandbox`` admin.

``create_app(config)`` builds the company (the books snapshot in ``config.snapshot`` when given,
else :meth:`IntacctState.default`), generates credentials per start (``secrets.token_urlsafe``)
unless ``config.credentials`` or the snapshot's ``credentials`` fix them, and wraps everything in
:class:`SandboxMiddleware` so limits (2 concurrent requests per company by default, refused with
HTTP 429 GW-0010), injected faults and the request log behave as on the QuickBooks sandbox.

The company timezone (America/Los_Angeles unless the books say otherwise) is the one WHENCREATED
and WHENMODIFIED are rendered in, without offset; ``describe()["timezone"]`` tells clients.

Admin extras (beyond the shared router): ``PATCH /_sandbox/config`` also takes
``session_timeout_seconds``, ``books_closed_through`` ("YYYY-MM-DD" or null) and ``ap_approval``;
``GET /_sandbox/intacct/inflight`` returns the requests being served now (tests wait on it).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
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
)
from include.sandbox.intacct.gateway import WRITE_FUNCTIONS, Credentials, Gateway
from include.sandbox.intacct.state import IntacctState, parse_date
from include.sandbox.intacct.xmlio import gateway_error

GATEWAY_PATH = "/ia/xml/xmlgw.phtml"
XML_CONTENT_TYPE = "text/xml; charset=UTF-8"
DEFAULT_COMPANY_ID = "QBO-INTACCT-SANDBOX"
DEFAULT_SENDER_ID = "qbo_intacct_sender"
DEFAULT_USER_ID = "xml_gateway"
_FIRST_FUNCTION = re.compile(rb"<function\b[^>]*>\s*<([A-Za-z_][A-Za-z0-9_]*)")
_SESSION_ID = re.compile(rb"<sessionid>([^<]*)</sessionid>")
# Bodies of injected 5xx faults: the real gateway's are not documented; these are the sandbox's own.
_FAULT_BODIES = {
    "429": (429, "GW-0010", "Rate limit exceeded"),
    "500": (500, "GW-0500", "Internal server error"),
    "503": (503, "GW-0503", "The Service is Temporarily Off-line"),
}


class IntacctRuntime:
    """The ``SandboxRuntime`` of the Intacct app: state, gateway, clock, limits, faults, log."""

    system = "intacct"

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = SandboxClock()
        self.faults = FaultInjector(seed=config.seed)
        self.log = RequestLog()
        limits = config.limits if config.limits != LimitConfig() else LimitConfig(concurrent=2)
        self.limiter = TenantLimiter(limits)
        state = self._initial_state()
        creds = {**state.credentials, **config.credentials}
        self.credentials = Credentials(
            sender_id=str(creds.get("sender_id", DEFAULT_SENDER_ID)),
            sender_password=str(creds.get("sender_password") or secrets.token_urlsafe(18)),
            company_id=str(creds.get("company_id", state.company_id)),
            user_id=str(creds.get("user_id", DEFAULT_USER_ID)),
            user_password=str(creds.get("user_password") or secrets.token_urlsafe(18)),
        )
        self.gateway = Gateway(
            state=state,
            credentials=self.credentials,
            clock=self.clock,
            log=self.log,
            endpoint_url=f"{config.base_url}{GATEWAY_PATH}",
            session_timeout_seconds=int(config.options.get("session_timeout_seconds", 86_400)),
        )
        self.gateway.replace_state(state)

    def _initial_state(self) -> IntacctState:
        if self.config.snapshot is not None:
            return IntacctState.load(self.config.snapshot)
        return IntacctState.default(str(self.config.credentials.get("company_id", DEFAULT_COMPANY_ID)))

    @property
    def state(self) -> IntacctState:
        return self.gateway.state

    # -- SandboxRuntime -------------------------------------------------------------------------
    def reset(self, snapshot: Path | None) -> None:
        """Back to the start-up books (or ``snapshot``); sessions are kept on purpose."""
        if snapshot is not None:
            state = IntacctState.load(snapshot)
        elif self.config.snapshot is not None:
            state = IntacctState.load(self.config.snapshot)
        else:
            state = IntacctState.default(self.credentials.company_id, timezone=self.state.timezone)
        self.gateway.replace_state(state)

    def save_snapshot(self, path: Path) -> None:
        with self.gateway.lock:
            self.state.save(path)

    def load_snapshot(self, path: Path) -> None:
        self.gateway.replace_state(IntacctState.load(path))

    def patch_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        applied: dict[str, Any] = {}
        with self.gateway.lock:
            for key, value in changes.items():
                if key == "session_timeout_seconds":
                    self.gateway.session_timeout_seconds = int(value)
                elif key == "books_closed_through":
                    self.state.books_closed_through = parse_date(value) if value else None
                elif key == "ap_approval":
                    self.state.ap_approval = bool(value)
                else:
                    raise ValueError(f"unknown Intacct sandbox setting {key}")
                applied[key] = value
        return applied

    async def classify(self, method: str, path: str, query: str, body: bytes) -> RequestInfo:
        if path != GATEWAY_PATH:
            return RequestInfo(endpoint="other", operation=method.lower(), tenant="", limited=False)
        match = _FIRST_FUNCTION.search(body)
        operation = match.group(1).decode("ascii") if match else "none"
        return RequestInfo(
            endpoint="xmlgw",
            operation=operation,
            tenant=self.credentials.company_id,
            is_write=operation in WRITE_FUNCTIONS,
        )

    def fault_response(self, kind: str, info: RequestInfo) -> tuple[int, dict[str, str], bytes]:
        status, errorno, text = _FAULT_BODIES[kind]
        return status, {"content-type": XML_CONTENT_TYPE}, gateway_error(errorno, text)

    def expire_credentials(self, headers: dict[str, str], body: bytes) -> None:
        """The ``expire_session`` fault: the API session this request carries runs out now."""
        match = _SESSION_ID.search(body)
        if match:
            self.gateway.expire_session(match.group(1).decode("utf-8", "replace").strip())

    def throttle_response(self, which: str, info: RequestInfo) -> tuple[int, dict[str, str], bytes]:
        return 429, {"content-type": XML_CONTENT_TYPE}, gateway_error("GW-0010", f"Rate limit exceeded ({which})")

    # -- sandbox.json -----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        base = self.config.base_url
        return {
            "endpoint_url": f"{base}{GATEWAY_PATH}",
            "admin_url": f"{base}/_sandbox",
            "sender_id": self.credentials.sender_id,
            "sender_password": self.credentials.sender_password,
            "company_id": self.credentials.company_id,
            "user_id": self.credentials.user_id,
            "user_password": self.credentials.user_password,
            "entities": [e["LOCATIONID"] for e in self.state.entities()],
            "timezone": self.state.timezone,
        }


def create_app(config: SandboxConfig) -> FastAPI:
    """The Intacct sandbox app (see module docstring); ``app.state.runtime`` is its runtime."""
    runtime = IntacctRuntime(config)
    app = FastAPI(title="Sage Intacct XML gateway sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime

    @app.post(GATEWAY_PATH)
    async def xml_gateway(request: Request) -> Response:
        body = await request.body()
        payload = await run_in_threadpool(runtime.gateway.handle, body)
        return Response(content=payload, status_code=200, media_type=XML_CONTENT_TYPE)

    extras = APIRouter(prefix="/_sandbox/intacct")

    @extras.get("/inflight")
    def inflight() -> dict[str, int]:
        return {"in_flight": runtime.limiter.in_flight(runtime.credentials.company_id)}

    app.include_router(admin_router(runtime))
    app.include_router(extras)
    # Outermost, outside Starlette's error middleware, so a "reset" fault reaches uvicorn's transport.
    build_inner_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SandboxMiddleware(build_inner_stack(), runtime)  # type: ignore[method-assign]
    return app
