"""The demo-books generator: determinism, scales, manifest ground truth and planted cases.

These tests load the written snapshots with the sandboxes' own state classes (in-process, no HTTP):
the manifest is computed from the neutral model, so comparing it with what the state classes
derived (TotalAmt, Balance, TOTALENTERED, ...) checks that both sides tell the same story. The
HTTP side (the sandboxes serve these books, the PyPI clients read them) is test_books_sandbox.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from include.sandbox.books.generate import generate_books
from include.sandbox.books.group import ScaleError, parse_scale
from include.sandbox.books.planted import PLANTED_TAGS
from include.sandbox.books.qbo_adapter import REALM_ID
from include.sandbox.intacct.state import IntacctState
from include.sandbox.qbo.state import QboState, Realm

BOOK_FILES = ("qbo.json", "intacct.json", "manifest.json")


@pytest.fixture(scope="module")
def demo_books(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("demo-books")
    return out, generate_books(seed=42, scale="demo", out=out)


@pytest.fixture(scope="module")
def demo_manifest(demo_books: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return demo_books[1]


@pytest.fixture(scope="module")
def qbo_realm(demo_books: tuple[Path, dict[str, Any]]) -> Realm:
    realm = QboState.load_snapshot(demo_books[0] / "qbo.json").realm(REALM_ID)
    assert realm is not None
    return realm


@pytest.fixture(scope="module")
def intacct_state(demo_books: tuple[Path, dict[str, Any]]) -> IntacctState:
    return IntacctState.load(demo_books[0] / "intacct.json")


def _planted(manifest: dict[str, Any], tag: str) -> dict[str, Any]:
    rows = [row for row in manifest["planted"] if row["tag"] == tag]
    assert len(rows) == 1, f"planted tag {tag} appears {len(rows)} times"
    return rows[0]


# ------------------------------------------------------------------------------ determinism, scale


def test_same_seed_and_scale_give_byte_identical_books(tmp_path: Path) -> None:
    generate_books(seed=7, scale="tiny", out=tmp_path / "a")
    generate_books(seed=7, scale="tiny", out=tmp_path / "b")
    for name in BOOK_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_different_seed_gives_different_books(tmp_path: Path) -> None:
    generate_books(seed=7, scale="tiny", out=tmp_path / "a")
    generate_books(seed=8, scale="tiny", out=tmp_path / "b")
    assert (tmp_path / "a" / "qbo.json").read_bytes() != (tmp_path / "b" / "qbo.json").read_bytes()
    assert (tmp_path / "a" / "intacct.json").read_bytes() != (tmp_path / "b" / "intacct.json").read_bytes()


def test_tiny_books_have_tens_of_invoices(tmp_path: Path) -> None:
    """Speed is for ``make bench``; here only the size that keeps unit suites quick."""
    manifest = generate_books(seed=42, scale="tiny", out=tmp_path)
    assert 10 <= manifest["counts"]["qbo"]["by_object"]["Invoice"] < 100


def test_demo_scale_has_a_few_hundred_invoices_and_bills(demo_manifest: dict[str, Any]) -> None:
    qbo = demo_manifest["counts"]["qbo"]["by_object"]
    assert 200 <= qbo["Invoice"] <= 400
    assert 100 <= qbo["Bill"] <= 400


def test_the_seed_command_writes_the_same_books_as_the_function(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    command = [sys.executable, "-m", "include.sandbox", "seed", "--seed", "5", "--scale", "tiny", "--out"]
    subprocess.run([*command, str(tmp_path / "cli")], cwd=root, check=True, timeout=120)
    generate_books(seed=5, scale="tiny", out=tmp_path / "function")
    for name in BOOK_FILES:
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "function" / name).read_bytes(), name


def test_a_numeric_scale_is_the_number_of_quickbooks_invoices() -> None:
    assert parse_scale("10000").qbo_invoices == 10_000
    assert parse_scale("10000").qbo_bills == 5_000


def test_an_unknown_scale_is_refused_with_the_accepted_values() -> None:
    with pytest.raises(ScaleError, match="tiny, demo"):
        parse_scale("huge")


def test_books_are_dated_from_as_of_not_from_today(tmp_path: Path) -> None:
    manifest = generate_books(seed=42, scale="tiny", out=tmp_path, as_of=date(2025, 3, 31))
    assert manifest["periods"]["window_start"] == "2024-03-01"
    assert manifest["periods"]["closed_through"] == "2024-03-31"
    realm = QboState.load_snapshot(tmp_path / "qbo.json").realm(REALM_ID)
    assert realm is not None
    dates = [inv["TxnDate"] for inv in realm.all("Invoice")]
    assert max(dates) <= "2025-03-31"
    assert min(dates) >= "2024-03-01"
    assert max(inv["MetaData"]["LastUpdatedTime"][:10] for inv in realm.all("Invoice")) <= "2025-03-31"


# ------------------------------------------------------------------------------ manifest vs books


def test_manifest_counts_equal_the_quickbooks_snapshot(demo_manifest: dict[str, Any], qbo_realm: Realm) -> None:
    for entity, expected in demo_manifest["counts"]["qbo"]["by_object"].items():
        assert qbo_realm.count(entity) == expected, entity


def test_manifest_counts_equal_the_intacct_snapshot(demo_manifest: dict[str, Any], intacct_state: IntacctState) -> None:
    for object_name, expected in demo_manifest["counts"]["intacct"]["by_object"].items():
        assert len(list(intacct_state.all(object_name))) == expected, object_name


def test_manifest_counts_intacct_documents_by_owning_entity(
    demo_manifest: dict[str, Any], intacct_state: IntacctState
) -> None:
    by_entity = demo_manifest["counts"]["intacct"]["by_object_and_entity"]
    for object_name in ("ARINVOICE", "APBILL", "ARPYMT", "APPYMT", "GLBATCH"):
        served = Counter(rec["MEGAENTITYID"] for rec in intacct_state.all(object_name))
        assert dict(served) == by_entity[object_name], object_name
    assert set(by_entity["GLBATCH"]) == {"US", "UK", "CA"}


def test_quickbooks_invoice_totals_tie_to_the_snapshot_by_currency(
    demo_manifest: dict[str, Any], qbo_realm: Realm
) -> None:
    served: dict[str, dict[str, Decimal]] = {}
    for inv in qbo_realm.all("Invoice"):
        row = served.setdefault(
            inv["CurrencyRef"]["value"], {"total": Decimal(0), "balance": Decimal(0), "home": Decimal(0)}
        )
        row["total"] += Decimal(str(inv["TotalAmt"]))
        row["balance"] += Decimal(str(inv["Balance"]))
        row["home"] += Decimal(str(inv["HomeTotalAmt"]))
    expected = demo_manifest["totals"]["qbo"]["Invoice"]["by_currency"]
    assert set(served) == set(expected) >= {"USD", "EUR", "GBP", "CAD"}
    for currency, row in served.items():
        assert row["total"] == Decimal(expected[currency]["total"]), currency
        assert row["balance"] == Decimal(expected[currency]["balance"]), currency
        assert row["home"] == Decimal(expected[currency]["home_total"]), currency


def test_quickbooks_payment_unapplied_credit_ties_to_the_snapshot(
    demo_manifest: dict[str, Any], qbo_realm: Realm
) -> None:
    unapplied = sum((Decimal(str(p["UnappliedAmt"])) for p in qbo_realm.all("Payment")), Decimal(0))
    expected = sum(Decimal(row["balance"]) for row in demo_manifest["totals"]["qbo"]["Payment"]["by_currency"].values())
    assert unapplied == expected > 0


def test_intacct_invoice_totals_tie_to_the_snapshot_by_entity_in_base_currency(
    demo_manifest: dict[str, Any], intacct_state: IntacctState
) -> None:
    served: dict[tuple[str, str], Decimal] = {}
    for inv in intacct_state.all("ARINVOICE"):
        key = (inv["MEGAENTITYID"], inv["CURRENCY"])
        served[key] = served.get(key, Decimal(0)) + inv["TOTALENTERED"]
    expected = {
        (entity, currency): Decimal(row["home_total"])
        for entity, by_currency in demo_manifest["totals"]["intacct"]["ARINVOICE"]["by_entity"].items()
        for currency, row in by_currency.items()
    }
    assert served == expected


def test_quickbooks_invoices_have_several_lines_discounts_and_tax(qbo_realm: Realm) -> None:
    invoices = list(qbo_realm.all("Invoice"))
    assert any(sum(1 for ln in inv["Line"] if ln["DetailType"] == "SalesItemLineDetail") >= 3 for inv in invoices)
    assert any(any(ln["DetailType"] == "DiscountLineDetail" for ln in inv["Line"]) for inv in invoices)
    assert any(Decimal(str(inv["TxnTaxDetail"]["TotalTax"])) > 0 for inv in invoices)


def test_quickbooks_payments_are_full_partial_over_and_apply_credit_memos(qbo_realm: Realm) -> None:
    invoices = list(qbo_realm.all("Invoice"))
    assert any(inv.get("LinkedTxn") and Decimal(str(inv["Balance"])) == 0 for inv in invoices)
    assert any(0 < Decimal(str(inv["Balance"])) < Decimal(str(inv["TotalAmt"])) for inv in invoices)
    payments = list(qbo_realm.all("Payment"))
    assert any(Decimal(str(p["UnappliedAmt"])) > 0 for p in payments)
    assert any(link["TxnType"] == "CreditMemo" for p in payments for ln in p["Line"] for link in ln["LinkedTxn"])


def test_quickbooks_bills_are_paid_fully_partly_or_not_at_all(qbo_realm: Realm) -> None:
    balances = [(Decimal(str(b["Balance"])), Decimal(str(b["TotalAmt"]))) for b in qbo_realm.all("Bill")]
    assert any(balance == 0 for balance, _ in balances)
    assert any(0 < balance < total for balance, total in balances)
    assert any(balance == total for balance, total in balances)
    assert any(len(b["Line"]) >= 3 for b in qbo_realm.all("Bill"))


def test_intacct_bills_allocate_one_cost_across_departments(intacct_state: IntacctState) -> None:
    allocated = [
        bill
        for bill in intacct_state.all("APBILL")
        if len({ln["ACCOUNTNO"] for ln in bill["APBILLITEMS"]}) == 1
        and len({ln["DEPARTMENTID"] for ln in bill["APBILLITEMS"]}) >= 2
    ]
    assert allocated


def test_intacct_has_reversing_accruals_and_foreign_currency_documents(intacct_state: IntacctState) -> None:
    assert any(batch.get("REVERSEDATE") for batch in intacct_state.all("GLBATCH"))
    foreign = [inv for inv in intacct_state.all("ARINVOICE") if inv["CURRENCY"] != inv["BASECURR"]]
    assert foreign
    assert all(inv["EXCHANGE_RATE"] != 1 for inv in foreign)


def test_intacct_bills_exist_in_draft_submitted_and_approved_states(intacct_state: IntacctState) -> None:
    states = {bill["STATE"] for bill in intacct_state.all("APBILL")}
    assert {"Draft", "Submitted"} <= states
    assert states & {"Approved", "Paid", "Partially Paid"}


def test_both_companies_are_closed_through_the_manifest_date(
    demo_manifest: dict[str, Any], qbo_realm: Realm, intacct_state: IntacctState
) -> None:
    closed = demo_manifest["periods"]["closed_through"]
    assert qbo_realm.pref("AccountingInfoPrefs", "BookCloseDate") == closed
    assert intacct_state.books_closed_through == closed


# ------------------------------------------------------------------------------ planted cases


def test_every_planted_tag_is_listed_once(demo_manifest: dict[str, Any]) -> None:
    assert sorted(row["tag"] for row in demo_manifest["planted"]) == sorted(PLANTED_TAGS)


def test_every_planted_case_tells_the_sync_how_to_handle_it(demo_manifest: dict[str, Any]) -> None:
    held = {row["tag"] for row in demo_manifest["planted"] if row["hold_for_review"]}
    assert held == {
        "unmapped_account_invoice",
        "unbalanced_journal",
        "unused_currency_document",
        "closed_period_invoice",
        "name_only_renamed_candidate",
        # journal entries (issue 17)
        "unmapped_account_journal",
        "unbalanced_after_mapping_journal",
        "control_account_journal",
    }
    assert all(row["expected_handling"] for row in demo_manifest["planted"])


def test_planted_unmapped_account_invoice_sells_an_item_whose_income_account_is_unmapped(
    demo_manifest: dict[str, Any], qbo_realm: Realm
) -> None:
    invoice = qbo_realm.get("Invoice", _planted(demo_manifest, "unmapped_account_invoice")["id"])
    assert invoice is not None
    item = qbo_realm.get("Item", invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"])
    assert item is not None
    account = qbo_realm.get("Account", item["IncomeAccountRef"]["value"])
    assert account is not None
    assert account["FullyQualifiedName"] in demo_manifest["mapping_hints"]["unmapped_accounts"]


def test_planted_unbalanced_journal_is_an_intacct_draft_whose_debits_exceed_credits(
    demo_manifest: dict[str, Any], intacct_state: IntacctState
) -> None:
    batch = intacct_state.get("GLBATCH", int(_planted(demo_manifest, "unbalanced_journal")["id"]))
    assert batch is not None
    assert batch["STATE"] == "Draft"
    debits = sum(e["TRX_AMOUNT"] for e in batch["ENTRIES"] if e["TR_TYPE"] == "1")
    credits = sum(e["TRX_AMOUNT"] for e in batch["ENTRIES"] if e["TR_TYPE"] == "-1")
    assert debits - credits == Decimal("0.01")


def test_planted_unused_currency_invoice_is_in_a_currency_intacct_does_not_have(
    demo_manifest: dict[str, Any], qbo_realm: Realm
) -> None:
    invoice = qbo_realm.get("Invoice", _planted(demo_manifest, "unused_currency_document")["id"])
    assert invoice is not None
    currency = invoice["CurrencyRef"]["value"]
    assert currency not in demo_manifest["mapping_hints"]["currencies"]["intacct"]
    assert currency in demo_manifest["mapping_hints"]["currencies"]["not_in_intacct"]


def test_planted_markup_customer_name_has_quotes_ampersand_and_angle_brackets(
    demo_manifest: dict[str, Any], qbo_realm: Realm
) -> None:
    customer = qbo_realm.get("Customer", _planted(demo_manifest, "markup_customer_name")["id"])
    assert customer is not None
    assert all(ch in customer["DisplayName"] for ch in "\"'&<>")


def test_planted_formula_vendor_name_starts_with_an_equals_sign(
    demo_manifest: dict[str, Any], qbo_realm: Realm
) -> None:
    row = _planted(demo_manifest, "formula_vendor_name")
    vendor = qbo_realm.get("Vendor", row["id"])
    assert vendor is not None
    assert vendor["DisplayName"].startswith("=")
    assert [r["object"] for r in row["related"]] == ["Bill"]


def test_planted_memo_carries_control_characters(demo_manifest: dict[str, Any], qbo_realm: Realm) -> None:
    invoice = qbo_realm.get("Invoice", _planted(demo_manifest, "control_char_memo")["id"])
    assert invoice is not None
    assert any(ord(ch) < 0x20 for ch in invoice["PrivateNote"])


def test_planted_zero_amount_invoice_totals_zero(demo_manifest: dict[str, Any], qbo_realm: Realm) -> None:
    invoice = qbo_realm.get("Invoice", _planted(demo_manifest, "zero_amount_invoice")["id"])
    assert invoice is not None
    assert Decimal(str(invoice["TotalAmt"])) == 0


def test_planted_closed_period_invoice_is_dated_inside_the_closed_month_but_keyed_later(
    demo_manifest: dict[str, Any], qbo_realm: Realm
) -> None:
    invoice = qbo_realm.get("Invoice", _planted(demo_manifest, "closed_period_invoice")["id"])
    assert invoice is not None
    periods = demo_manifest["periods"]
    assert periods["window_start"] <= invoice["TxnDate"] <= periods["closed_through"]
    assert invoice["MetaData"]["CreateTime"][:10] > periods["closed_through"]


def test_planted_invoices_are_left_out_of_the_clean_totals(demo_manifest: dict[str, Any]) -> None:
    invoice_totals = demo_manifest["totals"]["qbo"]["Invoice"]
    planted_invoices = sum(1 for row in demo_manifest["planted"] if row["object"] == "Invoice")
    related = sum(1 for row in demo_manifest["planted"] for r in row.get("related", ()) if r["object"] == "Invoice")
    all_count = sum(row["count"] for row in invoice_totals["by_currency"].values())
    clean_count = sum(row["count"] for row in invoice_totals["by_currency_excluding_planted"].values())
    assert all_count - clean_count == planted_invoices + related
    assert "CHF" not in invoice_totals["by_currency_excluding_planted"]


# ------------------------------------------------------------------------------ mapping hints


def test_mapping_hints_fold_several_quickbooks_accounts_into_one_intacct_account(demo_manifest: dict[str, Any]) -> None:
    hints = demo_manifest["mapping_hints"]
    assert hints["account_folds"]["63000"] == ["Meals and Entertainment", "Travel"]
    mapped_to = {row["qbo_account"]: row["intacct_account"] for row in hints["accounts"]}
    assert {name for name, number in mapped_to.items() if number is None} == set(hints["unmapped_accounts"])


def test_mapping_hints_route_every_quickbooks_department_to_an_intacct_entity(
    demo_manifest: dict[str, Any], intacct_state: IntacctState
) -> None:
    for row in demo_manifest["mapping_hints"]["departments"]:
        location = intacct_state.find("LOCATION", row["intacct_location"])
        assert location is not None
        assert location["MEGAENTITYID"] == row["intacct_entity"]


def test_ambiguous_vendor_has_two_intacct_candidates_sharing_its_email_or_tax_id(
    demo_manifest: dict[str, Any], intacct_state: IntacctState
) -> None:
    ambiguous = [row for row in demo_manifest["mapping_hints"]["vendors"] if row["kind"] == "ambiguous"]
    assert ambiguous
    for row in ambiguous:
        assert len(row["intacct"]) == 2
        for candidate in row["intacct"]:
            vendor = intacct_state.find("VENDOR", candidate["id"])
            assert vendor is not None
            email = vendor["DISPLAYCONTACT"]["EMAIL1"]
            assert email == row["qbo"]["email"] or vendor.get("TAXID") == row["qbo"]["tax_id"]


def test_matched_customers_share_email_or_tax_id_under_different_names(demo_manifest: dict[str, Any]) -> None:
    matches = demo_manifest["mapping_hints"]["customers"]
    assert {row["basis"] for row in matches} == {"email", "tax_id"}
    for row in matches:
        (twin,) = row["intacct"]
        assert twin["name"] != row["qbo"]["name"]
        assert twin[row["basis"]] == row["qbo"][row["basis"]]


def test_duplicates_inside_one_system_are_listed_with_both_ids(demo_manifest: dict[str, Any]) -> None:
    duplicates = demo_manifest["mapping_hints"]["duplicates"]
    assert {(row["system"], row["object"]) for row in duplicates} == {("qbo", "customer"), ("intacct", "vendor")}
    for row in duplicates:
        first, second = row["records"]
        assert first["id"] != second["id"]
        assert first["email"] == second["email"]


def test_manifest_on_disk_is_the_returned_manifest(demo_books: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = demo_books
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == manifest
