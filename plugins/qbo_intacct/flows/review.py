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
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pandas as pd

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


def drafts_from_plan(
    flow: str,
    plan: Plan,
    *,
    source_system: str = "qbo",
    book: RecordBook | None = None,
    mappings: MappingWorkbook | None = None,
) -> list[ReviewDraft]:
    """One review item per held record (REVIEW) and per conflict (CONFLICT, fingerprinted by both hashes).

    With ``book`` (the records the run read) each item carries what finance reads: names and key
    fields of the record and its candidates, the reason in plain words, where to fix it.
    """
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
    return describe_drafts(drafts, book, mappings=mappings) if book is not None else drafts


def drafts_from_validation(
    flow: str,
    outcome: ValidationOutcome,
    *,
    record_system: str = "qbo",
    book: RecordBook | None = None,
    mappings: MappingWorkbook | None = None,
) -> list[ReviewDraft]:
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
    found = list(drafts.values())
    return describe_drafts(found, book, mappings=mappings) if book is not None else found


# ------------------------------------------------------------------------------------------------
# What finance reads about a held record
# ------------------------------------------------------------------------------------------------

#: Shared-vocabulary columns shown for a record, in this order, with the label finance knows.
CARD_FIELDS: tuple[tuple[str, str], ...] = (
    ("company_name", "Company"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("tax_id", "Tax ID"),
    ("currency", "Currency"),
    ("term", "Terms"),
    ("credit_limit", "Credit limit"),
    ("bill_city", "City"),
    ("bill_country", "Country"),
    ("active", "Active"),
)
#: Reason codes about *which* record is which: a person can answer them with Link / Create new / Ignore.
MATCHING_REASONS = frozenset(
    {
        "duplicate_in_source",
        "duplicate_in_target",
        "duplicate_source",
        "matches_quickbooks_customer",
        "matches_quickbooks_vendor",
        "name_only",
        "several_strong",
        "candidates",
        "linked_target_missing",
        "target_already_linked",
    }
)


def _shown(value: object) -> str | None:
    """A value as finance reads it: amounts with thousands separators and cents, booleans as Yes/No."""
    if value is None or (not isinstance(value, (str, list, dict, tuple)) and pd.isna(value)):
        return None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class RecordBook:
    """The records a run read, by (system, id), in the flow's shared vocabulary (its mapped frames)."""

    rows: Mapping[tuple[str, str], Mapping[str, Any]]
    noun: str = "record"

    @classmethod
    def from_frames(
        cls,
        source: pd.DataFrame | None,
        target: pd.DataFrame | None,
        *,
        noun: str,
        source_key: str = "source_id",
        target_key: str = "target_id",
        source_system: str = "qbo",
        target_system: str = "intacct",
    ) -> RecordBook:
        rows: dict[tuple[str, str], Mapping[str, Any]] = {}
        for frame, key, system in ((source, source_key, source_system), (target, target_key, target_system)):
            if frame is None or frame.empty or key not in frame.columns:
                continue
            for row in frame.to_dict("records"):
                rows[(system, str(row[key]))] = row
        return cls(rows, noun)

    def card(self, system: str, record_id: str) -> dict[str, Any]:
        """``{"system", "id", "name", "fields": {label: value}}``; the name is ``None`` when the run did not read it."""
        row = self.rows.get((system, str(record_id))) or {}
        fields = [[label, shown] for column, label in CARD_FIELDS if (shown := _shown(row.get(column))) is not None]
        return {"system": system, "id": str(record_id), "name": _shown(row.get("name")), "fields": fields}


def card_fields(card: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A card's (label, value) pairs in display order (stored as a list, so JSON keeps the order)."""
    fields = card.get("fields") or []
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    return [(str(label), str(value)) for label, value in pairs]


def _split_candidate(candidate: str, record_system: str) -> tuple[str, str]:
    """``"qbo:32"`` -> ("qbo", "32"); a bare id is a record of the other system."""
    system, sep, rest = str(candidate).partition(":")
    if sep and system in SYSTEM_NAMES:
        return system, rest
    return ("intacct" if record_system == "qbo" else "qbo"), str(candidate)


def card_label(card: Mapping[str, Any], noun: str = "record") -> str:
    """``QuickBooks customer 31 "Acme Ltd"`` (the name only when known)."""
    system = SYSTEM_NAMES.get(str(card.get("system")), str(card.get("system")))
    name = f' "{card["name"]}"' if card.get("name") else ""
    return f"{system} {noun} {card.get('id')}{name}"


def explain(
    reason_code: str,
    *,
    flow: str,
    record_system: str,
    noun: str = "record",
    detail: str = "",
    record: Mapping[str, Any] | None = None,
    candidates: list[Mapping[str, Any]] | None = None,
    mappings: MappingWorkbook | None = None,
) -> tuple[str, str]:
    """(the reason in plain words, where to fix it) for a review item."""
    this = SYSTEM_NAMES.get(record_system, record_system)
    other = SYSTEM_NAMES.get("intacct" if record_system == "qbo" else "qbo")
    kind, _, arg = reason_code.partition(":")
    named = ", ".join(card_label(c, noun) for c in candidates or []) or "none found"
    fields = dict(card_fields(record or {}))
    if kind in ("duplicate_in_source", "duplicate_in_target"):
        return (
            f"Another {this} {noun} has the same tax ID or email ({named}): the same company may have been "
            "entered twice.",
            f"If they are one company, merge them in {this} and choose Ignore for this one; if they are "
            f"different companies, correct the tax ID or email in {this}, or choose Create new to create it "
            f"in {other}.",
        )
    if kind == "duplicate_source":
        return (
            f"Several {this} {noun}s point to the same {other} {noun} ({named}).",
            f"Link the right one; choose Create new for the others, or correct the reference stored in {this}.",
        )
    if kind in ("matches_quickbooks_customer", "matches_quickbooks_vendor"):
        return (
            f"It has the same tax ID or email as {named}, which is not linked yet: creating it in {other} "
            "would make a duplicate.",
            "If they are the same company, add a row on the workbook's 'Record Links' sheet linking them; "
            "otherwise choose Create new.",
        )
    if kind == "target_already_linked":
        return (
            f"It has the same tax ID, email or reference as {named}, which is already linked to another {this} "
            f"{noun}: the same company may have been entered twice in {this}.",
            f"If they are one company, merge them in {this} and choose Ignore for this one; if they are different "
            f"companies, correct the tax ID or email in {this}, or choose Create new to create it in {other}.",
        )
    if kind == "name_only":
        return (
            f"{named} has the same name, but no tax ID, email or reference confirms it is the same company.",
            "Choose Link if it is the same company, Create new if it is not; or enter the same tax ID or email "
            "in both systems.",
        )
    if kind in ("several_strong", "candidates"):
        return (
            f"Several {other} {noun}s match it by tax ID or email: {named}.",
            "Choose the one to link, or Create new.",
        )
    if kind == "linked_target_missing":
        return (
            f"The {other} {noun} it was linked to ({named}) no longer exists (deleted or merged).",
            f"Choose Create new to create it again in {other}, or Ignore to stop syncing it.",
        )
    if kind in ("conflict", "edited_on_both_sides", "differs_without_baseline"):
        changed = (
            (detail.partition(": ")[2] or detail).replace("(source ", f"({this} ").replace(", target ", f", {other} ")
        )
        return (
            f"Changed in both systems since the last sync and the workbook names no system of record for it "
            f"({changed}).",
            f"On the workbook's 'Field Groups' sheet choose the system of record for flow {flow}, or make both "
            "systems agree; the next run then syncs it.",
        )
    if kind == "unmapped_term":
        return (
            f"Its payment terms '{arg}' have no row on the workbook's 'Terms' sheet.",
            f"Add a row for '{arg}' on the 'Terms' sheet and pick the Intacct term.",
        )
    if kind == "validation" and arg == "currency enabled":
        currency = fields.get("Currency")
        if not currency:
            return (f"It has no currency in {this}.", f"Enter the currency on the {noun} in {this}.")
        row = None
        if mappings is not None:
            mapped = mappings.currency(currency)
            row = mapped.row if mapped is not None else mappings.unmapped_rows.get("CurrencyMap", {}).get(currency)
        where = f"on the {currency} row (row {row})" if row else f"on a new {currency} row"
        return (
            f"Its currency {currency} is not enabled for syncing.",
            f"On the workbook's 'Currencies' sheet set Enabled to Yes {where} if Intacct has {currency}; "
            "otherwise choose Ignore.",
        )
    if kind == "validation" and arg.startswith("key"):
        return (
            f"{this} returned it without an id, or with an id used twice.",
            f"Check the {noun} in {this}; the next run reads it again.",
        )
    if kind == "write_failed":
        refused = SYSTEM_NAMES.get(arg, arg)
        return (
            f"{refused} refused the write: {detail or 'no answer'}.",
            f"Correct the {noun} in {this} (or the workbook, if the message names a mapping) as the message says; "
            "the next run tries again.",
        )
    if kind == "cannot_map":
        return (
            f"It cannot be expressed in {other} as it is{': ' + detail if detail else ''}.",
            f"Correct the {noun} in {this}; the next run tries again.",
        )
    return (detail or reason_code.replace("_", " "), f"Check the {noun} in {this}.")


def describe(
    draft: ReviewDraft, book: RecordBook, *, mappings: MappingWorkbook | None = None, partner_id: str | None = None
) -> dict[str, Any]:
    """The ``context`` of a review item: record and candidates as finance knows them, reason, fix."""
    record = book.card(draft.record_system, draft.record_id)
    candidates = [book.card(*_split_candidate(c, draft.record_system)) for c in draft.candidates]
    partner = None
    if draft.reason_code in ("conflict", "edited_on_both_sides", "differs_without_baseline") and candidates:
        partner, candidates = candidates[0], []
    elif partner_id:
        partner = book.card("intacct" if draft.record_system == "qbo" else "qbo", partner_id)
    reason, fix = explain(
        draft.reason_code,
        flow=draft.flow,
        record_system=draft.record_system,
        noun=book.noun,
        detail=draft.detail,
        record=record,
        candidates=candidates or ([partner] if partner else []),
        mappings=mappings,
    )
    return {"noun": book.noun, "record": record, "partner": partner, "candidates": candidates, "reason": reason,
            "fix": fix}  # fmt: skip


def describe_drafts(
    drafts: Iterable[ReviewDraft], book: RecordBook, *, mappings: MappingWorkbook | None = None
) -> list[ReviewDraft]:
    """Every draft with its ``context`` filled in (drafts that already have one are kept as they are)."""
    return [d if d.context else replace(d, context=describe(d, book, mappings=mappings)) for d in drafts]


def item_line(item: ReviewRecord | ReviewDraft) -> str:
    """One line for a task log or a run summary: who, why in plain words, where to fix."""
    context = item.context or {}
    noun = context.get("noun") or "record"
    record = context.get("record") or {"system": item.record_system, "id": item.record_id}
    if "reason" in context:
        reason, fix = context["reason"], context["fix"]
    else:
        reason, fix = explain(item.reason_code, flow=item.flow, record_system=item.record_system, detail=item.detail)
    number = f"item {item.id}: " if isinstance(item, ReviewRecord) else ""
    return f"{number}{card_label(record, noun)}: {reason} Fix: {fix}"
