"""Payables, both ways: QuickBooks ``Bill`` <-> Intacct ``APBILL``, with GL coding and approval state.

The accounting of the bills flow (:mod:`qbo_intacct.operators.bill_dag` runs it). Bills are
documents, not master data: a bill is either linked (ledger, flow ``bills``: source ``Bill:<QuickBooks
Id>``, target ``APBILL:<RECORDNO>``) or it is created on the other side once. Rules a finance
reader should know:

- **Which side leads.** The side a bill was entered on (the link's *origin*) leads it: its edits
  update the other side while the bill is unpaid there, later edits become review items. A bill
  the sync wrote is recognised after a lost ledger or a killed run: Intacct bills it created carry
  the reference (``DOCNUMBER``) ``QBO Bill <Id>``; QuickBooks bills it created end their memo with
  ``[Intacct bill <RECORDNO>]``. Neither is ever created back.
- **Approval.** QuickBooks has no approval state in its API: a QuickBooks bill is created in
  Intacct in the state the workbook's *Bills* sheet gives its entity (``Submitted``: it goes through
  Intacct's approval before it can be paid; ``Posted``; default ``Submitted``). An Intacct bill in
  Draft, Submitted, Partially Approved or Declined is not sent to QuickBooks; it is counted as
  *waiting for approval* and goes once Intacct shows it Approved or Posted (or paid). The approval
  state of each linked bill is kept in its ledger link (``state``) and counted in the run summary.
  Intacct's XML API has no approve function (api-facts E5): ``STATE`` is sent with ``ACTION``
  Submit; against a real company the sheet must agree with the company's AP approval setting, and
  the ledger records the state Intacct reports, never the one asked for.
- **Vendor** only through the vendors flow's links. A bill whose vendor is not linked waits
  (*pending*, retried every run, counted) and after ``qbo_intacct_bills_pending_hours`` (Airflow
  Variable, default 72) also becomes a review item saying which vendor to resolve.
- **Lines.** QuickBooks account lines post to the Intacct account of the *Accounts* sheet, item
  lines to the item's expense account's; amounts and descriptions kept; each line's location,
  department and class from *Entity Routing* (the line's class with the bill's department), all lines
  in one entity. Intacct -> QuickBooks: each Intacct account goes to the *first* QuickBooks account
  mapped to it on the Accounts sheet (for that entity, else for every entity): put the account you
  want first. An unmapped account holds the bill, naming the line and the sheet.
- **Departments.** QuickBooks keeps one department per bill (``DepartmentRef`` on the header): it is
  the entity's first Department row on *Entity Routing* whose location is the lines' location, else
  the entity's first Department row. Each line's Intacct department (and class) becomes the line's
  QuickBooks class: the first Class row of that entity with that department (and that class, when
  the line has one). An Intacct bill whose lines carry different departments follows the Bills
  sheet's *Line Departments*: ``Class per line`` (the default: one QuickBooks bill, each line's
  department kept as its class, so the bill is paid once on both sides) or ``Hold`` (a review item).
- **Header.** Bill number = QuickBooks DocNumber = Intacct RECORDID (unique per vendor: a number the
  vendor already has on the other side for another bill is a review item, never renamed), bill date,
  GL posting date (Intacct WHENPOSTED; QuickBooks has only the bill date), terms (*Terms* sheet, both
  ways) and due date, currency with the bill's own rate (QuickBooks' home-currency rate converted
  into the entity's base currency and back; never 1:1 unless the currencies are equal), memo.
- **Closed periods.** A write Intacct refuses because the period is closed is held for review with
  Intacct's words; the same content is not sent again until it changes or finance decides.
- **Voids and deletes** are never copied as deletes: a QuickBooks bill deleted is reversed in Intacct
  (``reverse_bill``) while nothing is paid on it there, else it is a review item; an Intacct bill
  reversed or deleted is a review item for QuickBooks (which has no reversal of a bill).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from qbo_intacct.flows.declaration import FlowMappingError, FlowSpec
from qbo_intacct.flows.matching import StrongId, normalize_reference

FLOW = "bills"
VENDORS_FLOW = "vendors"
QBO_ENTITY = "Bill"
INTACCT_OBJECT = "APBILL"
PENDING_HOURS_VARIABLE = "qbo_intacct_bills_pending_hours"
DEFAULT_PENDING_HOURS = 72
DEFAULT_CREATE_AS = "Submitted"
DEFAULT_LINE_DEPARTMENTS = "Class per line"
CLOSED_PERIOD = "closed_period"
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")
ZERO = Decimal("0.00")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_MARKER = re.compile(r"\[Intacct bill (\d+)\]\s*$")

#: Intacct states a bill may be paid in: the bill goes to QuickBooks.
APPROVED_STATES = frozenset({"Approved", "Posted", "Partially Paid", "Paid", "Selected"})
#: Intacct states before approval: the bill waits.
WAITING_STATES = frozenset({"Draft", "Submitted", "Partially Approved", "Declined"})
REVERSED_STATES = frozenset({"Reversed", "Reversal"})

INTACCT_FIELDS: tuple[str, ...] = (
    "RECORDNO",
    "RECORDID",
    "DOCNUMBER",
    "VENDORID",
    "VENDORNAME",
    "STATE",
    "CURRENCY",
    "BASECURR",
    "EXCHANGE_RATE",
    "MEGAENTITYID",
    "WHENCREATED",
    "WHENPOSTED",
    "WHENDUE",
    "TERMNAME",
    "DESCRIPTION",
    "TRX_TOTALENTERED",
    "TRX_TOTALPAID",
    "TRX_TOTALDUE",
    "TOTALENTERED",
    "WHENMODIFIED",
)
LOOKUPS: tuple[str, ...] = ("Item", "Account", "Term", "Class", "Department", "ExchangeRate")


class BillMappingError(FlowMappingError):
    """A bill cannot be expressed on the other side; names bill, line and field."""


@dataclass(frozen=True)
class Hold:
    reason: str
    detail: str


class _HeldError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.hold = Hold(reason, detail)


def money(value: Any, *, where: str = "amount") -> Decimal:
    if value in (None, ""):
        return ZERO
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise _HeldError("cannot_map", f"{where}: {value!r} is not an amount") from None


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _ref(value: Any, key: str = "value") -> str | None:
    if isinstance(value, Mapping) and value.get(key) not in (None, ""):
        return str(value[key])
    return None


def clean_text(value: Any, limit: int = 1000) -> str | None:
    if value in (None, ""):
        return None
    return _CONTROL.sub("", str(value)).strip()[:limit] or None


def qbo_key(qbo_id: str) -> str:
    return f"Bill:{qbo_id}"


def intacct_key(record_no: Any) -> str:
    return f"APBILL:{record_no}"


def reference(qbo_id: str) -> str:
    """What the sync writes in an Intacct bill's DOCNUMBER: how it knows its own bills."""
    return f"QBO Bill {qbo_id}"


