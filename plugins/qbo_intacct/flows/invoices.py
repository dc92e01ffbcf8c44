"""Receivables, one way: QuickBooks ``Invoice`` -> Intacct ``ARINVOICE``, ``CreditMemo`` -> ``ARADJUSTMENT``.

The accounting of the invoices flow; the document engine (:mod:`qbo_intacct.flows.documents`) runs
it. Rules a finance reader should know:

- **Customer** comes only from the customers flow's links. An invoice whose customer is not
  linked yet waits (*pending*, retried every run, counted in the summary) and never gets a guessed
  customer; after ``qbo_intacct_invoices_pending_hours`` (Airflow Variable, default 72) it also
  becomes a review item saying which customer to resolve.
- **Lines.** A sales line posts to the Intacct account the workbook's *Accounts* sheet gives the
  item's income account; a discount line to its discount account (negative); a group (bundle)
  line is expanded into its item lines; sub-total and description-only lines carry no money and
  are ignored. Description, quantity and unit price go in the line memo. Each line's location,
  department and class come from the *Entity Routing* sheet (the line's class, else the document's
  department); all lines of a document must land in one entity.
- **Tax.** The sales tax of a document posts as one line on the account the *Tax Codes* sheet
  gives its tax code (in the document's entity). A tax code mapped only to an Intacct tax detail
  is held: this flow does not send Intacct tax entries yet.
- **Header.** Invoice number = QuickBooks DocNumber (``QB-<Id>`` when QuickBooks has none),
  unique in Intacct: a number already used by another Intacct document is a review item, never a
  renamed invoice. Reference (``ponumber``) = "QBO Invoice <Id>", memo = the private note (minus
  control characters XML cannot carry), dates, terms (*Terms* sheet) and due date, currency with
  the document's own exchange rate (never 1:1 unless the currencies are equal; converted to the
  entity's base currency through QuickBooks' home-currency rates), ``externalid`` =
  ``qbo:<Entity>:<Id>`` so the sync recognises its own documents after a lost ledger or a rerun.
- **Nothing to post.** A document totalling 0.00 is skipped (Intacct refuses zero lines) and
  counted; a document whose mapped lines do not add up to its QuickBooks total is held.
- **Credit memos** become AR adjustments with negative lines (credits); their application to
  invoices belongs to the payments flow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from qbo_intacct.flows.declaration import FlowMappingError, FlowSpec
from qbo_intacct.flows.matching import StrongId, normalize_reference

FLOW = "invoices"
INVOICE, CREDIT_MEMO = "Invoice", "CreditMemo"
TARGET_OBJECT = {INVOICE: "ARINVOICE", CREDIT_MEMO: "ARADJUSTMENT"}
NOUN = {INVOICE: "invoice", CREDIT_MEMO: "credit memo"}
ARTICLE = {INVOICE: "an invoice", CREDIT_MEMO: "a credit memo"}
PENDING_HOURS_VARIABLE = "qbo_intacct_invoices_pending_hours"
DEFAULT_PENDING_HOURS = 72
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
#: Dates outside these are typos (0026 for 2026, a 9999 placeholder), never a real document's date: held.
DATE_FLOOR, DATE_CEILING = date(1900, 1, 1), date(2099, 12, 31)

#: What the flow reads of an Intacct document (query has no ``*``).
INTACCT_FIELDS: tuple[str, ...] = (
    "RECORDNO",
    "RECORDID",
    "EXTERNALID",
    "CUSTOMERID",
    "STATE",
    "CURRENCY",
    "MEGAENTITYID",
    "WHENCREATED",
    "TRX_TOTALENTERED",
    "TRX_TOTALPAID",
    "TRX_TOTALDUE",
    "TOTALENTERED",
    "WHENMODIFIED",
)
#: Small QuickBooks lists read whole each run.
LOOKUPS: tuple[str, ...] = ("Item", "Account", "TaxCode", "Term", "Class", "Department", "ExchangeRate")


class DocumentMappingError(FlowMappingError):
    """A document cannot be expressed in Intacct; names document, line and field."""


@dataclass(frozen=True)
class Hold:
    """Why a document is not written this run: ``reason`` (a code), ``detail`` (plain words, where to fix)."""

    reason: str
    detail: str


@dataclass
class DocContext:
    """What mapping a document needs: QuickBooks lists by Id, customer links, entity currencies, the workbook."""

    mappings: Any
    items: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    accounts: Mapping[str, str] = field(default_factory=dict)  # Id -> FullyQualifiedName
    tax_codes: Mapping[str, str] = field(default_factory=dict)  # Id -> Name
    terms: Mapping[str, str] = field(default_factory=dict)  # Id -> Name
    classes: Mapping[str, str] = field(default_factory=dict)  # Id -> FullyQualifiedName
    departments: Mapping[str, str] = field(default_factory=dict)  # Id -> FullyQualifiedName
    home_rates: Mapping[str, list[tuple[str, Decimal]]] = field(default_factory=dict)  # currency -> [(as of, rate)]
    customers: Mapping[str, str] = field(default_factory=dict)  # QuickBooks customer Id -> Intacct CUSTOMERID
    entity_currency: Mapping[str, str] = field(default_factory=dict)  # Intacct entity -> base currency
    home_currency: str = "USD"

    @classmethod
    def build(
        cls,
        lookups: Mapping[str, list[dict[str, Any]]],
        mappings: Any,
        *,
        customers: Mapping[str, str] | None = None,
        entity_currency: Mapping[str, str] | None = None,
        home_currency: str = "USD",
    ) -> DocContext:
        def names(entity: str) -> dict[str, str]:
            return {
                str(r["Id"]): str(r.get("FullyQualifiedName") or r.get("Name") or "") for r in lookups.get(entity, [])
            }

        rates: dict[str, list[tuple[str, Decimal]]] = {}
        for r in lookups.get("ExchangeRate", []):
            if r.get("TargetCurrencyCode", home_currency) == home_currency and r.get("Rate") is not None:
                rates.setdefault(str(r["SourceCurrencyCode"]), []).append((str(r["AsOfDate"]), _dec(r["Rate"])))
        for values in rates.values():
            values.sort()
        return cls(
            mappings=mappings,
            items={str(r["Id"]): r for r in lookups.get("Item", [])},
            accounts=names("Account"),
            tax_codes={str(r["Id"]): str(r.get("Name") or "") for r in lookups.get("TaxCode", [])},
            terms={str(r["Id"]): str(r.get("Name") or "") for r in lookups.get("Term", [])},
            classes=names("Class"),
            departments=names("Department"),
            home_rates=rates,
            customers=dict(customers or {}),
            entity_currency=dict(entity_currency or {"US": "USD", "UK": "GBP", "CA": "CAD"}),
            home_currency=home_currency,
        )

    def home_rate(self, currency: str, on: str) -> Decimal | None:
        """QuickBooks' rate (home units per one ``currency``) in force on ``on`` (latest as-of on or before)."""
        if currency == self.home_currency:
            return Decimal(1)
        best = None
        for as_of, rate in self.home_rates.get(currency, []):
            if as_of <= on:
                best = rate
        return best


