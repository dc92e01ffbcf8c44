"""One run of the bills flow, step by step (each ``*_step`` is one Airflow task's body, wired by
:mod:`qbo_intacct.operators.bill_dag`); the accounting is in :mod:`qbo_intacct.flows.bills`.

What a run reads: bills changed in the window on both sides, QuickBooks deletions (CDC), bills
pending or held from earlier runs, the other side's record of every linked bill read, Intacct bills
whole (with lines) by RECORDNO, and the bills the other side already has under the numbers about to
be created (a killed run's write found again, or a clash). Frames travel as staged parquet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from qbo_intacct.flows import bills as b
from qbo_intacct.flows.runtime import Window, stage, stage_records, staged_records, writes_frame
from qbo_intacct.flows.staging import read_staged
from qbo_intacct.flows.summary import RunSummary

log = logging.getLogger(__name__)
PLAN_COLUMNS = [f.name for f in dataclasses.fields(b.Step)]


def _ledger() -> Any:
    from qbo_intacct.flows.engine import open_ledger

    return open_ledger()


def last_detail(engine: Any, flow: str) -> dict[str, Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from qbo_intacct.ledger.models import Run

    with Session(engine) as session:
        row = session.scalars(
            select(Run)
            .where(Run.flow == flow, Run.status == "success", Run.dry_run.is_(False))
            .order_by(Run.finished_at.desc(), Run.id.desc())
            .limit(1)
        ).one_or_none()
    return dict(json.loads(row.detail or "{}")) if row is not None else {}


def gather_step(
    context: Mapping[str, Any], qbo_changed: Mapping[str, Any] | None, intacct_changed: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Everything the plan needs beyond the window: by id, both sides (one task, few requests)."""
    from qbo_intacct.hooks.intacct import Filter, IntacctHook
    from qbo_intacct.hooks.quickbooks import QuickBooksHook
    from qbo_intacct.ledger.repository import ReviewStatus

    ledger = _ledger()
    run_id = context["run_id"]
    links = {link.source_id: link for link in ledger.links(b.FLOW)}
    by_target = {link.target_id: link for link in links.values()}
    qbo_rows = {str(r["Id"]): r for r in staged_records(qbo_changed)}
    intacct_nos = {str(r["RECORDNO"]) for r in staged_records(intacct_changed)}
    earlier = set(last_detail(ledger.engine, b.FLOW).get("pending") or {})
    earlier |= {i.record_id for i in ledger.review_items(b.FLOW, ReviewStatus.OPEN)}
    want_qbo = {k.split(":", 1)[1] for k in earlier if k.startswith("Bill:")} - set(qbo_rows)
    intacct_nos |= {k.split(":", 1)[1] for k in earlier if k.startswith("APBILL:")}
    for no in list(intacct_nos):  # the QuickBooks partner of each Intacct bill read
        link = by_target.get(b.intacct_key(no))
        if link is not None:
            want_qbo.add(link.source_id.split(":", 1)[1])
    qbo = QuickBooksHook()
    for _, ids in _chunks(sorted(want_qbo - set(qbo_rows))):
        quoted = ", ".join(f"'{i}'" for i in ids)
        qbo_rows.update({str(r["Id"]): r for r in qbo.iter_query("Bill", f"Id IN ({quoted})")})
    for qbo_id in qbo_rows:  # the Intacct partner of each QuickBooks bill read
        link = links.get(b.qbo_key(qbo_id))
        if link is not None:
            intacct_nos.add(link.target_id.split(":", 1)[1])
    for r in qbo_rows.values():
        if b.own_qbo_bill(r):
            intacct_nos.add(str(b.own_qbo_bill(r)))
    intacct = IntacctHook()
    records = intacct.read("APBILL", sorted(intacct_nos, key=int), entity_id="") if intacct_nos else []
    log.info("read %d QuickBooks bills and %d Intacct bills (window, partners, pending, held)",
             len(qbo_rows), len(records))  # fmt: skip
    numbers = sorted({str(r.get("DocNumber")) for r in qbo_rows.values() if r.get("DocNumber")})
    same_number: list[dict[str, Any]] = []
    for _, chunk in _chunks(numbers):
        same_number += list(
            intacct.iter_query("APBILL", list(b.INTACCT_FIELDS), Filter.one_of("RECORDID", chunk),
                               entity_id="", show_private=True)
        )  # fmt: skip
    ia_numbers = sorted({str(r.get("RECORDID")) for r in records if r.get("RECORDID")})
    qbo_same: list[dict[str, Any]] = []
    for _, chunk in _chunks(ia_numbers):
        quoted = ", ".join("'" + n.replace("'", "\\'") + "'" for n in chunk)
        qbo_same += list(qbo.iter_query("Bill", f"DocNumber IN ({quoted})"))
    return {
        "qbo": stage_records(list(qbo_rows.values()), id_field="Id", flow=b.FLOW, run_id=run_id, name="qbo_bills_all"),
        "intacct": stage_records(records, id_field="RECORDNO", flow=b.FLOW, run_id=run_id, name="intacct_bills_all"),
        "intacct_numbers": stage_records(same_number, id_field="RECORDNO", flow=b.FLOW, run_id=run_id,
                                         name="intacct_same_number"),
        "qbo_numbers": stage_records(qbo_same, id_field="Id", flow=b.FLOW, run_id=run_id, name="qbo_same_number"),
    }  # fmt: skip


