"""The engine's answers to issue 10's measured defects, one test each, on frames (no DAG run)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from qbo_intacct.flows import customers as cust
from qbo_intacct.flows.declaration import TakenNames, qbo_display_name
from qbo_intacct.flows.engine import names_in_use, source_frame, sticky_holds, target_frame
from qbo_intacct.flows.hashing import group_hashes
from qbo_intacct.flows.matching import MATCH_COLUMNS, MatchOutcome
from qbo_intacct.flows.planning import Action, Flow, Side, SyncPolicy, plan_sync
from qbo_intacct.mappings.loader import load_mappings

DEMO_WORKBOOK = Path(__file__).resolve().parents[3] / "include" / "mappings" / "qbo_intacct_mappings.xlsx"


@pytest.fixture(scope="module")
def terms() -> cust.TermLookup:
    return cust.TermLookup.build([{"Id": "3", "Name": "Net 30"}], load_mappings(DEMO_WORKBOOK))


def _qbo(qbo_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "Id": qbo_id,
        "SyncToken": "0",
        "DisplayName": f"Customer {qbo_id}",
        "CurrencyRef": {"value": "USD"},
        **extra,
    }


# -------------------------------------------------------------------------------- one bad record


def test_credit_limit_typed_as_words_holds_that_customer_and_maps_the_rest(terms: cust.TermLookup) -> None:
    mapped = source_frame(cust.SPEC, [_qbo("1", CreditLimit="five thousand"), _qbo("2")], terms, "QB-{qbo_id}")
    rows = {r["source_id"]: r for r in mapped.frame.to_dict("records")}
    assert rows["1"]["hold_reason"] == "cannot_map"
    assert rows["2"]["name"] == "Customer 2"
    assert not isinstance(rows["2"]["hold_reason"], str)
    (failure,) = mapped.failures
    assert failure["record_id"] == "1"
    assert "field CreditLimit" in failure["detail"]


def test_control_character_holds_the_record_naming_field_and_character(terms: cust.TermLookup) -> None:
    mapped = source_frame(cust.SPEC, [_qbo("1", CompanyName="Acme\x07 Motors")], terms, "QB-{qbo_id}")
    assert mapped.frame.iloc[0]["hold_reason"] == "invalid_characters:company_name"
    assert "company_name" in mapped.failures[0]["detail"]
    assert "U+0007" in mapped.failures[0]["detail"]


def test_an_intacct_record_that_cannot_be_mapped_is_held_not_fatal() -> None:
    mapped = target_frame(cust.SPEC, [{"CUSTOMERID": "C-1", "NAME": "A", "CREDITLIMIT": "lots"}])
    assert mapped.frame.iloc[0]["hold_reason"] == "cannot_map"
    assert "CREDITLIMIT" in mapped.failures[0]["detail"]


# -------------------------------------------------------------------------------- names once per run


class _CountingNames(list):
    iterations = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        _CountingNames.iterations += 1
        return super().__iter__()


def test_names_in_use_are_collected_once_and_never_rebuilt_per_create() -> None:
    source = pd.DataFrame({"name": [f"Customer {i}" for i in range(1000)]})
    taken = names_in_use(source, [])
    assert isinstance(taken, TakenNames)
    assert len(taken) == 1000
    _CountingNames.iterations = 0
    for i in range(200):  # each create adds its name; nothing iterates the names again
        taken.add(qbo_display_name(f"Customer {i}", f"C-{i}", taken))
    assert "customer 5 (c-5)" in taken
    assert _CountingNames.iterations == 0


def test_display_name_given_a_plain_list_still_works() -> None:
    assert qbo_display_name("Acme: East", "C-1", _CountingNames(["acme- east"])) == "Acme- East (C-1)"


# -------------------------------------------------------------------------------- held stays held


def test_record_with_an_open_item_listing_candidates_stays_held_until_decided() -> None:
    items = [
        SimpleNamespace(record_system="qbo", record_id="252", candidates=("C-10996",), reason_code="name_only"),
        SimpleNamespace(record_system="qbo", record_id="37", candidates=(), reason_code="validation:currency"),
        SimpleNamespace(record_system="intacct", record_id="C-5", candidates=("qbo:9",), reason_code="name_only"),
        SimpleNamespace(record_system="qbo", record_id="31", candidates=("qbo:32",), reason_code="duplicate"),
    ]
    holds = sticky_holds(items, {"31": ("create", None)}, {})
    assert set(holds) == {("qbo", "252"), ("intacct", "C-5")}
    assert holds[("qbo", "252")].candidates == ("C-10996",)


# -------------------------------------------------------------------------------- rebuilt links

GROUPS = {"identity": ["name"], "contact": ["phone"]}
POLICY = SyncPolicy(GROUPS, Flow.BOTH, {"identity": Side.SOURCE, "contact": Side.SOURCE})


def _rebuilt_plan(source: dict[str, Any], target: dict[str, Any], matched_by: str) -> list[Any]:
    """No ledger: one QuickBooks customer found again by ``matched_by``."""
    matches = pd.DataFrame(
        [{"source_id": "17", "outcome": MatchOutcome.MATCH, "target_id": "C-9", "matched_by": matched_by,
          "candidates": ["C-9"], "reason": ""}],
        columns=MATCH_COLUMNS,
    )  # fmt: skip
    return plan_sync(
        pd.DataFrame([{"source_id": "17", **source}]),
        pd.DataFrame([{"target_id": "C-9", **target}]),
        matches,
        pd.DataFrame(columns=["source_id", "target_id", "source_hashes", "target_hashes"]),
        POLICY,
        same_value=cust.same_value,
        rebuilt_by={"stored_reference", "derived_customer_id"},
    ).actions


def test_rebuilt_link_does_not_treat_the_naming_rules_as_an_edit() -> None:
    (action,) = _rebuilt_plan({"name": "Iron- Works", "phone": "1"}, {"name": "Iron: Works", "phone": "1"},
                              "stored_reference")  # fmt: skip
    assert action.action is Action.SKIP
    (action,) = _rebuilt_plan({"name": "Acme (C-9)", "phone": "1"}, {"name": "Acme", "phone": "1"}, "stored_reference")
    assert action.action is Action.SKIP


def test_rebuilt_link_holds_values_that_differ_instead_of_overwriting() -> None:
    actions = _rebuilt_plan({"name": "A", "phone": "1"}, {"name": "A", "phone": "2"}, "stored_reference")
    assert [a.action for a in actions] == [Action.CONFLICT]
    assert actions[0].reason == "differs_without_baseline"


def test_first_match_by_email_still_follows_the_system_of_record() -> None:
    actions = _rebuilt_plan({"name": "A", "phone": "1"}, {"name": "A", "phone": "2"}, "email")
    assert [(a.action, a.write_to) for a in actions] == [(Action.UPDATE, Side.TARGET)]


def test_hashes_of_a_cleaned_name_differ_but_the_pair_is_in_sync() -> None:
    assert group_hashes({"name": "Iron- Works"}, {"identity": ["name"]}) != group_hashes(
        {"name": "Iron: Works"}, {"identity": ["name"]}
    )
    assert cust.same_value("name", "Iron- Works", "Iron: Works", "C-1")
    assert not cust.same_value("name", "Iron Works", "Iron: Works", "C-1")
    assert Decimal("1") == Decimal("1.00")


# -------------------------------------------------------------------------------- bank details


def _bank_update(after: str) -> Any:
    from qbo_intacct.flows.planning import FieldDiff, Plan, PlannedAction

    diffs = (
        FieldDiff("phone", "contact", "1", "2"),
        FieldDiff("bank_account", "banking", "****1111#0000000000000000", after),
    )
    action = PlannedAction(Action.UPDATE, "17", "V-1", write_to=Side.TARGET, groups=("contact", "banking"),
                           diffs=diffs, source_hashes={"contact": "c2", "banking": "b2"},
                           target_hashes={"contact": "c2", "banking": "b2"})  # fmt: skip
    return Plan([action])


def test_bank_change_is_held_and_the_rest_of_the_update_goes_ahead() -> None:
    from qbo_intacct.flows.engine import BANK_REVIEW, protect_groups

    links = pd.DataFrame([{"source_id": "17", "target_id": "V-1", "source_hashes": {"contact": "c1", "banking": "b1"},
                           "target_hashes": {"contact": "c1", "banking": "b1"}}])  # fmt: skip
    update, review = protect_groups(_bank_update("****2222#1111111111111111"), ["banking"], links, {}).actions
    assert (update.action, update.groups) == (Action.UPDATE, ("contact",))
    assert update.target_hashes["banking"] == "b1"  # asked again next run until decided
    assert (review.action, review.reason, review.groups) == (Action.REVIEW, BANK_REVIEW, ("banking",))


def test_approved_bank_change_goes_ahead_with_who_approved_it() -> None:
    from qbo_intacct.flows.engine import change_fingerprint, protect_groups

    plan_ = _bank_update("****2222#1111111111111111")
    bank_diffs = [d for d in plan_.actions[0].diffs if d.group == "banking"]
    approvals = {("17", change_fingerprint("17", bank_diffs)): "controller@example"}
    (action,) = protect_groups(plan_, ["banking"], pd.DataFrame(), approvals).actions
    assert action.groups == ("contact", "banking")
    assert action.reason == "approved_by:controller@example"
    other = protect_groups(_bank_update("****3333#2222222222222222"), ["banking"], pd.DataFrame(), approvals)
    assert [a.action for a in other.actions] == [Action.UPDATE, Action.REVIEW]  # another change: asked again


def test_bank_review_item_shows_only_the_last_four_digits() -> None:
    from qbo_intacct.flows.engine import bank_review_draft, protect_groups
    from qbo_intacct.flows.sensitive import mask

    old, new = mask("123456781111"), mask("987654322222")
    plan_ = _bank_update(new)
    plan_.actions[0] = plan_.actions[0].__class__(
        **{
            **plan_.actions[0].__dict__,
            "diffs": (
                plan_.actions[0].diffs[0],
                plan_.actions[0].diffs[1].__class__("bank_account", "banking", old, new),
            ),
        }
    )
    review = protect_groups(plan_, ["banking"], pd.DataFrame(), {}).actions[-1]
    draft = bank_review_draft("vendors", review, {"17": "Bluewater Staffing"})
    assert "****1111 -> ****2222" in draft.detail
    assert "Bluewater Staffing" in draft.detail
    assert "123456781111" not in draft.detail
    assert "#" not in draft.detail


def test_masked_numbers_compare_across_systems_and_never_show_the_number() -> None:
    from qbo_intacct.flows.sensitive import is_token, last_four, mask, mask_record

    assert mask("1234 5678 90") == mask("1234567890")
    assert mask("1234567890") != mask("1234567891")
    assert is_token(mask("1234567890"))
    assert last_four(mask("1234567890")) == "****7890"
    record = mask_record({"VendorPaymentBankDetail": {"BankAccountNumber": "1234567890"}},
                         ["VendorPaymentBankDetail.BankAccountNumber"])  # fmt: skip
    assert "1234567890" not in str(record)
    assert mask_record({"ACHACCOUNTNUMBER": "1234567890"}, ["ACHACCOUNTNUMBER"])["ACHACCOUNTNUMBER"].startswith("****")


def test_names_to_check_are_the_window_names_as_quickbooks_would_get_them() -> None:
    from qbo_intacct.flows.engine import names_to_check

    assert names_to_check([{"NAME": "Iron: Works"}, {"NAME": " Acme  Ltd "}, {"NAME": None}]) == [
        "Acme Ltd",
        "Iron- Works",
    ]
