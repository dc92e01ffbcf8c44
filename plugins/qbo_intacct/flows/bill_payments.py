"""Bill payments, both ways: QuickBooks ``BillPayment`` <-> Intacct ``APPYMT``, against linked bills only.

A payment is applied once, on the side it was not entered on, against the bills the bills flow
linked (ledger flow ``bill_payments``: source ``BillPayment:<QuickBooks Id>``, target
``APPYMT:<RECORDNO>``). Rules a finance reader should know:

- **Only linked bills are paid.** A payment any of whose bills is not linked yet (the bill waits
  for its vendor, for approval in Intacct, or is held) waits: *pending*, retried every run, counted,
  and after ``qbo_intacct_bill_payments_pending_hours`` (Airflow Variable, default 72) also a review
  item naming the bill. A bill that exists on one side only is never paid on the other.
- **Amounts.** Each bill gets exactly the amount the payment applies to it (partial payments leave
  the same balance due on both sides); the payment's currency is the bills' currency, with the
  payment's own rate. A payment that pays more than its lines apply (an overpayment: a vendor
  credit in QuickBooks) is held: Intacct AP payments cannot carry one.
- **Bank and method.** QuickBooks -> Intacct: the check's bank account or the card's account goes
  to the Intacct financial entity of the workbook's *Bank Accounts* sheet (the bills' entity's row
  first); the method is the *Payment Methods* sheet's for ``Check`` / ``Credit Card`` (else Printed
  Check / Charge Card). Intacct -> QuickBooks: the financial entity goes back to the first
  QuickBooks account mapped to it on that sheet; ``Charge Card`` becomes a credit-card payment, any
  other method a check. Unmapped: held, naming the sheet.
- **Applied once.** Deterministic keys (Intacct controlid with ``uniqueid``, QuickBooks requestid), the
  ledger, and the sync's own marks: Intacct payments it creates carry ``QBO BillPayment <Id>`` in
  their description; QuickBooks payments end their memo with ``[Intacct payment <RECORDNO>]``. An
  edit to a payment already carried is a review item (never applied twice); so is a void.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from qbo_intacct.flows import bills as b
from qbo_intacct.flows.declaration import FlowMappingError, FlowSpec
from qbo_intacct.flows.matching import StrongId, normalize_reference

log = logging.getLogger(__name__)

FLOW = "bill_payments"
PENDING_HOURS_VARIABLE = "qbo_intacct_bill_payments_pending_hours"
DEFAULT_PENDING_HOURS = 72
ZERO = Decimal("0.00")
_MARKER = re.compile(r"\[Intacct payment (\d+)\]\s*$")
#: Intacct AP payment states that moved money (I-APP: C Posted; the sandbox shows "Complete").
DONE_STATES = frozenset({"Complete", "Posted", "Approved", "Paid", "Partially Paid"})
VOIDED_STATES = frozenset({"Voided", "Reversed", "V"})
INTACCT_FIELDS: tuple[str, ...] = ("RECORDNO", "VENDORID", "STATE", "WHENMODIFIED")


def qbo_key(qbo_id: Any) -> str:
    return f"BillPayment:{qbo_id}"


def intacct_key(record_no: Any) -> str:
    return f"APPYMT:{record_no}"


def own_intacct_payment(record: Mapping[str, Any]) -> str | None:
    text = str(record.get("DESCRIPTION") or "")
    return text[len("QBO BillPayment ") :] if text.startswith("QBO BillPayment ") else None


def own_qbo_payment(record: Mapping[str, Any]) -> str | None:
    found = _MARKER.search(str(record.get("PrivateNote") or ""))
    return found.group(1) if found else None


@dataclass
class Payment:
    side: str
    key: str
    record_id: str
    label: str
    vendor_ref: str
    currency: str
    total: Decimal
    bills: list[tuple[str, Decimal]] = field(default_factory=list)  # (this side's bill key, amount)
    own_partner: str | None = None
    done: bool = True
    voided: bool = False
    hold: b.Hold | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def read_qbo_payment(record: Mapping[str, Any]) -> Payment:
    qbo_id = str(record["Id"])
    bills = []
    for line in record.get("Line") or []:
        for txn in line.get("LinkedTxn") or []:
            if txn.get("TxnType") == "Bill":
                bills.append((b.qbo_key(txn["TxnId"]), b.money(line.get("Amount"))))
    total = b.money(record.get("TotalAmt"))
    number = record.get("DocNumber") or qbo_id
    vendor = record.get("VendorRef") or {}
    return Payment(
        side="qbo",
        key=qbo_key(qbo_id),
        record_id=qbo_id,
        label=f"bill payment {number} to {vendor.get('name') or vendor.get('value')} ({total} "
        f"{(record.get('CurrencyRef') or {}).get('value') or 'USD'})",
        vendor_ref=str(vendor.get("value") or ""),
        currency=str((record.get("CurrencyRef") or {}).get("value") or "USD"),
        total=total,
        bills=bills,
        own_partner=own_qbo_payment(record),
        voided=total == 0 and str(record.get("PrivateNote") or "").startswith("Voided"),
        raw=dict(record),
    )


def read_intacct_payment(record: Mapping[str, Any]) -> Payment:
    record_no = str(record.get("RECORDNO"))
    details = record.get("APPYMTDETAILS") or []
    if isinstance(details, Mapping):
        details = next((v for k, v in details.items() if k.upper() == "APPYMTDETAIL"), details)
    if isinstance(details, Mapping):
        details = [details]
    bills = [(b.intacct_key(d.get("RECORDKEY")), b.money(d.get("TRX_PAYMENTAMOUNT"))) for d in details]
    total = b.money(record.get("TRX_TOTALENTERED")) or sum((a for _, a in bills), ZERO)
    state = str(record.get("STATE") or "")
    return Payment(
        side="intacct",
        key=intacct_key(record_no),
        record_id=record_no,
        label=f"AP payment {record.get('DOCNUMBER') or record_no} to "
        f"{record.get('VENDORNAME') or record.get('VENDORID')}"
        f" ({total} {record.get('CURRENCY')})",
        vendor_ref=str(record.get("VENDORID") or ""),
        currency=str(record.get("CURRENCY") or record.get("BASECURR") or "USD"),
        total=total,
        bills=bills,
        own_partner=own_intacct_payment(record),
        done=state in DONE_STATES,
        voided=state in VOIDED_STATES,
        raw=dict(record),
    )


@dataclass
class Context:
    mappings: Any
    accounts: Mapping[str, str]  # QuickBooks account Id -> name
    account_ids: Mapping[str, str]  # name -> Id
    vendors: Mapping[str, str]  # QuickBooks vendor Id -> VENDORID
    vendors_back: Mapping[str, str]
    bill_links: Mapping[str, str]  # Bill:<id> <-> APBILL:<no>, both directions
    intacct_bills: Mapping[str, Mapping[str, Any]]  # APBILL:<no> -> header (STATE, MEGAENTITYID, ...)
    home_currency: str = "USD"


def _method(ctx: Context, qbo_name: str, default: str) -> str:
    return ctx.mappings.payment_method(qbo_name) or default


def to_intacct(payment: Payment, ctx: Context) -> dict[str, Any]:
    """The APPYMT a QuickBooks bill payment becomes (raises ``_HeldError`` with a reason)."""
    raw = payment.raw
    entities = {
        str((ctx.intacct_bills.get(ctx.bill_links[k]) or {}).get("MEGAENTITYID") or "") for k, _ in payment.bills
    }
    if len(entities) != 1:
        raise b._HeldError("mixed_entities", f"{payment.label} pays bills of several Intacct entities")
    (entity,) = entities
    if raw.get("PayType") == "CreditCard":
        ref = (raw.get("CreditCardPayment") or {}).get("CCAccountRef") or {}
        method = _method(ctx, "Credit Card", "Charge Card")
        method = method if method in ("Charge Card", "Printed Check", "Cash", "EFT", "ACH") else "Charge Card"
    else:
        ref = (raw.get("CheckPayment") or {}).get("BankAccountRef") or {}
        method = _method(ctx, "Check", "Printed Check")
    account = ctx.accounts.get(str(ref.get("value") or "")) or ref.get("name")
    bank = ctx.mappings.bank_account(account, entity) if account else None
    if bank is None or not bank.intacct_financial_entity:
        raise b._HeldError(
            "unmapped_bank_account",
            f"{payment.label}: QuickBooks account {account or '(none)'!r} has no Intacct financial entity on the "
            "workbook's Bank Accounts sheet; add it there",
        )
    body: dict[str, Any] = {
        "FINANCIALENTITY": bank.intacct_financial_entity,
        "PAYMENTMETHOD": method,
        "VENDORID": ctx.vendors[payment.vendor_ref],
        "DOCNUMBER": b.clean_text(raw.get("DocNumber"), 21),
        "DESCRIPTION": f"QBO BillPayment {payment.record_id}",
        "PAYMENTDATE": str(raw.get("TxnDate") or "")[:10],
        "CURRENCY": payment.currency,
        "APPYMTDETAILS": {
            "APPYMTDETAIL": [
                {"RECORDKEY": ctx.bill_links[k].split(":", 1)[1], "TRX_PAYMENTAMOUNT": amount}
                for k, amount in payment.bills
            ]
        },
    }
    base = str((ctx.intacct_bills.get(ctx.bill_links[payment.bills[0][0]]) or {}).get("BASECURR") or "")
    if payment.currency != base and base == ctx.home_currency and raw.get("ExchangeRate") not in (None, ""):
        # the payment's own rate (QuickBooks: home units per unit = the entity's base here); in other
        # entities Intacct's daily rate applies (QuickBooks knows no rate into GBP or CAD)
        body["EXCHANGE_RATE"] = str(Decimal(str(raw["ExchangeRate"])).quantize(b.RATE_PLACES, rounding=ROUND_HALF_UP))
    return {k: v for k, v in body.items() if v is not None}


def to_qbo(payment: Payment, ctx: Context) -> dict[str, Any]:
    """The QuickBooks BillPayment an Intacct AP payment becomes (raises ``_HeldError``)."""
    raw = payment.raw
    fe = str(raw.get("FINANCIALENTITY") or "")
    rows = [r for r in ctx.mappings.bank_accounts if r.intacct_financial_entity == fe and r.qbo_account]
    account = next((r.qbo_account for r in rows if r.qbo_account in ctx.account_ids), None)
    if account is None:
        raise b._HeldError(
            "unmapped_financial_entity",
            f"{payment.label}: Intacct financial entity {fe or '(none)'} has no QuickBooks account on the workbook's "
            "Bank Accounts sheet; add it there",
        )
    ref = {"value": ctx.account_ids[account], "name": account}
    card = str(raw.get("PAYMENTMETHOD") or "") == "Charge Card"
    body: dict[str, Any] = {
        "VendorRef": {"value": ctx.vendors_back[payment.vendor_ref]},
        "PayType": "CreditCard" if card else "Check",
        "TotalAmt": payment.total,
        "TxnDate": str(raw.get("PAYMENTDATE") or raw.get("WHENPAID") or "")[:10],
        "CurrencyRef": {"value": payment.currency},
        "DocNumber": b.clean_text(raw.get("DOCNUMBER"), 21),
        "PrivateNote": f"[Intacct payment {payment.record_id}]",
        "Line": [
            {"Amount": amount, "LinkedTxn": [{"TxnId": ctx.bill_links[k].split(":", 1)[1], "TxnType": "Bill"}]}
            for k, amount in payment.bills
        ],
    }
    body["CreditCardPayment" if card else "CheckPayment"] = (
        {"CCAccountRef": ref} if card else {"BankAccountRef": ref, "PrintStatus": "NotSet"}
    )
    if payment.currency != ctx.home_currency:
        bill = ctx.intacct_bills.get(payment.bills[0][0]) or {}
        base = str(raw.get("BASECURR") or bill.get("BASECURR") or ctx.home_currency)
        if base == ctx.home_currency:
            body["ExchangeRate"] = Decimal(str(raw.get("EXCHANGE_RATE") or bill.get("EXCHANGE_RATE") or 1))
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class Step:
    key: str
    side: str
    label: str
    action: str  # create | link | skip | review | pending | wait
    reason: str = ""
    detail: str = ""
    system: str = ""
    write_key: str | None = None
    link_source: str | None = None
    link_target: str | None = None
    content: str | None = None
    amount: str = "0.00"
    pending_since: str | None = None


def plan(
    payments: Sequence[Payment],
    ctx: Context,
    *,
    links: Mapping[str, Any],
    pending: Mapping[str, str],
    now: dt.datetime,
    pending_hours: float,
    refused: Mapping[str, tuple[str, str, str]] | None = None,
) -> tuple[list[Step], list[dict[str, Any]], list[dict[str, Any]]]:
    """Each payment's step and the writes. ``refused``: payment key -> (reason, content, detail) of open
    review items for writes the other side refused: the same payment is not sent again until it
    changes or finance resolves the item, so an unchanged run writes (and sends) nothing."""
    refused = refused or {}
    by_target = {link.target_id: link for link in links.values()}
    steps: list[Step] = []
    writes: dict[str, list[dict[str, Any]]] = {"intacct": [], "qbo": []}

    def write(step: Step, system: str, obj: str, body: Mapping[str, Any], key: str, entity: str = "") -> None:
        target = writes[system]
        step.system, step.write_key = system, f"{system}:{len(target)}"
        target.append({"write_key": step.write_key, "operation": "create", "object": obj, "record_key": step.key,
                       "entity": entity, "body": dict(body), "idempotency_key": key, "reveal": None})  # fmt: skip

    seen: set[str] = set()
    for p in payments:
        if p.key in seen:
            continue
        seen.add(p.key)
        step = Step(p.key, p.side, p.label, "skip", amount=str(p.total))
        steps.append(step)
        link = links.get(p.key) if p.side == "qbo" else by_target.get(p.key)
        content = b._content({"total": str(p.total), "bills": [[k, str(a)] for k, a in p.bills], "void": p.voided})
        if link is not None:
            step.link_source, step.link_target = link.source_id, link.target_id
            hashes = dict(link.target_hashes or {})
            if hashes.get("origin") != p.side or hashes.get("content") in (None, content):
                step.reason = "unchanged"
            else:
                step.action, step.reason = "review", "voided_after_sync" if p.voided else "edited_after_sync"
                step.detail = (
                    f"{p.label} was {'voided' if p.voided else 'edited'} after the sync applied it on the other "
                    "side; the sync never applies a payment twice: change the other side's payment by hand"
                )
            continue
        if p.own_partner:
            other = intacct_key(p.own_partner) if p.side == "qbo" else qbo_key(p.own_partner)
            step.action, step.reason = "link", "written_by_sync"
            step.link_source, step.link_target = (p.key, other) if p.side == "qbo" else (other, p.key)
            continue
        if p.voided or not p.done:
            step.reason = "voided_unsynced" if p.voided else "not_posted"
            continue
        if not p.bills:
            step.reason = "no_bill"
            continue
        missing = [k for k, _ in p.bills if k not in ctx.bill_links]
        unpayable = [
            k
            for k, _ in p.bills
            if k in ctx.bill_links
            and str((ctx.intacct_bills.get(k if p.side == "intacct" else ctx.bill_links[k]) or {}).get("STATE"))
            in b.WAITING_STATES
        ]
        vendor = ctx.vendors.get(p.vendor_ref) if p.side == "qbo" else ctx.vendors_back.get(p.vendor_ref)
        if missing or unpayable or vendor is None:
            since = pending.get(p.key) or now.isoformat(timespec="seconds")
            step.action, step.reason, step.pending_since = "pending", "bill_not_linked", since
            if now - dt.datetime.fromisoformat(since) >= dt.timedelta(hours=pending_hours):
                what = ", ".join(missing + unpayable) or f"vendor {p.vendor_ref}"
                step.detail = (
                    f"{p.label}: {what} is not linked (or not approved in Intacct) since {since[:16]}; a bill that "
                    "exists on one side only is never paid on the other: resolve the bill in the bills flow"
                )
            continue
        if sum((a for _, a in p.bills), ZERO) != p.total:
            step.action, step.reason = "review", "overpayment"
            step.detail = f"{p.label} pays more than it applies to bills (a vendor credit); enter it by hand"
            continue
        try:
            body = to_intacct(p, ctx) if p.side == "qbo" else to_qbo(p, ctx)
        except b._HeldError as held:
            step.action, step.reason, step.detail = "review", held.hold.reason, held.hold.detail
            continue
        step.content = content
        earlier = refused.get(p.key)
        if earlier is not None and earlier[1] == content:
            step.action, step.reason, step.detail = "review", earlier[0], earlier[2]
            continue
        step.action = "create"
        key = f"{FLOW}:create:{p.key}:{b._content(body)}"
        if p.side == "qbo":
            step.link_source = p.key
            entity = str((ctx.intacct_bills.get(ctx.bill_links[p.bills[0][0]]) or {}).get("MEGAENTITYID") or "")
            write(step, "intacct", "APPYMT", {"APPYMT": body}, key, entity)
        else:
            step.link_target = p.key
            write(step, "qbo", "BillPayment", body, key)
    return steps, writes["intacct"], writes["qbo"]


# -------------------------------------------------------------------------------- the run's steps


def gather_step(context: Mapping[str, Any], qbo_changed: Any, intacct_changed: Any) -> dict[str, Any]:
    """Payments in the window and pending ones, both sides whole (Intacct with details), and the
    Intacct bills they pay (state, entity, currency)."""
    from qbo_intacct.flows.bill_steps import _chunks, last_detail
    from qbo_intacct.flows.engine import open_ledger
    from qbo_intacct.flows.runtime import stage_records, staged_records
    from qbo_intacct.hooks.intacct import IntacctHook
    from qbo_intacct.hooks.quickbooks import QuickBooksHook
    from qbo_intacct.ledger.repository import ReviewStatus

    ledger, run_id = open_ledger(), context["run_id"]
    qbo_rows = {str(r["Id"]): r for r in staged_records(qbo_changed)}
    ia_nos = {str(r["RECORDNO"]) for r in staged_records(intacct_changed)}
    earlier = set(last_detail(ledger.engine, FLOW).get("pending") or {})
    earlier |= {i.record_id for i in ledger.review_items(FLOW, ReviewStatus.OPEN)}
    want = {k.split(":", 1)[1] for k in earlier if k.startswith("BillPayment:")} - set(qbo_rows)
    ia_nos |= {k.split(":", 1)[1] for k in earlier if k.startswith("APPYMT:")}
    qbo = QuickBooksHook()
    for _, ids in _chunks(sorted(want)):
        quoted = ", ".join(f"'{i}'" for i in ids)
        qbo_rows.update({str(r["Id"]): r for r in qbo.iter_query("BillPayment", f"Id IN ({quoted})")})
    intacct = IntacctHook()
    payments = intacct.read("APPYMT", sorted(ia_nos, key=int), entity_id="") if ia_nos else []
    bill_links = {link.source_id: link.target_id for link in ledger.links(b.FLOW)}
    bill_nos = {
        bill_links[key].split(":")[1]
        for r in qbo_rows.values()
        for key, _ in read_qbo_payment(r).bills
        if key in bill_links
    }
    for p in payments:
        bill_nos |= {str(k.split(":")[1]) for k, _ in read_intacct_payment(p).bills}
    bills = (
        intacct.read("APBILL", sorted(bill_nos, key=int), fields=list(b.INTACCT_FIELDS), entity_id="")
        if bill_nos
        else []
    )
    log.info("read %d QuickBooks bill payments, %d Intacct AP payments, %d Intacct bills they pay",
             len(qbo_rows), len(payments), len(bills))  # fmt: skip
    return {
        "qbo": stage_records(list(qbo_rows.values()), id_field="Id", flow=FLOW, run_id=run_id, name="qbo_payments"),
        "intacct": stage_records(payments, id_field="RECORDNO", flow=FLOW, run_id=run_id, name="intacct_payments"),
        "bills": stage_records(bills, id_field="RECORDNO", flow=FLOW, run_id=run_id, name="intacct_bills"),
    }


def plan_step(context: Mapping[str, Any], run: Mapping[str, Any], gathered: Mapping[str, Any], lookups: Any) -> dict:
    import pandas as pd
    from airflow.sdk import Variable

    from qbo_intacct.flows.bill_steps import last_detail
    from qbo_intacct.flows.engine import load_workbook_mappings, lookup_records, open_ledger
    from qbo_intacct.flows.runtime import stage, staged_records, writes_frame
    from qbo_intacct.ledger.repository import ReviewStatus

    ledger = open_ledger()
    vendors = {link.source_id: link.target_id for link in ledger.links(b.VENDORS_FLOW)}
    bill_links: dict[str, str] = {}
    for link in ledger.links(b.FLOW):
        bill_links[link.source_id], bill_links[link.target_id] = link.target_id, link.source_id
    accounts = {str(r["Id"]): str(r.get("FullyQualifiedName") or r.get("Name")) for r in
                lookup_records(lookups).get("Account", [])}  # fmt: skip
    ctx = Context(
        mappings=load_workbook_mappings(),
        accounts=accounts,
        account_ids={v: k for k, v in accounts.items()},
        vendors=vendors,
        vendors_back={v: k for k, v in vendors.items()},
        bill_links=bill_links,
        intacct_bills={b.intacct_key(r["RECORDNO"]): r for r in staged_records(gathered["bills"])},
    )
    payments = [read_qbo_payment(r) for r in staged_records(gathered["qbo"])]
    payments += [read_intacct_payment(r) for r in staged_records(gathered["intacct"])]
    hours = Variable.get(PENDING_HOURS_VARIABLE, default=None)
    steps, ia_writes, qbo_writes = plan(
        payments,
        ctx,
        links={link.source_id: link for link in ledger.links(FLOW)},
        pending=last_detail(ledger.engine, FLOW).get("pending") or {},
        now=dt.datetime.now(dt.UTC).replace(microsecond=0),
        pending_hours=float(hours) if hours not in (None, "") else float(DEFAULT_PENDING_HOURS),
        refused={
            i.record_id: (i.reason_code, i.fingerprint, i.detail)
            for i in ledger.review_items(FLOW, ReviewStatus.OPEN)
            if i.reason_code == "write_refused"
        },
    )
    log.info("plan: %s", dict(sorted(Counter(s.action for s in steps).items())))
    run_id = context["run_id"]
    frame = pd.DataFrame([dataclasses.asdict(s) for s in steps], columns=[f.name for f in dataclasses.fields(Step)])
    out: dict[str, Any] = {"plan": stage(frame, flow=FLOW, run_id=run_id, name="plan"), "read": len(payments)}
    for name, w in (("intacct_writes", ia_writes), ("qbo_writes", qbo_writes)):
        out[name] = (
            {"path": None, "rows": 0}
            if run["dry_run"] or not w
            else stage(writes_frame(w), flow=FLOW, run_id=run_id, name=name)
        )
    return out


def record_step(context: Mapping[str, Any], run: Mapping[str, Any], planned: Mapping[str, Any],
                intacct_results: Any, qbo_results: Any) -> dict[str, Any]:  # fmt: skip
    from qbo_intacct.flows.bill_steps import _results
    from qbo_intacct.flows.engine import held_lines, open_ledger
    from qbo_intacct.flows.runtime import Window
    from qbo_intacct.flows.staging import read_staged
    from qbo_intacct.flows.summary import RunSummary
    from qbo_intacct.ledger.repository import LinkRecord, ReviewDraft, ReviewStatus

    ledger, run_id, dry_run = open_ledger(), context["run_id"], bool(run["dry_run"])
    steps = [Step(**{k: None if isinstance(v, float) and v != v else v for k, v in r.items()})
             for r in read_staged(planned["plan"]).to_dict("records")]  # fmt: skip
    results = {**_results(intacct_results, "intacct"), **_results(qbo_results, "qbo")}
    summary = RunSummary(FLOW, run_id, dry_run=dry_run, read=int(planned.get("read") or 0))
    reasons: Counter[str] = Counter()
    links, drafts, pending, settled = [], [], {}, set()

    def draft(step: Step, reason: str, detail: str) -> ReviewDraft:
        system = "qbo" if step.key.startswith("BillPayment:") else "intacct"
        card = {
            "system": system,
            "id": step.key.split(":", 1)[1],
            "name": step.label,
            "fields": [["Amount", step.amount]],
        }
        context = {"noun": "bill payment", "record": card, "partner": None, "candidates": [], "reason": detail,
                   "fix": "the payment or its bills (bills flow), or the workbook sheet named"}  # fmt: skip
        return ReviewDraft(FLOW, system, step.key, reason, detail, fingerprint=step.content or reason, context=context)

    for step in steps:
        if step.action == "pending":
            pending[step.key] = str(step.pending_since)
            reasons["waiting_for_bill"] += 1
            if step.detail:
                drafts.append(draft(step, "bill_not_linked", step.detail))
            continue
        if step.action == "review":
            summary.held_for_review += 1
            reasons[step.reason] += 1
            drafts.append(draft(step, step.reason, step.detail))
            continue
        if dry_run or step.action == "skip":
            summary.skipped += 1
            reasons[step.reason or step.action] += 1
            continue
        result = results.get(str(step.write_key)) if step.write_key else None
        if step.write_key and (result is None or result["status"] != "ok"):
            error = (result or {}).get("error") or "not sent"
            if result is None:  # not sent (the load failed before it): retried next run
                summary.failed += 1
                reasons["write_failed"] += 1
                continue
            summary.held_for_review += 1  # a business refusal (closed period, bank of another entity...)
            reasons["write_refused"] += 1
            where = "Intacct" if step.system == "intacct" else "QuickBooks"
            drafts.append(draft(step, "write_refused", f"{step.label}: {where} refused it: {error}"))
            continue
        source, target = step.link_source, step.link_target
        if step.action == "create":
            new_id = str((result or {}).get("new_id") or "")
            source = source or qbo_key(new_id)
            target = target or intacct_key(new_id)
            summary.created += 1
        else:
            summary.skipped += 1
        reasons[step.reason or step.action] += 1
        settled.add(step.key)
        hashes = {"origin": step.side, "content": step.content or "", "amount": step.amount}
        links.append(LinkRecord(FLOW, "qbo", str(source), "intacct", str(target), target_hashes=hashes,
                                origin=step.side, run_id=run_id))  # fmt: skip
    summary.reasons = dict(sorted(reasons.items()))
    if dry_run:
        ledger.record_run(summary.as_run_stats("dry_run"))
    else:
        if links:
            ledger.upsert_links(links, relink=True)
        for d in drafts:
            ledger.open_review_item(d, run_id=run_id)
        for item in ledger.review_items(FLOW, ReviewStatus.OPEN):
            if item.record_id in settled:
                ledger.resolve_review_item(item.id, decision="ignore", by="sync", note="settled by a later run")
        stats = summary.as_run_stats("success")
        end = Window.from_xcom(run["window"]).end.isoformat()
        detail = {**stats.detail, "window_end": end, "pending": pending, "source_rows": summary.read}
        ledger.record_run(dataclasses.replace(stats, detail=detail))
    data = summary.as_dict()
    data.update({"pending": len(pending), "held": held_lines(ledger, FLOW), "window": run["window"]})
    return data


def report_step(context: Mapping[str, Any], data: Mapping[str, Any], asset: Any) -> str:
    from qbo_intacct.flows.engine import ASSET_FIELDS, SUMMARY_FIELDS, publish_summary, run_api_usage
    from qbo_intacct.flows.summary import RunSummary
    from qbo_intacct.hooks import usage

    summary = RunSummary.from_dict({k: data[k] for k in SUMMARY_FIELDS})
    spent = run_api_usage(context)
    lines = [
        summary.render(),
        f"  waiting for their bills to be linked or approved (retried every run): {data.get('pending', 0)}",
        f"  {usage.render(spent)}",
    ]
    held = list(data.get("held") or [])
    if held:
        lines.append(f"  open review items ({len(held)}; answer them in the qbo_intacct_review DAG):")
        lines += [f"  - {line}" for line in held]
    counts = {k: v for k, v in data.items() if k != "held"}
    return publish_summary(context, asset, "\n".join(lines), {**counts, "api_calls": spent}, ASSET_FIELDS)


def _not_here(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
    raise FlowMappingError("bill payment bodies are built by bill_payments.to_intacct / to_qbo")


SPEC = FlowSpec(
    name=FLOW,
    noun="bill payment",
    qbo_entity="BillPayment",
    intacct_object="APPYMT",
    intacct_id_field="RECORDNO",
    intacct_fields=INTACCT_FIELDS,
    field_groups={"amounts": ["total"]},
    key_ids=(StrongId("reference", "reference", "reference", normalize_reference),),
    data_ids=(),
    duplicate_ids=(),
    id_pattern_variable="qbo_intacct_bill_payment_number_pattern",
    default_id_pattern="{qbo_id}",
    derive_target_id=lambda qbo_id, pattern: f"QBO BillPayment {qbo_id}",
    build_context=lambda lookups, mappings: None,
    qbo_row=_not_here,
    intacct_row=_not_here,
    intacct_body=_not_here,
    qbo_body=_not_here,
    source_columns=("source_id",),
    target_columns=("target_id",),
    qbo_lookups=("Account",),
    money_fields=("total",),
    depends_on=(b.FLOW,),
    extra={"kind": "bill_payments", "pending_hours_variable": PENDING_HOURS_VARIABLE},
)
