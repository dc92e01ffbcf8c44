"""The customers flow's task bodies: scope, map + validate, match, plan, record, report.

The accounting (fields, keys, names) is in :mod:`qbo_intacct.flows.customers`; the shared run
shape in :mod:`qbo_intacct.flows.runtime`. What this module decides, for a finance reader:

- **Matching before creating.** A QuickBooks customer without a link is looked for in Intacct by
  stored reference or the CUSTOMERID the sync would have given it (decisive), then by tax ID and
  email (one unlinked hit: link and update), then by name (never decisive: a review item).
- **Duplicates are held, not created.** Two customers of the same system that share a tax ID or
  email (one company keyed twice) are both held for review, listing each other, until finance
  decides in the workbook's Record Links table or in the review DAG (Create new / Ignore / Link).
  The same holds for an Intacct customer that would be created in QuickBooks while a QuickBooks
  customer already has its tax ID or email.
- **Held for review, never written:** unmapped terms, disabled currencies, failed checks, edits on
  both sides with no system of record, and any write a system refused (its message is in the item).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from qbo_intacct.flows import customers as cust
from qbo_intacct.flows.matching import MatchOutcome, StrongId, apply_decisions, match_records
from qbo_intacct.flows.planning import Action, Plan, PlannedAction, Side
from qbo_intacct.flows.review import (
    SYSTEM_CODES,
    RecordBook,
    decisions_for,
    describe_drafts,
    drafts_from_plan,
    drafts_from_validation,
    item_line,
    sync_policy,
)
from qbo_intacct.flows.runtime import (
    content_key,
    hold,
    plan_from_frame,
    stage,
    staged_records,
    writes_frame,
)
from qbo_intacct.flows.staging import read_staged
from qbo_intacct.flows.summary import RunSummary
from qbo_intacct.ledger.repository import Ledger, LinkRecord, ReviewDraft, ReviewStatus
from qbo_intacct.mappings.loader import MappingWorkbook

log = logging.getLogger(__name__)

FLOW = cust.FLOW
KEY_IDS = tuple(s for s in cust.STRONG_IDS if s.name in ("stored_reference", "derived_customer_id"))
DATA_IDS = tuple(s for s in cust.STRONG_IDS if s.name not in ("stored_reference", "derived_customer_id"))


# ------------------------------------------------------------------------------------ scope


def scope(
    qbo_changed: Mapping[str, Any],
    intacct_changed: Mapping[str, Any],
    window: Mapping[str, Any],
    ledger: Ledger,
    mappings: MappingWorkbook | None = None,
) -> dict[str, Any]:
    """Which other records to read besides the changed ones: ids, ``"all"``, or nothing.

    Besides the partners of changed records, every record with an open review item, a decision
    not applied yet, or a Record Links row is read again, so finance's answers (and workbook fixes
    such as an enabled currency) take effect on the next run even if nobody edits the record.
    """
    if window.get("start") is None:
        return {"qbo_ids": [], "intacct_ids": []}
    staged_qbo = {str(r["Id"]) for r in staged_records(qbo_changed)}
    staged_intacct = {str(r["CUSTOMERID"]) for r in staged_records(intacct_changed)}
    qbo_ids, intacct_ids = set(staged_qbo), set(staged_intacct)
    pending = [*ledger.review_items(FLOW, ReviewStatus.OPEN), *ledger.pending_decisions(FLOW)]
    for item in pending:
        (qbo_ids if item.record_system == "qbo" else intacct_ids).add(item.record_id)
    for link in mappings.links_for(FLOW) if mappings is not None else ():
        (qbo_ids if SYSTEM_CODES.get(link.source_system) == "qbo" else intacct_ids).add(link.source_id)
    links = ledger.links(FLOW)
    target_of = {link.source_id: link.target_id for link in links}
    source_of = {link.target_id: link.source_id for link in links}
    need_intacct: set[str] | str = ({target_of[q] for q in qbo_ids if q in target_of} | intacct_ids) - staged_intacct
    need_qbo: set[str] | str = ({source_of[i] for i in intacct_ids if i in source_of} | qbo_ids) - staged_qbo
    if any(q not in target_of for q in qbo_ids):
        need_intacct = "all"
    if any(i not in source_of for i in intacct_ids):
        need_qbo = "all"
    log.info(
        "in scope: %d QuickBooks and %d Intacct customers changed; partners to read: QuickBooks %s, Intacct %s",
        len(qbo_ids),
        len(intacct_ids),
        need_qbo if isinstance(need_qbo, str) else len(need_qbo),
        need_intacct if isinstance(need_intacct, str) else len(need_intacct),
    )
    return {
        "qbo_ids": need_qbo if isinstance(need_qbo, str) else sorted(need_qbo),
        "intacct_ids": need_intacct if isinstance(need_intacct, str) else sorted(need_intacct),
    }


# ------------------------------------------------------------------------------------ map + validate


def _merge(*staged: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in staged:
        for record in staged_records(item):
            key = str(record.get("Id") or record.get("CUSTOMERID"))
            out[key] = record
    return list(out.values())


def map_and_validate(
    *,
    run_id: str,
    mappings: MappingWorkbook,
    customer_id_pattern: str,
    qbo: Sequence[Mapping[str, Any] | None],
    intacct: Sequence[Mapping[str, Any] | None],
    qbo_terms: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Both sides in the shared vocabulary; rows failing a check are marked held with the check's name."""
    from qbo_intacct.validation import checks
    from qbo_intacct.validation.runner import validate_frame

    terms = cust.TermLookup.build(staged_records(qbo_terms), mappings)
    source = cust.qbo_frame(_merge(*qbo), terms, customer_id_pattern=customer_id_pattern)
    target = cust.intacct_frame(_merge(*intacct))
    enabled = mappings.enabled_currencies
    failures: list[dict[str, Any]] = []
    for frame, key, system in ((source, "source_id", "qbo"), (target, "target_id", "intacct")):
        outcome = validate_frame(
            frame,
            [*checks.keys_present_and_unique(key), checks.currency_in_set("currency", enabled)],
            key,
            name=f"customers_{system}",
            required_columns=cust.SHARED_FIELDS,
        )
        for draft in drafts_from_validation(FLOW, outcome, record_system=system):
            failures.append({"system": system, "record_id": draft.record_id, "reason_code": draft.reason_code,
                             "detail": draft.detail, "fingerprint": draft.fingerprint})  # fmt: skip
        failed = outcome.failed_keys
        if failed:
            held = frame[key].astype(str).isin(failed)
            frame.loc[held, "hold_reason"] = [
                ";".join(filter(None, [str(h) if isinstance(h, str) else "", "failed_check"]))
                for h in frame.loc[held, "hold_reason"]
            ]
    failures_frame = pd.DataFrame(failures, columns=["system", "record_id", "reason_code", "detail", "fingerprint"])
    return {
        "source": stage(source, flow=FLOW, run_id=run_id, name="mapped_qbo"),
        "target": stage(target, flow=FLOW, run_id=run_id, name="mapped_intacct"),
        "failures": stage(failures_frame, flow=FLOW, run_id=run_id, name="validation_failures"),
    }


