"""Intuit OAuth 2.0 as the sandbox plays it: one client, rotating refresh tokens, 1-hour access tokens.

The rules a hook must survive, and why they are here:

- Every ``refresh_token`` grant returns a NEW refresh token and supersedes the one presented.
  Peers lost their connection by keeping the old value (airbyte #7296, #49842).
- A superseded refresh token keeps working for a short grace (``grace_seconds``, default 120 s of
  sandbox clock) and then answers ``invalid_grant``. Within the grace it returns the newest refresh
  token of its chain, so two workers that raced on the same token converge on one value. Intuit
  documents no grace period; this is the sandbox's choice, and tests shrink or stretch it with the
  admin clock.
- Access tokens live 3600 s; a refresh token 100 days from its issue (``x_refresh_token_expires_in``).
- Access tokens are bound to one realm: a token used on another company is refused (403).

The store lives outside the books, so ``POST /_sandbox/reset`` keeps every issued token valid.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from include.sandbox.common import SandboxClock

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 8_726_400  # 101 days, as Intuit's x_refresh_token_expires_in says
DEFAULT_GRACE_SECONDS = 120.0


class OAuthError(Exception):
    """A token-endpoint refusal: HTTP status and the OAuth ``error`` value."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


class BearerRefused(Exception):  # noqa: N818 - a refusal, not a programming error
    """Why a bearer token cannot be used: 401 (missing, unknown, expired) or 403 (other realm)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class _RefreshToken:
    realm_id: str
    client_id: str
    issued_at: datetime
    superseded_at: datetime | None = None
    successor: str | None = None
    revoked: bool = False


@dataclass
class _AccessToken:
    realm_id: str
    client_id: str
    expires_at: datetime


class OAuthStore:
    """Clients, refresh-token chains and access tokens; thread-safe."""

    def __init__(self, clock: SandboxClock, client_id: str, client_secret: str) -> None:
        self.clock = clock
        self.clients = {client_id: client_secret}
        self.grace_seconds = DEFAULT_GRACE_SECONDS
        self.access_seconds = ACCESS_TOKEN_SECONDS
        self._refresh: dict[str, _RefreshToken] = {}
        self._access: dict[str, _AccessToken] = {}
        self._lock = threading.Lock()

    def bootstrap(self, realm_id: str, client_id: str, token: str | None = None) -> str:
        """The refresh token an admin would paste into the connection after authorising the app."""
        token = token or _refresh_value()
        with self._lock:
            self._refresh[token] = _RefreshToken(realm_id, client_id, self.clock.now())
        return token

    def check_client(self, client_id: str | None, client_secret: str | None) -> str:
        if not client_id or client_id not in self.clients:
            raise OAuthError(401, "invalid_client", "Unknown client")
        if not secrets.compare_digest(self.clients[client_id], client_secret or ""):
            raise OAuthError(401, "invalid_client", "Client authentication failed")
        return client_id

    def refresh(self, client_id: str, refresh_token: str) -> dict[str, object]:
        """Spend ``refresh_token``; returns the token response body Intuit sends."""
        now = self.clock.now()
        with self._lock:
            record = self._refresh.get(refresh_token)
            if record is None or record.revoked or record.client_id != client_id:
                raise OAuthError(400, "invalid_grant", "Incorrect or invalid refresh token")
            if now - record.issued_at > timedelta(seconds=REFRESH_TOKEN_SECONDS):
                raise OAuthError(400, "invalid_grant", "The refresh token has expired")
            if record.superseded_at is not None:
                if (now - record.superseded_at).total_seconds() > self.grace_seconds:
                    raise OAuthError(400, "invalid_grant", "The refresh token has been superseded")
                newest = refresh_token
                while self._refresh[newest].successor is not None:
                    newest = self._refresh[newest].successor or newest
                new_refresh = newest
            else:
                new_refresh = _refresh_value()
                self._refresh[new_refresh] = _RefreshToken(record.realm_id, client_id, now)
                record.superseded_at = now
                record.successor = new_refresh
            access = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." + secrets.token_urlsafe(48)
            self._access[access] = _AccessToken(
                record.realm_id, client_id, now + timedelta(seconds=self.access_seconds)
            )
            self._expire_old(now)
        return {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": self.access_seconds,
            "refresh_token": new_refresh,
            "x_refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
        }

    def revoke(self, token: str) -> None:
        with self._lock:
            if token in self._refresh:
                self._refresh[token].revoked = True
            self._access.pop(token, None)

    def expire_access_token(self, token: str) -> None:
        """Make an issued access token expire now (the ``expire_session`` fault)."""
        with self._lock:
            record = self._access.get(token)
            if record is not None:
                record.expires_at = self.clock.now()

    def authenticate(self, authorization: str | None, realm_id: str) -> None:
        """Accept a valid, unexpired bearer token issued for ``realm_id``; raise otherwise."""
        if not authorization:
            raise BearerRefused(401, "Authorization header is missing")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BearerRefused(401, "Malformed bearer token: too short or too long")
        with self._lock:
            record = self._access.get(token.strip())
        if record is None:
            raise BearerRefused(401, "Token invalid or revoked")
        if self.clock.now() >= record.expires_at:
            raise BearerRefused(401, "Token expired")
        if record.realm_id != realm_id:
            raise BearerRefused(403, "The token was not issued for this company")

    def _expire_old(self, now: datetime) -> None:
        """Forget access tokens a day past expiry, so a long benchmark does not grow the store forever."""
        if len(self._access) < 10_000:
            return
        cutoff = now - timedelta(days=1)
        for token in [t for t, a in self._access.items() if a.expires_at < cutoff]:
            del self._access[token]


def _refresh_value() -> str:
    return "AB11" + secrets.token_urlsafe(36)
