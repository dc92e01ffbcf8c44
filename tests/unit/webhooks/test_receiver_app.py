"""The receiver's HTTP contract with Intuit: refuse and log a wrong signature, accept and queue a signed one."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from qbo_intacct.webhooks.intuit import sign
from qbo_intacct.webhooks.receiver import ReceiverSettings, create_app

TOKEN = "verifier-token"
BODY = json.dumps(
    [
        {"type": "qbo.customer.updated.v1", "intuitentityid": "58", "intuitaccountid": "9341"},
        {"type": "qbo.estimate.created.v1", "intuitentityid": "3", "intuitaccountid": "9341"},  # no flow reads it
    ]
).encode()


@pytest.fixture
def client() -> Iterator[TestClient]:
    # Airflow is never reached here: the coalescing window is an hour and nothing flushes it.
    settings = ReceiverSettings(verifier_token=TOKEN, airflow_url="http://127.0.0.1:9", coalesce_seconds=3600)
    app = create_app(settings)
    yield TestClient(app)
    timer = app.state.coalescer._timer
    if timer is not None:
        timer.cancel()


def test_a_tampered_notification_is_refused_and_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    tampered = BODY.replace(b'"58"', b'"59"')
    with caplog.at_level(logging.WARNING, logger="qbo_intacct.webhooks"):
        answer = client.post("/webhooks/quickbooks", content=tampered, headers={"intuit-signature": sign(BODY, TOKEN)})
        unsigned = client.post("/webhooks/quickbooks", content=BODY)
    assert (answer.status_code, unsigned.status_code) == (401, 401)
    assert "the intuit-signature header is wrong" in caplog.text
    assert "the intuit-signature header is missing" in caplog.text
    assert "59" not in caplog.text  # the body is never logged
    status = client.get("/status").json()
    assert (status["refused"], status["notifications"], status["pending"]) == (2, 0, {})


def test_a_signed_notification_is_answered_at_once_and_queued_for_its_flow(client: TestClient) -> None:
    answer = client.post("/webhooks/quickbooks", content=BODY, headers={"intuit-signature": sign(BODY, TOKEN)})
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 2}
    status = client.get("/status").json()
    assert status["pending"] == {"qbo_intacct_customers": 1}
    assert (status["notifications"], status["changes"], status["ignored"]) == (1, 2, 1)
    assert client.get("/health").json() == {"status": "ok"}


def test_a_signed_body_in_neither_format_is_refused(client: TestClient) -> None:
    body = b'{"hello": "world"}'
    assert (
        client.post("/webhooks/quickbooks", content=body, headers={"intuit-signature": sign(body, TOKEN)}).status_code
        == 400
    )
