"""A deliberately small QuickBooks client for the sandbox's own tests and for poking it by hand.

It is not the product's hook (``plugins/qbo_intacct/hooks/quickbooks.py`` is). It gets its own
refresh-token chain from the sandbox-only ``/_sandbox/qbo/authorize`` route, so it never spends the
bootstrap token that sandbox.json gives the hooks, and it parses JSON with ``Decimal`` money.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from include.sandbox.qbo.state import dumps, loads


@dataclass
class QboClient:
    """Talks to the sandbox described by the ``qbo`` section of sandbox.json."""

    info: dict[str, Any]
    realm_id: str = ""
    timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session)
    access_token: str = ""
    refresh_token: str = ""

    def __post_init__(self) -> None:
        if not self.realm_id:
            self.realm_id = next(iter(self.info["realms"]))

    @property
    def company_url(self) -> str:
        return f"{self.info['base_url']}/company/{self.realm_id}"

    def authorize(self) -> QboClient:
        """A fresh refresh token (admin route), spent at once for an access token."""
        r = self.session.post(
            f"{self.info['admin_url']}/qbo/authorize", json={"realm_id": self.realm_id}, timeout=self.timeout
        )
        r.raise_for_status()
        self.refresh_token = r.json()["refresh_token"]
        self.refresh()
        return self

    def token_request(self, refresh_token: str, *, auth: tuple[str, str] | None = None) -> requests.Response:
        return self.session.post(
            self.info["token_url"],
            auth=auth or (self.info["client_id"], self.info["client_secret"]),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            headers={"Accept": "application/json"},
            timeout=self.timeout,
        )

    def refresh(self) -> dict[str, Any]:
        r = self.token_request(self.refresh_token)
        r.raise_for_status()
        body = r.json()
        self.access_token = body["access_token"]
        self.refresh_token = body["refresh_token"]
        return body

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.access_token}", "Accept": "application/json"}

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        text: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One request under the company URL; ``body`` is JSON-encoded with exact money."""
        all_headers = self.headers() | (headers or {})
        data: bytes | None = None
        if body is not None:
            data = dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        elif text is not None:
            data = text.encode()
            all_headers["Content-Type"] = "application/text"
        return self.session.request(
            method,
            f"{self.company_url}/{path.lstrip('/')}",
            params={"minorversion": "75", **(params or {})},
            data=data,
            headers=all_headers,
            timeout=self.timeout,
        )

    def ok(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        r = self.call(method, path, **kw)
        assert r.status_code == 200, f"{method} {path}: HTTP {r.status_code} {r.text[:500]}"
        return self.json(r)

    @staticmethod
    def json(response: requests.Response) -> Any:
        return loads(response.content)

    # ---- shortcuts ---------------------------------------------------------------------------

    def create(self, entity: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        return self.ok("POST", entity.lower(), body=body, params=params)[entity]

    def get(self, entity: str, record_id: str) -> dict[str, Any]:
        return self.ok("GET", f"{entity.lower()}/{record_id}")[entity]

    def query(self, statement: str) -> dict[str, Any]:
        return self.ok("GET", "query", params={"query": statement})["QueryResponse"]

    def fault(self, response: requests.Response) -> dict[str, Any]:
        """The first Error of a Fault answer."""
        return self.json(response)["Fault"]["Error"][0]

    def customer(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.create("Customer", {"DisplayName": name, **fields})

    def vendor(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.create("Vendor", {"DisplayName": name, **fields})

    def invoice(self, customer_id: str, *amounts: Decimal | str, **fields: Any) -> dict[str, Any]:
        lines = [
            {
                "Amount": Decimal(str(amount)),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
            }
            for amount in amounts
        ]
        return self.create("Invoice", {"CustomerRef": {"value": customer_id}, "Line": lines, **fields})
