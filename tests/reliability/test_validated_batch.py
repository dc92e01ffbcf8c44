"""The bad-record batch through the whole ``validate`` step (mapping + Great Expectations), as the task runs it.

One batch per system mixes good records with bad ones; the bad ones are held with a reason naming the
record and the field, the good ones go on. Marked ``chaos`` (Great Expectations costs seconds to
import): ``make chaos`` runs it, ``make test`` runs the same records through the mapping alone
(test_bad_input_corpus.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import environ

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[2]


def _qbo(i: str, **kw: Any) -> dict[str, Any]:
    return {"Id": i, "SyncToken": "0", "DisplayName": f"Customer {i}", "CurrencyRef": {"value": "USD"}, **kw}


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with environ({"AIRFLOW_VAR_QBO_INTACCT_STAGING_ROOT": f"file://{tmp_path_factory.mktemp('staging')}"}):
        from qbo_intacct.flows import customers as cust
        from qbo_intacct.flows.engine import map_and_validate
        from qbo_intacct.flows.runtime import read_staged, stage_records
        from qbo_intacct.mappings.loader import load_mappings

        qbo = [
            _qbo("1", CurrencyRef={"value": "XXX"}),  # unknown currency
            _qbo("2", CompanyName="Acme\x00"),  # NUL
            {"Id": "3", "SyncToken": "0", "CurrencyRef": {"value": "USD"}},  # no DisplayName
            _qbo("4", CreditLimit="five thousand"),
            {"SyncToken": "0", "DisplayName": "No Id"},  # no Id at all
            _qbo("6"),
            _qbo("7", DisplayName="O'Brien & Sons <Ltd> ]]> \u202e\U0001f600"),
        ]
        intacct = [
            {"CUSTOMERID": "C-1", "NAME": "Zed Ltd", "CURRENCY": "ZZZ"},
            {"NAME": "No Id Ltd", "RECORDNO": "9"},
            {"CUSTOMERID": "C-3", "NAME": "Fine Ltd"},
        ]
        staged_q = stage_records(qbo, id_field="Id", flow="customers", run_id="corpus", name="qbo")
        staged_i = stage_records(intacct, id_field="CUSTOMERID", flow="customers", run_id="corpus", name="ia")
        out = map_and_validate(
            cust.SPEC,
            run_id="corpus",
            mappings=load_mappings(ROOT / "include" / "mappings" / "qbo_intacct_mappings.xlsx"),
            pattern="QB-{qbo_id}",
            qbo=[staged_q],
            intacct=[staged_i],
            lookups={},
        )
        frames = {k: read_staged(out[k]) for k in ("source", "target", "failures")}
        yield {
            "source": {str(r["source_id"]): r.get("hold_reason") for r in frames["source"].to_dict("records")},
            "target": {str(r["target_id"]): r.get("hold_reason") for r in frames["target"].to_dict("records")},
            "details": " | ".join(frames["failures"]["detail"].astype(str)),
        }


@pytest.mark.parametrize(
    ("side", "rid", "reason", "named"),
    [
        ("source", "1", "failed_check", "currency"),
        ("source", "2", "invalid_characters:company_name", "company_name"),
        ("source", "3", "missing_field:name", "DisplayName"),
        ("source", "4", "cannot_map", "CreditLimit"),
        ("source", "None", "cannot_map", None),
        ("target", "C-1", "failed_check", "currency"),
        ("target", "9", "cannot_map", "CUSTOMERID"),
    ],
)
def test_each_bad_record_is_held_naming_record_and_field(
    validated: dict[str, Any], side: str, rid: str, reason: str, named: str | None
) -> None:
    held = validated[side].get(rid)
    assert isinstance(held, str), (rid, validated[side])
    assert reason in held
    if named:
        assert named in validated["details"]


def test_the_good_records_of_the_batch_go_on(validated: dict[str, Any]) -> None:
    for side, rid in (("source", "6"), ("source", "7"), ("target", "C-3")):
        assert not isinstance(validated[side].get(rid), str), (rid, validated[side].get(rid))
