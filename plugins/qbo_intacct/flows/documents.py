"""The document engine: one run of a one-way document flow (invoices and credit memos first).

Documents are not master data: nothing is matched by name or merged field by field. A QuickBooks
document is either linked to the Intacct document the sync made (ledger link, or found again by
the ``externalid`` the sync writes), or it is created. Each ``*_step`` is one Airflow task's body
(wired by :mod:`qbo_intacct.operators.document_dag`); frames travel as staged parquet, XCom carries
paths and counts. It shares the master-data engine's window, workbook check, staging, ledger and
summary (:mod:`qbo_intacct.flows.engine`).

What a run decides, per QuickBooks document in scope (changed in the window, deleted per CDC,
pending, held, or partner of an Intacct document changed in the window):

- **Void or delete** of a linked invoice: reversed in Intacct on the void date (``reverse_invoice``);
  one with payments applied in Intacct, or a deleted credit memo, is a review item. Never deleted.
- **Customer not linked yet**: pending (in the run's ledger record, with the time first seen),
  retried every run, counted; older than the configured age it is also a review item.
- **Cannot map** (unmapped account or tax code, currency, routing): a review item naming the line
  and the workbook sheet.
- **Zero total**: skipped and counted (Intacct refuses zero lines).
- **Linked**: unchanged content writes nothing; an edit updates the Intacct document while nothing
  is applied to it there, else it is a review item.
- **Not linked**: an Intacct document with the same number and the sync's ``externalid`` is the
  sync's own (a rerun after a killed load): linked, not created twice. One with the same number
  and anything else is a clash: a review item, never a renamed invoice. Otherwise created.
- A write Intacct refuses is a review item with Intacct's words; a closed period says so.

After the load, each document read on both sides is compared on status and open balance, and the
ones that disagree are reported (the payments flow makes them agree).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from qbo_intacct.flows import invoices as inv
from qbo_intacct.flows.declaration import FlowSpec
from qbo_intacct.flows.runtime import Window, content_key, stage, staged_records, writes_frame
from qbo_intacct.flows.staging import read_staged
from qbo_intacct.flows.summary import RunSummary

log = logging.getLogger(__name__)

CUSTOMERS_FLOW = "customers"
PLAN_COLUMNS = [
    "source_id",
    "kind",
    "qbo_id",
    "doc_number",
    "action",
    "reason",
    "detail",
    "write_key",
    "record_no",
    "entity",
    "content",
    "lines",
    "pending_since",
]
STATUS_COLUMNS = [
    "source_id",
    "doc_number",
    "customer",
    "currency",
    "qbo_status",
    "qbo_open",
    "intacct_status",
    "intacct_open",
    "intacct_record_no",
]
CLOSED_PERIOD = "closed_period"


def _open_ledger() -> Any:
    from qbo_intacct.flows.engine import open_ledger

    return open_ledger()


def _mappings() -> Any:
    from qbo_intacct.flows.engine import load_workbook_mappings

    return load_workbook_mappings()


def _target(kind: str, record_no: str) -> str:
    return f"{inv.TARGET_OBJECT[kind]}:{record_no}"


def last_pending(engine: Any, flow: str) -> dict[str, str]:
    """Documents waiting for their customer, from the last successful run: source id -> first seen (ISO)."""
    import json

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
    return dict(json.loads(row.detail or "{}").get("pending") or {}) if row is not None else {}


# ------------------------------------------------------------------------------------ scope


def scope(
    spec: FlowSpec,
    *,
    qbo_changed: Mapping[str, Mapping[str, Any] | None],
    intacct_changed: Sequence[Mapping[str, Any] | None],
    deleted: Mapping[str, Any] | None,
    ledger: Any,
) -> dict[str, list[str]]:
    """QuickBooks documents to read by id besides the window: pending, held, and partners of Intacct changes."""
    from qbo_intacct.ledger.repository import ReviewStatus

    wanted: dict[str, set[str]] = {inv.INVOICE: set(), inv.CREDIT_MEMO: set()}

    def add(source_id: str) -> None:
        kind, _, qbo_id = source_id.partition(":")
        if kind in wanted and qbo_id:
            wanted[kind].add(qbo_id)

    for source_id in last_pending(ledger.engine, spec.name):
        add(source_id)
    for item in ledger.review_items(spec.name, ReviewStatus.OPEN):
        add(item.record_id)
    by_target = {link.target_id: link for link in ledger.links(spec.name)}
    for staged, kind in zip(intacct_changed, (inv.INVOICE, inv.CREDIT_MEMO), strict=False):
        for record in staged_records(staged):
            link = by_target.get(_target(kind, str(record.get("RECORDNO"))))
            if link is not None and not _own_write(record, link):
                add(link.source_id)
    for kind, staged in qbo_changed.items():
        wanted[kind] -= {str(r["Id"]) for r in staged_records(staged)}
    for row in (deleted or {}).get("rows") or []:
        wanted.get(row["kind"], set()).discard(row["id"])
    out = {kind: sorted(ids) for kind, ids in wanted.items()}
    log.info(
        "also read by id: %d invoices, %d credit memos (pending, held or changed in Intacct)",
        len(out[inv.INVOICE]),
        len(out[inv.CREDIT_MEMO]),
    )
    return out


def _own_write(record: Mapping[str, Any], link: Any) -> bool:
    """An Intacct document last modified when the sync wrote it (an echo of our own write, not a change
    such as a payment applied in Intacct): nothing to compare again."""
    modified, synced = record.get("WHENMODIFIED"), getattr(link, "synced_at", None)
    if isinstance(modified, str):  # staged as ISO text
        try:
            modified = dt.datetime.fromisoformat(modified)
        except ValueError:
            return False
    if not isinstance(modified, dt.datetime) or synced is None:
        return False
    if synced.tzinfo is None:
        synced = synced.replace(tzinfo=dt.UTC)
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=dt.UTC)
    return modified <= synced + dt.timedelta(seconds=5)


# ------------------------------------------------------------------------------------ map


def customer_links(ledger: Any) -> dict[str, str]:
    """QuickBooks customer Id -> Intacct CUSTOMERID, from the customers flow's links (never guessed)."""
    return {link.source_id: link.target_id for link in ledger.links(CUSTOMERS_FLOW)}


