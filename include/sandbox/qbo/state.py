"""In-memory QuickBooks Online books: realms, records, business rules, derived amounts, snapshots.

This module is the single place where the sandbox decides what a QuickBooks company accepts and
what it computes. The HTTP app (``app.py``) and the demo-books generator (``include/sandbox/books``)
both call it, so a seeded invoice carries exactly the TotalAmt, Balance, LinkedTxn and home amounts
the API would have computed for it.

Using it without HTTP (the seeding API)::

    from include.sandbox.qbo.state import QboState

    state = QboState()
    realm = state.add_realm("9341453050228140", "Demo Books Inc", home_currency="USD",
                            multicurrency=True, with_default_chart=True, at=created_at)
    cust = realm.create("Customer", {"DisplayName": "Mark Cho"}, at=t0)
    inv = realm.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "TxnDate": "2024-01-05",
                                   "Line": [{"Amount": Decimal("291.00"), "DetailType": "SalesItemLineDetail",
                                             "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}, at=t1)
    realm.create("Payment", {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": Decimal("100"),
                             "Line": [{"Amount": Decimal("100"),
                                       "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]}, at=t2)
    realm.update_preferences({"AccountingInfoPrefs": {"BookCloseDate": "2023-12-31"}})
    state.save_snapshot(path)             # whole state, JSON
    state = QboState.load_snapshot(path)  # seconds for ~100k invoices

- ``create``/``update``/``delete``/``void`` run the same validation and derivation as the API and
  raise :class:`QboFault` (code, message, detail, element) exactly as the API would answer.
- ``at`` (an aware ``datetime``) sets ``MetaData.CreateTime``/``LastUpdatedTime``; records linked by
  the write (an invoice paid by a payment) get the same ``LastUpdatedTime`` and a new SyncToken.
- Records are plain dicts in the API's own JSON shape; money is ``Decimal`` (2 places once derived).
  Returned dicts are the stored ones: read them, do not mutate them. Bodies passed in are copied.
- Ids are allocated per entity type ("1", "2", ...), as in QuickBooks where an Invoice and a Payment
  can share an Id. ``create(..., record_id="42")`` forces an Id (the counter moves past it).

Snapshot format (``save_snapshot``/``load_snapshot``; one JSON document, money as JSON numbers)::

    {"format": "qbo-sandbox/1",
     "realms": {"<realm id>": {"company_name": "...",
                               "records": {"Customer": [{...}, ...], "Invoice": [...], ...},
                               "deleted": {"Invoice": {"<Id>": "<LastUpdatedTime of the delete>"}}}}}

CompanyInfo and Preferences are records like any other (Id "1"). Indexes (names, document
numbers) are rebuilt on load; derived fields are stored, not recomputed, so loading is one
``json.loads`` plus one pass.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SNAPSHOT_FORMAT = "qbo-sandbox/1"
DEFAULT_REALM_ID = "9341453050228140"
DEFAULT_COMPANY_NAME = "Sandbox Company_US_1"
COMPANY_TZ = ZoneInfo("America/Los_Angeles")
CENT = Decimal("0.01")

NAME_LISTS = (
    "Customer",
    "Vendor",
    "Employee",
    "Account",
    "Class",
    "Department",
    "Term",
    "TaxCode",
    "TaxRate",
    "PaymentMethod",
    "Item",
)
TRANSACTIONS = (
    "Invoice",
    "CreditMemo",
    "Payment",
    "Bill",
    "BillPayment",
    "VendorCredit",
    "JournalEntry",
    "Deposit",
)
OTHER_ENTITIES = ("ExchangeRate", "CompanyInfo", "Preferences")
ENTITIES = NAME_LISTS + TRANSACTIONS + OTHER_ENTITIES
ENTITY_BY_LOWER = {name.lower(): name for name in ENTITIES}
PARTY_ENTITIES = ("Customer", "Vendor", "Employee")
# Entities the API can create/update (TaxCode/TaxRate are made by the tax service, not this endpoint).
API_WRITABLE = frozenset(ENTITIES) - {"TaxCode", "TaxRate", "CompanyInfo"}
DELETABLE = frozenset(TRANSACTIONS)
VOIDABLE = frozenset({"Invoice", "Payment", "BillPayment"})
CDC_EXCLUDED = frozenset({"TaxCode", "TaxRate", "ExchangeRate", "CompanyInfo"})

CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "CAD": "Canadian Dollar",
    "GBP": "British Pound Sterling",
    "EUR": "Euro",
    "AUD": "Australian Dollar",
    "MXN": "Mexican Peso",
    "JPY": "Japanese Yen",
}

REF_TARGETS = {
    "CustomerRef": "Customer",
    "VendorRef": "Vendor",
    "EmployeeRef": "Employee",
    "ItemRef": "Item",
    "AccountRef": "Account",
    "ARAccountRef": "Account",
    "APAccountRef": "Account",
    "DepositToAccountRef": "Account",
    "BankAccountRef": "Account",
    "CCAccountRef": "Account",
    "IncomeAccountRef": "Account",
    "ExpenseAccountRef": "Account",
    "AssetAccountRef": "Account",
    "DiscountAccountRef": "Account",
    "ClassRef": "Class",
    "DepartmentRef": "Department",
    "SalesTermRef": "Term",
    "TermRef": "Term",
    "TaxCodeRef": "TaxCode",
    "TxnTaxCodeRef": "TaxCode",
    "TaxRateRef": "TaxRate",
    "PaymentMethodRef": "PaymentMethod",
}
PSEUDO_TAX_CODES = frozenset({"TAX", "NON"})

ACCOUNT_CLASSIFICATION = {
    "Bank": "Asset",
    "Accounts Receivable": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Other Current Liability": "Liability",
    "Long Term Liability": "Liability",
    "Equity": "Equity",
    "Income": "Revenue",
    "Other Income": "Revenue",
    "Cost of Goods Sold": "Expense",
    "Expense": "Expense",
    "Other Expense": "Expense",
}

# Fields the server owns: dropped from request bodies, then recomputed.
SERVER_FIELDS = frozenset(
    {
        "Id",
        "SyncToken",
        "MetaData",
        "domain",
        "sparse",
        "status",
        "FullyQualifiedName",
        "HomeTotalAmt",
        "HomeBalance",
        "Balance",
        "BalanceWithJobs",
        "RemainingCredit",
        "UnappliedAmt",
        "LinkedTxn",
        "Level",
        "CurrentBalance",
        "CurrentBalanceWithSubAccounts",
        "Classification",
    }
)
# For payments the client sends TotalAmt; for documents with lines it is derived.
DERIVED_TOTAL = frozenset({"Invoice", "CreditMemo", "Bill", "VendorCredit", "JournalEntry", "Deposit"})


class QboFault(Exception):  # noqa: N818 - named after the API's own "Fault"
    """A QuickBooks ``Fault``: what the API returns instead of the object, with the same code."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        element: str = "",
        *,
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def body(self) -> dict[str, Any]:
        """The ``Fault`` object as the API renders it (without the ``time`` envelope)."""
        return {
            "Error": [{"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}],
            "type": self.fault_type,
        }


def required_missing(element: str) -> QboFault:
    return QboFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element,
    )


def business_error(detail: str, element: str = "") -> QboFault:
    return QboFault("6000", "A business validation error has occurred while processing your request", detail, element)


def unsupported(detail: str) -> QboFault:
    return QboFault("500", "Unsupported Operation", detail)


def object_not_found(entity: str, record_id: str) -> QboFault:
    return QboFault(
        "610",
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive. {entity} {record_id} "
        "is inactive or deleted.",
    )


def stale_object(entity: str, record_id: str) -> QboFault:
    return QboFault(
        "5010",
        "Stale Object Error",
        f"Stale Object Error : You and sandbox-user were working on this at the same time. sandbox-user "
        f"finished before you did, so your work was not saved. ({entity} {record_id})",
    )


# --------------------------------------------------------------------------------------------------
# Money, dates, JSON
# --------------------------------------------------------------------------------------------------


def to_decimal(value: Any, element: str) -> Decimal:
    """Exact money from JSON input. Floats are refused: a float has already lost the cents."""
    if isinstance(value, bool):
        raise QboFault("2010", "Request has invalid or unsupported property", f"{element} is not a number", element)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            pass
    if isinstance(value, float):
        raise TypeError(f"{element}: pass money as Decimal, int or str, never float")
    raise QboFault("2010", "Request has invalid or unsupported property", f"{element} is not a number", element)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def qbo_time(at: datetime) -> str:
    """QuickBooks renders MetaData times in the company's Pacific timezone with an offset."""
    return at.astimezone(COMPANY_TZ).isoformat(timespec="seconds")


def envelope_time(at: datetime) -> str:
    return at.astimezone(COMPANY_TZ).isoformat(timespec="milliseconds")


def company_date(at: datetime) -> str:
    return at.astimezone(COMPANY_TZ).date().isoformat()


def parse_date(value: Any, element: str) -> date:
    if not isinstance(value, str):
        raise QboFault("2010", "Request has invalid or unsupported property", f"{element} must be a date", element)
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise QboFault(
            "2010", "Request has invalid or unsupported property", f"{element} is not a valid date", element
        ) from exc


_DEC_MARK = "\x00D"
_DEC_RE = re.compile(r'"\\u0000D(-?[0-9.]+)\\u0000D"')


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_DEC_MARK}{value:f}{_DEC_MARK}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(payload: Any) -> str:
    """JSON text with Decimals as JSON numbers (314.28), never via binary floats.

    The stdlib C encoder cannot emit a custom number, so Decimals go out as marked strings and one
    regex pass unquotes them; the marker starts with a NUL, which no stored text can contain.
    """
    text = json.dumps(payload, separators=(",", ":"), default=_json_default, ensure_ascii=False)
    if _DEC_MARK[0] in text or "\\u0000" in text:
        text = _DEC_RE.sub(r"\1", text)
    return text


