"""Intuit's OAuth 2.0 consent (authorization-code grant) as the sandbox plays it.

What a person sees at ``https://appcenter.intuit.com/connect/oauth2``, reduced to what the
product's ``python -m qbo_intacct.authorize_quickbooks`` command depends on:

- ``GET /connect/oauth2?client_id=..&response_type=code&scope=..&redirect_uri=..&state=..`` shows a
  consent page: the app asks for the scope ``com.intuit.quickbooks.accounting``; the person picks a
  company and clicks *Connect* (or *Cancel*). An unknown client, a missing state, a scope without
  ``com.intuit.quickbooks.accounting`` or a redirect URI Intuit would not accept is an error page
  (HTTP 400), never a redirect: Intuit redirects only to registered URIs.
- *Connect* redirects to ``redirect_uri?code=..&state=..&realmId=..`` (HTTP 302), *Cancel* to
  ``redirect_uri?error=access_denied&state=..``.
- ``POST /oauth2/v1/tokens/bearer`` with ``grant_type=authorization_code&code=..&redirect_uri=..``
  (HTTP Basic client auth) answers the same token response as a refresh.

Sandbox choices where Intuit's documentation is silent: a code is valid for 300 s of sandbox clock
and once only (a second exchange is ``invalid_grant``); the redirect URI of the exchange must equal
the one of the consent (RFC 6749 4.1.3), else ``invalid_grant``. Redirect URIs: any ``https`` URL,
or ``http`` to ``localhost`` / ``127.0.0.1`` (Intuit accepts plain http only for localhost, on
development keys); there is no registration list, since the sandbox has no developer portal.
"""

from __future__ import annotations

import html
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from include.sandbox.qbo.oauth import OAuthError

if TYPE_CHECKING:
    from include.sandbox.qbo.app import QboRuntime

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
CODE_SECONDS = 300


@dataclass
class _Code:
    client_id: str
    realm_id: str
    redirect_uri: str
    expires_at: datetime


class ConsentCodes:
    """Authorization codes issued by the consent page; each exchanged at most once."""

    def __init__(self) -> None:
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    def issue(self, client_id: str, realm_id: str, redirect_uri: str, now: datetime) -> str:
        code = "AB11" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(client_id, realm_id, redirect_uri, now + timedelta(seconds=CODE_SECONDS))
        return code

    def redeem(self, client_id: str, code: str, redirect_uri: str, now: datetime) -> str:
        """The realm the code was issued for; the code is spent whatever the outcome."""
        with self._lock:
            record = self._codes.pop(code, None)
        if record is None or record.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "Incorrect or already used authorization code")
        if now >= record.expires_at:
            raise OAuthError(400, "invalid_grant", "The authorization code has expired")
        if record.redirect_uri != redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization request")
        return record.realm_id


def exchange_code(runtime: QboRuntime, client_id: str, form: dict[str, str]) -> dict[str, object]:
    """The token response for ``grant_type=authorization_code``: a new refresh-token chain for the realm."""
    if not form.get("code") or not form.get("redirect_uri"):
        raise OAuthError(400, "invalid_request", "code and redirect_uri are required")
    realm_id = _codes(runtime).redeem(client_id, form["code"], form["redirect_uri"], runtime.clock.now())
    first = runtime.oauth.bootstrap(realm_id, client_id)
    return runtime.oauth.refresh(client_id, first)  # the grant answers with the chain's first rotation


def _codes(runtime: QboRuntime) -> ConsentCodes:
    codes = getattr(runtime, "consent_codes", None)
    if codes is None:
        codes = runtime.consent_codes = ConsentCodes()  # type: ignore[attr-defined]
    return codes


def _redirect_allowed(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1")


def _error_page(message: str) -> HTMLResponse:
    body = f"<html><body><h1>Intuit</h1><p>{html.escape(message)}</p></body></html>"
    return HTMLResponse(body, status_code=400)


def _checked(runtime: QboRuntime, params: dict[str, str]) -> str | None:
    """What is wrong with an authorization request, in the words of Intuit's error page; None if nothing."""
    if params.get("client_id") not in runtime.oauth.clients:
        return "invalid_client: the client_id is not the client ID of any app"
    if params.get("response_type") != "code":
        return "unsupported_response_type: response_type must be code"
    if ACCOUNTING_SCOPE not in (params.get("scope") or "").split():
        return f"invalid_scope: the scope must include {ACCOUNTING_SCOPE}"
    if not _redirect_allowed(params.get("redirect_uri") or ""):
        return "The redirect_uri query parameter value is invalid: use https, or http only for localhost"
    if not params.get("state"):
        return "state is required (it protects against cross-site request forgery)"
    return None


def consent_router(runtime: QboRuntime) -> APIRouter:
    """``GET`` / ``POST /connect/oauth2``: the consent page and its answer."""
    router = APIRouter()

    @router.get("/connect/oauth2")
    def consent_page(request: Request) -> Response:
        params = dict(request.query_params)
        problem = _checked(runtime, params)
        if problem:
            return _error_page(problem)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
            for name in ("client_id", "response_type", "scope", "redirect_uri", "state")
        )
        companies = "".join(
            f'<label><input type="radio" name="realm_id" value="{html.escape(realm_id)}"{" checked" if i == 0 else ""}>'
            f" {html.escape(realm.company_name)} ({html.escape(realm_id)})</label><br>"
            for i, (realm_id, realm) in enumerate(runtime.state.realms.items())
        )
        body = (
            "<html><head><title>Connect to QuickBooks (sandbox)</title></head><body>"
            "<h1>An app wants to connect to your QuickBooks company</h1>"
            f"<p>It asks for: <b>{html.escape(params['scope'])}</b> (read and write your accounting data).</p>"
            f'<form method="post" action="/connect/oauth2">{hidden}{companies}'
            '<button name="action" value="connect">Connect</button> '
            '<button name="action" value="cancel">Cancel</button></form></body></html>'
        )
        return HTMLResponse(body)

    @router.post("/connect/oauth2")
    async def consent_answer(request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        params = {k: v[0] for k, v in parse_qs(raw).items()}
        problem = _checked(runtime, params)
        if problem:
            return _error_page(problem)
        redirect_uri, state = params["redirect_uri"], params["state"]
        separator = "&" if urlsplit(redirect_uri).query else "?"
        if params.get("action") != "connect":
            query = urlencode({"error": "access_denied", "state": state})
            return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=302)
        realm_id = params.get("realm_id") or next(iter(runtime.state.realms))
        if realm_id not in runtime.state.realms:
            return _error_page(f"Company {realm_id} does not exist")
        code = _codes(runtime).issue(params["client_id"], realm_id, redirect_uri, runtime.clock.now())
        query = urlencode({"code": code, "state": state, "realmId": realm_id})
        return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=302)

    return router
