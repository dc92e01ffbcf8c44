"""QuickBooks sandbox state: the default company, several realms, snapshots, and the seeding API."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from include.sandbox.qbo.state import DEFAULT_REALM_ID, QboState, default_state
from include.sandbox.qbo.testing import QboClient

SECOND_REALM = "4620816365181234567"


@pytest.fixture
def qbo(qbo_sandbox: Any) -> QboClient:
    return QboClient(qbo_sandbox.info).authorize()


@pytest.mark.parametrize(
    ("entity", "at_least"),
    [("Account", 6), ("Term", 3), ("TaxCode", 1), ("TaxRate", 1), ("PaymentMethod", 3), ("Item", 1)],
)
def test_default_company_has_the_lists_a_hook_needs(qbo: QboClient, entity: str, at_least: int) -> None:
    assert qbo.query(f"SELECT COUNT(*) FROM {entity}")["totalCount"] >= at_least  # noqa: S608


def test_default_chart_has_receivables_payables_undeposited_funds_and_a_bank(qbo: QboClient) -> None:
    subtypes = {row["AccountSubType"] for row in qbo.query("SELECT * FROM Account MAXRESULTS 1000")["Account"]}
    assert {"AccountsReceivable", "AccountsPayable", "UndepositedFunds", "Checking"} <= subtypes


def two_realm_snapshot(path: Path) -> Path:
    state = default_state()
    second = state.add_realm(SECOND_REALM, "Second Books Ltd", home_currency="CAD")
    customer = second.create("Customer", {"DisplayName": "Only In Second"})
    invoice = second.create(
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TxnDate": "2024-05-01",
            "Line": [
                {
                    "Amount": Decimal("250.00"),
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    second.create(
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": Decimal("100.00"),
            "TxnDate": "2024-05-02",
            "Line": [{"Amount": Decimal("100.00"), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    state.save_snapshot(path)
    return path


def test_snapshot_with_two_realms_keeps_their_books_apart(qbo_sandbox: Any, tmp_path: Path) -> None:
    qbo_sandbox.reset(two_realm_snapshot(tmp_path / "qbo.json"))
    first = QboClient(qbo_sandbox.info, realm_id=DEFAULT_REALM_ID).authorize()
    second = QboClient(qbo_sandbox.info, realm_id=SECOND_REALM).authorize()
    assert first.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 0}
    assert [c["DisplayName"] for c in second.query("SELECT * FROM Customer")["Customer"]] == ["Only In Second"]
    assert second.ok("GET", "preferences")["Preferences"]["CurrencyPrefs"]["HomeCurrency"] == {"value": "CAD"}


def test_seeded_links_and_balances_match_what_the_api_computes(qbo_sandbox: Any, tmp_path: Path) -> None:
    qbo_sandbox.reset(two_realm_snapshot(tmp_path / "qbo.json"))
    second = QboClient(qbo_sandbox.info, realm_id=SECOND_REALM).authorize()
    invoice = second.query("SELECT * FROM Invoice")["Invoice"][0]
    assert invoice["Balance"] == Decimal("150.00")
    assert invoice["LinkedTxn"] == [{"TxnId": "1", "TxnType": "Payment"}]
    assert second.query("SELECT * FROM Customer")["Customer"][0]["Balance"] == Decimal("150.00")


def test_a_token_for_one_realm_is_refused_on_another(qbo_sandbox: Any, tmp_path: Path) -> None:
    qbo_sandbox.reset(two_realm_snapshot(tmp_path / "qbo.json"))
    second = QboClient(qbo_sandbox.info, realm_id=SECOND_REALM).authorize()
    r = requests.get(
        f"{qbo_sandbox.info['base_url']}/company/{DEFAULT_REALM_ID}/preferences", headers=second.headers(), timeout=10
    )
    assert r.status_code == 403
    assert r.json()["fault"]["error"][0]["code"] == "3100"


def test_admin_snapshot_save_and_load_round_trip(qbo: QboClient, qbo_sandbox: Any, tmp_path: Path) -> None:
    customer = qbo.customer("Kept Across Reset")
    qbo.invoice(customer["Id"], "12.34")
    path = tmp_path / "saved.json"
    requests.post(f"{qbo_sandbox.admin}/snapshot/save", json={"path": str(path)}, timeout=30).raise_for_status()
    qbo_sandbox.reset()
    assert qbo.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 0}
    requests.post(f"{qbo_sandbox.admin}/snapshot/load", json={"path": str(path)}, timeout=30).raise_for_status()
    restored = qbo.get("Customer", customer["Id"])
    assert (restored["DisplayName"], restored["Balance"]) == ("Kept Across Reset", Decimal("12.34"))
    assert qbo.customer("Next One")["Id"] == str(int(customer["Id"]) + 1)


def test_snapshot_file_is_json_with_money_as_numbers(tmp_path: Path) -> None:
    state = QboState.load_snapshot(two_realm_snapshot(tmp_path / "qbo.json"))
    realm = state.realm(SECOND_REALM)
    assert realm is not None
    assert realm.get("Invoice", "1")["TotalAmt"] == Decimal("250.00")
    assert '"TotalAmt":250.00' in (tmp_path / "qbo.json").read_text()
