"""Customers, both ways: QuickBooks ``Customer`` <-> Intacct ``CUSTOMER``.

The flow's source system is QuickBooks (``source_id`` = QuickBooks ``Id``), its target Intacct
(``target_id`` = ``CUSTOMERID``). Both sides are mapped into one shared vocabulary, so the planner
compares like with like:

=============== ======================================= ==============================================
field group     QuickBooks                              Intacct
=============== ======================================= ==============================================
identity        DisplayName, CompanyName                NAME, DISPLAYCONTACT.COMPANYNAME
contact         PrimaryEmailAddr, PrimaryPhone          DISPLAYCONTACT.EMAIL1, DISPLAYCONTACT.PHONE1
address         BillAddr (Line1, Line2, City,           DISPLAYCONTACT.MAILADDRESS (ADDRESS1, ADDRESS2,
                CountrySubDivisionCode, PostalCode,     CITY, STATE, ZIP, COUNTRY)
                Country)
terms           SalesTermRef (via the Terms sheet),     TERMNAME, CREDITLIMIT
                CreditLimit
tax             Taxable, PrimaryTaxIdentifier,          TAXABLE, TAXID, RESALENO
                ResaleNum (exemption certificate)
currency        CurrencyRef                             CURRENCY
status          Active                                  STATUS (active / inactive)
=============== ======================================= ==============================================

Which side wins a two-sided edit is the workbook's Field Groups sheet (system of record per group).

Rules a finance reader should know:

- **Intacct CUSTOMERID** of a customer the sync creates from QuickBooks is derived from the
  QuickBooks id by a pattern (default ``QB-{qbo_id}``; Airflow Variable
  ``qbo_intacct_customer_id_pattern``). Change it only before the first run: the pattern is how a
  lost ledger finds its links again.
- **QuickBooks DisplayName** of a customer the sync creates from Intacct is the Intacct NAME with
  ``:`` replaced by ``-`` (QuickBooks forbids colons) and, if the name is already used by another
  customer, vendor or employee (QuickBooks keeps DisplayName unique across all three), followed by
  `` (CUSTOMERID)``. The Intacct CUSTOMERID is stored in the QuickBooks customer's account number
  (``AcctNum``), a field the sync owns: it is how a rerun without a ledger recognises the customer.
- **Terms** go through the workbook's Terms sheet (QuickBooks term name -> Intacct term). A term
  with no row, or an Intacct term that several QuickBooks terms map to, holds the customer for
  review; nothing is guessed.
- **Currency** cannot be changed on a QuickBooks customer once it has transactions; QuickBooks
  refuses it and the customer is held for review with QuickBooks' message.
- Sub-customers (QuickBooks jobs) are not synced: Intacct has no customer hierarchy by default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from qbo_intacct.flows.matching import StrongId, normalize_email, normalize_reference, normalize_tax_id
from qbo_intacct.mappings.loader import MappingWorkbook

FLOW = "customers"
QBO_ENTITY = "Customer"
INTACCT_OBJECT = "CUSTOMER"
CUSTOMER_ID_PATTERN_VARIABLE = "qbo_intacct_customer_id_pattern"
DEFAULT_CUSTOMER_ID_PATTERN = "QB-{qbo_id}"
QBO_DISPLAY_NAME_MAX = 500
INTACCT_CUSTOMER_ID_MAX = 20

FIELD_GROUPS: dict[str, list[str]] = {
    "identity": ["name", "company_name"],
    "contact": ["email", "phone"],
    "address": ["bill_line1", "bill_line2", "bill_city", "bill_state", "bill_postal_code", "bill_country"],
    "terms": ["term", "credit_limit"],
    "tax": ["taxable", "tax_id", "resale_number"],
    "currency": ["currency"],
    "status": ["active"],
}
SHARED_FIELDS: list[str] = [f for fields in FIELD_GROUPS.values() for f in fields]

# QuickBooks address keys <-> Intacct MAILADDRESS keys, by shared field.
_ADDRESS: dict[str, tuple[str, str]] = {
    "bill_line1": ("Line1", "ADDRESS1"),
    "bill_line2": ("Line2", "ADDRESS2"),
    "bill_city": ("City", "CITY"),
    "bill_state": ("CountrySubDivisionCode", "STATE"),
    "bill_postal_code": ("PostalCode", "ZIP"),
    "bill_country": ("Country", "COUNTRY"),
}

#: Intacct fields the extract selects (query has no ``*``).
INTACCT_FIELDS: list[str] = [
    "RECORDNO",
    "CUSTOMERID",
    "NAME",
    "DISPLAYCONTACT.COMPANYNAME",
    "DISPLAYCONTACT.EMAIL1",
    "DISPLAYCONTACT.PHONE1",
    *(f"DISPLAYCONTACT.MAILADDRESS.{ia}" for _, ia in _ADDRESS.values()),
    "TERMNAME",
    "CREDITLIMIT",
    "TAXABLE",
    "TAXID",
    "RESALENO",
    "CURRENCY",
    "STATUS",
    "MEGAENTITYID",
    "WHENMODIFIED",
]

#: Identifiers strong enough to link two customers: stored references first, then tax ID and email.
STRONG_IDS: tuple[StrongId, ...] = (
    StrongId("stored_reference", "intacct_ref", "target_id", normalize_reference),
    StrongId("derived_customer_id", "derived_customer_id", "target_id", normalize_reference),
    StrongId("tax_id", "tax_id", "tax_id", normalize_tax_id),
    StrongId("email", "email", "email", normalize_email),
)
#: The identifiers that make two records of the *same* system look like one company keyed twice.
DUPLICATE_IDS: tuple[tuple[str, Any], ...] = (("tax_id", normalize_tax_id), ("email", normalize_email))

SOURCE_COLUMNS = ["source_id", "sync_token", "intacct_ref", "derived_customer_id", "is_job", "hold_reason"]
TARGET_COLUMNS = ["target_id", "record_no", "entity", "source_ref", "target_key", "hold_reason"]


class CustomerMappingError(ValueError):
    """A customer cannot be expressed in the other system; names record and field."""


@dataclass(frozen=True)
class TermLookup:
    """QuickBooks terms (id <-> name) and the workbook's term mapping, both ways."""

    qbo_name_by_id: Mapping[str, str]
    qbo_id_by_name: Mapping[str, str]
    intacct_by_qbo_name: Mapping[str, str]
    qbo_names_by_intacct: Mapping[str, tuple[str, ...]]

    @classmethod
    def build(cls, qbo_terms: Iterable[Mapping[str, Any]], mappings: MappingWorkbook) -> TermLookup:
        by_id = {str(t["Id"]): str(t.get("Name", "")) for t in qbo_terms}
        reverse: dict[str, list[str]] = {}
        for m in mappings.terms:
            reverse.setdefault(m.intacct_term, []).append(m.qbo_term)
        return cls(
            qbo_name_by_id=by_id,
            qbo_id_by_name={name: tid for tid, name in by_id.items()},
            intacct_by_qbo_name={m.qbo_term: m.intacct_term for m in mappings.terms},
            qbo_names_by_intacct={k: tuple(v) for k, v in reverse.items()},
        )