@dataclass
class MappedDocument:
    """One QuickBooks document as the flow sees it: keys, what finance reads, and the Intacct write."""

    kind: str
    qbo_id: str
    source_id: str  # "Invoice:17": the ledger key (QuickBooks ids are per entity)
    doc_number: str
    customer_qbo_id: str
    customer_name: str
    txn_date: str
    currency: str
    total: Decimal
    balance: Decimal
    voided: bool = False
    entity: str | None = None
    customer_id: str | None = None  # Intacct CUSTOMERID, None while the customer is not linked
    header: dict[str, Any] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    hold: Hold | None = None

    @property
    def external_id(self) -> str:
        return external_id(self.kind, self.qbo_id)

    @property
    def label(self) -> str:
        return f"{NOUN[self.kind]} {self.doc_number}"


def external_id(kind: str, qbo_id: str) -> str:
    """What the sync writes in Intacct EXTERNALID: how it recognises its own documents."""
    return f"qbo:{kind}:{qbo_id}"


def source_key(kind: str, qbo_id: str) -> str:
    return f"{kind}:{qbo_id}"


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DocumentMappingError(f"{value!r} is not an amount") from None


def _money(value: Any, *, where: str) -> Decimal:
    if value in (None, ""):
        return Decimal("0.00")
    try:
        amount = Decimal(str(value))
        if not amount.is_finite():
            raise InvalidOperation
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise DocumentMappingError(f"{where}: {value!r} is not an amount") from None


