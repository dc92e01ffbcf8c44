"""The customer payments DAG (``qbo_intacct_payments``): QuickBooks Payment -> Intacct ARPYMT.

Why a slim path of its own (like journal entries) and not the document engine: a payment is not a
document with lines posted once; it is a set of *applications* to documents another flow posted
(the invoices flow's ledger links), it may become several receipts (one per entity), and an edit is
never an update (Intacct cannot edit a completed receipt) but a reversal and new receipts. So this
module reuses the engines' pieces: the window, staging, extract and load operators (Intacct
functions many per request, controlid from each receipt's content-derived key, ``uniqueid=true``),
the ledger (links, review items, pending payments in the run record) and the run summary. The
accounting is in :mod:`qbo_intacct.flows.payments`.

Tasks::

    prepare -> extract_qbo_payments, extract_qbo_deleted (CDC) -> scope
            -> extract_qbo_payment_partners (pending and held, by id)
            -> extract_qbo_lists, extract_intacct_banks (only when something is in scope)
            -> plan -> load_intacct -> record -> compare_balances -> report

An unchanged run reads its window (and CDC), plans nothing and writes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, get_current_context, task

from qbo_intacct.operators._dag_args import default_args, sync_params
from qbo_intacct.operators.extract import QuickBooksExtractOperator
from qbo_intacct.operators.load import IntacctFunctionsOperator, QuickBooksUpsertOperator

log = logging.getLogger(__name__)

FLOW = "payments"
DAG_ID = f"qbo_intacct_{FLOW}"


def _ledger() -> Any:
    from qbo_intacct.flows.engine import open_ledger

    return open_ledger()


def _publish_usage(context: Mapping[str, Any], before: Any) -> None:
    from qbo_intacct.hooks import usage

    spent = usage.since(before or {})
    if spent and context.get("ti") is not None:
        context["ti"].xcom_push(key=usage.XCOM_KEY, value=spent)


# ------------------------------------------------------------------------------------ prepare, scope


def prepare_step(context: Mapping[str, Any]) -> dict[str, Any]:
    """Check the workbook (a broken one fails here) and fix the window."""
    from airflow.sdk.exceptions import AirflowFailException

    from qbo_intacct.flows.engine import DEFAULT_OVERLAP, load_workbook_mappings
    from qbo_intacct.flows.runtime import compute_window, last_window_end
    from qbo_intacct.mappings.loader import report_gaps
    from qbo_intacct.mappings.validate import MappingWorkbookError

    try:
        mappings = load_workbook_mappings()
    except MappingWorkbookError as exc:
        raise AirflowFailException(str(exc)) from None
    report_gaps(mappings, log)
    params = context.get("params") or {}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    window = compute_window(
        last_window_end(_ledger().engine, FLOW),
        now=now,
        data_interval_start=context.get("data_interval_start"),
        overlap=DEFAULT_OVERLAP,
        full_refresh=bool(params.get("full_refresh")),
    )
    log.info(
        "payments run: window %s -> %s; dry run %s",
        window.start.isoformat() if window.start else "(everything)",
        window.end.isoformat(),
        bool(params.get("dry_run")),
    )
    return {"window": window.as_xcom(), "dry_run": bool(params.get("dry_run")), "today": now.date().isoformat()}


def scope_step(
    changed: Mapping[str, Any], deleted: Mapping[str, Any], intacct: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Payments to read by id besides the window (pending, held) and whether the lookups are needed."""
    from qbo_intacct.flows.documents import last_pending
    from qbo_intacct.flows.payments import PAYMENT
    from qbo_intacct.flows.runtime import staged_records
    from qbo_intacct.ledger.repository import ReviewStatus

    ledger = _ledger()
    read = {str(r["Id"]) for r in staged_records(changed)}
    wanted = {s.partition(":")[2] for s in last_pending(ledger.engine, FLOW)}
    wanted |= {i.record_id.partition(":")[2] for i in ledger.review_items(FLOW, ReviewStatus.OPEN)
               if i.record_id.startswith(f"{PAYMENT}:")}  # fmt: skip
    gone = {str(r["id"]) for r in (deleted or {}).get("rows") or []}
    ids = sorted(wanted - read - gone - {""})
    receipts = int((intacct or {}).get("rows") or 0)
    busy = bool(read or ids or gone or receipts)
    log.info(
        "in scope: %d changed in the window, %d pending or held, %d deleted; %d Intacct receipts to bring back",
        len(read), len(ids), len(gone), receipts,
    )  # fmt: skip
    return {"ids": ids, "lookups": "all" if busy else []}


