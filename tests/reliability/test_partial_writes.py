"""A write refused inside a batch (a partial failure) is retried by the next run against the same pair.

Found by ``make chaos`` (scenario "partial batches"): the review item of a refused update named no
candidate, so the next run did not read the Intacct customer the update was for, found no match and
created a second one. The item now names the pair, and it does not hold the record for a decision.
"""

from __future__ import annotations

from types import SimpleNamespace

from qbo_intacct.flows.engine import sticky_holds


def _item(reason: str, candidates: list[str]) -> SimpleNamespace:
    return SimpleNamespace(record_system="qbo", record_id="2", reason_code=reason, candidates=candidates)


def test_a_refused_write_is_not_held_for_a_decision_but_a_duplicate_question_is() -> None:
    holds = sticky_holds([_item("write_failed:intacct", ["intacct:C-10022"])], {}, {})
    assert holds == {}
    holds = sticky_holds([_item("several_strong", ["intacct:C-1", "intacct:C-2"])], {}, {})
    assert ("qbo", "2") in holds
