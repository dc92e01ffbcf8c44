"""Customer payments, one way: QuickBooks ``Payment`` -> Intacct cash receipts (``ARPYMT``).

The accounting of the payments flow: pure functions from QuickBooks records, the invoices flow's
links and the workbook to Intacct functions and holds. Reads, staging and recording live in
:mod:`qbo_intacct.operators.payment_dag`. Rules a finance reader should know:

- **Which invoices.** A payment is applied, line by line of the QuickBooks payment (``LinkedTxn``),
  to the Intacct invoices the invoices flow posted for those QuickBooks invoices (ledger links;
  never matched by number or amount). A payment one of whose invoices or credit memos is not in
  Intacct yet *waits* (pending, retried every run, counted); after
  ``qbo_intacct_payments_pending_hours`` (Airflow Variable, default 72) it is also a review item
  naming the invoice. It is never applied to a guessed invoice.
- **Credit memos** applied in the QuickBooks payment are applied in Intacct to the invoices of the
  same payment (``ADJUSTMENTKEY`` + ``TRX_ADJUSTMENTAMOUNT`` on the invoice's detail, I-ARP), in the
  payment's line order: each invoice takes credit first, then cash. QuickBooks does not say which
  invoice a credit went to (one line per document); the order is the sync's choice and Intacct's
  open balance per invoice then equals QuickBooks' (the credit and the cash cover the same total).
- **Partial payments** apply exactly the line amount: the invoice keeps the rest due.
- **Overpayment / unapplied amount** (QuickBooks ``UnappliedAmt``) is recorded as the receipt's
  ``OVERPAYMENTAMOUNT`` (I-ARP E3: Intacct keeps it as the customer's open credit, applied later
  with ``OVERPAYMENTKEY``), so the customer's credit is not lost. A payment with no lines at all is
  an overpayment-only receipt in the entity of its deposit account.
- **Entities.** A receipt belongs to one entity (the entity of the invoices it pays). A payment
  across invoices in several entities is split into one receipt per entity (each with its own
  invoices; the overpayment goes with the first) and the summary says so (``split_by_entity``).
  QuickBooks keeps a payment in one currency, so no split by currency is ever needed.
- **Method and deposit account** come from the workbook: *Payment Methods* (QuickBooks payment
  method -> Intacct PAYMENTMETHOD) and *Bank Accounts* (QuickBooks deposit account, Undeposited
  Funds when the payment names none -> Intacct financial entity, or the undeposited-funds GL
  account). A financial entity of another entity than the invoices is held (add a row for that
  entity on the Bank Accounts sheet); nothing is guessed.
- **Dates, reference, currency.** Receipt and payment date = TxnDate; DOCNUMBER = the payment's
  reference number (``PaymentRefNum``), else ``QBO-PMT-<Id>``; the description names the QuickBooks
  payment; currency and the payment's own exchange rate (converted into the entity's base currency
  through QuickBooks' home-currency rates, as the invoices flow does).
- **Void, delete, edit.** A completed Intacct receipt cannot be edited (I-ARP): a voided or deleted
  QuickBooks payment reverses its receipts (``reverse_arpayment``) on the void date; an edited one
  reverses them and posts the new receipts.
- **Idempotency.** Each receipt's function key is derived from the payment, the entity and the
  receipt's content (controlid, ``uniqueid=true``): a run killed after the load replans the same
  keys and Intacct answers from its memory instead of posting twice; the ledger holds what was
  posted, so an unchanged run writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from qbo_intacct.flows import invoices as inv

FLOW = "payments"
DAG_ID = f"qbo_intacct_{FLOW}"
PAYMENT = "Payment"
PENDING_HOURS_VARIABLE = "qbo_intacct_payments_pending_hours"
DEFAULT_PENDING_HOURS = 72
UNDEPOSITED = "Undeposited Funds"
CENT = inv.CENT
ZERO = Decimal("0.00")
#: Small QuickBooks lists the mapping needs, read whole when something is in scope.
LOOKUPS: tuple[str, ...] = ("PaymentMethod", "Account", "ExchangeRate")
#: What the flow reads of an Intacct receipt.
RECEIPT_FIELDS: tuple[str, ...] = (
    "RECORDNO",
    "CUSTOMERID",
    "STATE",
    "CURRENCY",
    "MEGAENTITYID",
    "DOCNUMBER",
    "TRX_TOTALENTERED",
    "TRX_TOTALPAID",
    "TRX_TOTALDUE",
    "OVERPAYMENTAMOUNT",
    "WHENMODIFIED",
)
#: Legacy functions read their elements in the documented order (I-ARP).
ELEMENT_ORDER: dict[str, list[str]] = {"reverse_arpayment": ["datereversed", "description"]}


@dataclass
class Application:
    """One line of a QuickBooks payment: an invoice paid or a credit memo used, and how much."""

    kind: str  # Invoice | CreditMemo
    qbo_id: str
    amount: Decimal
    record_no: str | None = None  # the Intacct document the invoices flow posted for it
    entity: str | None = None
    doc_number: str | None = None


@dataclass
class Receipt:
    """One Intacct ARPYMT a payment becomes (one per entity)."""

    entity: str
    body: dict[str, Any]
    key: str
    content: str
    invoices: list[str] = field(default_factory=list)  # Intacct invoice RECORDNOs it pays
    cash: Decimal = ZERO
    credit: Decimal = ZERO
    overpayment: Decimal = ZERO


@dataclass
class MappedPayment:
    """A QuickBooks payment as the flow sees it; ``hold``/``waiting`` say why it is not posted."""

    qbo_id: str
    source_id: str
    number: str
    customer_qbo_id: str
    customer_name: str
    txn_date: str
    currency: str
    total: Decimal
    unapplied: Decimal
    voided: bool = False
    own: bool = False  # written by this sync from an Intacct receipt (its memo says so): never sent back
    applications: list[Application] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    hold: inv.Hold | None = None
    waiting: str | None = None  # plain words: which document is not in Intacct yet

    @property
    def label(self) -> str:
        return f"payment {self.number} of {self.customer_name or self.customer_qbo_id}"

    @property
    def content(self) -> str:
        """What the payment posts, in one key: unchanged content writes nothing."""
        return _digest([r.content for r in self.receipts])


@dataclass
class PaymentContext:
    """What mapping a payment needs: lists by Id, links of the other flows, Intacct banks, the workbook."""

    mappings: Any
    docs: inv.DocContext
    methods: Mapping[str, str] = field(default_factory=dict)  # PaymentMethod Id -> Name
    documents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # "Invoice:17" -> link hashes
    banks: Mapping[str, str] = field(default_factory=dict)  # Intacct BANKACCOUNTID -> entity ("" = shared)

    @classmethod
    def build(
        cls,
        lookups: Mapping[str, list[dict[str, Any]]],
        mappings: Any,
        *,
        customers: Mapping[str, str],
        documents: Mapping[str, Mapping[str, Any]],
        entity_currency: Mapping[str, str] | None = None,
        banks: Mapping[str, str] | None = None,
    ) -> PaymentContext:
        return cls(
            mappings=mappings,
            docs=inv.DocContext.build(lookups, mappings, customers=customers, entity_currency=entity_currency),
            methods={str(r["Id"]): str(r.get("Name") or "") for r in lookups.get("PaymentMethod", [])},
            documents=dict(documents),
            banks=dict(banks or {}),
        )


def source_key(qbo_id: str) -> str:
    return f"{PAYMENT}:{qbo_id}"


def _digest(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _us_date(iso: str) -> str:
    d = date.fromisoformat(iso[:10])
    return f"{d.month:02d}/{d.day:02d}/{d.year:04d}"


def is_voided(record: Mapping[str, Any]) -> bool:
    """QuickBooks voids a payment by zeroing it and putting ``Voided`` in its private note (Q-PAY)."""
    total = inv._money(record.get("TotalAmt"), where="TotalAmt")
    return str(record.get("PrivateNote") or "").startswith("Voided") and total == ZERO


class _HeldError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.hold = inv.Hold(reason, detail)


# -------------------------------------------------------------------------------- QuickBooks -> Intacct


def map_payment(record: Mapping[str, Any], ctx: PaymentContext) -> MappedPayment:
    """One QuickBooks payment mapped to its Intacct receipts, or held / waiting with the reason."""
    qbo_id = str(record["Id"])
    customer = record.get("CustomerRef") or {}
    unreadable: list[str] = []

    def money(name: str) -> Decimal:
        try:
            return inv._money(record.get(name), where=f"payment {qbo_id} {name}")
        except inv.DocumentMappingError as bad:  # a value QuickBooks should never send: held, the batch goes on
            unreadable.append(str(bad))
            return ZERO

    pay = MappedPayment(
        qbo_id=qbo_id,
        source_id=source_key(qbo_id),
        number=inv.clean_text(record.get("PaymentRefNum"), 45) or f"QBO-PMT-{qbo_id}",
        customer_qbo_id=str(inv._ref(customer) or ""),
        customer_name=str(inv._ref(customer, "name") or ""),
        txn_date=str(record.get("TxnDate") or "")[:10],
        currency=str(inv._ref(record.get("CurrencyRef")) or ctx.docs.home_currency),
        total=money("TotalAmt"),
        unapplied=money("UnappliedAmt"),
        voided=not unreadable and is_voided(record),
        own=str(record.get("PrivateNote") or "").startswith(BACK_MARKER),
    )
    if pay.voided or pay.own:
        return pay
    if unreadable:
        pay.hold = inv.Hold("cannot_map", f"{unreadable[0]}; correct the payment in QuickBooks")
        return pay
    try:
        _applications(pay, record, ctx)
        if pay.waiting is None:
            _receipts(pay, record, ctx)
    except _HeldError as held:
        pay.hold = held.hold
    except inv.DocumentMappingError as exc:
        pay.hold = inv.Hold("cannot_map", f"{pay.label}: {exc}")
    return pay


def _applications(pay: MappedPayment, record: Mapping[str, Any], ctx: PaymentContext) -> None:
    if not pay.txn_date:
        raise _HeldError("cannot_map", f"{pay.label}: no TxnDate")
    try:
        day = date.fromisoformat(pay.txn_date)
    except ValueError:
        raise _HeldError("cannot_map", f"{pay.label} TxnDate {pay.txn_date!r} is not a date; correct it") from None
    if not date(1900, 1, 1) <= day <= date(2099, 12, 31):
        raise _HeldError(
            "date_out_of_range", f"{pay.label} is dated {pay.txn_date} (a typo?); correct it in QuickBooks"
        )
    if pay.total < 0:
        raise _HeldError("negative_total", f"{pay.label} totals {pay.total}: a payment is never negative")
    for n, line in enumerate(record.get("Line") or [], start=1):
        amount = inv._money(line.get("Amount"), where=f"{pay.label} line {n} Amount")
        for linked in line.get("LinkedTxn") or []:
            kind = str(linked.get("TxnType") or "")
            if kind not in (inv.INVOICE, inv.CREDIT_MEMO):
                raise _HeldError(
                    "unsupported_link",
                    f"{pay.label} line {n} is linked to a QuickBooks {kind or '(unknown)'}; the sync applies payments "
                    "to invoices and credit memos only. Record this application in Intacct by hand",
                )
            app = Application(kind, str(linked.get("TxnId")), amount)
            hashes = ctx.documents.get(inv.source_key(kind, app.qbo_id))
            if hashes is None or hashes.get("state") == "reversed" or not hashes.get("record_no"):
                pay.waiting = pay.waiting or (
                    f"{pay.label}: QuickBooks {inv.NOUN[kind]} {app.qbo_id} is not in Intacct yet (the invoices flow "
                    "has not posted it: see its waiting or held documents); the payment follows once it is"
                )
            else:
                app.record_no = str(hashes["record_no"])
                app.entity = str(hashes.get("entity") or "")
                app.doc_number = str(hashes.get("doc_number") or app.qbo_id)
            pay.applications.append(app)
    if pay.customer_qbo_id not in ctx.docs.customers:
        pay.waiting = pay.waiting or (
            f"{pay.label}: customer {pay.customer_name!r} (QuickBooks {pay.customer_qbo_id}) is not linked to an "
            "Intacct customer yet; resolve it in the customers flow (qbo_intacct_review DAG)"
        )


def _receipts(pay: MappedPayment, record: Mapping[str, Any], ctx: PaymentContext) -> None:
    mappings = ctx.mappings
    if pay.currency not in mappings.enabled_currencies:
        raise _HeldError(
            "currency_not_enabled",
            f"{pay.label} is in {pay.currency}, which the workbook's Currencies sheet does not enable for Intacct",
        )
    invoices = [a for a in pay.applications if a.kind == inv.INVOICE]
    credits = [a for a in pay.applications if a.kind == inv.CREDIT_MEMO]
    applied = sum((a.amount for a in invoices), ZERO) - sum((a.amount for a in credits), ZERO)
    if applied + pay.unapplied != pay.total:
        raise _HeldError(
            "total_mismatch",
            f"{pay.label}: its lines apply {applied} and leave {pay.unapplied} unapplied, but its total is "
            f"{pay.total}; check the payment in QuickBooks",
        )
    entities = sorted({str(a.entity) for a in invoices})
    for c in credits:
        if c.entity not in entities:
            raise _HeldError(
                "credit_other_entity",
                f"{pay.label}: credit memo {c.doc_number} is in Intacct entity {c.entity or '(top level)'}, none "
                f"of the invoices it pays is ({', '.join(entities) or 'no invoices'}); Intacct applies a credit only "
                "within its entity: apply it in Intacct by hand",
            )
    method = _method(pay, record, ctx)
    deposit = ctx.docs.accounts.get(str(inv._ref(record.get("DepositToAccountRef")) or "")) or (
        inv._ref(record.get("DepositToAccountRef"), "name") or UNDEPOSITED
    )
    if not entities:  # nothing applied: an overpayment-only receipt, in the deposit account's entity
        entities = [_entity_of_deposit(pay, deposit, ctx)]
    for n, entity in enumerate(entities):
        mine = [a for a in invoices if a.entity == entity]
        my_credits = [
            [c.record_no, c.amount, c.doc_number] for c in credits if c.entity == entity
        ]  # remaining credit per memo, used in line order
        details: list[dict[str, Any]] = []
        cash = credit = ZERO
        for a in mine:
            due = a.amount
            for c in my_credits:
                if due == 0:
                    break
                use = min(due, c[1])
                if use > 0:
                    details.append({"RECORDKEY": a.record_no, "ADJUSTMENTKEY": c[0], "TRX_ADJUSTMENTAMOUNT": use})
                    c[1] -= use
                    due -= use
                    credit += use
            if due > 0:
                details.append({"RECORDKEY": a.record_no, "TRX_PAYMENTAMOUNT": due})
                cash += due
        left = [c for c in my_credits if c[1] > 0]
        if left:
            raise _HeldError(
                "credit_exceeds_invoices",
                f"{pay.label}: credit memo {left[0][2]} is applied for more than the invoices of entity {entity} "
                "in this payment take; check the payment in QuickBooks",
            )
        overpayment = pay.unapplied if n == 0 else ZERO
        body = _receipt_body(
            pay, record, ctx, entity, details, overpayment, method, deposit, moves_money=bool(cash or overpayment)
        )
        content = _digest(body)
        pay.receipts.append(
            Receipt(
                entity=entity,
                body=body,
                key=f"{FLOW}:create:{pay.source_id}:{entity}:{content}",
                content=content,
                invoices=[str(a.record_no) for a in mine],
                cash=cash,
                credit=credit,
                overpayment=overpayment,
            )
        )


def _method(pay: MappedPayment, record: Mapping[str, Any], ctx: PaymentContext) -> str | None:
    ref = record.get("PaymentMethodRef")
    if not inv._ref(ref):
        return None
    name = ctx.methods.get(str(inv._ref(ref))) or inv._ref(ref, "name") or ""
    method = ctx.mappings.payment_method(name)
    if method is None:
        row = (getattr(ctx.mappings, "unmapped_rows", {}).get("PaymentMethodMap") or {}).get(name)
        at = f" (row {row})" if row else ""
        raise _HeldError(
            "unmapped_payment_method",
            f"{pay.label}: QuickBooks payment method {name!r} has no Intacct payment method on the workbook's "
            f"Payment Methods sheet{at}; map it there",
        )
    return method


def _entity_of_deposit(pay: MappedPayment, deposit: str, ctx: PaymentContext) -> str:
    row = ctx.mappings.bank_account(deposit)
    entity = (row.entity if row is not None else None) or (
        ctx.banks.get(str(row.intacct_financial_entity)) if row is not None and row.intacct_financial_entity else None
    )
    if entity:
        return entity
    route = ctx.mappings.route(None, None)
    if route is None:
        raise _HeldError(
            "no_entity",
            f"{pay.label} applies nothing (all {pay.unapplied} {pay.currency} unapplied) and its deposit account "
            f"{deposit!r} names no Intacct entity; give the Bank Accounts row an entity",
        )
    return route.entity


def _receipt_body(
    pay: MappedPayment,
    record: Mapping[str, Any],
    ctx: PaymentContext,
    entity: str,
    details: list[dict[str, Any]],
    overpayment: Decimal,
    method: str | None,
    deposit: str,
    *,
    moves_money: bool,
) -> dict[str, Any]:
    """The ``<create><ARPYMT>`` body (I-ARP generic create field names)."""
    body: dict[str, Any] = {
        "CUSTOMERID": ctx.docs.customers[pay.customer_qbo_id],
        "RECEIPTDATE": _us_date(pay.txn_date),
        "PAYMENTDATE": _us_date(pay.txn_date),
        "DOCNUMBER": pay.number,
        "DESCRIPTION": f"QBO Payment {pay.qbo_id}",
        "CURRENCY": pay.currency,
    }
    base = ctx.docs.entity_currency.get(entity, ctx.docs.home_currency)
    body["BASECURR"] = base
    if pay.currency != base:
        body["EXCH_RATE_DATE"] = _us_date(pay.txn_date)
        body["EXCHANGE_RATE"] = receipt_rate(record, pay, ctx, base)
    if moves_money:  # a credit-only application moves no cash: no bank, no method (I-APP; sandbox for AR)
        if method is None:
            raise _HeldError(
                "no_payment_method",
                f"{pay.label} has no payment method in QuickBooks; Intacct needs one for a receipt "
                "(set it in QuickBooks)",
            )
        body["PAYMENTMETHOD"] = method
        row = ctx.mappings.bank_account(deposit, entity)
        if row is None:
            row_no = (getattr(ctx.mappings, "unmapped_rows", {}).get("BankAccountMap") or {}).get(deposit)
            raise _HeldError(
                "unmapped_deposit_account",
                f"{pay.label}: QuickBooks deposit account {deposit!r} has no row on the workbook's Bank Accounts sheet"
                + (f" (row {row_no})" if row_no else "")
                + f" for entity {entity}; map it there",
            )
        if row.intacct_financial_entity:
            owner = ctx.banks.get(row.intacct_financial_entity)
            if owner not in (None, "", entity):
                raise _HeldError(
                    "deposit_other_entity",
                    f"{pay.label} pays invoices of Intacct entity {entity}, but its deposit account {deposit!r} maps "
                    f"to financial entity {row.intacct_financial_entity} of entity {owner}; add a row for {deposit!r} "
                    f"and entity {entity} on the workbook's Bank Accounts sheet",
                )
            body["FINANCIALENTITY"] = row.intacct_financial_entity
        else:
            body["UNDEPOSITEDACCOUNTNO"] = row.intacct_gl_account
    if overpayment:
        body["OVERPAYMENTAMOUNT"] = overpayment
        body["OVERPAYMENTLOCATIONID"] = entity
    if details:
        body["ARPYMTDETAILS"] = {"ARPYMTDETAIL": details}
    return body


def receipt_rate(record: Mapping[str, Any], pay: MappedPayment, ctx: PaymentContext, base: str) -> str:
    """The payment's own rate into the entity's base currency (QuickBooks gives home units per unit)."""
    doc_rate = record.get("ExchangeRate")
    if doc_rate in (None, ""):
        raise _HeldError("no_exchange_rate", f"{pay.label} in {pay.currency} carries no exchange rate in QuickBooks")
    to_home = inv._dec(doc_rate)
    base_to_home = ctx.docs.home_rate(base, pay.txn_date)
    if not base_to_home:
        raise _HeldError(
            "no_exchange_rate",
            f"{pay.label}: QuickBooks has no {base} rate on or before {pay.txn_date} to convert {pay.currency} into "
            f"the {base} of the Intacct entity; add the rate in QuickBooks",
        )
    return str((to_home / base_to_home).quantize(inv.RATE_PLACES, rounding=ROUND_HALF_UP))


def reverse_function(record_no: str, on: str, label: str) -> tuple[str, dict[str, Any]]:
    """Reverse a receipt (it stays in Intacct, STATE Reversed; its invoices are due again)."""
    return "reverse_arpayment", {
        "@key": record_no,
        "datereversed": inv._date(on),
        "description": f"Voided, deleted or edited in QuickBooks ({label})",
    }


# -------------------------------------------------------------------------------- plan


@dataclass
class Step:
    """What the run does with one payment."""

    source_id: str
    qbo_id: str
    number: str
    action: str  # create | replace | reverse | skip | review | pending
    reason: str = ""
    detail: str = ""
    content: str | None = None
    pending_since: str | None = None
    write_keys: list[str] = field(default_factory=list)  # this step's writes, in order
    entities: list[str] = field(default_factory=list)


def posted(link: Any) -> list[dict[str, Any]]:
    """The receipts the ledger says a payment posted: [{record_no, entity, key}]."""
    raw = (getattr(link, "target_hashes", None) or {}).get("receipts") if link is not None else None
    return list(json.loads(raw)) if raw else []


def plan(
    payments: Sequence[MappedPayment],
    gone: Sequence[Mapping[str, Any]],
    *,
    links: Mapping[str, Any],
    pending: Mapping[str, str],
    now: Any,
    pending_hours: float,
    today: str,
    refused: Mapping[str, tuple[str, str, str]] | None = None,
) -> tuple[list[Step], list[dict[str, Any]]]:
    """Each payment's step and the Intacct writes (reversals before the receipts that replace them)."""
    import datetime as dt

    refused = refused or {}
    steps: list[Step] = []
    writes: list[dict[str, Any]] = []

    def write(step: Step, name: str, body: Mapping[str, Any], key: str, entity: str, obj: str = "ARPYMT") -> None:
        wk = str(len(writes))
        step.write_keys.append(wk)
        writes.append(
            {
                "write_key": wk,
                "operation": name,
                "object": obj,
                "record_key": step.source_id,
                "entity": entity,
                "body": {obj: dict(body)} if name == "create" else dict(body),
                "idempotency_key": key,
                "reveal": None,
            }
        )

    def reverse_all(step: Step, link: Any, on: str, label: str) -> None:
        for r in posted(link):
            if r.get("state") == "reversed":
                continue
            name, body = reverse_function(str(r["record_no"]), on, label)
            write(step, name, body, f"{FLOW}:reverse:{step.source_id}:{r['record_no']}", str(r.get("entity") or ""))

    for row in gone:
        source_id = source_key(str(row["id"]))
        link = links.get(source_id)
        step = Step(source_id, str(row["id"]), (link.target_key if link else None) or str(row["id"]), "skip")
        step.reason = "deleted_unsynced"
        if link is not None and any(r.get("state") != "reversed" for r in posted(link)):
            step.action, step.reason = "reverse", "deleted_in_quickbooks"
            reverse_all(step, link, max(str(row.get("deleted_at") or today)[:10], today), f"payment {step.number}")
        elif link is not None:
            step.reason = "already_reversed"
        steps.append(step)
    for pay in payments:
        link = links.get(pay.source_id)
        step = Step(pay.source_id, pay.qbo_id, pay.number, "skip")
        steps.append(step)
        live = [r for r in posted(link) if r.get("state") != "reversed"]
        if pay.own:
            step.reason = "written_by_sync"
            continue
        if pay.voided:
            if live:
                step.action, step.reason = "reverse", "voided_in_quickbooks"
                reverse_all(step, link, max(pay.txn_date, today), pay.label)
            else:
                step.reason = "voided_unsynced" if link is None else "already_reversed"
            continue
        if pay.hold is not None:
            step.action, step.reason, step.detail = "review", pay.hold.reason, pay.hold.detail
            continue
        if pay.waiting is not None:
            since = pending.get(pay.source_id) or now.isoformat(timespec="seconds")
            step.action, step.reason, step.pending_since = "pending", "invoice_not_synced", since
            if now - dt.datetime.fromisoformat(since) >= dt.timedelta(hours=pending_hours):
                step.detail = f"{pay.waiting} (waiting since {since[:16]})"
            continue
        if pay.total == 0 and not pay.applications:
            step.reason = "zero_amount"
            continue
        step.content = pay.content
        step.entities = [r.entity for r in pay.receipts]
        earlier = refused.get(pay.source_id)
        if earlier is not None and earlier[1] == step.content:
            step.action, step.reason, step.detail = "review", earlier[0], earlier[2]
            continue
        if link is not None and (link.target_hashes or {}).get("content") == step.content and live:
            step.reason = "unchanged"
            continue
        if live:
            step.action, step.reason = "replace", "edited_in_quickbooks"
            reverse_all(step, link, max(pay.txn_date, today), pay.label)
        else:
            step.action = "create"
            step.reason = "split_by_entity" if len(pay.receipts) > 1 else ""
        for receipt in pay.receipts:
            write(step, "create", receipt.body, receipt.key, receipt.entity)
    return steps, writes