# ------------------------------------------------------------------------------------ match


def _duplicate_groups(frame: pd.DataFrame, id_column: str) -> dict[str, list[str]]:
    """Record id -> other ids of the same system sharing a tax ID or email with it."""
    by_value: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in frame.to_dict("records"):
        for name, normalize in cust.DUPLICATE_IDS:
            value = normalize(record.get(name))
            if value:
                by_value[(name, value)].append(str(record[id_column]))
    others: dict[str, set[str]] = defaultdict(set)
    for ids in by_value.values():
        if len(ids) > 1:
            for rid in ids:
                others[rid].update(i for i in ids if i != rid)
    return {rid: sorted(ids) for rid, ids in others.items()}


def match(
    source: pd.DataFrame,
    target: pd.DataFrame,
    links: pd.DataFrame,
    decisions: Mapping[str, tuple[str, str | None]],
) -> pd.DataFrame:
    """Match outcomes per QuickBooks customer (see the module docstring), finance's decisions applied."""
    first = match_records(source, target, links, strong_ids=KEY_IDS)
    keyed = first[first["outcome"] == MatchOutcome.MATCH]
    settled = first[first["outcome"].isin([MatchOutcome.LINKED, MatchOutcome.MATCH])]
    rest = source[~source["source_id"].astype(str).isin(set(settled["source_id"]))]
    claimed = pd.concat(
        [links[["source_id", "target_id"]] if not links.empty else None, keyed[["source_id", "target_id"]]],
        ignore_index=True,
    )
    second = match_records(rest, target, claimed, strong_ids=DATA_IDS, name_columns=("name", "name"))
    duplicates = _duplicate_groups(source, "source_id")
    settled_ids = set(settled["source_id"])
    for i, row in second.iterrows():
        others = [o for o in duplicates.get(str(row["source_id"]), []) if o not in settled_ids]
        if others and row["outcome"] == MatchOutcome.NONE:
            second.at[i, "outcome"] = MatchOutcome.CANDIDATES
            second.at[i, "candidates"] = [f"qbo:{o}" for o in others]
            second.at[i, "reason"] = "duplicate_in_source"
    # Finance's decisions apply to what matching could not settle: a link or a key the sync itself
    # wrote (e.g. QB-31 for QuickBooks 31) already says which record is which.
    second = apply_decisions(second, decisions)
    return pd.concat([settled, second], ignore_index=True)


