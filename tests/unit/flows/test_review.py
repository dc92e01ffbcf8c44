"""Workbook settings -> planner policy, finance decisions -> matching, held records -> review items."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbo_intacct.flows.planning import Action, ConflictRule, Flow, Plan, PlannedAction, Side
from qbo_intacct.flows.review import decisions_for, drafts_from_plan, drafts_from_validation, sync_policy
from qbo_intacct.ledger.repository import ReviewDecision, ReviewRecord, ReviewStatus
from qbo_intacct.mappings.loader import Decision, MappingWorkbook, RecordLink, load_mappings
from qbo_intacct.mappings.workbook import build_workbook
from qbo_intacct.validation.runner import RowFailure, ValidationOutcome

GROUPS = {"identity": ["name"], "terms": ["term"], "amounts": ["credit_limit"]}


@pytest.fixture(scope="module")
def mappings(tmp_path_factory: pytest.TempPathFactory) -> MappingWorkbook:
    settings = [
        {"Flow": "customers", "Enabled": "Yes", "Direction": "Both ways", "Conflict Rule": "Follow system of record"},
        {"Flow": "vendors", "Enabled": "No", "Direction": "Both ways", "Conflict Rule": "Always review"},
        {"Flow": "invoices", "Enabled": "Yes", "Direction": "QuickBooks to Intacct", "Conflict Rule": "Always review"},
    ]
    groups = [
        {"Flow": "customers", "Field Group": "identity", "System of Record": "QuickBooks"},
        {"Flow": "customers", "Field Group": "terms", "System of Record": "Intacct"},
    ]
    path = tmp_path_factory.mktemp("wb") / "m.xlsx"
    return load_mappings(build_workbook(path, rows={"FlowSettings": settings, "FieldGroups": groups}))


def test_policy_maps_systems_of_record_to_sides_and_leaves_unlisted_groups_for_review(
    mappings: MappingWorkbook,
) -> None:
    policy = sync_policy(mappings, "customers", GROUPS)
    assert (policy.direction, dict(policy.system_of_record), policy.conflict_rule) == (
        Flow.BOTH,
        {"identity": Side.SOURCE, "terms": Side.TARGET, "amounts": None},
        ConflictRule.SYSTEM_OF_RECORD,
    )


def test_an_intacct_first_flow_sees_quickbooks_as_the_target(mappings: MappingWorkbook) -> None:
    policy = sync_policy(mappings, "customers", GROUPS, source_system="Intacct")
    assert policy.system_of_record["identity"] is Side.TARGET


def test_one_way_direction_and_always_review_rule(mappings: MappingWorkbook) -> None:
    policy = sync_policy(mappings, "invoices", GROUPS)
    assert (policy.direction, policy.conflict_rule) == (Flow.TO_TARGET, ConflictRule.REVIEW)


def test_a_disabled_flow_has_no_policy(mappings: MappingWorkbook) -> None:
    assert sync_policy(mappings, "vendors", GROUPS) is None


def _resolved(record_id: str, decision: ReviewDecision, target: str | None) -> ReviewRecord:
    return ReviewRecord(1, "customers", "qbo", record_id, "name_only", "", "", (), ReviewStatus.RESOLVED, decision,
                        target, None, "maria", None, None)  # fmt: skip


def test_a_workbook_decision_wins_over_the_same_records_ui_decision() -> None:
    links = [RecordLink("customers", "QuickBooks", "58", Decision.LINK, "C-2")]
    resolved = [_resolved("58", ReviewDecision.CREATE, None), _resolved("59", ReviewDecision.IGNORE, None)]
    assert decisions_for("customers", links, resolved) == {"58": ("link", "C-2"), "59": ("ignore", None)}


def test_held_records_and_conflicts_become_review_items() -> None:
    plan = Plan(
        [
            PlannedAction(Action.REVIEW, "58", None, reason="name_only", candidates=("C-1", "C-2")),
            PlannedAction(
                Action.CONFLICT, "17", "C-17", groups=("terms",), reason="edited_on_both_sides", fingerprint="ab12"
            ),
            PlannedAction(Action.SKIP, "18", "C-18", reason="unchanged"),
        ]
    )
    drafts = drafts_from_plan("customers", plan)
    assert [(d.record_id, d.reason_code, list(d.candidates), d.fingerprint) for d in drafts] == [
        ("58", "name_only", ["C-1", "C-2"], ""),
        ("17", "conflict", ["C-17"], "ab12"),
    ]


def test_validation_failures_become_one_review_item_per_record_and_expectation() -> None:
    failure = RowFailure("INV-1", "expect_column_values_to_be_unique", "key unique", "source_id", "dup", 0)
    outcome = ValidationOutcome("invoices", 3, [failure, failure])
    (draft,) = drafts_from_validation("invoices", outcome)
    assert (draft.record_id, draft.reason_code) == ("INV-1", "validation:key unique")


def test_plan_frame_round_trips_through_staging(tmp_path: Path) -> None:
    from qbo_intacct.flows.staging import read_staged, stage_frame

    plan = Plan([PlannedAction(Action.REVIEW, "58", None, reason="name_only", candidates=("C-1",))])
    staged = stage_frame(plan.frame(), flow="customers", run_id="r1", name="plan", root=(tmp_path / "s").as_uri())
    back = read_staged(staged)
    assert back.loc[0, ["action", "candidates", "diffs"]].tolist() == ["review", ["C-1"], []]