def marker(record_no: Any) -> str:
    return f"[Intacct bill {record_no}]"


def own_intacct_bill(record: Mapping[str, Any]) -> str | None:
    """The QuickBooks Id an Intacct bill was created from by the sync, else None."""
    ref = str(record.get("DOCNUMBER") or "")
    return ref[len("QBO Bill ") :] if ref.startswith("QBO Bill ") else None


def own_qbo_bill(record: Mapping[str, Any]) -> str | None:
    """The Intacct RECORDNO a QuickBooks bill was created from by the sync, else None."""
    found = _MARKER.search(str(record.get("PrivateNote") or ""))
    return found.group(1) if found else None


@dataclass
class Context:
    """What mapping a bill needs: QuickBooks lists, vendor links both ways, entity currencies, the workbook."""

    mappings: Any
    items: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    accounts: Mapping[str, str] = field(default_factory=dict)  # Id -> FullyQualifiedName
    account_ids: Mapping[str, str] = field(default_factory=dict)  # FullyQualifiedName -> Id
    terms: Mapping[str, str] = field(default_factory=dict)  # Id -> Name
    classes: Mapping[str, str] = field(default_factory=dict)  # Id -> FullyQualifiedName
    departments: Mapping[str, str] = field(default_factory=dict)  # Id -> FullyQualifiedName
    home_rates: Mapping[str, list[tuple[str, Decimal]]] = field(default_factory=dict)
    vendors: Mapping[str, str] = field(default_factory=dict)  # QuickBooks vendor Id -> VENDORID
    vendors_back: Mapping[str, str] = field(default_factory=dict)  # VENDORID -> QuickBooks vendor Id
    entity_currency: Mapping[str, str] = field(default_factory=dict)
    home_currency: str = "USD"

    @classmethod
    def build(
        cls,
        lookups: Mapping[str, list[dict[str, Any]]],
        mappings: Any,
        *,
        vendors: Mapping[str, str] | None = None,
        entity_currency: Mapping[str, str] | None = None,
        home_currency: str = "USD",
    ) -> Context:
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
        accounts = names("Account")
        vendors = dict(vendors or {})
        return cls(
            mappings=mappings,
            items={str(r["Id"]): r for r in lookups.get("Item", [])},
            accounts=accounts,
            account_ids={name: i for i, name in accounts.items()},
            terms={str(r["Id"]): str(r.get("Name") or "") for r in lookups.get("Term", [])},
            classes=names("Class"),
            departments=names("Department"),
            home_rates=rates,
            vendors=vendors,
            vendors_back={v: k for k, v in vendors.items()},
            entity_currency=dict(entity_currency or {"US": "USD", "UK": "GBP", "CA": "CAD"}),
            home_currency=home_currency,
        )

    def home_rate(self, currency: str, on: str) -> Decimal | None:
        """QuickBooks' rate (home units per one ``currency``) in force on ``on``."""
        if currency == self.home_currency:
            return Decimal(1)
        best = None
        for as_of, rate in self.home_rates.get(currency, []):
            if as_of <= on:
                best = rate
        return best

    def setting(self, entity: str) -> tuple[str, str]:
        """(Create As, Line Departments) for an entity: the Bills sheet, else the defaults."""
        row = self.mappings.bill_setting(entity) if hasattr(self.mappings, "bill_setting") else None
        if row is None:
            return DEFAULT_CREATE_AS, DEFAULT_LINE_DEPARTMENTS
        return row.create_as or DEFAULT_CREATE_AS, row.line_departments or DEFAULT_LINE_DEPARTMENTS


