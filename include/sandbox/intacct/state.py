"""The Intacct sandbox company: records, the rules that derive their fields, and snapshots.

The XML gateway (``app.py``) and the demo-books generator (``include/sandbox/books``) both write
through this module, so an invoice seeded in-process and one created over HTTP get the same
RECORDNO allocation, MEGAENTITYID, TOTALDUE/TOTALPAID/STATE and WHENMODIFIED rules.

Python API for seeding (no HTTP)::

    from include.sandbox.intacct.state import IntacctState

    state = IntacctState.default("ACME-DEMO")            # top level + US/UK/CA, chart, terms, banks
    # or IntacctState.empty("ACME-DEMO") and build it yourself:
    state.add_entity("DE", "Germany", "EUR")              # LOCATIONENTITY + its LOCATION
    state.create("LOCATION", {"LOCATIONID": "DE-BER", "NAME": "Berlin", "PARENTID": "DE"})
    state.create("CUSTOMER", {"CUSTOMERID": "C-1", "NAME": "O'Brien", "TERMNAME": "N30"},
                 when=datetime(2024, 1, 3, 9, 0))         # naive = company local time
    inv = state.create("ARINVOICE", {
        "CUSTOMERID": "C-1", "WHENCREATED": date(2024, 1, 5), "TERMNAME": "N30",
        "RECORDID": "INV-1", "CURRENCY": "USD",
        "ARINVOICEITEMS": [{"ACCOUNTNO": "40000", "TRX_AMOUNT": Decimal("100.00"), "LOCATIONID": "US-SF"}],
    }, when=datetime(2024, 1, 5, 10, 0))
    state.create("ARPYMT", {"CUSTOMERID": "C-1", "FINANCIALENTITY": "BOA-US", "PAYMENTMETHOD": "EFT",
                            "RECEIPTDATE": date(2024, 2, 1),
                            "ARPYMTDETAILS": [{"RECORDKEY": inv["RECORDNO"], "TRX_PAYMENTAMOUNT": Decimal("40")}]})
    state.get("ARINVOICE", inv["RECORDNO"])["TOTALDUE"]   # Decimal("60.00"), STATE "Partially Paid"
    state.save(Path("books/intacct.json"))                # IntacctState.load(path) reads it back

``create``/``update``/``delete`` take ``entity_id`` (None = top level, or an entity id = acting inside
that entity, as an entity session does) and ``when`` (the audit time that becomes WHENMODIFIED and,
for lists, WHENCREATED; datetime, naive = company local). They raise :class:`IntacctBusinessError`
carrying the same ``<error>`` list the gateway returns. Field values: money as ``Decimal`` (strings
are accepted and converted), dates as ``date`` or ``MM/DD/YYYY``/ISO strings. Lines go under the
object's line key as a list (``ARINVOICEITEMS``, ``ARADJUSTMENTITEMS``, ``ARADVANCEITEMS``,
``APBILLITEMS``, ``ARPYMTDETAILS``, ``APPYMTDETAILS``, ``ENTRIES`` for GLBATCH); the API's nested
``{"APBILLITEMS": {"APBILLITEM": [...]}}`` shape is accepted too. ``with state.transaction():`` rolls
every change back if the block raises. Bulk seeding: ``state.create`` costs tens of microseconds per
record; snapshots load ~100k invoices in a few seconds because loading does not re-validate.

Snapshot format (``state.to_snapshot()`` / ``IntacctState.from_snapshot(data)``; JSON)::

    {"format": "intacct-sandbox-state", "version": 1,
     "company_id": "...", "company_name": "...", "timezone": "America/Los_Angeles",
     "books_closed_through": "2023-12-31" | null,   # GL periods closed through this date
     "ap_approval": false,                          # APBILL Submit -> "Submitted" (needs approval)
     "journals": ["GJ", "ADJ"],
     "next_recordno": {"CUSTOMER": 12, ...},        # next RECORDNO per object
     "credentials": {...},                          # optional: fixes the gateway credentials
     "records": {"CUSTOMER": [{...}, ...], "ARINVOICE": [...], ...}}

Records are the internal dicts: UPPERCASE fields as the API names them, RECORDNO an int, money as
exact decimal strings ("1234.50"), dates ISO ``YYYY-MM-DD``, datetimes ISO ``YYYY-MM-DDTHH:MM:SS``
in company local time (no offset), lines as lists of dicts, nested blocks (``DISPLAYCONTACT``) as
dicts. Keys starting with ``_`` are internal (never rendered). MEGAENTITYID is ``""`` at top level.

Choices where the real service is undocumented (see /work/shared/api-facts.md, NOT FOUND):
- Entities and visibility: a record belongs to the entity it was created in (MEGAENTITYID). An
  entity session sees its own records plus top-level (shared) list records; a top-level session
  sees only top-level records unless it asks for ``showprivate``. A transaction created at top
  level is owned by the entity of its lines' locations (all lines must be in one entity; LOCATIONID
  is required on every line at top level, as I-BILL says); inter-entity transactions are refused.
- IDs (CUSTOMERID, VENDORID, ...) are unique company-wide, across entities.
- Money: TRX_* totals are in the transaction currency, the plain totals (TOTALENTERED, TOTALPAID,
  TOTALDUE) in the entity's base currency at the document's EXCHANGE_RATE, rounded to cents. A
  fully settled document has TOTALDUE exactly 0 in both (no FX gain/loss is modelled).
- Credits: ARADJUSTMENT and APADJUSTMENT keep the sign of their lines (I-ARADJ: a negative
  amount is a credit memo, a positive one a debit memo); ARADVANCE carries a negative total. An
  ARPYMT detail pays an invoice (RECORDKEY) or a debit memo (POSADJKEY) with cash, a credit memo
  (``ADJUSTMENTKEY``+``TRX_ADJUSTMENTAMOUNT``), an advance (``ADVANCEKEY``+
  ``TRX_POSTEDADVANCEAMOUNT``), an earlier overpayment (``OVERPAYMENTKEY``+
  ``TRX_POSTEDOVERPAYMENTAMOUNT``) or a discount (``TRX_TOTALDISCOUNTTOAPPLY``); an APPYMT detail
  may apply an AP debit memo (``ADJUSTMENTKEY``). An ARPYMT ``OVERPAYMENTAMOUNT`` is kept on the
  payment as unapplied credit (TOTALDUE negative) until applied. A payment with no cash and no
  overpayment (credit-only) needs no FINANCIALENTITY nor PAYMENTMETHOD (I-APP says so for AP;
  the sandbox does the same for AR). DISCOUNTDATE, inline credits (INLINEKEY) and negative
  invoices (NEGATIVEINVOICEKEY) are refused as not modelled.
- AR payments: ``ACTION`` Draft keeps a draft that applies nothing; only drafts can be updated
  (details, when sent, replace the set; ``ACTION`` Submit posts it) or deleted (I-ARP); a
  completed payment is undone with ``reverse_arpayment`` (it stays, STATE "Reversed").
- RECORDNO: AR documents (ARINVOICE, ARADJUSTMENT, ARADVANCE, ARPYMT) share one sequence and AP
  documents (APBILL, APADJUSTMENT, APPYMT) another, as they share one table in Intacct, so a key
  such as apply_arpayment's ``arpaymentkey`` names one record whatever its type.
- Money: amounts with more than two decimals are rounded half-up to cents on input (Intacct rounds
  to two places); exchange rates keep their precision.
- Errors other than duplicates (BL34000061) use BL01001973 with the specific text in description2,
  followed by the generic "Could not create X record!" error, as the documented samples do.
- Generic fields the sandbox does not model are accepted on create/update and stored as given.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SNAPSHOT_FORMAT = "intacct-sandbox-state"
SNAPSHOT_VERSION = 1
DEFAULT_TIMEZONE = "America/Los_Angeles"
CENT = Decimal("0.01")
ZERO = Decimal("0")

Record = dict[str, Any]

#: Fields held as Decimal wherever they appear (headers and lines).
MONEY_FIELDS = frozenset(
    {
        "TOTALENTERED",
        "TOTALPAID",
        "TOTALDUE",
        "TRX_TOTALENTERED",
        "TRX_TOTALPAID",
        "TRX_TOTALDUE",
        "EXCHANGE_RATE",
        "OVERPAYMENTAMOUNT",
        "CREDITLIMIT",
        "RATE",
        "TRX_AMOUNT",
        "AMOUNT",
        "TRX_PAYMENTAMOUNT",
        "PAYMENTAMOUNT",
        "TRX_ADJUSTMENTAMOUNT",
        "TRX_POSTEDADVANCEAMOUNT",
        "TRX_POSTEDOVERPAYMENTAMOUNT",
        "TRX_TOTALDISCOUNTTOAPPLY",
        "_OVERPAYMENT_APPLIED",
    }
)
#: Money fields that are rates, not amounts: kept at the precision sent (EXCHANGE_RATE has four
#: decimals); every other money field is rounded half-up to cents on input, as Intacct does
#: ("amounts are rounded to two decimal places"), so 10.005 is stored and posted as 10.01.
RATE_FIELDS = frozenset({"EXCHANGE_RATE", "RATE"})
#: Audit timestamps; plus WHENCREATED on list objects (on transactions it is the document date).
DATETIME_FIELDS = frozenset({"WHENMODIFIED", "AUWHENCREATED"})


@dataclass(frozen=True)
class ObjectSpec:
    """What the sandbox knows about one Intacct object type."""

    name: str
    label: str  # as the real error texts name it ("Customer", "Class")
    id_field: str | None  # the unique, user-given key; None when only RECORDNO identifies
    transaction: bool = False
    required: tuple[str, ...] = ()
    line_key: str | None = None
    line_tag: str | None = None
    date_fields: frozenset[str] = frozenset()
    line_date_fields: frozenset[str] = frozenset()

    def is_datetime(self, field_name: str) -> bool:
        return field_name in DATETIME_FIELDS or (field_name == "WHENCREATED" and not self.transaction)

    def is_date(self, field_name: str) -> bool:
        return field_name in self.date_fields


_AR_DOC_DATES = frozenset({"WHENCREATED", "WHENPOSTED", "WHENDUE", "WHENPAID", "EXCH_RATE_DATE"})
SPECS: dict[str, ObjectSpec] = {
    s.name: s
    for s in (
        ObjectSpec("LOCATIONENTITY", "Entity", "LOCATIONID", required=("LOCATIONID", "NAME", "CURRENCY")),
        ObjectSpec("LOCATION", "Location", "LOCATIONID", required=("LOCATIONID", "NAME")),
        ObjectSpec("DEPARTMENT", "Department", "DEPARTMENTID", required=("DEPARTMENTID", "TITLE")),
        ObjectSpec("CLASS", "Class", "CLASSID", required=("CLASSID", "NAME")),
        ObjectSpec("GLACCOUNT", "GL Account", "ACCOUNTNO", required=("ACCOUNTNO", "TITLE")),
        ObjectSpec("ARTERM", "AR Term", "NAME", required=("NAME",)),
        ObjectSpec("APTERM", "AP Term", "NAME", required=("NAME",)),
        ObjectSpec("CUSTOMER", "Customer", "CUSTOMERID", required=("CUSTOMERID", "NAME")),
        ObjectSpec("VENDOR", "Vendor", "VENDORID", required=("VENDORID", "NAME")),
        ObjectSpec("CHECKINGACCOUNT", "Checking Account", "BANKACCOUNTID", required=("BANKACCOUNTID", "GLACCOUNTNO")),
        ObjectSpec(
            "EXCHANGERATE",
            "Exchange Rate",
            None,
            required=("FROM_CURRENCY", "TO_CURRENCY", "EFFECTIVE_START_DATE", "RATE"),
            date_fields=frozenset({"EFFECTIVE_START_DATE"}),
        ),
        ObjectSpec(
            "ARINVOICE",
            "Invoice",
            None,
            transaction=True,
            required=("CUSTOMERID", "WHENCREATED"),
            line_key="ARINVOICEITEMS",
            line_tag="ARINVOICEITEM",
            date_fields=_AR_DOC_DATES,
        ),
        ObjectSpec(
            "ARADJUSTMENT",
            "AR Adjustment",
            None,
            transaction=True,
            required=("CUSTOMERID", "WHENCREATED"),
            line_key="ARADJUSTMENTITEMS",
            line_tag="ARADJUSTMENTITEM",
            date_fields=frozenset({"WHENCREATED", "WHENPOSTED", "WHENPAID", "EXCH_RATE_DATE"}),
        ),
        ObjectSpec(
            "ARADVANCE",
            "AR Advance",
            None,
            transaction=True,
            required=("CUSTOMERID", "RECEIPTDATE", "PAYMENTMETHOD"),
            line_key="ARADVANCEITEMS",
            line_tag="ARADVANCEITEM",
            date_fields=frozenset({"RECEIPTDATE", "PAYMENTDATE", "WHENPAID"}),
        ),
        ObjectSpec(
            "ARPYMT",
            "AR Payment",
            None,
            transaction=True,
            required=("RECEIPTDATE",),  # CUSTOMERID or PAYERNAME, and PAYMENTMETHOD unless credit-only
            line_key="ARPYMTDETAILS",
            line_tag="ARPYMTDETAIL",
            date_fields=frozenset({"RECEIPTDATE", "PAYMENTDATE", "WHENPAID", "EXCH_RATE_DATE"}),
        ),
        ObjectSpec(
            "APBILL",
            "Bill",
            None,
            transaction=True,
            required=("VENDORID", "WHENCREATED"),
            line_key="APBILLITEMS",
            line_tag="APBILLITEM",
            date_fields=_AR_DOC_DATES,
        ),
        ObjectSpec(
            "APADJUSTMENT",
            "AP Adjustment",
            None,
            transaction=True,
            required=("VENDORID", "WHENCREATED"),
            line_key="APADJUSTMENTITEMS",
            line_tag="APADJUSTMENTITEM",
            date_fields=frozenset({"WHENCREATED", "WHENPOSTED", "WHENPAID", "EXCH_RATE_DATE"}),
        ),
        ObjectSpec(
            "APPYMT",
            "AP Payment",
            None,
            transaction=True,
            required=("VENDORID", "PAYMENTDATE"),  # FINANCIALENTITY/PAYMENTMETHOD unless credit-only (I-APP)
            line_key="APPYMTDETAILS",
            line_tag="APPYMTDETAIL",
            date_fields=frozenset({"PAYMENTDATE", "WHENPAID"}),
        ),
        ObjectSpec(
            "GLBATCH",
            "Journal Entry",
            None,
            transaction=True,
            required=("JOURNAL", "BATCH_DATE", "BATCH_TITLE"),
            line_key="ENTRIES",
            line_tag="GLENTRY",
            date_fields=frozenset({"BATCH_DATE", "REVERSEDATE"}),
        ),
    )
}
#: Objects whose RECORDNOs come from one shared sequence (see IntacctState._allocate).
RECORDNO_SEQUENCE = {
    **dict.fromkeys(("ARINVOICE", "ARADJUSTMENT", "ARADVANCE", "ARPYMT"), "PRRECORD:AR"),
    **dict.fromkeys(("APBILL", "APADJUSTMENT", "APPYMT"), "PRRECORD:AP"),
}
#: Objects a client may write through generic create/update/delete.
WRITABLE_OBJECTS = frozenset(SPECS)
AR_PAYMENT_METHODS = frozenset(
    {"Printed Check", "Cash", "EFT", "Credit Card", "Online", "Online Charge Card", "Online ACH Debit", "ACH"}
)
AP_PAYMENT_METHODS = frozenset({"Printed Check", "Cash", "EFT", "Charge Card", "ACH"})
ACH_ACCOUNT_TYPES = frozenset({"Checking Account", "Savings Account"})
ACH_REMITTANCE_TYPES = frozenset({"CTX", "PPD", "CCD"})
#: VENDOR FORM1099TYPE: the API docs list the field, not its values; the sandbox takes the IRS forms a
#: vendor record can carry (a blank clears it) and then needs a FORM1099BOX.
FORM_1099_TYPES = ("DIV", "INT", "MISC", "NEC")
# Credit applications an ARPYMT detail may carry: key field -> (credit object, amount field).
#: Credits an APPYMT detail may carry (I-APP): AP debit memos (vendor credits).
AP_CREDIT_APPLICATIONS = {"ADJUSTMENTKEY": ("APADJUSTMENT", "TRX_ADJUSTMENTAMOUNT")}
CREDIT_APPLICATIONS = {
    "ADJUSTMENTKEY": ("ARADJUSTMENT", "TRX_ADJUSTMENTAMOUNT"),
    "ADVANCEKEY": ("ARADVANCE", "TRX_POSTEDADVANCEAMOUNT"),
    "OVERPAYMENTKEY": ("ARPYMT", "TRX_POSTEDOVERPAYMENTAMOUNT"),
}
# Where each transaction's lines name their location (GLENTRY says LOCATION, the rest LOCATIONID).
LINE_LOCATION_FIELD = {"GLBATCH": "LOCATION"}
LINE_DEPARTMENT_FIELD = {"GLBATCH": "DEPARTMENT"}
UNSETTLED_STATES = frozenset({"Draft", "Submitted", "Reversed", "Reversal"})


@dataclass
class IntacctErrorDetail:
    """One ``<error>`` of an Intacct ``<errormessage>``."""

    errorno: str
    description: str = ""
    description2: str = ""
    correction: str = ""


class IntacctBusinessError(Exception):
    """A write the real gateway would refuse; ``errors`` is the ``<errormessage>`` content, in order."""

    def __init__(self, errors: list[IntacctErrorDetail]) -> None:
        super().__init__("; ".join(e.description2 or e.description or e.errorno for e in errors))
        self.errors = errors


def generic_error(text: str, correction: str = "") -> IntacctErrorDetail:
    return IntacctErrorDetail("BL01001973", "", text, correction)


def money(value: Any) -> Decimal:
    """Exact Decimal from a Decimal, int or string; floats are refused (they are not exact)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (bool, float)):
        raise ValueError(f"money must be Decimal, int or string, not {type(value).__name__}")
    if isinstance(value, int):
        return Decimal(value)
    text = str(value).strip()
    if not re.fullmatch(r"-?\d+(\.\d+)?", text):
        raise ValueError(text)
    return Decimal(text)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _amount(field_name: str, value: Any) -> Decimal:
    """Money input: exact, then rounded to cents unless the field is a rate (see RATE_FIELDS)."""
    exact = money(value)
    return exact if field_name in RATE_FIELDS else cents(exact)