def derive_customer_id(qbo_id: str, pattern: str = DEFAULT_CUSTOMER_ID_PATTERN) -> str:
    """The Intacct CUSTOMERID for a customer created from QuickBooks ``qbo_id`` (deterministic)."""
    if "{qbo_id" not in pattern:
        raise CustomerMappingError(f"customer id pattern {pattern!r} must contain {{qbo_id}}")
    customer_id = pattern.format(qbo_id=qbo_id)
    if not customer_id or len(customer_id) > INTACCT_CUSTOMER_ID_MAX or "," in customer_id:
        raise CustomerMappingError(
            f"customer {qbo_id}: CUSTOMERID {customer_id!r} from pattern {pattern!r} is empty, has a comma "
            f"or is longer than {INTACCT_CUSTOMER_ID_MAX} characters"
        )
    return customer_id


def qbo_display_name(name: str, customer_id: str, names_in_use: Iterable[str]) -> str:
    """A DisplayName QuickBooks accepts: no ``:``, unique across customers, vendors and employees."""
    base = re.sub(r"\s+", " ", str(name).replace(":", "-")).strip() or customer_id
    taken = {n.strip().casefold() for n in names_in_use}
    candidate = base[:QBO_DISPLAY_NAME_MAX]
    if candidate.casefold() in taken:
        suffix = f" ({customer_id})"
        candidate = base[: QBO_DISPLAY_NAME_MAX - len(suffix)] + suffix
    return candidate


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _money(value: object, *, record: str, field_name: str) -> Decimal | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    if isinstance(value, float):
        raise CustomerMappingError(f"customer {record} field {field_name}: float {value!r}; amounts must be exact")
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:
        raise CustomerMappingError(f"customer {record} field {field_name}: {value!r} is not an amount") from exc


def _flag(value: object, default: bool) -> bool:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "t")


def _ref(value: object, key: str) -> str | None:
    return _text(value.get(key)) if isinstance(value, Mapping) else None


# -------------------------------------------------------------------------------- QuickBooks


