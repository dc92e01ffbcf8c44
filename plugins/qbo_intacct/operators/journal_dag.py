"""The journal entries DAG (``qbo_intacct_journal_entries``): QuickBooks JournalEntry -> Intacct GLBATCH.

Why not :func:`qbo_intacct.operators.sync_dag.build_sync_dag`: the engine it runs is a two-way
master-data sync. Its steps find each record's partner on the other side (links, keys, tax IDs,
names), diff field groups and copy edits either way. A journal entry has no partner to find: it
flows one way, its Intacct side is a *set of batches* (one per entry, or a share of a period's
summary), and an edit is never an update but a reversal and a new batch, or an adjusting batch for
the difference. So this DAG is a slim path of its own that reuses the engine's pieces: the window
and staging (:mod:`qbo_intacct.flows.runtime`), the extract and load operators (QuickBooks reads,
Intacct multi-function writes with controlid idempotency), the ledger (links hold, per entry, what
the GL should hold and what it holds; review items; run rows), review drafts and run summaries.
The accounting is in :mod:`qbo_intacct.flows.journal_entries`; this module only reads, stages and
records.

Tasks::

    prepare -> extract_qbo_journal_entries -> scope -> extract_qbo_held_entries,
               extract_qbo_accounts, extract_qbo_classes, extract_qbo_departments,
               extract_intacct_gl_accounts, extract_intacct_entities
            -> plan -> load_intacct -> record -> tie_out -> report

The lookups are read only when something is in scope (``ids`` = ``"all"`` or nothing), so an
unchanged run reads its window and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, get_current_context, task

from qbo_intacct.operators._dag_args import default_args, sync_params
from qbo_intacct.operators.extract import IntacctExtractOperator, QuickBooksExtractOperator
from qbo_intacct.operators.load import IntacctUpsertOperator

log = logging.getLogger(__name__)

FLOW = "journal_entries"
DAG_ID = f"qbo_intacct_{FLOW}"
#: QuickBooks CDC looks back 30 days; an older window reads every entry (deletes = ledger minus read).
CDC_DAYS = 29


def flow_schedule(default: str = "@daily") -> str | None:
    """``QBO_INTACCT_JOURNAL_ENTRIES_SCHEDULE`` (cron, or ``none``), else daily (the issue's default)."""
    import os

    value = os.environ.get("QBO_INTACCT_JOURNAL_ENTRIES_SCHEDULE", default)
    return None if value.strip().lower() in ("", "none") else value


# ------------------------------------------------------------------------------------ task bodies


def _publish_usage(context: Mapping[str, Any], before: Any) -> None:
    """What a @task body spent on the APIs, as its ``api_calls`` XCom (the operators' mixin does the
    same), so the run summary's cost line counts the scope's CDC and the tie-out's reads too."""
    from qbo_intacct.hooks import usage

    spent = usage.since(before or {})
    if spent and context.get("ti") is not None:
        context["ti"].xcom_push(key=usage.XCOM_KEY, value=spent)


def prepare_step(context: Mapping[str, Any]) -> dict[str, Any]:
    """Check the workbook (a broken one fails here) and fix the window; a window older than CDC's
    reach is a full read, so deletes are still seen (as entries the ledger knows and QuickBooks lacks)."""
    from airflow.sdk.exceptions import AirflowFailException

    from qbo_intacct.flows.engine import DEFAULT_OVERLAP, load_workbook_mappings, open_ledger
    from qbo_intacct.flows.runtime import Window, compute_window, last_window_end
    from qbo_intacct.mappings.loader import report_gaps
    from qbo_intacct.mappings.validate import MappingWorkbookError

    try:
        mappings = load_workbook_mappings()
    except MappingWorkbookError as exc:
        raise AirflowFailException(str(exc)) from None
    report_gaps(mappings, log)
    if not mappings.journal_settings:
        log.warning("the workbook's Journals sheet is empty: every journal entry will be held (no journal)")
    params = context.get("params") or {}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    window = compute_window(
        last_window_end(open_ledger().engine, FLOW),
        now=now,
        data_interval_start=context.get("data_interval_start"),
        overlap=DEFAULT_OVERLAP,
        full_refresh=bool(params.get("full_refresh")),
    )
    if window.start is not None and now - window.start > dt.timedelta(days=CDC_DAYS):
        window = Window(None, now)
    setting = mappings.flow(FLOW)
    log.info(
        "journal entries run: window %s -> %s; dry run %s",
        window.start.isoformat() if window.start else "(everything)",
        window.end.isoformat(),
        bool(params.get("dry_run")),
    )
    return {
        "window": window.as_xcom(),
        "dry_run": bool(params.get("dry_run")),
        "enabled": bool(setting is None or setting.enabled),
        "today": now.date().isoformat(),
    }


def scope_step(context: Mapping[str, Any], run: Mapping[str, Any], changed: Mapping[str, Any]) -> dict[str, Any]:
    """Besides the entries changed in the window: the held ones (read again so a workbook fix posts
    them), the deleted ones (CDC, or ledger minus a full read) and whether the lookups are needed."""
    from qbo_intacct.flows.engine import open_ledger
    from qbo_intacct.flows.journal_entries import state_from_link
    from qbo_intacct.flows.runtime import Window, stage_records, staged_records
    from qbo_intacct.hooks.quickbooks import QuickBooksHook
    from qbo_intacct.ledger.repository import ReviewStatus

    ledger = open_ledger()
    window = Window.from_xcom(run["window"])
    read = {str(r["Id"]) for r in staged_records(changed)}
    states = {link.source_id: state_from_link(link) for link in ledger.links(FLOW)}
    held = sorted({i.record_id for i in ledger.review_items(FLOW, ReviewStatus.OPEN)} - read)
    deleted: list[dict[str, Any]] = []
    if window.start is None:
        gone = [s for i, s in states.items() if i not in read and not s.deleted]
    else:
        hook = QuickBooksHook()
        try:
            changes = hook.cdc(["JournalEntry"], window.start).get("JournalEntry", [])
        except Exception as exc:  # a truncated CDC answer: fall back to every Id (a missed delete is a wrong GL)
            log.warning("CDC could not list deletions (%s); reading every journal entry Id instead", exc)
            ids = {str(r["Id"]) for r in hook.iter_query("JournalEntry")}
            changes = [{"Id": i, "status": "Deleted"} for i, s in states.items() if i not in ids and not s.deleted]
        gone = [states.get(str(c["Id"])) for c in changes if str(c.get("status", "")).lower() == "deleted"]
        gone = [s for s in gone if s is not None and not s.deleted]
    for state in gone:
        deleted.append({"Id": state.entry_id, "status": "Deleted", "TxnDate": state.date, "DocNumber": state.number})
    pending = any(s.mode == "Summarized" and s.want != s.posted_lines for s in states.values())
    lookups = "all" if (read or held or deleted or pending) else []
    staged = stage_records(deleted, id_field="Id", flow=FLOW, run_id=context["run_id"], name="qbo_deleted_entries")
    log.info(
        "in scope: %d changed, %d held for review, %d deleted in QuickBooks; lookups %s",
        len(read), len(held), len(deleted), "read" if lookups else "not needed",
    )  # fmt: skip
    return {"held_ids": held, "lookups": lookups, "deleted": staged}


def _records(staged: Any) -> list[dict[str, Any]]:
    """Records of a staged extract (``{"path", "rows"}``)."""
    from qbo_intacct.flows.runtime import staged_records

    return staged_records(staged)


def build_context(lookups: Mapping[str, Any], mappings: Any) -> Any:
    """The mapping context from the staged lookups the extract tasks wrote."""
    return _context_from_records({k: _records(v) for k, v in lookups.items()}, mappings)


def _context_from_records(lookups: Mapping[str, list[dict[str, Any]]], mappings: Any) -> Any:
    from qbo_intacct.flows.journal_entries import JournalContext

    def _records(records: Any) -> list[dict[str, Any]]:
        return list(records or [])

    accounts = {str(r["Id"]): r for r in _records(lookups.get("Account"))}
    return JournalContext(
        mappings=mappings,
        accounts=accounts,
        classes={
            str(r["Id"]): str(r.get("FullyQualifiedName") or r.get("Name")) for r in _records(lookups.get("Class"))
        },
        departments={
            str(r["Id"]): str(r.get("FullyQualifiedName") or r.get("Name")) for r in _records(lookups.get("Department"))
        },
        closed_accounts=frozenset(
            str(r["ACCOUNTNO"])
            for r in _records(lookups.get("GLACCOUNT"))
            if str(r.get("SUBLEDGERCONTROLON", "")).lower() in ("true", "t", "1")
        ),
        base_currency={str(r["LOCATIONID"]): str(r.get("CURRENCY") or "USD") for r in _records(lookups.get("ENTITY"))},
        home_currency="USD",
    )


def map_records(records: list[dict[str, Any]], ctx: Any) -> tuple[list[Any], list[Any]]:
    from qbo_intacct.flows.journal_entries import Entry, Hold, map_entry

    entries, holds = [], []
    for record in records:
        if str(record.get("status", "")).lower() == "deleted":
            entries.append(
                Entry(str(record["Id"]), str(record.get("DocNumber") or ""), dt.date.fromisoformat(record["TxnDate"]),
                      "", (), deleted=True)
            )  # fmt: skip
            continue
        mapped = map_entry(record, ctx)
        (holds if isinstance(mapped, Hold) else entries).append(mapped)
    return entries, holds


def plan_step(
    context: Mapping[str, Any], run: Mapping[str, Any], sources: list[Any], scope: Mapping[str, Any], lookups: dict
) -> dict[str, Any]:
    """Map what was read, plan the batches, stage the writes (none on a dry run) and the plan."""
    import pandas as pd

    from qbo_intacct.flows.engine import load_workbook_mappings, open_ledger
    from qbo_intacct.flows.journal_entries import batch_body, plan_journal, state_from_link
    from qbo_intacct.flows.runtime import stage, writes_frame

    mappings = load_workbook_mappings()
    ledger = open_ledger()
    records: dict[str, dict[str, Any]] = {}
    for staged in [*sources, scope["deleted"]]:
        for record in _records(staged):
            records[str(record["Id"])] = record
    states = {link.source_id: state_from_link(link) for link in ledger.links(FLOW)}
    entries, holds = map_records(list(records.values()), build_context(lookups, mappings)) if records else ([], [])
    plan = plan_journal(entries, states, mappings, today=dt.date.fromisoformat(run["today"]))
    if not run["enabled"]:
        log.warning("journal_entries is disabled on the workbook's Flow Settings sheet: nothing is posted")
        plan.batches, plan.effects = [], []
    writes = [
        {"write_key": b.key, "operation": "create", "object": "GLBATCH", "record_key": b.key, "entity": b.entity,
         "body": batch_body(b), "idempotency_key": f"{FLOW}:{b.key}", "reveal": None}
        for b in plan.batches
    ]  # fmt: skip
    for b in plan.batches:
        log.info("plan: %s batch %s, %s, %s, %d line(s), entries %s", b.kind, b.reference, b.entity, b.date,
                 len(b.lines), ", ".join(b.members[:10]))  # fmt: skip
    for h in holds:
        log.warning("held for review: journal entry %s (Id %s): %s", h.number, h.entry_id, h.detail)
    detail = {
        "batches": [{"key": b.key, "kind": b.kind, "entity": b.entity, "date": b.date, "reference": b.reference,
                     "members": b.members, "lines": [x.as_json() for x in b.lines]} for b in plan.batches],
        "states": {k: _state_json(s) for k, s in plan.states.items()},
        "effects": [e.as_json() for e in plan.effects],
        "holds": [{**h.__dict__, "amount": str(h.amount)} for h in holds],
        "entries": [{"id": e.id, "date": e.date.isoformat(), "lines": [x.as_json() for x in e.lines]} for e in entries],
        "unchanged": plan.unchanged,
        "pending": plan.pending,
        "read": len(records),
    }  # fmt: skip
    frame = pd.DataFrame([{"plan": detail}])
    frame["plan"] = frame["plan"].astype(object)
    staged_plan = stage(frame, flow=FLOW, run_id=context["run_id"], name="journal_plan")
    staged_writes = stage(writes_frame([] if run["dry_run"] else writes), flow=FLOW, run_id=context["run_id"],
                          name="intacct_writes")  # fmt: skip
    log.info("planned %d batch(es); %d entries unchanged, %d held, %d waiting for their period to end",
             len(plan.batches), plan.unchanged, len(holds), plan.pending)  # fmt: skip
    return {"plan": staged_plan, "intacct_writes": staged_writes}


def _state_json(state: Any) -> dict[str, Any]:
    from qbo_intacct.flows.journal_entries import state_to_link

    link = state_to_link(state, None)
    return {"source": dict(link.source_hashes), "target": dict(link.target_hashes)}


def _state_from_json(entry_id: str, data: Mapping[str, Any]) -> Any:
    from qbo_intacct.flows.journal_entries import state_from_link
    from qbo_intacct.ledger.repository import LinkRecord

    return state_from_link(LinkRecord(FLOW, "qbo", entry_id, "intacct", "", source_hashes=data["source"],
                                      target_hashes=data["target"]))  # fmt: skip


def read_plan(planned: Mapping[str, Any]) -> dict[str, Any]:
    from qbo_intacct.flows.staging import read_staged

    return dict(read_staged(planned["plan"])["plan"].iloc[0])


def record_step(
    context: Mapping[str, Any], run: Mapping[str, Any], planned: Mapping[str, Any], results: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Apply the posted batches to the ledger; hold what was refused (closed period, ...) and what
    could not be mapped; resolve the items of entries that posted; write the run's row."""
    from qbo_intacct.flows.engine import open_ledger
    from qbo_intacct.flows.journal_entries import (
        Batch,
        Effect,
        EntryState,
        GlLine,
        Hold,
        apply_effects,
        closed_period_hold,
        hold_draft,
        state_from_link,
        state_to_link,
    )
    from qbo_intacct.flows.staging import read_staged
    from qbo_intacct.flows.summary import RunSummary
    from qbo_intacct.ledger.repository import ReviewDecision, ReviewStatus

    detail = read_plan(planned)
    ledger = open_ledger()
    run_id = context["run_id"]
    outcome: dict[str, dict[str, Any]] = {}
    if results and results.get("path"):
        outcome = {r["write_key"]: r for r in read_staged(results).to_dict("records")}
    ok = {k for k, r in outcome.items() if r["status"] == "ok"}
    batches = {
        b["key"]: Batch(b["key"], b["kind"], b["entity"], b["date"], "", b["reference"], "",
                        [GlLine.from_json(x) for x in b["lines"]], b["members"])
        for b in detail["batches"]
    }  # fmt: skip
    holds = [Hold(**{**h, "amount": Decimal(h["amount"])}) for h in detail["holds"]]
    summary = RunSummary(FLOW, run_id, dry_run=bool(run["dry_run"]), read=int(detail["read"]))
    reasons: dict[str, int] = defaultdict(int)
    if run["dry_run"]:
        for h in holds:
            reasons[h.reason_code] += 1
        summary.created = len(batches)
        summary.held_for_review = len(holds)
        summary.reasons = dict(reasons)
        ledger.record_run(summary.as_run_stats("dry_run"))
        return _report_data(summary, detail, run, [], [])
    old = {link.source_id: state_from_link(link) for link in ledger.links(FLOW)}
    effects: dict[str, list[Any]] = defaultdict(list)
    for e in detail["effects"]:
        effects[e["entry_id"]].append(Effect.from_json(e))
    links, refused = [], []
    for entry_id in sorted(set(effects) | set(detail["states"])):
        base = _state_from_json(entry_id, detail["states"][entry_id]) if entry_id in detail["states"] else None
        state = old.get(entry_id) or EntryState(entry_id)
        if base is not None:  # the new facts (want, number, date, mode) over what the ledger holds now
            state = EntryState(entry_id, base.number, base.date, base.mode, base.want, state.posted, state.batches,
                               base.deleted)  # fmt: skip
        state, missing = apply_effects(state, effects.get(entry_id, []), ok)
        links.append(state_to_link(state, run_id))
        for key in missing:
            if key in outcome:
                refused.append(closed_period_hold(state, str(outcome[key].get("error") or ""), batches[key]))
    ledger.upsert_links(links)
    for hold in [*holds, *refused]:
        ledger.open_review_item(hold_draft(hold), run_id=run_id)
        reasons[hold.reason_code] += 1
    # entries that posted (or were deleted) and had open items: finance's fix worked
    held_now = {h.entry_id for h in (*holds, *refused)}
    settled = {e for e, effs in effects.items() if e not in held_now and all(x.batch in ok or x.batch is None
                                                                           for x in effs)}  # fmt: skip
    settled |= {e["id"] for e in detail["entries"]} - held_now
    current = {(h.entry_id, h.reason_code, h.fingerprint) for h in (*holds, *refused)}
    for item in ledger.review_items(FLOW, ReviewStatus.OPEN):
        if item.record_id in held_now and (item.record_id, item.reason_code, item.fingerprint) not in current:
            # held now for another reason (e.g. the account was mapped, the period is closed): the old
            # item is answered; the new one says what is left to fix
            ledger.resolve_review_item(item.id, decision=ReviewDecision.IGNORE, by="sync",
                                       note="superseded: the entry is held for another reason now")  # fmt: skip
            ledger.mark_applied([item.id], run_id)
        elif item.record_id in settled:
            ledger.resolve_review_item(item.id, decision=ReviewDecision.CREATE, by="sync",
                                       note="posted once fixed", target_id=f"QBO-JE-{item.record_id}")  # fmt: skip
            ledger.mark_applied([item.id], run_id)
    summary.created = len(ok & set(batches))
    summary.failed = len(set(batches) - ok)
    summary.skipped = int(detail["unchanged"])
    summary.held_for_review = len(holds) + len({h.entry_id for h in refused})
    summary.reasons = dict(reasons)
    stats = summary.as_run_stats("success")
    posted = [batches[k] for k in batches if k in ok]
    ledger.record_run(
        type(stats)(**{**stats.__dict__, "detail": {**stats.detail, "window_end": run["window"]["end"],
                                                     "batches": sorted(ok & set(batches))}})
    )  # fmt: skip
    return _report_data(summary, detail, run, posted, [*holds, *refused])


def _report_data(summary: Any, detail: Mapping[str, Any], run: Mapping[str, Any], posted: list[Any],
                 holds: list[Any]) -> dict[str, Any]:  # fmt: skip
    data = summary.as_dict()
    data["window"] = run["window"]
    data["batches"] = [{"reference": b.reference, "kind": b.kind, "entity": b.entity, "date": b.date,
                        "lines": len(b.lines)} for b in posted]  # fmt: skip
    data["periods"] = sorted({(b.entity, b.date[:7]) for b in posted})
    data["held"] = [f"journal entry {h.number or h.entry_id} (QuickBooks Id {h.entry_id}): {h.detail}" for h in holds]
    data["pending"] = int(detail.get("pending", 0))
    data["held_ids"] = {h.entry_id: h.reason_code for h in holds}
    return data


def read_journal_context(qbo: Any, intacct: Any, mappings: Any) -> Any:
    """The lists mapping needs, read directly (the DAG's plan reads them as staged extracts): for a
    tie-out outside a run (the period-end reconciliation, a test)."""
    lookups = {
        "Account": list(qbo.iter_query("Account")),
        "Class": list(qbo.iter_query("Class")),
        "Department": list(qbo.iter_query("Department")),
        "GLACCOUNT": list(intacct.iter_query("GLACCOUNT", ["ACCOUNTNO", "TITLE", "SUBLEDGERCONTROLON"], entity_id="")),
        "ENTITY": list(intacct.iter_query("LOCATIONENTITY", ["LOCATIONID", "NAME", "CURRENCY"], entity_id="")),
    }
    return _context_from_records(lookups, mappings)


def tie_out_period(
    qbo: Any,
    intacct: Any,
    ctx: Any,
    month: str,
    entities: list[str],
    held: Mapping[str, str] | None = None,
    pending: set[str] | None = None,
) -> tuple[Any, list[Any]]:
    """One month's tie-out in ``entities``: reads QuickBooks' TrialBalance and GeneralLedger reports
    and the month's journal entries, Intacct's get_trialbalance and this flow's batches per entity,
    and compares them (:func:`qbo_intacct.flows.journal_entries.journal_tie_out`). Returns the
    comparison (a ``period`` column first) and the entries held now (mapping refuses them)."""
    import pandas as pd

    from qbo_intacct.flows.journal_entries import REFERENCE_PREFIX, journal_tie_out, routed_lines
    from qbo_intacct.operators.trial_balance import (
        read_intacct_batches,
        read_intacct_trial_balance,
        read_qbo_postings_by_type,
        read_qbo_trial_balance,
    )

    start, end = _month_bounds(month)
    where = f"TxnDate >= '{start.isoformat()}' AND TxnDate <= '{end.isoformat()}'"
    records = list(qbo.iter_query("JournalEntry", where))
    _, holds = map_records(records, ctx)
    routed = pd.DataFrame([line for r in records for line in routed_lines(r, ctx)],
                          columns=["entry_id", "number", "entity", "qbo_account", "amount"])  # fmt: skip
    default = ctx.mappings.route(None, None)
    result = journal_tie_out(
        qbo_tb=read_qbo_trial_balance(qbo, start, end),
        qbo_postings=read_qbo_postings_by_type(qbo, start, end),
        intacct_tb=pd.concat([read_intacct_trial_balance(intacct, e, start, end) for e in entities]),
        flow_batches=pd.concat([read_intacct_batches(intacct, e, start, end, REFERENCE_PREFIX) for e in entities]),
        routed=routed,
        held={**{h.entry_id: h.reason_code for h in holds}, **(held or {})},
        ctx=ctx,
        entities=entities,
        default_entity=default.entity if default else entities[0],
        pending=pending or set(),
    )
    result.insert(0, "period", month)
    return result, holds


def tie_out_step(context: Mapping[str, Any], data: Mapping[str, Any], lookups: Mapping[str, Any]) -> dict[str, Any]:
    """The trial-balance tie-out for each entity and month this run posted into
    (:func:`tie_out_period`): QuickBooks' TrialBalance report through the mapping against Intacct's
    get_trialbalance, what this flow is not responsible for named with its reason. The whole
    comparison is staged (``tie_out.comparison``); the rows that differ go in the summary."""
    import pandas as pd

    from qbo_intacct.flows.engine import load_workbook_mappings
    from qbo_intacct.flows.runtime import stage
    from qbo_intacct.flows.trial_balance import as_text, describe, differences
    from qbo_intacct.hooks.intacct import IntacctHook
    from qbo_intacct.hooks.quickbooks import QuickBooksHook

    periods = sorted({tuple(p) for p in data.get("periods") or []})
    out = dict(data)
    if not periods or data.get("dry_run"):
        out["tie_out"] = {"periods": [], "differences": []}
        return out
    qbo, intacct = QuickBooksHook(), IntacctHook()
    ctx = build_context(lookups, load_workbook_mappings())  # the lists the plan read (a run that posts read them)
    refused = {str(k): str(v) for k, v in (data.get("held_ids") or {}).items()}
    pending = _waiting_entries()
    results, held = [], set()
    for month in sorted({month for _, month in periods}):
        entities = sorted(e for e, m in periods if m == month)
        result, holds = tie_out_period(qbo, intacct, ctx, month, entities, refused, pending)
        results.append(result)
        held |= {f"{h.number or h.entry_id} ({h.reason_code})" for h in holds}
    comparison = pd.concat(results, ignore_index=True)
    differing = differences(comparison)
    money = ("qbo", "intacct", "difference", "explained", "unexplained")
    staged = stage(comparison.astype(dict.fromkeys(money, str)), flow=FLOW, run_id=context["run_id"], name="tie_out")
    out["tie_out"] = {
        "periods": [f"{e} {m}" for e, m in periods],
        "accounts_compared": len(comparison),
        "explained": int((comparison["status"] == "explained").sum()),
        "differences": as_text(differing),
        "held_not_in_intacct": sorted(held),
        "comparison": staged,
    }
    log.info(
        "tie-out: %d entity-month(s), %d account row(s): %d tie, %d explained, %d differ",
        len(periods), len(comparison), int((comparison["status"] == "ties").sum()), out["tie_out"]["explained"],
        len(differing),
    )  # fmt: skip
    for row in differing.to_dict("records"):
        log.warning("tie-out difference: %s", describe(row))
    return out


def _waiting_entries() -> set[str]:
    """Summarized entries the GL does not hold yet (their period has not ended), from the ledger."""
    from qbo_intacct.flows.engine import open_ledger
    from qbo_intacct.flows.journal_entries import lines_hash, state_from_link

    states = (state_from_link(link) for link in open_ledger().links(FLOW))
    return {s.entry_id for s in states if s.mode == "Summarized" and lines_hash(s.want) != lines_hash(s.posted_lines)}


def _month_bounds(month: str) -> tuple[dt.date, dt.date]:
    start = dt.date.fromisoformat(f"{month}-01")
    return start, (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def report_step(context: Mapping[str, Any], data: Mapping[str, Any], asset: Any) -> str:
    """Print the summary (batches, tie-out, held entries, what the run spent on each API), write it
    for the demo and the UI, and attach the counts to the asset event."""
    from qbo_intacct.flows.engine import SUMMARY_FIELDS, publish_summary, run_api_usage
    from qbo_intacct.flows.summary import RunSummary
    from qbo_intacct.flows.trial_balance import describe
    from qbo_intacct.hooks import usage

    summary = RunSummary.from_dict({k: data[k] for k in SUMMARY_FIELDS})
    lines = [summary.render().replace("  created  ", "  batches  ")]
    window = data.get("window") or {}
    lines.append(f"  window {'everything' if not window.get('start') else window['start'] + ' -> ' + window['end']}")
    for b in data.get("batches") or []:
        lines.append(f"  posted {b['kind']} batch {b['reference']} ({b['entity']}, {b['date']}, {b['lines']} lines)")
    if data.get("pending"):
        lines.append(f"  {data['pending']} summarized entries wait for their period to end")
    tie = data.get("tie_out") or {}
    if tie.get("periods"):
        lines.append(
            f"  trial-balance tie-out ({', '.join(tie['periods'])}): {len(tie['differences'])} unexplained "
            f"difference(s) over {tie.get('accounts_compared', 0)} account row(s); {tie.get('explained', 0)} "
            "explained (other transactions, Intacct's own postings, held entries)"
        )
        lines += [f"  - {describe(r)}" for r in tie["differences"]]
    held = list(data.get("held") or [])
    if held:
        lines.append(f"  held for review ({len(held)}; fix the workbook or QuickBooks, the next run posts them):")
        lines += [f"  - {h}" for h in held]
    spent = run_api_usage(context)
    lines.insert(2, f"  {usage.render(spent)}")
    fields = ("read", "created", "skipped", "held_for_review", "failed", "dry_run")
    return publish_summary(context, asset, "\n".join(lines), {**data, "api_calls": spent}, fields)


# ------------------------------------------------------------------------------------ the DAG


def build_journal_dag(*, doc_md: str, start_date: Any = None) -> DAG:
    asset = Asset(name=DAG_ID, uri=f"qbo-intacct://{FLOW}")
    with DAG(
        dag_id=DAG_ID,
        description="Post QuickBooks journal entries into Intacct GL batches, detailed or summarized",
        schedule=flow_schedule(),
        start_date=start_date or pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["qbo_intacct", "general_ledger", FLOW],
        params=sync_params(
            dry_run="Stage the batches the run would post (journal_plan.parquet); post nothing",
            full_refresh="Read every journal entry, not only those changed since the last run",
        ),
        default_args=default_args(),
    ) as dag:

        @task(retries=0)
        def prepare() -> dict:
            return prepare_step(get_current_context())

        run = prepare()
        changed = QuickBooksExtractOperator(
            task_id="extract_qbo_journal_entries", flow=FLOW, entity="JournalEntry", window=run["window"],
            pool="qbo_api",
        )  # fmt: skip

        @task
        def scope(run: dict, changed: dict) -> dict:
            from qbo_intacct.hooks import usage

            before, context = usage.snapshot(), get_current_context()
            try:
                return scope_step(context, run, changed)
            finally:
                _publish_usage(context, before)

        scoped = scope(run, changed.output)
        held = QuickBooksExtractOperator(
            task_id="extract_qbo_held_entries", flow=FLOW, entity="JournalEntry", ids=scoped["held_ids"],
            name="qbo_held_entries", pool="qbo_api",
        )  # fmt: skip
        lookups = {
            entity: QuickBooksExtractOperator(
                task_id=f"extract_qbo_{entity.lower()}s".replace("classs", "classes"), flow=FLOW, entity=entity,
                ids=scoped["lookups"], name=f"qbo_{entity.lower()}s", pool="qbo_api",
            ).output
            for entity in ("Account", "Class", "Department")
        }  # fmt: skip
        lookups["GLACCOUNT"] = IntacctExtractOperator(
            task_id="extract_intacct_gl_accounts", flow=FLOW, object_name="GLACCOUNT",
            fields=["ACCOUNTNO", "TITLE", "SUBLEDGERCONTROLON"], id_field="ACCOUNTNO", ids=scoped["lookups"],
            name="intacct_gl_accounts", pool="intacct_api",
        ).output  # fmt: skip
        lookups["ENTITY"] = IntacctExtractOperator(
            task_id="extract_intacct_entities", flow=FLOW, object_name="LOCATIONENTITY",
            fields=["LOCATIONID", "NAME", "CURRENCY"], id_field="LOCATIONID", ids=scoped["lookups"],
            name="intacct_entities", pool="intacct_api",
        ).output  # fmt: skip

        @task
        def plan(run: dict, changed: dict, held: dict, scope: dict, lookups: dict) -> dict:
            return plan_step(get_current_context(), run, [changed, held], scope, lookups)

        planned = plan(run, changed.output, held.output, scoped, lookups)
        load = IntacctUpsertOperator(task_id="load_intacct", flow=FLOW, writes=planned["intacct_writes"],
                                     pool="intacct_api")  # fmt: skip

        @task
        def record(run: dict, planned: dict, results: dict) -> dict:
            return record_step(get_current_context(), run, planned, results)

        recorded = record(run, planned, load.output)

        @task
        def tie_out(data: dict, lookups: dict) -> dict:
            from qbo_intacct.hooks import usage

            before, context = usage.snapshot(), get_current_context()
            try:
                return tie_out_step(context, data, lookups)
            finally:
                _publish_usage(context, before)

        @task(outlets=[asset])
        def report(data: dict) -> str:
            return report_step(get_current_context(), data, asset)

        report(tie_out(recorded, lookups))
    return dag