# ------------------------------------------------------------------------------------ plan


def _target_holds(
    plan: Plan, source: pd.DataFrame, target: pd.DataFrame, target_decisions: Mapping[str, tuple[str, str | None]]
) -> Plan:
    """Hold QuickBooks creates of Intacct customers that look like one already in QuickBooks (or each other)."""
    duplicates = _duplicate_groups(target, "target_id")
    creating = [a.target_id for a in plan.actions if a.action is Action.CREATE and a.write_to is Side.SOURCE]
    creating_frame = target[target["target_id"].astype(str).isin({str(t) for t in creating})]
    reverse = match_records(
        creating_frame.rename(columns={"target_id": "rid"}).assign(source_id=lambda f: f["rid"]),
        source.assign(target_id=source["source_id"]),
        None,
        strong_ids=[StrongId(s.name, s.target_column, s.target_column, s.normalize) for s in DATA_IDS],
        name_columns=("name", "name"),
    )
    hits = {str(r["source_id"]): r for r in reverse.to_dict("records")}
    actions: list[PlannedAction] = []
    for action in plan.actions:
        if action.action is Action.CREATE and action.write_to is Side.SOURCE:
            tid = str(action.target_id)
            decision = target_decisions.get(tid)
            if decision and decision[0] == "ignore":
                actions.append(PlannedAction(Action.SKIP, None, tid, reason="ignored_by_decision"))
                continue
            if not decision or decision[0] != "create":
                hit = hits.get(tid)
                if hit is not None and hit["outcome"] != MatchOutcome.NONE:
                    reason = "matches_quickbooks_customer" if hit["outcome"] == MatchOutcome.MATCH else "name_only"
                    actions.append(hold(action, reason, candidates=[f"qbo:{c}" for c in hit["candidates"]]))
                    continue
                if duplicates.get(tid):
                    actions.append(
                        hold(action, "duplicate_in_target", candidates=[f"intacct:{o}" for o in duplicates[tid]])
                    )
                    continue
        actions.append(action)
    return Plan(actions)


def _held_reasons(frame: pd.DataFrame, id_column: str) -> dict[str, str]:
    return {
        str(r[id_column]): str(r["hold_reason"])
        for r in frame.to_dict("records")
        if isinstance(r["hold_reason"], str) and r["hold_reason"]
    }