def extract_intacct_payments_step(context: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, Any]:
    from qbo_intacct.flows.payments import BACK_FIELDS, posted
    from qbo_intacct.flows.runtime import Window, stage_records
    from qbo_intacct.hooks.intacct import IntacctHook

    ledger = _ledger()
    links = ledger.links(FLOW)
    own = {str(r["record_no"]) for link in links if link.source_system == "qbo" for r in posted(link)}
    known = own | {link.source_id.partition(":")[2] for link in links if link.source_system == "intacct"}
    window = Window.from_xcom(run["window"])
    hook = IntacctHook()
    if window.start is None:
        rows = hook.iter_query("ARPYMT", list(BACK_FIELDS), entity_id="", show_private=True)
    else:
        rows = hook.iter_changed("ARPYMT", list(BACK_FIELDS), window.start, window.end, entity_id="",
                                 show_private=True)  # fmt: skip
    from qbo_intacct.ledger.repository import ReviewStatus

    held = {i.record_id.partition(":")[2] for i in ledger.review_items(FLOW, ReviewStatus.OPEN)
            if i.record_id.startswith("ARPYMT:")}  # fmt: skip
    rows = list(rows)
    changed = {str(r["RECORDNO"]) for r in rows if str(r.get("STATE")) != "Draft"}
    back_posted = {
        link.source_id.partition(":")[2]
        for link in links
        if link.source_system == "intacct" and (link.target_hashes or {}).get("state") == "posted"
    }
    reversed_back = {str(r["RECORDNO"]) for r in rows if str(r.get("STATE")) in ("Reversed", "Reversal")} & back_posted
    # held ones again (a workbook fix brings them); brought back and since reversed (their payment is voided)
    wanted = sorted(((changed | held) - known) | reversed_back, key=int)
    records: list[dict[str, Any]] = []
    for start in range(0, len(wanted), 100):
        records += hook.read("ARPYMT", wanted[start : start + 100])
        log.info("read Intacct receipts: %d of %d", len(records), len(wanted))
    log.info("Intacct receipts changed in the window and not written by the sync: %d", len(records))
    return stage_records(records, id_field="RECORDNO", flow=FLOW, run_id=context["run_id"], name="intacct_receipts")


# ------------------------------------------------------------------------------------ plan


def _steps_frame(steps: Sequence[Any]) -> Any:
    import pandas as pd

    rows = []
    for s in steps:
        row = dataclasses.asdict(s)
        row["write_keys"] = json.dumps(row["write_keys"])
        row["entities"] = json.dumps(row["entities"])
        rows.append(row)
    from qbo_intacct.flows.payments import Step

    return pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(Step)])


def _steps_from(frame: Any) -> list[Any]:
    from qbo_intacct.flows.payments import Step

    out = []
    for row in frame.to_dict("records"):
        row = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        row["write_keys"] = json.loads(row["write_keys"] or "[]")
        row["entities"] = json.loads(row["entities"] or "[]")
        out.append(Step(**row))
    return out


def pending_hours() -> float:
    from airflow.sdk import Variable

    from qbo_intacct.flows.payments import DEFAULT_PENDING_HOURS, PENDING_HOURS_VARIABLE

    value = Variable.get(PENDING_HOURS_VARIABLE, default=None)
    return float(value) if value not in (None, "") else float(DEFAULT_PENDING_HOURS)


def _payment_rows(pays: Sequence[Any]) -> list[dict[str, Any]]:
    """What record and the summary need of each mapped payment (staged, small)."""
    return [
        {
            "source_id": p.source_id,
            "number": p.number,
            "customer": p.customer_name,
            "date": p.txn_date,
            "amount": f"{p.total} {p.currency}",
            "receipts": json.dumps(
                [
                    {
                        "entity": r.entity,
                        "key": r.key,
                        "invoices": r.invoices,
                        "cash": str(r.cash),
                        "credit": str(r.credit),
                        "overpayment": str(r.overpayment),
                    }
                    for r in p.receipts
                ]
            ),
            "invoices": json.dumps([a.qbo_id for a in p.applications if a.kind == "Invoice"]),
        }
        for p in pays
    ]


