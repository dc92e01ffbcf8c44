"""Content hashes and record matching: pure functions over dicts and DataFrames."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from qbo_intacct.flows.hashing import UnhashableValueError, content_hash, group_hashes
from qbo_intacct.flows.matching import (
    MatchOutcome,
    StrongId,
    apply_decisions,
    match_records,
    normalize_email,
    normalize_name,
    normalize_tax_id,
)

# --- hashing --------------------------------------------------------------------------------


def test_equal_amounts_in_different_notation_hash_alike() -> None:
    assert content_hash({"credit_limit": Decimal("10.00")}, ["credit_limit"]) == content_hash(
        {"credit_limit": Decimal("10")}, ["credit_limit"]
    )


def test_a_one_cent_change_changes_the_hash() -> None:
    assert content_hash({"credit_limit": Decimal("10.00")}, ["credit_limit"]) != content_hash(
        {"credit_limit": Decimal("10.01")}, ["credit_limit"]
    )


def test_float_amount_is_refused_naming_the_field() -> None:
    with pytest.raises(UnhashableValueError, match="credit_limit"):
        content_hash({"credit_limit": 10.5}, ["credit_limit"])


def test_missing_empty_and_nan_all_mean_no_value() -> None:
    hashes = {content_hash(r, ["email"]) for r in ({}, {"email": None}, {"email": "  "}, {"email": float("nan")})}
    assert len(hashes) == 1


def test_surrounding_whitespace_does_not_count_but_case_does() -> None:
    base = content_hash({"name": "Acme"}, ["name"])
    assert (content_hash({"name": " Acme "}, ["name"]) == base, content_hash({"name": "ACME"}, ["name"]) == base) == (
        True,
        False,
    )


def test_hash_is_independent_of_key_order() -> None:
    record = {"name": "Acme", "since": dt.date(2026, 1, 31)}
    assert content_hash(record, ["name", "since"]) == content_hash(dict(reversed(record.items())), ["since", "name"])


def test_hash_is_stable_across_processes_and_releases() -> None:
    # Pinned: a change here re-flags every linked record in every ledger as edited.
    record = {"name": "Acme", "since": dt.date(2026, 1, 31)}
    assert content_hash(record, ["name", "since"]) == "5f72fefb358174293a19cf9907c0b6ba"


def test_group_hashes_change_only_for_the_edited_group() -> None:
    groups = {"identity": ["name"], "contact": ["email"]}
    before = group_hashes({"name": "Acme", "email": "ap@acme.example"}, groups)
    after = group_hashes({"name": "Acme", "email": "billing@acme.example"}, groups)
    assert (before["identity"] == after["identity"], before["contact"] == after["contact"]) == (True, False)


# --- normalisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme, Inc.", "acme"),
        ("ACME Incorporated", "acme"),
        ("Smith & Sons Ltd", "smith and sons"),
        ("Smith and Sons Limited", "smith and sons"),
        ("Northwind L.L.C.", "northwind"),
        ("Café Müller GmbH", "cafe muller"),
        ("Co", "co"),  # a suffix word alone is kept: nothing else would remain
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def test_tax_ids_compare_without_punctuation_and_emails_without_case() -> None:
    assert (normalize_tax_id("12-3456789"), normalize_email(" AP@Acme.Example ")) == ("123456789", "ap@acme.example")


# --- matching -------------------------------------------------------------------------------

STRONG = [
    StrongId("tax_id", "tax_id", "tax_id", normalize_tax_id),
    StrongId("email", "email", "email", normalize_email),
]


def _match(source: list[dict], target: list[dict], links: list[dict] | None = None) -> dict[str, dict]:
    result = match_records(
        pd.DataFrame(source),
        pd.DataFrame(target),
        pd.DataFrame(links or [], columns=["source_id", "target_id"]),
        strong_ids=STRONG,
        name_columns=("name", "name"),
    )
    return {r["source_id"]: r for r in result.to_dict("records")}


TARGETS = [
    {"target_id": "C1", "name": "Acme Incorporated", "tax_id": "12-3456789", "email": "ap@acme.example"},
    {"target_id": "C2", "name": "Globex LLC", "tax_id": None, "email": "ar@globex.example"},
    {"target_id": "C3", "name": "Globex, Inc.", "tax_id": None, "email": None},
    {"target_id": "C4", "name": "Initech", "tax_id": "99-0000001", "email": None},
]


def test_a_linked_record_matches_by_its_link_first() -> None:
    m = _match(
        [{"source_id": "1", "name": "Renamed", "tax_id": None, "email": None}],
        TARGETS,
        [{"source_id": "1", "target_id": "C4"}],
    )
    assert (m["1"]["outcome"], m["1"]["target_id"]) == (MatchOutcome.LINKED, "C4")


def test_one_strong_identifier_match_links() -> None:
    m = _match([{"source_id": "1", "name": "ACME", "tax_id": "123456789", "email": None}], TARGETS)
    assert (m["1"]["outcome"], m["1"]["target_id"], m["1"]["matched_by"]) == (MatchOutcome.MATCH, "C1", "tax_id")


def test_identifiers_pointing_at_different_targets_become_candidates() -> None:
    m = _match([{"source_id": "1", "name": "x", "tax_id": "12-3456789", "email": "ar@globex.example"}], TARGETS)
    assert (m["1"]["outcome"], m["1"]["candidates"]) == (MatchOutcome.CANDIDATES, ["C1", "C2"])


def test_a_name_only_match_is_never_linked_even_when_unique() -> None:
    m = _match([{"source_id": "1", "name": "Initech Inc", "tax_id": None, "email": None}], TARGETS)
    assert (m["1"]["outcome"], m["1"]["candidates"], m["1"]["reason"]) == (MatchOutcome.CANDIDATES, ["C4"], "name_only")


def test_a_name_shared_by_two_targets_lists_both_candidates() -> None:
    m = _match([{"source_id": "1", "name": "GLOBEX", "tax_id": None, "email": None}], TARGETS)
    assert m["1"]["candidates"] == ["C2", "C3"]


def test_two_sources_strongly_matching_one_target_are_both_held_as_duplicates() -> None:
    sources = [
        {"source_id": "1", "name": "Acme", "tax_id": "12-3456789", "email": None},
        {"source_id": "2", "name": "Acme (dup)", "tax_id": None, "email": "AP@acme.example"},
    ]
    m = _match(sources, TARGETS)
    assert [(m[s]["outcome"], m[s]["reason"]) for s in "12"] == [(MatchOutcome.CANDIDATES, "duplicate_source")] * 2


def test_a_strong_match_to_a_target_linked_elsewhere_is_held() -> None:
    m = _match(
        [{"source_id": "2", "name": "Acme", "tax_id": "12-3456789", "email": None}],
        TARGETS,
        [{"source_id": "1", "target_id": "C1"}],
    )
    assert (m["2"]["outcome"], m["2"]["reason"]) == (MatchOutcome.CANDIDATES, "target_already_linked")


def test_no_match_at_all_means_create() -> None:
    m = _match([{"source_id": "1", "name": "Umbrella", "tax_id": None, "email": None}], TARGETS)
    assert m["1"]["outcome"] == MatchOutcome.NONE


def test_finance_decisions_override_candidates() -> None:
    matches = match_records(
        pd.DataFrame(
            [
                {"source_id": "1", "name": "Globex", "tax_id": None, "email": None},
                {"source_id": "2", "name": "Initech", "tax_id": None, "email": None},
                {"source_id": "3", "name": "Globex", "tax_id": None, "email": None},
            ]
        ),
        pd.DataFrame(TARGETS),
        None,
        strong_ids=STRONG,
        name_columns=("name", "name"),
    )
    decided = apply_decisions(matches, {"1": ("link", "C3"), "2": ("create", None), "3": ("ignore", None)})
    assert decided[["source_id", "outcome", "target_id"]].to_dict("records") == [
        {"source_id": "1", "outcome": MatchOutcome.MATCH, "target_id": "C3"},
        {"source_id": "2", "outcome": MatchOutcome.NONE, "target_id": None},
    ]