def plan(
    *,
    run_id: str,
    mappings: MappingWorkbook,
    source: pd.DataFrame,
    target: pd.DataFrame,
    matches: pd.DataFrame,
    links: pd.DataFrame,
    target_decisions: Mapping[str, tuple[str, str | None]],
    qbo_terms: list[dict[str, Any]],
    names_in_use: Sequence[str],
    customer_id_pattern: str,
    dry_run: bool,
) -> dict[str, Any]:
    """The plan (staged with field-level diffs) and the write lists for both systems (empty in a dry run)."""
    from qbo_intacct.flows.planning import plan_sync

    policy = sync_policy(mappings, FLOW, cust.FIELD_GROUPS)
    if policy is None:
        log.info("the customers flow is disabled on the workbook's Flow Settings sheet; nothing to do")
        result = Plan([])
    else:
        result = plan_sync(source, target, matches, links, policy)
        result = _target_holds(result, source, target, target_decisions)
    held_source = _held_reasons(source, "source_id")
    held_target = _held_reasons(target, "target_id")
    terms = cust.TermLookup.build(qbo_terms, mappings)
    sources = {str(r["source_id"]): _clean(r) for r in source.to_dict("records")}
    targets = {str(r["target_id"]): _clean(r) for r in target.to_dict("records")}
    names = set(names_in_use)
    actions: list[PlannedAction] = []
    intacct_writes: list[dict[str, Any]] = []
    qbo_writes: list[dict[str, Any]] = []
    for action in result.actions:
        if action.action in (Action.CREATE, Action.UPDATE):
            reason = None
            if action.write_to is Side.TARGET and action.source_id in held_source:
                reason = held_source[action.source_id]
            if action.write_to is Side.SOURCE and action.target_id in held_target:
                reason = held_target[action.target_id]
            if reason:
                actions.append(hold(action, reason.split(";")[0]))
                continue
            try:
                write = _write_for(action, sources, targets, terms, names, customer_id_pattern)
            except cust.CustomerMappingError as exc:
                log.warning("held for review: %s", exc)
                actions.append(hold(action, "cannot_map"))
                continue
            (intacct_writes if action.write_to is Side.TARGET else qbo_writes).append(
                {**write, "write_key": str(len(actions))}
            )
        actions.append(action)
    final = Plan(actions)
    if dry_run:
        intacct_writes, qbo_writes = [], []
    counts = final.counts()
    log.info("plan: %s; writes: Intacct %d, QuickBooks %d", counts, len(intacct_writes), len(qbo_writes))
    return {
        "plan": stage(final.frame(), flow=FLOW, run_id=run_id, name="plan"),
        "intacct_writes": stage(writes_frame(intacct_writes), flow=FLOW, run_id=run_id, name="intacct_writes"),
        "qbo_writes": stage(writes_frame(qbo_writes), flow=FLOW, run_id=run_id, name="qbo_writes"),
        "counts": counts,
    }


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    """A staged row with every empty value (NaN, NA, None) as ``None``."""
    return {k: (None if not isinstance(v, (list, dict, str)) and pd.isna(v) else v) for k, v in row.items()}


def _write_for(
    action: PlannedAction,
    sources: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, Mapping[str, Any]],
    terms: cust.TermLookup,
    names: set[str],
    customer_id_pattern: str,
) -> dict[str, Any]:
    if action.write_to is Side.TARGET:
        values = sources[str(action.source_id)]
        if action.action is Action.CREATE:
            customer_id = cust.derive_customer_id(str(action.source_id), customer_id_pattern)
            body = cust.intacct_body(values, customer_id=customer_id, groups=cust.FIELD_GROUPS)
            key = f"customers:create:intacct:{customer_id}:{content_key(body)}"
            return {"operation": "create", "object": cust.INTACCT_OBJECT, "record_key": customer_id, "entity": "",
                    "body": body, "idempotency_key": key}  # fmt: skip
        current = targets[str(action.target_id)]
        body = cust.intacct_body(values, customer_id=str(action.target_id), groups=action.groups)
        key = f"customers:update:intacct:{action.target_id}:{content_key(body)}"
        return {"operation": "update", "object": cust.INTACCT_OBJECT, "record_key": str(action.target_id),
                "entity": current.get("entity") or "", "body": body, "idempotency_key": key}  # fmt: skip
    values = targets[str(action.target_id)]
    if action.action is Action.CREATE:
        display = cust.qbo_display_name(str(values.get("name") or ""), str(action.target_id), names)
        names.add(display)
        body = cust.qbo_body(values, groups=cust.FIELD_GROUPS, terms=terms, record=str(action.target_id),
                             display_name=display, intacct_customer_id=str(action.target_id))  # fmt: skip
        key = f"customers:create:qbo:{action.target_id}:{content_key(body)}"
        return {"operation": "create", "object": cust.QBO_ENTITY, "record_key": str(action.target_id), "entity": "",
                "body": body, "idempotency_key": key}  # fmt: skip
    current = sources[str(action.source_id)]
    display = None
    if "identity" in action.groups:
        others = names - {str(current.get("name") or "")}
        display = cust.qbo_display_name(str(values.get("name") or ""), str(action.target_id), others)
    body = cust.qbo_body(values, groups=action.groups, terms=terms, record=str(action.source_id), display_name=display,
                         qbo_id=str(action.source_id), sync_token=current.get("sync_token"))  # fmt: skip
    key = f"customers:update:qbo:{action.source_id}:{current.get('sync_token')}:{content_key(body)}"
    return {"operation": "update", "object": cust.QBO_ENTITY, "record_key": str(action.source_id), "entity": "",
            "body": body, "idempotency_key": key}  # fmt: skip