# -------------------------------------------------------------------------------- Intacct -> QuickBooks
#
# Status back: a receipt recorded in Intacct (not by this sync) against invoices the invoices flow
# posted becomes a QuickBooks Payment linked to the same QuickBooks invoices, so both sides show the
# invoice paid. What the sync wrote never comes back: its own receipts are known by the ledger and by
# their description ("QBO Payment <Id>"), its own QuickBooks payments by the ledger and their memo.

BACK_MARKER = "Intacct AR payment "
OWN_MARKER = "QBO Payment "
#: What the flow reads of an Intacct receipt to bring it back (its details come from ``read``).
BACK_FIELDS: tuple[str, ...] = ("RECORDNO", "STATE", "WHENMODIFIED")


@dataclass
class BackPayment:
    """An Intacct receipt as the flow sees it on its way to QuickBooks."""

    record_no: str
    number: str
    customer: str
    body: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    content: str = ""
    invoices: list[str] = field(default_factory=list)  # QuickBooks invoice Ids it pays
    skip: str | None = None  # reason nothing is written (not a synced invoice, a draft, ...)
    hold: inv.Hold | None = None
    reversed: bool = False  # reversed in Intacct: the QuickBooks payment brought back is voided

    @property
    def source_id(self) -> str:
        return f"ARPYMT:{self.record_no}"

    @property
    def label(self) -> str:
        return f"Intacct receipt {self.number} (record {self.record_no}) of {self.customer}"


