"""The planner: create / update / skip / review / conflict with field-level diffs, and no echo."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from qbo_intacct.flows.hashing import group_hashes
from qbo_intacct.flows.matching import MATCH_COLUMNS, MatchOutcome
from qbo_intacct.flows.planning import Action, ConflictRule, Flow, Plan, Side, SyncPolicy, plan_sync
from qbo_intacct.flows.summary import RunSummary

GROUPS = {"identity": ["name"], "contact": ["email"], "terms": ["term", "credit_limit"]}
POLICY = SyncPolicy(
    GROUPS,
    direction=Flow.BOTH,
    system_of_record={"identity": Side.SOURCE, "contact": Side.SOURCE, "terms": Side.TARGET},
)


def _rec(
    name: str = "Acme", email: str = "ap@acme.example", term: str = "N30", limit: str = "5000.00"
) -> dict[str, Any]:
    return {"name": name, "email": email, "term": term, "credit_limit": Decimal(limit)}


def _plan(
    source: dict[str, Any],
    target: dict[str, Any],
    *,
    last_source: dict[str, Any] | None = None,
    last_target: dict[str, Any] | None = None,
    outcome: MatchOutcome = MatchOutcome.LINKED,
    policy: SyncPolicy = POLICY,
) -> Plan:
    """One source record 17 and one target record C17, linked with hashes of what the sync last wrote."""
    links = pd.DataFrame(columns=["source_id", "target_id", "source_hashes", "target_hashes"])
    if outcome is MatchOutcome.LINKED:
        links = pd.DataFrame(
            [
                {
                    "source_id": "17",
                    "target_id": "C17",
                    "source_hashes": group_hashes(last_source, GROUPS) if last_source else None,
                    "target_hashes": group_hashes(last_target, GROUPS) if last_target else None,
                }
            ]
        )
    matches = pd.DataFrame(
        [{"source_id": "17", "outcome": outcome, "target_id": "C17", "matched_by": "", "candidates": [], "reason": ""}],
        columns=MATCH_COLUMNS,
    )
    return plan_sync(
        pd.DataFrame([{"source_id": "17", **source}]),
        pd.DataFrame([{"target_id": "C17", **target}]),
        matches,
        links,
        policy,
    )


def _only(plan: Plan) -> Any:
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


def test_unchanged_linked_pair_is_skipped() -> None:
    action = _only(_plan(_rec(), _rec(), last_source=_rec(), last_target=_rec()))
    assert (action.action, action.reason) == (Action.SKIP, "unchanged")


def test_a_source_edit_updates_the_target_with_a_field_level_diff() -> None:
    action = _only(_plan(_rec(email="billing@acme.example"), _rec(), last_source=_rec(), last_target=_rec()))
    assert (action.action, action.write_to, [d.as_dict() for d in action.diffs]) == (
        Action.UPDATE,
        Side.TARGET,
        [{"field": "email", "group": "contact", "before": "ap@acme.example", "after": "billing@acme.example"}],
    )


def test_a_target_edit_flows_back_to_the_source_in_a_two_way_flow() -> None:
    action = _only(_plan(_rec(), _rec(term="N60"), last_source=_rec(), last_target=_rec()))
    assert (action.action, action.write_to, action.groups) == (Action.UPDATE, Side.SOURCE, ("terms",))


def test_what_the_sync_wrote_does_not_echo_back() -> None:
    # Last run wrote the new email to the target; both sides now equal what the ledger holds.
    written = _rec(email="billing@acme.example")
    action = _only(_plan(written, written, last_source=written, last_target=written))
    assert action.action is Action.SKIP


def test_representation_difference_left_by_our_own_write_is_not_an_edit() -> None:
    # The target stores the limit as 5000 (no cents); the ledger hashed what it read back after writing.
    target_as_stored = _rec(limit="5000")
    action = _only(_plan(_rec(), target_as_stored, last_source=_rec(), last_target=target_as_stored))
    assert action.action is Action.SKIP


def test_edits_on_both_sides_follow_the_groups_system_of_record() -> None:
    plan = _plan(_rec(term="N15"), _rec(term="N60"), last_source=_rec(), last_target=_rec())
    action = _only(plan)
    assert (action.action, action.write_to, [d.after for d in action.diffs]) == (Action.UPDATE, Side.SOURCE, ["N60"])


def test_edits_on_both_sides_become_a_conflict_when_the_rule_is_always_review() -> None:
    policy = SyncPolicy(GROUPS, system_of_record=POLICY.system_of_record, conflict_rule=ConflictRule.REVIEW)
    action = _only(_plan(_rec(term="N15"), _rec(term="N60"), last_source=_rec(), last_target=_rec(), policy=policy))
    assert (action.action, action.groups, action.reason) == (Action.CONFLICT, ("terms",), "edited_on_both_sides")


def test_a_group_whose_system_of_record_is_review_becomes_a_conflict() -> None:
    policy = SyncPolicy(GROUPS, system_of_record={"identity": None})
    action = _only(
        _plan(_rec(name="Acme Corp"), _rec(name="ACME"), last_source=_rec(), last_target=_rec(), policy=policy)
    )
    assert (action.action, action.groups) == (Action.CONFLICT, ("identity",))


def test_the_same_conflict_seen_again_has_the_same_fingerprint() -> None:
    policy = SyncPolicy(GROUPS, conflict_rule=ConflictRule.REVIEW)
    args = {"last_source": _rec(), "last_target": _rec(), "policy": policy}
    first = _only(_plan(_rec(term="N15"), _rec(term="N60"), **args))
    again = _only(_plan(_rec(term="N15"), _rec(term="N60"), **args))
    assert first.fingerprint == again.fingerprint != ""


def test_a_target_edit_is_not_sent_back_in_a_one_way_flow() -> None:
    policy = SyncPolicy(GROUPS, direction=Flow.TO_TARGET, system_of_record=POLICY.system_of_record)
    action = _only(_plan(_rec(), _rec(term="N60"), last_source=_rec(), last_target=_rec(), policy=policy))
    assert (action.action, action.reason) == (Action.SKIP, "one_way_direction")


def test_rebuilt_link_without_hashes_compares_values_and_applies_system_of_record() -> None:
    action = _only(_plan(_rec(email="new@acme.example"), _rec()))
    assert (action.action, action.write_to, action.groups) == (Action.UPDATE, Side.TARGET, ("contact",))


def test_unmatched_source_record_is_created_with_every_field_in_the_diff() -> None:
    action = _only(_plan(_rec(), {}, outcome=MatchOutcome.NONE, policy=SyncPolicy(GROUPS, direction=Flow.TO_TARGET)))
    assert (action.action, action.write_to, action.link, [d.field for d in action.diffs]) == (
        Action.CREATE,
        Side.TARGET,
        True,
        ["name", "email", "term", "credit_limit"],
    )


def test_a_strong_match_links_and_updates() -> None:
    action = _only(_plan(_rec(email="new@acme.example"), _rec(), outcome=MatchOutcome.MATCH))
    assert (action.action, action.link, action.target_id) == (Action.UPDATE, True, "C17")


def test_candidates_become_a_review_item_and_nothing_is_created() -> None:
    matches = pd.DataFrame(
        [{"source_id": "17", "outcome": "candidates", "target_id": None, "matched_by": "name",
          "candidates": ["C1", "C2"], "reason": "name_only"}]
    )  # fmt: skip
    plan = plan_sync(
        pd.DataFrame([{"source_id": "17", **_rec()}]),
        pd.DataFrame([{"target_id": "C1", **_rec()}, {"target_id": "C2", **_rec()}]),
        matches,
        pd.DataFrame(columns=["source_id", "target_id"]),
        POLICY,
    )
    (action,) = plan.actions  # and no create on either side for C1 / C2, which are candidates
    assert (action.action, action.candidates, action.reason) == (Action.REVIEW, ("C1", "C2"), "name_only")


def test_an_unlinked_unmatched_target_is_created_in_the_source_in_a_two_way_flow() -> None:
    plan = plan_sync(
        pd.DataFrame(columns=["source_id", *_rec()]),
        pd.DataFrame([{"target_id": "C9", **_rec()}]),
        pd.DataFrame(columns=MATCH_COLUMNS),
        pd.DataFrame(columns=["source_id", "target_id"]),
        POLICY,
    )
    assert [(a.action, a.write_to, a.target_id) for a in plan.actions] == [(Action.CREATE, Side.SOURCE, "C9")]


def test_plan_frame_and_summary_count_each_action() -> None:
    plan = _plan(_rec(email="x@acme.example"), _rec(), last_source=_rec(), last_target=_rec())
    summary = RunSummary.from_plan("customers", "manual__1", plan, read=1, dry_run=True)
    assert (plan.frame()["action"].tolist(), summary.updated, summary.render().splitlines()[0]) == (
        ["update"],
        1,
        "customers run manual__1 (dry run: nothing was written)",
    )


def test_summary_becomes_the_ledgers_run_stats_row() -> None:
    summary = RunSummary("customers", "manual__1", read=5, created=2, held_for_review=1, reasons={"name_only": 1})
    stats = summary.as_run_stats("success")
    assert (stats.created, stats.held_for_review, stats.detail) == (2, 1, {"reasons": {"name_only": 1}})