@dataclass
class Bill:
    """One bill as the flow sees it, from either side, with the write the other side needs."""

    side: str  # "qbo" | "intacct": where this record was read
    key: str  # Bill:<Id> | APBILL:<RECORDNO>
    record_id: str  # QuickBooks Id | RECORDNO
    doc_number: str
    vendor_name: str
    vendor_ref: str  # QuickBooks vendor Id | VENDORID
    txn_date: str
    currency: str
    total: Decimal
    open_balance: Decimal
    state: str = ""  # Intacct STATE (Intacct side); "open"/"paid"/... for QuickBooks
    entity: str | None = None
    partner_vendor: str | None = None  # the other side's vendor id, None while not linked
    own_partner: str | None = None  # the other side's id when the sync wrote this record
    body: dict[str, Any] = field(default_factory=dict)  # the other side's create body (None while held)
    lines: int = 0
    hold: Hold | None = None

    @property
    def label(self) -> str:
        return f"bill {self.doc_number} from {self.vendor_name}"


# -------------------------------------------------------------------------------- QuickBooks -> Intacct


def _intacct_date(iso: str) -> str:
    return str(iso)[:10]


def map_qbo_bill(record: Mapping[str, Any], ctx: Context) -> Bill:
    """A QuickBooks Bill and the Intacct APBILL it becomes (or a hold naming line and sheet)."""
    qbo_id = str(record["Id"])
    vendor = record.get("VendorRef") or {}
    doc_number = clean_text(record.get("DocNumber"), 45) or f"QB-{qbo_id}"
    total = money(record.get("TotalAmt"), where=f"bill {doc_number} TotalAmt")
    balance = money(record.get("Balance"), where=f"bill {doc_number} Balance")
    bill = Bill(
        side="qbo",
        key=qbo_key(qbo_id),
        record_id=qbo_id,
        doc_number=doc_number,
        vendor_name=str(_ref(vendor, "name") or ""),
        vendor_ref=str(_ref(vendor) or ""),
        txn_date=str(record.get("TxnDate") or "")[:10],
        currency=str(_ref(record.get("CurrencyRef")) or ctx.home_currency),
        total=total,
        open_balance=balance,
        state="paid" if balance == 0 and total != 0 else ("partly paid" if balance != total else "open"),
        own_partner=own_qbo_bill(record),
    )
    bill.partner_vendor = ctx.vendors.get(bill.vendor_ref)
    try:
        _qbo_into(bill, record, ctx)
    except _HeldError as held:
        bill.hold = held.hold
    return bill