def details_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ARPYMTDETAIL rows of a read receipt, whatever nesting the XML gave them."""
    raw = record.get("ARPYMTDETAILS") or record.get("arpymtdetails") or []
    if isinstance(raw, Mapping):
        raw = next(iter(raw.values()), []) if raw else []
    return [raw] if isinstance(raw, Mapping) else [r for r in raw if isinstance(r, Mapping)]


def _iso(value: Any) -> str:
    text = str(value or "")[:10]
    if "/" in text:
        month, day, year = text.split("/")
        return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
    return text


def map_intacct_payment(
    record: Mapping[str, Any],
    *,
    invoices: Mapping[str, str],
    customers: Mapping[str, str],
    mappings: Any,
    methods: Mapping[str, str],
    accounts: Mapping[str, str],
    home_currency: str,
    home_rate: Any,
) -> BackPayment:
    """One Intacct receipt mapped to a QuickBooks Payment body, or skipped / held with the reason.

    ``invoices``: Intacct ARINVOICE RECORDNO -> QuickBooks invoice Id (the invoices flow's links);
    ``customers``: Intacct CUSTOMERID -> QuickBooks customer Id; ``methods`` and ``accounts``: QuickBooks
    names -> Ids."""
    record_no = str(record.get("RECORDNO"))
    back = BackPayment(record_no, str(record.get("DOCNUMBER") or record_no), str(record.get("CUSTOMERID") or ""))
    if str(record.get("DESCRIPTION") or "").startswith(OWN_MARKER):
        back.skip = "written_by_sync"
        return back
    if str(record.get("STATE") or "") in ("Reversed", "Reversal", "V"):
        back.reversed = True
        back.skip = "reversed_in_intacct"
        return back
    if str(record.get("STATE") or "") not in ("Complete", "Completed", "C"):
        back.skip = "not_completed"
        return back
    lines, other = [], []
    for detail in details_of(record):
        qbo_invoice = invoices.get(str(detail.get("RECORDKEY") or ""))
        if qbo_invoice is None:
            other.append(detail)
            continue
        credit = [k for k in ("ADJUSTMENTKEY", "ADVANCEKEY", "OVERPAYMENTKEY") if detail.get(k)]
        if credit or detail.get("TRX_TOTALDISCOUNTTOAPPLY"):
            back.hold = inv.Hold(
                "credit_back_not_supported",
                f"{back.label} applies a credit or discount to invoice {qbo_invoice} synced from QuickBooks; the sync "
                "brings back cash receipts only: record the credit in QuickBooks by hand",
            )
            return back
        amount = inv._money(detail.get("TRX_PAYMENTAMOUNT"), where=f"{back.label} TRX_PAYMENTAMOUNT")
        lines.append({"Amount": amount, "LinkedTxn": [{"TxnId": qbo_invoice, "TxnType": inv.INVOICE}]})
        back.invoices.append(qbo_invoice)
    if not lines:
        back.skip = "not_a_synced_invoice"
        return back
    if other:
        back.hold = inv.Hold(
            "mixed_receipt",
            f"{back.label} pays invoices synced from QuickBooks and invoices QuickBooks does not have; record the "
            "QuickBooks part by hand (the sync never splits a receipt)",
        )
        return back
    customer = customers.get(back.customer)
    if customer is None:
        back.hold = inv.Hold(
            "customer_not_linked",
            f"{back.label}: customer {back.customer} is not linked to a QuickBooks customer",
        )
        return back
    overpayment = inv._money(record.get("OVERPAYMENTAMOUNT"), where=f"{back.label} OVERPAYMENTAMOUNT")
    total = sum((line["Amount"] for line in lines), ZERO) + overpayment
    when = _iso(record.get("RECEIPTDATE") or record.get("PAYMENTDATE"))
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer},
        "TotalAmt": total,
        "TxnDate": when,
        "PaymentRefNum": back.number[:21],
        "PrivateNote": f"{BACK_MARKER}{record_no}",
        "Line": lines,
    }
    currency = str(record.get("CURRENCY") or home_currency)
    body["CurrencyRef"] = {"value": currency}
    if currency != home_currency:
        base = str(record.get("BASECURR") or home_currency)
        rate = Decimal(str(record.get("EXCHANGE_RATE") or 0))
        to_home = rate if base == home_currency else rate * (home_rate(base, when) or 0)
        if not to_home:
            back.hold = inv.Hold("no_exchange_rate", f"{back.label}: no rate to express {currency} in {home_currency}")
            return back
        body["ExchangeRate"] = str(Decimal(to_home).quantize(inv.RATE_PLACES, rounding=ROUND_HALF_UP))
    method = str(record.get("PAYMENTMETHOD") or "")
    if method:
        name = next(
            (m.qbo_payment_method for m in mappings.payment_methods if m.intacct_payment_method == method), None
        )
        if name is None or name not in methods:
            back.hold = inv.Hold(
                "unmapped_payment_method",
                f"{back.label}: Intacct payment method {method!r} has no QuickBooks payment method on the workbook's "
                "Payment Methods sheet; map it there",
            )
            return back
        body["PaymentMethodRef"] = {"value": methods[name]}
    bank, gl = str(record.get("FINANCIALENTITY") or ""), str(record.get("UNDEPOSITEDACCOUNTNO") or "")
    if bank or gl:
        row = next(
            (
                b
                for b in mappings.bank_accounts
                if (bank and b.intacct_financial_entity == bank) or (not bank and gl and b.intacct_gl_account == gl)
            ),
            None,
        )
        if row is None or row.qbo_account not in accounts:
            back.hold = inv.Hold(
                "unmapped_deposit_account",
                f"{back.label}: Intacct {'financial entity ' + bank if bank else 'GL account ' + gl} has no QuickBooks "
                "account on the workbook's Bank Accounts sheet; map it there",
            )
            return back
        body["DepositToAccountRef"] = {"value": accounts[row.qbo_account]}
    back.body = body
    back.content = _digest(body)
    back.key = f"{FLOW}:back:{back.source_id}:{back.content}"
    return back


def plan_back(
    backs: Sequence[BackPayment], *, links: Mapping[str, Any], sync_tokens: Mapping[str, str] | None = None
) -> tuple[list[Step], list[dict[str, Any]]]:
    """QuickBooks Payment creates for the Intacct receipts not brought back yet, and voids for the ones
    brought back and since reversed in Intacct (``sync_tokens``: QuickBooks payment Id -> SyncToken)."""
    steps: list[Step] = []
    writes: list[dict[str, Any]] = []
    for back in backs:
        step = Step(back.source_id, back.record_no, back.number, "skip", reason=back.skip or "")
        steps.append(step)
        link = links.get(back.source_id)
        if back.reversed and link is not None and (link.target_hashes or {}).get("state") == "posted":
            qbo_id = str(link.target_id).partition(":")[2]
            token = (sync_tokens or {}).get(qbo_id)
            if token is None:
                step.action, step.reason = "review", "missing_in_quickbooks"
                step.detail = (
                    f"{back.label} was reversed in Intacct, but QuickBooks payment {qbo_id} the sync recorded for "
                    "it is not found (deleted?); check the invoice in QuickBooks"
                )
                continue
            step.action, step.reason = "void_qbo", "reversed_in_intacct"
            wk = f"q{len(writes)}"
            step.write_keys.append(wk)
            writes.append(
                {
                    "write_key": wk,
                    "operation": "void",
                    "object": PAYMENT,
                    "record_key": back.source_id,
                    "entity": "",
                    "body": {"Id": qbo_id, "SyncToken": token},
                    "idempotency_key": f"{FLOW}:back-void:{back.source_id}:{qbo_id}",
                    "reveal": None,
                }
            )
            continue
        if back.skip:
            continue
        if back.hold is not None:
            step.action, step.reason, step.detail = "review", back.hold.reason, back.hold.detail
            continue
        if back.source_id in links:
            step.reason = "unchanged"
            continue
        step.action, step.reason, step.content = "create_qbo", "paid_in_intacct", back.content
        wk = f"q{len(writes)}"
        step.write_keys.append(wk)
        writes.append(
            {
                "write_key": wk,
                "operation": "create",
                "object": PAYMENT,
                "record_key": back.source_id,
                "entity": "",
                "body": dict(back.body),
                "idempotency_key": back.key,
                "reveal": None,
            }
        )
    return steps, writes