def dump_bytes(payload: Any) -> bytes:
    return dumps(payload).encode("utf-8")


def loads(raw: bytes | str) -> Any:
    """Parse JSON keeping every non-integer number exact."""
    return json.loads(raw, parse_float=Decimal)


def clone(value: Any) -> Any:
    """Copy of a JSON tree (dicts and lists only), cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# One company
# --------------------------------------------------------------------------------------------------


@dataclass
class WriteOptions:
    """Per-request switches the API takes as query parameters."""

    allow_duplicate_doc_number: bool = False


@dataclass
class _Application:
    """One amount a payment-like record applies to a document (invoice, bill, credit...)."""

    target_entity: str
    target_id: str
    amount: Decimal  # positive: reduces the target's open balance


class Realm:
    """One QuickBooks company: records by entity and Id, tombstones for CDC, and lookup indexes."""

    def __init__(self, realm_id: str, company_name: str) -> None:
        self.realm_id = realm_id
        self.company_name = company_name
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
        self.deleted: dict[str, dict[str, str]] = {name: {} for name in ENTITIES}
        self.next_ids: dict[str, int] = dict.fromkeys(ENTITIES, 1)
        # Bumped on every write to an entity; query result caches key on it.
        self.versions: dict[str, int] = dict.fromkeys(ENTITIES, 0)
        self.party_names: dict[str, tuple[str, str]] = {}  # casefold DisplayName -> (entity, Id)
        self.list_names: dict[str, dict[str, str]] = {name: {} for name in NAME_LISTS}  # casefold FQN -> Id
        self.doc_numbers: dict[str, dict[str, str]] = {name: {} for name in TRANSACTIONS}
        self.next_address = 1

    def next_address_id(self) -> str:
        """Physical-address Ids are one sequence per company (BillAddr/ShipAddr ``Id``)."""
        address_id = str(self.next_address)
        self.next_address += 1
        return address_id

    # ---- reading ---------------------------------------------------------------------------------

    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        return self.records[entity].get(str(record_id))

    def all(self, entity: str) -> Iterable[dict[str, Any]]:
        return self.records[entity].values()

    def count(self, entity: str) -> int:
        return len(self.records[entity])

    @property
    def preferences(self) -> dict[str, Any]:
        return self.records["Preferences"]["1"]

    @property
    def company_info(self) -> dict[str, Any]:
        return self.records["CompanyInfo"]["1"]

    def pref(self, section: str, key: str, default: Any = None) -> Any:
        return self.preferences.get(section, {}).get(key, default)

    @property
    def home_currency(self) -> str:
        return str(self.pref("CurrencyPrefs", "HomeCurrency", {}).get("value", "USD"))

    @property
    def multicurrency(self) -> bool:
        return bool(self.pref("CurrencyPrefs", "MultiCurrencyEnabled", False))

    def other_pref(self, name: str, default: str) -> str:
        for pair in self.preferences.get("OtherPrefs", {}).get("NameValue", []):
            if pair.get("Name") == name:
                return str(pair.get("Value"))
        return default

    def account_by_subtype(self, subtype: str) -> dict[str, Any] | None:
        for account in self.records["Account"].values():
            if account.get("AccountSubType") == subtype and account.get("Active", True):
                return account
        return None

    def account_by_type(self, account_type: str) -> dict[str, Any] | None:
        for account in self.records["Account"].values():
            if account.get("AccountType") == account_type and account.get("Active", True):
                return account
        return None

    # ---- writing (the API's operations) ----------------------------------------------------------

    def create(
        self,
        entity: str,
        body: dict[str, Any],
        *,
        at: datetime | None = None,
        options: WriteOptions | None = None,
        record_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a record as ``POST /{entity}`` without an Id would; returns the stored record."""
        at = at or datetime.now(UTC)
        draft = {k: clone(v) for k, v in body.items() if k not in SERVER_FIELDS}
        new_id = str(record_id) if record_id is not None else str(self.next_ids[entity])
        if new_id in self.records[entity] or new_id in self.deleted[entity]:
            raise business_error(f"{entity} Id {new_id} already exists", "Id")
        draft["Id"] = new_id
        record = self._write(entity, draft, None, at, options or WriteOptions())
        if new_id.isdigit():
            self.next_ids[entity] = max(self.next_ids[entity], int(new_id) + 1)
        return record

    def update(
        self,
        entity: str,
        body: dict[str, Any],
        *,
        sparse: bool,
        at: datetime | None = None,
        options: WriteOptions | None = None,
    ) -> dict[str, Any]:
        """Full or sparse update. A full update clears writable fields the body leaves out."""
        at = at or datetime.now(UTC)
        existing = self._existing_for_write(entity, body)
        incoming = {k: clone(v) for k, v in body.items() if k not in SERVER_FIELDS}
        if sparse:
            # A sparse update changes only what it sends, and a name cannot be removed: clients such
            # as python-quickbooks send every unset property, so an empty DisplayName/Name means
            # "not sent" here, never "rename the record to its CompanyName".
            for key in ("DisplayName", "Name"):
                if key in incoming and incoming[key] in (None, "") and existing.get(key):
                    del incoming[key]
            draft = {k: clone(v) for k, v in existing.items() if k not in SERVER_FIELDS or k == "LinkedTxn"}
            draft.update(incoming)
        else:
            draft = incoming
            if "LinkedTxn" in existing:
                draft["LinkedTxn"] = clone(existing["LinkedTxn"])
        if entity in DERIVED_TOTAL:
            draft.pop("TotalAmt", None)
        draft["Id"] = existing["Id"]
        return self._write(entity, draft, existing, at, options or WriteOptions())

    def delete(self, entity: str, body: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        """Delete a transaction (name lists are made inactive instead, as in QuickBooks)."""
        at = at or datetime.now(UTC)
        if entity not in DELETABLE:
            raise unsupported(f"Operation Delete is not supported for {entity}; set Active to false instead")
        existing = self._existing_for_write(entity, body)
        self._check_books_open(entity, existing, "delete")
        if self._has_incoming_links(existing):
            raise business_error(
                f"{entity} {existing['Id']} has linked transactions; delete or unapply them first", "LinkedTxn"
            )
        self._apply_links(entity, existing, None, at)
        self._unindex(entity, existing)
        self._party_balance(entity, existing, -1, at)
        del self.records[entity][existing["Id"]]
        self.deleted[entity][existing["Id"]] = qbo_time(at)
        self.versions[entity] += 1
        return {"status": "Deleted", "domain": "QBO", "Id": existing["Id"]}

    def void(self, entity: str, body: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        """Void: the record stays, its amounts become zero, and any applications are undone."""
        at = at or datetime.now(UTC)
        if entity not in VOIDABLE:
            raise unsupported(f"Operation Void is not supported for {entity}")
        existing = self._existing_for_write(entity, body)
        self._check_books_open(entity, existing, "void")
        if entity == "Invoice" and self._has_incoming_links(existing):
            raise business_error(
                f"Invoice {existing['Id']} has payments or credits applied; unapply them before voiding", "LinkedTxn"
            )
        draft = {k: clone(v) for k, v in existing.items() if k not in SERVER_FIELDS or k == "LinkedTxn"}
        draft["Id"] = existing["Id"]
        draft["PrivateNote"] = "Voided"
        draft["_voided"] = True
        if entity == "Invoice":
            for line in draft.get("Line", []):
                if "Amount" in line:
                    line["Amount"] = Decimal("0.00")
                for detail_key in ("SalesItemLineDetail",):
                    detail = line.get(detail_key)
                    if isinstance(detail, dict) and "Qty" in detail:
                        detail["Qty"] = 0
            tax = draft.get("TxnTaxDetail")
            if isinstance(tax, dict):
                draft["TxnTaxDetail"] = {"TotalTax": Decimal("0.00")}
        else:
            draft["TotalAmt"] = Decimal("0.00")
            draft["Line"] = []
        return self._write(entity, draft, existing, at, WriteOptions(allow_duplicate_doc_number=True))

    def update_preferences(self, changes: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        """Deep-merge preference sections (e.g. ``{"AccountingInfoPrefs": {"BookCloseDate": "2023-12-31"}}``)."""
        at = at or datetime.now(UTC)
        prefs = self.preferences
        for section, values in changes.items():
            if section in SERVER_FIELDS:
                continue
            if isinstance(values, dict) and isinstance(prefs.get(section), dict):
                prefs[section].update(clone(values))
            else:
                prefs[section] = clone(values)
        self._stamp(prefs, prefs, at)
        self.versions["Preferences"] += 1
        return prefs

    def set_exchange_rate(self, source: str, rate: Decimal, as_of: str, *, at: datetime | None = None) -> dict:
        """Record ``rate`` = home-currency units per one ``source`` unit, effective from ``as_of``."""
        at = at or datetime.now(UTC)
        target = self.home_currency
        for record in self.records["ExchangeRate"].values():
            if record["SourceCurrencyCode"] == source and record["AsOfDate"] == as_of:
                record["Rate"] = rate
                self._stamp(record, record, at)
                self.versions["ExchangeRate"] += 1
                return record
        new_id = str(self.next_ids["ExchangeRate"])
        self.next_ids["ExchangeRate"] += 1
        record = {
            "Id": new_id,
            "SourceCurrencyCode": source,
            "TargetCurrencyCode": target,
            "Rate": rate,
            "AsOfDate": as_of,
        }
        self._stamp(record, None, at)
        self.records["ExchangeRate"][new_id] = record
        self.versions["ExchangeRate"] += 1
        return record

    def exchange_rate_for(self, currency: str, on: str) -> Decimal | None:
        best: tuple[str, Decimal] | None = None
        for record in self.records["ExchangeRate"].values():
            if record["SourceCurrencyCode"] != currency or record["AsOfDate"] > on:
                continue
            if best is None or record["AsOfDate"] > best[0]:
                best = (record["AsOfDate"], to_decimal(record["Rate"], "Rate"))
        return best[1] if best else None

    # ---- the shared write path -------------------------------------------------------------------

    def _existing_for_write(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        record_id = body.get("Id")
        if record_id in (None, ""):
            raise required_missing("Id")
        existing = self.records[entity].get(str(record_id))
        if existing is None:
            raise object_not_found(entity, str(record_id))
        token = body.get("SyncToken")
        if token in (None, ""):
            raise required_missing("SyncToken")
        if str(token) != existing["SyncToken"]:
            raise stale_object(entity, existing["Id"])
        return existing

    def _write(
        self,
        entity: str,
        draft: dict[str, Any],
        existing: dict[str, Any] | None,
        at: datetime,
        options: WriteOptions,
    ) -> dict[str, Any]:
        if entity not in ENTITIES:
            raise QboFault("2500", "Invalid Reference Id", f"Unknown entity {entity}")
        # Only properties with values exist in QuickBooks; clients such as python-quickbooks send
        # every unset field as "" or null, which means "no value" (and, in a sparse update, "clear it").
        for key in [k for k, v in draft.items() if v is None or v == ""]:
            del draft[key]
        validator = _VALIDATORS.get(entity)
        self._check_refs(draft, entity)
        if validator is not None:
            validator(self, draft, existing)
        if entity in TRANSACTIONS:
            self._check_books_open(entity, draft, "write")
            if existing is not None:
                self._check_books_open(entity, existing, "write")
            self._check_tracking(entity, draft)
            self._check_doc_number(entity, draft, existing, options)
            self._derive_transaction(entity, draft, existing, at)
        self._check_names(entity, draft, existing)
        # Everything below mutates; everything above may raise.
        self._apply_links(entity, existing, draft, at)
        if existing is not None:
            self._unindex(entity, existing)
            self._party_balance(entity, existing, -1, at)
        draft.pop("_voided", None)
        self._stamp(draft, existing, at)
        self.records[entity][draft["Id"]] = draft
        self._index(entity, draft)
        self._party_balance(entity, draft, +1, at)
        self.versions[entity] += 1
        return draft

    def _stamp(self, record: dict[str, Any], existing: dict[str, Any] | None, at: datetime) -> None:
        stamp = qbo_time(at)
        created = existing["MetaData"]["CreateTime"] if existing and "MetaData" in existing else stamp
        record["SyncToken"] = str(int(existing["SyncToken"]) + 1) if existing and "SyncToken" in existing else "0"
        record["domain"] = "QBO"
        record["sparse"] = False
        record["MetaData"] = {"CreateTime": created, "LastUpdatedTime": stamp}

    # ---- references ------------------------------------------------------------------------------

    def _check_refs(self, node: Any, entity: str, path: str = "") -> None:
        """Every ``...Ref`` must name an existing (2500), active (610) record; fill in its ``name``."""
        if isinstance(node, list):
            for item in node:
                self._check_refs(item, entity, path)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in ("LinkedTxn", "MetaData", "CurrencyRef"):
                continue
            element = f"{path}.{key}" if path else key
            target = REF_TARGETS.get(key)
            if key == "ParentRef":
                target = entity
            if key == "EntityRef" and isinstance(node.get("Type"), str):
                target = node["Type"]
            if target is not None and isinstance(value, dict):
                self._resolve_ref(target, value, element)
            elif isinstance(value, dict | list):
                self._check_refs(value, entity, element)

    def _resolve_ref(self, target: str, ref: dict[str, Any], element: str) -> None:
        value = ref.get("value")
        if value in (None, ""):
            raise required_missing(f"{element}.value")
        value = str(value)
        ref["value"] = value
        if target == "TaxCode" and value in PSEUDO_TAX_CODES:
            return
        if target not in self.records:
            raise QboFault("2500", "Invalid Reference Id", f"Invalid Reference Id : {element} names {target}", element)
        record = self.records[target].get(value)
        if record is None:
            if value in self.deleted[target]:
                raise object_not_found(target, value)
            raise QboFault(
                "2500",
                "Invalid Reference Id",
                f"Invalid Reference Id : {target} {value} referenced by {element} does not exist",
                element,
            )
        if not record.get("Active", True):
            raise object_not_found(target, value)
        if "name" not in ref:
            name = record.get("DisplayName") or record.get("FullyQualifiedName") or record.get("Name")
            if name:
                ref["name"] = name

    def _ref_record(self, target: str, ref: Any) -> dict[str, Any] | None:
        if isinstance(ref, dict) and ref.get("value") is not None:
            return self.records[target].get(str(ref["value"]))
        return None

    # ---- names -----------------------------------------------------------------------------------

    def _check_names(self, entity: str, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
        if entity in PARTY_ENTITIES:
            key = draft["DisplayName"].casefold()
            holder = self.party_names.get(key)
            if holder is not None and holder != (entity, draft["Id"]):
                raise QboFault(
                    "6240",
                    "Duplicate Name Exists Error",
                    "The name supplied already exists. : Another customer, vendor or employee is already using "
                    f"this name. Please use a different name. ({holder[0]} {holder[1]})",
                    "DisplayName",
                )
        elif entity in NAME_LISTS:
            key = draft["FullyQualifiedName"].casefold()
            holder_id = self.list_names[entity].get(key)
            if holder_id is not None and holder_id != draft["Id"]:
                raise QboFault(
                    "6240",
                    "Duplicate Name Exists Error",
                    f"The name supplied already exists. : Another {entity} ({holder_id}) is already using this name.",
                    "Name",
                )

    def _check_doc_number(
        self, entity: str, draft: dict[str, Any], existing: dict[str, Any] | None, options: WriteOptions
    ) -> None:
        doc = draft.get("DocNumber")
        if not doc or options.allow_duplicate_doc_number:
            return
        if self.other_pref("WarnDuplicateDocNum", "true").lower() != "true":
            return
        holder = self.doc_numbers[entity].get(str(doc))
        if holder is not None and holder != draft["Id"]:
            raise QboFault(
                "6140",
                "Duplicate Document Number Error",
                f"Duplicate Document Number Error : You must specify a different number. This number has already "
                f"been used. DocNumber={doc} is assigned to TxnType={entity} with TxnId={holder}",
                "DocNumber",
            )

    def _index(self, entity: str, record: dict[str, Any]) -> None:
        if entity in PARTY_ENTITIES:
            self.party_names[record["DisplayName"].casefold()] = (entity, record["Id"])
        elif entity in NAME_LISTS and record.get("FullyQualifiedName"):
            self.list_names[entity][record["FullyQualifiedName"].casefold()] = record["Id"]
        elif entity in TRANSACTIONS and record.get("DocNumber"):
            self.doc_numbers[entity].setdefault(str(record["DocNumber"]), record["Id"])

    def _unindex(self, entity: str, record: dict[str, Any]) -> None:
        if entity in PARTY_ENTITIES:
            key = record["DisplayName"].casefold()
            if self.party_names.get(key) == (entity, record["Id"]):
                del self.party_names[key]
        elif entity in NAME_LISTS and record.get("FullyQualifiedName"):
            key = record["FullyQualifiedName"].casefold()
            if self.list_names[entity].get(key) == record["Id"]:
                del self.list_names[entity][key]
        elif entity in TRANSACTIONS and record.get("DocNumber"):
            numbers = self.doc_numbers[entity]
            if numbers.get(str(record["DocNumber"])) == record["Id"]:
                del numbers[str(record["DocNumber"])]

    def rebuild_indexes(self) -> None:
        addresses = [
            int(record[key]["Id"])
            for entity in PARTY_ENTITIES
            for record in self.records[entity].values()
            for key in ("BillAddr", "ShipAddr")
            if isinstance(record.get(key), dict) and str(record[key].get("Id", "")).isdigit()
        ]
        self.next_address = max(addresses, default=0) + 1
        for entity in ENTITIES:
            for record in self.records[entity].values():
                self._index(entity, record)
            ids = [int(i) for i in list(self.records[entity]) + list(self.deleted[entity]) if i.isdigit()]
            self.next_ids[entity] = max(ids, default=0) + 1

    # ---- transaction rules -----------------------------------------------------------------------

    def _check_books_open(self, entity: str, record: dict[str, Any], action: str) -> None:
        close = self.pref("AccountingInfoPrefs", "BookCloseDate")
        txn_date = record.get("TxnDate")
        if close and txn_date and str(txn_date)[:10] <= str(close)[:10]:
            raise QboFault(
                "6210",
                "Account Period Closed",
                f"Account Period Closed : The books are closed through {close}; cannot {action} {entity} dated "
                f"{txn_date}.",
                "TxnDate",
            )

    def _check_tracking(self, entity: str, draft: dict[str, Any]) -> None:
        if "DepartmentRef" in draft and not self.pref("AccountingInfoPrefs", "TrackDepartments", False):
            raise business_error("Department (location) tracking is turned off for this company", "DepartmentRef")
        if "ClassRef" in draft and not self.pref("AccountingInfoPrefs", "ClassTrackingPerTxn", False):
            raise business_error("Class tracking per transaction is turned off for this company", "ClassRef")
        per_line = self.pref("AccountingInfoPrefs", "ClassTrackingPerTxnLine", False)
        for line in draft.get("Line", []) or []:
            if not isinstance(line, dict):
                continue
            for value in line.values():
                if isinstance(value, dict) and "ClassRef" in value and not per_line:
                    raise business_error("Class tracking per line is turned off for this company", "Line.ClassRef")

    def _derive_transaction(
        self, entity: str, draft: dict[str, Any], existing: dict[str, Any] | None, at: datetime
    ) -> None:
        draft.setdefault("TxnDate", company_date(at))
        parse_date(draft["TxnDate"], "TxnDate")
        voided = bool(draft.get("_voided"))
        self._derive_currency(entity, draft)
        if entity in ("Invoice", "CreditMemo"):
            _derive_sales_document(self, entity, draft)
        elif entity in ("Bill", "VendorCredit"):
            _derive_purchase_document(self, entity, draft)
        elif entity == "JournalEntry":
            _derive_journal(self, draft)
        elif entity == "Deposit":
            _derive_deposit(self, draft)
        elif entity in ("Payment", "BillPayment"):
            if "TotalAmt" not in draft:
                raise required_missing("TotalAmt")
            draft["TotalAmt"] = money(to_decimal(draft["TotalAmt"], "TotalAmt"))
            if draft["TotalAmt"] < 0:
                raise business_error("TotalAmt cannot be negative", "TotalAmt")
            _derive_payment_lines(self, entity, draft, voided)
        if entity in ("Invoice", "CreditMemo", "Bill", "VendorCredit"):
            applied = Decimal("0.00")
            if existing is not None:
                applied = to_decimal(existing.get("TotalAmt", 0), "TotalAmt") - to_decimal(
                    existing.get("Balance", 0), "Balance"
                )
            balance = money(draft["TotalAmt"] - applied)
            if balance < 0:
                raise business_error(
                    f"The new total {draft['TotalAmt']} is less than the {applied} already applied to this {entity}",
                    "TotalAmt",
                )
            draft["Balance"] = balance
            if entity == "CreditMemo":
                draft["RemainingCredit"] = balance
            if "DueDate" not in draft and entity in ("Invoice", "Bill"):
                draft["DueDate"] = self._default_due_date(entity, draft)
        if self.multicurrency:
            rate = to_decimal(draft.get("ExchangeRate", 1), "ExchangeRate")
            draft["HomeTotalAmt"] = money(draft["TotalAmt"] * rate)
            if "Balance" in draft:
                draft["HomeBalance"] = money(draft["Balance"] * rate)

    def _default_due_date(self, entity: str, draft: dict[str, Any]) -> str:
        """TxnDate plus the document's terms, else the company's default terms, else TxnDate itself.

        QuickBooks always fills DueDate; without terms on the document it uses the company default
        (``SalesFormsPrefs.DefaultTerms`` / ``VendorAndPurchasesPrefs.DefaultTerms``), and with none
        the document is due on its date (sandbox choice where Intuit documents no default).
        """
        txn_date = parse_date(draft["TxnDate"], "TxnDate")
        term_ref = draft.get("SalesTermRef")
        if not term_ref:
            section = "SalesFormsPrefs" if entity == "Invoice" else "VendorAndPurchasesPrefs"
            term_ref = self.pref(section, "DefaultTerms")
        term = self._ref_record("Term", term_ref)
        days = int(term["DueDays"]) if term is not None and term.get("DueDays") is not None else 0
        return date.fromordinal(txn_date.toordinal() + days).isoformat()

    def _derive_currency(self, entity: str, draft: dict[str, Any]) -> None:
        """Currency comes from the body, else the party, else home; foreign needs multicurrency on."""
        home = self.home_currency
        party = None
        for key, target in (("CustomerRef", "Customer"), ("VendorRef", "Vendor")):
            if key in draft:
                party = self._ref_record(target, draft[key])
        party_currency = (party or {}).get("CurrencyRef", {}).get("value")
        currency_ref = draft.get("CurrencyRef")
        currency = (currency_ref or {}).get("value") if isinstance(currency_ref, dict) else None
        currency = str(currency or party_currency or home)
        if currency != home and not self.multicurrency:
            raise business_error(f"Multicurrency is off; {entity} must be in {home}", "CurrencyRef")
        if party_currency and currency != party_currency:
            raise business_error(
                f"The currency of the transaction ({currency}) must match the currency of the customer or "
                f"vendor ({party_currency})",
                "CurrencyRef",
            )
        if not self.multicurrency:
            draft["CurrencyRef"] = {"value": home, "name": CURRENCY_NAMES.get(home, home)}
            draft.pop("ExchangeRate", None)
            return
        draft["CurrencyRef"] = {"value": currency, "name": CURRENCY_NAMES.get(currency, currency)}
        if currency == home:
            draft["ExchangeRate"] = Decimal("1")
            return
        if draft.get("ExchangeRate") not in (None, ""):
            rate = to_decimal(draft["ExchangeRate"], "ExchangeRate")
            if rate <= 0:
                raise business_error("ExchangeRate must be positive", "ExchangeRate")
            draft["ExchangeRate"] = rate
            return
        # Like QuickBooks: the company's rate table for the date, else 1 (a known source of bad books).
        draft["ExchangeRate"] = self.exchange_rate_for(currency, str(draft.get("TxnDate", ""))[:10]) or Decimal("1")

    # ---- applications (payments -> invoices, bill payments -> bills, deposits -> payments) --------

    def _applications(self, entity: str, record: dict[str, Any] | None) -> list[_Application]:
        if record is None:
            return []
        result: list[_Application] = []
        if entity in ("Payment", "BillPayment"):
            for line in record.get("Line", []) or []:
                for link in line.get("LinkedTxn", []) or []:
                    txn_type = str(link.get("TxnType", ""))
                    if txn_type in ("Invoice", "CreditMemo", "Bill", "VendorCredit"):
                        amount = to_decimal(line.get("Amount", 0), "Line.Amount")
                        result.append(_Application(txn_type, str(link.get("TxnId")), amount))
        elif entity == "Deposit":
            for line in record.get("Line", []) or []:
                for link in line.get("LinkedTxn", []) or []:
                    if link.get("TxnType") == "Payment":
                        amount = to_decimal(line.get("Amount", 0), "Line.Amount")
                        result.append(_Application("Payment", str(link.get("TxnId")), amount))
        return result

    def _apply_links(
        self, entity: str, existing: dict[str, Any] | None, draft: dict[str, Any] | None, at: datetime
    ) -> None:
        """Move applied amounts from the old version of a record to the new one, both ways.

        Validates every target first (exists, same party and currency, enough open balance), then
        mutates, so a refused write leaves every record untouched.
        """
        old = self._applications(entity, existing)
        new = self._applications(entity, draft)
        if not old and not new:
            return
        source_id = (draft or existing or {}).get("Id")
        link_type = _link_type(entity, draft or existing or {})
        net: dict[tuple[str, str], Decimal] = {}
        for app in old:
            net[(app.target_entity, app.target_id)] = net.get((app.target_entity, app.target_id), Decimal(0)) - (
                app.amount
            )
        for app in new:
            net[(app.target_entity, app.target_id)] = net.get((app.target_entity, app.target_id), Decimal(0)) + (
                app.amount
            )
        new_targets = {(a.target_entity, a.target_id) for a in new}
        plan: list[tuple[str, dict[str, Any], Decimal, bool]] = []
        for (target_entity, target_id), delta in net.items():
            target = self.records[target_entity].get(target_id)
            if target is None:
                raise QboFault(
                    "2500",
                    "Invalid Reference Id",
                    f"Invalid Reference Id : {target_entity} {target_id} in Line.LinkedTxn does not exist",
                    "Line.LinkedTxn.TxnId",
                )
            if draft is not None and (target_entity, target_id) in new_targets:
                self._check_link_target(entity, draft, target_entity, target)
            plan.append((target_entity, target, delta, (target_entity, target_id) in new_targets))
        for target_entity, target, delta, _linked in plan:
            if target_entity == "Payment":
                if delta > 0 and any(
                    lt.get("TxnType") == "Deposit" and lt.get("TxnId") != source_id
                    for lt in target.get("LinkedTxn", [])
                ):
                    raise business_error(f"Payment {target['Id']} is already deposited", "Line.LinkedTxn")
                continue
            balance = to_decimal(target.get("Balance", 0), "Balance")
            if balance - delta < 0:
                raise business_error(
                    f"The amount applied to {target_entity} {target['Id']} exceeds its open balance {balance}",
                    "Line.Amount",
                )
        for target_entity, target, delta, linked in plan:
            self._party_balance(target_entity, target, -1, at)
            links = [
                lt
                for lt in target.get("LinkedTxn", [])
                if not (lt.get("TxnId") == source_id and lt.get("TxnType") == link_type)
            ]
            if linked:
                links.append({"TxnId": source_id, "TxnType": link_type})
            target["LinkedTxn"] = links
            if target_entity != "Payment":
                target["Balance"] = money(to_decimal(target.get("Balance", 0), "Balance") - delta)
                if target_entity == "CreditMemo":
                    target["RemainingCredit"] = target["Balance"]
                if "HomeBalance" in target:
                    rate = to_decimal(target.get("ExchangeRate", 1), "ExchangeRate")
                    target["HomeBalance"] = money(target["Balance"] * rate)
            self._stamp(target, target, at)
            self._party_balance(target_entity, target, +1, at)
            self.versions[target_entity] += 1

    def _check_link_target(self, entity: str, draft: dict[str, Any], target_entity: str, target: dict) -> None:
        allowed = {
            "Payment": ("Invoice", "CreditMemo"),
            "BillPayment": ("Bill", "VendorCredit"),
            "Deposit": ("Payment",),
        }[entity]
        if target_entity not in allowed:
            raise business_error(f"A {entity} cannot be linked to a {target_entity}", "Line.LinkedTxn.TxnType")
        party_key = "VendorRef" if entity == "BillPayment" else "CustomerRef"
        if entity != "Deposit":
            mine = (draft.get(party_key) or {}).get("value")
            theirs = (target.get(party_key) or {}).get("value")
            if mine != theirs:
                raise business_error(
                    f"{target_entity} {target['Id']} belongs to another {party_key[:-3].lower()}", "Line.LinkedTxn"
                )
            if draft.get("CurrencyRef", {}).get("value") != target.get("CurrencyRef", {}).get("value"):
                raise business_error(f"{target_entity} {target['Id']} is in another currency", "Line.LinkedTxn")

    def _has_incoming_links(self, record: dict[str, Any]) -> bool:
        return any(lt.get("TxnType") in _LINKING_TYPES for lt in record.get("LinkedTxn", []) or [])

    def _party_balance(self, entity: str, record: dict[str, Any], sign: int, at: datetime) -> None:
        """Keep Customer/Vendor ``Balance`` equal to their open documents, as QuickBooks shows it."""
        if entity in ("Invoice", "CreditMemo", "Payment"):
            party_entity = "Customer"
            party = self._ref_record("Customer", record.get("CustomerRef"))
        elif entity in ("Bill", "VendorCredit"):
            party_entity = "Vendor"
            party = self._ref_record("Vendor", record.get("VendorRef"))
        else:
            return
        if party is None:
            return
        if entity in ("Invoice", "Bill"):
            amount = to_decimal(record.get("Balance", 0), "Balance")
        elif entity in ("CreditMemo", "VendorCredit"):
            amount = -to_decimal(record.get("Balance", 0), "Balance")
        else:
            amount = -to_decimal(record.get("UnappliedAmt", 0), "UnappliedAmt")
        if not amount:
            return
        party["Balance"] = money(to_decimal(party.get("Balance", 0), "Balance") + sign * amount)
        self.versions[party_entity] += 1
        if "BalanceWithJobs" in party or entity in ("Invoice", "CreditMemo", "Payment"):
            party["BalanceWithJobs"] = party["Balance"]


_LINKING_TYPES = frozenset({"Payment", "BillPaymentCheck", "BillPaymentCreditCard", "Deposit", "ReceivePayment"})


def _link_type(entity: str, record: dict[str, Any]) -> str:
    if entity == "BillPayment":
        return "BillPaymentCreditCard" if record.get("PayType") == "CreditCard" else "BillPaymentCheck"
    return entity


# --------------------------------------------------------------------------------------------------
# Per-entity validation and derivation
# --------------------------------------------------------------------------------------------------


def _require(draft: dict[str, Any], *elements: str) -> None:
    for element in elements:
        if draft.get(element) in (None, "", [], {}):
            raise required_missing(element)


def _fqn(realm: Realm, entity: str, draft: dict[str, Any], own: str) -> str:
    parent = realm._ref_record(entity, draft.get("ParentRef"))
    if parent is None:
        return own
    if parent["Id"] == draft.get("Id"):
        raise business_error(f"A {entity} cannot be its own parent", "ParentRef")
    return f"{parent.get('FullyQualifiedName') or parent.get('Name') or parent.get('DisplayName')}:{own}"


def _validate_party(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None, entity: str) -> None:
    if not draft.get("DisplayName"):
        parts = [draft.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
        composed = " ".join(str(p) for p in parts if p) or draft.get("CompanyName")
        if not composed:
            raise required_missing("DisplayName")
        draft["DisplayName"] = composed
    name = str(draft["DisplayName"]).strip()
    if ":" in name:
        raise business_error("DisplayName cannot contain a colon (:)", "DisplayName")
    if len(name) > 500:
        raise business_error("DisplayName is longer than 500 characters", "DisplayName")
    draft["DisplayName"] = name
    draft.setdefault("Active", True)
    draft.setdefault("PrintOnCheckName", name)
    for key in ("BillAddr", "ShipAddr"):  # QuickBooks gives each stored address its own Id
        address = draft.get(key)
        if isinstance(address, dict) and address and not address.get("Id"):
            old = (existing or {}).get(key) or {}
            address["Id"] = old.get("Id") or realm.next_address_id()
    if entity == "Customer":
        draft["FullyQualifiedName"] = _fqn(realm, "Customer", draft, name)
        draft["Job"] = bool(draft.get("ParentRef"))
        parent = realm._ref_record("Customer", draft.get("ParentRef"))
        if parent is not None:  # sub-customers carry their depth (ABQ record 8: Level 1)
            draft["Level"] = int(parent.get("Level", 0)) + 1
        else:
            draft.pop("Level", None)
        draft.setdefault("PreferredDeliveryMethod", "Print")
        draft.setdefault("BillWithParent", False)
        draft.setdefault("Taxable", False)
        draft["Balance"] = existing.get("Balance", Decimal("0.00")) if existing else Decimal("0.00")
        draft["BalanceWithJobs"] = draft["Balance"]
    elif entity == "Vendor":
        draft["Balance"] = existing.get("Balance", Decimal("0.00")) if existing else Decimal("0.00")
        draft.setdefault("Vendor1099", False)
        _validate_vendor_bank_detail(draft)
    if entity in ("Customer", "Vendor") and realm.multicurrency:
        currency = (draft.get("CurrencyRef") or {}).get("value") or realm.home_currency
        if existing is not None:
            old = existing.get("CurrencyRef", {}).get("value")
            if old and old != currency:
                raise business_error("The currency of a customer or vendor cannot be changed", "CurrencyRef")
        draft["CurrencyRef"] = {"value": currency, "name": CURRENCY_NAMES.get(currency, currency)}


def _validate_vendor_bank_detail(draft: dict[str, Any]) -> None:
    """``VendorPaymentBankDetail`` (Intuit's XSD: BankBranchIdentifier, BankAccountNumber, BankAccountName,
    StatementText). The API documentation gives no limits; the sandbox chooses: an object; branch and
    account are digits (spaces and hyphens allowed), the branch 6 (Australian BSB) or 9 (US routing)
    digits, the account 4 to 17 digits (the ACH maximum); an account needs a branch."""
    detail = draft.get("VendorPaymentBankDetail")
    if detail is None:
        return
    if not isinstance(detail, dict):
        raise business_error("VendorPaymentBankDetail must be an object", "VendorPaymentBankDetail")
    branch = re.sub(r"[\s-]", "", str(detail.get("BankBranchIdentifier") or ""))
    account = re.sub(r"[\s-]", "", str(detail.get("BankAccountNumber") or ""))
    if branch and not (branch.isdigit() and len(branch) in (6, 9)):
        raise business_error(
            "BankBranchIdentifier must be 6 or 9 digits", "VendorPaymentBankDetail.BankBranchIdentifier"
        )
    if account and not (account.isdigit() and 4 <= len(account) <= 17):
        raise business_error("BankAccountNumber must be 4 to 17 digits", "VendorPaymentBankDetail.BankAccountNumber")
    if account and not branch:
        raise business_error("BankBranchIdentifier is required with a BankAccountNumber", "VendorPaymentBankDetail")


def _validate_named(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None, entity: str) -> None:
    _require(draft, "Name")
    name = str(draft["Name"]).strip()
    if ":" in name:
        raise business_error(f"{entity} Name cannot contain a colon (:)", "Name")
    draft["Name"] = name
    draft.setdefault("Active", True)
    if entity in ("Account", "Class", "Department", "Item"):
        draft["FullyQualifiedName"] = _fqn(realm, entity, draft, name)
        sub_key = {"Account": "SubAccount", "Class": "SubClass", "Department": "SubDepartment", "Item": "SubItem"}
        draft[sub_key[entity]] = bool(draft.get("ParentRef"))
    else:
        draft["FullyQualifiedName"] = name
    if entity == "Account":
        _require(draft, "AccountType")
        classification = ACCOUNT_CLASSIFICATION.get(str(draft["AccountType"]))
        if classification is None:
            raise QboFault("2170", "Invalid Enumeration", f"Invalid AccountType {draft['AccountType']}", "AccountType")
        draft["Classification"] = classification
        draft["CurrentBalance"] = existing.get("CurrentBalance", Decimal("0.00")) if existing else Decimal("0.00")
        draft["CurrentBalanceWithSubAccounts"] = draft["CurrentBalance"]
        if realm.multicurrency:
            currency = (draft.get("CurrencyRef") or {}).get("value") or realm.home_currency
            draft["CurrencyRef"] = {"value": currency, "name": CURRENCY_NAMES.get(currency, currency)}
    elif entity == "Item":
        draft.setdefault("Type", "Service")
        if draft["Type"] not in ("Service", "NonInventory", "Inventory", "Category", "Group"):
            raise QboFault("2170", "Invalid Enumeration", f"Invalid Item Type {draft['Type']}", "Type")
        if draft["Type"] in ("Service", "NonInventory", "Inventory"):
            _require(draft, "IncomeAccountRef")
        if draft["Type"] == "Inventory":
            _require(draft, "ExpenseAccountRef", "AssetAccountRef")
        draft.setdefault("Taxable", False)
        draft.setdefault("TrackQtyOnHand", draft["Type"] == "Inventory")
    elif entity == "Term":
        draft["Type"] = "DATE_DRIVEN" if draft.get("DayOfMonthDue") is not None else "STANDARD"
        if draft["Type"] == "STANDARD":
            draft.setdefault("DueDays", 0)
            draft.setdefault("DiscountDays", 0)
    elif entity == "TaxRate":
        _require(draft, "RateValue")
        draft["RateValue"] = to_decimal(draft["RateValue"], "RateValue")


def _validate_exchange_rate(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
    _require(draft, "SourceCurrencyCode", "Rate")
    draft["Rate"] = to_decimal(draft["Rate"], "Rate")
    draft.setdefault("TargetCurrencyCode", realm.home_currency)
    draft.setdefault("AsOfDate", datetime.now(COMPANY_TZ).date().isoformat())


def _validate_preferences(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
    if existing is None:
        raise unsupported("Preferences cannot be created")


def _validate_sales(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
    _require(draft, "CustomerRef", "Line")
    # Present on every real invoice/credit memo (ABQ records), whatever the client sent.
    draft.setdefault("LinkedTxn", [])
    draft.setdefault("ApplyTaxAfterDiscount", False)
    draft.setdefault("PrintStatus", "NotSet")
    draft.setdefault("EmailStatus", "NotSet")


def _validate_purchase(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
    _require(draft, "VendorRef", "Line")
    draft.setdefault("LinkedTxn", [])
    if "APAccountRef" not in draft:  # real bills always name their A/P account (ABQ Bill 24)
        payable = realm.account_by_subtype("AccountsPayable") or realm.account_by_type("Accounts Payable")
        if payable is not None:
            draft["APAccountRef"] = {"value": payable["Id"], "name": payable.get("FullyQualifiedName", payable["Name"])}


def _validate_payment(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
    _require(draft, "CustomerRef")
    if "TotalAmt" not in draft:
        raise required_missing("TotalAmt")
    if "DepositToAccountRef" not in draft:
        undeposited = realm.account_by_subtype("UndepositedFunds")
        if undeposited is not None:
            draft["DepositToAccountRef"] = {"value": undeposited["Id"], "name": undeposited["Name"]}


def _validate_bill_payment(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
    _require(draft, "VendorRef", "PayType")
    if "TotalAmt" not in draft:
        raise required_missing("TotalAmt")
    if draft["PayType"] == "Check":
        if not (draft.get("CheckPayment") or {}).get("BankAccountRef"):
            raise required_missing("CheckPayment.BankAccountRef")
        print_status = draft["CheckPayment"].setdefault("PrintStatus", "NeedToPrint")  # Intuit's default
        if print_status not in ("NotSet", "NeedToPrint", "PrintComplete"):
            raise QboFault("2170", "Invalid Enumeration", f"Invalid PrintStatus {print_status}", "PrintStatus")
    elif draft["PayType"] == "CreditCard":
        if not (draft.get("CreditCardPayment") or {}).get("CCAccountRef"):
            raise required_missing("CreditCardPayment.CCAccountRef")
    else:
        raise QboFault("2170", "Invalid Enumeration", f"Invalid PayType {draft['PayType']}", "PayType")


def _validate_journal(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
    _require(draft, "Line")


def _validate_deposit(realm: Realm, draft: dict[str, Any], existing: dict[str, Any] | None) -> None:
    _require(draft, "DepositToAccountRef", "Line")


_VALIDATORS: dict[str, Any] = {
    "Customer": lambda r, d, e: _validate_party(r, d, e, "Customer"),
    "Vendor": lambda r, d, e: _validate_party(r, d, e, "Vendor"),
    "Employee": lambda r, d, e: _validate_party(r, d, e, "Employee"),
    **{
        n: (lambda name: lambda r, d, e: _validate_named(r, d, e, name))(n)
        for n in NAME_LISTS
        if n not in PARTY_ENTITIES
    },
    "ExchangeRate": _validate_exchange_rate,
    "Preferences": _validate_preferences,
    "Invoice": _validate_sales,
    "CreditMemo": _validate_sales,
    "Bill": _validate_purchase,
    "VendorCredit": _validate_purchase,
    "Payment": _validate_payment,
    "BillPayment": _validate_bill_payment,
    "JournalEntry": _validate_journal,
    "Deposit": _validate_deposit,
}


def _line_amount(line: dict[str, Any], detail: dict[str, Any] | None, index: int) -> Decimal:
    """Line Amount, or Qty x UnitPrice; when all three are sent they must agree (QuickBooks 6070)."""
    element = f"Line[{index}].Amount"
    qty = detail.get("Qty") if detail else None
    price = detail.get("UnitPrice") if detail else None
    if line.get("Amount") in (None, ""):
        if qty is None or price is None:
            raise required_missing("Line.Amount")
        return money(to_decimal(qty, "Qty") * to_decimal(price, "UnitPrice"))
    amount = money(to_decimal(line["Amount"], element))
    # Zero (or absent) Qty/UnitPrice mean an amount-only line, as python-quickbooks sends by default.
    if qty and price:
        expected = money(to_decimal(qty, "Qty") * to_decimal(price, "UnitPrice"))
        if abs(expected - amount) > CENT:
            raise QboFault(
                "6070",
                "Amount is not equal to UnitPrice * Qty",
                f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}",
                element,
            )
    return amount


def _number_lines(lines: list[dict[str, Any]], first_id: int = 1) -> None:
    used = {str(line["Id"]) for line in lines if line.get("Id") not in (None, "")}
    next_id = first_id
    for number, line in enumerate(lines, start=1):
        if line.get("Id") in (None, ""):
            while str(next_id) in used:
                next_id += 1
            line["Id"] = str(next_id)
            used.add(str(next_id))
        line["LineNum"] = number


def _lines(draft: dict[str, Any]) -> list[dict[str, Any]]:
    lines = draft.get("Line") or []
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise QboFault("2010", "Request has invalid or unsupported property", "Line must be a list of objects", "Line")
    return lines


def _derive_sales_document(realm: Realm, entity: str, draft: dict[str, Any]) -> None:
    """Invoice / CreditMemo: line amounts, a server SubTotal line, discount, sales tax, TotalAmt."""
    lines = [line for line in _lines(draft) if line.get("DetailType") != "SubTotalLineDetail"]
    subtotal = Decimal("0.00")
    taxable = Decimal("0.00")
    discounts: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        kind = line.get("DetailType")
        if kind == "SalesItemLineDetail":
            detail = line.setdefault("SalesItemLineDetail", {})
            line["Amount"] = _line_amount(line, detail, index)
            subtotal += line["Amount"]
            code = (detail.get("TaxCodeRef") or {}).get("value")
            if code == "TAX" or (code and code not in PSEUDO_TAX_CODES and _tax_code_taxable(realm, code)):
                taxable += line["Amount"]
        elif kind == "GroupLineDetail":
            group_amount, group_taxable = _derive_group_line(realm, entity, line, index)
            subtotal += group_amount
            taxable += group_taxable
        elif kind == "DiscountLineDetail":
            discounts.append(line)
        elif kind == "DescriptionOnly":
            line.setdefault("DescriptionLineDetail", {})
        elif kind is None:
            raise required_missing("Line.DetailType")
        else:
            raise QboFault("2170", "Invalid Enumeration", f"Invalid Line.DetailType {kind} for {entity}", "DetailType")
    if not any(line.get("DetailType") in ("SalesItemLineDetail", "GroupLineDetail") for line in lines):
        raise required_missing("Line.SalesItemLineDetail")
    discount_total = Decimal("0.00")
    for line in discounts:
        detail = line.setdefault("DiscountLineDetail", {})
        if line.get("Amount") in (None, "") and detail.get("PercentBased"):
            line["Amount"] = money(subtotal * to_decimal(detail.get("DiscountPercent", 0), "DiscountPercent") / 100)
        line["Amount"] = money(to_decimal(line.get("Amount", 0), "Line.Amount"))
        discount_total += line["Amount"]
    _number_lines([line for line in lines if line.get("DetailType") != "DiscountLineDetail"])
    lines.append({"Amount": money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    draft["Line"] = lines
    tax_total = _derive_sales_tax(realm, draft, taxable)
    total = money(subtotal - discount_total + tax_total)
    if total < 0:
        raise business_error(f"{entity} total cannot be negative", "Line")
    draft["TotalAmt"] = total


def _derive_group_line(realm: Realm, entity: str, line: dict[str, Any], index: int) -> tuple[Decimal, Decimal]:
    """A group (bundle) line: its item lines (``GroupLineDetail.Line``) carry the money; the group's
    ``Amount`` is their sum. Returns (amount, taxable part). Sandbox choice: Intuit documents
    GroupLine's shape (GroupItemRef, Quantity, Line) but not how a write derives it; the sandbox
    derives each inner line like a sales line and never expands a group item by itself."""
    group = line.setdefault("GroupLineDetail", {})
    inner = group.get("Line") or []
    if not isinstance(inner, list) or not inner:
        raise required_missing("Line.GroupLineDetail.Line")
    amount = Decimal("0.00")
    taxable = Decimal("0.00")
    for position, item_line in enumerate(inner):
        if not isinstance(item_line, dict) or item_line.get("DetailType") != "SalesItemLineDetail":
            raise QboFault("2170", "Invalid Enumeration", f"a {entity} group line holds sales item lines only",
                           f"Line[{index}].GroupLineDetail.Line[{position}]")  # fmt: skip
        detail = item_line.setdefault("SalesItemLineDetail", {})
        item_line["Amount"] = _line_amount(item_line, detail, position)
        amount += item_line["Amount"]
        code = (detail.get("TaxCodeRef") or {}).get("value")
        if code == "TAX" or (code and code not in PSEUDO_TAX_CODES and _tax_code_taxable(realm, code)):
            taxable += item_line["Amount"]
    line["Amount"] = money(amount)
    return amount, taxable


def _tax_code_taxable(realm: Realm, code: str) -> bool:
    record = realm.records["TaxCode"].get(code)
    return bool(record and record.get("Taxable"))


def _derive_sales_tax(realm: Realm, draft: dict[str, Any], taxable: Decimal) -> Decimal:
    """US sales tax: the header tax code's rates times the taxable lines; or a supplied TotalTax."""
    detail = draft.get("TxnTaxDetail")
    if not isinstance(detail, dict):
        draft["TxnTaxDetail"] = {"TotalTax": Decimal("0.00")}
        return Decimal("0.00")
    code_ref = detail.get("TxnTaxCodeRef")
    code = realm.records["TaxCode"].get(str((code_ref or {}).get("value"))) if code_ref else None
    if code is None:
        total = money(to_decimal(detail.get("TotalTax", 0), "TxnTaxDetail.TotalTax"))
        detail["TotalTax"] = total
        return total
    tax_lines: list[dict[str, Any]] = []
    total = Decimal("0.00")
    for rate_detail in (code.get("SalesTaxRateList") or {}).get("TaxRateDetail", []):
        rate = realm.records["TaxRate"].get(str((rate_detail.get("TaxRateRef") or {}).get("value")))
        if rate is None:
            continue
        percent = to_decimal(rate.get("RateValue", 0), "RateValue")
        amount = money(taxable * percent / 100)
        total += amount
        tax_lines.append(
            {
                "Amount": amount,
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": {"value": rate["Id"], "name": rate.get("Name", "")},
                    "PercentBased": True,
                    "TaxPercent": percent,
                    "NetAmountTaxable": money(taxable),
                },
            }
        )
    detail["TotalTax"] = money(total)
    detail["TaxLine"] = tax_lines
    return detail["TotalTax"]


def _derive_purchase_document(realm: Realm, entity: str, draft: dict[str, Any]) -> None:
    lines = _lines(draft)
    total = Decimal("0.00")
    for index, line in enumerate(lines):
        kind = line.get("DetailType")
        if kind == "AccountBasedExpenseLineDetail":
            detail = line.setdefault(kind, {})
            if not detail.get("AccountRef"):
                raise required_missing("Line.AccountBasedExpenseLineDetail.AccountRef")
            line["Amount"] = _line_amount(line, None, index)
        elif kind == "ItemBasedExpenseLineDetail":
            detail = line.setdefault(kind, {})
            if not detail.get("ItemRef"):
                raise required_missing("Line.ItemBasedExpenseLineDetail.ItemRef")
            line["Amount"] = _line_amount(line, detail, index)
        elif kind is None:
            raise required_missing("Line.DetailType")
        else:
            raise QboFault("2170", "Invalid Enumeration", f"Invalid Line.DetailType {kind} for {entity}", "DetailType")
        total += line["Amount"]
    _number_lines(lines)
    if total < 0:
        raise business_error(f"{entity} total cannot be negative", "Line")
    draft["TotalAmt"] = money(total)


_JOURNAL_PARTY_RULES = {
    "Accounts Receivable": (
        "Customer",
        "When you use Accounts Receivable, you must choose a customer in the Name field.",
    ),
    "Accounts Payable": ("Vendor", "When you use Accounts Payable, you must select a vendor in the Name field."),
}


def _check_journal_party(realm: Realm, detail: dict[str, Any], index: int) -> None:
    """A/R lines need a Customer and A/P lines a Vendor in ``Entity`` (Intuit JournalEntry rules; 6000)."""
    account = realm._ref_record("Account", detail.get("AccountRef"))
    rule = _JOURNAL_PARTY_RULES.get(str((account or {}).get("AccountType")))
    if rule is None:
        return
    party_type, text = rule
    entity = detail.get("Entity") if isinstance(detail.get("Entity"), dict) else {}
    ref = entity.get("EntityRef") if isinstance(entity.get("EntityRef"), dict) else None
    kind = entity.get("Type") or party_type
    if ref is None or ref.get("value") in (None, "") or kind != party_type:
        raise business_error(text, f"Line[{index}].JournalEntryLineDetail.Entity")
    if realm._ref_record(party_type, ref) is None:
        raise QboFault(
            "2500",
            "Invalid Reference Id",
            f"Invalid Reference Id : {party_type} {ref.get('value')} does not exist",
            f"Line[{index}].JournalEntryLineDetail.Entity.EntityRef",
        )
    entity.setdefault("Type", party_type)


def _derive_journal(realm: Realm, draft: dict[str, Any]) -> None:
    """Debits must equal credits; amounts are positive and the side is PostingType.

    Lines on an Accounts Receivable account must name a customer, and on Accounts Payable a
    vendor (Intuit's JournalEntry business rules; code 6000 with Intuit's own wording).
    """
    lines = _lines(draft)
    debits = Decimal("0.00")
    credits = Decimal("0.00")
    for index, line in enumerate(lines):
        if line.get("DetailType", "JournalEntryLineDetail") != "JournalEntryLineDetail":
            raise QboFault("2170", "Invalid Enumeration", "JournalEntry lines are JournalEntryLineDetail", "DetailType")
        line["DetailType"] = "JournalEntryLineDetail"
        detail = line.get("JournalEntryLineDetail") or {}
        if not detail.get("AccountRef"):
            raise required_missing("Line.JournalEntryLineDetail.AccountRef")
        _check_journal_party(realm, detail, index)
        posting = detail.get("PostingType")
        if posting not in ("Debit", "Credit"):
            if posting is None:
                raise required_missing("Line.JournalEntryLineDetail.PostingType")
            raise QboFault("2170", "Invalid Enumeration", f"Invalid PostingType {posting}", "PostingType")
        amount = _line_amount(line, None, index)
        if amount < 0:
            raise business_error("Journal entry line amounts must be positive; use PostingType", "Line.Amount")
        line["Amount"] = amount
        if posting == "Debit":
            debits += amount
        else:
            credits += amount
    if debits != credits:
        raise business_error(
            f"Transaction is not balanced: debits {money(debits)} and credits {money(credits)} must be equal. "
            "You must balance your debits and credits before you can save.",
            "Line",
        )
    _number_lines(lines, first_id=0)
    draft.setdefault("Adjustment", False)
    draft.setdefault("TxnTaxDetail", {})
    draft["TotalAmt"] = money(debits)


def _derive_deposit(realm: Realm, draft: dict[str, Any]) -> None:
    lines = _lines(draft)
    total = Decimal("0.00")
    for index, line in enumerate(lines):
        line["Amount"] = _line_amount(line, None, index)
        links = line.get("LinkedTxn") or []
        if links:
            for link in links:
                link.setdefault("TxnLineId", "0")
                if link.get("TxnType") != "Payment":
                    raise business_error("Deposit lines can link only to a Payment", "Line.LinkedTxn.TxnType")
                payment = realm.records["Payment"].get(str(link.get("TxnId")))
                if payment is not None and payment.get("TotalAmt") != line["Amount"]:
                    raise business_error(f"Deposit line amount must equal Payment {payment['Id']} total", "Line.Amount")
        else:
            line.setdefault("DetailType", "DepositLineDetail")
            detail = line.get("DepositLineDetail") or {}
            if not detail.get("AccountRef"):
                raise required_missing("Line.DepositLineDetail.AccountRef")
        total += line["Amount"]
    _number_lines(lines)
    draft["TotalAmt"] = money(total)


def _derive_payment_lines(realm: Realm, entity: str, draft: dict[str, Any], voided: bool) -> None:
    """Applied lines: invoices/bills count +, credit memos/vendor credits count - against TotalAmt."""
    lines = _lines(draft)
    applied = Decimal("0.00")
    for index, line in enumerate(lines):
        line["Amount"] = _line_amount(line, None, index)
        if line["Amount"] < 0:
            raise business_error("Applied amounts must be positive", "Line.Amount")
        links = line.get("LinkedTxn") or []
        if not links:
            raise required_missing("Line.LinkedTxn")
        for link in links:
            if link.get("TxnId") in (None, ""):
                raise required_missing("Line.LinkedTxn.TxnId")
            link["TxnId"] = str(link["TxnId"])
            sign = -1 if link.get("TxnType") in ("CreditMemo", "VendorCredit") else 1
        applied += sign * line["Amount"]
    if applied > draft["TotalAmt"]:
        raise business_error(
            f"The amounts applied ({applied}) exceed the {entity} TotalAmt ({draft['TotalAmt']})", "TotalAmt"
        )
    if applied < 0:
        raise business_error("Credits applied exceed the documents paid", "Line")
    if entity == "Payment":
        draft["UnappliedAmt"] = money(draft["TotalAmt"] - applied)
        draft.setdefault("ProcessPayment", False)


# --------------------------------------------------------------------------------------------------
# The whole sandbox state
# --------------------------------------------------------------------------------------------------


class QboState:
    """All realms. ``lock`` serialises API requests; the seeding API is single-threaded."""

    def __init__(self) -> None:
        self.realms: dict[str, Realm] = {}
        self.lock = threading.RLock()

    def add_realm(
        self,
        realm_id: str,
        company_name: str,
        *,
        home_currency: str = "USD",
        multicurrency: bool = True,
        country: str = "US",
        with_default_chart: bool = True,
        at: datetime | None = None,
    ) -> Realm:
        """A new company with CompanyInfo and Preferences; with the default chart, terms, tax, items."""
        at = at or datetime.now(UTC)
        realm = Realm(str(realm_id), company_name)
        self.realms[realm.realm_id] = realm
        info = {
            "Id": "1",
            "CompanyName": company_name,
            "LegalName": company_name,
            "Country": country,
            "CompanyAddr": {
                "Line1": "123 Sierra Way",
                "City": "San Pablo",
                "CountrySubDivisionCode": "CA",
                "PostalCode": "87999",
                "Country": country,
            },
            "FiscalYearStartMonth": "January",
            "CompanyStartDate": company_date(at),
            "DefaultTimeZone": "America/Los_Angeles",
            "SupportedLanguages": "en",
            "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Advanced"}],
        }
        realm._stamp(info, None, at)
        realm.records["CompanyInfo"]["1"] = info
        prefs = {
            "Id": "1",
            "AccountingInfoPrefs": {
                "TrackDepartments": True,
                "DepartmentTerminology": "Location",
                "ClassTrackingPerTxn": False,
                "ClassTrackingPerTxnLine": True,
                "CustomerTerminology": "Customers",
                "BookCloseDate": None,
                "FirstMonthOfFiscalYear": "January",
            },
            "CurrencyPrefs": {
                "MultiCurrencyEnabled": multicurrency,
                "HomeCurrency": {"value": home_currency},
            },
            "SalesFormsPrefs": {"CustomTxnNumbers": True, "AllowDiscount": True, "AllowShipping": False},
            "VendorAndPurchasesPrefs": {"BillableExpenseTracking": False, "TrackingByCustomer": False},
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": False},
            "OtherPrefs": {"NameValue": [{"Name": "WarnDuplicateDocNum", "Value": "true"}]},
        }
        prefs["AccountingInfoPrefs"].pop("BookCloseDate")
        realm._stamp(prefs, None, at)
        realm.records["Preferences"]["1"] = prefs
        realm.next_ids["CompanyInfo"] = realm.next_ids["Preferences"] = 2
        if with_default_chart:
            _default_chart(realm, at)
        return realm

    def realm(self, realm_id: str) -> Realm | None:
        return self.realms.get(str(realm_id))

    # ---- snapshots -------------------------------------------------------------------------------

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "format": SNAPSHOT_FORMAT,
            "realms": {
                realm_id: {
                    "company_name": realm.company_name,
                    "records": {name: list(records.values()) for name, records in realm.records.items() if records},
                    "deleted": {name: ids for name, ids in realm.deleted.items() if ids},
                }
                for realm_id, realm in self.realms.items()
            },
        }

    def save_snapshot(self, path: Path) -> None:
        """Write the whole state as one JSON document (atomic: temp file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for chunk in _iter_snapshot_json(self):
                fh.write(chunk)
        tmp.replace(path)

    @classmethod
    def load_snapshot(cls, path: Path) -> QboState:
        raw = Path(path).read_bytes()
        return cls.from_snapshot(loads(raw))

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> QboState:
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not a QuickBooks sandbox snapshot (format {data.get('format')!r})")
        state = cls()
        for realm_id, section in data["realms"].items():
            realm = Realm(realm_id, section.get("company_name", realm_id))
            for name, rows in section.get("records", {}).items():
                if name not in realm.records:
                    raise ValueError(f"snapshot realm {realm_id}: unknown entity {name}")
                realm.records[name] = {str(row["Id"]): row for row in rows}
            for name, ids in section.get("deleted", {}).items():
                realm.deleted[name] = dict(ids)
            if "1" not in realm.records["Preferences"] or "1" not in realm.records["CompanyInfo"]:
                raise ValueError(f"snapshot realm {realm_id} has no CompanyInfo/Preferences record")
            realm.rebuild_indexes()
            state.realms[realm_id] = realm
        return state


def _iter_snapshot_json(state: QboState) -> Iterator[str]:
    """Stream the snapshot record by record so saving 100k invoices never builds one giant string."""
    yield '{"format":' + json.dumps(SNAPSHOT_FORMAT) + ',"realms":{'
    for r_index, (realm_id, realm) in enumerate(state.realms.items()):
        yield ("," if r_index else "") + json.dumps(realm_id) + ':{"company_name":' + json.dumps(realm.company_name)
        yield ',"records":{'
        first_entity = True
        for name, records in realm.records.items():
            if not records:
                continue
            yield ("" if first_entity else ",") + json.dumps(name) + ":["
            first_entity = False
            for index, record in enumerate(records.values()):
                yield ("," if index else "") + dumps(record)
            yield "]"
        yield '},"deleted":' + dumps({name: ids for name, ids in realm.deleted.items() if ids}) + "}"
    yield "}}"


def _default_chart(realm: Realm, at: datetime) -> None:
    """The minimal books a hook test can post to: A/R, A/P, Undeposited Funds, a bank, income, expense."""
    accounts = [
        ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
        ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
        ("Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
        ("Checking", "Bank", "Checking"),
        ("Services", "Income", "ServiceFeeIncome"),
        ("Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses"),
        ("Board of Equalization Payable", "Other Current Liability", "SalesTaxPayable"),
        ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
        ("Visa", "Credit Card", "CreditCard"),
        ("Discounts given", "Income", "DiscountsRefundsGiven"),
    ]
    for name, account_type, subtype in accounts:
        realm.create("Account", {"Name": name, "AccountType": account_type, "AccountSubType": subtype}, at=at)
    for name, days in (("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60)):
        realm.create("Term", {"Name": name, "DueDays": days}, at=at)
    for name in ("Cash", "Check", "Credit Card"):
        realm.create(
            "PaymentMethod",
            {"Name": name, "Type": "CREDIT_CARD" if name == "Credit Card" else "NON_CREDIT_CARD"},
            at=at,
        )
    rate = realm.create(
        "TaxRate", {"Name": "California", "RateValue": Decimal("8"), "AgencyRef": {"value": "1"}}, at=at
    )
    realm.create(
        "TaxCode",
        {
            "Name": "California",
            "Taxable": True,
            "TaxGroup": True,
            "SalesTaxRateList": {
                "TaxRateDetail": [
                    {"TaxRateRef": {"value": rate["Id"]}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
                ]
            },
            "PurchaseTaxRateList": {"TaxRateDetail": []},
        },
        at=at,
    )
    income = realm.account_by_subtype("ServiceFeeIncome")
    assert income is not None
    realm.create(
        "Item",
        {"Name": "Services", "Type": "Service", "IncomeAccountRef": {"value": income["Id"]}, "UnitPrice": 0},
        at=at,
    )


def default_state(at: datetime | None = None) -> QboState:
    """The empty company every sandbox start and ``reset`` without a snapshot begins with."""
    state = QboState()
    state.add_realm(DEFAULT_REALM_ID, DEFAULT_COMPANY_NAME, at=at)
    return state