def _qbo_into(bill: Bill, record: Mapping[str, Any], ctx: Context) -> None:
    label, mappings = bill.label, ctx.mappings
    if not bill.txn_date:
        raise _HeldError("cannot_map", f"{label}: no TxnDate")
    if bill.currency not in mappings.enabled_currencies:
        raise _HeldError(
            "currency_not_enabled",
            f"{label} is in {bill.currency}, which the workbook's Currencies sheet does not enable for Intacct",
        )
    department = ctx.departments.get(str(_ref(record.get("DepartmentRef")) or ""))
    header = mappings.route(None, department)
    if header is None:
        raise _HeldError(
            "no_route",
            f"{label}: department {department or '(none)'} routes to no single Intacct entity; add a row on the "
            "workbook's Entity Routing sheet",
        )
    entity = bill.entity = header.entity
    lines = []
    for number, line in enumerate(record.get("Line") or [], start=1):
        kind = line.get("DetailType")
        if kind == "AccountBasedExpenseLineDetail":
            detail = line.get(kind) or {}
            ref = detail.get("AccountRef") or {}
            account = ctx.accounts.get(str(_ref(ref) or "")) or _ref(ref, "name")
            where = f"line {number} (account {account!r})"
        elif kind == "ItemBasedExpenseLineDetail":
            detail = line.get(kind) or {}
            item_id = str(_ref(detail.get("ItemRef")) or "")
            item = ctx.items.get(item_id) or {}
            ref = item.get("ExpenseAccountRef") or {}
            account = ctx.accounts.get(str(_ref(ref) or "")) or _ref(ref, "name")
            item_name = item.get("Name") or _ref(detail.get("ItemRef"), "name") or item_id
            where = f"line {number} (item {item_name!r}, expense account {account!r})"
        else:
            continue
        gl = mappings.gl_account(account, entity) if account else None
        if gl is None:
            row = (mappings.unmapped_rows.get("AccountMap") or {}).get(account or "")
            raise _HeldError(
                "unmapped_account",
                f"{label} {where}: QuickBooks account {account or '(none)'!r} has no Intacct account on the "
                f"workbook's Accounts sheet{f' (row {row})' if row else ''}; map it there (never guessed)",
            )
        class_name = ctx.classes.get(str(_ref(detail.get("ClassRef")) or ""))
        route = mappings.route(class_name, department)
        if route is None or route.entity != entity:
            raise _HeldError(
                "mixed_entities",
                f"{label} {where}: class {class_name or '(none)'} with department {department or '(none)'} does "
                f"not route to entity {entity}; fix the workbook's Entity Routing sheet or the line's class",
            )
        amount = money(line.get("Amount"), where=f"{label} {where} Amount")
        if amount == 0:
            continue
        description = clean_text(line.get("Description"), 400) or account
        lines.append(
            {
                "ACCOUNTNO": gl,
                "TRX_AMOUNT": amount,
                "ENTRYDESCRIPTION": description,
                "LOCATIONID": route.location or entity,
                "DEPARTMENTID": route.department,
                "CLASSID": route.intacct_class,
            }
        )
    mapped = sum((x["TRX_AMOUNT"] for x in lines), ZERO)
    if mapped != bill.total:
        raise _HeldError(
            "total_mismatch",
            f"{label}: its lines map to {mapped} but QuickBooks says the total is {bill.total}; check the bill",
        )
    base = ctx.entity_currency.get(entity, ctx.home_currency)
    create_as, _ = ctx.setting(entity)
    term = ctx.terms.get(str(_ref(record.get("SalesTermRef")) or ""))
    body: dict[str, Any] = {
        "VENDORID": bill.partner_vendor,
        "WHENCREATED": _intacct_date(bill.txn_date),
        "WHENPOSTED": _intacct_date(bill.txn_date),
        "WHENDUE": _intacct_date(str(record.get("DueDate") or bill.txn_date)),
        "TERMNAME": mappings.term(term) if term else None,
        "RECORDID": bill.doc_number,
        "DOCNUMBER": reference(bill.record_id),
        "DESCRIPTION": clean_text(record.get("PrivateNote")),
        "CURRENCY": bill.currency,
        "BASECURR": base,
        "ACTION": "Submit",
        "STATE": create_as,
        "APBILLITEMS": {"APBILLITEM": [{k: v for k, v in x.items() if v is not None} for x in lines]},
    }
    if bill.currency != base:
        body["EXCHANGE_RATE"] = _to_base_rate(bill, record, ctx, base)
    bill.body = {k: v for k, v in body.items() if v is not None}
    bill.lines = len(lines)


def _to_base_rate(bill: Bill, record: Mapping[str, Any], ctx: Context, base: str) -> str:
    """The bill's own rate into the entity's base currency (QuickBooks gives home units per unit)."""
    if record.get("ExchangeRate") in (None, ""):
        raise _HeldError("no_exchange_rate", f"{bill.label} in {bill.currency} carries no exchange rate in QuickBooks")
    base_to_home = ctx.home_rate(base, bill.txn_date)
    if not base_to_home:
        raise _HeldError(
            "no_exchange_rate",
            f"{bill.label}: QuickBooks has no {base} rate on or before {bill.txn_date}; add the rate in QuickBooks",
        )
    return str((_dec(record["ExchangeRate"]) / base_to_home).quantize(RATE_PLACES, rounding=ROUND_HALF_UP))


# -------------------------------------------------------------------------------- Intacct -> QuickBooks


def map_intacct_bill(record: Mapping[str, Any], ctx: Context) -> Bill:
    """An Intacct APBILL (read with its lines) and the QuickBooks Bill it becomes, or a hold."""
    record_no = str(record.get("RECORDNO"))
    doc_number = clean_text(record.get("RECORDID"), 21) or f"IA-{record_no}"
    total = money(record.get("TRX_TOTALENTERED"), where=f"bill {doc_number} TRX_TOTALENTERED")
    bill = Bill(
        side="intacct",
        key=intacct_key(record_no),
        record_id=record_no,
        doc_number=doc_number,
        vendor_name=str(record.get("VENDORNAME") or record.get("VENDORID") or ""),
        vendor_ref=str(record.get("VENDORID") or ""),
        txn_date=str(record.get("WHENCREATED") or "")[:10],
        currency=str(record.get("CURRENCY") or record.get("BASECURR") or ctx.home_currency),
        total=total,
        open_balance=money(record.get("TRX_TOTALDUE"), where=f"bill {doc_number} TRX_TOTALDUE"),
        state=str(record.get("STATE") or ""),
        entity=str(record.get("MEGAENTITYID") or "") or None,
        own_partner=own_intacct_bill(record),
    )
    bill.partner_vendor = ctx.vendors_back.get(bill.vendor_ref)
    if bill.state not in APPROVED_STATES:
        return bill
    try:
        _intacct_into(bill, record, ctx)
    except _HeldError as held:
        bill.hold = held.hold
    return bill


def _lines_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Lines as a list, whatever the reply's nesting (``APBILLITEMS.apbillitem`` on read, one or many)."""
    items = record.get("APBILLITEMS") or []
    if isinstance(items, Mapping) and "ACCOUNTNO" not in items and "GLACCOUNTNO" not in items:
        items = next((v for k, v in items.items() if k.upper() == "APBILLITEM"), [])
    if isinstance(items, Mapping):
        items = [items]
    return list(items)