def parse_date(value: Any) -> str:
    """ISO date from a date, ``MM/DD/YYYY`` or ``YYYY-MM-DD``; ValueError when it is no real date."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if m:
        return date(int(m.group(3)), int(m.group(1)), int(m.group(2))).isoformat()
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    if m:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    raise ValueError(text)


def format_date(iso: str) -> str:
    """``YYYY-MM-DD`` -> ``MM/DD/YYYY`` (the gateway's date rendering)."""
    return f"{iso[5:7]}/{iso[8:10]}/{iso[0:4]}" if len(iso) >= 10 and iso[4] == "-" else iso


def format_datetime(iso: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` -> ``MM/DD/YYYY HH:MM:SS`` (company local time, no offset)."""
    if len(iso) >= 19 and iso[4] == "-":
        return f"{iso[5:7]}/{iso[8:10]}/{iso[0:4]} {iso[11:19]}"
    return format_date(iso)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


@dataclass
class _WriteContext:
    entity: str  # "" = top level
    when: str  # ISO local datetime of the write


@dataclass
class IntacctState:
    """One multi-entity company. Records live in ``records[OBJECT][RECORDNO]`` as plain dicts."""

    company_id: str
    company_name: str = "Sandbox Company"
    timezone: str = DEFAULT_TIMEZONE
    books_closed_through: str | None = None
    ap_approval: bool = False
    journals: list[str] = field(default_factory=lambda: ["GJ", "ADJ"])
    credentials: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict[int, Record]] = field(default_factory=dict)
    next_recordno: dict[str, int] = field(default_factory=dict)
    now_fn: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)
    # id value -> RECORDNO, per object with an id field
    _ids: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    _undo: list[tuple[str, int, Record | None]] | None = field(default=None, repr=False)
    #: bumped on every change, so readers (the gateway's query cache) know when results went stale
    version: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self._tz = ZoneInfo(self.timezone)
        for name in SPECS:
            self.records.setdefault(name, {})
            self.next_recordno.setdefault(name, 1)
        self._reindex()

    # ---------------------------------------------------------------- construction
    @classmethod
    def empty(cls, company_id: str, *, timezone: str = DEFAULT_TIMEZONE, company_name: str = "") -> IntacctState:
        """A company with no entities and no records (the caller builds it)."""
        return cls(company_id=company_id, timezone=timezone, company_name=company_name or company_id)

    @classmethod
    def default(cls, company_id: str, *, timezone: str = DEFAULT_TIMEZONE) -> IntacctState:
        """The company every sandbox starts with when no books are loaded: enough to post documents."""
        state = cls.empty(company_id, timezone=timezone, company_name="Sandbox Demo Company")
        _seed_default(state)
        return state

    def _reindex(self) -> None:
        self._ids = {}
        for name, spec in SPECS.items():
            if spec.id_field:
                idx = self._ids.setdefault(name, {})
                for recno, rec in self.records[name].items():
                    idx[str(rec.get(spec.id_field, ""))] = recno

    # ---------------------------------------------------------------- clock and time
    def local_now(self, when: datetime | str | None = None) -> str:
        """ISO local (company timezone) datetime for an audit stamp; ``when`` naive = already local."""
        if when is None:
            when = self.now_fn()
        if isinstance(when, str):
            text = when.strip()
            m = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})", text)
            if m:
                mo, d, y, hh, mm, ss = m.groups()
                return f"{y}-{mo}-{d}T{hh}:{mm}:{ss}"
            when = datetime.fromisoformat(text)
        if when.tzinfo is not None:
            when = when.astimezone(self._tz).replace(tzinfo=None)
        return when.replace(microsecond=0).isoformat()

    def local_datetime(self, when: datetime) -> datetime:
        """An aware datetime in the company timezone (for session stamps)."""
        return when.astimezone(self._tz)

    # ---------------------------------------------------------------- reading
    def spec(self, object_name: str) -> ObjectSpec:
        spec = SPECS.get(object_name.upper())
        if spec is None:
            raise IntacctBusinessError(
                [IntacctErrorDetail("BL01001973", "", f"Object definition {object_name} not found", "")]
            )
        return spec

    def get(self, object_name: str, recordno: int) -> Record | None:
        return self.records[object_name].get(int(recordno))

    def find(self, object_name: str, id_value: str) -> Record | None:
        recno = self._ids.get(object_name, {}).get(str(id_value))
        return None if recno is None else self.records[object_name][recno]

    def all(self, object_name: str) -> Iterable[Record]:
        return self.records[object_name].values()

    def entities(self) -> list[Record]:
        return sorted(self.records["LOCATIONENTITY"].values(), key=lambda r: r["RECORDNO"])

    @property
    def is_multi_entity(self) -> bool:
        return bool(self.records["LOCATIONENTITY"])

    def entity(self, entity_id: str) -> Record | None:
        return self.find("LOCATIONENTITY", entity_id)

    def visible(self, object_name: str, entity_id: str | None, *, show_private: bool = False) -> Iterator[Record]:
        """Records a session at ``entity_id`` (None/"" = top level) may read, in RECORDNO order."""
        ent = entity_id or ""
        records = self.records[object_name].values()
        if not ent:
            if show_private:
                yield from records
            else:
                yield from (r for r in records if not r.get("MEGAENTITYID"))
            return
        yield from (r for r in records if r.get("MEGAENTITYID", "") in ("", ent))

    def is_visible(self, rec: Record, entity_id: str | None, *, show_private: bool = False) -> bool:
        owner = rec.get("MEGAENTITYID", "")
        ent = entity_id or ""
        if not ent:
            return show_private or not owner
        return owner in ("", ent)

    # ---------------------------------------------------------------- transactions (undo log)
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes in the block commit together or not at all (nested blocks join the outer one)."""
        if self._undo is not None:
            yield
            return
        self._undo = []
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        finally:
            self._undo = None

    def _rollback(self) -> None:
        assert self._undo is not None
        self.version += 1
        for object_name, recno, old in reversed(self._undo):
            spec = SPECS[object_name]
            current = self.records[object_name].get(recno)
            if spec.id_field and current is not None:
                self._ids[object_name].pop(str(current.get(spec.id_field, "")), None)
            if old is None:
                self.records[object_name].pop(recno, None)
            else:
                self.records[object_name][recno] = old
                if spec.id_field:
                    self._ids[object_name][str(old.get(spec.id_field, ""))] = recno
        self._undo = []

    def _touch(self, object_name: str, rec: Record) -> None:
        """Journal a record before it is changed in place, so a rollback can restore it."""
        self.version += 1
        if self._undo is not None:
            self._undo.append((object_name, rec["RECORDNO"], copy.deepcopy(rec)))

    def _put_new(self, spec: ObjectSpec, rec: Record) -> None:
        recno = rec["RECORDNO"]
        self.version += 1
        self.records[spec.name][recno] = rec
        if spec.id_field:
            self._ids[spec.name][str(rec[spec.id_field])] = recno
        if self._undo is not None:
            self._undo.append((spec.name, recno, None))

    def _remove(self, spec: ObjectSpec, rec: Record) -> None:
        self._touch(spec.name, rec)
        self.records[spec.name].pop(rec["RECORDNO"], None)
        if spec.id_field:
            self._ids[spec.name].pop(str(rec.get(spec.id_field, "")), None)

    def _allocate(self, object_name: str) -> int:
        """The next RECORDNO. AR documents (invoices, adjustments, advances, payments) share one
        sequence, as they share one table in Intacct (PRRECORD): a key such as apply_arpayment's
        ``arpaymentkey`` then names one record whatever its type. AP documents share another."""
        counter = RECORDNO_SEQUENCE.get(object_name, object_name)
        recno = self.next_recordno.get(counter, 1)
        self.next_recordno[counter] = recno + 1
        return recno

    # ---------------------------------------------------------------- writes
    def add_entity(self, entity_id: str, name: str, currency: str, *, when: datetime | str | None = None) -> Record:
        """An entity (LOCATIONENTITY) with its own base currency, plus the LOCATION of the same id."""
        return self.create("LOCATIONENTITY", {"LOCATIONID": entity_id, "NAME": name, "CURRENCY": currency}, when=when)

    def create(
        self,
        object_name: str,
        fields: dict[str, Any],
        *,
        entity_id: str | None = None,
        when: datetime | str | None = None,
    ) -> Record:
        """Validate, derive and store one record; returns the stored dict (do not mutate it)."""
        spec = self.spec(object_name)
        ctx = self._context(entity_id, when)
        errors: list[IntacctErrorDetail] = []
        rec = self._normalize(spec, fields, errors)
        for name in spec.required:
            if _blank(rec.get(name)):
                errors.append(generic_error(f"Required field {name} is missing.", f"Provide a value for {name}."))
        if spec.id_field and not _blank(rec.get(spec.id_field)) and self.find(spec.name, rec[spec.id_field]):
            errors.append(
                IntacctErrorDetail(
                    "BL34000061",
                    "",
                    f"Another {spec.label} with the given value(s) {rec[spec.id_field]}  already exists",
                    "Use a unique value instead.",
                )
            )
        if not errors:
            self._validate_and_derive(spec, rec, ctx, errors, existing=None)
        if errors:
            errors.append(generic_error(f"Could not create {spec.label} record!"))
            raise IntacctBusinessError(errors)
        rec["RECORDNO"] = self._allocate(spec.name)
        rec["WHENMODIFIED"] = ctx.when
        if spec.transaction:
            rec["AUWHENCREATED"] = ctx.when
        else:
            rec["WHENCREATED"] = ctx.when
            rec.setdefault("STATUS", "active")
        if spec.line_key:
            line_object = spec.line_tag or spec.line_key
            for line_no, line in enumerate(rec.get(spec.line_key, []), start=1):
                line["RECORDNO"] = self._allocate_line(line_object)
                line["LINE_NO"] = line_no
        with self.transaction():
            self._put_new(spec, rec)
            self._after_create(spec, rec, ctx)
        return rec

    def _allocate_line(self, line_object: str) -> int:
        recno = self.next_recordno.get(line_object, 1)
        self.next_recordno[line_object] = recno + 1
        return recno

    def update(
        self,
        object_name: str,
        fields: dict[str, Any],
        *,
        entity_id: str | None = None,
        when: datetime | str | None = None,
    ) -> Record:
        """Partial update by RECORDNO or the object's ID field; lines, when given, replace all lines."""
        spec = self.spec(object_name)
        ctx = self._context(entity_id, when)
        current = self._locate(spec, fields, ctx)
        errors: list[IntacctErrorDetail] = []
        changes = self._normalize(spec, {k: v for k, v in fields.items() if k != "RECORDNO"}, errors)
        if spec.id_field and spec.id_field in changes and str(changes[spec.id_field]) != str(current[spec.id_field]):
            if "RECORDNO" not in fields:
                pass  # located by the ID itself; cannot differ
            else:
                errors.append(generic_error(f"{spec.id_field} cannot be changed once the record is created."))
        if spec.name == "ARPYMT" and current.get("STATE") != "Draft":
            errors.append(generic_error(f"Only a draft {spec.label} can be updated; reverse it instead."))
        elif spec.name in ("APPYMT", "ARADVANCE"):
            errors.append(generic_error(f"A posted {spec.label} cannot be updated; delete and create it again."))
        merged = _deep_merge(current, changes)
        if not errors:
            for name in spec.required:
                if _blank(merged.get(name)):
                    errors.append(generic_error(f"Required field {name} is missing.", f"Provide a value for {name}."))
        if not errors:
            self._validate_and_derive(spec, merged, ctx, errors, existing=current)
        if errors:
            errors.append(generic_error(f"Could not update {spec.label} record!"))
            raise IntacctBusinessError(errors)
        merged["WHENMODIFIED"] = ctx.when
        if spec.line_key and spec.line_key in changes:
            line_object = spec.line_tag or spec.line_key
            for line_no, line in enumerate(merged.get(spec.line_key, []), start=1):
                line["RECORDNO"] = self._allocate_line(line_object)
                line["LINE_NO"] = line_no
        with self.transaction():
            self._touch(spec.name, current)
            current.clear()
            current.update(merged)
            if spec.name == "ARPYMT" and current["STATE"] != "Draft":  # a draft posted by ACTION Submit
                self._apply_payment(spec, current, ctx, sign=1)
        return current

    def delete(
        self, object_name: str, recordno: int | str, *, entity_id: str | None = None, when: datetime | str | None = None
    ) -> None:
        """Delete by RECORDNO; deleting a payment gives its amounts back to the documents it paid."""
        spec = self.spec(object_name)
        ctx = self._context(entity_id, when)
        try:
            rec = self.get(spec.name, int(recordno))
        except ValueError:
            rec = None
        if rec is None or not self.is_visible(rec, ctx.entity, show_private=True):
            raise IntacctBusinessError(
                [generic_error(f"Cannot delete {spec.label} with RECORDNO {recordno}: no such record.")]
            )
        errors: list[IntacctErrorDetail] = []
        paid_docs = ("ARINVOICE", "APBILL", "ARADJUSTMENT", "APADJUSTMENT", "ARADVANCE")
        if spec.name in paid_docs and rec.get("TRX_TOTALPAID", ZERO) != 0:
            errors.append(
                generic_error(
                    f"{spec.label} {recordno} has payments or credits applied.",
                    "Delete the payments applied to it first.",
                )
            )
        if spec.name == "ARPYMT" and rec.get("STATE") != "Draft":
            errors.append(
                generic_error(
                    f"AR payment {recordno} is not a draft; only drafts can be deleted.", "Use reverse_arpayment."
                )
            )
        self._check_period(spec, rec, errors)
        if errors:
            errors.append(generic_error(f"Could not delete {spec.label} record!"))
            raise IntacctBusinessError(errors)
        with self.transaction():
            if spec.name == "APPYMT" and rec.get("STATE") != "Draft":
                self._apply_payment(spec, rec, ctx, sign=-1)
            self._remove(spec, rec)

    def reverse_invoice(
        self, recordno: int, reverse_date: Any, *, entity_id: str | None = None, when: Any = None
    ) -> Record:
        """Legacy reverse_invoice: the original becomes "Reversed", a negative "Reversal" is added."""
        return self._reverse_document("ARINVOICE", recordno, reverse_date, entity_id=entity_id, when=when)

    def reverse_bill(
        self, recordno: int, reverse_date: Any, *, entity_id: str | None = None, when: Any = None
    ) -> Record:
        """Legacy reverse_bill (I-BILL; IPHP ``BillReverse``), the same shape as reverse_invoice. Sandbox
        choice (effects undocumented): as for invoices, a bill with payments applied, or still in Draft
        or Submitted, is refused; the original becomes "Reversed" and a negative "Reversal" is added."""
        return self._reverse_document("APBILL", recordno, reverse_date, entity_id=entity_id, when=when)

    def _reverse_document(
        self, object_name: str, recordno: int, reverse_date: Any, *, entity_id: str | None, when: Any
    ) -> Record:
        ctx = self._context(entity_id, when)
        spec = SPECS[object_name]
        noun = "Invoice" if object_name == "ARINVOICE" else "Bill"
        line_key, line_object = (
            ("ARINVOICEITEMS", "ARINVOICEITEM") if object_name == "ARINVOICE" else ("APBILLITEMS", "APBILLITEM")
        )
        inv = self.get(object_name, recordno)
        errors: list[IntacctErrorDetail] = []
        if inv is None or not self.is_visible(inv, ctx.entity, show_private=True):
            raise IntacctBusinessError(
                [generic_error(f"{noun} {recordno} does not exist."), _could_not("reverse", spec)]
            )
        try:
            rev_date = parse_date(reverse_date)
        except ValueError:
            raise IntacctBusinessError(
                [generic_error(f"Invalid date {reverse_date} for datereversed."), _could_not("reverse", spec)]
            ) from None
        if inv["STATE"] in UNSETTLED_STATES:
            errors.append(generic_error(f"{noun} {recordno} in state {inv['STATE']} cannot be reversed."))
        if inv.get("TRX_TOTALPAID", ZERO) != 0:
            errors.append(generic_error(f"{noun} {recordno} has payments applied.", "Reverse the payments first."))
        if self.books_closed_through and rev_date <= self.books_closed_through:
            errors.append(_closed_error(rev_date))
        if errors:
            errors.append(_could_not("reverse", spec))
            raise IntacctBusinessError(errors)
        with self.transaction():
            self._touch(object_name, inv)
            reversal = copy.deepcopy(inv)
            for key in ("TOTALENTERED", "TOTALDUE", "TRX_TOTALENTERED", "TRX_TOTALDUE"):
                reversal[key] = -inv[key]
            for line in reversal.get(line_key, []):
                line["TRX_AMOUNT"] = -line["TRX_AMOUNT"]
                line["AMOUNT"] = -line["AMOUNT"]
                line["RECORDNO"] = self._allocate_line(line_object)
            reversal.update(
                {
                    "RECORDNO": self._allocate(object_name),
                    "STATE": "Reversal",
                    "_BASESTATE": "Reversal",
                    "WHENCREATED": rev_date,
                    "WHENPOSTED": rev_date,
                    "TOTALDUE": ZERO,
                    "TRX_TOTALDUE": ZERO,
                    "REVERSEDKEY": inv["RECORDNO"],
                    "AUWHENCREATED": ctx.when,
                    "WHENMODIFIED": ctx.when,
                }
            )
            inv.update({"STATE": "Reversed", "_BASESTATE": "Reversed", "TOTALDUE": ZERO, "TRX_TOTALDUE": ZERO})
            inv["WHENMODIFIED"] = ctx.when
            self._put_new(spec, reversal)
        return reversal

    def reverse_arpayment(
        self, recordno: int, reverse_date: Any, *, entity_id: str | None = None, when: Any = None
    ) -> Record:
        """Legacy reverse_arpayment: a completed payment gives its applications back and is "Reversed".

        The reversal date must be in an open period. A payment whose overpayment was already
        applied elsewhere must have that application reversed first. (Sandbox choice: Intacct
        documents the call, not its effects; the payment stays, with REVERSEDDATE set.)
        """
        ctx = self._context(entity_id, when)
        spec = SPECS["ARPYMT"]
        pay = self.get("ARPYMT", recordno)
        if pay is None or not self.is_visible(pay, ctx.entity, show_private=True):
            raise IntacctBusinessError(
                [generic_error(f"AR payment {recordno} does not exist."), _could_not("reverse", spec)]
            )
        errors: list[IntacctErrorDetail] = []
        try:
            rev_date = parse_date(reverse_date)
        except ValueError:
            raise IntacctBusinessError(
                [generic_error(f"Invalid date {reverse_date} for datereversed."), _could_not("reverse", spec)]
            ) from None
        if pay.get("STATE") != "Complete":
            errors.append(generic_error(f"AR payment {recordno} in state {pay.get('STATE')} cannot be reversed."))
        if pay.get("_OVERPAYMENT_APPLIED", ZERO):
            errors.append(
                generic_error(
                    f"The overpayment of AR payment {recordno} is applied to other documents.",
                    "Reverse those applications first.",
                )
            )
        if self.books_closed_through and rev_date <= self.books_closed_through:
            errors.append(_closed_error(rev_date))
        if errors:
            errors.append(_could_not("reverse", spec))
            raise IntacctBusinessError(errors)
        with self.transaction():
            self._apply_payment(spec, pay, ctx, sign=-1)
            self._touch("ARPYMT", pay)
            pay.update({"STATE": "Reversed", "REVERSEDDATE": rev_date, "WHENMODIFIED": ctx.when})
            pay["TRX_TOTALDUE"] = pay["TOTALDUE"] = ZERO
        return pay

    def apply_arpayment(
        self,
        credit_key: int,
        payment_date: Any,
        items: list[tuple[int, Decimal]],
        *,
        memo: str = "",
        entity_id: str | None = None,
        when: Any = None,
    ) -> Record:
        """Legacy apply_arpayment: use an open credit on invoices without new cash.

        ``credit_key`` is, as I-ARP says, the RECORDNO of the overpayment (ARPYMT), the advance
        (ARADVANCE) or the credit memo (ARADJUSTMENT); AR documents share one RECORDNO sequence, so
        the key names one record. The application is recorded as a credit-only ARPYMT (RECORDTYPE "ro",
        no cash, no bank) whose RECORDNO is returned, so it can be read and reversed.
        """
        candidates = []
        for object_name, key_field, amount_field in (
            ("ARPYMT", "OVERPAYMENTKEY", "TRX_POSTEDOVERPAYMENTAMOUNT"),
            ("ARADVANCE", "ADVANCEKEY", "TRX_POSTEDADVANCEAMOUNT"),
            ("ARADJUSTMENT", "ADJUSTMENTKEY", "TRX_ADJUSTMENTAMOUNT"),
        ):
            credit = self.get(object_name, credit_key)
            if credit is not None and credit.get("TRX_TOTALDUE", ZERO) < 0:
                candidates.append((credit, key_field, amount_field))
        if len(candidates) != 1:
            text = (
                f"No open credit (overpayment, advance or credit memo) has key {credit_key}."
                if not candidates
                else f"Key {credit_key} names more than one open credit."
            )
            raise IntacctBusinessError([generic_error(text), generic_error("Could not apply AR Payment record!")])
        credit, key_field, amount_field = candidates[0]
        details = [{"RECORDKEY": str(key), key_field: str(credit_key), amount_field: amount} for key, amount in items]
        fields = {
            "CUSTOMERID": credit.get("CUSTOMERID"),
            "RECEIPTDATE": payment_date,
            "CURRENCY": credit.get("CURRENCY"),
            "RECORDTYPE": "ro",
            "DESCRIPTION": memo,
            "ARPYMTDETAILS": details,
        }
        return self.create("ARPYMT", fields, entity_id=entity_id, when=when)

    # ---------------------------------------------------------------- internals: input
    def _context(self, entity_id: str | None, when: datetime | str | None) -> _WriteContext:
        ent = entity_id or ""
        if ent and self.entity(ent) is None:
            raise IntacctBusinessError([generic_error(f"Entity {ent} does not exist.")])
        return _WriteContext(entity=ent, when=self.local_now(when))

    def _locate(self, spec: ObjectSpec, fields: dict[str, Any], ctx: _WriteContext) -> Record:
        rec: Record | None = None
        key_desc = ""
        if not _blank(fields.get("RECORDNO")):
            key_desc = f"RECORDNO={fields['RECORDNO']}"
            try:
                rec = self.get(spec.name, int(str(fields["RECORDNO"]).strip()))
            except ValueError:
                rec = None
        elif spec.id_field and not _blank(fields.get(spec.id_field)):
            key_desc = f"{spec.id_field}={fields[spec.id_field]}"
            rec = self.find(spec.name, str(fields[spec.id_field]))
        else:
            raise IntacctBusinessError(
                [
                    generic_error(
                        f"Provide RECORDNO{' or ' + spec.id_field if spec.id_field else ''} to update {spec.label}."
                    ),
                    _could_not("update", spec),
                ]
            )
        if rec is None or not self.is_visible(rec, ctx.entity, show_private=True):
            raise IntacctBusinessError(
                [
                    generic_error(f"Cannot update non-existing {spec.name} with {key_desc}."),
                    _could_not("update", spec),
                ]
            )
        return rec

    def _normalize(self, spec: ObjectSpec, fields: dict[str, Any], errors: list[IntacctErrorDetail]) -> Record:
        """Copy the input into the internal representation; bad money or dates become errors."""
        rec: Record = {}
        for key, value in fields.items():
            if key.startswith(("@", "#")) or value is None:
                continue
            key = key.upper()
            if spec.line_key and key == spec.line_key:
                rec[key] = [
                    self._normalize_line(spec, line, i, errors) for i, line in enumerate(_lines(spec, value), 1)
                ]
            elif key in MONEY_FIELDS:
                try:
                    rec[key] = _amount(key, value)
                except ValueError:
                    errors.append(generic_error(f"Invalid amount {value!s} for field {key}.", "Use a decimal number."))
            elif spec.is_date(key):
                if _blank(value):
                    rec[key] = ""
                    continue
                try:
                    rec[key] = parse_date(value)
                except ValueError:
                    errors.append(generic_error(f"Invalid date {value!s} for field {key}.", "Use MM/DD/YYYY."))
            elif isinstance(value, dict | list):
                rec[key] = copy.deepcopy(value)
            elif isinstance(value, bool):
                rec[key] = "true" if value else "false"
            else:
                rec[key] = value if isinstance(value, str) else str(value)
        return rec

    def _normalize_line(self, spec: ObjectSpec, line: Any, line_no: int, errors: list[IntacctErrorDetail]) -> Record:
        if not isinstance(line, dict):
            errors.append(generic_error(f"Line {line_no} of {spec.label} is not a record."))
            return {}
        out: Record = {}
        for key, value in line.items():
            if key.startswith(("@", "#")) or value is None:
                continue
            key = key.upper()
            if key in MONEY_FIELDS:
                try:
                    out[key] = _amount(key, value)
                except ValueError:
                    errors.append(
                        generic_error(f"Invalid amount {value!s} for field {key} on line {line_no}.", "Use a decimal.")
                    )
            elif key in ("RECORDKEY", "ENTRYKEY", "POSADJKEY", "POSADJENTRYKEY", *CREDIT_APPLICATIONS):
                out[key] = str(value).strip()
            else:
                out[key] = copy.deepcopy(value) if isinstance(value, dict | list) else str(value)
        return out

    # ---------------------------------------------------------------- internals: rules per object
    def _validate_and_derive(
        self,
        spec: ObjectSpec,
        rec: Record,
        ctx: _WriteContext,
        errors: list[IntacctErrorDetail],
        existing: Record | None,
    ) -> None:
        handler = getattr(self, f"_derive_{spec.name.lower()}", None)
        if spec.transaction:
            self._check_period(spec, rec, errors)
        elif existing is None:
            rec["MEGAENTITYID"] = ctx.entity
            rec["MEGAENTITYNAME"] = self._entity_name(ctx.entity)
        if handler is not None:
            handler(rec, ctx, errors, existing)
        if "STATUS" in rec and rec["STATUS"] not in ("active", "inactive"):
            errors.append(generic_error(f"Invalid STATUS {rec['STATUS']}.", "Use active or inactive."))

    def _entity_name(self, entity_id: str) -> str:
        ent = self.entity(entity_id) if entity_id else None
        return ent["NAME"] if ent else ""

    def _ref(
        self,
        object_name: str,
        value: Any,
        ctx_entity: str,
        errors: list[IntacctErrorDetail],
        what: str,
        *,
        where: str = "",
    ) -> Record | None:
        """Resolve a reference by ID; unknown or invisible (other entity's private) ones are errors."""
        if _blank(value):
            return None
        target = self.find(object_name, str(value))
        if target is None or (target.get("MEGAENTITYID", "") not in ("", ctx_entity) and ctx_entity):
            errors.append(generic_error(f"Invalid {what} '{value}' specified{where}.", f"Use an existing {what}."))
            return None
        if target.get("STATUS", "active") == "inactive":
            errors.append(
                generic_error(f"{what} '{value}' is inactive{where}.", f"Activate the {what} or use another.")
            )
            return None
        return target

    def _check_period(self, spec: ObjectSpec, rec: Record, errors: list[IntacctErrorDetail]) -> None:
        if not self.books_closed_through or not spec.transaction:
            return
        posting = _posting_date(spec, rec)
        if posting and posting <= self.books_closed_through:
            errors.append(_closed_error(posting))

    def _derive_locationentity(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        if ctx.entity:
            errors.append(generic_error("Entities can only be created at the top level."))
        rec["MEGAENTITYID"] = ""
        rec["MEGAENTITYNAME"] = ""

    def _derive_location(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        loc_id = str(rec.get("LOCATIONID", ""))
        if self.entity(loc_id) is not None:
            owner = loc_id
            rec.setdefault("CURRENCY", self.entity(loc_id)["CURRENCY"])  # type: ignore[index]
        elif not _blank(rec.get("PARENTID")):
            parent = self._ref("LOCATION", rec["PARENTID"], ctx.entity, errors, "Parent location")
            owner = parent.get("MEGAENTITYID", "") if parent else ctx.entity
        else:
            owner = ctx.entity
        if ctx.entity and owner != ctx.entity:
            errors.append(generic_error(f"Location {loc_id} is not in entity {ctx.entity}."))
        rec["MEGAENTITYID"] = owner
        rec["MEGAENTITYNAME"] = self._entity_name(owner)

    def _derive_department(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        if not _blank(rec.get("PARENTID")):
            self._ref("DEPARTMENT", rec["PARENTID"], ctx.entity, errors, "Parent department")

    def _derive_class(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        if not _blank(rec.get("PARENTID")):
            self._ref("CLASS", rec["PARENTID"], ctx.entity, errors, "Parent class")

    def _derive_glaccount(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        rec.setdefault("ACCOUNTTYPE", "balancesheet")
        rec.setdefault("NORMALBALANCE", "debit")
        if rec["ACCOUNTTYPE"] not in ("balancesheet", "incomestatement"):
            errors.append(
                generic_error(f"Invalid ACCOUNTTYPE {rec['ACCOUNTTYPE']}.", "Use balancesheet or incomestatement.")
            )
        if rec["NORMALBALANCE"] not in ("debit", "credit"):
            errors.append(generic_error(f"Invalid NORMALBALANCE {rec['NORMALBALANCE']}.", "Use debit or credit."))
        rec.setdefault(
            "CLOSINGTYPE", "non-closing account" if rec["ACCOUNTTYPE"] == "balancesheet" else "closing account"
        )

    def _derive_term(self, rec: Record, errors: list[IntacctErrorDetail]) -> None:
        due = rec.setdefault("DUEDATE", "0")
        if not re.fullmatch(r"\d{1,4}", str(due)):
            errors.append(generic_error(f"Invalid DUEDATE {due} for term {rec.get('NAME')}.", "Use a number of days."))
        rec.setdefault("DUEFROM", "from invoice/bill date")

    def _derive_arterm(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._derive_term(rec, errors)

    def _derive_apterm(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._derive_term(rec, errors)

    def _derive_customer(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._ref("ARTERM", rec.get("TERMNAME"), ctx.entity, errors, "Term")
        contact = rec.get("DISPLAYCONTACT")
        if not isinstance(contact, dict):
            contact = {}
        contact.setdefault("PRINTAS", rec.get("NAME", ""))
        contact.setdefault("CONTACTNAME", f"{rec.get('NAME', '')}(C{rec.get('CUSTOMERID', '')})")
        rec["DISPLAYCONTACT"] = contact
        rec.setdefault("ONHOLD", "false")

    def _derive_vendor(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._ref("APTERM", rec.get("TERMNAME"), ctx.entity, errors, "Term")
        contact = rec.get("DISPLAYCONTACT")
        if not isinstance(contact, dict):
            contact = {}
        contact.setdefault("PRINTAS", rec.get("NAME", ""))
        contact.setdefault("CONTACTNAME", f"{rec.get('NAME', '')}(V{rec.get('VENDORID', '')})")
        rec["DISPLAYCONTACT"] = contact
        rec.setdefault("ONHOLD", "false")
        form = str(rec.get("FORM1099TYPE") or "")
        if form and form not in FORM_1099_TYPES:
            errors.append(generic_error(f"Invalid FORM1099TYPE {form}.", f"Use one of {', '.join(FORM_1099_TYPES)}."))
        elif form and _blank(rec.get("FORM1099BOX")):
            errors.append(generic_error("FORM1099BOX is required when FORM1099TYPE is set."))
        if str(rec.get("ACHENABLED", "false")).lower() == "true":
            routing = str(rec.get("ACHBANKROUTINGNUMBER", ""))
            if not re.fullmatch(r"\d{9}", routing):
                errors.append(
                    generic_error(
                        "ACHBANKROUTINGNUMBER must be 9 digits when ACH is enabled.", "Fix the routing number."
                    )
                )
            if _blank(rec.get("ACHACCOUNTNUMBER")):
                errors.append(generic_error("ACHACCOUNTNUMBER is required when ACH is enabled."))
            if rec.get("ACHACCOUNTTYPE", "Checking Account") not in ACH_ACCOUNT_TYPES:
                errors.append(generic_error(f"Invalid ACHACCOUNTTYPE {rec.get('ACHACCOUNTTYPE')}."))
            if rec.get("ACHREMITTANCETYPE", "CCD") not in ACH_REMITTANCE_TYPES:
                errors.append(generic_error(f"Invalid ACHREMITTANCETYPE {rec.get('ACHREMITTANCETYPE')}."))

    def _derive_checkingaccount(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._ref("GLACCOUNT", rec.get("GLACCOUNTNO"), ctx.entity, errors, "GL account")
        owner = ctx.entity
        if not _blank(rec.get("LOCATIONID")):
            loc = self._ref("LOCATION", rec["LOCATIONID"], ctx.entity, errors, "Location")
            if loc is not None:
                owner = loc.get("MEGAENTITYID", "") or owner
        rec["MEGAENTITYID"] = owner
        rec["MEGAENTITYNAME"] = self._entity_name(owner)
        ent = self.entity(owner) if owner else None
        rec.setdefault("CURRENCY", ent["CURRENCY"] if ent else "USD")

    def _derive_exchangerate(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        rec.setdefault("TYPENAME", "Intacct Daily Rate")
        if isinstance(rec.get("RATE"), Decimal) and rec["RATE"] <= 0:
            errors.append(generic_error("RATE must be positive."))

    # documents ------------------------------------------------------------------
    def _doc_entity(self, spec: ObjectSpec, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail]) -> str:
        """The owning entity of a transaction, from its lines' locations (see module docstring)."""
        loc_field = LINE_LOCATION_FIELD.get(spec.name, "LOCATIONID")
        dept_field = LINE_DEPARTMENT_FIELD.get(spec.name, "DEPARTMENTID")
        owners: set[str] = set()
        for line_no, line in enumerate(rec.get(spec.line_key or "", []), start=1):
            where = f" on line {line_no}"
            loc_value = line.get(loc_field)
            if _blank(loc_value):
                if ctx.entity:
                    owners.add(ctx.entity)
                elif self.is_multi_entity:
                    errors.append(
                        generic_error(
                            f"{loc_field} is required{where} for a transaction entered at the top level of a "
                            "multi-entity company.",
                            "Provide the location (entity) on every line.",
                        )
                    )
            else:
                loc = self._ref("LOCATION", loc_value, ctx.entity, errors, "Location", where=where)
                if loc is not None:
                    owner = loc.get("MEGAENTITYID", "")
                    if ctx.entity and owner != ctx.entity:
                        errors.append(generic_error(f"Location '{loc_value}'{where} is not in entity {ctx.entity}."))
                    owners.add(owner)
            self._ref("DEPARTMENT", line.get(dept_field), ctx.entity, errors, "Department", where=where)
            self._ref("CLASS", line.get("CLASSID"), ctx.entity, errors, "Class", where=where)
        if len(owners) > 1:
            errors.append(
                generic_error(
                    f"Lines belong to different entities ({', '.join(sorted(owners))}); inter-entity transactions "
                    "are not supported.",
                    "Post one transaction per entity.",
                )
            )
        return next(iter(owners)) if len(owners) == 1 else ctx.entity

    def _set_owner(self, rec: Record, owner: str) -> str:
        rec["MEGAENTITYID"] = owner
        rec["MEGAENTITYNAME"] = self._entity_name(owner)
        ent = self.entity(owner) if owner else None
        return ent["CURRENCY"] if ent else "USD"

    def exchange_rate(self, from_currency: str, to_currency: str, on: str) -> Decimal | None:
        """The latest EXCHANGERATE on or before ``on`` (ISO date), or None when the table has none."""
        if from_currency == to_currency:
            return Decimal(1)
        best: Record | None = None
        for r in self.records["EXCHANGERATE"].values():
            if (
                r.get("FROM_CURRENCY") == from_currency
                and r.get("TO_CURRENCY") == to_currency
                and r.get("EFFECTIVE_START_DATE", "") <= on
                and (best is None or r["EFFECTIVE_START_DATE"] > best["EFFECTIVE_START_DATE"])
            ):
                best = r
        return best["RATE"] if best else None

    def _currency(self, rec: Record, base: str, doc_date: str, errors: list[IntacctErrorDetail]) -> Decimal:
        rec["BASECURR"] = base
        currency = rec.get("CURRENCY") or base
        rec["CURRENCY"] = currency
        if currency == base:
            rec["EXCHANGE_RATE"] = Decimal(1)
            return Decimal(1)
        rate = rec.get("EXCHANGE_RATE")
        if isinstance(rate, Decimal) and rate > 0:
            return rate
        rate = self.exchange_rate(currency, base, rec.get("EXCH_RATE_DATE") or doc_date)
        if rate is None:
            errors.append(
                generic_error(
                    f"No exchange rate from {currency} to {base} on {format_date(doc_date)}.",
                    "Provide EXCHANGE_RATE or add an exchange rate.",
                )
            )
            return Decimal(1)
        rec["EXCH_RATE_TYPE_ID"] = rec.get("EXCH_RATE_TYPE_ID") or "Intacct Daily Rate"
        rec["EXCHANGE_RATE"] = rate
        return rate

    def _due_date(self, rec: Record, term_object: str, ctx: _WriteContext, errors: list[IntacctErrorDetail]) -> None:
        term = self._ref(term_object, rec.get("TERMNAME"), ctx.entity, errors, "Term")
        if _blank(rec.get("WHENDUE")):
            if term is not None and rec.get("WHENCREATED"):
                due = date.fromisoformat(rec["WHENCREATED"]) + timedelta(days=int(term.get("DUEDATE", "0") or 0))
                rec["WHENDUE"] = due.isoformat()
            elif term is None and _blank(rec.get("TERMNAME")):
                errors.append(generic_error("Provide a due date or a term.", "Set WHENDUE or TERMNAME."))
        elif rec.get("WHENCREATED") and rec["WHENDUE"] < rec["WHENCREATED"]:
            errors.append(generic_error("The due date is before the document date."))

    def _sum_lines(
        self,
        spec: ObjectSpec,
        rec: Record,
        rate: Decimal,
        errors: list[IntacctErrorDetail],
        *,
        allow_zero: bool = False,
    ) -> Decimal:
        total = ZERO
        lines = rec.get(spec.line_key or "", [])
        if not lines:
            errors.append(generic_error(f"A {spec.label} needs at least one line."))
        for line_no, line in enumerate(lines, start=1):
            amount = line.get("TRX_AMOUNT", line.get("AMOUNT"))
            if not isinstance(amount, Decimal):
                errors.append(generic_error(f"TRX_AMOUNT is required on line {line_no}."))
                continue
            if amount == 0 and not allow_zero:
                errors.append(generic_error(f"Amount on line {line_no} must not be zero."))
            line["TRX_AMOUNT"] = cents(amount)
            line["AMOUNT"] = cents(amount * rate)
            total += line["TRX_AMOUNT"]
        return total

    def _derive_document(
        self,
        spec: ObjectSpec,
        rec: Record,
        ctx: _WriteContext,
        errors: list[IntacctErrorDetail],
        existing: Record | None,
        *,
        party_object: str,
        party_field: str,
        term_object: str | None,
        sign: int,
    ) -> None:
        """Shared rules for invoices, bills, credit memos and advances (header + lines + totals)."""
        party = self._ref(party_object, rec.get(party_field), ctx.entity, errors, party_object.title())
        doc_date_field = "RECEIPTDATE" if spec.name == "ARADVANCE" else "WHENCREATED"
        doc_date = rec.get(doc_date_field) or ""
        owner = self._doc_entity(spec, rec, ctx, errors)
        if party is not None and party.get("MEGAENTITYID") and party["MEGAENTITYID"] != owner:
            errors.append(generic_error(f"{party_object.title()} {rec.get(party_field)} is private to another entity."))
        base = self._set_owner(rec, owner)
        if party is not None:
            rec[f"{party_object}NAME"] = party.get("NAME", "")
        if term_object:
            self._due_date(rec, term_object, ctx, errors)
        if spec.name != "ARADVANCE" and _blank(rec.get("WHENPOSTED")):
            rec["WHENPOSTED"] = doc_date
        rate = self._currency(rec, base, doc_date, errors)
        for line_no, line in enumerate(rec.get(spec.line_key or "", []), start=1):
            account = line.get("ACCOUNTNO", line.get("GLACCOUNTNO"))
            if spec.name == "ARADVANCE" and _blank(account):
                continue
            if _blank(account):
                errors.append(generic_error(f"ACCOUNTNO is required on line {line_no}."))
            else:
                self._ref("GLACCOUNT", account, ctx.entity, errors, "GL account", where=f" on line {line_no}")
        total = self._sum_lines(spec, rec, rate, errors)
        if errors:
            return
        if sign < 0 and total < 0:
            errors.append(generic_error(f"{spec.label} line amounts must be positive."))
            return
        paid = existing.get("TRX_TOTALPAID", ZERO) if existing else ZERO
        rec["TRX_TOTALENTERED"] = sign * total
        rec["TOTALENTERED"] = cents(sign * total * rate)
        rec["TRX_TOTALPAID"] = paid
        if abs(paid) > abs(rec["TRX_TOTALENTERED"]):
            errors.append(generic_error(f"The new total is less than the {abs(paid)} already paid."))
            return
        action = str(rec.pop("ACTION", "") or "").strip()
        self._base_state(spec, rec, action, existing, errors)
        self._settle(rec)

    def _base_state(
        self, spec: ObjectSpec, rec: Record, action: str, existing: Record | None, errors: list[IntacctErrorDetail]
    ) -> None:
        requested = str(rec.get("STATE", "") or "")
        if existing is not None and not action and requested == existing.get("STATE"):
            rec["_BASESTATE"] = existing.get("_BASESTATE", "Posted")
            return
        if action and action not in ("Submit", "Draft"):
            errors.append(generic_error(f"Invalid ACTION {action}.", "Use Submit or Draft."))
            return
        allowed = {"", "Draft", "Posted"}
        if spec.name == "APBILL":
            allowed |= {"Submitted", "Approved"}
        if requested and requested not in allowed and (existing is None or requested != existing.get("STATE")):
            errors.append(generic_error(f"Invalid STATE {requested} for {spec.label}."))
            return
        if action == "Draft" or requested == "Draft":
            state = "Draft"
        elif requested in ("Submitted", "Approved", "Posted"):
            state = requested
        elif spec.name == "APBILL" and self.ap_approval:
            state = "Submitted"
        else:
            state = "Posted"
        if existing is not None and existing.get("TRX_TOTALPAID", ZERO) != 0 and state in UNSETTLED_STATES:
            errors.append(generic_error(f"A {spec.label} with payments applied cannot go back to {state}."))
            return
        rec["_BASESTATE"] = state

    def _settle(self, rec: Record) -> None:
        """TOTALPAID/TOTALDUE/STATE from TRX_TOTALPAID; the one rule payments and edits both use."""
        entered_trx: Decimal = cents(rec["TRX_TOTALENTERED"])
        paid_trx: Decimal = cents(rec.get("TRX_TOTALPAID", ZERO))
        due_trx = entered_trx - paid_trx
        rec["TRX_TOTALENTERED"] = entered_trx
        rec["TRX_TOTALPAID"] = paid_trx
        rec["TRX_TOTALDUE"] = due_trx
        if due_trx == 0:
            rec["TOTALPAID"] = rec["TOTALENTERED"]
            rec["TOTALDUE"] = cents(ZERO)
        else:
            rec["TOTALPAID"] = cents(paid_trx * rec.get("EXCHANGE_RATE", Decimal(1)))
            rec["TOTALDUE"] = rec["TOTALENTERED"] - rec["TOTALPAID"]
        base_state = rec.get("_BASESTATE", "Posted")
        if base_state in UNSETTLED_STATES or paid_trx == 0:
            rec["STATE"] = base_state
        elif due_trx == 0:
            rec["STATE"] = "Paid"
        else:
            rec["STATE"] = "Partially Paid"

    def _derive_arinvoice(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        if existing is not None and existing.get("STATE") in ("Reversed", "Reversal"):
            errors.append(generic_error(f"Invoice {existing['RECORDNO']} is {existing['STATE']} and cannot change."))
            return
        self._derive_document(
            SPECS["ARINVOICE"], rec, ctx, errors, existing,
            party_object="CUSTOMER", party_field="CUSTOMERID", term_object="ARTERM", sign=1,
        )  # fmt: skip

    def _derive_apbill(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._derive_document(
            SPECS["APBILL"], rec, ctx, errors, existing,
            party_object="VENDOR", party_field="VENDORID", term_object="APTERM", sign=1,
        )  # fmt: skip

    def _derive_aradjustment(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._derive_document(
            SPECS["ARADJUSTMENT"], rec, ctx, errors, existing,
            party_object="CUSTOMER", party_field="CUSTOMERID", term_object=None, sign=1,
        )  # fmt: skip
        if not errors and rec["TRX_TOTALENTERED"] == 0:
            errors.append(generic_error("An AR adjustment cannot total zero.", "Negative lines make a credit memo."))

    def _derive_apadjustment(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        """AP adjustments keep the sign of their lines, as AR ones do: a negative total lowers what is
        owed (a debit memo, QuickBooks' vendor credit), a positive one raises it (a credit memo)."""
        self._derive_document(
            SPECS["APADJUSTMENT"], rec, ctx, errors, existing,
            party_object="VENDOR", party_field="VENDORID", term_object=None, sign=1,
        )  # fmt: skip
        if not errors and rec["TRX_TOTALENTERED"] == 0:
            errors.append(generic_error("An AP adjustment cannot total zero."))

    def _derive_aradvance(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        if rec.get("PAYMENTMETHOD") not in AR_PAYMENT_METHODS:
            errors.append(generic_error(f"Invalid PAYMENTMETHOD {rec.get('PAYMENTMETHOD')}."))
        self._financial_entity(rec, ctx, errors)
        self._derive_document(
            SPECS["ARADVANCE"], rec, ctx, errors, existing,
            party_object="CUSTOMER", party_field="CUSTOMERID", term_object=None, sign=-1,
        )  # fmt: skip

    def _financial_entity(self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail]) -> Record | None:
        if _blank(rec.get("FINANCIALENTITY")):
            if _blank(rec.get("UNDEPOSITEDACCOUNTNO")):
                errors.append(generic_error("Provide FINANCIALENTITY or UNDEPOSITEDACCOUNTNO."))
            else:
                self._ref("GLACCOUNT", rec["UNDEPOSITEDACCOUNTNO"], ctx.entity, errors, "GL account")
            return None
        return self._ref("CHECKINGACCOUNT", rec["FINANCIALENTITY"], ctx.entity, errors, "Financial entity")

    def _derive_glbatch(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        spec = SPECS["GLBATCH"]
        if rec.get("JOURNAL") not in self.journals:
            errors.append(
                generic_error(f"Invalid journal '{rec.get('JOURNAL')}' specified.", "Use an existing journal.")
            )
        state = rec.get("STATE") or "Posted"
        if state not in ("Posted", "Draft"):
            errors.append(generic_error(f"Invalid STATE {state} for a journal entry.", "Use Posted or Draft."))
        rec["STATE"] = state
        lines = rec.get("ENTRIES", [])
        if len(lines) < 2:
            errors.append(generic_error("A journal entry needs at least two lines."))
        owner = self._doc_entity(spec, rec, ctx, errors)
        base = self._set_owner(rec, owner)
        debit = credit = ZERO
        for line_no, line in enumerate(lines, start=1):
            account = self._ref(
                "GLACCOUNT", line.get("ACCOUNTNO"), ctx.entity, errors, "GL account", where=f" on line {line_no}"
            )
            if account is not None and closed_to_direct_posting(account):
                errors.append(_direct_posting_error(str(account["ACCOUNTNO"]), line_no))
            if _blank(line.get("ACCOUNTNO")):
                errors.append(generic_error(f"ACCOUNTNO is required on line {line_no}."))
            tr_type = str(line.get("TR_TYPE", "")).strip()
            if tr_type not in ("1", "-1"):
                errors.append(generic_error(f"TR_TYPE on line {line_no} must be 1 (debit) or -1 (credit)."))
                continue
            line["TR_TYPE"] = tr_type
            currency = line.get("CURRENCY") or base
            line["CURRENCY"] = currency
            rate = Decimal(1)
            if currency != base:
                given = line.get("EXCHANGE_RATE")
                found = (
                    given
                    if isinstance(given, Decimal)
                    else self.exchange_rate(currency, base, rec.get("BATCH_DATE", ""))
                )
                if found is None:
                    errors.append(generic_error(f"No exchange rate from {currency} to {base} on line {line_no}."))
                    continue
                rate = found
                line["EXCHANGE_RATE"] = rate
            amount = line.get("TRX_AMOUNT", line.get("AMOUNT"))
            if not isinstance(amount, Decimal) or amount <= 0:
                errors.append(generic_error(f"TRX_AMOUNT on line {line_no} must be a positive amount."))
                continue
            line["TRX_AMOUNT"] = amount
            line["AMOUNT"] = cents(amount * rate)
            if tr_type == "1":
                debit += line["AMOUNT"]
            else:
                credit += line["AMOUNT"]
        if not errors and debit != credit:
            errors.append(
                generic_error(
                    f"The journal entry is not balanced: debits {debit} and credits {credit} differ.",
                    "Make debits equal credits.",
                )
            )
        rec["BATCHNO"] = rec.get("BATCHNO") or ""

    def _derive_arpymt(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._derive_payment(SPECS["ARPYMT"], rec, ctx, errors, party_object="CUSTOMER", party_field="CUSTOMERID")

    def _derive_appymt(
        self, rec: Record, ctx: _WriteContext, errors: list[IntacctErrorDetail], existing: Record | None
    ) -> None:
        self._derive_payment(SPECS["APPYMT"], rec, ctx, errors, party_object="VENDOR", party_field="VENDORID")

    def _derive_payment(
        self,
        spec: ObjectSpec,
        rec: Record,
        ctx: _WriteContext,
        errors: list[IntacctErrorDetail],
        *,
        party_object: str,
        party_field: str,
    ) -> None:
        """Check every application against the documents it pays; amounts in the payment currency.

        An ARPYMT detail names one target, an invoice (RECORDKEY) or a debit memo (POSADJKEY), and
        pays it with cash (TRX_PAYMENTAMOUNT), a credit (credit memo, advance or earlier
        overpayment: CREDIT_APPLICATIONS) and/or a discount (TRX_TOTALDISCOUNTTOAPPLY), as I-ARP
        describes. ``ACTION`` Draft keeps the payment as a draft that applies nothing yet.
        """
        is_ar = spec.name == "ARPYMT"
        methods = AR_PAYMENT_METHODS if is_ar else AP_PAYMENT_METHODS
        party_value = rec.get(party_field)
        if _blank(party_value):
            if not (is_ar and not _blank(rec.get("PAYERNAME"))):
                errors.append(generic_error(f"Required field {party_field} is missing.", "Provide the customer."))
            party_value = None
        party = self._ref(party_object, party_value, ctx.entity, errors, party_object.title()) if party_value else None
        doc_object = "ARINVOICE" if is_ar else "APBILL"
        owner = ctx.entity
        cash = ZERO
        pending: dict[tuple[str, int], Decimal] = {}
        currency = rec.get("CURRENCY") or ""
        for line_no, detail in enumerate(rec.get(spec.line_key or "", []), start=1):
            where = f" (detail {line_no})"
            target_object = "ARADJUSTMENT" if is_ar and detail.get("POSADJKEY") else doc_object
            if is_ar and detail.get("POSADJKEY"):
                if detail.get("RECORDKEY"):
                    errors.append(generic_error(f"Pay either an invoice or a debit memo, not both{where}."))
                    continue
                doc = self._applied_doc("ARADJUSTMENT", detail.get("POSADJKEY"), ctx, errors, where)
                if doc is not None and doc["TRX_TOTALENTERED"] <= 0:
                    errors.append(generic_error(f"ARADJUSTMENT {doc['RECORDNO']} is not a debit memo{where}."))
                    continue
            else:
                doc = self._applied_doc(doc_object, detail.get("RECORDKEY"), ctx, errors, where)
            if doc is None:
                continue
            doc_party = doc.get(party_field)
            if party_value is not None and doc_party != party_value:
                errors.append(generic_error(f"{doc_object} {doc['RECORDNO']} does not belong to {party_value}{where}."))
                continue
            if not owner:
                owner = doc.get("MEGAENTITYID", "")
            if doc.get("MEGAENTITYID", "") != owner:
                errors.append(generic_error(f"{doc_object} {doc['RECORDNO']} belongs to another entity{where}."))
                continue
            currency = currency or doc["CURRENCY"]
            if doc["CURRENCY"] != currency:
                errors.append(
                    generic_error(f"{doc_object} {doc['RECORDNO']} is in {doc['CURRENCY']}, not {currency}{where}.")
                )
                continue
            if doc.get("STATE") in UNSETTLED_STATES:
                errors.append(
                    generic_error(f"{doc_object} {doc['RECORDNO']} in state {doc['STATE']} cannot be paid{where}.")
                )
                continue
            applied = ZERO
            amounts: list[tuple[str, str, Decimal]] = []
            cash_amount = detail.get("TRX_PAYMENTAMOUNT")
            if cash_amount is not None:
                amounts.append(("", "", cash_amount))
            for key_field, (credit_object, amount_field) in _credits_of(spec.name).items():
                if detail.get(key_field):
                    amounts.append((credit_object, detail[key_field], detail.get(amount_field, ZERO)))
            if is_ar:
                if detail.get("TRX_TOTALDISCOUNTTOAPPLY") is not None:
                    amounts.append(("DISCOUNT", "", detail["TRX_TOTALDISCOUNTTOAPPLY"]))
                if not _blank(detail.get("DISCOUNTDATE")):
                    errors.append(
                        generic_error(
                            f"DISCOUNTDATE is not modelled by the sandbox{where}.",
                            "Send TRX_TOTALDISCOUNTTOAPPLY with the discount amount.",
                        )
                    )
                for unsupported in ("INLINEKEY", "NEGATIVEINVOICEKEY"):
                    if detail.get(unsupported):
                        errors.append(generic_error(f"{unsupported} credits are not modelled by the sandbox{where}."))
            if not amounts:
                errors.append(generic_error(f"TRX_PAYMENTAMOUNT is required{where}."))
            for credit_object, credit_key, amount in amounts:
                if not isinstance(amount, Decimal) or amount <= 0:
                    errors.append(generic_error(f"Payment amounts must be positive{where}."))
                    continue
                if credit_object == "DISCOUNT":
                    pass
                elif credit_object:
                    credit = self._applied_doc(credit_object, credit_key, ctx, errors, where)
                    if credit is None:
                        continue
                    if credit.get(party_field) != doc_party or credit["CURRENCY"] != doc["CURRENCY"]:
                        errors.append(generic_error(f"{credit_object} {credit_key} cannot pay this document{where}."))
                        continue
                    if credit.get("STATE") in UNSETTLED_STATES or credit.get("STATE") == "Draft":
                        errors.append(generic_error(f"{credit_object} {credit_key} is not posted{where}."))
                        continue
                    ckey = (credit_object, credit["RECORDNO"])
                    available = -credit["TRX_TOTALDUE"] - pending.get(ckey, ZERO)
                    if available <= 0 and not pending.get(ckey):
                        errors.append(generic_error(f"{credit_object} {credit_key} is not an open credit{where}."))
                        continue
                    if amount > available:
                        errors.append(
                            generic_error(f"{credit_object} {credit_key} has only {available} available{where}.")
                        )
                        continue
                    pending[ckey] = pending.get(ckey, ZERO) + amount
                else:
                    cash += amount
                applied += amount
            dkey = (target_object, doc["RECORDNO"])
            remaining = doc["TRX_TOTALDUE"] - pending.get(dkey, ZERO)
            if applied > remaining:
                errors.append(
                    generic_error(
                        f"Payment of {applied} exceeds the {remaining} due on {doc_object} {doc['RECORDNO']}{where}.",
                        "Record the excess as an overpayment." if is_ar else "Reduce the amount.",
                    )
                )
                continue
            pending[dkey] = pending.get(dkey, ZERO) + applied
        overpayment = rec.get("OVERPAYMENTAMOUNT", ZERO)
        if not is_ar and overpayment:
            errors.append(generic_error("AP payments cannot carry an overpayment."))
        if not isinstance(overpayment, Decimal) or overpayment < 0:
            errors.append(generic_error("OVERPAYMENTAMOUNT must not be negative."))
            overpayment = ZERO
        if overpayment and party_value is None:
            errors.append(generic_error("An overpayment needs CUSTOMERID (whose credit it becomes)."))
        moves_money = bool(cash or overpayment)
        needs_method = moves_money or not _blank(rec.get("PAYMENTMETHOD"))
        if needs_method and rec.get("PAYMENTMETHOD") not in methods:
            errors.append(
                generic_error(f"Invalid PAYMENTMETHOD {rec.get('PAYMENTMETHOD')}.", f"Use one of {sorted(methods)}.")
            )
        # A credit-only payment (no cash, no overpayment) needs no bank nor method: I-APP says so for
        # AP and I-ARP is silent; the sandbox applies the same rule to AR.
        bank = self._financial_entity(rec, ctx, errors) if moves_money else None
        if not owner and bank is not None:
            owner = bank.get("MEGAENTITYID", "")
        if not rec.get(spec.line_key or "") and not overpayment:
            errors.append(generic_error(f"A {spec.label} needs at least one detail or an overpayment."))
        if overpayment and not ctx.entity and self.is_multi_entity and not owner:
            errors.append(generic_error("OVERPAYMENTLOCATIONID is required at the top level."))
        if not owner and not _blank(rec.get("OVERPAYMENTLOCATIONID")):
            loc = self._ref("LOCATION", rec["OVERPAYMENTLOCATIONID"], ctx.entity, errors, "Location")
            owner = loc.get("MEGAENTITYID", "") if loc else owner
        if bank is not None and bank.get("MEGAENTITYID", "") not in ("", owner):
            errors.append(generic_error(f"Financial entity {bank['BANKACCOUNTID']} belongs to another entity."))
        if party is not None and party.get("MEGAENTITYID") and party["MEGAENTITYID"] != owner:
            errors.append(generic_error(f"{party_object.title()} {party_value} is private to another entity."))
        action = str(rec.pop("ACTION", "") or "").strip()
        if action and action not in ("Submit", "Draft"):
            errors.append(generic_error(f"Invalid ACTION {action}.", "Use Submit or Draft."))
        if errors:
            return
        base = self._set_owner(rec, owner)
        pay_date = rec.get("RECEIPTDATE") or rec.get("PAYMENTDATE") or ""
        rec["CURRENCY"] = currency or (bank.get("CURRENCY") if bank else "") or base
        rate = self._currency(rec, base, pay_date, errors)
        if party is not None:
            rec[f"{party_object}NAME"] = party.get("NAME", "")
        rec["TRX_TOTALENTERED"] = cents(cash + overpayment)
        rec["TOTALENTERED"] = cents((cash + overpayment) * rate)
        rec["_OVERPAYMENT_APPLIED"] = rec.get("_OVERPAYMENT_APPLIED", ZERO)
        self._settle_payment(rec)
        if is_ar:
            rec.setdefault("RECORDTYPE", "rp")
        was_draft = rec.get("STATE") == "Draft"
        rec["STATE"] = "Draft" if action == "Draft" or (was_draft and action != "Submit") else "Complete"

    def _settle_payment(self, rec: Record) -> None:
        """Payment totals: paid = cash + overpayment applied since; due = -(overpayment not yet applied)."""
        rate = rec.get("EXCHANGE_RATE", Decimal(1))
        overpayment = rec.get("OVERPAYMENTAMOUNT", ZERO) or ZERO
        applied_later = rec.get("_OVERPAYMENT_APPLIED", ZERO)
        cash = rec["TRX_TOTALENTERED"] - overpayment
        rec["TRX_TOTALPAID"] = cents(cash + applied_later)
        rec["TOTALPAID"] = cents((cash + applied_later) * rate)
        rec["TRX_TOTALDUE"] = -cents(overpayment - applied_later)
        rec["TOTALDUE"] = -cents((overpayment - applied_later) * rate)

    def _applied_doc(
        self, object_name: str, key: Any, ctx: _WriteContext, errors: list[IntacctErrorDetail], where: str
    ) -> Record | None:
        try:
            doc = self.get(object_name, int(str(key)))
        except (TypeError, ValueError):
            doc = None
        if doc is None or not self.is_visible(doc, ctx.entity, show_private=True):
            errors.append(
                generic_error(f"Invalid {object_name} RECORDKEY '{key}'{where}.", "Use an existing document.")
            )
            return None
        return doc

    def _after_create(self, spec: ObjectSpec, rec: Record, ctx: _WriteContext) -> None:
        if spec.name == "LOCATIONENTITY" and self.find("LOCATION", rec["LOCATIONID"]) is None:
            # every entity is also a location of the same id (lines name it in LOCATIONID)
            self.create(
                "LOCATION",
                {"LOCATIONID": rec["LOCATIONID"], "NAME": rec["NAME"], "CURRENCY": rec["CURRENCY"]},
                when=ctx.when,
            )
        if spec.name in ("ARPYMT", "APPYMT") and rec.get("STATE") != "Draft":
            self._apply_payment(spec, rec, ctx, sign=1)

    def _detail_target(self, spec: ObjectSpec, detail: Record) -> tuple[str, Record | None]:
        if spec.name == "ARPYMT" and detail.get("POSADJKEY"):
            return "ARADJUSTMENT", self.get("ARADJUSTMENT", int(detail["POSADJKEY"]))
        doc_object = "ARINVOICE" if spec.name == "ARPYMT" else "APBILL"
        return doc_object, self.get(doc_object, int(detail["RECORDKEY"]))

    def _apply_payment(self, spec: ObjectSpec, rec: Record, ctx: _WriteContext, *, sign: int) -> None:
        """Move a payment's applications onto (sign=1) or off (sign=-1) the documents it pays."""
        pay_date = rec.get("RECEIPTDATE") or rec.get("PAYMENTDATE") or ""
        for detail in rec.get(spec.line_key or "", []):
            doc_object, doc = self._detail_target(spec, detail)
            if doc is None:
                continue
            total = ZERO
            if detail.get("TRX_PAYMENTAMOUNT") is not None:
                total += detail["TRX_PAYMENTAMOUNT"]
            if detail.get("TRX_TOTALDISCOUNTTOAPPLY") is not None:
                total += detail["TRX_TOTALDISCOUNTTOAPPLY"]
            for key_field, (credit_object, amount_field) in _credits_of(spec.name).items():
                if detail.get(key_field):
                    amount = detail.get(amount_field, ZERO)
                    credit = self.get(credit_object, int(detail[key_field]))
                    if credit is not None:
                        self._touch(credit_object, credit)
                        if credit_object == "ARPYMT":  # an earlier overpayment being used up
                            credit["_OVERPAYMENT_APPLIED"] = credit.get("_OVERPAYMENT_APPLIED", ZERO) + sign * amount
                            self._settle_payment(credit)
                        else:
                            credit["TRX_TOTALPAID"] = credit.get("TRX_TOTALPAID", ZERO) - sign * amount
                            self._settle(credit)
                        credit["WHENMODIFIED"] = ctx.when
                    total += amount
            self._touch(doc_object, doc)
            doc["TRX_TOTALPAID"] = doc.get("TRX_TOTALPAID", ZERO) + sign * total
            self._settle(doc)
            if doc["STATE"] == "Paid":
                doc["WHENPAID"] = pay_date
            else:
                doc.pop("WHENPAID", None)
            doc["WHENMODIFIED"] = ctx.when

    # ---------------------------------------------------------------- snapshots
    def to_snapshot(self) -> dict[str, Any]:
        """The whole company as JSON-ready data (see the module docstring for the format)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "company_id": self.company_id,
            "company_name": self.company_name,
            "timezone": self.timezone,
            "books_closed_through": self.books_closed_through,
            "ap_approval": self.ap_approval,
            "journals": list(self.journals),
            "next_recordno": dict(self.next_recordno),
            "credentials": dict(self.credentials),
            "records": {name: list(recs.values()) for name, recs in self.records.items() if recs},
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> IntacctState:
        """Rebuild a company from :meth:`to_snapshot` output; money strings become Decimal again."""
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not an Intacct sandbox snapshot (format {data.get('format')!r})")
        records: dict[str, dict[int, Record]] = {}
        for name, rows in data.get("records", {}).items():
            spec = SPECS.get(name)
            if spec is None:
                raise ValueError(f"snapshot holds unknown object {name}")
            by_no: dict[int, Record] = {}
            for rec in rows:
                _revive_money(rec)
                for line in rec.get(spec.line_key, ()) if spec.line_key else ():
                    _revive_money(line)
                rec["RECORDNO"] = int(rec["RECORDNO"])
                by_no[rec["RECORDNO"]] = rec
            records[name] = by_no
        state = cls(
            company_id=data["company_id"],
            company_name=data.get("company_name", data["company_id"]),
            timezone=data.get("timezone", DEFAULT_TIMEZONE),
            books_closed_through=data.get("books_closed_through"),
            ap_approval=bool(data.get("ap_approval", False)),
            journals=list(data.get("journals", ["GJ", "ADJ"])),
            credentials=dict(data.get("credentials") or {}),
            records=records,
            next_recordno={k: int(v) for k, v in data.get("next_recordno", {}).items()},
        )
        for name, recs in state.records.items():  # never hand out a RECORDNO already taken
            if recs:
                counter = RECORDNO_SEQUENCE.get(name, name)
                state.next_recordno[counter] = max(state.next_recordno.get(counter, 1), max(recs) + 1)
        return state

    def save(self, path: Path) -> None:
        """Write the snapshot atomically (temp file + rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(self.to_snapshot(), fh, separators=(",", ":"), default=_json_default)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> IntacctState:
        with path.open("r", encoding="utf-8") as fh:
            return cls.from_snapshot(json.load(fh))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a snapshot")


def _revive_money(rec: Record) -> None:
    for key in MONEY_FIELDS.intersection(rec):
        value = rec[key]
        if value is not None and not isinstance(value, Decimal):
            rec[key] = Decimal(str(value))


def _lines(spec: ObjectSpec, value: Any) -> list[Any]:
    """Lines given as a list, or in the API's nesting ``{LINE_TAG: [..] or {..}}``."""
    if isinstance(value, dict):
        inner = value.get(spec.line_tag or "", value.get((spec.line_tag or "").lower()))
        if inner is None:
            return [value] if value else []
        value = inner
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    return []


def _credits_of(payment_object: str) -> dict[str, tuple[str, str]]:
    return CREDIT_APPLICATIONS if payment_object == "ARPYMT" else AP_CREDIT_APPLICATIONS


def _deep_merge(base: Record, changes: Record) -> Record:
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _posting_date(spec: ObjectSpec, rec: Record) -> str:
    if spec.name == "GLBATCH":
        return rec.get("BATCH_DATE", "")
    if spec.name in ("ARPYMT", "ARADVANCE"):
        return rec.get("RECEIPTDATE", "")
    if spec.name == "APPYMT":
        return rec.get("PAYMENTDATE", "")
    return rec.get("WHENPOSTED") or rec.get("WHENCREATED", "")


def closed_to_direct_posting(account: Record) -> bool:
    """GLACCOUNT SUBLEDGERCONTROLON ("Disallow direct posting"): only the AR/AP subledgers post to it.

    Sandbox choice (the GL account docs list the field, not what a journal entry meets): a GLBATCH
    line on such an account is refused with BL01001973 and a description naming account and line,
    as the UI refuses it ("closed to direct posting"); documents (invoices, bills) still post to it.
    """
    return str(account.get("SUBLEDGERCONTROLON", "")).strip().lower() in ("true", "t", "1", "yes")


def _direct_posting_error(account: str, line_no: int) -> IntacctErrorDetail:
    return generic_error(
        f"GL account {account} on line {line_no} is closed to direct posting (subledger control account).",
        "Post to another account, or through the AR/AP subledger.",
    )


def _closed_error(posting: str) -> IntacctErrorDetail:
    return generic_error(
        f"The period for {format_date(posting)} is closed.",
        "Post in an open period or reopen the books.",
    )


def _could_not(verb: str, spec: ObjectSpec) -> IntacctErrorDetail:
    return generic_error(f"Could not {verb} {spec.label} record!")


# -------------------------------------------------------------------- the default company
DEFAULT_ENTITIES = (("US", "United States", "USD"), ("UK", "United Kingdom", "GBP"), ("CA", "Canada", "CAD"))
CONTROL_ACCOUNT_TITLES = frozenset({"Accounts Receivable", "Accounts Payable"})
DEFAULT_ACCOUNTS = (
    ("10100", "Cash - US Operating", "balancesheet", "debit"),
    ("10110", "Cash - UK Operating", "balancesheet", "debit"),
    ("10120", "Cash - CA Operating", "balancesheet", "debit"),
    ("11000", "Accounts Receivable", "balancesheet", "debit"),
    ("12000", "Undeposited Funds", "balancesheet", "debit"),
    ("13000", "Prepaid Expenses", "balancesheet", "debit"),
    ("20000", "Accounts Payable", "balancesheet", "credit"),
    ("21000", "Accrued Liabilities", "balancesheet", "credit"),
    ("22000", "Customer Deposits", "balancesheet", "credit"),
    ("30000", "Retained Earnings", "balancesheet", "credit"),
    ("40000", "Product Revenue", "incomestatement", "credit"),
    ("40100", "Service Revenue", "incomestatement", "credit"),
    ("49000", "Discounts and Credits", "incomestatement", "debit"),
    ("50000", "Cost of Goods Sold", "incomestatement", "debit"),
    ("60000", "Rent Expense", "incomestatement", "debit"),
    ("61000", "Office Supplies", "incomestatement", "debit"),
    ("62000", "Professional Fees", "incomestatement", "debit"),
    ("70000", "Realized FX Gain/Loss", "incomestatement", "debit"),
)


def _seed_default(state: IntacctState) -> None:
    when = "2024-01-01T00:00:00"
    for entity_id, name, currency in DEFAULT_ENTITIES:
        state.add_entity(entity_id, name, currency, when=when)
    for loc_id, name, parent in (
        ("US-SF", "San Francisco", "US"),
        ("US-NY", "New York", "US"),
        ("UK-LON", "London", "UK"),
        ("CA-TOR", "Toronto", "CA"),
    ):
        state.create("LOCATION", {"LOCATIONID": loc_id, "NAME": name, "PARENTID": parent}, when=when)
    for dept_id, title in (("SALES", "Sales"), ("OPS", "Operations"), ("ADMIN", "Administration")):
        state.create("DEPARTMENT", {"DEPARTMENTID": dept_id, "TITLE": title}, when=when)
    for class_id, name in (("RETAIL", "Retail"), ("WHOLESALE", "Wholesale"), ("SERVICES", "Services")):
        state.create("CLASS", {"CLASSID": class_id, "NAME": name}, when=when)
    for number, title, account_type, normal in DEFAULT_ACCOUNTS:
        state.create(
            "GLACCOUNT",
            {"ACCOUNTNO": number, "TITLE": title, "ACCOUNTTYPE": account_type, "NORMALBALANCE": normal}
            # AR and AP are subledger control accounts: closed to direct posting from journal entries.
            | ({"SUBLEDGERCONTROLON": "true"} if title in CONTROL_ACCOUNT_TITLES else {}),
            when=when,
        )
    for term_object in ("ARTERM", "APTERM"):
        for term_name, days, description in (
            ("N30", "30", "Net 30"),
            ("N15", "15", "Net 15"),
            ("N60", "60", "Net 60"),
            ("Due on Receipt", "0", "Due on receipt"),
        ):
            state.create(term_object, {"NAME": term_name, "DUEDATE": days, "DESCRIPTION": description}, when=when)
    for bank_id, bank_name, account, location in (
        ("BOA-US", "Bank of America", "10100", "US"),
        ("BARC-UK", "Barclays", "10110", "UK"),
        ("RBC-CA", "Royal Bank of Canada", "10120", "CA"),
    ):
        state.create(
            "CHECKINGACCOUNT",
            {"BANKACCOUNTID": bank_id, "BANKNAME": bank_name, "GLACCOUNTNO": account, "LOCATIONID": location},
            when=when,
        )
    for from_currency, to_currency, rate in (
        ("EUR", "USD", "1.0850"),
        ("GBP", "USD", "1.2700"),
        ("CAD", "USD", "0.7400"),
        ("USD", "GBP", "0.7874"),
        ("USD", "CAD", "1.3514"),
        ("EUR", "GBP", "0.8543"),
    ):
        state.create(
            "EXCHANGERATE",
            {
                "FROM_CURRENCY": from_currency,
                "TO_CURRENCY": to_currency,
                "EFFECTIVE_START_DATE": "2020-01-01",
                "RATE": rate,
            },
            when=when,
        )
