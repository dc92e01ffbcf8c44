"""The period-end reconciliation's steps as plain functions the DAG's tasks call.

``plan`` fixes the period and entities; ``read_check`` reads one check's documents from both systems
and stages them (parquet, one pair per check); ``compare_all`` pairs and explains them and stages the
discrepancies; ``build`` writes the workbook; ``send`` mails it once per period (see :mod:`.sends`);
``summarise`` writes the run summary. Only paths, counts and short texts go through XCom.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import tempfile
from collections.abc import Mapping, Sequence
from decimal import Decimal
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pandas as pd

from qbo_intacct.reconciliation import compare as cmp
from qbo_intacct.reconciliation import read as rd
from qbo_intacct.reconciliation.checks import CHECKS, CHECKS_BY_NAME
from qbo_intacct.reconciliation.sends import SENDING, SENT, SendLedger

log = logging.getLogger(__name__)

FLOW = "reconciliation"
DAG_ID = "qbo_intacct_period_end_reconciliation"
RECIPIENTS_VARIABLE = "qbo_intacct_reconciliation_recipients"
SENDER_VARIABLE = "qbo_intacct_reconciliation_sender"
SMTP_CONN_ID = "smtp_finance"
DEFAULT_SENDER = "qbo-intacct-sync@localhost"
REVIEW_FLOWS = ("customers", "vendors", "invoices", "payments", "bills", "bill_payments", "journal_entries")
LARGEST = 10


class ReconciliationError(Exception):
    """A reconciliation cannot go on; the message says what to do."""


# --- the period -----------------------------------------------------------------------------


def plan(params: Mapping[str, Any], run_after: dt.datetime | None, timezone: str) -> dict[str, Any]:
    """The period (param ``period`` = ``YYYY-MM``, or the month before the run in the company's
    timezone) and the entities (param ``entities``, empty = all)."""
    text = str(params.get("period") or "").strip()
    if text:
        try:
            start = dt.date.fromisoformat(f"{text}-01")
        except ValueError as exc:
            raise ReconciliationError(f"param period {text!r}: write the month as YYYY-MM, e.g. 2026-10") from exc
    else:
        import pendulum

        local = pendulum.instance(run_after or dt.datetime.now(dt.UTC)).in_timezone(timezone)
        first_of_month = dt.date(local.year, local.month, 1)
        start = (first_of_month - dt.timedelta(days=1)).replace(day=1)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    entities = sorted({str(e).strip().upper() for e in params.get("entities") or [] if str(e).strip()})
    key = f"{start:%Y-%m}" + (f":{'+'.join(entities)}" if entities else "")
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "label": f"{start:%Y-%m}",
        "entities": entities,
        "key": key,
        "force_resend": bool(params.get("force_resend")),
        "rate_tolerance": str(params.get("rate_tolerance") or cmp.DEFAULT_RATE_TOLERANCE),
        "home_currency": str(params.get("home_currency") or "USD"),
    }


def _period(p: Mapping[str, Any]) -> rd.Period:
    return rd.Period(dt.date.fromisoformat(p["start"]), dt.date.fromisoformat(p["end"]))


def department_routes() -> dict[str, str]:
    """QuickBooks department name -> Intacct entity, from finance's *Entity Routing* sheet (read once
    per run, in ``plan_period``; the read tasks get it through XCom)."""
    from qbo_intacct.mappings.loader import load_mappings

    mappings = load_mappings()
    departments = {r.qbo_value for r in mappings.routing if r.qbo_dimension == "Department" and r.qbo_value}
    out: dict[str, str] = {}
    for name in sorted(departments):
        found = mappings.route(qbo_department=name)
        out[name] = found.entity if found else ""
    return out


def already_sent(p: Mapping[str, Any]) -> dict[str, Any] | None:
    """The period's sent-marker, if its workbook was mailed (``None`` otherwise or with ``force_resend``)."""
    from qbo_intacct.ledger.db import STATE_CONN_ID, ledger_engine

    if p["force_resend"]:
        return None
    marker = SendLedger(ledger_engine(STATE_CONN_ID)).get(p["key"])
    if marker is None or marker.status != SENT:
        return None
    return {"sent": False, "message_id": marker.message_id, "already_sent_at": str(marker.updated_at)}