def _qbo_account(ctx: Context, account_no: str, entity: str | None) -> str | None:
    """The first QuickBooks account the Accounts sheet maps to ``account_no`` (the entity's rows first)."""
    rows = [r for r in ctx.mappings.accounts if r.intacct_gl_account == account_no]
    for wanted in (entity, None):
        for row in rows:
            if row.entity == wanted and row.qbo_account in ctx.account_ids:
                return row.qbo_account
    return None


def _qbo_class(ctx: Context, entity: str, department: str | None, intacct_class: str | None) -> str | None:
    rows = [
        r
        for r in ctx.mappings.routing
        if r.qbo_dimension == "Class" and r.intacct_entity == entity and r.intacct_department == department
    ]
    exact = [r for r in rows if (r.intacct_class or None) == (intacct_class or None)]
    chosen = (exact or rows or [None])[0]
    return None if chosen is None else chosen.qbo_value


def _qbo_department(ctx: Context, entity: str, location: str | None) -> str | None:
    rows = [r for r in ctx.mappings.routing if r.qbo_dimension == "Department" and r.intacct_entity == entity]
    exact = [r for r in rows if location and r.intacct_location == location]
    chosen = (exact or rows or [None])[0]
    return None if chosen is None else chosen.qbo_value


def _id_of(names: Mapping[str, str], name: str | None) -> str | None:
    if not name:
        return None
    return next((i for i, n in names.items() if n == name), None)


def _intacct_into(bill: Bill, record: Mapping[str, Any], ctx: Context) -> None:
    label, entity = bill.label, bill.entity or "US"
    if bill.currency not in ctx.mappings.enabled_currencies:
        raise _HeldError("currency_not_enabled", f"{label} is in {bill.currency}, not enabled on the Currencies sheet")
    raw_lines = _lines_of(record)
    if not raw_lines:
        raise _HeldError("cannot_map", f"{label}: Intacct returned no lines for the bill")
    _, rule = ctx.setting(entity)
    departments = {str(x.get("DEPARTMENTID") or "") for x in raw_lines}
    if len(departments) > 1 and rule == "Hold":
        raise _HeldError(
            "split_departments",
            f"{label}: its lines carry {len(departments)} departments "
            f"({', '.join(sorted(d or '(none)' for d in departments))}) "
            "and QuickBooks keeps one department per bill; the Bills sheet says Hold for entity "
            f"{entity}: enter it in QuickBooks by hand, or set Line Departments to Class per line",
        )
    locations = [str(x.get("LOCATIONID") or "") for x in raw_lines]
    department = _qbo_department(ctx, entity, locations[0] if len(set(locations)) == 1 else None)
    if department is None:
        raise _HeldError(
            "no_route",
            f"{label}: entity {entity} has no Department row on the workbook's Entity Routing sheet",
        )
    lines = []
    for number, line in enumerate(raw_lines, start=1):
        account_no = str(line.get("ACCOUNTNO") or line.get("GLACCOUNTNO") or "")
        account = _qbo_account(ctx, account_no, entity)
        if account is None:
            raise _HeldError(
                "unmapped_account",
                f"{label} line {number}: Intacct account {account_no} has no QuickBooks account on the workbook's "
                "Accounts sheet; add a row there (never guessed)",
            )
        dept_id = str(line.get("DEPARTMENTID") or "") or None
        class_name = _qbo_class(ctx, entity, dept_id, str(line.get("CLASSID") or "") or None) if dept_id else None
        if dept_id and class_name is None:
            raise _HeldError(
                "unmapped_department",
                f"{label} line {number}: Intacct department {dept_id} in entity {entity} has no Class row on the "
                "workbook's Entity Routing sheet to become the line's QuickBooks class",
            )
        detail: dict[str, Any] = {"AccountRef": {"value": ctx.account_ids[account], "name": account}}
        class_id = _id_of(ctx.classes, class_name)
        if class_id:
            detail["ClassRef"] = {"value": class_id, "name": class_name}
        amount = money(line.get("TRX_AMOUNT"), where=f"{label} line {number} TRX_AMOUNT")
        lines.append(
            {
                "Amount": amount,
                "Description": clean_text(line.get("ENTRYDESCRIPTION"), 400),
                "DetailType": "AccountBasedExpenseLineDetail",
                "AccountBasedExpenseLineDetail": detail,
            }
        )
    if sum((x["Amount"] for x in lines), ZERO) != bill.total:
        raise _HeldError("total_mismatch", f"{label}: its lines do not add up to its total {bill.total}")
    terms_back = {m.intacct_term: m.qbo_term for m in ctx.mappings.terms}
    term_id = _id_of(ctx.terms, terms_back.get(str(record.get("TERMNAME") or "")))
    note = " ".join(p for p in (clean_text(record.get("DESCRIPTION"), 3900), marker(bill.record_id)) if p)
    body: dict[str, Any] = {
        "VendorRef": {"value": bill.partner_vendor},
        "DocNumber": bill.doc_number,
        "TxnDate": bill.txn_date,
        "DueDate": str(record.get("WHENDUE") or bill.txn_date)[:10],
        "CurrencyRef": {"value": bill.currency},
        "DepartmentRef": {"value": _id_of(ctx.departments, department), "name": department},
        "PrivateNote": note,
        "Line": lines,
    }
    if term_id:
        body["SalesTermRef"] = {"value": term_id}
    if bill.currency != ctx.home_currency:
        body["ExchangeRate"] = _to_home_rate(bill, record, ctx)
    bill.body = body
    bill.lines = len(lines)