def _ref(value: Any, key: str = "value") -> str | None:
    if isinstance(value, Mapping) and value.get(key) not in (None, ""):
        return str(value[key])
    return None


def clean_text(value: Any, limit: int = 1000) -> str | None:
    """Text without the control characters XML 1.0 cannot carry, trimmed to ``limit``."""
    if value in (None, ""):
        return None
    return _CONTROL.sub("", str(value)).strip()[:limit] or None


def _date(iso: str) -> dict[str, str]:
    """A legacy Intacct date element (``<year><month><day>``), kept as text so staging keeps it exact."""
    d = date.fromisoformat(iso[:10])
    return {"year": f"{d.year:04d}", "month": f"{d.month:02d}", "day": f"{d.day:02d}"}


def is_voided(record: Mapping[str, Any]) -> bool:
    """QuickBooks voids an invoice by zeroing it and prepending ``Voided`` to its private note."""
    if not str(record.get("PrivateNote") or "").startswith("Voided"):
        return False
    try:
        return _money(record.get("TotalAmt"), where="TotalAmt") == Decimal("0.00")
    except DocumentMappingError:
        return False


# -------------------------------------------------------------------------------- QuickBooks -> Intacct


def map_document(kind: str, record: Mapping[str, Any], ctx: DocContext) -> MappedDocument:
    """One QuickBooks Invoice / CreditMemo mapped to its Intacct header and lines, or held with a reason."""
    qbo_id = str(record["Id"])
    doc_number = clean_text(record.get("DocNumber"), 45) or f"QB-{qbo_id}"
    customer = record.get("CustomerRef") or {}
    unreadable: list[str] = []

    def money(name: str) -> Decimal:
        try:
            return _money(record.get(name), where=f"{NOUN[kind]} {doc_number} {name}")
        except DocumentMappingError as bad:
            unreadable.append(str(bad))
            return Decimal("0.00")

    doc = MappedDocument(
        kind=kind,
        qbo_id=qbo_id,
        source_id=source_key(kind, qbo_id),
        doc_number=doc_number,
        customer_qbo_id=str(_ref(customer) or ""),
        customer_name=str(_ref(customer, "name") or ""),
        txn_date=str(record.get("TxnDate") or "")[:10],
        currency=str(_ref(record.get("CurrencyRef")) or ctx.home_currency),
        total=money("TotalAmt"),
        balance=money("Balance"),
        voided=is_voided(record),
    )
    doc.customer_id = ctx.customers.get(doc.customer_qbo_id)
    try:
        if unreadable:
            raise DocumentMappingError(unreadable[0])
        _map_into(doc, record, ctx)
    except _HeldError as held:
        doc.hold = held.hold
    except DocumentMappingError as bad:  # a value QuickBooks should never send: held, the batch goes on
        doc.hold = Hold("cannot_map", f"{bad}; correct the {NOUN[kind]} in QuickBooks")
    return doc


class _HeldError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.hold = Hold(reason, detail)