def plan_step(
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    qbo: Sequence[Mapping[str, Any] | None],
    deleted: Mapping[str, Any],
    lookups: Mapping[str, Any],
    banks: Mapping[str, Any],
    intacct: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    import pandas as pd

    from qbo_intacct.flows import payments as pm
    from qbo_intacct.flows.documents import customer_links, last_pending, refused_writes
    from qbo_intacct.flows.engine import load_workbook_mappings
    from qbo_intacct.flows.runtime import stage, staged_records, writes_frame

    ledger = _ledger()
    mappings = load_workbook_mappings()
    records: dict[str, dict[str, Any]] = {}
    for staged in qbo:
        for r in staged_records(staged):
            records[str(r["Id"])] = r
    lists = {entity: staged_records(staged) for entity, staged in (lookups or {}).items()}
    ctx = pm.PaymentContext.build(
        lists,
        mappings,
        customers=customer_links(ledger),
        documents={link.source_id: dict(link.target_hashes or {}) for link in ledger.links("invoices")},
        entity_currency={str(e["LOCATIONID"]): str(e["CURRENCY"]) for e in banks.get("entities") or []} or None,
        banks=banks.get("banks") or {},
    )
    pays = [pm.map_payment(r, ctx) for r in records.values()]
    gone = [r for r in (deleted or {}).get("rows") or [] if str(r["id"]) not in records]
    steps, writes = pm.plan(
        pays,
        gone,
        links={link.source_id: link for link in ledger.links(FLOW)},
        pending=last_pending(ledger.engine, FLOW),
        now=dt.datetime.now(dt.UTC),
        pending_hours=pending_hours(),
        today=run["today"],
        # Only a closed period waits for finance; any other refusal (a transient item error inside a request
        # of many) is sent again next run with the same key (make chaos, partial batches).
        refused={k: v for k, v in refused_writes(ledger, FLOW).items() if v[0] == "closed_period"},
    )
    links = {link.source_id: link for link in ledger.links(FLOW)}
    invoice_of = {
        str((link.target_hashes or {}).get("record_no")): link.source_id.partition(":")[2]
        for link in ledger.links("invoices")
        if link.source_id.startswith("Invoice:")
    }
    backs = [
        pm.map_intacct_payment(
            r,
            invoices=invoice_of,
            customers={intacct_id: qbo_id for qbo_id, intacct_id in customer_links(ledger).items()},
            mappings=mappings,
            methods={str(m.get("Name")): str(m["Id"]) for m in lists.get("PaymentMethod", [])},
            accounts={
                str(a.get("FullyQualifiedName") or a.get("Name")): str(a["Id"]) for a in lists.get("Account", [])
            },
            home_currency=ctx.docs.home_currency,
            home_rate=ctx.docs.home_rate,
        )
        for r in staged_records(intacct)
    ]
    tokens: dict[str, str] = {}
    for back in backs:
        link = links.get(back.source_id)
        if back.reversed and link is not None and (link.target_hashes or {}).get("state") == "posted":
            from qbo_intacct.hooks.quickbooks import QuickBooksFault, QuickBooksHook

            qbo_id = str(link.target_id).partition(":")[2]
            try:
                tokens[qbo_id] = str(QuickBooksHook().get(pm.PAYMENT, qbo_id)["SyncToken"])
            except QuickBooksFault:
                log.warning("QuickBooks payment %s (brought back from %s) is not found", qbo_id, back.source_id)
    back_steps, qbo_writes = pm.plan_back(backs, links=links, sync_tokens=tokens)
    steps += back_steps
    counts = Counter(s.action for s in steps)
    log.info(
        "plan: %s; %d Intacct functions, %d QuickBooks writes", dict(sorted(counts.items())), len(writes),
        len(qbo_writes),
    )  # fmt: skip
    run_id = context["run_id"]
    out = {
        "plan": stage(_steps_frame(steps), flow=FLOW, run_id=run_id, name="plan"),
        "payments": stage(
            pd.DataFrame(_payment_rows(pays) + _back_rows(backs)), flow=FLOW, run_id=run_id, name="mapped_payments"
        ),
        "counts": dict(counts),
        "read": len(records) + len(gone),
    }
    for name, planned in (("intacct_writes", writes), ("qbo_writes", qbo_writes)):
        if run["dry_run"] or not planned:
            out[name] = {"path": None, "rows": 0}
        else:
            out[name] = stage(writes_frame(planned), flow=FLOW, run_id=run_id, name=name)
    return out


def _back_rows(backs: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "source_id": b.source_id,
            "number": b.number,
            "customer": b.customer,
            "date": str(b.body.get("TxnDate") or ""),
            "amount": f"{b.body.get('TotalAmt', '')} {(b.body.get('CurrencyRef') or {}).get('value', '')}",
            "receipts": "[]",
            "invoices": json.dumps(b.invoices),
        }
        for b in backs
        if not b.skip
    ]


