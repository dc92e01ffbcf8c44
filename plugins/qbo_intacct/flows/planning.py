"""Decide, per record, what a run would do: create, update, skip, hold for review, or flag a conflict.

Inputs are frames already mapped into one shared field vocabulary (the map step's job), so the
same field name means the same thing on both sides. The plan is pure data: a ``dry_run`` shows it
and writes nothing; the load step carries it out.

Rules a finance reader should know:

- **Linked pairs**, per field group (identity, contact, address, terms, ...): a group changed on one
  side only since the last sync flows to the other side (if the flow's direction allows it). The
  hashes stored in the ledger are what the sync itself wrote, so our own write never comes back as
  an edit (no echo).
- **Edited on both sides** (or a first match with no "last synced" hashes) and the values differ:
  the group's system of record wins when the conflict rule is "Follow system of record";
  otherwise, or with "Review" as system of record, the group is held as a conflict (nothing is
  written for it) and a review item is opened.
- **A rebuilt link** (found again by a key the sync itself wrote, e.g. after the ledger was lost)
  cannot tell which side changed: values that differ are held as a conflict, never overwritten.
- **Same value, other rules**: a flow may declare values each system's rules write differently
  (``same_value``: a QuickBooks DisplayName cleaned of ``:``); those are equal, never an edit.
- **Unlinked source records** follow the match: one strong match -> link and update; candidates
  (several, or a name-only match) -> review item, nothing created; no match -> create.
- **Unlinked target records** (two-way flows) that no source matched or lists as a candidate are
  created in the source system.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd

from qbo_intacct.flows.hashing import FieldGroups, group_hashes, values_equal
from qbo_intacct.flows.matching import MatchOutcome


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    SKIP = "skip"
    REVIEW = "review"
    CONFLICT = "conflict"


class Side(StrEnum):
    SOURCE = "source"
    TARGET = "target"


class Flow(StrEnum):
    """Which way data may move (the workbook's Direction, seen from the flow's source system)."""

    TO_TARGET = "to_target"
    TO_SOURCE = "to_source"
    BOTH = "both"

    def allows(self, to: Side) -> bool:
        return self is Flow.BOTH or (self is Flow.TO_TARGET) == (to is Side.TARGET)


class ConflictRule(StrEnum):
    SYSTEM_OF_RECORD = "system_of_record"
    REVIEW = "review"


@dataclass(frozen=True)
class SyncPolicy:
    """The workbook's flow settings, in the planner's terms.

    ``system_of_record``: field group -> ``Side.SOURCE`` / ``Side.TARGET`` / ``None`` (review).
    """

    field_groups: FieldGroups
    direction: Flow = Flow.BOTH
    system_of_record: Mapping[str, Side | None] = field(default_factory=dict)
    conflict_rule: ConflictRule = ConflictRule.SYSTEM_OF_RECORD

    @property
    def fields(self) -> list[str]:
        return [f for fields in self.field_groups.values() for f in fields]


@dataclass(frozen=True)
class FieldDiff:
    field: str
    group: str
    before: Any  # the value on the side being written (None for a create)
    after: Any  # the value that will be written

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "group": self.group, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class PlannedAction:
    """One decision about one record; ``write_to`` says which system a create/update writes."""

    action: Action
    source_id: str | None
    target_id: str | None
    write_to: Side | None = None
    groups: tuple[str, ...] = ()
    diffs: tuple[FieldDiff, ...] = ()
    reason: str = ""
    candidates: tuple[str, ...] = ()
    link: bool = False  # a new link to store once the write succeeds
    fingerprint: str = ""
    # Hashes the ledger should hold once the action is done (None: leave the stored ones).
    source_hashes: Mapping[str, str] | None = None
    target_hashes: Mapping[str, str] | None = None


PLAN_COLUMNS = [
    "action",
    "source_id",
    "target_id",
    "write_to",
    "groups",
    "diffs",
    "reason",
    "candidates",
    "link",
    "fingerprint",
    "source_hashes",
    "target_hashes",
]


@dataclass
class Plan:
    actions: list[PlannedAction]

    def frame(self) -> pd.DataFrame:
        rows = [
            {
                "action": a.action.value,
                "source_id": a.source_id,
                "target_id": a.target_id,
                "write_to": a.write_to.value if a.write_to else None,
                "groups": list(a.groups),
                "diffs": [d.as_dict() for d in a.diffs],
                "reason": a.reason,
                "candidates": list(a.candidates),
                "link": a.link,
                "fingerprint": a.fingerprint,
                "source_hashes": dict(a.source_hashes) if a.source_hashes is not None else None,
                "target_hashes": dict(a.target_hashes) if a.target_hashes is not None else None,
            }
            for a in self.actions
        ]
        return pd.DataFrame(rows, columns=PLAN_COLUMNS)

    def counts(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for action in self.actions:
            counts[action.action.value] += 1
        return counts


def _fingerprint(*parts: Mapping[str, str] | None) -> str:
    text = "|".join(",".join(f"{k}={v}" for k, v in sorted((p or {}).items())) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: (field, source value, target value, target id) -> the two mean the same (see the module docstring).
SameValue = Callable[[str, Any, Any, str], bool]


def _equal(field_name: str, source_value: Any, target_value: Any, target_id: str, same: SameValue | None) -> bool:
    if values_equal(source_value, target_value):
        return True
    return same is not None and same(field_name, source_value, target_value, target_id)


def _diffs(
    group: str, fields: Sequence[str], write_side: Mapping[str, Any], winner: Mapping[str, Any]
) -> list[FieldDiff]:
    return [
        FieldDiff(f, group, write_side.get(f), winner.get(f))
        for f in fields
        if not values_equal(write_side.get(f), winner.get(f))
    ]


def _plan_pair(
    source_id: str,
    target_id: str,
    source_row: Mapping[str, Any],
    target_row: Mapping[str, Any],
    last_source: Mapping[str, str] | None,
    last_target: Mapping[str, str] | None,
    policy: SyncPolicy,
    *,
    first_link: bool,
    rebuilt: bool = False,
    same: SameValue | None = None,
) -> list[PlannedAction]:
    s_now = group_hashes(source_row, policy.field_groups)
    t_now = group_hashes(target_row, policy.field_groups)
    writes: dict[Side, list[FieldDiff]] = {Side.SOURCE: [], Side.TARGET: []}
    written_groups: dict[Side, list[str]] = {Side.SOURCE: [], Side.TARGET: []}
    conflicts: list[FieldDiff] = []
    conflict_groups: list[str] = []
    blocked: list[str] = []
    new_source, new_target = dict(s_now), dict(t_now)
    baseline = last_source is not None and last_target is not None and not first_link

    for group, fields in policy.field_groups.items():
        if all(_equal(f, source_row.get(f), target_row.get(f), target_id, same) for f in fields):
            continue
        s_changed = not baseline or s_now[group] != (last_source or {}).get(group)
        t_changed = not baseline or t_now[group] != (last_target or {}).get(group)
        winner: Side | None
        if s_changed and not t_changed:
            winner = Side.SOURCE
        elif t_changed and not s_changed:
            winner = Side.TARGET
        elif not s_changed and not t_changed:
            continue  # both as the sync left them: a representation difference, not an edit
        else:
            owner = policy.system_of_record.get(group)
            if first_link and owner is None and policy.conflict_rule is ConflictRule.SYSTEM_OF_RECORD:
                owner = Side.SOURCE if policy.direction.allows(Side.TARGET) else Side.TARGET
            winner = owner if policy.conflict_rule is ConflictRule.SYSTEM_OF_RECORD else None
            if rebuilt:
                winner = None  # a rebuilt link cannot tell which side changed: finance decides
        write_to = None if winner is None else (Side.TARGET if winner is Side.SOURCE else Side.SOURCE)
        if winner is None or write_to is None:
            conflict_groups.append(group)
            conflicts += _diffs(group, fields, target_row, source_row)
            new_source[group] = (last_source or {}).get(group, "")
            new_target[group] = (last_target or {}).get(group, "")
            continue
        if not policy.direction.allows(write_to):
            blocked.append(group)
            continue
        win_row, write_row = (source_row, target_row) if winner is Side.SOURCE else (target_row, source_row)
        writes[write_to] += _diffs(group, fields, write_row, win_row)
        written_groups[write_to].append(group)
        (new_target if write_to is Side.TARGET else new_source)[group] = (s_now if winner is Side.SOURCE else t_now)[
            group
        ]

    actions: list[PlannedAction] = []
    for side in (Side.TARGET, Side.SOURCE):
        if writes[side]:
            actions.append(
                PlannedAction(
                    Action.UPDATE,
                    source_id,
                    target_id,
                    write_to=side,
                    groups=tuple(written_groups[side]),
                    diffs=tuple(writes[side]),
                    link=first_link,
                    source_hashes=new_source,
                    target_hashes=new_target,
                )
            )
    if conflict_groups:
        actions.append(
            PlannedAction(
                Action.CONFLICT,
                source_id,
                target_id,
                groups=tuple(conflict_groups),
                diffs=tuple(conflicts),
                reason="edited_on_both_sides" if baseline else "differs_without_baseline",
                fingerprint=_fingerprint(
                    {g: s_now[g] for g in conflict_groups}, {g: t_now[g] for g in conflict_groups}
                ),
                link=first_link,
            )
        )
    if not actions:
        reason = "one_way_direction" if blocked else ("matched_in_sync" if first_link else "unchanged")
        actions.append(
            PlannedAction(
                Action.SKIP,
                source_id,
                target_id,
                reason=reason,
                groups=tuple(blocked),
                link=first_link,
                source_hashes=new_source,
                target_hashes=new_target,
            )
        )
    return actions


def _records_by_id(frame: pd.DataFrame, id_column: str) -> dict[str, dict[str, Any]]:
    return {str(r[id_column]): r for r in frame.to_dict("records")}


def plan_sync(
    source: pd.DataFrame,
    target: pd.DataFrame,
    matches: pd.DataFrame,
    links: pd.DataFrame,
    policy: SyncPolicy,
    *,
    source_id_column: str = "source_id",
    target_id_column: str = "target_id",
    same_value: SameValue | None = None,
    rebuilt_by: Collection[str] = (),
) -> Plan:
    """The plan for one flow run; see the module docstring for the rules.

    ``rebuilt_by``: identifiers (``matched_by`` names) that only the sync's own earlier write can
    explain, so a pair matched by one of them is a rebuilt link, not a first match.

    ``matches`` is :func:`qbo_intacct.flows.matching.match_records` output (after finance's
    decisions); source rows missing from it were ignored by a decision and are skipped.
    ``links`` has ``source_id``, ``target_id``, ``source_hashes``, ``target_hashes``.
    """
    sources = _records_by_id(source, source_id_column)
    targets = _records_by_id(target, target_id_column)
    last: dict[str, tuple[Mapping[str, str] | None, Mapping[str, str] | None]] = {}
    if links is not None and not links.empty:
        for r in links.to_dict("records"):
            last[str(r["source_id"])] = (r.get("source_hashes"), r.get("target_hashes"))

    actions: list[PlannedAction] = []
    touched_targets: set[str] = set()
    matched = {str(r["source_id"]): r for r in matches.to_dict("records")}
    for sid, source_row in sources.items():
        m = matched.get(sid)
        if m is None:
            actions.append(PlannedAction(Action.SKIP, sid, None, reason="ignored_by_decision"))
            continue
        outcome = MatchOutcome(m["outcome"])
        candidates = tuple(m.get("candidates") or ())
        touched_targets.update(candidates)
        if outcome in (MatchOutcome.LINKED, MatchOutcome.MATCH):
            tid = str(m["target_id"])
            touched_targets.add(tid)
            target_row = targets.get(tid)
            if target_row is None:
                actions.append(
                    PlannedAction(Action.REVIEW, sid, tid, reason="linked_target_missing", candidates=(tid,))
                )
                continue
            last_source, last_target = last.get(sid, (None, None))
            by = set(str(m.get("matched_by") or "").split("+"))
            actions += _plan_pair(
                sid,
                tid,
                source_row,
                target_row,
                last_source,
                last_target,
                policy,
                first_link=outcome is MatchOutcome.MATCH,
                rebuilt=outcome is MatchOutcome.MATCH and bool(by & set(rebuilt_by)),
                same=same_value,
            )
        elif outcome is MatchOutcome.CANDIDATES:
            actions.append(
                PlannedAction(
                    Action.REVIEW, sid, None, reason=str(m.get("reason") or "candidates"), candidates=candidates
                )
            )
        elif policy.direction.allows(Side.TARGET):
            actions.append(_create(source_row, policy, sid, None, write_to=Side.TARGET))
        else:
            actions.append(PlannedAction(Action.SKIP, sid, None, reason="one_way_direction"))

    if policy.direction.allows(Side.SOURCE):
        linked_targets = {str(t) for t in links["target_id"]} if links is not None and not links.empty else set()
        for tid, target_row in targets.items():
            if tid in touched_targets or tid in linked_targets:
                continue
            actions.append(_create(target_row, policy, None, tid, write_to=Side.SOURCE))
    return Plan(actions)


def _create(
    row: Mapping[str, Any], policy: SyncPolicy, source_id: str | None, target_id: str | None, *, write_to: Side
) -> PlannedAction:
    """Create ``row`` on the other side with every field group: the diff lists each field that gets a
    value, and both sides' hashes are the row's, since after the write they hold the same values."""
    hashes = group_hashes(row, policy.field_groups)
    diffs = tuple(
        FieldDiff(f, g, None, row.get(f))
        for g, fields in policy.field_groups.items()
        for f in fields
        if not values_equal(row.get(f), None)
    )
    return PlannedAction(
        Action.CREATE,
        source_id,
        target_id,
        write_to=write_to,
        groups=tuple(policy.field_groups),
        diffs=diffs,
        link=True,
        source_hashes=hashes,
        target_hashes=hashes,
    )