def qbo_customer_row(
    customer: Mapping[str, Any], terms: TermLookup, *, customer_id_pattern: str = DEFAULT_CUSTOMER_ID_PATTERN
) -> dict[str, Any]:
    """One QuickBooks customer in the shared vocabulary, plus the keys the load step needs."""
    qbo_id = str(customer["Id"])
    address = customer.get("BillAddr") if isinstance(customer.get("BillAddr"), Mapping) else {}
    hold: list[str] = []
    term_name = None
    term_id = _ref(customer.get("SalesTermRef"), "value")
    if term_id:
        qbo_term = terms.qbo_name_by_id.get(term_id) or _ref(customer.get("SalesTermRef"), "name")
        term_name = terms.intacct_by_qbo_name.get(qbo_term or "")
        if term_name is None:
            hold.append(f"unmapped_term:{qbo_term or term_id}")
    row: dict[str, Any] = {
        "source_id": qbo_id,
        "sync_token": _text(customer.get("SyncToken")),
        "intacct_ref": _text(customer.get("AcctNum")),
        "derived_customer_id": derive_customer_id(qbo_id, customer_id_pattern),
        "is_job": bool(customer.get("Job")) or bool(customer.get("ParentRef")),
        "name": _text(customer.get("DisplayName")),
        "company_name": _text(customer.get("CompanyName")),
        "email": _ref(customer.get("PrimaryEmailAddr"), "Address"),
        "phone": _ref(customer.get("PrimaryPhone"), "FreeFormNumber"),
        "term": term_name,
        "credit_limit": _money(customer.get("CreditLimit"), record=qbo_id, field_name="CreditLimit"),
        "taxable": _flag(customer.get("Taxable"), False),
        "tax_id": _text(customer.get("PrimaryTaxIdentifier")),
        "resale_number": _text(customer.get("ResaleNum")),
        "currency": _ref(customer.get("CurrencyRef"), "value"),
        "active": _flag(customer.get("Active"), True),
        "hold_reason": ";".join(hold) or None,
    }
    for shared, (qbo_key, _) in _ADDRESS.items():
        row[shared] = _text(address.get(qbo_key)) if isinstance(address, Mapping) else None
    return row


def qbo_frame(
    customers: Iterable[Mapping[str, Any]],
    terms: TermLookup,
    *,
    customer_id_pattern: str = DEFAULT_CUSTOMER_ID_PATTERN,
) -> pd.DataFrame:
    """QuickBooks customers (not jobs) in the shared vocabulary, one row each."""
    rows = [qbo_customer_row(c, terms, customer_id_pattern=customer_id_pattern) for c in customers]
    frame = pd.DataFrame(rows, columns=[*SOURCE_COLUMNS, *SHARED_FIELDS])
    frame = frame[~frame["is_job"].astype(bool)] if not frame.empty else frame
    return _object_money(frame.reset_index(drop=True))


# -------------------------------------------------------------------------------- Intacct


def intacct_customer_row(customer: Mapping[str, Any]) -> dict[str, Any]:
    """One Intacct customer (flat query record, dotted DISPLAYCONTACT fields) in the shared vocabulary."""
    customer_id = str(customer["CUSTOMERID"])

    def contact(name: str) -> Any:
        if f"DISPLAYCONTACT.{name}" in customer:
            return customer.get(f"DISPLAYCONTACT.{name}")
        block = customer.get("DISPLAYCONTACT")
        node: Any = block
        for part in name.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return node

    row: dict[str, Any] = {
        "target_id": customer_id,
        "record_no": _text(customer.get("RECORDNO")),
        "entity": _text(customer.get("MEGAENTITYID")) or "",
        "source_ref": None,
        "target_key": customer_id,
        "name": _text(customer.get("NAME")),
        "company_name": _text(contact("COMPANYNAME")),
        "email": _text(contact("EMAIL1")),
        "phone": _text(contact("PHONE1")),
        "term": _text(customer.get("TERMNAME")),
        "credit_limit": _money(customer.get("CREDITLIMIT"), record=customer_id, field_name="CREDITLIMIT"),
        "taxable": _flag(customer.get("TAXABLE"), False),
        "tax_id": _text(customer.get("TAXID")),
        "resale_number": _text(customer.get("RESALENO")),
        "currency": _text(customer.get("CURRENCY")),
        "active": (_text(customer.get("STATUS")) or "active").lower() == "active",
        "hold_reason": None,
    }
    for shared, (_, ia_key) in _ADDRESS.items():
        row[shared] = _text(contact(f"MAILADDRESS.{ia_key}"))
    return row