# ------------------------------------------------------------------------------------ record


def _draft(step: Any, row: Mapping[str, Any] | None, reason: str, detail: str) -> Any:
    from qbo_intacct.ledger.repository import ReviewDraft

    fields = [["Reference", step.number]]
    if row:
        fields += [["Customer", str(row.get("customer") or "")], ["Date", str(row.get("date") or "")],
                   ["Amount", str(row.get("amount") or "")]]  # fmt: skip
    fixes = {
        "unmapped_payment_method": "the workbook's Payment Methods sheet",
        "unmapped_deposit_account": "the workbook's Bank Accounts sheet",
        "deposit_other_entity": "the workbook's Bank Accounts sheet (a row for the invoices' entity)",
        "invoice_not_synced": "the invoice's own item in the invoices flow (qbo_intacct_review DAG)",
        "closed_period": "Intacct (reopen the period) or QuickBooks (the payment date)",
    }
    context = {
        "noun": "payment",
        "record": {"system": "qbo", "id": step.qbo_id, "name": f"payment {step.number}", "fields": fields},
        "partner": None,
        "candidates": [],
        "reason": detail,
        "fix": fixes.get(reason, "the payment in QuickBooks or its receipt in Intacct"),
    }
    return ReviewDraft(FLOW, "qbo", step.source_id, reason, detail, fingerprint=step.content or reason, context=context)


