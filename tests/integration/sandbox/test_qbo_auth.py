"""QuickBooks sandbox OAuth: rotating refresh tokens with a short grace, 1-hour access tokens, 401 shapes.

Every test gets its own refresh-token chain from the sandbox-only authorize route, so none of them
spends the bootstrap token that sandbox.json gives the hooks.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from include.sandbox.qbo.testing import QboClient


@pytest.fixture
def qbo(qbo_sandbox: Any) -> QboClient:
    client = QboClient(qbo_sandbox.info)
    r = requests.post(f"{qbo_sandbox.admin}/qbo/authorize", json={}, timeout=10)
    client.refresh_token = r.json()["refresh_token"]
    return client


def test_refresh_returns_a_new_refresh_token_and_a_one_hour_access_token(qbo: QboClient) -> None:
    first = qbo.refresh_token
    body = qbo.refresh()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["x_refresh_token_expires_in"] == 8_726_400
    assert body["refresh_token"] != first


def test_superseded_refresh_token_within_grace_returns_the_newest_token(qbo: QboClient) -> None:
    old = qbo.refresh_token
    newest = qbo.refresh()["refresh_token"]
    again = qbo.token_request(old)
    assert again.status_code == 200
    assert again.json()["refresh_token"] == newest


def test_superseded_refresh_token_after_grace_is_invalid_grant(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.configure(refresh_grace_seconds=1)
    old = qbo.refresh_token
    qbo.refresh()
    qbo_sandbox.advance_clock(2)
    refused = qbo.token_request(old)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant"}


def test_newest_refresh_token_still_works_after_the_old_one_expired(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.configure(refresh_grace_seconds=1)
    qbo.refresh()
    qbo_sandbox.advance_clock(2)
    assert qbo.token_request(qbo.refresh_token).status_code == 200


def test_unknown_refresh_token_is_invalid_grant(qbo: QboClient) -> None:
    refused = qbo.token_request("AB11-not-a-token")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


def test_wrong_client_secret_is_invalid_client(qbo: QboClient) -> None:
    refused = qbo.token_request(qbo.refresh_token, auth=(qbo.info["client_id"], "wrong"))
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")


def _auth_fault(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert body["queryResponse"] is None
    assert body["batchItemResponse"] == []
    return body["fault"]


def test_missing_bearer_token_gets_401_with_lowercase_fault(qbo: QboClient) -> None:
    r = requests.get(f"{qbo.company_url}/customer/1", timeout=10)
    assert r.status_code == 401
    fault = _auth_fault(r)
    assert fault["type"] == "AUTHENTICATION"
    assert fault["error"][0]["code"] == "3200"
    assert fault["error"][0]["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"


def test_wrong_bearer_token_gets_401(qbo: QboClient) -> None:
    r = requests.get(f"{qbo.company_url}/customer/1", headers=qbo.headers("eyJ.forged"), timeout=10)
    assert r.status_code == 401
    assert _auth_fault(r)["error"][0]["code"] == "3200"


def test_expired_access_token_gets_401(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo_sandbox.configure(access_token_seconds=5)
    qbo.refresh()
    assert qbo.call("GET", "preferences").status_code == 200
    qbo_sandbox.advance_clock(6)
    r = qbo.call("GET", "preferences")
    assert r.status_code == 401
    assert _auth_fault(r)["error"][0]["detail"] == "Token expired"


def test_reset_keeps_issued_tokens_valid(qbo: QboClient, qbo_sandbox: Any) -> None:
    qbo.refresh()
    qbo_sandbox.reset()
    assert qbo.call("GET", "preferences").status_code == 200
    assert qbo.token_request(qbo.refresh_token).status_code == 200


def test_discovery_document_names_the_sandbox_token_endpoint(qbo_sandbox: Any) -> None:
    doc = requests.get(qbo_sandbox.info["discovery_url"], timeout=10).json()
    assert doc["token_endpoint"] == qbo_sandbox.info["token_url"]
    for key in ("authorization_endpoint", "revocation_endpoint", "issuer", "jwks_uri", "userinfo_endpoint"):
        assert doc[key]


def test_every_api_response_carries_an_intuit_tid_header(qbo_sandbox: Any) -> None:
    token = requests.post(
        qbo_sandbox.info["token_url"],
        auth=(qbo_sandbox.info["client_id"], qbo_sandbox.info["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": "not-a-token"},
        timeout=10,
    )
    assert token.status_code == 400
    assert token.headers["intuit_tid"].startswith("sbx-")