def _map_into(doc: MappedDocument, record: Mapping[str, Any], ctx: DocContext) -> None:
    label = doc.label
    mappings = ctx.mappings
    if not doc.txn_date:
        raise _HeldError("cannot_map", f"{label}: no TxnDate")
    _check_date(label, "TxnDate", doc.txn_date)
    if record.get("DueDate"):
        _check_date(label, "DueDate", str(record["DueDate"])[:10])
    if not doc.customer_qbo_id:
        raise _HeldError(
            "missing_reference", f"{label} names no customer (CustomerRef is empty); set its customer in QuickBooks"
        )
    if doc.total < 0:
        raise _HeldError(
            "negative_total",
            f"{label} totals {doc.total} {doc.currency}: {ARTICLE[doc.kind]} is never negative; "
            "enter the amount as a credit memo (or an invoice) in QuickBooks",
        )
    if doc.currency not in mappings.enabled_currencies:
        raise _HeldError(
            "currency_not_enabled",
            f"{label} is in {doc.currency}, which the workbook's Currencies sheet does not enable for Intacct "
            f"(the Intacct company has no {doc.currency}); enable it there or re-issue the invoice in another currency",
        )
    department = ctx.departments.get(str(_ref(record.get("DepartmentRef")) or ""), None)
    header_route = mappings.route(None, department)
    if header_route is None:
        raise _HeldError(
            "no_route",
            f"{label}: department {department or '(none)'} routes to no single Intacct entity; add a row on the "
            "workbook's Entity Routing sheet",
        )
    entity = header_route.entity
    doc.entity = entity
    sign = Decimal(-1) if doc.kind == CREDIT_MEMO else Decimal(1)
    lines: list[dict[str, Any]] = []
    number = 0
    for line in record.get("Line") or []:
        kind = line.get("DetailType")
        if kind == "GroupLineDetail":
            group = line.get("GroupLineDetail") or {}
            bundle = _ref(group.get("GroupItemRef"), "name") or "bundle"
            for inner in group.get("Line") or []:
                if inner.get("DetailType") == "SalesItemLineDetail":
                    number += 1
                    lines.append(_item_line(doc, inner, number, ctx, department, entity, sign, bundle=bundle))
        elif kind == "SalesItemLineDetail":
            number += 1
            lines.append(_item_line(doc, line, number, ctx, department, entity, sign))
        elif kind == "DiscountLineDetail":
            number += 1
            lines.append(_discount_line(doc, line, number, ctx, header_route, entity, sign))
        # SubTotalLineDetail and DescriptionOnly carry no money of their own.
    tax = _money((record.get("TxnTaxDetail") or {}).get("TotalTax"), where=f"{label} TxnTaxDetail.TotalTax")
    if tax != 0:
        lines.append(_tax_line(doc, record, tax, ctx, header_route, entity, sign))
    lines = [line for line in lines if line["amount"] != 0]
    mapped_total = sum((line["amount"] for line in lines), Decimal("0.00")) * sign
    if doc.total != 0 and mapped_total != doc.total:
        raise _HeldError(
            "total_mismatch",
            f"{label}: its lines map to {mapped_total} but QuickBooks says the total is {doc.total} "
            "(a line type the sync does not know?); check the invoice in QuickBooks",
        )
    doc.lines = lines
    doc.header = _header(doc, record, ctx, entity)