def record(
    *,
    run_id: str,
    ledger: Any,
    steps: Sequence[Any],
    rows: Mapping[str, Mapping[str, Any]],
    results: Mapping[str, Mapping[str, Any]],
    writes: Mapping[str, Mapping[str, Any]],
    window_end: str,
    dry_run: bool,
    read: int,
) -> tuple[Any, dict[str, Any]]:
    """Links (the receipts each payment posted), review items, pending payments, the run record."""
    from qbo_intacct.flows.payments import posted
    from qbo_intacct.flows.summary import RunSummary
    from qbo_intacct.ledger.repository import LinkRecord, ReviewStatus

    summary = RunSummary(FLOW, run_id, dry_run=dry_run, read=read)
    reasons: Counter[str] = Counter()
    links, drafts, pending = [], [], {}
    old = {link.source_id: link for link in ledger.links(FLOW)}
    receipts_posted = 0
    for step in steps:
        row = rows.get(step.source_id)
        if step.action == "pending":
            pending[step.source_id] = str(step.pending_since)
            reasons["pending_invoice"] += 1
            if step.detail:
                drafts.append(_draft(step, row, "invoice_not_synced", step.detail))
            continue
        if step.action == "review":
            summary.held_for_review += 1
            reasons[step.reason] += 1
            drafts.append(_draft(step, row, step.reason, step.detail))
            continue
        if step.action == "skip":
            summary.skipped += 1
            reasons[step.reason] += 1
            continue
        if step.action == "void_qbo":
            result = None if dry_run else results.get(step.write_keys[0])
            if dry_run or (result is not None and result["status"] == "ok"):
                summary.updated += 1
                reasons[step.reason] += 1
                if not dry_run:
                    link = old[step.source_id]
                    hashes = {**(link.target_hashes or {}), "state": "voided"}
                    links.append(dataclasses.replace(link, target_hashes=hashes, run_id=run_id))
                continue
            error = (result or {}).get("error") or "not sent"
            summary.failed += 1
            reasons["write_failed"] += 1
            drafts.append(_draft(step, row, "write_failed", f"{step.number}: QuickBooks refused the void: {error}"))
            continue
        if step.action == "create_qbo":
            if dry_run:
                summary.created += 1
                continue
            result = results.get(step.write_keys[0])
            if result is None or result["status"] != "ok":
                error = (result or {}).get("error") or "not sent"
                summary.failed += 1
                reasons["write_failed"] += 1
                drafts.append(
                    _draft(step, row, "write_failed", f"{step.number}: QuickBooks refused the payment: {error}")
                )
                continue
            summary.created += 1
            reasons["paid_in_intacct"] += 1
            links.append(
                LinkRecord(
                    FLOW, "intacct", step.source_id, "qbo", f"Payment:{result['new_id']}", target_key=step.number,
                    target_hashes={"content": str(step.content), "state": "posted",
                                   "invoices": str((row or {}).get("invoices") or "[]")},
                    origin="intacct", run_id=run_id,
                )
            )  # fmt: skip
            continue
        if dry_run:
            summary.created += step.action == "create"
            summary.updated += step.action in ("replace", "reverse")
            continue
        outcome = [results.get(k) for k in step.write_keys]
        failed = [(k, r) for k, r in zip(step.write_keys, outcome, strict=True) if r is None or r["status"] != "ok"]
        if failed:
            error = (failed[0][1] or {}).get("error") or "not sent"
            closed = "closed" in error.lower() and "period" in error.lower()
            reason = "closed_period" if closed else "write_failed"
            detail = f"payment {step.number}: Intacct refused the {step.action}: {error}"
            if closed:
                summary.held_for_review += 1
            else:
                summary.failed += 1
            reasons[reason] += 1
            drafts.append(_draft(step, row, reason, detail))
            continue  # the ledger is not advanced: the next run plans the same keys (Intacct replays the ones done)
        link = old.get(step.source_id)
        receipts = posted(link)
        done = {str(r["record_no"]) for r in receipts}
        new: list[dict[str, Any]] = []
        for key, result in zip(step.write_keys, outcome, strict=True):
            write = writes[key]
            if write["operation"] == "reverse_arpayment":
                for r in receipts:
                    if str(r["record_no"]) == str(write["body"].get("@key")):
                        r["state"] = "reversed"
            elif str(result["new_id"]) not in done:
                new.append({"record_no": str(result["new_id"]), "entity": write["entity"], "state": "posted",
                            "key": write["idempotency_key"]})  # fmt: skip
        receipts += new
        receipts_posted += len(new)
        hashes = {"receipts": json.dumps(receipts), "state": "reversed" if step.action == "reverse" else "posted"}
        if step.action != "reverse":
            hashes["content"] = str(step.content)
            hashes["invoices"] = str((row or {}).get("invoices") or "[]")
        if step.action == "create":
            summary.created += 1
            if step.reason:
                reasons[step.reason] += 1
        else:
            summary.updated += 1
            reasons[step.reason] += 1
        first = next((r for r in receipts if r["state"] == "posted"), receipts[0] if receipts else None)
        links.append(
            LinkRecord(
                FLOW, "qbo", step.source_id, "intacct", f"ARPYMT:{first['record_no'] if first else ''}",
                target_key=step.number, target_hashes=hashes, origin="qbo" if step.action == "create" else None,
                run_id=run_id,
            )
        )  # fmt: skip
    summary.reasons = dict(sorted(reasons.items()))
    extra = {"pending": len(pending), "receipts_posted": receipts_posted}
    if dry_run:
        ledger.record_run(summary.as_run_stats("dry_run"))
        return summary, extra
    ledger.upsert_links(links, relink=True)
    opened = [ledger.open_review_item(d, run_id=run_id) for d in drafts]
    held = [i for i in opened if i.status is ReviewStatus.OPEN]
    if held:
        from qbo_intacct.flows.review import item_line

        log.info("%d payment(s) held for review:", len(held))
        for item in held:
            log.info("  %s", item_line(item))
    settled = {link.source_id for link in links} | {
        s.source_id
        for s in steps
        if s.action == "skip" and s.reason in ("unchanged", "zero_amount", "already_reversed")
    }
    for item in ledger.review_items(FLOW, ReviewStatus.OPEN):
        if item.record_id in settled:
            ledger.resolve_review_item(item.id, decision="ignore", by="sync", note="settled by a later run")
    stats = summary.as_run_stats("success")
    ledger.record_run(
        dataclasses.replace(stats, detail={**stats.detail, "window_end": window_end, "pending": pending,
                                           "source_rows": read})
    )  # fmt: skip
    return summary, extra


