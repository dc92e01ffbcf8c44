"""Between the workbook, the planner and the ledger: policies, decisions and review items.

These small translations are shared by every flow, so that a flow module only adds its accounting:

- :func:`sync_policy` turns the workbook's Flow Settings and Field Groups rows into the planner's
  :class:`~qbo_intacct.flows.planning.SyncPolicy`, seen from the flow's source system;
- :func:`decisions_for` merges finance's decisions from the workbook's Record Links table and from
  review items resolved in the Airflow UI (the workbook row wins when both exist, because it is
  the document finance keeps);
- :func:`drafts_from_plan` and :func:`drafts_from_validation` turn held records into review items
  for the ledger, each with its reason code, candidates and a fingerprint so the same problem
  seen on the next run is the same item.

System names: the workbook says ``QuickBooks`` / ``Intacct``; the ledger stores ``qbo`` / ``intacct``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from qbo_intacct.flows.planning import Action, ConflictRule, Flow, Plan, Side, SyncPolicy
from qbo_intacct.ledger.repository import ReviewDraft, ReviewRecord, ReviewStatus
from qbo_intacct.mappings.loader import ConflictRule as WorkbookConflictRule
from qbo_intacct.mappings.loader import Decision, Direction, MappingWorkbook, RecordLink
from qbo_intacct.validation.runner import ValidationOutcome

SYSTEM_CODES: dict[str, str] = {"QuickBooks": "qbo", "Intacct": "intacct"}
SYSTEM_NAMES: dict[str, str] = {code: name for name, code in SYSTEM_CODES.items()}
_DECISIONS: dict[Decision, str] = {Decision.LINK: "link", Decision.CREATE: "create", Decision.IGNORE: "ignore"}


class FlowSettingsError(ValueError):
    """The workbook has no usable settings for a flow; the message names the sheet to fix."""


def sync_policy(
    mappings: MappingWorkbook, flow: str, field_groups: Mapping[str, list[str]], *, source_system: str = "QuickBooks"
) -> SyncPolicy | None:
    """The planner's policy for ``flow``, or ``None`` when finance disabled the flow.

    A field group without a Field Groups row is held for review on a two-sided edit: the sync
    never picks a winner finance did not choose.
    """
    setting = mappings.flow(flow)
    if setting is None:
        raise FlowSettingsError(f"flow {flow!r} has no row on the 'Flow Settings' sheet of {mappings.path}")
    if not setting.enabled:
        return None
    source_first = source_system == "QuickBooks"
    direction = {
        Direction.BOTH: Flow.BOTH,
        Direction.QBO_TO_INTACCT: Flow.TO_TARGET if source_first else Flow.TO_SOURCE,
        Direction.INTACCT_TO_QBO: Flow.TO_SOURCE if source_first else Flow.TO_TARGET,
    }[setting.direction]
    owners = mappings.systems_of_record(flow)
    system_of_record: dict[str, Side | None] = {}
    for group in field_groups:
        owner = owners.get(group)
        if owner in SYSTEM_CODES:
            system_of_record[group] = Side.SOURCE if owner == source_system else Side.TARGET
        else:
            system_of_record[group] = None
    rule = (
        ConflictRule.SYSTEM_OF_RECORD
        if setting.conflict_rule is WorkbookConflictRule.SYSTEM_OF_RECORD
        else ConflictRule.REVIEW
    )
    return SyncPolicy(dict(field_groups), direction, system_of_record, rule)


def decisions_for(
    flow: str,
    record_links: Iterable[RecordLink],
    resolved_items: Iterable[ReviewRecord],
    *,
    source_system: str = "qbo",
) -> dict[str, tuple[str, str | None]]:
    """Source id -> (``link`` | ``create`` | ``ignore``, target id), for ``matching.apply_decisions``."""
    decisions: dict[str, tuple[str, str | None]] = {}
    for item in resolved_items:
        if item.flow != flow or item.record_system != source_system or item.status is ReviewStatus.OPEN:
            continue
        if item.decision is not None:
            decisions[item.record_id] = (item.decision.value, item.decision_target_id)
    for link in record_links:
        if link.flow != flow or SYSTEM_CODES.get(link.source_system) != source_system:
            continue
        decisions[link.source_id] = (_DECISIONS[link.decision], link.target_id)
    return decisions


def drafts_from_plan(flow: str, plan: Plan, *, source_system: str = "qbo") -> list[ReviewDraft]:
    """One review item per held record (REVIEW) and per conflict (CONFLICT, fingerprinted by both hashes)."""
    drafts: list[ReviewDraft] = []
    for action in plan.actions:
        if action.action is Action.REVIEW:
            candidates = ", ".join(action.candidates) or "none"
            drafts.append(
                ReviewDraft(
                    flow=flow,
                    record_system=source_system,
                    record_id=str(action.source_id),
                    reason_code=action.reason or "candidates",
                    detail=f"held: {action.reason}; candidates: {candidates}",
                    candidates=list(action.candidates),
                )
            )
        elif action.action is Action.CONFLICT:
            fields = ", ".join(f"{d.field} (source {d.after!r}, target {d.before!r})" for d in action.diffs)
            drafts.append(
                ReviewDraft(
                    flow=flow,
                    record_system=source_system,
                    record_id=str(action.source_id),
                    reason_code="conflict",
                    detail=f"{action.reason}: field groups {', '.join(action.groups)}; {fields}",
                    candidates=[str(action.target_id)] if action.target_id else [],
                    fingerprint=action.fingerprint,
                )
            )
    return drafts


def drafts_from_validation(flow: str, outcome: ValidationOutcome, *, record_system: str = "qbo") -> list[ReviewDraft]:
    """One review item per record and failed check, named after the expectation that failed."""
    drafts: dict[tuple[str, str], ReviewDraft] = {}
    for failure in outcome.failures:
        key = (failure.record_key, failure.expectation)
        drafts.setdefault(
            key,
            ReviewDraft(
                flow=flow,
                record_system=record_system,
                record_id=failure.record_key,
                reason_code=f"validation:{failure.check}",
                detail=f"{failure.expectation} on {failure.column}: {failure.detail}",
                fingerprint=f"{failure.expectation}:{failure.column}",
            ),
        )
    return list(drafts.values())
