"""Every reason a record is held reads as plain words with where to fix it (no codes, no internal ids)."""

from __future__ import annotations

import pytest

from qbo_intacct.flows.review import explain

CANDIDATE = [{"system": "intacct", "id": "C-100", "name": "ACME Limited", "fields": []}]
CASES = {
    "duplicate_in_source": "same tax ID or email",
    "duplicate_in_target": "same tax ID or email",
    "duplicate_source": "point to the same",
    "matches_quickbooks_customer": "would make a duplicate",
    "name_only": "has the same name",
    "several_strong": "Several",
    "candidates": "Several",
    "linked_target_missing": "no longer exists",
    "conflict": "Changed in both systems",
    "edited_on_both_sides": "Changed in both systems",
    "differs_without_baseline": "Changed in both systems",
    "unmapped_term:Net 45": "'Net 45' have no row on the workbook's 'Terms' sheet",
    "validation:currency enabled": "currency CHF is not enabled",
    "validation:key unique": "id used twice",
    "write_failed:intacct": "Intacct refused the write: Customer name too long",
    "cannot_map": "cannot be expressed in Intacct",
}


@pytest.mark.parametrize(("code", "expected"), list(CASES.items()))
def test_reason_in_plain_words_with_a_fix(code: str, expected: str) -> None:
    reason, fix = explain(
        code,
        flow="customers",
        record_system="qbo",
        noun="customer",
        detail="Customer name too long" if code.startswith("write") else "conflict: field groups identity",
        record={"fields": [["Currency", "CHF"]]},
        candidates=CANDIDATE,
    )
    assert expected in reason
    assert fix
    assert "_" not in reason + fix, "a reason code leaked into the text"
    assert "intacct:" not in reason + fix