def map_documents(
    *,
    qbo: Mapping[str, Sequence[Mapping[str, Any] | None]],
    deleted: Mapping[str, Any] | None,
    ctx: inv.DocContext,
    links: Mapping[str, Any],
) -> tuple[list[inv.MappedDocument], list[dict[str, Any]], dict[str, list[str]]]:
    """The run's documents mapped, the deletions, and the Intacct numbers to read (per object)."""
    docs: dict[str, inv.MappedDocument] = {}
    for kind, staged_list in qbo.items():
        for staged in staged_list:
            for record in staged_records(staged):
                doc = inv.map_document(kind, record, ctx)
                docs[doc.source_id] = doc
    gone = [row for row in (deleted or {}).get("rows") or [] if inv.source_key(row["kind"], row["id"]) not in docs]
    numbers: dict[str, set[str]] = {"ARINVOICE": set(), "ARADJUSTMENT": set()}
    for doc in docs.values():
        numbers[inv.TARGET_OBJECT[doc.kind]].add(doc.doc_number)
    for source_id, link in links.items():
        kind = source_id.partition(":")[0]
        if source_id in docs or any(inv.source_key(r["kind"], r["id"]) == source_id for r in gone):
            number = (link.target_hashes or {}).get("doc_number")
            if number and kind in inv.TARGET_OBJECT:
                numbers[inv.TARGET_OBJECT[kind]].add(number)
    return list(docs.values()), gone, {k: sorted(v) for k, v in numbers.items()}


def _doc_frame(docs: Iterable[inv.MappedDocument]) -> pd.DataFrame:
    rows = []
    for d in docs:
        row = dataclasses.asdict(d)
        row["hold"] = dataclasses.asdict(d.hold) if d.hold else None
        row["total"], row["balance"] = str(d.total), str(d.balance)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(inv.MappedDocument)])
    for column in ("header", "lines", "hold"):
        frame[column] = frame[column].astype(object)
    return frame


