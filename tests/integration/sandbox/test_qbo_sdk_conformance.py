"""Conformance: the public ``python-quickbooks`` client works against the sandbox unchanged.

It is pointed at the sandbox the way api-facts.md C1 describes: ``AuthClient`` gets the sandbox's
discovery URL as its ``environment`` (so refreshes go to the sandbox token endpoint), and the
``QuickBooks`` client gets ``api_url_v3`` overridden. The only other concession is
``OAUTHLIB_INSECURE_TRANSPORT`` (the sandbox speaks plain http on loopback).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice


@pytest.fixture
def qb(qbo_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> QuickBooks:
    # oauthlib refuses plain http unless told this is a local test; the sandbox is loopback-only.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    info = qbo_sandbox.info
    grant = requests.post(f"{qbo_sandbox.admin}/qbo/authorize", json={}, timeout=10).json()
    auth = AuthClient(
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        redirect_uri="http://127.0.0.1/callback",
        environment=info["discovery_url"],
    )
    client = QuickBooks(
        auth_client=auth, refresh_token=grant["refresh_token"], company_id=grant["realm_id"], minorversion=75
    )
    client.api_url_v3 = info["base_url"]
    return client


def new_customer(qb: QuickBooks, name: str) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    return customer.save(qb=qb)


def test_sdk_refreshes_through_the_sandbox_and_creates_and_gets(qb: QuickBooks) -> None:
    created = new_customer(qb, "SDK Customer")
    fetched = Customer.get(created.Id, qb=qb)
    assert fetched.DisplayName == "SDK Customer"
    assert fetched.SyncToken == "0"


def test_sdk_queries_with_filter_and_count(qb: QuickBooks) -> None:
    for name in ("Alpha SDK", "Beta SDK", "Gamma Other"):
        new_customer(qb, name)
    found = Customer.filter(DisplayName="Beta SDK", qb=qb)
    assert [c.DisplayName for c in found] == ["Beta SDK"]
    assert Customer.count(qb=qb) == 3
    assert len(Customer.where("DisplayName LIKE '%SDK'", qb=qb)) == 2


def test_sdk_sparse_update_with_request_id(qb: QuickBooks) -> None:
    created = new_customer(qb, "Sparse SDK")
    patch = Customer()
    patch.Id = created.Id
    patch.SyncToken = created.SyncToken
    patch.sparse = True
    patch.Notes = "patched"
    patch.DisplayName = "Sparse SDK"
    updated = patch.save(qb=qb, request_id="sdk-sparse-1")
    assert (updated.Notes, updated.SyncToken) == ("patched", "1")


def test_sdk_creates_and_deletes_an_invoice(qb: QuickBooks) -> None:
    customer = new_customer(qb, "Invoice SDK")
    invoice = Invoice()
    line = SalesItemLine()
    line.Amount = 150.25
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = "1"
    invoice.Line.append(line)
    invoice.CustomerRef = customer.to_ref()
    saved = invoice.save(qb=qb)
    assert saved.TotalAmt == 150.25
    saved.delete(qb=qb)
    with pytest.raises(QuickbooksException):
        Invoice.get(saved.Id, qb=qb)


def test_sdk_batch_create_splits_successes_and_faults(qb: QuickBooks) -> None:
    new_customer(qb, "Batch Taken")
    fresh, taken = Customer(), Customer()
    fresh.DisplayName, taken.DisplayName = "Batch Fresh", "Batch Taken"
    result = batch_create([fresh, taken], qb=qb)
    assert [c.DisplayName for c in result.successes] == ["Batch Fresh"]
    assert [f.Error[0].code for f in result.faults] == ["6240"]


def test_sdk_reads_change_data_capture(qb: QuickBooks) -> None:
    since = datetime.now(UTC) - timedelta(minutes=5)
    new_customer(qb, "CDC SDK")
    response = change_data_capture([Customer, Invoice], since.strftime("%Y-%m-%dT%H:%M:%S%z"), qb=qb)
    assert [c.DisplayName for c in response.Customer] == ["CDC SDK"]