def intacct_frame(customers: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows = [intacct_customer_row(c) for c in customers]
    return _object_money(pd.DataFrame(rows, columns=[*TARGET_COLUMNS, *SHARED_FIELDS]))


def _object_money(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep ``credit_limit`` as Decimal objects (never let pandas turn an all-empty column into floats)."""
    frame["credit_limit"] = pd.Series(
        [v if isinstance(v, Decimal) else None for v in frame["credit_limit"]], index=frame.index, dtype=object
    )
    for column in ("taxable", "active", "is_job"):
        if column in frame.columns:
            frame[column] = frame[column].astype(object)
    return frame


# -------------------------------------------------------------------------------- write bodies


def intacct_body(
    values: Mapping[str, Any], *, customer_id: str, groups: Iterable[str], record_no: str | None = None
) -> dict[str, Any]:
    """An Intacct CUSTOMER create (all groups) or partial update (the groups that changed).

    Contact and address live in one DISPLAYCONTACT block, so a contact or address update sends the
    whole block (email, phone, company name and address) to keep the others as they are.
    """
    groups = set(groups)
    body: dict[str, Any] = {"CUSTOMERID": customer_id}
    if record_no:
        body["RECORDNO"] = record_no
    contact: dict[str, Any] = {}
    if "identity" in groups:
        body["NAME"] = values.get("name") or customer_id
        contact["PRINTAS"] = values.get("name") or customer_id
    if groups & {"identity", "contact", "address"}:
        contact["COMPANYNAME"] = values.get("company_name") or ""
        contact["EMAIL1"] = values.get("email") or ""
        contact["PHONE1"] = values.get("phone") or ""
        contact["MAILADDRESS"] = {ia: values.get(shared) or "" for shared, (_, ia) in _ADDRESS.items()}
    if contact:
        body["DISPLAYCONTACT"] = contact
    if "terms" in groups:
        body["TERMNAME"] = values.get("term") or ""
        if values.get("credit_limit") is not None:
            body["CREDITLIMIT"] = values["credit_limit"]
    if "tax" in groups:
        body["TAXABLE"] = "true" if values.get("taxable") else "false"
        body["TAXID"] = values.get("tax_id") or ""
        body["RESALENO"] = values.get("resale_number") or ""
    if "currency" in groups and values.get("currency"):
        body["CURRENCY"] = values["currency"]
    if "status" in groups:
        body["STATUS"] = "active" if values.get("active", True) else "inactive"
    return body


def qbo_body(
    values: Mapping[str, Any],
    *,
    groups: Iterable[str],
    terms: TermLookup,
    record: str,
    display_name: str | None = None,
    intacct_customer_id: str | None = None,
    qbo_id: str | None = None,
    sync_token: str | None = None,
) -> dict[str, Any]:
    """A QuickBooks Customer create (all groups) or sparse update (the groups that changed)."""
    groups = set(groups)
    body: dict[str, Any] = {}
    if qbo_id is not None:
        body["Id"] = qbo_id
        body["SyncToken"] = sync_token or "0"
    if intacct_customer_id:
        body["AcctNum"] = intacct_customer_id
    if "identity" in groups:
        body["DisplayName"] = display_name or values.get("name")
        body["CompanyName"] = values.get("company_name") or ""
    if "contact" in groups:
        body["PrimaryEmailAddr"] = {"Address": values.get("email") or ""}
        body["PrimaryPhone"] = {"FreeFormNumber": values.get("phone") or ""}
    if "address" in groups:
        body["BillAddr"] = {qbo: values.get(shared) or "" for shared, (qbo, _) in _ADDRESS.items()}
    if "terms" in groups:
        intacct_term = values.get("term")
        if intacct_term:
            names = terms.qbo_names_by_intacct.get(str(intacct_term), ())
            if len(names) != 1 or names[0] not in terms.qbo_id_by_name:
                reason = "no QuickBooks term maps to it" if not names else f"QuickBooks terms {list(names)} map to it"
                raise CustomerMappingError(f"customer {record} field term: Intacct term {intacct_term!r}: {reason}")
            body["SalesTermRef"] = {"value": terms.qbo_id_by_name[names[0]], "name": names[0]}
        credit = values.get("credit_limit")
        if credit is not None:  # no limit on the Intacct side: leave QuickBooks' field unset, never 0
            body["CreditLimit"] = credit
    if "tax" in groups:
        body["Taxable"] = bool(values.get("taxable"))
        body["PrimaryTaxIdentifier"] = values.get("tax_id") or ""
        body["ResaleNum"] = values.get("resale_number") or ""
    if "currency" in groups and values.get("currency"):
        body["CurrencyRef"] = {"value": values["currency"]}
    if "status" in groups:
        body["Active"] = bool(values.get("active", True))
    return body