def _check_date(label: str, name: str, value: str) -> None:
    """A date QuickBooks sent that is not a calendar date, or outside 1900-2099, holds the document."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _HeldError("cannot_map", f"{label} {name}: {value!r} is not a date; correct it in QuickBooks") from None
    if not DATE_FLOOR <= day <= DATE_CEILING:
        raise _HeldError(
            "date_out_of_range", f"{label} {name} is {value}, outside 1900-2099 (a typo?); correct it in QuickBooks"
        )


def _route_dims(route: Any) -> dict[str, Any]:
    return {"locationid": route.location, "departmentid": route.department, "classid": route.intacct_class}


def _account(doc: MappedDocument, ctx: DocContext, account_name: str | None, entity: str, where: str) -> str:
    gl = ctx.mappings.gl_account(account_name, entity) if account_name else None
    if gl is None:
        row = (ctx.mappings.unmapped_rows.get("AccountMap") or {}).get(account_name or "")
        at = f" (row {row})" if row else ""
        raise _HeldError(
            "unmapped_account",
            f"{doc.label} {where}: QuickBooks account {account_name or '(none)'!r} has no Intacct account on the "
            f"workbook's Accounts sheet{at}; map it there (never guessed)",
        )
    return gl


def _item_line(
    doc: MappedDocument,
    line: Mapping[str, Any],
    number: int,
    ctx: DocContext,
    department: str | None,
    entity: str,
    sign: Decimal,
    *,
    bundle: str | None = None,
) -> dict[str, Any]:
    detail = line.get("SalesItemLineDetail") or {}
    item_id = _ref(detail.get("ItemRef")) or ""
    item = ctx.items.get(item_id) or {}
    item_name = str(item.get("Name") or _ref(detail.get("ItemRef"), "name") or item_id)
    income = item.get("IncomeAccountRef") or {}
    account_name = ctx.accounts.get(str(_ref(income) or "")) or _ref(income, "name")
    where = f"line {number} (item {item_name!r})"
    if not item:
        missing = (
            "names no item (ItemRef is empty)"
            if not item_id
            else f"names item {item_name!r}, which QuickBooks' item list does not have"
        )
        raise _HeldError(
            "missing_reference", f"{doc.label} {where} {missing}; set the line's product/service in QuickBooks"
        )
    gl = _account(doc, ctx, account_name, entity, where)
    class_name = ctx.classes.get(str(_ref(detail.get("ClassRef")) or ""))
    route = ctx.mappings.route(class_name, department)
    if route is None or route.entity != entity:
        raise _HeldError(
            "mixed_entities",
            f"{doc.label} {where}: class {class_name or '(none)'} with department {department or '(none)'} does not "
            f"route to entity {entity}; fix the workbook's Entity Routing sheet or the line's class in QuickBooks",
        )
    amount = _money(line.get("Amount"), where=f"{doc.label} {where} Amount")
    memo_parts = [p for p in (bundle and f"[{bundle}]", clean_text(line.get("Description"), 400) or item_name) if p]
    if detail.get("Qty") not in (None, ""):
        memo_parts.append(f"qty {detail.get('Qty')} x {detail.get('UnitPrice', '')}".strip())
    return {"glaccountno": gl, "amount": amount * sign, "memo": " ".join(memo_parts)[:1000], **_route_dims(route)}


def _discount_line(
    doc: MappedDocument, line: Mapping[str, Any], number: int, ctx: DocContext, route: Any, entity: str, sign: Decimal
) -> dict[str, Any]:
    detail = line.get("DiscountLineDetail") or {}
    ref = detail.get("DiscountAccountRef") or {}
    account_name = ctx.accounts.get(str(_ref(ref) or "")) or _ref(ref, "name")
    gl = _account(doc, ctx, account_name, entity, f"line {number} (discount)")
    amount = _money(line.get("Amount"), where=f"{doc.label} discount Amount")
    memo = "Discount" + (f" {detail.get('DiscountPercent')}%" if detail.get("PercentBased") else "")
    return {"glaccountno": gl, "amount": -amount * sign, "memo": memo, **_route_dims(route)}


def _tax_line(
    doc: MappedDocument,
    record: Mapping[str, Any],
    tax: Decimal,
    ctx: DocContext,
    route: Any,
    entity: str,
    sign: Decimal,
) -> dict[str, Any]:
    ref = (record.get("TxnTaxDetail") or {}).get("TxnTaxCodeRef")
    code = ctx.tax_codes.get(str(_ref(ref) or "")) or _ref(ref, "name")
    mapping = ctx.mappings.tax_code(code, entity) if code else None
    if mapping is None or not mapping.intacct_gl_account:
        why = (
            "is mapped to an Intacct tax detail only, and this flow posts tax as a line on a GL account"
            if mapping is not None
            else "has no row on the workbook's Tax Codes sheet"
        )
        raise _HeldError(
            "unmapped_tax_code",
            f"{doc.label}: tax code {code or '(none)'} {why}; give it an Intacct GL account on the Tax Codes sheet",
        )
    return {
        "glaccountno": mapping.intacct_gl_account,
        "amount": tax * sign,
        "memo": f"Sales tax ({code})",
        **_route_dims(route),
    }


def _header(doc: MappedDocument, record: Mapping[str, Any], ctx: DocContext, entity: str) -> dict[str, Any]:
    base = ctx.entity_currency.get(entity, ctx.home_currency)
    header: dict[str, Any] = {
        "datecreated": _date(doc.txn_date),
        "dateposted": _date(doc.txn_date),
        "description": clean_text(record.get("PrivateNote")),
        "externalid": doc.external_id,
        "basecurr": base,
        "currency": doc.currency,
    }
    if doc.kind == INVOICE:
        term = ctx.terms.get(str(_ref(record.get("SalesTermRef")) or ""))
        header["termname"] = ctx.mappings.term(term) if term else None
        header["datedue"] = _date(str(record.get("DueDate") or doc.txn_date))
        header["ponumber"] = f"QBO Invoice {doc.qbo_id}"
    if doc.currency != base:
        header["exchratedate"] = _date(doc.txn_date)
        header["exchrate"] = _exchange_rate(doc, record, ctx, base)
    return header


def _exchange_rate(doc: MappedDocument, record: Mapping[str, Any], ctx: DocContext, base: str) -> str:
    """The document's own rate, into the entity's base currency (QuickBooks gives home units per unit)."""
    doc_rate = record.get("ExchangeRate")
    if doc_rate in (None, ""):
        raise _HeldError("no_exchange_rate", f"{doc.label} in {doc.currency} carries no exchange rate in QuickBooks")
    to_home = _dec(doc_rate)
    if not to_home.is_finite() or to_home <= 0:
        raise _HeldError(
            "bad_exchange_rate",
            f"{doc.label} in {doc.currency} carries exchange rate {doc_rate} in QuickBooks; a rate is above zero, "
            "correct it on the document in QuickBooks",
        )
    base_to_home = ctx.home_rate(base, doc.txn_date)
    if base_to_home is None or base_to_home == 0:
        raise _HeldError(
            "no_exchange_rate",
            f"{doc.label}: QuickBooks has no {base} rate on or before {doc.txn_date} to convert {doc.currency} "
            f"into the {base} of Intacct entity {doc.entity}; add the rate in QuickBooks",
        )
    return str((to_home / base_to_home).quantize(RATE_PLACES, rounding=ROUND_HALF_UP))


# -------------------------------------------------------------------------------- Intacct functions


def create_function(doc: MappedDocument) -> tuple[str, dict[str, Any]]:
    """The legacy function and payload that create ``doc`` in Intacct (element order as documented)."""
    h = doc.header
    if doc.kind == INVOICE:
        body = {
            "customerid": doc.customer_id,
            "datecreated": h["datecreated"],
            "dateposted": h["dateposted"],
            "datedue": h.get("datedue"),
            "termname": h.get("termname"),
            "invoiceno": doc.doc_number,
            "ponumber": h.get("ponumber"),
            "description": h.get("description"),
            "externalid": h["externalid"],
            "basecurr": h["basecurr"],
            "currency": h["currency"],
            "exchratedate": h.get("exchratedate"),
            "exchrate": h.get("exchrate"),
            "invoiceitems": {"lineitem": [_line(x) for x in doc.lines]},
        }
        return "create_invoice", body
    body = {
        "customerid": doc.customer_id,
        "datecreated": h["datecreated"],
        "dateposted": h["dateposted"],
        "adjustmentno": doc.doc_number,
        "action": "Submit",
        "description": h.get("description"),
        "externalid": h["externalid"],
        "basecurr": h["basecurr"],
        "currency": h["currency"],
        "exchratedate": h.get("exchratedate"),
        "exchrate": h.get("exchrate"),
        "aradjustmentitems": {"lineitem": [_line(x) for x in doc.lines]},
    }
    return "create_aradjustment", body


def update_function(doc: MappedDocument, record_no: str, lines_in_intacct: int) -> tuple[str, dict[str, Any]]:
    """``update_invoice`` / ``update_aradjustment``: header fields, each existing line by ``line_num``,
    new lines appended. Intacct's update cannot remove a line: the caller holds such an edit."""
    name, body = create_function(doc)
    items_key = "invoiceitems" if doc.kind == INVOICE else "aradjustmentitems"
    lines = body.pop(items_key)["lineitem"]
    body.pop("externalid", None)
    if doc.kind == CREDIT_MEMO:
        body.pop("action", None)
    updates = [{"@line_num": str(i + 1), **line} for i, line in enumerate(lines[:lines_in_intacct])]
    update_items = {"updatelineitem": updates, "lineitem": lines[lines_in_intacct:] or None}
    body["update" + items_key] = update_items
    return name.replace("create_", "update_"), {"@key": record_no, **body}