def record_step(
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    planned: Mapping[str, Any],
    results: Mapping[str, Any] | None,
    qbo_results: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    from qbo_intacct.flows.engine import held_lines
    from qbo_intacct.flows.runtime import Window
    from qbo_intacct.flows.staging import read_staged

    ledger = _ledger()
    steps = _steps_from(read_staged(planned["plan"]))
    rows = (
        {r["source_id"]: r for r in read_staged(planned["payments"]).to_dict("records")}
        if planned["payments"].get("rows")
        else {}
    )
    writes = (
        {str(w["write_key"]): w for w in read_staged(planned["intacct_writes"]).to_dict("records")}
        if planned["intacct_writes"].get("path")
        else {}
    )
    by_key: dict[str, Any] = {}
    for staged in (results, qbo_results):
        if staged and staged.get("path"):
            by_key.update({str(r["write_key"]): r for r in read_staged(staged).to_dict("records")})
    summary, extra = record(
        run_id=context["run_id"],
        ledger=ledger,
        steps=steps,
        rows=rows,
        results=by_key,
        writes=writes,
        window_end=Window.from_xcom(run["window"]).end.isoformat(),
        dry_run=bool(run["dry_run"]),
        read=int(planned.get("read") or 0),
    )
    data = {**summary.as_dict(), **extra, "held": held_lines(ledger, FLOW), "window": run["window"]}
    data["paid_invoices"] = sorted(
        {i for s in steps if s.action in ("create", "replace", "reverse", "create_qbo", "void_qbo") for i in json.loads(
            (rows.get(s.source_id) or {}).get("invoices") or "[]")}
    )  # fmt: skip
    return data


# ------------------------------------------------------------------------------------ balances, report


def compare_step(data: Mapping[str, Any]) -> dict[str, Any]:
    """Open balance of every invoice the run paid or unpaid, QuickBooks against Intacct, to the cent."""
    from qbo_intacct.hooks.intacct import Filter, IntacctHook
    from qbo_intacct.hooks.quickbooks import QuickBooksHook
    from qbo_intacct.operators.extract import ID_CHUNK, _literal

    ids = list(data.get("paid_invoices") or [])
    out = {**data, "balances_compared": 0, "balance_differences": []}
    if not ids:
        return out
    ledger = _ledger()
    links = {link.source_id: link for link in ledger.links("invoices")}
    qbo, intacct = QuickBooksHook(), IntacctHook()
    balances: dict[str, Decimal] = {}
    for start in range(0, len(ids), ID_CHUNK):
        quoted = ", ".join(_literal(i) for i in ids[start : start + ID_CHUNK])
        for r in qbo.iter_query("Invoice", f"Id IN ({quoted})"):
            balances[str(r["Id"])] = Decimal(str(r.get("Balance") or 0))
    record_nos = {str((links[f"Invoice:{i}"].target_hashes or {}).get("record_no")): i for i in ids
                  if f"Invoice:{i}" in links}  # fmt: skip
    due: dict[str, Decimal] = {}
    keys = sorted(record_nos)
    for start in range(0, len(keys), ID_CHUNK):
        flt = Filter.one_of("RECORDNO", keys[start : start + ID_CHUNK])
        for r in intacct.iter_query("ARINVOICE", ["RECORDNO", "RECORDID", "TRX_TOTALDUE"], flt, entity_id="",
                                    show_private=True):  # fmt: skip
            due[record_nos[str(r["RECORDNO"])]] = Decimal(str(r.get("TRX_TOTALDUE") or 0))
    differences = [
        {"invoice": i, "quickbooks": str(balances.get(i)), "intacct": str(due.get(i))}
        for i in ids
        if balances.get(i) != due.get(i)
    ]
    out["balances_compared"] = len(ids)
    out["balance_differences"] = differences
    log.info("open balance compared for %d invoices: %d differ", len(ids), len(differences))
    for d in differences[:50]:
        log.warning("  invoice %s: QuickBooks open %s, Intacct open %s", d["invoice"], d["quickbooks"], d["intacct"])
    return out


def report_step(context: Mapping[str, Any], data: Mapping[str, Any], asset: Any) -> str:
    from qbo_intacct.flows.engine import ASSET_FIELDS, SUMMARY_FIELDS, publish_summary, run_api_usage
    from qbo_intacct.flows.summary import RunSummary
    from qbo_intacct.hooks import usage

    summary = RunSummary.from_dict({k: data[k] for k in SUMMARY_FIELDS})
    window = data.get("window") or {}
    spent = run_api_usage(context)
    lines = [
        summary.render(),
        f"  Intacct receipts posted: {data.get('receipts_posted', 0)}",
        f"  waiting for their invoice or customer to be in Intacct (retried every run): {data.get('pending', 0)}",
        f"  window {'everything' if not window.get('start') else window['start'] + ' -> ' + window['end']}",
        f"  {usage.render(spent)}",
        f"  open balance compared on {data.get('balances_compared', 0)} invoices paid this run: "
        f"{len(data.get('balance_differences') or [])} differ",
    ]
    held = list(data.get("held") or [])
    if held:
        lines.append(f"  open review items ({len(held)}; answer them in the qbo_intacct_review DAG):")
        lines += [f"  - {line}" for line in held]
    counts = {k: v for k, v in data.items() if k not in ("held", "paid_invoices")}
    return publish_summary(context, asset, "\n".join(lines), {**counts, "api_calls": spent}, ASSET_FIELDS)


# ------------------------------------------------------------------------------------ the DAG


@dataclasses.dataclass(frozen=True)
class _Upstream:
    name: str = FLOW
    depends_on: tuple[str, ...] = ("invoices",)


def build_payment_dag(*, doc_md: str, start_date: Any = None) -> DAG:
    from qbo_intacct.operators.document_dag import document_schedule

    asset = Asset(name=DAG_ID, uri=f"qbo-intacct://{FLOW}")
    with DAG(
        dag_id=DAG_ID,
        description="Post QuickBooks customer payments as Intacct cash receipts applied to the same invoices",
        schedule=document_schedule(_Upstream()),  # type: ignore[arg-type]
        start_date=start_date or pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["qbo_intacct", "cash", FLOW],
        params=sync_params(
            dry_run="Stage the receipts the run would post (plan.parquet); post nothing",
            full_refresh="Read every payment in QuickBooks, not only those changed",
        ),
        default_args=default_args(),
    ) as dag:

        @task(retries=0)
        def prepare() -> dict:
            return prepare_step(get_current_context())

        run = prepare()
        changed = QuickBooksExtractOperator(
            task_id="extract_qbo_payments", flow=FLOW, entity="Payment", window=run["window"], pool="qbo_api"
        )

        @task(pool="qbo_api")
        def extract_qbo_deleted(run: dict) -> dict:
            """Deleted payments, from QuickBooks change data capture (only CDC reports them)."""
            from qbo_intacct.flows.runtime import Window
            from qbo_intacct.hooks import usage
            from qbo_intacct.hooks.quickbooks import QuickBooksHook

            window = Window.from_xcom(run["window"])
            if window.start is None:
                return {"rows": []}
            since = max(window.start, dt.datetime.now(dt.UTC) - dt.timedelta(days=29))
            before = usage.snapshot()
            found = QuickBooksHook().cdc(["Payment"], since).get("Payment", [])
            _publish_usage(get_current_context(), before)
            rows = [
                {"id": str(r["Id"]), "deleted_at": str((r.get("MetaData") or {}).get("LastUpdatedTime") or "")}
                for r in found
                if r.get("status") == "Deleted"
            ]
            print(f"QuickBooks CDC since {since.isoformat()}: {len(rows)} deleted payments")
            return {"rows": rows}

        deleted = extract_qbo_deleted(run)

        @task(pool="intacct_api")
        def extract_intacct_payments(run: dict) -> dict:
            """Intacct receipts changed in the window that this sync did not write and has not brought back
            yet, read whole (with their details) so the ones paying synced invoices go to QuickBooks."""
            from qbo_intacct.hooks import usage

            context, before = get_current_context(), usage.snapshot()
            try:
                return extract_intacct_payments_step(context, run)
            finally:
                _publish_usage(context, before)

        receipts = extract_intacct_payments(run)

        @task
        def scope(changed: dict, deleted: dict, receipts: dict) -> dict:
            return scope_step(changed, deleted, receipts)

        scoped = scope(changed.output, deleted, receipts)
        partners = QuickBooksExtractOperator(
            task_id="extract_qbo_payment_partners", flow=FLOW, entity="Payment", ids=scoped["ids"],
            name="qbo_payment_partners", pool="qbo_api",
        )  # fmt: skip

        @task(pool="qbo_api")
        def extract_qbo_lists(scoped: dict) -> dict:
            """Payment methods, accounts and exchange rates (a page or two each), when anything is in scope."""
            from qbo_intacct.flows.payments import LOOKUPS
            from qbo_intacct.flows.runtime import stage_records
            from qbo_intacct.hooks import usage
            from qbo_intacct.hooks.quickbooks import QuickBooksHook

            if not scoped["lookups"]:
                return {}
            context, before, out = get_current_context(), usage.snapshot(), {}
            hook = QuickBooksHook()
            for entity in LOOKUPS:
                rows = list(hook.iter_query(entity))
                if entity == "ExchangeRate":  # no Id: one rate per currency and date
                    rows = [{**r, "Id": f"{r.get('SourceCurrencyCode')}:{r.get('AsOfDate')}"} for r in rows]
                out[entity] = stage_records(rows, id_field="Id", flow=FLOW, run_id=context["run_id"],
                                            name=f"qbo_{entity.lower()}")  # fmt: skip
            _publish_usage(context, before)
            return out

        @task(pool="intacct_api")
        def extract_intacct_banks(scoped: dict) -> dict:
            """Intacct entities (base currency) and checking accounts (whose entity), when anything is in scope."""
            from qbo_intacct.hooks import usage
            from qbo_intacct.hooks.intacct import IntacctHook

            if not scoped["lookups"]:
                return {}
            context, before = get_current_context(), usage.snapshot()
            hook = IntacctHook()
            entities = [{"LOCATIONID": e.get("LOCATIONID"), "CURRENCY": e.get("CURRENCY")} for e in hook.entities()]
            banks = {
                str(r["BANKACCOUNTID"]): str(r.get("MEGAENTITYID") or "")
                for r in hook.iter_query(
                    "CHECKINGACCOUNT", ["BANKACCOUNTID", "MEGAENTITYID"], entity_id="", show_private=True
                )
            }
            _publish_usage(context, before)
            return {"entities": entities, "banks": banks}

        @task
        def plan(
            run: dict, changed: dict, partners: dict, deleted: dict, lookups: dict, banks: dict, receipts: dict
        ) -> dict:
            return plan_step(get_current_context(), run, [changed, partners], deleted, lookups, banks, receipts)

        planned = plan(run, changed.output, partners.output, deleted, extract_qbo_lists(scoped),
                       extract_intacct_banks(scoped), receipts)  # fmt: skip
        from qbo_intacct.flows.payments import ELEMENT_ORDER

        load = IntacctFunctionsOperator(
            task_id="load_intacct", flow=FLOW, writes=planned["intacct_writes"], element_order=ELEMENT_ORDER,
            pool="intacct_api",
        )  # fmt: skip

        load_qbo = QuickBooksUpsertOperator(task_id="load_qbo", flow=FLOW, writes=planned["qbo_writes"], pool="qbo_api")

        @task
        def record(run: dict, planned: dict, results: dict, qbo_results: dict) -> dict:
            return record_step(get_current_context(), run, planned, results, qbo_results)

        @task
        def compare_balances(data: dict) -> dict:
            from qbo_intacct.hooks import usage

            context, before = get_current_context(), usage.snapshot()
            try:
                return compare_step(data)
            finally:
                _publish_usage(context, before)

        @task(outlets=[asset])
        def report(data: dict) -> str:
            return report_step(get_current_context(), data, asset)

        report(compare_balances(record(run, planned, load.output, load_qbo.output)))
    return dag