def _to_home_rate(bill: Bill, record: Mapping[str, Any], ctx: Context) -> Decimal:
    """Home units per one bill-currency unit: the bill's own Intacct rate (base per unit) times QuickBooks'
    base-currency rate on the bill date."""
    base = str(record.get("BASECURR") or ctx.entity_currency.get(bill.entity or "", ctx.home_currency))
    rate = _dec(record.get("EXCHANGE_RATE") or 1)
    base_to_home = ctx.home_rate(base, bill.txn_date)
    if base_to_home is None:
        raise _HeldError(
            "no_exchange_rate", f"{bill.label}: QuickBooks has no {base} rate on or before {bill.txn_date}"
        )
    return (rate * base_to_home).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


# -------------------------------------------------------------------------------- plan


@dataclass
class Step:
    """What the run does with one bill (or one pair)."""

    key: str  # the record read: Bill:<Id> or APBILL:<RECORDNO>
    side: str
    doc_number: str
    vendor: str
    action: str  # create | update | reverse | link | skip | review | pending | wait
    reason: str = ""
    detail: str = ""
    system: str = ""  # where the write goes: qbo | intacct
    write_key: str | None = None
    link_source: str | None = None  # Bill:<Id> of the pair (known before the write for QuickBooks-side records)
    link_target: str | None = None  # APBILL:<RECORDNO>
    origin: str = ""
    content: str | None = None
    state: str = ""  # Intacct approval state
    entity: str | None = None
    amount: str = "0.00"
    currency: str = ""
    pending_since: str | None = None


def _content(body: Mapping[str, Any]) -> str:
    from qbo_intacct.flows.runtime import content_key

    return content_key(body)