def docs_from_frame(frame: pd.DataFrame) -> list[inv.MappedDocument]:
    out = []
    for row in frame.to_dict("records"):
        row = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}  # NaN: missing
        row["hold"] = inv.Hold(**row["hold"]) if isinstance(row.get("hold"), Mapping) else None
        row["total"], row["balance"] = Decimal(row["total"]), Decimal(row["balance"])
        row["header"] = dict(row["header"] or {})
        row["lines"] = list(row["lines"] or [])
        out.append(inv.MappedDocument(**row))
    return out


def map_step(
    spec: FlowSpec,
    context: Mapping[str, Any],
    qbo: Mapping[str, Sequence[Mapping[str, Any] | None]],
    deleted: Mapping[str, Any] | None,
    lookups: Mapping[str, Any] | None,
    entities: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    from qbo_intacct.flows.engine import lookup_records

    ledger = _open_ledger()
    ctx = inv.DocContext.build(
        lookup_records(lookups),
        _mappings(),
        customers=customer_links(ledger),
        entity_currency={str(e["LOCATIONID"]): str(e["CURRENCY"]) for e in entities if e.get("CURRENCY")} or None,
    )
    links = {link.source_id: link for link in ledger.links(spec.name)}
    docs, gone, numbers = map_documents(qbo=qbo, deleted=deleted, ctx=ctx, links=links)
    log.info(
        "mapped %d documents (%d held by mapping), %d deleted in QuickBooks",
        len(docs),
        sum(1 for d in docs if d.hold),
        len(gone),
    )
    return {
        "docs": stage(_doc_frame(docs), flow=spec.name, run_id=context["run_id"], name="mapped_documents"),
        "gone": gone,
        **{f"numbers_{obj}": ids for obj, ids in numbers.items()},
    }


# ------------------------------------------------------------------------------------ plan


@dataclasses.dataclass
class Step:
    """What the run does with one document."""

    source_id: str
    kind: str
    qbo_id: str
    doc_number: str
    action: str  # create | update | reverse | link | skip | review | pending
    reason: str = ""
    detail: str = ""
    write_key: str | None = None
    record_no: str | None = None
    entity: str | None = None
    content: str | None = None
    lines: int = 0
    pending_since: str | None = None


def _paid(record: Mapping[str, Any]) -> Decimal:
    value = record.get("TRX_TOTALPAID")
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def plan(
    spec: FlowSpec,
    *,
    docs: Sequence[inv.MappedDocument],
    gone: Sequence[Mapping[str, Any]],
    intacct: Mapping[str, Sequence[Mapping[str, Any]]],
    links: Mapping[str, Any],
    pending: Mapping[str, str],
    now: dt.datetime,
    pending_hours: float,
    refused: Mapping[str, tuple[str, str, str]] | None = None,
) -> tuple[list[Step], list[dict[str, Any]]]:
    """Each document's step and the Intacct writes (one function per document, in plan order).

    ``refused``: source id -> (reason, content, detail) of open review items for writes Intacct
    refused (a closed period): the same content is not sent again until it changes or finance
    decides (the item is resolved), so an unchanged run writes nothing."""
    refused = refused or {}
    by_no: dict[str, dict[str, Any]] = {}
    by_number: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for obj, records in intacct.items():
        for r in records:
            by_no[f"{obj}:{r.get('RECORDNO')}"] = r
            by_number.setdefault((obj, str(r.get("RECORDID"))), []).append(r)
    steps: list[Step] = []
    writes: list[dict[str, Any]] = []

    def write(step: Step, name: str, body: Mapping[str, Any], key: str) -> None:
        step.write_key = str(len(writes))
        writes.append(
            {
                "write_key": step.write_key,
                "operation": name,
                "object": inv.TARGET_OBJECT[step.kind],
                "record_key": step.source_id,
                "entity": step.entity or "",
                "body": dict(body),
                "idempotency_key": key,
                "reveal": None,
            }
        )

    for row in gone:
        kind, qbo_id = row["kind"], row["id"]
        source_id = inv.source_key(kind, qbo_id)
        link = links.get(source_id)
        hashes = dict(link.target_hashes or {}) if link else {}
        step = Step(source_id, kind, qbo_id, hashes.get("doc_number") or qbo_id, "skip", "deleted_unsynced")
        if link is not None:
            _void(step, link, by_no, kind, row["deleted_at"], write)
        steps.append(step)
    for doc in docs:
        link = links.get(doc.source_id)
        hashes = dict(link.target_hashes or {}) if link else {}
        step = Step(
            doc.source_id, doc.kind, doc.qbo_id, doc.doc_number, "skip", entity=doc.entity, lines=len(doc.lines)
        )
        steps.append(step)
        if doc.voided:
            if link is not None:
                _void(step, link, by_no, doc.kind, max(doc.txn_date, _today()), write)
            else:
                step.reason = "voided_unsynced"
            continue
        if doc.hold is not None:
            step.action, step.reason, step.detail = "review", doc.hold.reason, doc.hold.detail
            continue
        if link is None and doc.customer_id is None:
            since = pending.get(doc.source_id) or now.isoformat(timespec="seconds")
            step.action, step.reason, step.pending_since = "pending", "customer_not_linked", since
            age = now - dt.datetime.fromisoformat(since)
            if age >= dt.timedelta(hours=pending_hours):
                step.detail = (
                    f"{doc.label}: customer {doc.customer_name!r} (QuickBooks {doc.customer_qbo_id}) is not "
                    f"linked to an Intacct customer since {since[:16]}; resolve the customer's review item in "
                    "the customers flow (qbo_intacct_review DAG) and the invoice follows"
                )
            continue
        if doc.total == 0:
            step.reason = "zero_amount"
            continue
        if doc.customer_id is None:
            step.action, step.reason = "review", "customer_unlinked"
            step.detail = f"{doc.label}: its customer {doc.customer_name!r} is no longer linked in the customers flow"
            continue
        name, body = inv.create_function(doc)
        step.content = content_key(body)
        earlier = refused.get(doc.source_id)
        if earlier is not None and earlier[1] == step.content:
            step.action, step.reason, step.detail = "review", earlier[0], earlier[2]
            continue
        if link is not None:
            step.record_no = hashes.get("record_no")
            if hashes.get("content") == step.content:
                step.reason = "unchanged"
                continue
            current = by_no.get(link.target_id)
            if current is None:
                step.action, step.reason = "review", "missing_in_intacct"
                step.detail = (
                    f"{doc.label} was edited in QuickBooks, but its Intacct document {link.target_id} is "
                    "not found (deleted in Intacct?); re-create or relink it in Intacct"
                )
            elif str(current.get("STATE")) in ("Reversed", "Reversal"):
                step.action, step.reason = "review", "edited_after_void"
                step.detail = f"{doc.label} was edited in QuickBooks after its Intacct document was reversed"
            elif _paid(current) != 0:
                step.action, step.reason = "review", "edited_after_payment"
                step.detail = (
                    f"{doc.label} was edited in QuickBooks, but {abs(_paid(current))} {doc.currency} is "
                    f"already applied to it in Intacct (record {current.get('RECORDNO')}); reverse the "
                    "payment in Intacct or undo the edit in QuickBooks"
                )
            elif len(doc.lines) < int(hashes.get("lines") or 0):
                step.action, step.reason = "review", "lines_removed"
                step.detail = (
                    f"{doc.label}: lines were removed in QuickBooks; Intacct's update cannot remove a line. "
                    "Reverse the Intacct invoice and let the sync re-create it, or adjust it in Intacct"
                )
            else:
                step.action = "update"
                fn, payload = inv.update_function(doc, str(step.record_no), int(hashes.get("lines") or 0))
                write(step, fn, payload, f"{spec.name}:update:{doc.source_id}:{hashes.get('content')}:{step.content}")
            continue
        same = by_number.get((inv.TARGET_OBJECT[doc.kind], doc.doc_number), [])
        ours = [r for r in same if str(r.get("EXTERNALID") or "") == doc.external_id]
        if ours:
            found = ours[0]
            step.record_no = str(found.get("RECORDNO"))
            amount = abs(Decimal(str(found.get("TRX_TOTALENTERED") or 0)))
            if amount == doc.total:
                step.action, step.reason = "link", "found_by_external_id"
            else:
                step.action, step.reason = "review", "differs_without_baseline"
                step.detail = (
                    f"{doc.label} is in Intacct (record {step.record_no}, written by the sync) for {amount}, "
                    f"but QuickBooks now says {doc.total}; check which is right and correct one side"
                )
            continue
        if same:
            other = same[0]
            step.action, step.reason = "review", "doc_number_clash"
            step.detail = (
                f"{doc.label}: Intacct already has document {doc.doc_number} (customer "
                f"{other.get('CUSTOMERID')}, {other.get('TRX_TOTALENTERED')} {other.get('CURRENCY')}, record "
                f"{other.get('RECORDNO')}); renumber one of them (the sync never renames an invoice)"
            )
            continue
        step.action = "create"
        write(step, name, body, f"{spec.name}:create:{doc.source_id}:{step.content}")
    return steps, writes


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _void(step: Step, link: Any, by_no: Mapping[str, Any], kind: str, when: str, write: Any) -> None:
    hashes = dict(link.target_hashes or {})
    step.record_no = hashes.get("record_no")
    step.entity = hashes.get("entity") or None
    if hashes.get("state") == "reversed":
        step.reason = "already_reversed"
        return
    current = by_no.get(link.target_id)
    if kind == inv.CREDIT_MEMO:
        step.action, step.reason = "review", "credit_memo_deleted"
        step.detail = (
            f"credit memo {step.doc_number} was deleted in QuickBooks; its Intacct AR adjustment "
            f"{link.target_id} is kept: reverse or delete it in Intacct if it should go"
        )
        return
    if current is not None and _paid(current) != 0:
        step.action, step.reason = "review", "void_after_payment"
        step.detail = (
            f"invoice {step.doc_number} was voided or deleted in QuickBooks, but payments are applied to "
            f"it in Intacct (record {step.record_no}); reverse the payments in Intacct, then the next run "
            "reverses the invoice"
        )
        return
    step.action, step.reason = "reverse", "voided_in_quickbooks"
    name, body = inv.reverse_function(kind, str(step.record_no), when[:10], step.doc_number)
    write(step, name, body, f"invoices:reverse:{step.source_id}:{step.record_no}")


def refused_writes(ledger: Any, flow: str) -> dict[str, tuple[str, str, str]]:
    """Open review items of writes Intacct refused: source id -> (reason, content written, detail)."""
    from qbo_intacct.ledger.repository import ReviewStatus

    return {
        item.record_id: (item.reason_code, item.fingerprint, item.detail)
        for item in ledger.review_items(flow, ReviewStatus.OPEN)
        if item.reason_code in (CLOSED_PERIOD, "write_failed")
    }


def pending_hours() -> float:
    from airflow.sdk import Variable

    value = Variable.get(inv.PENDING_HOURS_VARIABLE, default=None)
    return float(value) if value not in (None, "") else float(inv.DEFAULT_PENDING_HOURS)


def plan_step(
    spec: FlowSpec,
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    mapped: Mapping[str, Any],
    intacct: Mapping[str, Sequence[Mapping[str, Any] | None]],
) -> dict[str, Any]:
    ledger = _open_ledger()
    docs = docs_from_frame(read_staged(mapped["docs"]))
    records = {obj: [r for s in staged for r in staged_records(s)] for obj, staged in intacct.items()}
    steps, writes = plan(
        spec,
        docs=docs,
        gone=mapped.get("gone") or [],
        intacct=records,
        links={link.source_id: link for link in ledger.links(spec.name)},
        pending=last_pending(ledger.engine, spec.name),
        now=dt.datetime.now(dt.UTC),
        pending_hours=pending_hours(),
        refused=refused_writes(ledger, spec.name),
    )
    counts = Counter(s.action for s in steps)
    log.info("plan: %s", dict(sorted(counts.items())))
    run_id = context["run_id"]
    frame = pd.DataFrame([dataclasses.asdict(s) for s in steps], columns=PLAN_COLUMNS)
    out = {"plan": stage(frame, flow=spec.name, run_id=run_id, name="plan"), "counts": dict(counts)}
    if run["dry_run"] or not writes:
        out["intacct_writes"] = {"path": None, "rows": 0}
    else:
        out["intacct_writes"] = stage(writes_frame(writes), flow=spec.name, run_id=run_id, name="intacct_writes")
    return out


# ------------------------------------------------------------------------------------ record


def _results(staged: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not staged or not staged.get("path"):
        return {}
    return {str(r["write_key"]): r for r in read_staged(staged).to_dict("records")}


def _card(doc: inv.MappedDocument | None, step: Step) -> dict[str, Any]:
    fields: list[list[str]] = [["Number", step.doc_number]]
    if doc is not None:
        fields += [["Customer", doc.customer_name], ["Date", doc.txn_date], ["Amount", f"{doc.total:,} {doc.currency}"]]
    return {"system": "qbo", "id": step.qbo_id, "name": f"{inv.NOUN[step.kind]} {step.doc_number}", "fields": fields}


FIXES = {
    "unmapped_account": "the workbook's Accounts sheet",
    "unmapped_tax_code": "the workbook's Tax Codes sheet",
    "currency_not_enabled": "the workbook's Currencies sheet, or the invoice in QuickBooks",
    "no_route": "the workbook's Entity Routing sheet",
    "mixed_entities": "the workbook's Entity Routing sheet, or the line's class in QuickBooks",
    CLOSED_PERIOD: "Intacct (reopen the period) or QuickBooks (date the invoice in an open period)",
    "doc_number_clash": "the invoice number in QuickBooks or in Intacct",
    "customer_not_linked": "the customer's review item (qbo_intacct_review DAG, customers flow)",
}


def _draft(spec: FlowSpec, step: Step, doc: inv.MappedDocument | None, reason: str, detail: str) -> Any:
    from qbo_intacct.ledger.repository import ReviewDraft

    context = {
        "noun": inv.NOUN[step.kind],
        "record": _card(doc, step),
        "partner": None,
        "candidates": [],
        "reason": detail,
        "fix": FIXES.get(reason, "the document in QuickBooks or Intacct"),
    }
    return ReviewDraft(
        spec.name, "qbo", step.source_id, reason, detail, fingerprint=step.content or reason, context=context
    )


def record(
    spec: FlowSpec,
    *,
    run_id: str,
    ledger: Any,
    docs: Sequence[inv.MappedDocument],
    steps: Sequence[Step],
    results: Mapping[str, Mapping[str, Any]],
    window_end: str,
    dry_run: bool,
    read: int,
) -> tuple[RunSummary, dict[str, Any]]:
    """Links (with the content written), review items, pending documents and the run's ledger record."""
    from qbo_intacct.ledger.repository import LinkRecord, ReviewStatus

    by_source = {d.source_id: d for d in docs}
    summary = RunSummary(spec.name, run_id, dry_run=dry_run, read=read)
    reasons: Counter[str] = Counter()
    links: list[LinkRecord] = []
    drafts = []
    pending: dict[str, str] = {}
    old_links = {link.source_id: link for link in ledger.links(spec.name)}
    for step in steps:
        doc = by_source.get(step.source_id)
        if step.action == "pending":
            pending[step.source_id] = str(step.pending_since)
            reasons["pending_customer"] += 1
            if step.detail:
                drafts.append(_draft(spec, step, doc, "customer_not_linked", step.detail))
            continue
        if step.action == "review":
            summary.held_for_review += 1
            reasons[step.reason] += 1
            drafts.append(_draft(spec, step, doc, step.reason, step.detail))
            continue
        if step.action == "skip":
            summary.skipped += 1
            reasons[step.reason] += 1
            continue
        if dry_run:
            setattr(
                summary,
                {"create": "created", "update": "updated"}.get(step.action, "skipped"),
                getattr(summary, {"create": "created", "update": "updated"}.get(step.action, "skipped")) + 1,
            )
            continue
        result = results.get(str(step.write_key)) if step.write_key is not None else None
        if step.write_key is not None and (result is None or result["status"] != "ok"):
            error = (result or {}).get("error") or "not sent"
            reason = CLOSED_PERIOD if "closed" in error.lower() and "period" in error.lower() else "write_failed"
            detail = (
                f"{inv.NOUN[step.kind]} {step.doc_number}: the Intacct period of its date is closed ({error}); "
                "posting it in the first open period is finance's decision"
                if reason == CLOSED_PERIOD
                else f"{inv.NOUN[step.kind]} {step.doc_number}: Intacct refused the {step.action}: {error}"
            )
            if reason == CLOSED_PERIOD:
                summary.held_for_review += 1
            else:
                summary.failed += 1
            reasons[reason] += 1
            drafts.append(_draft(spec, step, doc, reason, detail))
            continue
        record_no = step.record_no or str((result or {}).get("new_id") or "")
        old = dict((old_links.get(step.source_id).target_hashes or {}) if step.source_id in old_links else {})
        hashes = {
            **old,
            "record_no": record_no,
            "doc_number": step.doc_number,
            "entity": step.entity or "",
            "state": "reversed" if step.action == "reverse" else "posted",
        }
        if step.action != "reverse":
            hashes.update({"content": str(step.content), "lines": str(step.lines)})
        if step.action == "create":
            summary.created += 1
        elif step.action in ("update", "reverse"):
            summary.updated += 1
            if step.action == "reverse":
                reasons["reversed"] += 1
        else:
            summary.skipped += 1
            reasons[step.reason] += 1
        links.append(
            LinkRecord(
                spec.name,
                "qbo",
                step.source_id,
                "intacct",
                _target(step.kind, record_no),
                target_key=step.doc_number,
                target_hashes=hashes,
                origin="qbo" if step.action == "create" else None,
                run_id=run_id,
            )
        )
    summary.reasons = dict(sorted(reasons.items()))
    if dry_run:
        ledger.record_run(summary.as_run_stats("dry_run"))
        return summary, {"pending": len(pending)}
    ledger.upsert_links(links, relink=True)
    opened = [ledger.open_review_item(d, run_id=run_id) for d in drafts]
    held = [i for i in opened if i.status is ReviewStatus.OPEN]
    if held:
        from qbo_intacct.flows.review import item_line

        log.info("%d document(s) held for review:", len(held))
        for item in held:
            log.info("  %s", item_line(item))
    settled = {link.source_id for link in links} | {
        s.source_id for s in steps if s.action == "skip" and s.reason in ("unchanged", "zero_amount")
    }  # written (or found) this run, or nothing to write: their earlier items are settled
    for item in ledger.review_items(spec.name, ReviewStatus.OPEN):
        if item.record_id in settled:
            ledger.resolve_review_item(item.id, decision="ignore", by="sync", note="settled by a later run")
    stats = summary.as_run_stats("success")
    ledger.record_run(
        dataclasses.replace(
            stats, detail={**stats.detail, "window_end": window_end, "pending": pending, "source_rows": read}
        )
    )
    return summary, {"pending": len(pending)}


def record_step(
    spec: FlowSpec,
    context: Mapping[str, Any],
    run: Mapping[str, Any],
    mapped: Mapping[str, Any],
    planned: Mapping[str, Any],
    intacct_results: Mapping[str, Any] | None,
) -> dict[str, Any]:
    from qbo_intacct.flows.engine import held_lines

    ledger = _open_ledger()
    docs = docs_from_frame(read_staged(mapped["docs"]))
    frame = read_staged(planned["plan"])
    steps = [
        Step(**{k: None if isinstance(v, float) and v != v else v for k, v in row.items()})
        for row in frame.to_dict("records")
    ]
    for s in steps:
        s.lines = int(s.lines or 0)
    summary, extra = record(
        spec,
        run_id=context["run_id"],
        ledger=ledger,
        docs=docs,
        steps=steps,
        results=_results(intacct_results),
        window_end=Window.from_xcom(run["window"]).end.isoformat(),
        dry_run=bool(run["dry_run"]),
        read=len(docs) + len(mapped.get("gone") or []),
    )
    data = summary.as_dict()
    data.update(extra)
    data["held"] = held_lines(ledger, spec.name)
    data["read_qbo"] = len(docs)
    data["read_intacct"] = 0
    data["window"] = run["window"]
    data["plan_path"] = planned["plan"]["path"]
    return data


# ------------------------------------------------------------------------------------ status both ways


def compare_status(
    docs: Sequence[inv.MappedDocument], intacct: Mapping[str, Sequence[Mapping[str, Any]]], links: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Linked documents whose status or open balance differ between QuickBooks and Intacct."""
    by_no = {f"{obj}:{r.get('RECORDNO')}": r for obj, records in intacct.items() for r in records}
    out = []
    for doc in docs:
        link = links.get(doc.source_id)
        if link is None:
            continue
        record = by_no.get(link.target_id)
        if record is None:
            continue
        q_status = inv.qbo_status(doc.total, doc.balance, doc.voided)
        i_status = inv.intacct_status(record)
        i_open = abs(Decimal(str(record.get("TRX_TOTALDUE") or 0)))
        if q_status != i_status or (not doc.voided and doc.balance != i_open):
            out.append(
                {
                    "source_id": doc.source_id,
                    "doc_number": doc.doc_number,
                    "customer": doc.customer_name,
                    "currency": doc.currency,
                    "qbo_status": q_status,
                    "qbo_open": str(doc.balance),
                    "intacct_status": i_status,
                    "intacct_open": str(i_open),
                    "intacct_record_no": str(record.get("RECORDNO")),
                }
            )
    return out


def status_step(
    spec: FlowSpec,
    context: Mapping[str, Any],
    mapped: Mapping[str, Any],
    intacct: Mapping[str, Sequence[Mapping[str, Any] | None]],
    summary: dict[str, Any],
) -> dict[str, Any]:
    """Compare status and open balance of every document this run read on both sides (after the load:
    Intacct is read again by id for the documents linked now), report the ones that disagree."""
    ledger = _open_ledger()
    docs = docs_from_frame(read_staged(mapped["docs"]))
    records = {obj: [r for s in staged for r in staged_records(s)] for obj, staged in intacct.items()}
    rows = compare_status(docs, records, {link.source_id: link for link in ledger.links(spec.name)})
    staged = stage(
        pd.DataFrame(rows, columns=STATUS_COLUMNS), flow=spec.name, run_id=context["run_id"], name="status_differences"
    )
    log.info(
        "status compared: %d linked documents differ between QuickBooks and Intacct (staged at %s)",
        len(rows),
        staged["path"],
    )
    for row in rows[:50]:
        log.info(
            "  %s %s (%s): QuickBooks %s, open %s %s; Intacct %s, open %s",
            row["source_id"].split(":")[0],
            row["doc_number"],
            row["customer"],
            row["qbo_status"],
            row["qbo_open"],
            row["currency"],
            row["intacct_status"],
            row["intacct_open"],
        )
    by_kind = Counter(f"{r['qbo_status']} in QuickBooks, {r['intacct_status']} in Intacct" for r in rows)
    return {**summary, "status_differs": len(rows), "status_differences": dict(by_kind), "status_path": staged["path"]}


# ------------------------------------------------------------------------------------ report


def report_step(spec: FlowSpec, context: Mapping[str, Any], data: Mapping[str, Any], asset: Any) -> str:
    """The master-data summary plus what documents add: waiting for their customer, status differences;
    with what the run spent on each API, as every flow's summary says."""
    from qbo_intacct.flows.engine import ASSET_FIELDS, SUMMARY_FIELDS, publish_summary, run_api_usage
    from qbo_intacct.hooks import usage

    summary = RunSummary.from_dict({k: data[k] for k in SUMMARY_FIELDS})
    window = data.get("window") or {}
    spent = run_api_usage(context)
    lines = [
        summary.render(),
        f"  waiting for their customer to be linked (retried every run): {data.get('pending', 0)}",
        f"  read from QuickBooks {data.get('read_qbo', 0)} documents; window "
        f"{'everything' if not window.get('start') else window['start'] + ' -> ' + window['end']}",
        f"  {usage.render(spent)}",
        f"  status or open balance differ between QuickBooks and Intacct: {data.get('status_differs', 0)}"
        + "".join(f"\n    {n} {what}" for what, n in sorted((data.get("status_differences") or {}).items())),
    ]
    held = list(data.get("held") or [])
    if held:
        lines.append(f"  open review items ({len(held)}; answer them in the qbo_intacct_review DAG):")
        lines += [f"  - {line}" for line in held]
    counts = {k: v for k, v in data.items() if k != "held"}
    return publish_summary(context, asset, "\n".join(lines), {**counts, "api_calls": spent}, ASSET_FIELDS)