# --- read -----------------------------------------------------------------------------------


def read_check(check_name: str, p: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """Read one check's documents from both systems (window, older open ones, partners outside the
    window) and stage them; returns the staged paths and what was read when."""
    from qbo_intacct.flows.staging import stage_frame
    from qbo_intacct.hooks.intacct import Filter, IntacctHook
    from qbo_intacct.hooks.quickbooks import QuickBooksHook
    from qbo_intacct.ledger.repository import Ledger

    check = CHECKS_BY_NAME[check_name]
    period = _period(p)
    routes: Mapping[str, str] = p.get("routes") or {}

    def route(department: str) -> str:
        return routes.get(department, "")

    qbo_hook, intacct_hook = QuickBooksHook(), IntacctHook()
    qbo_read_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    qbo = rd.read_qbo(qbo_hook, check, period, route)
    intacct_read_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    intacct = rd.read_intacct(intacct_hook, check, period, p["entities"])
    ledger = Ledger.from_connection()
    links = rd.links_frame(ledger.links(check.flow), check)
    want_q, want_i = rd.missing_partner_ids(qbo, intacct, links)
    extra_q = rd.read_qbo_by_id(qbo_hook, check, [r.split(":", 1)[1] for r in want_q], route)
    extra_i = rd.read_intacct_by_id(intacct_hook, check, want_i)
    if check.has_external_id and len(qbo):
        # Partners dated outside the period with no ledger link: found by the sync's external id.
        have = set(intacct["ref"]) | set(extra_i["ref"] if len(extra_i) else [])
        refs = [f"qbo:{r}" for r in qbo["record_id"] if r not in have]
        rows = []
        for i in range(0, len(refs), 500):
            found = intacct_hook.iter_query(
                check.intacct_object,
                list(check.intacct_fields),
                Filter.one_of("EXTERNALID", refs[i : i + 500]),
                entity_id="",
                show_private=True,
            )
            rows += [rd.intacct_row(check, r, in_window=False) for r in found]
        extra_i = pd.concat([extra_i, rd.records_frame(rows)], ignore_index=True) if rows else extra_i
    frames = {
        "qbo": _concat(qbo, extra_q),
        "intacct": _concat(intacct, extra_i).drop_duplicates("record_id", ignore_index=True),
    }
    log.info(
        "%s: QuickBooks %d in the period (+%d partners outside it), Intacct %d (+%d)",
        check.title,
        len(qbo),
        len(extra_q),
        len(intacct),
        len(extra_i),
    )
    staged = {
        side: stage_frame(frame, flow=FLOW, run_id=run_id, name=f"{check.name}_{side}").path
        for side, frame in frames.items()
    }
    return {"check": check.name, **staged, "read_at": {"QuickBooks": qbo_read_at, "Intacct": intacct_read_at}}


def read_trial_balance(p: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """The trial-balance tie-out by mapped account for the period (issue 17's, see :mod:`.trial_balance`), staged."""
    from qbo_intacct.flows.staging import stage_frame
    from qbo_intacct.hooks.intacct import IntacctHook
    from qbo_intacct.hooks.quickbooks import QuickBooksHook
    from qbo_intacct.reconciliation import trial_balance as tb

    qbo, intacct = QuickBooksHook(), IntacctHook()
    read_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    bases = {
        str(r["LOCATIONID"]): str(r.get("CURRENCY") or "")
        for r in intacct.iter_query("LOCATIONENTITY", ["LOCATIONID", "CURRENCY"], entity_id="")
    }
    entities = list(p["entities"]) or sorted(bases)
    result, held = tb.read_tie_out(qbo, intacct, p["label"], entities)
    rows, summary = tb.tie_out_rows(result, held, bases)
    log.info(
        "trial balance tie-out: %d account row(s) compared, %d differ, %d journal entries held",
        len(result),
        len(rows),
        len(held),
    )
    return {
        "discrepancies": stage_frame(
            cmp.discrepancy_frame(rows), flow=FLOW, run_id=run_id, name="tb_discrepancies"
        ).path,
        "summary": stage_frame(cmp.summary_frame(summary), flow=FLOW, run_id=run_id, name="tb_summary").path,
        "read_at": {"QuickBooks": read_at, "Intacct": read_at},
    }


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if not len(b):
        return a
    if not len(a):
        return b
    return pd.concat([a, b], ignore_index=True)


# --- compare ----------------------------------------------------------------------------------


def _held(ledger: Any, flow: str) -> dict[str, str]:
    from qbo_intacct.flows.review import explain
    from qbo_intacct.ledger.repository import ReviewStatus

    out: dict[str, str] = {}
    for item in ledger.review_items(flow, ReviewStatus.OPEN):
        reason = (item.context or {}).get("reason") or explain(
            item.reason_code, flow=item.flow, record_system=item.record_system, detail=item.detail
        )[0]
        out[str(item.record_id)] = str(reason)
    return out


def review_rows(ledger: Any) -> list[dict[str, Any]]:
    """Every review item still open, in the words of the review forms."""
    from qbo_intacct.flows.review import card_label, explain
    from qbo_intacct.ledger.repository import ReviewStatus

    rows = []
    for flow in REVIEW_FLOWS:
        for item in ledger.review_items(flow, ReviewStatus.OPEN):
            context = item.context or {}
            record = context.get("record") or {"system": item.record_system, "id": item.record_id}
            if "reason" in context:
                reason, fix = context["reason"], context.get("fix", "")
            else:
                reason, fix = explain(item.reason_code, flow=flow, record_system=item.record_system, detail=item.detail)
            rows.append(
                {
                    "Flow": flow,
                    "Record": card_label(record, context.get("noun") or "record"),
                    "Why it is held": reason,
                    "Where to fix it": fix,
                    "Held since": item.opened_at.strftime("%Y-%m-%d %H:%M") if item.opened_at else "",
                }
            )
    return rows


def compare_all(
    p: Mapping[str, Any], reads: Sequence[Mapping[str, Any]], run_id: str, tb: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Compare every check, add AR/AP balances by party, stage discrepancies, summary and review items."""
    from qbo_intacct.flows.staging import read_staged, stage_frame
    from qbo_intacct.ledger.repository import Ledger

    period = _period(p)
    ledger = Ledger.from_connection()
    party_map = {
        **rd.party_links(ledger.links("customers")),
        **rd.party_links(ledger.links("vendors")),
    }
    results: list[cmp.CheckResult] = []
    by_check = {r["check"]: r for r in reads}
    for check in CHECKS:
        staged = by_check[check.name]
        qbo, intacct = read_staged(staged["qbo"]), read_staged(staged["intacct"])
        links = rd.links_frame(ledger.links(check.flow), check)
        result = cmp.compare_check(
            check,
            qbo,
            intacct,
            period=period,
            links=list(links.itertuples(index=False, name=None)),
            party_map=party_map,
            held=_held(ledger, check.flow),
            rate_tolerance=Decimal(p["rate_tolerance"]),
            home_currency=p["home_currency"],
        )
        log.info(
            "%s: %d pairs compared, %d differences, %d Intacct documents of its own not compared",
            check.title,
            result.compared,
            len(result.discrepancies),
            result.intacct_own,
        )
        results.append(result)
    discrepancies = [d for r in results for d in r.discrepancies]
    summary = [s for r in results for s in r.summary]
    for title, party, kinds in (
        ("AR open balances", "Customer", ("invoices", "credit_memos")),
        ("AP open balances", "Vendor", ("bills",)),
    ):
        rows = cmp.balance_discrepancies(title, party, [r for r in results if r.check.name in kinds])
        discrepancies += rows
        summary += _balance_summary(title, [r for r in results if r.check.name in kinds], rows)
    if tb:
        discrepancies += _rows(read_staged(tb["discrepancies"]))
        summary += _rows(read_staged(tb["summary"]))
    if p["entities"]:
        keep = set(p["entities"]) | {"", "(no entity)"}
        discrepancies = [d for d in discrepancies if d["entity"] in keep]
        summary = [s for s in summary if s["entity"] in keep]
    freshness: dict[str, str] = {}
    for r in reads:
        for system, when in r["read_at"].items():
            freshness[system] = min(freshness.get(system, when), when)
    out = {
        "discrepancies": stage_frame(
            cmp.discrepancy_frame(discrepancies), flow=FLOW, run_id=run_id, name="discrepancies"
        ).path,
        "summary": stage_frame(cmp.summary_frame(summary), flow=FLOW, run_id=run_id, name="summary").path,
        "review": stage_frame(pd.DataFrame(review_rows(ledger)), flow=FLOW, run_id=run_id, name="review").path,
        "freshness": freshness,
        "intacct_own": sum(r.intacct_own for r in results),
        "counts": {kind: sum(1 for d in discrepancies if d["type"] == kind) for kind in cmp.TYPES},
        "failed_lines": sum(1 for s in summary if s["status"] == "Fail"),
        "lines": len(summary),
    }
    log.info(
        "compared %d checks: %d differences, %d of %d summary lines fail",
        len(CHECKS),
        len(discrepancies),
        out["failed_lines"],
        out["lines"],
    )
    return out


def _balance_summary(
    title: str, results: Sequence[cmp.CheckResult], rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    totals: dict[tuple[str, str], list[Decimal]] = {}
    for result in results:
        sign = -1 if result.check.qbo_entity == "CreditMemo" else 1
        for b in result.balances:
            acc = totals.setdefault((b["entity"], b["currency"]), [rd.ZERO, rd.ZERO])
            acc[0] += sign * b["qbo"]
            acc[1] += sign * b["intacct"]
    failing = {(r["entity"], r["currency"]) for r in rows}
    parties: dict[tuple[str, str], list[set[str]]] = {}
    for result in results:
        for b in result.balances:
            seen = parties.setdefault((b["entity"], b["currency"]), [set(), set()])
            for side, amount in ((0, b["qbo"]), (1, b["intacct"])):
                if amount != rd.ZERO:
                    seen[side].add(b["party"])
    out = []
    for (entity, currency), (qbo, intacct) in sorted(totals.items()):
        n = sum(1 for r in rows if (r["entity"], r["currency"]) == (entity, currency))
        out.append(
            {
                "check": title,
                "measure": "by customer or vendor at period end",
                "entity": entity,
                "currency": currency,
                "qbo_count": len(parties[(entity, currency)][0]),
                "intacct_count": len(parties[(entity, currency)][1]),
                "qbo": qbo,
                "intacct": intacct,
                "difference": qbo - intacct,
                "discrepancies": n,
                "status": "Fail" if (entity, currency) in failing or qbo != intacct else "Pass",
            }
        )
    return out


# --- the workbook -----------------------------------------------------------------------------


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if not len(frame):
        return []
    return [
        {k: (None if v is None or (isinstance(v, float) and v != v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def build(p: Mapping[str, Any], compared: Mapping[str, Any], run_id: str, run_time: dt.datetime) -> dict[str, Any]:
    """Write the workbook under the staging root; return its path, the HTML body and the subject."""
    from qbo_intacct.flows.staging import read_staged
    from qbo_intacct.reconciliation.workbook import RunInfo, build_workbook

    summary = _rows(read_staged(compared["summary"]))
    discrepancies = _rows(read_staged(compared["discrepancies"]))
    review = _rows(read_staged(compared["review"]))
    info = RunInfo(
        period=f"{p['label']} ({p['start']} to {p['end']})",
        entities=p["entities"],
        run_time=run_time.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        freshness=compared["freshness"],
        rate_tolerance=Decimal(p["rate_tolerance"]),
        intacct_own=compared["intacct_own"],
    )
    path = workbook_path(p, run_id)
    counts = build_workbook(path, info, summary, discrepancies, review)
    log.info("workbook written: %s (%s)", path, ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return {
        "path": str(path),
        "subject": subject(p, compared),
        "html": html_body(p, summary, discrepancies, len(review)),
        "counts": counts,
    }


def workbook_path(p: Mapping[str, Any], run_id: str) -> Path:
    """A local file under the staging root (the email attaches it from the same worker)."""
    from qbo_intacct.flows.staging import staging_root

    root = staging_root()
    base = (
        Path(root.path) if getattr(root, "protocol", "file") in ("file", "local", "") else Path(tempfile.gettempdir())
    )
    safe_run = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)
    entities = ("_" + "-".join(p["entities"])) if p["entities"] else ""
    return base / FLOW / safe_run / f"reconciliation_{p['label']}{entities}.xlsx"


def subject(p: Mapping[str, Any], compared: Mapping[str, Any]) -> str:
    scope = f" ({', '.join(p['entities'])})" if p["entities"] else ""
    failed = compared["failed_lines"]
    verdict = f"{failed} of {compared['lines']} lines differ" if failed else "both books agree"
    return f"QuickBooks/Intacct reconciliation {p['label']}{scope}: {verdict}"


def html_body(
    p: Mapping[str, Any], summary: Sequence[Mapping[str, Any]], discrepancies: Sequence[Mapping[str, Any]], held: int
) -> str:
    """Pass/fail per check and the largest differences. Built as an element tree (ElementTree escapes
    every text), never by pasting API text into markup."""
    from xml.etree import ElementTree as ET

    checks: dict[str, bool] = {}
    for s in summary:
        checks[s["check"]] = checks.get(s["check"], True) and s["status"] == "Pass"
    with_amount = [d for d in discrepancies if isinstance(d.get("difference"), Decimal) and d["type"] != cmp.CURRENCY]
    largest = sorted(with_amount, key=lambda d: abs(d["difference"]), reverse=True)[:LARGEST]

    root = ET.Element("div")
    intro = ET.SubElement(root, "p")
    intro.text = "Period-end reconciliation of QuickBooks Online and Sage Intacct for "
    ET.SubElement(intro, "b").text = str(p["label"])
    scope = f" ({', '.join(p['entities'])})" if p["entities"] else ""
    intro[-1].tail = f"{scope}. The workbook is attached."

    def table(header: Sequence[str]) -> ET.Element:
        element = ET.SubElement(root, "table", border="1", cellpadding="4")
        row = ET.SubElement(element, "tr")
        for title in header:
            ET.SubElement(row, "th").text = title
        return element

    results = table(["Check", "Result"])
    for name, ok in checks.items():
        row = ET.SubElement(results, "tr")
        ET.SubElement(row, "td").text = str(name)
        cell = ET.SubElement(row, "td", style=f"color:{'#006100' if ok else '#9c0006'}")
        cell.text = "Pass" if ok else "Fail"
    if largest:
        ET.SubElement(root, "p").text = "The largest differences:"
        top = table(["Kind", "Check", "Number", "Customer or vendor", "Difference"])
        for d in largest:
            row = ET.SubElement(top, "tr")
            for value in (
                d["type"],
                d["check"],
                d["qbo_number"] or d["intacct_number"],
                d["qbo_party"] or d["intacct_party"],
                f"{d['currency']} {d['difference']:,.2f}",
            ):
                ET.SubElement(row, "td").text = str(value)
    else:
        ET.SubElement(root, "p").text = "No document differs."
    tally = f"{len(discrepancies)} rows to work through in the workbook; {held} items held for review."
    ET.SubElement(root, "p").text = tally
    return ET.tostring(root, encoding="unicode", method="html")


# --- the email --------------------------------------------------------------------------------


def recipients() -> list[str]:
    from airflow.sdk import Variable

    value = Variable.get(RECIPIENTS_VARIABLE, default="")
    found = [a.strip() for a in str(value).replace(";", ",").split(",") if a.strip()]
    if not found:
        raise ReconciliationError(
            f"no recipients: set the Airflow Variable {RECIPIENTS_VARIABLE} to finance's addresses (comma-separated)"
        )
    return found


def _smtp_hook_class() -> type:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    class SingleAttemptSmtpHook(SmtpHook):
        """The provider's hook, sending once: its ``sendmail`` retry would mail finance twice when a
        reply is lost after the server accepted the message (airflow-notes 2.7)."""

        @property
        def smtp_retry_limit(self) -> int:
            return 0

    return SingleAttemptSmtpHook


def send(p: Mapping[str, Any], built: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """Mail the workbook once per period key; a sent period is skipped unless ``force_resend``."""
    from airflow.sdk.exceptions import AirflowFailException

    from qbo_intacct.ledger.db import STATE_CONN_ID, ledger_engine

    sends = SendLedger(ledger_engine(STATE_CONN_ID))
    marker = sends.get(p["key"])
    if marker is not None and not p["force_resend"]:
        if marker.status == SENT:
            log.info(
                "the %s workbook was already mailed (%s, Message-ID %s); nothing sent",
                p["key"],
                marker.updated_at,
                marker.message_id,
            )
            return {"sent": False, "message_id": marker.message_id, "already_sent_at": str(marker.updated_at)}
        raise AirflowFailException(
            f"a send of the {p['key']} workbook was interrupted after it started (Message-ID {marker.message_id}); "
            "the server may have accepted it. Look for that Message-ID in the recipients' mailbox; if it is not "
            "there, trigger this DAG with force_resend=true."
        )
    to = recipients()
    from airflow.sdk import Variable

    sender = Variable.get(SENDER_VARIABLE, default=DEFAULT_SENDER)
    message_id = make_msgid(domain="qbo-intacct.local")
    hook_class = _smtp_hook_class()
    with hook_class(smtp_conn_id=SMTP_CONN_ID) as hook:
        sends.mark(p["key"], message_id, SENDING, recipients=", ".join(to), workbook=built["path"], run_id=run_id)
        try:
            hook.send_email_smtp(
                to=to,
                from_email=sender,
                subject=built["subject"],
                html_content=built["html"],
                files=[built["path"]],
                custom_headers={"Message-ID": message_id},
            )
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            sends.clear(p["key"], message_id)  # refused, so not accepted: a retry may send it
            raise ReconciliationError(f"the mail server refused the reconciliation mail: {exc}") from exc
    sends.mark(p["key"], message_id, SENT, recipients=", ".join(to), workbook=built["path"], run_id=run_id)
    log.info("mailed the %s workbook to %d recipient(s), Message-ID %s", p["key"], len(to), message_id)
    return {"sent": True, "message_id": message_id, "recipients": len(to)}


def summarise(
    p: Mapping[str, Any],
    compared: Mapping[str, Any],
    built: Mapping[str, Any],
    sent: Mapping[str, Any] | None,
    run_id: str,
) -> dict[str, Any]:
    from qbo_intacct.summaries import write_summary

    if compared is None or built is None:
        earlier = already_sent(p)
        text = (
            f"period-end reconciliation {p['label']}: already mailed (Message-ID {earlier['message_id']}, "
            f"{earlier['already_sent_at']}); nothing read, nothing sent. Trigger with force_resend=true to send "
            "a fresh workbook."
            if earlier
            else f"period-end reconciliation {p['label']}: not sent (the approval was refused)"
        )
        log.info("%s", text)
        data = {"summary": {"period": p["label"], "email": earlier or {}}}
        write_summary(DAG_ID, run_id, text, data)
        return data["summary"]
    counts = {k: v for k, v in compared["counts"].items() if v}
    mail = (
        f"mailed, Message-ID {sent['message_id']}"
        if sent and sent.get("sent")
        else (f"already mailed earlier (Message-ID {sent['message_id']})" if sent else "not mailed (approval refused)")
    )
    text = "\n".join(
        [
            f"period-end reconciliation {p['label']}" + (f" ({', '.join(p['entities'])})" if p["entities"] else ""),
            f"  summary lines failing   {compared['failed_lines']} of {compared['lines']}",
            *[f"  {kind:<24}{n}" for kind, n in counts.items()],
            f"  Intacct-only documents  {compared['intacct_own']} (not from QuickBooks; not compared)",
            f"  workbook                {built['path']}",
            f"  email                   {mail}",
        ]
    )
    log.info("%s", text)
    data = {
        "summary": {
            "period": p["label"],
            "entities": p["entities"],
            "differences": counts,
            "failed_lines": compared["failed_lines"],
            "workbook": built["path"],
            "email": dict(sent or {}),
        }
    }
    path = write_summary(DAG_ID, run_id, text, data)
    return {"summary_path": path, **data["summary"]}