def plan(
    *,
    bills: Sequence[Bill],
    deleted: Sequence[Mapping[str, Any]],
    partners: Mapping[str, Mapping[str, Any]],
    by_number: Mapping[tuple[str, str, str], Sequence[Mapping[str, Any]]],
    links: Mapping[str, Any],
    pending: Mapping[str, str],
    refused: Mapping[str, tuple[str, str, str]],
    now: dt.datetime,
    pending_hours: float,
) -> tuple[list[Step], list[dict[str, Any]], list[dict[str, Any]]]:
    """Each bill's step, the Intacct writes and the QuickBooks writes.

    ``partners``: the other side's current record of linked bills by key (``Bill:<Id>`` /
    ``APBILL:<RECORDNO>``); ``by_number``: (side, vendor, bill number) -> records already there,
    for bills about to be created; ``links``: ledger links by source (``Bill:<Id>``) and by target."""
    by_target = {link.target_id: link for link in links.values()}
    steps: list[Step] = []
    intacct_writes: list[dict[str, Any]] = []
    qbo_writes: list[dict[str, Any]] = []

    def write(step: Step, system: str, operation: str, obj: str, body: Mapping[str, Any], key: str) -> None:
        target = intacct_writes if system == "intacct" else qbo_writes
        step.system, step.write_key = system, f"{system}:{len(target)}"
        target.append(
            {
                "write_key": step.write_key,
                "operation": operation,
                "object": obj,
                "record_key": step.key,
                "entity": step.entity or "",
                "body": dict(body),
                "idempotency_key": key,
                "reveal": None,
            }
        )

    seen: set[str] = set()
    for row in deleted:
        source = qbo_key(row["id"])
        link = links.get(source)
        step = Step(source, "qbo", str(row.get("doc_number") or row["id"]), "", "skip", "deleted_unsynced")
        steps.append(step)
        if link is None:
            continue
        hashes = dict(link.target_hashes or {})
        step.doc_number, step.link_source, step.link_target = (
            hashes.get("doc_number") or step.doc_number,
            source,
            link.target_id,
        )
        step.origin, step.entity, step.state = (
            hashes.get("origin", ""),
            hashes.get("entity") or None,
            hashes.get("state", ""),
        )
        current = partners.get(link.target_id)
        if hashes.get("state") in REVERSED_STATES:
            step.reason = "already_reversed"
        elif current is None:
            step.reason = "partner_missing"
        elif money(current.get("TRX_TOTALPAID")) != 0 or str(current.get("STATE")) not in APPROVED_STATES:
            step.action, step.reason = "review", "delete_after_payment"
            step.detail = (
                f"bill {step.doc_number} was deleted in QuickBooks, but its Intacct bill (record "
                f"{current.get('RECORDNO')}) is {current.get('STATE')} with "
                f"{money(current.get('TRX_TOTALPAID'))} paid; "
                "reverse the payments (or approve it) in Intacct, then the next run reverses the bill"
            )
        else:
            step.action, step.reason = "reverse", "deleted_in_quickbooks"
            body = {
                "@key": str(current.get("RECORDNO")),
                "datereversed": _legacy_date(now.date().isoformat()),
                "description": f"Deleted in QuickBooks (bill {step.doc_number})",
            }
            write(step, "intacct", "reverse_bill", "APBILL", body, f"bills:reverse:{source}:{link.target_id}")
    for bill in bills:
        if bill.key in seen:
            continue
        seen.add(bill.key)
        step = Step(bill.key, bill.side, bill.doc_number, bill.vendor_name, "skip", entity=bill.entity,
                    amount=str(bill.total), currency=bill.currency)  # fmt: skip
        steps.append(step)
        link = links.get(bill.key) if bill.side == "qbo" else by_target.get(bill.key)
        if link is not None:
            _plan_linked(step, bill, link, partners, refused, write)
            continue
        step.state = bill.state if bill.side == "intacct" else ""
        if bill.side == "intacct" and bill.state in REVERSED_STATES and bill.own_partner:
            step.reason = "reversal_of_synced_bill"  # the Reversal record Intacct adds: its original stays linked
            continue
        if bill.own_partner:  # written by the sync from the other side: found again, never sent back
            other = intacct_key(bill.own_partner) if bill.side == "qbo" else qbo_key(bill.own_partner)
            step.action, step.reason = "link", "written_by_sync"
            step.link_source, step.link_target = (bill.key, other) if bill.side == "qbo" else (other, bill.key)
            step.origin = "intacct" if bill.side == "qbo" else "qbo"
            if bill.side == "qbo":
                step.state = str((partners.get(other) or {}).get("STATE") or "")
            continue
        if bill.side == "intacct":
            if bill.state in REVERSED_STATES:
                step.reason = "reversed_unsynced"
                continue
            if bill.state not in APPROVED_STATES:
                step.action, step.reason = "wait", "waiting_for_approval"
                continue
        if bill.hold is not None:
            step.action, step.reason, step.detail = "review", bill.hold.reason, bill.hold.detail
            continue
        if bill.total == 0:
            step.reason = "zero_amount"
            continue
        if bill.partner_vendor is None:
            since = pending.get(bill.key) or now.isoformat(timespec="seconds")
            step.action, step.reason, step.pending_since = "pending", "vendor_not_linked", since
            if now - dt.datetime.fromisoformat(since) >= dt.timedelta(hours=pending_hours):
                where = "QuickBooks" if bill.side == "qbo" else "Intacct"
                step.detail = (
                    f"{bill.label}: the vendor ({where} {bill.vendor_ref}) is not linked to a vendor in the other "
                    f"system since {since[:16]}; resolve the vendor's review item in the vendors flow "
                    "(qbo_intacct_review DAG) and the bill follows"
                )
            continue
        step.content = _content(bill.body)
        earlier = refused.get(bill.key)
        if earlier is not None and earlier[1] == step.content:
            step.action, step.reason, step.detail = "review", earlier[0], earlier[2]
            continue
        other_side = "intacct" if bill.side == "qbo" else "qbo"
        same = list(by_number.get((other_side, bill.partner_vendor, bill.doc_number), []))
        if same:
            found = same[0]
            mine = (
                own_intacct_bill(found) == bill.record_id
                if other_side == "intacct"
                else own_qbo_bill(found) == bill.record_id
            )
            if mine:
                step.action, step.reason = "link", "found_by_reference"
                other = intacct_key(found["RECORDNO"]) if other_side == "intacct" else qbo_key(found["Id"])
                step.link_source, step.link_target = (bill.key, other) if bill.side == "qbo" else (other, bill.key)
                step.origin = bill.side
                step.state = str(found.get("STATE") or bill.state)
            else:
                step.action, step.reason = "review", "doc_number_clash"
                step.detail = (
                    f"{bill.label}: the vendor already has bill {bill.doc_number} in "
                    f"{'Intacct' if other_side == 'intacct' else 'QuickBooks'} "
                    f"({found.get('RECORDNO') or found.get('Id')}), not written by the sync; bill numbers are unique "
                    "per vendor: renumber one of them (the sync never renames a bill)"
                )
            continue
        step.action, step.origin = "create", bill.side
        if bill.side == "qbo":
            step.link_source = bill.key
            step.state = str(bill.body.get("STATE") or "")
            write(step, "intacct", "create", "APBILL", {"APBILL": bill.body}, f"bills:create:{bill.key}:{step.content}")
        else:
            step.link_target = bill.key
            write(step, "qbo", "create", "Bill", bill.body, f"bills:create:{bill.key}:{step.content}")
    return steps, intacct_writes, qbo_writes


def _legacy_date(iso: str) -> dict[str, str]:
    d = dt.date.fromisoformat(iso[:10])
    return {"year": f"{d.year:04d}", "month": f"{d.month:02d}", "day": f"{d.day:02d}"}


