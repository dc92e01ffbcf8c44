"""Seeded books over real HTTP: the sandboxes serve what the manifest says, and clients can read them.

The demo books are generated once per module, loaded with ``POST /_sandbox/reset {"snapshot": ...}``
and read back three ways: through the product hooks (counts and totals against the manifest), and
through the PyPI clients a finance team might point at the same company (python-quickbooks and
sageintacctsdk), which must parse every seeded record without error. The sandboxes are reset to
empty books afterwards so later modules start clean.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.objects.bill import Bill
from quickbooks.objects.billpayment import BillPayment
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.journalentry import JournalEntry
from quickbooks.objects.payment import Payment
from quickbooks.objects.vendor import Vendor
from sageintacctsdk import SageIntacctSDK
from sageintacctsdk.apis import ApiBase

from include.sandbox.books.generate import generate_books
from include.sandbox.intacct.testing import GatewayClient
from qbo_intacct.hooks.intacct import Filter, IntacctHook
from qbo_intacct.hooks.quickbooks import QuickBooksHook

QBO_QUERYABLE = (
    "Customer",
    "Vendor",
    "Account",
    "Class",
    "Department",
    "Term",
    "TaxCode",
    "TaxRate",
    "PaymentMethod",
    "Item",
    "Invoice",
    "CreditMemo",
    "Payment",
    "Bill",
    "BillPayment",
    "JournalEntry",
)
INTACCT_DOCUMENTS = ("ARINVOICE", "ARPYMT", "APBILL", "APPYMT", "GLBATCH")


@pytest.fixture(scope="module")
def seeded(sandboxes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    out: Path = tmp_path_factory.mktemp("seeded-books")
    manifest = generate_books(seed=42, scale="demo", out=out)
    sandboxes["qbo"].reset(out / "qbo.json")
    sandboxes["intacct"].reset(out / "intacct.json")
    try:
        yield manifest
    finally:
        sandboxes["qbo"].reset()
        sandboxes["intacct"].reset()


def _planted_id(manifest: dict[str, Any], tag: str) -> str:
    return next(row["id"] for row in manifest["planted"] if row["tag"] == tag)


# ------------------------------------------------------------------------------ through the hooks


def test_quickbooks_sandbox_serves_the_manifest_counts(seeded: dict[str, Any]) -> None:
    hook = QuickBooksHook()
    expected = seeded["counts"]["qbo"]["by_object"]
    served = {entity: hook.count(entity) for entity in QBO_QUERYABLE}
    assert served == {entity: expected[entity] for entity in QBO_QUERYABLE}


def test_quickbooks_sandbox_serves_the_manifest_invoice_totals_by_currency(seeded: dict[str, Any]) -> None:
    totals: dict[str, Decimal] = {}
    for invoice in QuickBooksHook().iter_query("Invoice"):
        currency = invoice["CurrencyRef"]["value"]
        totals[currency] = totals.get(currency, Decimal(0)) + Decimal(str(invoice["TotalAmt"]))
    expected = seeded["totals"]["qbo"]["Invoice"]["by_currency"]
    assert totals == {currency: Decimal(row["total"]) for currency, row in expected.items()}


def test_intacct_sandbox_serves_each_entitys_documents(seeded: dict[str, Any]) -> None:
    hook = IntacctHook()
    expected = seeded["counts"]["intacct"]["by_object_and_entity"]
    for entity in ("US", "UK", "CA"):
        for object_name in INTACCT_DOCUMENTS:
            served = sum(1 for _ in hook.iter_query(object_name, ["RECORDNO"], entity_id=entity))
            assert served == expected[object_name].get(entity, 0), (entity, object_name)


def test_intacct_sandbox_serves_customers_and_vendors_of_every_entity_at_top_level(seeded: dict[str, Any]) -> None:
    hook = IntacctHook()
    expected = seeded["counts"]["intacct"]["by_object"]
    for object_name in ("CUSTOMER", "VENDOR"):
        owners = Counter(
            rec["MEGAENTITYID"] or "top"
            for rec in hook.iter_query(object_name, ["RECORDNO", "MEGAENTITYID"], show_private=True)
        )
        assert sum(owners.values()) == expected[object_name]
        assert dict(owners) == seeded["counts"]["intacct"]["by_object_and_entity"][object_name]


def test_intacct_planted_unbalanced_journal_reads_back_as_a_draft(seeded: dict[str, Any]) -> None:
    record_no = _planted_id(seeded, "unbalanced_journal")
    rows = list(
        IntacctHook().iter_query(
            "GLBATCH", ["RECORDNO", "STATE", "BATCH_TITLE"], Filter.equal("RECORDNO", record_no), entity_id="UK"
        )
    )
    assert [(str(r["RECORDNO"]), r["STATE"]) for r in rows] == [(record_no, "Draft")]


# ------------------------------------------------------------------------------ through the PyPI clients


@pytest.fixture(scope="module")
def quickbooks_client(seeded: dict[str, Any], sandboxes: dict[str, Any]) -> Iterator[QuickBooks]:
    """python-quickbooks pointed at the sandbox, with the hook's current access token.

    The hook owns the realm's rotating refresh token (its token store); borrowing its access token
    keeps this second client from forking the token chain and logging the hook out later.
    requests-oauthlib refuses plain HTTP unless told otherwise; the sandbox is loopback only.
    """
    info = sandboxes["qbo"].info
    realm_id = next(iter(info["realms"]))
    auth_client = AuthClient(
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        redirect_uri="http://127.0.0.1/callback",
        environment=info["discovery_url"],
        access_token=QuickBooksHook()._access_token(),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
        client = QuickBooks(auth_client=auth_client, company_id=realm_id, minorversion=75)
        client.api_url_v3 = info["base_url"]
        client.sandbox_api_url_v3 = info["base_url"]
        yield client


@pytest.mark.parametrize(
    ("qbo_object", "entity"),
    [
        (Customer, "Customer"),
        (Vendor, "Vendor"),
        (Invoice, "Invoice"),
        (CreditMemo, "CreditMemo"),
        (Payment, "Payment"),
        (Bill, "Bill"),
        (BillPayment, "BillPayment"),
        (JournalEntry, "JournalEntry"),
    ],
)
def test_python_quickbooks_reads_every_seeded_record(
    quickbooks_client: QuickBooks, seeded: dict[str, Any], qbo_object: Any, entity: str
) -> None:
    records: list[Any] = []
    while True:
        page = qbo_object.filter(start_position=len(records) + 1, max_results=1000, qb=quickbooks_client)
        records.extend(page)
        if len(page) < 1000:
            break
    assert len(records) == seeded["counts"]["qbo"]["by_object"][entity]
    assert all(record.Id for record in records)


def test_python_quickbooks_reads_the_markup_customer_name_intact(
    quickbooks_client: QuickBooks, seeded: dict[str, Any]
) -> None:
    customer = Customer.get(_planted_id(seeded, "markup_customer_name"), qb=quickbooks_client)
    assert customer.DisplayName == next(r["name"] for r in seeded["planted"] if r["tag"] == "markup_customer_name")


@pytest.fixture(scope="module")
def intacct_sdk(seeded: dict[str, Any], sandboxes: dict[str, Any]) -> SageIntacctSDK:
    """sageintacctsdk on a top-level session; its hard-coded URL is rewritten on every API object."""
    info = sandboxes["intacct"].info
    session_id = GatewayClient(info).session()
    sdk = SageIntacctSDK(
        sender_id=info["sender_id"],
        sender_password=info["sender_password"],
        user_id=info["user_id"],
        company_id=info["company_id"],
        user_password=info["user_password"],
        show_private=True,
        session_id=session_id,
    )
    for api in vars(sdk).values():
        if isinstance(api, ApiBase):
            api._ApiBase__api_url = info["endpoint_url"]  # type: ignore[attr-defined]
    return sdk


@pytest.mark.parametrize(
    ("api_name", "object_name", "fields"),
    [
        ("customers", "CUSTOMER", None),
        ("vendors", "VENDOR", None),
        ("ar_invoices", "ARINVOICE", None),
        ("bills", "APBILL", None),
        ("ar_payments", "ARPYMT", None),
        ("ap_payments", "APPYMT", ["RECORDNO", "VENDORID", "STATE"]),  # the SDK has no default field list
        ("journal_entries", "GLBATCH", None),
        ("accounts", "GLACCOUNT", None),
        ("location_entities", "LOCATIONENTITY", None),
    ],
)
def test_sageintacctsdk_reads_every_seeded_record(
    intacct_sdk: SageIntacctSDK, seeded: dict[str, Any], api_name: str, object_name: str, fields: list[str] | None
) -> None:
    """The SDK's own default field lists (dozens of fields per object) must be accepted."""
    records = [rec for page in getattr(intacct_sdk, api_name).get_all_generator(fields=fields) for rec in page]
    assert len(records) == seeded["counts"]["intacct"]["by_object"][object_name]