def reverse_function(kind: str, record_no: str, on: str, doc_number: str) -> tuple[str, dict[str, Any]]:
    """Reverse a voided or deleted invoice on the void date (Intacct keeps both, nothing is deleted)."""
    return "reverse_invoice", {
        "@key": record_no,
        "datereversed": _date(on),
        "description": f"Voided or deleted in QuickBooks ({NOUN[kind]} {doc_number})",
    }


#: Intacct's legacy functions read their elements in the documented order (I-INV, I-ARADJ).
ELEMENT_ORDER: dict[str, list[str]] = {
    "create_invoice": [
        "customerid",
        "datecreated",
        "dateposted",
        "datedue",
        "termname",
        "invoiceno",
        "ponumber",
        "description",
        "externalid",
        "basecurr",
        "currency",
        "exchratedate",
        "exchrate",
        "invoiceitems",
    ],
    "update_invoice": [
        "customerid",
        "datecreated",
        "dateposted",
        "datedue",
        "termname",
        "invoiceno",
        "ponumber",
        "description",
        "basecurr",
        "currency",
        "exchratedate",
        "exchrate",
        "updateinvoiceitems",
    ],
    "create_aradjustment": [
        "customerid",
        "datecreated",
        "dateposted",
        "adjustmentno",
        "action",
        "description",
        "externalid",
        "basecurr",
        "currency",
        "exchratedate",
        "exchrate",
        "aradjustmentitems",
    ],
    "update_aradjustment": [
        "customerid",
        "datecreated",
        "dateposted",
        "adjustmentno",
        "description",
        "basecurr",
        "currency",
        "exchratedate",
        "exchrate",
        "updatearadjustmentitems",
    ],
    "reverse_invoice": ["datereversed", "description"],
}