def _plan_linked(
    step: Step,
    bill: Bill,
    link: Any,
    partners: Mapping[str, Mapping[str, Any]],
    refused: Mapping[str, tuple[str, str, str]],
    write: Any,
) -> None:
    hashes = dict(link.target_hashes or {})
    step.link_source, step.link_target = link.source_id, link.target_id
    step.origin = hashes.get("origin") or link.origin or "qbo"
    step.entity = step.entity or hashes.get("entity") or None
    intacct_record = bill.record_id and partners.get(link.target_id) if bill.side == "qbo" else None
    step.state = (
        bill.state if bill.side == "intacct" else str((intacct_record or {}).get("STATE") or hashes.get("state", ""))
    )
    if bill.side == "intacct" and bill.state in REVERSED_STATES and hashes.get("state") not in REVERSED_STATES:
        step.action, step.reason = "review", "reversed_in_intacct"
        step.detail = (
            f"{bill.label} was reversed or deleted in Intacct (record {bill.record_id}); QuickBooks has no reversal "
            f"of a bill: void its payments and delete bill {bill.doc_number} in QuickBooks if it should go"
        )
        return
    if bill.side != step.origin:  # the other side's echo or its own edit: the origin side leads
        step.reason = "follows_origin"
        return
    if bill.hold is not None:
        step.action, step.reason, step.detail = "review", bill.hold.reason, bill.hold.detail
        return
    if bill.side == "intacct" and bill.state not in APPROVED_STATES:
        step.reason = "waiting_for_approval"
        return
    step.content = _content(bill.body)
    if hashes.get("content") == step.content:
        step.reason = "unchanged"
        return
    earlier = refused.get(bill.key)
    if earlier is not None and earlier[1] == step.content:
        step.action, step.reason, step.detail = "review", earlier[0], earlier[2]
        return
    other = partners.get(link.target_id if bill.side == "qbo" else link.source_id)
    if other is None:
        step.action, step.reason = "review", "missing_on_other_side"
        partner = link.target_id if bill.side == "qbo" else link.source_id
        step.detail = f"{bill.label} was edited, but its partner ({partner}) is not found on the other side"
        return
    if bill.side == "qbo":
        paid = money(other.get("TRX_TOTALPAID"))
        if paid != 0 or str(other.get("STATE")) in REVERSED_STATES:
            step.action, step.reason = "review", "edited_after_payment"
            step.detail = (
                f"{bill.label} was edited in QuickBooks, but its Intacct bill (record {other.get('RECORDNO')}) is "
                f"{other.get('STATE')} with {paid} {bill.currency} paid; undo the edit or adjust the bill in Intacct"
            )
            return
        step.action = "update"
        body = {k: v for k, v in bill.body.items() if k not in ("ACTION", "STATE")}
        body["RECORDNO"] = str(other.get("RECORDNO"))
        write(step, "intacct", "update", "APBILL", {"APBILL": body},
              f"bills:update:{bill.key}:{hashes.get('content')}:{step.content}")  # fmt: skip
        return
    balance, total = money(other.get("Balance")), money(other.get("TotalAmt"))
    if balance != total:
        step.action, step.reason = "review", "edited_after_payment"
        step.detail = (
            f"{bill.label} was edited in Intacct, but QuickBooks bill {other.get('Id')} has {total - balance} "
            f"{bill.currency} paid; undo the edit or adjust the bill in QuickBooks"
        )
        return
    step.action = "update"
    body = {**bill.body, "Id": str(other["Id"]), "SyncToken": str(other.get("SyncToken") or "0"), "sparse": True}
    write(step, "qbo", "update", "Bill", body, f"bills:update:{bill.key}:{hashes.get('content')}:{step.content}")


# -------------------------------------------------------------------------------- the declaration


def _one_way(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
    raise FlowMappingError("bill bodies are built by bills.map_qbo_bill / map_intacct_bill")


SPEC = FlowSpec(
    name=FLOW,
    noun="bill",
    qbo_entity=QBO_ENTITY,
    intacct_object=INTACCT_OBJECT,
    intacct_id_field="RECORDNO",
    intacct_fields=INTACCT_FIELDS,
    field_groups={"header": ["doc_number", "vendor", "date", "currency"], "amounts": ["total"], "status": ["state"]},
    key_ids=(StrongId("reference", "reference", "reference", normalize_reference),),
    data_ids=(),
    duplicate_ids=(),
    id_pattern_variable="qbo_intacct_bill_number_pattern",
    default_id_pattern="{qbo_id}",
    derive_target_id=lambda qbo_id, pattern: reference(qbo_id),
    build_context=lambda lookups, mappings: Context.build(lookups, mappings),
    qbo_row=_one_way,
    intacct_row=_one_way,
    intacct_body=_one_way,
    qbo_body=_one_way,
    source_columns=("source_id",),
    target_columns=("target_id",),
    qbo_lookups=LOOKUPS,
    money_fields=("total",),
    depends_on=(VENDORS_FLOW,),
    extra={"kind": "bills", "pending_hours_variable": PENDING_HOURS_VARIABLE},
)
