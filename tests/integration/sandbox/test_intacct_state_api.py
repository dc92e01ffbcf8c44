"""Intacct sandbox state API (what the books generator calls in-process) and its snapshots over HTTP."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from include.sandbox.intacct.state import IntacctBusinessError, IntacctState
from include.sandbox.intacct.testing import GatewayClient


def _seeded(company_id: str) -> tuple[IntacctState, int]:
    state = IntacctState.default(company_id)
    state.create("CUSTOMER", {"CUSTOMERID": "C-1", "NAME": "Seeded"}, when="2024-01-03T09:00:00")
    invoice = state.create(
        "ARINVOICE",
        {
            "CUSTOMERID": "C-1",
            "WHENCREATED": date(2024, 1, 5),
            "TERMNAME": "N30",
            "RECORDID": "INV-1",
            "ARINVOICEITEMS": [{"ACCOUNTNO": "40000", "TRX_AMOUNT": Decimal("100.00"), "LOCATIONID": "UK-LON"}],
        },
        when="2024-01-05T10:00:00",
    )
    state.create(
        "ARPYMT",
        {
            "CUSTOMERID": "C-1",
            "FINANCIALENTITY": "BARC-UK",
            "PAYMENTMETHOD": "EFT",
            "RECEIPTDATE": date(2024, 2, 1),
            "ARPYMTDETAILS": [{"RECORDKEY": invoice["RECORDNO"], "TRX_PAYMENTAMOUNT": Decimal("40.00")}],
        },
        when="2024-02-01T08:30:00",  # naive = company local time,
    )
    return state, invoice["RECORDNO"]


def test_state_derives_totals_and_state_from_payments() -> None:
    state, recordno = _seeded("X")
    invoice = state.get("ARINVOICE", recordno)
    assert invoice is not None
    assert (invoice["TOTALDUE"], invoice["STATE"], invoice["MEGAENTITYID"], invoice["BASECURR"]) == (
        Decimal("60.00"),
        "Partially Paid",
        "UK",
        "GBP",
    )
    assert invoice["WHENMODIFIED"] == "2024-02-01T08:30:00"


def test_state_snapshot_round_trips_records_money_and_recordno_allocation(tmp_path: Path) -> None:
    state, recordno = _seeded("X")
    state.save(tmp_path / "intacct.json")
    loaded = IntacctState.load(tmp_path / "intacct.json")
    assert loaded.get("ARINVOICE", recordno) == state.get("ARINVOICE", recordno)
    assert isinstance(loaded.get("ARINVOICE", recordno)["TOTALDUE"], Decimal)  # type: ignore[index]
    again = loaded.create("CUSTOMER", {"CUSTOMERID": "C-2", "NAME": "Next"})
    assert again["RECORDNO"] == state.create("CUSTOMER", {"CUSTOMERID": "C-2", "NAME": "Next"})["RECORDNO"]


def test_state_transaction_rolls_back_every_change_when_the_block_fails() -> None:
    state, _ = _seeded("X")
    before = copy.deepcopy(state.to_snapshot()["records"])

    def failing_batch() -> None:
        with state.transaction():
            state.update("CUSTOMER", {"CUSTOMERID": "C-1", "NAME": "Changed"})
            state.create("CUSTOMER", {"CUSTOMERID": "C-9", "NAME": "New"})
            state.create("CUSTOMER", {"CUSTOMERID": "C-1", "NAME": "Duplicate"})

    with pytest.raises(IntacctBusinessError):
        failing_batch()
    assert state.to_snapshot()["records"] == before


def test_state_refuses_float_money() -> None:
    state = IntacctState.default("X")
    state.create("CUSTOMER", {"CUSTOMERID": "C-1", "NAME": "n"})
    with pytest.raises(IntacctBusinessError, match="Invalid amount"):
        state.create(
            "ARINVOICE",
            {
                "CUSTOMERID": "C-1",
                "WHENCREATED": "2024-01-05",
                "TERMNAME": "N30",
                "ARINVOICEITEMS": [{"ACCOUNTNO": "40000", "TRX_AMOUNT": 0.1, "LOCATIONID": "US"}],
            },
        )


def test_seeded_snapshot_is_served_over_http_after_reset(intacct_sandbox: Any, tmp_path: Path) -> None:
    state, recordno = _seeded(intacct_sandbox.info["company_id"])
    state.save(tmp_path / "intacct.json")
    intacct_sandbox.reset(tmp_path / "intacct.json")
    client = GatewayClient(intacct_sandbox.info)
    invoice = client.one(
        "read", {"object": "ARINVOICE", "keys": str(recordno), "fields": "TOTALDUE,STATE,WHENMODIFIED"}
    )
    assert invoice["data"]["ARINVOICE"] == {
        "TOTALDUE": "60.00",
        "STATE": "Partially Paid",
        "WHENMODIFIED": "02/01/2024 08:30:00",
    }


def test_admin_snapshot_save_and_load_restore_the_company(intacct_sandbox: Any, tmp_path: Path) -> None:
    client = GatewayClient(intacct_sandbox.info)
    client.one("create", {"CLASS": {"CLASSID": "SNAP", "NAME": "kept"}})
    path = tmp_path / "saved.json"
    requests.post(f"{intacct_sandbox.admin}/snapshot/save", json={"path": str(path)}, timeout=30).raise_for_status()
    intacct_sandbox.reset()
    assert client.one("readByName", {"object": "CLASS", "keys": "SNAP"})["data"]["@count"] == "0"
    requests.post(f"{intacct_sandbox.admin}/snapshot/load", json={"path": str(path)}, timeout=30).raise_for_status()
    assert client.one("readByName", {"object": "CLASS", "keys": "SNAP"})["data"]["@count"] == "1"
