"""The customer accounting: field mapping both ways, keys, DisplayName rules, matching, windows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from qbo_intacct.flows import customers as cust
from qbo_intacct.flows.engine import match as engine_match
from qbo_intacct.flows.hashing import group_hashes
from qbo_intacct.flows.matching import MatchOutcome
from qbo_intacct.flows.runtime import compute_window, content_key, request_id
from qbo_intacct.mappings.loader import load_mappings

DEMO_WORKBOOK = Path(__file__).resolve().parents[3] / "include" / "mappings" / "qbo_intacct_mappings.xlsx"


def match(*args: Any) -> pd.DataFrame:
    return engine_match(cust.SPEC, *args)


QBO_TERMS = [{"Id": "3", "Name": "Net 30"}, {"Id": "1", "Name": "Due on receipt"}]


@pytest.fixture(scope="module")
def terms() -> cust.TermLookup:
    return cust.TermLookup.build(QBO_TERMS, load_mappings(DEMO_WORKBOOK))


def _qbo_customer(**overrides: Any) -> dict[str, Any]:
    customer = {
        "Id": "17",
        "SyncToken": "2",
        "DisplayName": "Acme Motors Inc",
        "CompanyName": "Acme Motors Inc",
        "PrimaryEmailAddr": {"Address": "billing@acme.example"},
        "PrimaryPhone": {"FreeFormNumber": "+1 206 555 0100"},
        "BillAddr": {
            "Line1": "1 Main St",
            "City": "Seattle",
            "CountrySubDivisionCode": "WA",
            "PostalCode": "98101",
            "Country": "US",
        },
        "SalesTermRef": {"value": "3", "name": "Net 30"},
        "CreditLimit": Decimal("5000.00"),
        "Taxable": False,
        "PrimaryTaxIdentifier": "12-3456789",
        "ResaleNum": "RS-1",
        "CurrencyRef": {"value": "USD"},
        "Active": True,
    }
    customer.update(overrides)
    return customer


def _intacct_customer(**overrides: Any) -> dict[str, Any]:
    customer = {
        "RECORDNO": "4",
        "CUSTOMERID": "QB-17",
        "NAME": "Acme Motors Inc",
        "DISPLAYCONTACT.COMPANYNAME": "Acme Motors Inc",
        "DISPLAYCONTACT.EMAIL1": "billing@acme.example",
        "DISPLAYCONTACT.PHONE1": "+1 206 555 0100",
        "DISPLAYCONTACT.MAILADDRESS.ADDRESS1": "1 Main St",
        "DISPLAYCONTACT.MAILADDRESS.CITY": "Seattle",
        "DISPLAYCONTACT.MAILADDRESS.STATE": "WA",
        "DISPLAYCONTACT.MAILADDRESS.ZIP": "98101",
        "DISPLAYCONTACT.MAILADDRESS.COUNTRY": "US",
        "TERMNAME": "N30",
        "CREDITLIMIT": Decimal("5000"),
        "TAXABLE": "false",
        "TAXID": "12-3456789",
        "RESALENO": "RS-1",
        "CURRENCY": "USD",
        "STATUS": "active",
        "MEGAENTITYID": "",
    }
    customer.update(overrides)
    return customer


def test_same_customer_on_both_sides_hashes_alike(terms: cust.TermLookup) -> None:
    qbo = cust.qbo_customer_row(_qbo_customer(), terms)
    intacct = cust.intacct_customer_row(_intacct_customer())
    assert group_hashes(qbo, cust.FIELD_GROUPS) == group_hashes(intacct, cust.FIELD_GROUPS)


def test_quickbooks_term_is_mapped_to_the_intacct_term(terms: cust.TermLookup) -> None:
    assert cust.qbo_customer_row(_qbo_customer(), terms)["term"] == "N30"


def test_unmapped_quickbooks_term_holds_the_customer(terms: cust.TermLookup) -> None:
    row = cust.qbo_customer_row(_qbo_customer(SalesTermRef={"value": "9", "name": "Net 90"}), terms)
    assert row["hold_reason"] == "unmapped_term:Net 90"


def test_float_credit_limit_is_refused_naming_record_and_field(terms: cust.TermLookup) -> None:
    with pytest.raises(cust.CustomerMappingError, match="customer 17 field CreditLimit"):
        cust.qbo_customer_row(_qbo_customer(CreditLimit=5000.0), terms)


def test_derived_customer_id_follows_the_pattern() -> None:
    assert cust.derive_customer_id("17") == "QB-17"
    assert cust.derive_customer_id("17", "Q{qbo_id:0>6}") == "Q000017"


def test_derived_customer_id_pattern_without_the_id_is_refused() -> None:
    with pytest.raises(cust.CustomerMappingError, match="must contain"):
        cust.derive_customer_id("17", "CUST")


def test_display_name_replaces_colons() -> None:
    assert cust.qbo_display_name("Acme: East", "C-1", []) == "Acme- East"


def test_display_name_taken_by_a_vendor_gets_the_intacct_id() -> None:
    assert cust.qbo_display_name("Acme Supplies", "C-10001", ["ACME SUPPLIES"]) == "Acme Supplies (C-10001)"


def test_intacct_create_body_carries_every_group(terms: cust.TermLookup) -> None:
    values = cust.qbo_customer_row(_qbo_customer(), terms)
    body = cust.intacct_body(values, customer_id="QB-17", groups=cust.FIELD_GROUPS)
    assert body["CUSTOMERID"] == "QB-17"
    assert body["DISPLAYCONTACT"]["MAILADDRESS"]["ZIP"] == "98101"
    assert body["CREDITLIMIT"] == Decimal("5000.00")
    assert (body["TERMNAME"], body["TAXID"], body["STATUS"]) == ("N30", "12-3456789", "active")


def test_intacct_update_body_sends_only_changed_groups(terms: cust.TermLookup) -> None:
    values = cust.qbo_customer_row(_qbo_customer(), terms)
    body = cust.intacct_body(values, customer_id="QB-17", groups=["status"])
    assert body == {"CUSTOMERID": "QB-17", "STATUS": "active"}


def test_quickbooks_body_maps_the_intacct_term_back(terms: cust.TermLookup) -> None:
    values = cust.intacct_customer_row(_intacct_customer())
    body = cust.qbo_body(values, groups=["terms"], terms=terms, record="QB-17", qbo_id="17", sync_token="2")
    assert body["SalesTermRef"] == {"value": "3", "name": "Net 30"}
    assert body["CreditLimit"] == Decimal("5000")


def test_quickbooks_body_refuses_an_intacct_term_no_quickbooks_term_maps_to(terms: cust.TermLookup) -> None:
    values = cust.intacct_customer_row(_intacct_customer(TERMNAME="N90"))
    with pytest.raises(cust.CustomerMappingError, match="customer QB-17 field term"):
        cust.qbo_body(values, groups=["terms"], terms=terms, record="QB-17")


def _frames(terms: cust.TermLookup) -> tuple[pd.DataFrame, pd.DataFrame]:
    qbo = cust.qbo_frame(
        [
            _qbo_customer(Id="1", PrimaryTaxIdentifier=None, PrimaryEmailAddr={"Address": "a@x.example"}),
            _qbo_customer(Id="2", DisplayName="Dup One", PrimaryTaxIdentifier="99-1", PrimaryEmailAddr=None),
            _qbo_customer(Id="3", DisplayName="Dup One Corp", PrimaryTaxIdentifier="991", PrimaryEmailAddr=None),
            _qbo_customer(Id="4", DisplayName="Lonely Co", PrimaryTaxIdentifier=None, PrimaryEmailAddr=None),
            _qbo_customer(Id="5", DisplayName="Named Twin", PrimaryTaxIdentifier=None, PrimaryEmailAddr=None),
        ],
        terms,
    )
    intacct = cust.intacct_frame(
        [
            _intacct_customer(CUSTOMERID="C-1", TAXID=None, **{"DISPLAYCONTACT.EMAIL1": "A@X.example"}),
            _intacct_customer(CUSTOMERID="QB-4", NAME="Lonely Company", TAXID=None, **{"DISPLAYCONTACT.EMAIL1": None}),
            _intacct_customer(CUSTOMERID="C-5", NAME="Named Twin LLC", TAXID=None, **{"DISPLAYCONTACT.EMAIL1": None}),
        ]
    )
    return qbo, intacct


def _outcomes(matches: pd.DataFrame) -> dict[str, tuple[str, Any, str]]:
    return {
        r["source_id"]: (str(r["outcome"]), r["target_id"] if isinstance(r["target_id"], str) else None, r["reason"])
        for r in matches.to_dict("records")
    }


def test_matching_links_by_email_and_by_the_derived_key(terms: cust.TermLookup) -> None:
    qbo, intacct = _frames(terms)
    out = _outcomes(match(qbo, intacct, pd.DataFrame(columns=["source_id", "target_id"]), {}))
    assert out["1"][:2] == (MatchOutcome.MATCH, "C-1")
    assert out["4"][:2] == (MatchOutcome.MATCH, "QB-4")


def test_customers_keyed_twice_are_both_held(terms: cust.TermLookup) -> None:
    qbo, intacct = _frames(terms)
    out = _outcomes(match(qbo, intacct, pd.DataFrame(columns=["source_id", "target_id"]), {}))
    assert out["2"] == (MatchOutcome.CANDIDATES, None, "duplicate_in_source")
    assert out["3"] == (MatchOutcome.CANDIDATES, None, "duplicate_in_source")


def test_name_only_match_is_held(terms: cust.TermLookup) -> None:
    qbo, intacct = _frames(terms)
    out = _outcomes(match(qbo, intacct, pd.DataFrame(columns=["source_id", "target_id"]), {}))
    assert out["5"] == (MatchOutcome.CANDIDATES, None, "name_only")


def test_create_decision_releases_a_held_duplicate_but_not_a_keyed_match(terms: cust.TermLookup) -> None:
    qbo, intacct = _frames(terms)
    decisions = {"2": ("create", None), "3": ("ignore", None), "4": ("create", None)}
    out = _outcomes(match(qbo, intacct, pd.DataFrame(columns=["source_id", "target_id"]), decisions))
    assert out["2"][0] == MatchOutcome.NONE
    assert "3" not in out
    assert out["4"][:2] == (MatchOutcome.MATCH, "QB-4")


def test_first_window_reads_everything() -> None:
    now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    assert compute_window(None, now=now).full


def test_window_starts_at_previous_end_minus_overlap() -> None:
    now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    window = compute_window(now - dt.timedelta(minutes=15), now=now)
    assert window.start == now - dt.timedelta(hours=2, minutes=15)
    narrow = compute_window(now - dt.timedelta(minutes=15), now=now, overlap=dt.timedelta(minutes=10))
    assert narrow.start == now - dt.timedelta(minutes=25)


def test_window_never_starts_after_the_data_interval() -> None:
    now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    window = compute_window(now - dt.timedelta(minutes=5), now=now, data_interval_start=now - dt.timedelta(hours=1))
    assert window.start == now - dt.timedelta(hours=3)


def test_update_key_changes_with_content_and_request_id_is_stable() -> None:
    assert content_key({"NAME": "A"}) != content_key({"NAME": "B"})
    assert request_id("customers:create:qbo:C-1") == request_id("customers:create:qbo:C-1")
    assert len(request_id("x")) == 36