def _chunks(values: Sequence[str], size: int = 100) -> list[tuple[int, list[str]]]:
    return [(i, list(values[i : i + size])) for i in range(0, len(values), size)]


def plan_step(
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    gathered: Mapping[str, Any],
    deleted: Mapping[str, Any],
    lookups: Mapping[str, Any],
    entities: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    from airflow.sdk import Variable

    from qbo_intacct.flows.engine import load_workbook_mappings, lookup_records

    ledger = _ledger()
    vendors = {link.source_id: link.target_id for link in ledger.links(b.VENDORS_FLOW)}
    ctx = b.Context.build(
        lookup_records(lookups),
        load_workbook_mappings(),
        vendors=vendors,
        entity_currency={str(e["LOCATIONID"]): str(e["CURRENCY"]) for e in entities if e.get("CURRENCY")} or None,
    )
    qbo_records = staged_records(gathered["qbo"])
    intacct_records = staged_records(gathered["intacct"])
    bills = [b.map_qbo_bill(r, ctx) for r in qbo_records]
    bills += [b.map_intacct_bill(r, ctx) for r in intacct_records]
    partners: dict[str, Mapping[str, Any]] = {b.qbo_key(r["Id"]): r for r in qbo_records}
    partners.update({b.intacct_key(r["RECORDNO"]): r for r in intacct_records})
    by_number: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in staged_records(gathered["intacct_numbers"]):
        by_number.setdefault(("intacct", str(r.get("VENDORID")), str(r.get("RECORDID"))), []).append(r)
    for r in staged_records(gathered["qbo_numbers"]):
        key = ("qbo", str((r.get("VendorRef") or {}).get("value")), str(r.get("DocNumber")))
        by_number.setdefault(key, []).append(r)
    links = {link.source_id: link for link in ledger.links(b.FLOW)}
    detail = last_detail(ledger.engine, b.FLOW)
    hours = Variable.get(b.PENDING_HOURS_VARIABLE, default=None)
    steps, ia_writes, qbo_writes = b.plan(
        bills=bills,
        deleted=(deleted or {}).get("rows") or [],
        partners=partners,
        by_number=by_number,
        links=links,
        pending=detail.get("pending") or {},
        refused=refused_writes(ledger),
        now=dt.datetime.now(dt.UTC).replace(microsecond=0),
        pending_hours=float(hours) if hours not in (None, "") else float(b.DEFAULT_PENDING_HOURS),
    )
    counts = Counter(s.action for s in steps)
    log.info("plan: %s", dict(sorted(counts.items())))
    run_id = context["run_id"]
    frame = pd.DataFrame([dataclasses.asdict(s) for s in steps], columns=PLAN_COLUMNS)
    out: dict[str, Any] = {"plan": stage(frame, flow=b.FLOW, run_id=run_id, name="plan"), "counts": dict(counts)}
    for name, writes in (("intacct_writes", ia_writes), ("qbo_writes", qbo_writes)):
        if run["dry_run"] or not writes:
            out[name] = {"path": None, "rows": 0}
        else:
            out[name] = stage(writes_frame(writes), flow=b.FLOW, run_id=run_id, name=name)
    out["read"] = len(bills) + len((deleted or {}).get("rows") or [])
    return out


def refused_writes(ledger: Any) -> dict[str, tuple[str, str, str]]:
    from qbo_intacct.ledger.repository import ReviewStatus

    return {
        i.record_id: (i.reason_code, i.fingerprint, i.detail)
        for i in ledger.review_items(b.FLOW, ReviewStatus.OPEN)
        if i.reason_code in (b.CLOSED_PERIOD, "write_failed")
    }


def _results(staged: Mapping[str, Any] | None, system: str) -> dict[str, dict[str, Any]]:
    if not staged or not staged.get("path"):
        return {}
    return {f"{system}:{r['write_key'].split(':', 1)[1]}": r for r in read_staged(staged).to_dict("records")}


def _draft(step: b.Step, reason: str, detail: str) -> Any:
    from qbo_intacct.ledger.repository import ReviewDraft

    system = "qbo" if step.key.startswith("Bill:") else "intacct"
    where = "QuickBooks" if system == "qbo" else "Intacct"
    card = {
        "system": system,
        "id": step.key.split(":", 1)[1],
        "name": f"bill {step.doc_number}",
        "fields": [["Number", step.doc_number], ["Vendor", step.vendor], ["Amount", f"{step.amount} {step.currency}"]],
    }
    fixes = {
        "unmapped_account": "the workbook's Accounts sheet",
        "unmapped_department": "the workbook's Entity Routing sheet (Class rows)",
        "split_departments": "the workbook's Bills sheet (Line Departments), or the bill in QuickBooks by hand",
        "no_route": "the workbook's Entity Routing sheet",
        "mixed_entities": "the workbook's Entity Routing sheet, or the line's class in QuickBooks",
        "currency_not_enabled": "the workbook's Currencies sheet",
        b.CLOSED_PERIOD: "Intacct (reopen the period) or the bill's date",
        "doc_number_clash": f"the bill number in {where} or in the other system",
        "vendor_not_linked": "the vendor's review item (qbo_intacct_review DAG, vendors flow)",
    }
    context = {"noun": "bill", "record": card, "partner": None, "candidates": [], "reason": detail,
               "fix": fixes.get(reason, f"the bill in {where}")}  # fmt: skip
    return ReviewDraft(b.FLOW, system, step.key, reason, detail, fingerprint=step.content or reason, context=context)


def record_step(
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    planned: Mapping[str, Any],
    intacct_results: Mapping[str, Any] | None,
    qbo_results: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Links (with the content written and the approval state), review items, pending bills, the run record."""
    from qbo_intacct.flows.engine import held_lines
    from qbo_intacct.ledger.repository import LinkRecord, ReviewStatus

    ledger = _ledger()
    run_id, dry_run = context["run_id"], bool(run["dry_run"])
    frame = read_staged(planned["plan"])
    steps = [b.Step(**{k: None if isinstance(v, float) and v != v else v for k, v in row.items()})
             for row in frame.to_dict("records")]  # fmt: skip
    results = {**_results(intacct_results, "intacct"), **_results(qbo_results, "qbo")}
    summary = RunSummary(b.FLOW, run_id, dry_run=dry_run, read=int(planned.get("read") or 0))
    reasons: Counter[str] = Counter()
    old = {link.source_id: link for link in ledger.links(b.FLOW)}
    links, drafts, pending, settled = [], [], {}, set()
    waiting = 0
    for step in steps:
        if step.action == "pending":
            pending[step.key] = str(step.pending_since)
            reasons["waiting_for_vendor"] += 1
            if step.detail:
                drafts.append(_draft(step, "vendor_not_linked", step.detail))
            continue
        if step.action == "wait":
            waiting += 1
            reasons["waiting_for_approval"] += 1
            continue
        if step.action == "review":
            summary.held_for_review += 1
            reasons[step.reason] += 1
            drafts.append(_draft(step, step.reason, step.detail))
            continue
        if dry_run:
            summary.skipped += 1
            continue
        result = results.get(str(step.write_key)) if step.write_key else None
        if step.write_key and (result is None or result["status"] != "ok"):
            error = (result or {}).get("error") or "not sent"
            closed = "closed" in error.lower() and "period" in error.lower()
            reason = b.CLOSED_PERIOD if closed else "write_failed"
            where = "Intacct" if step.system == "intacct" else "QuickBooks"
            detail = (
                f"bill {step.doc_number} from {step.vendor}: the {where} period of its date is closed ({error}); "
                "posting it in an open period is finance's decision"
                if closed
                else f"bill {step.doc_number} from {step.vendor}: {where} refused the {step.action}: {error}"
            )
            summary.held_for_review += closed
            summary.failed += not closed
            reasons[reason] += 1
            drafts.append(_draft(step, reason, detail))
            continue
        if step.action == "skip" and step.link_source is None:
            summary.skipped += 1
            reasons[step.reason] += 1
            if step.reason in ("zero_amount",):
                settled.add(step.key)
            continue
        source, target = step.link_source, step.link_target
        if step.action == "create":
            new_id = str((result or {}).get("new_id") or "")
            if step.system == "intacct":
                target = b.intacct_key(new_id)
            else:
                source = b.qbo_key(new_id)
        if not source or not target:
            summary.skipped += 1
            continue
        prior = old.get(source)
        hashes = dict((prior.target_hashes or {}) if prior else {})
        hashes.update({"doc_number": step.doc_number, "origin": step.origin or hashes.get("origin", ""),
                       "entity": step.entity or hashes.get("entity", "")})  # fmt: skip
        if step.state:
            hashes["state"] = "Reversed" if step.action == "reverse" else step.state
        if step.action == "reverse":
            hashes["state"] = "Reversed"
        if step.content and (step.action in ("create", "update") or step.reason == "unchanged"):
            hashes["content"] = step.content
        if step.action in ("link",) and step.origin == step.side:
            hashes.pop("content", None)  # found again: the next run compares, and updates if needed
        {"create": lambda: setattr(summary, "created", summary.created + 1),
         "update": lambda: setattr(summary, "updated", summary.updated + 1),
         "reverse": lambda: setattr(summary, "updated", summary.updated + 1)}.get(
            step.action, lambda: setattr(summary, "skipped", summary.skipped + 1))()  # fmt: skip
        reasons[step.reason or step.action] += 1
        settled.add(step.key)
        if prior is not None and dict(prior.target_hashes or {}) == hashes and prior.target_id == target:
            continue  # nothing new to record
        links.append(LinkRecord(b.FLOW, "qbo", source, "intacct", target, target_key=step.doc_number,
                                target_hashes=hashes, origin=step.origin or None, run_id=run_id))  # fmt: skip
    summary.reasons = dict(sorted(reasons.items()))
    if dry_run:
        ledger.record_run(summary.as_run_stats("dry_run"))
    else:
        if links:
            ledger.upsert_links(links, relink=True)
        opened = [ledger.open_review_item(d, run_id=run_id) for d in drafts]
        held = [i for i in opened if i.status is ReviewStatus.OPEN]
        if held:
            from qbo_intacct.flows.review import item_line

            log.info("%d bill(s) held for review:", len(held))
            for item in held[:100]:
                log.info("  %s", item_line(item))
        for item in ledger.review_items(b.FLOW, ReviewStatus.OPEN):
            if item.record_id in settled:
                ledger.resolve_review_item(item.id, decision="ignore", by="sync", note="settled by a later run")
        stats = summary.as_run_stats("success")
        window_end = Window.from_xcom(run["window"]).end.isoformat()
        detail = {**stats.detail, "window_end": window_end, "pending": pending, "source_rows": summary.read}
        ledger.record_run(dataclasses.replace(stats, detail=detail))
    states = Counter(str((link.target_hashes or {}).get("state") or "unknown") for link in ledger.links(b.FLOW))
    data = summary.as_dict()
    data.update(
        {
            "pending": len(pending),
            "waiting_for_approval": waiting,
            "approval_states": dict(sorted(states.items())),
            "held": held_lines(ledger, b.FLOW),
            "window": run["window"],
            "plan_path": planned["plan"]["path"],
        }
    )
    return data


def report_step(context: Mapping[str, Any], data: Mapping[str, Any], asset: Any) -> str:
    from qbo_intacct.flows.engine import ASSET_FIELDS, SUMMARY_FIELDS, publish_summary, run_api_usage
    from qbo_intacct.hooks import usage

    summary = RunSummary.from_dict({k: data[k] for k in SUMMARY_FIELDS})
    spent = run_api_usage(context)
    states = data.get("approval_states") or {}
    lines = [
        summary.render(),
        f"  waiting for their vendor to be linked (retried every run): {data.get('pending', 0)}",
        f"  Intacct bills waiting for approval (Draft / Submitted; sent once approved): "
        f"{data.get('waiting_for_approval', 0)}",
        "  linked bills by Intacct approval state: " + (", ".join(f"{k} {v}" for k, v in states.items()) or "none"),
        f"  {usage.render(spent)}",
    ]
    held = list(data.get("held") or [])
    if held:
        lines.append(f"  open review items ({len(held)}; answer them in the qbo_intacct_review DAG):")
        lines += [f"  - {line}" for line in held]
    counts = {k: v for k, v in data.items() if k != "held"}
    return publish_summary(context, asset, "\n".join(lines), {**counts, "api_calls": spent}, ASSET_FIELDS)