def _line(line: Mapping[str, Any]) -> dict[str, Any]:
    return {k: line.get(k) for k in ("glaccountno", "amount", "memo", "locationid", "departmentid", "classid")}


# -------------------------------------------------------------------------------- status both ways


def qbo_status(total: Decimal, balance: Decimal, voided: bool) -> str:
    if voided:
        return "voided"
    if total == 0 or balance == total:
        return "open"
    return "paid" if balance == 0 else "partly paid"


def intacct_status(record: Mapping[str, Any]) -> str:
    state = str(record.get("STATE") or "")
    if state in ("Reversed", "Reversal"):
        return "voided"
    total = _money(record.get("TRX_TOTALENTERED"), where="TRX_TOTALENTERED")
    due = _money(record.get("TRX_TOTALDUE"), where="TRX_TOTALDUE")
    return qbo_status(abs(total), abs(due), False)


# -------------------------------------------------------------------------------- the declaration


def _qbo_row(record: Mapping[str, Any], context: DocContext, pattern: str) -> dict[str, Any]:
    kind = CREDIT_MEMO if "RemainingCredit" in record else INVOICE
    doc = map_document(kind, record, context)
    return {
        "source_id": doc.source_id,
        "doc_number": doc.doc_number,
        "customer": doc.customer_name,
        "date": doc.txn_date,
        "currency": doc.currency,
        "total": doc.total,
        "balance": doc.balance,
        "status": qbo_status(doc.total, doc.balance, doc.voided),
        "hold_reason": doc.hold.reason if doc.hold else None,
    }


def _intacct_row(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "target_id": str(record.get("RECORDNO")),
        "doc_number": record.get("RECORDID"),
        "customer": record.get("CUSTOMERID"),
        "date": str(record.get("WHENCREATED") or ""),
        "currency": record.get("CURRENCY"),
        "total": _money(record.get("TRX_TOTALENTERED"), where="total"),
        "balance": _money(record.get("TRX_TOTALDUE"), where="balance"),
        "status": intacct_status(record),
        "entity": record.get("MEGAENTITYID") or "",
        "hold_reason": None,
    }


def _one_way(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
    raise FlowMappingError("invoices flow one way, QuickBooks to Intacct: nothing is written to QuickBooks")


def _intacct_body(values: Mapping[str, Any], *, record_id: str, groups: Any, context: Any = None) -> dict[str, Any]:
    raise FlowMappingError("invoice bodies are built by invoices.create_function from the QuickBooks document")


SPEC = FlowSpec(
    name=FLOW,
    noun="invoice",
    qbo_entity=INVOICE,
    intacct_object="ARINVOICE",
    intacct_id_field="RECORDNO",
    intacct_fields=INTACCT_FIELDS,
    field_groups={
        "header": ["doc_number", "customer", "date", "currency"],
        "amounts": ["total"],
        "status": ["balance", "status"],
    },
    key_ids=(StrongId("external_id", "external_id", "external_id", normalize_reference),),
    data_ids=(),
    duplicate_ids=(),
    id_pattern_variable="qbo_intacct_invoice_number_pattern",
    default_id_pattern="{qbo_id}",
    derive_target_id=lambda qbo_id, pattern: external_id(INVOICE, qbo_id),
    build_context=lambda lookups, mappings: DocContext.build(lookups, mappings),
    qbo_row=_qbo_row,
    intacct_row=_intacct_row,
    intacct_body=_intacct_body,
    qbo_body=_one_way,
    source_columns=("source_id", "hold_reason"),
    target_columns=("target_id", "entity", "hold_reason"),
    qbo_lookups=LOOKUPS,
    money_fields=("total", "balance"),
    depends_on=("customers",),
    extra={
        "kind": "document",
        "documents": {INVOICE: "ARINVOICE", CREDIT_MEMO: "ARADJUSTMENT"},
        "pending_hours_variable": PENDING_HOURS_VARIABLE,
    },
)