# ------------------------------------------------------------------------------------ record


def _results(staged: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not staged or not staged.get("path"):
        return {}
    return {str(r["write_key"]): r for r in read_staged(staged).to_dict("records")}


def record(
    *,
    run_id: str,
    ledger: Ledger,
    plan_staged: Mapping[str, Any],
    intacct_results: Mapping[str, Any] | None,
    qbo_results: Mapping[str, Any] | None,
    failures_staged: Mapping[str, Any],
    source_rows: int,
    target_rows: int,
    window_end: str,
    dry_run: bool,
    customer_id_pattern: str,
    terms: cust.TermLookup,
    source_staged: Mapping[str, Any] | None = None,
    target_staged: Mapping[str, Any] | None = None,
    mappings: MappingWorkbook | None = None,
) -> RunSummary:
    """Store links (with the hashes of what was written), open review items, record the run.

    With the mapped frames (``source_staged`` / ``target_staged``) every review item names the
    customer and its candidates as finance knows them, and the log lists each held customer.
    """
    plan_ = plan_from_frame(read_staged(plan_staged))
    results = {**_results(intacct_results), **_results(qbo_results)}
    summary = RunSummary.from_plan(FLOW, run_id, plan_, read=source_rows + target_rows, dry_run=dry_run)
    if dry_run:
        ledger.record_run(summary.as_run_stats("dry_run"))
        return summary

    links: list[LinkRecord] = []
    drafts: list[ReviewDraft] = []
    failed = 0
    for index, action in enumerate(plan_.actions):
        result = results.get(str(index))
        if action.action in (Action.CREATE, Action.UPDATE):
            if result is None or result["status"] != "ok":
                failed += 1
                system = "intacct" if action.write_to is Side.TARGET else "qbo"
                code = (result or {}).get("error_code") or "not_sent"
                record_system, record_id = (
                    ("qbo", action.source_id) if action.source_id else ("intacct", action.target_id)
                )
                drafts.append(ReviewDraft(FLOW, record_system, str(record_id or ""),
                                          f"write_failed:{system}", (result or {}).get("error") or "not written",
                                          fingerprint=str(code)))  # fmt: skip
                continue
            source_id, target_id = action.source_id, action.target_id
            source_hashes, target_hashes = action.source_hashes, action.target_hashes
            if action.write_to is Side.SOURCE:
                written = cust.qbo_customer_row(result["record"], terms, customer_id_pattern=customer_id_pattern)
                source_id = str(result["new_id"])
                source_hashes = _hashes(written)
            else:
                target_id = target_id or str(result["new_id"])
            origin = None
            if action.action is Action.CREATE:
                origin = "qbo" if action.write_to is Side.TARGET else "intacct"
            links.append(
                LinkRecord(FLOW, "qbo", str(source_id), "intacct", str(target_id), target_key=str(target_id),
                           source_hashes=source_hashes, target_hashes=target_hashes, origin=origin, run_id=run_id)
            )  # fmt: skip
        elif action.action is Action.SKIP and action.link and action.source_id and action.target_id:
            links.append(
                LinkRecord(FLOW, "qbo", action.source_id, "intacct", action.target_id, target_key=action.target_id,
                           source_hashes=action.source_hashes, target_hashes=action.target_hashes, run_id=run_id)
            )  # fmt: skip
        elif action.action is Action.REVIEW and not action.source_id and action.target_id:
            drafts.append(
                ReviewDraft(FLOW, "intacct", action.target_id, action.reason or "candidates",
                            f"held: {action.reason}; candidates: {', '.join(action.candidates) or 'none'}",
                            candidates=list(action.candidates))
            )  # fmt: skip
    # A record held by a failed check already has the validation item that names the check.
    drafts += [
        d for d in drafts_from_plan(FLOW, plan_) if d.record_id not in ("None", "") and d.reason_code != "failed_check"
    ]
    for row in read_staged(failures_staged).to_dict("records"):
        drafts.append(ReviewDraft(FLOW, row["system"], row["record_id"], row["reason_code"], row["detail"],
                                  fingerprint=row["fingerprint"] or ""))  # fmt: skip

    if source_staged is not None or target_staged is not None:
        book = RecordBook.from_frames(
            read_staged(source_staged) if source_staged else None,
            read_staged(target_staged) if target_staged else None,
            noun="customer",
        )
        drafts = describe_drafts(drafts, book, mappings=mappings)
    ledger.upsert_links(links, relink=True)
    opened = [ledger.open_review_item(d, run_id=run_id) for d in drafts]
    held = [i for i in opened if i.status is ReviewStatus.OPEN]
    if held:
        log.info("%d customer(s) held for review:", len(held))
        for item in held:
            log.info("  %s", item_line(item))
    applied = [
        item.id
        for item in ledger.pending_decisions(FLOW)
        if item.record_id
        in {str(a.source_id) for a in plan_.actions if a.action is not Action.REVIEW}
        | {str(a.target_id) for a in plan_.actions if a.action is not Action.REVIEW and not a.source_id}
    ]
    ledger.mark_applied(applied, run_id)
    summary.failed = failed
    summary.created -= sum(
        1
        for i, a in enumerate(plan_.actions)
        if a.action is Action.CREATE and results.get(str(i), {}).get("status") != "ok"
    )
    summary.updated -= sum(
        1
        for i, a in enumerate(plan_.actions)
        if a.action is Action.UPDATE and results.get(str(i), {}).get("status") != "ok"
    )
    open_items = sum(1 for i in opened if i.status is ReviewStatus.OPEN)
    stats = summary.as_run_stats("success")
    ledger.record_run(
        replace(
            stats,
            detail={
                **stats.detail,
                "window_end": window_end,
                "open_review_items": open_items,
                "target_rows": target_rows,
                "source_rows": source_rows,
            },
        )
    )
    return summary


def _hashes(row: Mapping[str, Any]) -> dict[str, str]:
    from qbo_intacct.flows.hashing import group_hashes

    return group_hashes(row, cust.FIELD_GROUPS)


def resolve_workbook_decisions(ledger: Ledger, mappings: MappingWorkbook) -> int:
    """Mark open review items that finance decided in the workbook's Record Links table as resolved."""
    count = 0
    for link in mappings.links_for(FLOW):
        system = SYSTEM_CODES.get(link.source_system, "qbo")
        decision = {"Link": "link", "Create new": "create", "Ignore": "ignore"}[link.decision.value]
        count += len(
            ledger.resolve_record(FLOW, system, link.source_id, decision=decision, by=link.decided_by or "workbook",
                                  target_id=link.target_id, note="Record Links row in the mapping workbook")
        )  # fmt: skip
    return count


def decisions(ledger: Ledger, mappings: MappingWorkbook, system: str) -> dict[str, tuple[str, str | None]]:
    resolved = [i for i in ledger.review_items(FLOW) if i.status is not ReviewStatus.OPEN]
    return decisions_for(FLOW, mappings.links_for(FLOW), resolved, source_system=system)
